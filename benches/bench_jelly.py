"""
jelly and unjelly, pbfast against Twisted, on records (a list of dicts),
numbers, strings, shared references and cyclic dicts; and objects to bytes
(pbfast.dumps against Twisted's encode(jelly()) and pickle).

Untimed in the normal test run; time them with
C{python -m pytest benches --benchmark-enable}.
"""

from __future__ import annotations

import pickle
from typing import Any

import pytest
from twisted.spread import banana as twisted_banana
from twisted.spread import jelly as twisted_jelly

import pbfast
from pbfast import jelly
from pbfast._bench import JELLY_PAYLOADS

JELLIES = {"pbfast": jelly.jelly, "twisted": twisted_jelly.jelly}
UNJELLIES = {"pbfast": jelly.unjelly, "twisted": twisted_jelly.unjelly}


@pytest.mark.parametrize("implementation", list(JELLIES))
@pytest.mark.parametrize("payload", list(JELLY_PAYLOADS))
def test_jelly(benchmark: Any, payload: str, implementation: str) -> None:
    benchmark.group = f"jelly, {payload}"
    value = JELLY_PAYLOADS[payload]()
    assert benchmark(JELLIES[implementation], value) == twisted_jelly.jelly(value)


@pytest.mark.parametrize("implementation", list(UNJELLIES))
@pytest.mark.parametrize("payload", list(JELLY_PAYLOADS))
def test_unjelly(benchmark: Any, payload: str, implementation: str) -> None:
    benchmark.group = f"unjelly, {payload}"
    sexp = twisted_jelly.jelly(JELLY_PAYLOADS[payload]())
    result = benchmark(UNJELLIES[implementation], sexp)
    assert jelly.jelly(result) == sexp


@pytest.mark.parametrize("implementation", ["pbfast", "twisted", "pickle"])
@pytest.mark.parametrize("payload", list(JELLY_PAYLOADS))
def test_dumps(benchmark: Any, payload: str, implementation: str) -> None:
    """Objects to bytes: pbfast.dumps against Twisted's two steps and pickle."""
    benchmark.group = f"dumps, {payload}"
    value = JELLY_PAYLOADS[payload]()
    dumps = {
        "pbfast": pbfast.dumps,
        "twisted": lambda v: twisted_banana.encode(twisted_jelly.jelly(v)),
        "pickle": lambda v: pickle.dumps(v, protocol=5),
    }[implementation]
    result = benchmark(dumps, value)
    if implementation != "pickle":
        assert result == twisted_banana.encode(twisted_jelly.jelly(value))
