"""
pbfast.loads: bytes to objects, secure by default, and never anything but a
value, BananaError or InsecureJelly on any input.
"""

from __future__ import annotations

import datetime
import decimal
import gc
import io
import tracemalloc
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from twisted.spread import jelly as twisted_jelly

import pbfast
from graphs import graphs, same_graph
from jelly_objects import GcWalker, Node, Registered, Slotted, Witness
from pbfast import banana, jelly
from pbfast.tools.bench import decode_extra_memory
from pbfast.tools.payloads import SUITE
from pbfast.tools.reference import twisted_decode
from sexp import mutate


def _outcome(function: Any) -> tuple[str, Any]:
    try:
        return ("value", function())
    except Exception as error:
        return ("error", error)


def _loads(data: bytes, taster: Any, hooks_may_raise: bool = False) -> tuple[str, Any]:
    """
    pbfast.loads' outcome; any error but the two promised fails the test,
    unless C{hooks_may_raise}: where the taster lets any class be unjellied,
    a class's own hook (its C{__setstate__} given state it does not expect)
    raises what it raises, as it does under Twisted's unjelly.
    """
    promised = (banana.BananaError, jelly.InsecureJelly)
    try:
        return ("value", pbfast.loads(data, taster=taster))
    except promised as error:
        return ("error", error)
    except Exception as error:
        if not hooks_may_raise:
            raise
        return ("error", error)


def _dumps_or_nothing(graph: Any) -> bytes:
    try:
        return pbfast.dumps(graph)
    except Exception:
        return b""


BASIC = [
    1, -(2**70), 2.5, b"bytes", "text", None, True, [1, [2]], (3, 4), {"k": [5]}, {6, 7},
    frozenset([8]), datetime.datetime(2026, 11, 25, 12, 0, 1, 2), datetime.date(2026, 1, 2),
    datetime.time(1, 2, 3), datetime.timedelta(1, 2, 3), decimal.Decimal("9.95"),
]  # fmt: skip


@pytest.mark.parametrize("value", BASIC, ids=repr)
def test_basic_types_round_trip_under_the_default_taster(value: Any) -> None:
    data = pbfast.dumps(value)
    assert pbfast.loads(data) == value
    assert pbfast.loads(data) == twisted_jelly.unjelly(
        twisted_decode(data), taster=twisted_jelly.globalSecurity
    )


def test_shared_and_cyclic_round_trip() -> None:
    shared = [1]
    cycle: dict[str, Any] = {"shared": shared, "again": shared}
    cycle["self"] = cycle
    back = pbfast.loads(pbfast.dumps(cycle))
    assert back["self"] is back and back["shared"] is back["again"] == [1]


def test_registered_classes_are_allowed_others_refused() -> None:
    back = pbfast.loads(pbfast.dumps(Registered(x=[1])))
    assert isinstance(back, Registered) and back.x == [1]
    with pytest.raises(jelly.InsecureJelly):
        pbfast.loads(pbfast.dumps(Node(x=1)))
    permissive = pbfast.loads(pbfast.dumps(Node(x=1)), taster=jelly.DummySecurityOptions())
    assert isinstance(permissive, Node) and permissive.x == 1


@given(graphs())
@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
def test_loads_matches_twisted(graph: Any) -> None:
    try:
        data = pbfast.dumps(graph)
    except Exception:
        return
    for taster in (jelly.globalSecurity, jelly.DummySecurityOptions()):
        expected = _outcome(
            lambda taster=taster: twisted_jelly.unjelly(twisted_decode(data), taster=taster)
        )
        got = _loads(data, taster)
        assert got[0] == expected[0], (got, expected)
        if got[0] == "value":
            assert same_graph(got[1], expected[1])


@given(
    st.lists(
        st.lists(st.text(max_size=9), min_size=1, max_size=12).map(lambda pool: pool * 3),
        min_size=1,
        max_size=8,
    )
)
@settings(max_examples=100, suppress_health_check=[HealthCheck.too_slow])
def test_short_text_values_and_keys_come_back_as_sent(pools: list[list[str]]) -> None:
    # Short strs are shared with the equal one read last (keys and values
    # alike): whatever the mix, each comes back as it was sent, as
    # Twisted's unjelly gives it.
    value = [[text, {text: text, "k": pool}] for pool in pools for text in pool]
    data = pbfast.dumps(value)
    assert pbfast.loads(data) == value
    assert pbfast.loads(data) == twisted_jelly.unjelly(twisted_decode(data))


def test_bytes_like_inputs_and_files() -> None:
    data = pbfast.dumps({"a": [1, 2]})
    for form in (data, bytearray(data), memoryview(data)):
        assert pbfast.loads(form) == {"a": [1, 2]}
    stream = io.BytesIO()
    pbfast.dump([1, "x"], stream)
    stream.seek(0)
    assert pbfast.load(stream) == [1, "x"]


@pytest.mark.parametrize(
    ("data", "error", "fragment"),
    [
        (b"", banana.BananaError, "Truncated"),
        (b"\x02\x80\x04\x82list\x01", banana.BananaError, "Truncated"),
        (b"\x01\x81\x01\x81", banana.BananaError, "after the end of the expression"),
        (b"\x01\x99", banana.BananaError, "Invalid Type Byte"),
        (banana.encode([b"datetime", b"2026 13 1"]), jelly.InsecureJelly, "malformed"),
        (banana.encode([b"unicode", b"\xff"]), jelly.InsecureJelly, "malformed"),
        (banana.encode([b"os.system", [b"dictionary"]]), jelly.InsecureJelly, "os"),
        (banana.encode([b"list", [b"dereference", 7]]), None, None),
    ],
)
def test_bad_input_errors(data: bytes, error: Any, fragment: str | None) -> None:
    if error is None:  # an unresolved reference comes back as Twisted's placeholder
        assert isinstance(pbfast.loads(data)[0], jelly.NotKnown)
        return
    with pytest.raises(error, match=fragment):
        pbfast.loads(data)


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    return mutate(draw, pbfast.dumps(draw(graphs())))


@given(mutated())
@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
def test_mutated_bytes_give_a_value_or_a_typed_error(data: bytes) -> None:
    try:
        pbfast.loads(data)
    except (banana.BananaError, jelly.InsecureJelly):
        pass


@given(st.one_of(graphs().map(_dumps_or_nothing), mutated()), st.booleans())
@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
def test_one_pass_matches_decode_then_unjelly(data: bytes, secure: bool) -> None:
    """The fused loads gives what banana.decode + jelly.unjelly give."""
    taster = jelly.globalSecurity if secure else jelly.DummySecurityOptions()
    expected = _outcome(lambda: jelly.unjelly(banana.decode(data), taster=taster))
    got = _loads(data, taster, hooks_may_raise=not secure)
    if got[0] == "error" and not isinstance(got[1], (banana.BananaError, jelly.InsecureJelly)):
        # A class's own hook raised: Twisted's unjelly raises the same.
        assert expected[0] == "error" and type(expected[1]) is type(got[1]), (got, expected)
        return
    if expected[0] == "value" and got[0] == "error":
        # Only where decode's first expression was followed by more bytes,
        # which loads refuses.
        assert isinstance(got[1], banana.BananaError), (got, data)
        assert "after the end of the expression" in str(got[1])
        return
    assert got[0] == expected[0], (got, expected, data)
    if got[0] == "value":
        assert same_graph(got[1], expected[1])


def _twisted_outcome(data: bytes, taster: Any = twisted_jelly.globalSecurity) -> tuple[str, Any]:
    return _outcome(lambda: twisted_jelly.unjelly(twisted_decode(data), taster=taster))


@pytest.mark.parametrize(
    "expression",
    [
        [b"decimal", 0, 0],
        [b"decimal", -12345, -2],
        [b"decimal", 10**40 + 7, -30],
        [b"decimal", -(10**25), 7],
        [b"decimal", 5, 2**45],
        [b"decimal", 5, -(2**70)],
        [b"decimal", b"x", 1],
        [b"decimal", 1, b"x"],
        [b"decimal", 1],
    ],
    ids=repr,
)
def test_decimals_as_twisted_makes_them(expression: list[Any]) -> None:
    got, expected = _both_outcomes(banana.encode(expression))
    if got is not None:
        assert got == expected
        assert got.as_tuple() == expected.as_tuple()


def _both_outcomes(data: bytes) -> tuple[Any, Any]:
    """pbfast.loads' and Twisted's results for C{data} (secure tasters):
    both values, or (None, None) when both refuse it."""
    expected = _twisted_outcome(data)
    got = _loads(data, jelly.globalSecurity)
    assert got[0] == expected[0], (got, expected)
    if got[0] == "value":
        return got[1], expected[1]
    return None, None


def test_malformed_bytes_are_reported_before_a_refused_expression() -> None:
    """Twisted decodes all the bytes first: a refused type earlier in the
    message does not hide that the bytes are truncated or malformed."""
    whole = banana.encode([b"list", [b"os.system", [b"dictionary"]], b"tail" * 10])
    for data in (whole[:-3], whole + b"\x01", whole[:-5] + b"\x01\xff"):
        with pytest.raises(banana.BananaError):
            pbfast.loads(data)
    with pytest.raises(jelly.InsecureJelly):
        pbfast.loads(whole)


def _cycles() -> list[Any]:
    """Graphs where a dictionary or list is met again while it is being
    filled, by every kind of holder."""
    cases: list[Any] = []
    d: dict[str, Any] = {}
    d["self"], d["in_list"], d["in_tuple"] = d, [d], (d, (d,))
    cases.append(d)
    items: list[Any] = []
    items.extend([items, (items,), {"back": items}, Node(back=items)])
    cases.append(items)
    state: dict[str, Any] = {}
    node = Node()
    node.__dict__ = state
    state["me"] = node
    cases.append({"node": node, "state": state})
    slotted = Slotted()
    holder = {"slotted": slotted}
    slotted.a, slotted.b = holder, (holder,)
    cases.append(holder)
    registered = Registered()
    outer = [registered]
    registered.back, registered.pair = outer, (outer, 1)
    cases.append(outer)
    # A dictionary done while the one around it is still being filled and
    # held after it (where the inner one was held is noted before where the
    # outer one is); then a second inner one, being filled when a hook runs:
    # the hook sees placeholders for the outer one and the second inner one,
    # nowhere else.
    outer_dict: dict[str, Any] = {}
    first_dict: dict[str, Any] = {}
    second_dict: dict[str, Any] = {}
    first_dict["a"], first_dict["b"] = first_dict, outer_dict
    second_dict["self"] = second_dict
    second_dict["x"] = Registered(back=outer_dict, inner=second_dict)
    outer_dict["k"], outer_dict["m"] = first_dict, second_dict
    cases.append(outer_dict)
    # Lists that hold a dictionary or list being filled as it is (its place
    # noted), before a hook runs (which puts placeholders in those places)
    # and after: a list of their own, nested, and the list itself.
    parent: dict[str, Any] = {}
    parent["kids"] = [parent, Registered(back=parent), [parent, [parent]], parent]
    cases.append(parent)
    looped: list[Any] = []
    looped.extend([looped, [looped], Registered(back=looped), [[looped]], looped])
    cases.append(looped)
    cases.append([looped, parent])
    # The same, a hook recording where it finds placeholders held.
    seen_parent: dict[str, Any] = {}
    seen_parent["kids"] = [seen_parent, [seen_parent], Witness(), seen_parent]
    seen_parent["me"] = seen_parent
    seen_looped: list[Any] = []
    seen_looped.extend([seen_looped, [[seen_looped]], {"in": seen_looped}, Witness()])
    cases.append([seen_parent, seen_looped])
    # Placeholders inside plain lists and tuples, first, between and last.
    inner: dict[str, Any] = {}
    inner["list"] = [1, (inner,), 2, [(inner, 3)], (inner,)]
    inner["tuple"] = ((inner,), 4, (5, (inner,)), 6)
    cases.append(inner)
    return cases


@pytest.mark.parametrize("graph", _cycles(), ids=lambda graph: type(graph).__name__)
def test_cycles_back_into_containers_being_filled(graph: Any) -> None:
    data = pbfast.dumps(graph)
    for taster in (jelly.globalSecurity, jelly.DummySecurityOptions()):
        expected = _twisted_outcome(data, taster)
        got = _loads(data, taster)
        assert got[0] == expected[0], (got, expected)
        if got[0] == "value":
            assert same_graph(got[1], expected[1])


def _nested(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth - 1):
        value = [value]
    return value


def _nested_around(depth: int, inner: Any) -> list[Any]:
    """C{inner} in lists nested C{depth - 1} deep."""
    value: list[Any] = [inner]
    for _ in range(depth - 2):
        value = [value]
    return value


def test_nesting_limit_is_a_keyword_both_ways() -> None:
    data = pbfast.dumps(_nested(50))
    assert pbfast.loads(data, maxDepth=50) == _nested(50)
    with pytest.raises(jelly.InsecureJelly, match="deeper than 49"):
        pbfast.loads(data, maxDepth=49)
    with pytest.raises(jelly.InsecureJelly, match="deeper than 49"):
        pbfast.dumps(_nested(50), maxDepth=49)
    # [None], [boolean, ...] and [unicode, ...] are levels too, however
    # they are read.
    for inner in (None, True, "text"):
        data = pbfast.dumps(_nested_around(50, inner))
        assert pbfast.loads(data, maxDepth=50) == _nested_around(50, inner)
        with pytest.raises(jelly.InsecureJelly, match="deeper than 49"):
            pbfast.loads(data, maxDepth=49)
    # The default is jelly's limit, and a message cannot get past it.
    deep = banana.encode(_sexp_nested(jelly.MAX_DEPTH + 1))
    with pytest.raises(jelly.InsecureJelly, match=f"deeper than {jelly.MAX_DEPTH}"):
        pbfast.loads(deep)


def _sexp_nested(depth: int) -> list[Any]:
    value: list[Any] = [b"list"]
    for _ in range(depth - 1):
        value = [b"list", value]
    return value


def test_banana_limits_follow_pbfast_banana(monkeypatch: pytest.MonkeyPatch) -> None:
    data = pbfast.dumps([b"x" * 100])
    monkeypatch.setattr(banana, "SIZE_LIMIT", 50)
    with pytest.raises(banana.BananaError, match="too long"):
        pbfast.loads(data)
    with pytest.raises(banana.BananaError, match="too long"):
        pbfast.dumps([b"x" * 100])


def test_constructor_errors_become_insecure_jelly_with_their_cause() -> None:
    with pytest.raises(jelly.InsecureJelly, match="malformed") as caught:
        pbfast.loads(banana.encode([b"date", b"2026 13 1"]))
    assert isinstance(caught.value.__cause__, ValueError)


def test_the_default_taster_is_global_security() -> None:
    data = pbfast.dumps(Node(x=1))
    with pytest.raises(jelly.InsecureJelly):
        pbfast.loads(data)
    with pytest.raises(jelly.InsecureJelly):
        pbfast.loads(data, taster=None)
    assert pbfast.loads(data, taster=jelly.DummySecurityOptions()).x == 1


_KEY = [b"unicode", b"k"]


@pytest.mark.parametrize(
    "expression",
    [
        # A key given a second value after it held the dictionary being filled.
        [b"reference", 1, [b"dictionary", [_KEY, [b"dereference", 1]], [_KEY, 5]]],
        [b"reference", 1, [b"dictionary", [_KEY, 5], [_KEY, [b"dereference", 1]]]],
        [
            b"reference",
            1,
            [b"dictionary", [_KEY, [b"dictionary", [_KEY, [b"dereference", 1]], [_KEY, 6]]]],
        ],
        [b"reference", 1, [b"list", [b"dictionary", [_KEY, [b"dereference", 1]], [_KEY, 7]]]],
        # Two dictionaries being filled, held by the inner one, whose key
        # holding the outer one is then given a second value.
        [
            b"reference",
            1,
            [
                b"dictionary",
                [
                    _KEY,
                    [
                        b"reference",
                        2,
                        [
                            b"dictionary",
                            [[b"unicode", b"a"], [b"dereference", 1]],
                            [[b"unicode", b"b"], [b"dereference", 2]],
                            [[b"unicode", b"a"], 8],
                        ],
                    ],
                ],
            ],
        ],
        # The same, the inner one done first, then the key given a
        # second value.
        [
            b"reference",
            1,
            [
                b"dictionary",
                [
                    _KEY,
                    [
                        b"reference",
                        2,
                        [
                            b"dictionary",
                            [[b"unicode", b"a"], [b"dereference", 2]],
                            [[b"unicode", b"b"], [b"dereference", 1]],
                        ],
                    ],
                ],
                [[b"unicode", b"c"], [b"dereference", 2]],
                [_KEY, 9],
            ],
        ],
        # Ids out of order, and one used twice.
        [
            b"list",
            [b"reference", 3, [b"dictionary", [_KEY, [b"dereference", 3]]]],
            [b"reference", 1, [b"list", [b"dereference", 1]]],
            [b"reference", 2, [b"dictionary"]],
            [b"dereference", 3],
        ],
        [b"list", [b"reference", 1, [b"list"]], [b"reference", 1, [b"dictionary"]]],
        # Lists holding the list being filled, its own and nested ones,
        # then a key given a second value meanwhile.
        [b"reference", 1, [b"list", [b"list", [b"dereference", 1]], [b"dereference", 1]]],
        [
            b"reference",
            1,
            [
                b"list",
                [b"dereference", 1],
                [b"dictionary", [_KEY, [b"list", [b"dereference", 1]]], [_KEY, 2]],
            ],
        ],
        # A dereference before its reference, and one that never resolves.
        [b"list", [b"dictionary", [_KEY, [b"dereference", 2]]], [b"reference", 2, [b"list"]]],
        [b"list", [b"dictionary", [_KEY, [b"dereference", 3]]]],
    ],
    ids=repr,
)
def test_hand_written_references_as_twisted_resolves_them(expression: list[Any]) -> None:
    got, expected = _both_outcomes(banana.encode(expression))
    assert same_graph(got, expected)


@pytest.mark.parametrize("payload", list(SUITE))
def test_decode_memory_is_the_result_and_little_more(payload: str) -> None:
    """Peak memory of loads beyond its result stays under twice the message
    (tracemalloc; the measure python -m pbfast bench reports)."""
    data = pbfast.dumps(SUITE[payload]())
    assert decode_extra_memory(data) <= 2 * len(data)


def test_one_byte_items_and_lying_headers_cost_no_memory_of_their_own() -> None:
    count = 200_000
    # A list of zeros written with empty prefixes: one byte per item.
    data = _list_header(count + 1) + banana.encode(b"list") + b"\x81" * count
    assert pbfast.loads(data) == [0] * count
    assert decode_extra_memory(data) <= 2 * len(data)
    # A header claiming far more items than the bytes that follow.
    lying = _list_header(600_000) + banana.encode(b"list") + b"\x81" * 10
    tracemalloc.start()
    try:
        with pytest.raises(banana.BananaError, match="Truncated"):
            pbfast.loads(lying)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 64 * 1024


def _list_header(count: int) -> bytes:
    digits = bytearray()
    while True:
        digits.append(count & 0x7F)
        count >>= 7
        if not count:
            return bytes(digits) + b"\x80"


def test_containers_being_filled_are_out_of_reach_of_hooks() -> None:
    """A hook that walks every object the collector knows of meets no list
    or tuple with empty slots."""
    walker = GcWalker()
    walker.x = 1
    data = pbfast.dumps([1, (2, walker, 3), [walker, 4], walker])
    back = pbfast.loads(data)
    assert back[0] == 1 and back[1][1] is back[3] and back[2][0] is back[3]
    # A list that holds an object being filled, then the hook.
    parent: dict[str, Any] = {}
    parent["kids"] = [parent, GcWalker(), 5]
    looped: list[Any] = []
    looped.extend([looped, [looped, GcWalker(), 6], 7])
    back = pbfast.loads(pbfast.dumps([parent, looped]))
    assert back[0]["kids"][0] is back[0] and back[0]["kids"][2] == 5
    assert back[1][0] is back[1] and back[1][1][0] is back[1] and back[1][1][2] == 6


def test_persistent_without_a_loader_needs_no_item() -> None:
    """Twisted reads the persistent id only when it has a persistentLoad."""
    data = banana.encode([b"persistent"])
    for taster in (jelly.globalSecurity, jelly.DummySecurityOptions()):
        got = pbfast.loads(data, taster=taster)
        expected = twisted_jelly.unjelly(twisted_decode(data), taster=taster)
        assert type(got) is type(expected) is jelly.Unpersistable
        assert str(got) == str(expected)
        assert type(jelly.unjelly([b"persistent"], taster=taster)) is jelly.Unpersistable
    with pytest.raises(jelly.InsecureJelly, match="needs at least 2"):
        pbfast.loads(data, persistentLoad=lambda ref, unjellier: ref)


_TAGS = [
    b"list", b"tuple", b"dictionary", b"reference", b"dereference", b"unicode", b"None",
    b"boolean", b"set", b"frozenset", b"datetime", b"date", b"time", b"timedelta", b"decimal",
    b"jelly_objects.Node", b"module", b"class", b"function", b"persistent", b"unpersistable",
    b"instance", b"method",
]  # fmt: skip

_atoms = st.one_of(
    st.integers(-(2**70), 2**70),
    st.integers(0, 4),
    st.sampled_from([*_TAGS, b"true", b"false", b"x", b"2020 1 2", b"1 2 3", b"k"]),
    st.floats(allow_nan=False),
    st.binary(max_size=3),
)

# Expressions made of jelly's own tags in any arrangement: shapes no jelly
# writes, that a hostile peer could.
tag_soup = st.recursive(
    _atoms,
    lambda items: st.builds(
        lambda tag, rest: [tag, *rest], st.sampled_from(_TAGS), st.lists(items, max_size=3)
    ),
    max_leaves=12,
).map(lambda expression: banana.encode(expression))


@given(tag_soup)
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
def test_any_arrangement_of_tags_fails_or_succeeds_as_in_twisted(data: bytes) -> None:
    for ours, theirs in (
        (jelly.globalSecurity, twisted_jelly.globalSecurity),
        (jelly.DummySecurityOptions(), twisted_jelly.DummySecurityOptions()),
    ):
        expected = _outcome(
            lambda theirs=theirs: twisted_jelly.unjelly(twisted_decode(data), theirs)
        )
        got = _loads(data, ours)
        assert got[0] == expected[0], (got, expected)


def test_the_shared_empty_tuple_is_left_alone() -> None:
    empty = ()
    tracked = gc.is_tracked(empty)
    assert pbfast.loads(pbfast.dumps([(), ((),), []])) == [(), ((),), []]
    assert gc.is_tracked(empty) == tracked


def _int_token(value: int, type_byte: int, digits: int) -> bytes:
    """C{value} in C{digits} base-128 digits (zeros at the top if it needs
    fewer: Twisted reads those too), then C{type_byte}."""
    out = bytearray()
    for _ in range(digits):
        out.append(value & 0x7F)
        value >>= 7
    assert value == 0
    return bytes(out) + bytes([type_byte])


@pytest.mark.parametrize("prefix_limit", [1, 2, 3, 64])
def test_ints_of_every_header_width_and_type_as_twisted_reads_them(
    prefix_limit: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ints are read from their first bytes where the header is short: each
    width (none, one, two and three digits), each int type byte, as items
    of a list, a tuple and as dictionary values, under each prefix limit."""
    from twisted.spread import banana as twisted_banana

    monkeypatch.setattr(banana, "_PREFIX_LIMIT", prefix_limit)

    def twisted(data: bytes) -> tuple[str, Any]:
        def run() -> Any:
            received: list[Any] = []
            protocol = twisted_banana.Banana()
            protocol.expressionReceived = received.append  # type: ignore[method-assign]
            protocol.setPrefixLimit(prefix_limit)
            protocol._selectDialect(b"none")
            protocol.dataReceived(data)
            return twisted_jelly.unjelly(received[0], taster=twisted_jelly.globalSecurity)

        return _outcome(run)

    tokens = [b"\x81", b"\x83"]  # empty prefixes: 0 and -0
    for type_byte in (0x81, 0x83, 0x85, 0x86):  # INT, NEG, LONGINT, LONGNEG
        for value, digits in [(0, 1), (5, 1), (127, 1), (0, 2), (128, 2), (16383, 2)]:
            tokens.append(_int_token(value, type_byte, digits))
        tokens.append(_int_token(16384, type_byte, 3))
    tag = banana.encode(b"list")
    outcomes = set()
    for token in tokens:
        for data in (
            _list_header(3) + tag + token + token,
            _list_header(2) + banana.encode(b"tuple") + token,
            _list_header(2)
            + banana.encode(b"dictionary")
            + _list_header(2)
            + banana.encode([b"unicode", b"k"])
            + token,
        ):
            got, expected = _loads(data, jelly.globalSecurity), twisted(data)
            assert got[0] == expected[0], (token, data, got, expected)
            if got[0] == "value":
                assert got[1] == expected[1], (token, data)
                assert [type(item) for item in got[1]] == [type(item) for item in expected[1]]
            else:
                assert isinstance(got[1], banana.BananaError)
            outcomes.add(got[0])
    assert outcomes == ({"value"} if prefix_limit >= 3 else {"value", "error"})


_DEREF_1 = [b"dereference", 1]


@pytest.mark.parametrize("container", [b"dictionary", b"tuple", b"list"])
@pytest.mark.parametrize(
    ("value", "error"),
    [(1, AssertionError), ([b"unicode", b"\xff"], UnicodeDecodeError)],
    ids=["a good value", "a bad value"],
)
def test_a_forward_reference_key_is_refused_after_its_value(
    container: bytes, value: Any, error: type[Exception]
) -> None:
    """
    A dictionary key that is a forward reference: Twisted unjellies the
    item's value before it stores the item (and fails, hashing the
    placeholder, with an AssertionError); an error of the value's own comes
    first. pbfast's errors are those, made typed (an InsecureJelly too).
    """
    item = [_DEREF_1, value]
    inner = [b"dictionary", item]
    sexp = [b"reference", 1, inner if container == b"dictionary" else [container, inner]]
    with pytest.raises(error) as theirs:
        twisted_jelly.unjelly(sexp)
    assert type(theirs.value) is error
    for unjellying in (
        lambda: jelly.unjelly(sexp),
        lambda: pbfast.loads(banana.encode(sexp), taster=jelly.DummySecurityOptions()),
    ):
        with pytest.raises(error) as ours:
            unjellying()
        assert isinstance(ours.value, jelly.InsecureJelly)
