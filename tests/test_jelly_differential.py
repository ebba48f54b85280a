"""
Differential tests: pbfast.jelly against twisted.spread.jelly on random
object graphs with shared references and cycles.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from twisted.spread import jelly as twisted_jelly

from graphs import graphs, same_graph
from pbfast import jelly


def _outcome(function: Any, *args: Any, **kwargs: Any) -> tuple[str, Any]:
    try:
        return ("value", function(*args, **kwargs))
    except Exception as error:
        return ("error", type(error))


@given(graphs())
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
def test_jelly_matches_twisted(graph: Any) -> None:
    """Same s-expression, reference ids and placement included."""
    assert _outcome(jelly.jelly, graph) == _outcome(twisted_jelly.jelly, graph)


@given(graphs())
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
def test_unjelly_matches_twisted(graph: Any) -> None:
    """The same graph back, shared and cyclic in the same places."""
    kind, sexp = _outcome(twisted_jelly.jelly, graph)
    if kind == "error":
        return
    ours = _outcome(jelly.unjelly, sexp)
    theirs = _outcome(twisted_jelly.unjelly, sexp)
    assert ours[0] == theirs[0], (ours, theirs)
    if ours[0] == "value":
        # Not always the graph itself: a cycle through an object restored by
        # __setstate__ keeps Twisted's placeholder, in both.
        assert same_graph(ours[1], theirs[1])


@given(graphs())
@settings(max_examples=100, suppress_health_check=[HealthCheck.too_slow])
def test_secure_round_trip_matches_twisted(graph: Any) -> None:
    """Under globalSecurity, both refuse the same graphs, and accept the same."""
    sexp = twisted_jelly.jelly(graph)
    ours = _outcome(jelly.unjelly, sexp, taster=jelly.globalSecurity)
    theirs = _outcome(twisted_jelly.unjelly, sexp, taster=twisted_jelly.globalSecurity)
    assert ours[0] == theirs[0]
    if ours[0] == "value":
        assert same_graph(ours[1], theirs[1])
    else:
        assert ours[1] is theirs[1] or issubclass(ours[1], jelly.InsecureJelly)


@given(st.lists(graphs(), max_size=3))
def test_security_taster_on_jelly_matches_twisted(graphs_: list[Any]) -> None:
    taster = jelly.SecurityOptions()
    taster.allowBasicTypes()
    assert _outcome(jelly.jelly, graphs_, taster) == _outcome(twisted_jelly.jelly, graphs_, taster)


@given(graphs())
@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
def test_round_trip_restores_graphs_without_setstate_cycles(graph: Any) -> None:
    """Where Twisted's own round trip gives the graph back, so does pbfast's."""
    kind, theirs = _outcome(lambda: twisted_jelly.unjelly(twisted_jelly.jelly(graph)))
    if kind == "error" or not same_graph(theirs, graph):
        return
    assert same_graph(jelly.unjelly(jelly.jelly(graph)), graph)
