"""
Twisted's own jelly tests (C{twisted/spread/test/test_jelly.py}), run against
pbfast.jelly: its C{jelly} import points at pbfast (banana and pb stay
Twisted's, whose Copyable classes are Jellyable through the shared base
classes).
"""

import pbfast.jelly
import twisted_suite

_suite = twisted_suite.load(
    "twisted.spread.test.test_jelly",
    {
        "from twisted.spread import banana, jelly, pb\n": (
            "from twisted.spread import banana, pb\nfrom pbfast import jelly\n"
        )
    },
    into="pbfast_twisted_test_jelly",
)

JellyTests = _suite.JellyTests
JellyDeprecationTests = _suite.JellyDeprecationTests
CircularReferenceTests = _suite.CircularReferenceTests


def test_suite_runs_against_pbfast() -> None:
    assert _suite.jelly is pbfast.jelly
