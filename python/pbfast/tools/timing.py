"""
The timing method of C{python -m pbfast bench}, the demo's speed tables and
the broker's in-memory timings: how one call is timed against others so that
the ratios mean something on a machine whose speed changes.

What is timed for a payload -- pbfast and each contender -- is timed side by
side, in rounds (L{compare}): each round times a batch of pbfast's calls
before and after each other contender's batch, and the ratio is the other's
time over the two around it; what is reported is each ratio's median over
the rounds, and how far the ratios moved from round to round (L{spread}).
Shared machines change speed from one moment to the next, by a factor of two
at times: that moves the times, not the ratios. Large blocks are always
served from malloc's heap (L{steady_allocator}), so that whether they are
mapped afresh does not depend on what the process did before.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

MIN_ROUNDS = 7
MAX_ROUNDS = 61
BATCH_SECONDS = 0.005
"""A batch of calls lasts at least this long (one call, if it takes longer)."""

Call = tuple[Callable[[Any], Any], Any]
"""A function and the argument it is timed with."""


def batch_time(call: Call, calls: int) -> float:
    """Seconds per call of C{call}, over a batch of C{calls} calls."""
    function, argument = call
    # Every batch starts on the same heap: without the cycles the previous
    # batch left (the collector is paused in a batch, so they are all still
    # in its youngest generation). Otherwise a batch that comes after
    # another's pays to allocate among its garbage, and one that comes
    # right after a full collection does not.
    gc.collect(0)
    gc.disable()
    try:
        start = time.perf_counter()
        for _ in range(calls):
            function(argument)
        return (time.perf_counter() - start) / calls
    finally:
        gc.enable()


def batch_size(call: Call) -> int:
    """Calls in a batch of C{call}: enough to last L{BATCH_SECONDS}."""
    call[0](call[1])
    calls = 1
    while batch_time(call, calls) * calls < BATCH_SECONDS and calls < 1 << 20:
        calls *= 2
    return calls


allocator_steadied = False
"""Whether L{steady_allocator} has run in this process."""


def steady_allocator() -> None:
    """
    Have glibc's malloc serve large blocks from its heap, always. By default
    a block above its mmap threshold is mapped fresh (its pages faulted in
    anew) or reused from the heap depending on what the process freed
    before -- a threshold that moves with the process's history -- so the
    time to build a large message went from one run to the next by a factor
    of 15 for whoever allocates it. Benchmarks only: once per process;
    nothing elsewhere than glibc.
    """
    global allocator_steadied
    if allocator_steadied:
        return
    allocator_steadied = True
    try:
        import ctypes

        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return
    M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
    mallopt(M_MMAP_THRESHOLD, 32 << 20)
    mallopt(M_TRIM_THRESHOLD, 256 << 20)


@dataclass
class Comparison:
    """How C{ours} did against each of the others, from rounds of timings."""

    ours: float
    """Seconds per call: the median of all its batches."""
    others: dict[str, float]
    """Seconds per call of each other: the median of its batches."""
    ratios: dict[str, float]
    """For each other, how many times as long it took as C{ours}: the median over the rounds."""
    spread: float
    """How far the ratios moved from round to round (see L{spread})."""


def compare(ours: Call, others: dict[str, Call], budget: float) -> Comparison:
    """
    Time C{ours} against each of C{others} in rounds, as many as fit in
    about C{budget} seconds (within L{MIN_ROUNDS} and L{MAX_ROUNDS}). A round
    times a batch of C{ours} before and after each other's batch, so that a
    ratio compares what ran side by side: a machine whose speed changes
    between rounds -- or in the middle of a run, as shared machines do --
    moves the times, not the ratios. The order of the others rotates from
    round to round; the collector is paused in a batch, its youngest
    generation collected before each batch, and all of it between rounds.
    """
    steady_allocator()
    batches = {name: batch_size(call) for name, call in others.items()}
    our_batch = batch_size(ours)
    names = list(others)
    our_samples: list[float] = []
    samples: dict[str, list[float]] = {name: [] for name in names}
    ratios: dict[str, list[float]] = {name: [] for name in names}
    deadline = time.perf_counter() + budget
    for round_ in range(MAX_ROUNDS):
        before = batch_time(ours, our_batch)
        our_samples.append(before)
        for name in names[round_ % len(names) :] + names[: round_ % len(names)]:
            theirs = batch_time(others[name], batches[name])
            after = batch_time(ours, our_batch)
            samples[name].append(theirs)
            ratios[name].append(theirs / ((before + after) / 2))
            our_samples.append(after)
            before = after
        gc.collect()
        if round_ + 1 >= MIN_ROUNDS and time.perf_counter() > deadline:
            break
    return Comparison(
        ours=median(our_samples),
        others={name: median(values) for name, values in samples.items()},
        ratios={name: median(values) for name, values in ratios.items()},
        spread=max(spread(values) for values in ratios.values()),
    )


def median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


def spread(ratios: list[float]) -> float:
    """
    How far C{ratios} moved between rounds: half the distance between their
    quartiles, as a fraction of their median.
    """
    ordered = sorted(ratios)
    quarter = len(ordered) // 4
    low, high = ordered[quarter], ordered[len(ordered) - 1 - quarter]
    return (high - low) / 2 / median(ordered)
