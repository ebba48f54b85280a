"""
Twisted's own Banana tests (C{twisted/spread/test/test_banana.py}), run against
pbfast.banana.

The module's source is loaded with its C{from twisted.spread import banana}
import pointed at pbfast, so every name the tests use, including class
attributes evaluated at import, comes from pbfast.
"""

import importlib.util
import types

import pbfast.banana

_SOURCE_IMPORT = "from twisted.spread import banana\n"


def _load_twisted_suite() -> types.ModuleType:
    spec = importlib.util.find_spec("twisted.spread.test.test_banana")
    assert spec is not None and spec.origin is not None
    with open(spec.origin, encoding="utf-8") as source_file:
        source = source_file.read()
    assert source.count(_SOURCE_IMPORT) == 1, "Twisted's test module changed its import"
    source = source.replace(_SOURCE_IMPORT, "from pbfast import banana\n")
    module = types.ModuleType(__name__ + "._suite")
    module.__file__ = spec.origin
    exec(compile(source, spec.origin, "exec"), module.__dict__)
    assert module.banana is pbfast.banana
    return module


_suite = _load_twisted_suite()

MathTests = _suite.MathTests
BananaTests = _suite.BananaTests
DialectTests = _suite.DialectTests
GlobalCoderTests = _suite.GlobalCoderTests


def test_suite_runs_against_pbfast() -> None:
    assert BananaTests.encClass is pbfast.banana.Banana
    assert DialectTests.legalPbItem == b"\x10\x87"
