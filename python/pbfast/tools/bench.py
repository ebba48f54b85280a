"""
What C{python -m pbfast bench} and the demo's speed tables measure, for the
codec: each payload of L{pbfast.tools.payloads} encoded and decoded by
pbfast, by Twisted (L{pbfast.tools.reference}) and by C{pickle}, timed side
by side (L{pbfast.tools.timing.compare}), into rows -- L{Row}, L{JellyRow},
L{SuiteRow} -- that L{pbfast.tools.tables} renders and judges against the
targets. Before it is timed, pbfast's output is checked to be Twisted's.
"""

from __future__ import annotations

import pickle
import sys
import tracemalloc
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, TextIO

from twisted.spread import banana as twisted_banana
from twisted.spread import jelly as twisted_jelly

import pbfast
from pbfast import banana, jelly
from pbfast.tools.payloads import BANANA_PAYLOADS, JELLY_PAYLOADS, SUITE
from pbfast.tools.reference import (
    Codec,
    carries,
    msgspec_codec,
    pickle_dumps,
    twisted_decode,
    twisted_dumps,
    twisted_loads,
)
from pbfast.tools.timing import Call, compare

RATIOS = ("encode_vs_twisted", "encode_vs_pickle", "decode_vs_twisted", "decode_vs_pickle")


@dataclass
class Row:
    """
    One payload: its encoded size, seconds per call of each contender each
    way, and how many times faster pbfast is (see
    L{pbfast.tools.timing.compare}).
    """

    payload: str
    size: int
    encode_pbfast: float
    encode_twisted: float
    encode_pickle: float
    decode_pbfast: float
    decode_twisted: float
    decode_pickle: float
    encode_vs_twisted: float
    encode_vs_pickle: float
    decode_vs_twisted: float
    decode_vs_pickle: float
    spread: float
    """The most any of the four ratios moved from round to round (see
    L{pbfast.tools.timing.spread})."""

    def ratios(self) -> dict[str, float]:
        return {name: getattr(self, name) for name in RATIOS}

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class SuiteRow(Row):
    """
    One payload of the suite: a L{Row} (Banana size, seconds per call to
    encode and decode for pbfast, Twisted and pickle) and the decode's peak
    memory beyond the result it returns, in bytes (tracemalloc).
    """

    decode_extra_memory: int
    encode_msgspec: float | None = None
    decode_msgspec: float | None = None
    encode_vs_msgspec: float | None = None
    decode_vs_msgspec: float | None = None
    """msgspec's MessagePack codec, where it is installed and carries the
    payload (see L{pbfast.tools.reference.msgspec_codec}); None elsewhere."""

    def ratios(self) -> dict[str, float]:
        return {
            **super().ratios(),
            "decode_extra_memory_vs_size": self.decode_extra_memory / self.size,
        }


@dataclass
class JellyRow:
    """
    One payload's jelly and unjelly: pbfast's seconds per call, Twisted's,
    and how many times faster pbfast is (see L{pbfast.tools.timing.compare}).
    """

    payload: str
    jelly_pbfast: float
    jelly_twisted: float
    unjelly_pbfast: float
    unjelly_twisted: float
    jelly_vs_twisted: float
    unjelly_vs_twisted: float
    spread: float

    def ratios(self) -> dict[str, float]:
        return {
            "jelly_vs_twisted": self.jelly_vs_twisted,
            "unjelly_vs_twisted": self.unjelly_vs_twisted,
        }

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def timed(
    name: str,
    value: Any,
    ours: Codec,
    theirs: Codec,
    budget: float,
    progress: TextIO | None,
    extra: dict[str, Codec] | None = None,
) -> dict[str, Any]:
    """
    The fields of a L{Row}: C{value} encoded and decoded by pbfast (C{ours}:
    encode, decode), Twisted (C{theirs}), pickle and the C{extra} codecs
    (by name), after checking that pbfast's bytes are Twisted's. Half the
    budget each way.
    """
    data = ours[0](value)
    assert data == theirs[0](value), name
    pickled = pickle_dumps(value)
    fields: dict[str, Any] = {"payload": name, "size": len(data)}
    encoders: dict[str, Call] = {"twisted": (theirs[0], value), "pickle": (pickle_dumps, value)}
    decoders: dict[str, Call] = {"twisted": (theirs[1], data), "pickle": (pickle.loads, pickled)}
    for other, (encode, decode) in (extra or {}).items():
        encoders[other] = (encode, value)
        decoders[other] = (decode, encode(value))
    spreads = []
    for way, our_call, others in [
        ("encode", (ours[0], value), encoders),
        ("decode", (ours[1], data), decoders),
    ]:
        if progress is not None:
            print(f"  timing {name} ({len(data):,} bytes): {way}...", file=progress, flush=True)
        found = compare(our_call, others, budget / 2)
        fields[f"{way}_pbfast"] = found.ours
        for other in others:
            fields[f"{way}_{other}"] = found.others[other]
            fields[f"{way}_vs_{other}"] = found.ratios[other]
        spreads.append(found.spread)
    fields["spread"] = max(spreads)
    return fields


def measure_banana(
    names: list[str] | None = None,
    budget: float = 1.0,
    progress: TextIO | None = sys.stderr,
) -> list[Row]:
    """Time banana encode/decode for each payload: pbfast, Twisted, pickle."""
    ours = (banana.encode, banana.decode)
    theirs = (twisted_banana.encode, twisted_decode)
    return [
        Row(**timed(name, BANANA_PAYLOADS[name](), ours, theirs, budget, progress))
        for name in names or list(BANANA_PAYLOADS)
    ]


def measure_jelly(
    names: list[str] | None = None,
    budget: float = 1.0,
    progress: TextIO | None = sys.stderr,
) -> list[JellyRow]:
    """Time jelly and unjelly (object graph <-> s-expression) per payload."""
    rows = []
    for name in names or list(JELLY_PAYLOADS):
        value = JELLY_PAYLOADS[name]()
        sexp = twisted_jelly.jelly(value)
        assert jelly.jelly(value) == sexp, name
        fields: dict[str, Any] = {"payload": name}
        spreads = []
        for way, ours, theirs in [
            ("jelly", (jelly.jelly, value), (twisted_jelly.jelly, value)),
            ("unjelly", (jelly.unjelly, sexp), (twisted_jelly.unjelly, sexp)),
        ]:
            if progress is not None:
                print(f"  timing {name}: {way}...", file=progress, flush=True)
            found = compare(ours, {"twisted": theirs}, budget / 2)
            fields[f"{way}_pbfast"] = found.ours
            fields[f"{way}_twisted"] = found.others["twisted"]
            fields[f"{way}_vs_twisted"] = found.ratios["twisted"]
            spreads.append(found.spread)
        rows.append(JellyRow(**fields, spread=max(spreads)))
    return rows


def decode_extra_memory(data: bytes) -> int:
    """
    Peak bytes that C{pbfast.loads(data)} allocates beyond the result it
    returns, as tracemalloc sees them (a call before fills the caches).
    """
    pbfast.loads(data)
    tracemalloc.start()
    try:
        result = pbfast.loads(data)
        kept, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    del result
    return peak - kept


def measure_suite(
    names: list[str] | None = None,
    budget: float = 1.0,
    progress: TextIO | None = sys.stderr,
    payloads: dict[str, Callable[[], Any]] = SUITE,
) -> list[SuiteRow]:
    """Time objects <-> bytes for each payload (of the suite, or
    C{payloads}): pbfast, Twisted, pickle."""
    ours = (pbfast.dumps, pbfast.loads)
    theirs = (twisted_dumps, twisted_loads)
    msgspec = msgspec_codec()
    rows = []
    for name in names or list(payloads):
        value = payloads[name]()
        extra = {"msgspec": msgspec} if msgspec and carries(msgspec, value) else {}
        fields = timed(name, value, ours, theirs, budget, progress, extra)
        memory = decode_extra_memory(pbfast.dumps(payloads[name]()))
        rows.append(SuiteRow(**fields, decode_extra_memory=memory))
    return rows
