"""
Twisted's own Banana tests (C{twisted/spread/test/test_banana.py}), run against
pbfast.banana: its C{banana} import points at pbfast, so every name the tests
use, class attributes evaluated at import included, comes from pbfast.
"""

import pbfast.banana
import twisted_suite

_suite = twisted_suite.load(
    "twisted.spread.test.test_banana",
    {"from twisted.spread import banana\n": "from pbfast import banana\n"},
    into="pbfast_twisted_test_banana",
)

MathTests = _suite.MathTests
BananaTests = _suite.BananaTests
DialectTests = _suite.DialectTests
GlobalCoderTests = _suite.GlobalCoderTests


def test_suite_runs_against_pbfast() -> None:
    assert _suite.banana is pbfast.banana
    assert BananaTests.encClass is pbfast.banana.Banana
    assert DialectTests.legalPbItem == b"\x10\x87"
