"""
jelly and unjelly, pbfast against Twisted, on records (a list of dicts),
numbers, strings, shared references and cyclic dicts (objects to and from
s-expressions; objects to and from bytes are in bench_fused.py).

Untimed in the normal test run; time them with
C{python -m pytest benches --benchmark-enable}.
"""

from __future__ import annotations

from typing import Any

import pytest
from twisted.spread import jelly as twisted_jelly

from pbfast import jelly
from pbfast.tools.payloads import JELLY_PAYLOADS

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
