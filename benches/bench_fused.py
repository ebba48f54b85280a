"""
Objects to bytes and back over the payload suite of C{python -m pbfast
bench} and the shapes beyond it: pbfast.dumps/loads against Twisted's
banana.encode(jelly.jelly()) / jelly.unjelly(banana.decode(),
globalSecurity), and pickle protocol 5.

Untimed in the normal test run (each call is still made and its result
checked); time them with C{python -m pytest benches --benchmark-enable}.
"""

from __future__ import annotations

import pickle
from typing import Any

import pytest
from twisted.spread import banana as twisted_banana
from twisted.spread import jelly as twisted_jelly

import pbfast
from pbfast.tools.payloads import SHAPES, SUITE
from pbfast.tools.reference import twisted_decode

PAYLOADS = {**SUITE, **SHAPES}

DUMPS = {
    "pbfast": pbfast.dumps,
    "twisted": lambda value: twisted_banana.encode(twisted_jelly.jelly(value)),
    "pickle": lambda value: pickle.dumps(value, protocol=5),
}


@pytest.mark.parametrize("implementation", list(DUMPS))
@pytest.mark.parametrize("payload", list(PAYLOADS))
def test_dumps(benchmark: Any, payload: str, implementation: str) -> None:
    benchmark.group = f"dumps, {payload}"
    value = PAYLOADS[payload]()
    result = benchmark(DUMPS[implementation], value)
    if implementation == "pickle":
        assert result == pickle.dumps(value, protocol=5)
    else:
        assert result == DUMPS["twisted"](value)


@pytest.mark.parametrize("implementation", list(DUMPS))
@pytest.mark.parametrize("payload", list(PAYLOADS))
def test_loads(benchmark: Any, payload: str, implementation: str) -> None:
    benchmark.group = f"loads, {payload}"
    value = PAYLOADS[payload]()
    if implementation == "pickle":
        result = benchmark(pickle.loads, pickle.dumps(value, protocol=5))
    elif implementation == "pbfast":
        result = benchmark(pbfast.loads, pbfast.dumps(value))
    else:
        data = DUMPS["twisted"](value)
        result = benchmark(
            lambda: twisted_jelly.unjelly(twisted_decode(data), taster=twisted_jelly.globalSecurity)
        )
    if payload in ("cyclic dicts", "self-holding lists"):
        # == would recurse forever; jellied again, the graph gives the same
        # bytes (there are no sets in it, whose order could differ).
        assert DUMPS["twisted"](result) == DUMPS["twisted"](value)
    else:
        assert result == value
