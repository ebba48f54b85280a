"""
Twisted's own C{twisted.spread} tests (C{test_banana}, C{test_jelly},
C{test_pb}, C{test_pbfailure}), unchanged, with pbfast standing in both ways
users drop it in: its modules put in C{sys.modules} before anything imports
them, and C{pbfast.install()} after the program imported Twisted's. Each runs
in a fresh interpreter (see C{run_twisted_spread.py}).
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

RUNNER = os.path.join(os.path.dirname(__file__), "run_twisted_spread.py")

# As many tests as Twisted's four modules hold today: fewer would mean some
# were not found (a module failing to import counts as one error).
MINIMUM_TESTS = 130


@pytest.mark.parametrize("mode", ["swap", "install"])
def test_twisted_spread_suites_pass(mode: str, tmp_path: os.PathLike[str]) -> None:
    completed = subprocess.run(
        [sys.executable, RUNNER, mode],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    report = completed.stdout + completed.stderr
    last = [line for line in report.splitlines() if line.startswith("RESULT ")]
    assert last, report
    _, run, problems = last[-1].split()
    assert int(problems) == 0, report
    assert int(run) >= MINIMUM_TESTS, report
    assert completed.returncode == 0, report
