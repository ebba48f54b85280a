"""
The Python-level fuzzer (C{fuzz/python/pbfast_fuzz.py}) as tests: every
committed finding replayed, a short run from a fixed seed finding nothing,
and memory across 200,000 varied calls of each entry point, failing ones
included. Longer runs: C{python fuzz/python/pbfast_fuzz.py --seconds 600}.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "fuzz" / "python"))

import pbfast_fuzz


@pytest.mark.parametrize(
    ("target", "data"), pbfast_fuzz.regressions(), ids=lambda value: str(value)[:40]
)
def test_findings_stay_fixed(target: str, data: bytes) -> None:
    with pbfast_fuzz.quiet():
        pbfast_fuzz.TARGETS[target](data)


def test_the_corpus_passes_every_check() -> None:
    with pbfast_fuzz.quiet():
        for data in pbfast_fuzz.corpus():
            for check in pbfast_fuzz.TARGETS.values():
                check(data)


def test_a_short_run_finds_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pbfast_fuzz, "FINDINGS", tmp_path)
    out = io.StringIO()
    assert pbfast_fuzz.fuzz(list(pbfast_fuzz.TARGETS), 2.0, seed=20261129, out=out) == 0, (
        out.getvalue()
    )


def test_no_memory_growth_across_many_calls() -> None:
    growth = pbfast_fuzz.leaks(200_000, seed=7, out=io.StringIO())
    assert set(growth) >= {"loads", "unjelly", "decode", "dumps", "jelly", "encode", "broker"}
    for name, grown in growth.items():
        assert grown < 4 * 1024 * 1024, f"{name} grew {grown} bytes"
