"""
Run Twisted's own C{twisted.spread} tests, unchanged, with pbfast standing in
for Twisted's modules the way users drop it in, in a fresh interpreter:

  - C{swap}: pbfast's C{banana}, C{jelly}, C{flavors} and C{pb} are put in
    C{sys.modules} (and on the C{twisted.spread} package) in place of
    Twisted's before anything else imports them -- Twisted's test modules and
    the Twisted modules they import (C{publish}, C{util}) then get pbfast's;
  - C{install}: the program imports Twisted's modules first, then calls
    C{pbfast.install()}, and runs on Twisted's patched modules.

Usage: C{python tests/run_twisted_spread.py swap|install [test names...]}.
Prints trial's report and one last line C{RESULT <tests run> <problems>}; the
exit status is 0 only if every test passed and the checks of the mode held.
"""

from __future__ import annotations

import sys

TWISTED_SUITES = [
    "twisted.spread.test.test_banana",
    "twisted.spread.test.test_jelly",
    "twisted.spread.test.test_pb",
    "twisted.spread.test.test_pbfailure",
]


def standIn(mode: str) -> None:
    if mode == "swap":
        import twisted.spread

        import pbfast

        for name in ("banana", "jelly", "flavors", "pb"):
            module = getattr(pbfast, name)
            sys.modules[f"twisted.spread.{name}"] = module
            setattr(twisted.spread, name, module)
        for name in TWISTED_SUITES:
            assert name not in sys.modules, f"{name} was imported before the swap"
    elif mode == "install":
        # A program that imported Twisted (and subclassed its broker) first.
        from twisted.spread import pb

        class ProgramBroker(pb.Broker):
            pass

        import pbfast

        pbfast.install()
        assert ProgramBroker.serialize is pbfast.pb._NativeBroker.serialize
    else:
        raise SystemExit(f"unknown mode {mode!r}")


def checkStoodIn(mode: str) -> list[str]:
    """What shows that the tests ran on pbfast, not on Twisted's code."""
    import twisted.spread.pb as pb

    import pbfast

    problems = []
    if mode == "swap":
        if pb is not pbfast.pb:
            problems.append("twisted.spread.pb is not pbfast.pb")
        if pb.Broker is not pbfast.pb.Broker:
            problems.append("the tests' Broker is not pbfast's")
    else:
        if pb.Broker.serialize is not pbfast.pb._NativeBroker.serialize:
            problems.append("Twisted's Broker is not patched")
        if not pbfast.installed():
            problems.append("pbfast is not installed")
    return problems


def main() -> int:
    mode = sys.argv[1]
    names = sys.argv[2:] or TWISTED_SUITES
    standIn(mode)
    from twisted.trial import reporter, runner

    suite = runner.TestLoader().loadByNames(names)
    result = runner.TrialRunner(reporter.VerboseTextReporter).run(suite)
    problems = checkStoodIn(mode)
    for problem in problems:
        print("PROBLEM", problem)
    bad = len(result.errors) + len(result.failures) + len(result.unexpectedSuccesses)
    print("RESULT", result.testsRun, bad + len(problems), flush=True)
    return 0 if result.wasSuccessful() and not problems else 1


if __name__ == "__main__":
    sys.exit(main())
