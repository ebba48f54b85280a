"""
Payloads and timing for C{python -m pbfast bench}, the demo's speed table and
the pytest-benchmark suite in C{benches/}: one definition of what is measured.

What is timed for a payload -- pbfast, Twisted and C{pickle}, each way -- is
timed side by side, in rounds (L{compare}): each round times a batch of
pbfast's calls before and after each other contender's batch, and the ratio
is the other's time over the two around it; what is reported is each ratio's
median over the rounds, and how far the ratios moved from round to round.
Shared machines change speed from one moment to the next, by a factor of two
at times: that moves the times, not the ratios. Large blocks are always
served from malloc's heap (L{steady_allocator}), so that whether they are
mapped afresh does not depend on what the process did before.
"""

from __future__ import annotations

import datetime
import decimal
import gc
import pickle
import sys
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, TextIO

from twisted.spread import banana as twisted_banana
from twisted.spread import jelly as twisted_jelly

import pbfast
from pbfast import banana, jelly


def twisted_expressions(data: bytes, dialect: bytes = b"none") -> list[Any]:
    """
    Every expression Twisted's Banana decodes from C{data} in C{dialect}, on
    a fresh decoder. Twisted's module-level decoder keeps half-built lists
    after a failed call (only its byte buffer is reset), which would make
    every later call on it wrong.
    """
    received: list[Any] = []
    protocol = twisted_banana.Banana()
    protocol.expressionReceived = received.append  # type: ignore[method-assign]
    protocol.setPrefixLimit(64)
    protocol._selectDialect(dialect)
    protocol.dataReceived(data)
    return received


def twisted_decode(data: bytes) -> Any:
    """Twisted's C{banana.decode} on a fresh decoder (see L{twisted_expressions})."""
    return twisted_expressions(data)[0]


def _record(index: int) -> list[Any]:
    """One record as jelly writes a dict of mixed values, in banana terms."""
    return [
        b"dictionary",
        [[b"unicode", b"name"], [b"unicode", b"user-%d" % index]],
        [[b"unicode", b"id"], index * 7919],
        [[b"unicode", b"score"], index / 7.0],
        [[b"unicode", b"tags"], [b"list", [b"unicode", b"alpha"], [b"unicode", b"beta"]]],
        [[b"unicode", b"quota"], 2**40 + index],
        [[b"unicode", b"delta"], -index],
        [[b"unicode", b"active"], [b"boolean", b"true" if index % 2 else b"false"]],
        [[b"unicode", b"blob"], bytes(range(48))],
        [[b"unicode", b"parent"], [b"None"]],
    ]


def mixed_message(records: int = 2900) -> list[Any]:
    """A ~1 MB PB-like message: a list of mixed records."""
    return [b"list", *(_record(index) for index in range(records))]


PAYLOADS: dict[str, Callable[[], Any]] = {
    "mixed 1 MB": mixed_message,
    "small call": lambda: [
        b"message",
        17,
        b"perspective",
        b"getStatus",
        [b"tuple", [b"unicode", b"builder-3"], 42],
        [b"dictionary", [[b"unicode", b"verbose"], [b"boolean", b"true"]]],
    ],
    "10k small ints": lambda: [b"list", *range(-5000, 5000)],
    "10k big ints": lambda: [b"list", *(2**40 * i + i for i in range(10_000))],
    "10k floats": lambda: [b"list", *(i / 3.0 for i in range(10_000))],
    "10k short bytes": lambda: [b"list", *(b"key-%d" % i for i in range(10_000))],
    "600 KiB blob": lambda: [b"blob", bytes(range(256)) * 2400],
}


MIN_ROUNDS = 7
MAX_ROUNDS = 61
BATCH_SECONDS = 0.005
"""A batch of calls lasts at least this long (one call, if it takes longer)."""

Call = tuple[Callable[[Any], Any], Any]
"""A function and the argument it is timed with."""


def _batch_time(call: Call, calls: int) -> float:
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


def _batch_size(call: Call) -> int:
    """Calls in a batch of C{call}: enough to last L{BATCH_SECONDS}."""
    call[0](call[1])
    calls = 1
    while _batch_time(call, calls) * calls < BATCH_SECONDS and calls < 1 << 20:
        calls *= 2
    return calls


_allocatorSteadied = False


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
    global _allocatorSteadied
    if _allocatorSteadied:
        return
    _allocatorSteadied = True
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
    batches = {name: _batch_size(call) for name, call in others.items()}
    ourBatch = _batch_size(ours)
    names = list(others)
    ourSamples: list[float] = []
    samples: dict[str, list[float]] = {name: [] for name in names}
    ratios: dict[str, list[float]] = {name: [] for name in names}
    deadline = time.perf_counter() + budget
    for round_ in range(MAX_ROUNDS):
        before = _batch_time(ours, ourBatch)
        ourSamples.append(before)
        for name in names[round_ % len(names) :] + names[: round_ % len(names)]:
            theirs = _batch_time(others[name], batches[name])
            after = _batch_time(ours, ourBatch)
            samples[name].append(theirs)
            ratios[name].append(theirs / ((before + after) / 2))
            ourSamples.append(after)
            before = after
        gc.collect()
        if round_ + 1 >= MIN_ROUNDS and time.perf_counter() > deadline:
            break
    return Comparison(
        ours=median(ourSamples),
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


RATIOS = ("encode_vs_twisted", "encode_vs_pickle", "decode_vs_twisted", "decode_vs_pickle")


@dataclass
class Row:
    """
    One payload: its encoded size, seconds per call of each contender each
    way, and how many times faster pbfast is (see L{compare}).
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
    """The most any of the four ratios moved from round to round (see L{spread})."""

    def ratios(self) -> dict[str, float]:
        return {name: getattr(self, name) for name in RATIOS}

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


Codec = tuple[Callable[[Any], Any], Callable[[Any], Any]]


def _timed(
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
    pickled = pickle.dumps(value, protocol=5)
    fields: dict[str, Any] = {"payload": name, "size": len(data)}
    encoders: dict[str, Call] = {"twisted": (theirs[0], value), "pickle": (_pickle_dumps, value)}
    decoders: dict[str, Call] = {"twisted": (theirs[1], data), "pickle": (pickle.loads, pickled)}
    for other, (encode, decode) in (extra or {}).items():
        encoders[other] = (encode, value)
        decoders[other] = (decode, encode(value))
    spreads = []
    for way, ourCall, others in [
        ("encode", (ours[0], value), encoders),
        ("decode", (ours[1], data), decoders),
    ]:
        if progress is not None:
            print(f"  timing {name} ({len(data):,} bytes): {way}...", file=progress, flush=True)
        found = compare(ourCall, others, budget / 2)
        fields[f"{way}_pbfast"] = found.ours
        for other in others:
            fields[f"{way}_{other}"] = found.others[other]
            fields[f"{way}_vs_{other}"] = found.ratios[other]
        spreads.append(found.spread)
    fields["spread"] = max(spreads)
    return fields


def measure(
    names: list[str] | None = None,
    budget: float = 1.0,
    progress: TextIO | None = sys.stderr,
) -> list[Row]:
    """Time banana encode/decode for each payload: pbfast, Twisted, pickle."""
    ours = (banana.encode, banana.decode)
    theirs = (twisted_banana.encode, twisted_decode)
    return [
        Row(**_timed(name, PAYLOADS[name](), ours, theirs, budget, progress))
        for name in names or list(PAYLOADS)
    ]


def _duration(seconds: float) -> str:
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


def render(headers: list[str], rows: list[list[str]], markdown: bool = False) -> list[str]:
    """
    A table's lines: aligned text (the first column left, the others
    right), or a Markdown table.
    """
    if markdown:
        lines = ["| " + " | ".join(headers) + " |"]
        lines.append("|" + "|".join([":---"] + ["---:"] * (len(headers) - 1)) + "|")
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        return lines
    widths = [max(len(cells[index]) for cells in [headers, *rows]) for index in range(len(headers))]

    def line(cells: list[str]) -> str:
        first = cells[0].ljust(widths[0])
        rest = zip(cells[1:], widths[1:], strict=True)
        return " ".join([first, *(cell.rjust(width) for cell, width in rest)])

    text = [line(headers)]
    return [*text, "-" * len(text[0]), *(line(cells) for cells in rows)]


def _time_cells(
    rows: list[Row], encode: str, decode: str, memory: bool
) -> tuple[list[str], list[list[str]]]:
    """The headers and a row of cells per payload: times, ratios, spread, memory."""
    headers = [
        "payload",
        "bytes",
        encode,
        "xTwisted",
        "xpickle",
        decode,
        "xTwisted",
        "xpickle",
        "±",
    ]
    if memory:
        headers.append("mem")
    cells = []
    for row in rows:
        r = row.ratios()
        line = [
            row.payload,
            f"{row.size:,}",
            _duration(row.encode_pbfast),
            f"{r['encode_vs_twisted']:.1f}x",
            f"{r['encode_vs_pickle']:.2f}x",
            _duration(row.decode_pbfast),
            f"{r['decode_vs_twisted']:.1f}x",
            f"{r['decode_vs_pickle']:.2f}x",
            f"{row.spread:.0%}",
        ]
        if memory:
            line.append(f"{r['decode_extra_memory_vs_size']:.2f}")
        cells.append(line)
    return headers, cells


def table(rows: list[Row], markdown: bool = False) -> str:
    """The speed table: times and ratios (how many times faster pbfast is)."""
    lines = render(*_time_cells(rows, "encode", "decode", memory=False), markdown=markdown)
    lines.append(
        "\nxTwisted: Twisted's time / pbfast's (banana only); "
        "xpickle: pickle protocol 5's time / pbfast's, on the same s-expression; "
        "±: how far the ratios moved between rounds."
    )
    return "\n".join(lines)


# Jelly ------------------------------------------------------------------------


def _records() -> list[dict[str, Any]]:
    return [
        {
            "name": f"user-{index}",
            "id": index,
            "score": index / 7.0,
            "active": bool(index % 2),
            "tags": ["alpha", "beta"],
            "blob": b"x" * 24,
            "parent": None,
        }
        for index in range(1000)
    ]


def _shared() -> list[Any]:
    common = {"kind": "shared", "values": [1, 2, 3]}
    return [[common, [common, index]] for index in range(2000)]


def _cyclic() -> list[Any]:
    """Pairs of dicts that point at each other and at themselves."""
    nodes = []
    for index in range(500):
        first: dict[str, Any] = {"id": index}
        second: dict[str, Any] = {"id": -index, "peer": first}
        first["peer"] = second
        first["self"] = first
        nodes.append(first)
    return nodes


JELLY_PAYLOADS: dict[str, Callable[[], Any]] = {
    "records": _records,
    "numbers": lambda: [
        *range(-5000, 5000),
        *(i / 3 for i in range(5000)),
        *(2**40 + i for i in range(2000)),
    ],
    "strings": lambda: [f"string number {i}" for i in range(10_000)],
    "shared refs": _shared,
    "cyclic dicts": _cyclic,
}


@dataclass
class JellyRow:
    """
    One payload's jelly and unjelly: pbfast's seconds per call, Twisted's,
    and how many times faster pbfast is (see L{compare}).
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


def _twisted_dumps(value: Any) -> bytes:
    result: bytes = twisted_banana.encode(twisted_jelly.jelly(value))
    return result


def _twisted_loads(data: bytes) -> Any:
    return twisted_jelly.unjelly(twisted_decode(data), taster=twisted_jelly.globalSecurity)


def _pickle_dumps(value: Any) -> bytes:
    return pickle.dumps(value, protocol=5)


def jelly_table(rows: list[JellyRow], markdown: bool = False) -> str:
    """The jelly speed table: pbfast's times and how many times Twisted's."""
    headers = ["payload", "jelly", "xTwisted", "unjelly", "xTwisted", "±"]
    cells = []
    for row in rows:
        r = row.ratios()
        cells.append(
            [
                row.payload,
                _duration(row.jelly_pbfast),
                f"{r['jelly_vs_twisted']:.1f}x",
                _duration(row.unjelly_pbfast),
                f"{r['unjelly_vs_twisted']:.1f}x",
                f"{row.spread:.0%}",
            ]
        )
    lines = render(headers, cells, markdown)
    lines.append("\nxTwisted: Twisted's time / pbfast's (jelly.jelly, jelly.unjelly).")
    return "\n".join(lines)


# The fused path: objects <-> bytes ---------------------------------------------


def _call_arguments() -> Any:
    """What a remote call carries: a few arguments and keyword arguments."""
    return (
        "builder-3",
        42,
        {"verbose": True, "steps": ["compile", "test"], "timeout": 2.5, "tag": b"v1"},
    )


def _mixed() -> list[Any]:
    """Dates, times, durations, decimals, sets and tuples."""
    return [
        (
            datetime.datetime(2026, 1, 1 + i % 28, i % 24, i % 60, i % 60, i),
            datetime.date(2000 + i % 50, 1 + i % 12, 1 + i % 28),
            datetime.time(i % 24, i % 60, i % 60, i * 3),
            datetime.timedelta(days=i, seconds=i * 7, microseconds=i),
            decimal.Decimal(i) / 7,
            {i, i + 1, "x"},
            frozenset((i, "y")),
        )
        for i in range(300)
    ]


SUITE: dict[str, Callable[[], Any]] = {
    "small call": _call_arguments,
    "1k records": _records,
    "10k small ints": lambda: list(range(-5000, 5000)),
    "10k big ints": lambda: [2**40 * i + i for i in range(10_000)],
    "10k floats": lambda: [i / 3.0 for i in range(10_000)],
    "10k unicode": lambda: [f"string number {i} \u00e9" for i in range(10_000)],
    "10k short bytes": lambda: [b"key-%d" % i for i in range(10_000)],
    "600 KiB blob": lambda: bytes(range(256)) * 2400,
    "shared refs": _shared,
    "cyclic dicts": _cyclic,
    "mixed types": _mixed,
}
"""What PB carries, for objects <-> bytes: pbfast.dumps/loads against
Twisted's banana.encode(jelly.jelly()) / jelly.unjelly(banana.decode()) and
pickle protocol 5."""


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
    payload (see L{msgspec_codec}); None elsewhere."""

    def ratios(self) -> dict[str, float]:
        return {
            **super().ratios(),
            "decode_extra_memory_vs_size": self.decode_extra_memory / self.size,
        }


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
    theirs = (_twisted_dumps, _twisted_loads)
    msgspec = msgspec_codec()
    rows = []
    for name in names or list(payloads):
        value = payloads[name]()
        extra = {"msgspec": msgspec} if msgspec and carries(msgspec, value) else {}
        fields = _timed(name, value, ours, theirs, budget, progress, extra)
        memory = decode_extra_memory(pbfast.dumps(payloads[name]()))
        rows.append(SuiteRow(**fields, decode_extra_memory=memory))
    return rows


def _self_lists() -> list[Any]:
    """Lists that hold themselves."""
    lists: list[Any] = []
    for index in range(1000):
        held: list[Any] = [index]
        held.append(held)
        lists.append(held)
    return lists


def _shared_dicts() -> list[Any]:
    """100 dicts, each met 30 times."""
    dicts = [{"n": index} for index in range(100)]
    return [dicts[index % 100] for index in range(3000)]


SHAPES: dict[str, Callable[[], Any]] = {
    "2-tuples": lambda: [(index, -index) for index in range(3000)],
    "nested lists": lambda: [[[index]] for index in range(3000)],
    "None and booleans": lambda: [None, True, False] * 2000,
    "int-keyed dicts": lambda: [{index: index, index + 1: -index} for index in range(1500)],
    "tuple keys": lambda: [{(index, index): index} for index in range(1500)],
    "one wide dict": lambda: {f"k{index}": index for index in range(5000)},
    "sets": lambda: [{index, index + 1, index + 2} for index in range(1500)],
    "100-bit ints": lambda: [index * 10**30 for index in range(3000)],
    "one str 5k times": lambda: ["hello"] * 5000,
    "shared dicts": _shared_dicts,
    "self-holding lists": _self_lists,
    "empty containers": lambda: [[], {}, ()] * 1500,
}
"""Shapes beyond the suite (C{python -m pbfast bench --shapes}): what other
payloads are made of, measured the same way, with no targets of their own."""


def msgspec_codec() -> Codec | None:
    """
    msgspec's MessagePack encoder and decoder, made once (as its users keep
    them), if msgspec is installed (C{pip install 'pbfast[compare]'}).
    """
    try:
        import msgspec
    except ImportError:
        return None
    encoder, decoder = msgspec.msgpack.Encoder(), msgspec.msgpack.Decoder()
    return (encoder.encode, decoder.decode)


def carries(codec: Codec, value: Any) -> bool:
    """
    True if C{codec} gives C{value} back: equal, tuples as lists (MessagePack
    has one kind of array), and with no object met twice in C{value} (which
    it would give back as copies: it has no references).
    """
    if _shares(value):
        return False
    try:
        back = codec[1](codec[0](value))
    except Exception:  # any failure means it does not carry it
        return False
    return bool(_as_lists(back) == _as_lists(value))


def _shares(value: Any) -> bool:
    """True if a container occurs twice in C{value}'s graph (cycles included)."""
    seen: set[int] = set()
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, list | tuple | dict | set | frozenset):
            if id(item) in seen:
                return True
            seen.add(id(item))
            pending.extend(item.values() if isinstance(item, dict) else item)
    return False


def _as_lists(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return [_as_lists(item) for item in value]
    if isinstance(value, dict):
        return {key: _as_lists(item) for key, item in value.items()}
    return value


def suite_summary(rows: list[SuiteRow]) -> dict[str, Any]:
    """The figures the targets are about, from one run, and whether each is met."""
    ratios = [row.ratios() for row in rows]

    def column(name: str) -> list[float]:
        return [r[name] for r in ratios]

    figures = {
        "slowest_vs_twisted": min(column("encode_vs_twisted") + column("decode_vs_twisted")),
        "median_encode_vs_twisted": median(column("encode_vs_twisted")),
        "median_decode_vs_twisted": median(column("decode_vs_twisted")),
        "slowest_vs_pickle": min(column("encode_vs_pickle") + column("decode_vs_pickle")),
        "median_encode_vs_pickle": median(column("encode_vs_pickle")),
        "median_decode_vs_pickle": median(column("decode_vs_pickle")),
        "most_decode_extra_memory_vs_size": max(column("decode_extra_memory_vs_size")),
    }
    targets = {
        "never slower than Twisted": figures["slowest_vs_twisted"] >= 1.0,
        "median encode >= 20x Twisted": figures["median_encode_vs_twisted"] >= 20.0,
        "median decode >= 50x Twisted": figures["median_decode_vs_twisted"] >= 50.0,
        "median decode faster than pickle": figures["median_decode_vs_pickle"] > 1.0,
        "every payload within 1.25x of pickle": figures["slowest_vs_pickle"] >= 0.8,
        "decode memory <= 2x message + result": figures["most_decode_extra_memory_vs_size"] <= 2.0,
    }
    small = [row for row in rows if row.payload == "small call"]
    if small:
        call = small[0]
        figures["small_call_vs_pickle"] = (call.encode_pickle + call.decode_pickle) / (
            call.encode_pbfast + call.decode_pbfast
        )
        targets["small call both ways within 1.2x of pickle"] = (
            figures["small_call_vs_pickle"] >= 1 / 1.2
        )
    versus_msgspec = [
        ratio
        for row in rows
        for ratio in (row.encode_vs_msgspec, row.decode_vs_msgspec)
        if ratio is not None
    ]
    if versus_msgspec:
        figures["slowest_vs_msgspec"] = min(versus_msgspec)
        figures["median_vs_msgspec"] = median(versus_msgspec)
        targets["within 2x of msgspec where it carries the payload"] = (
            figures["slowest_vs_msgspec"] >= 0.5
        )
    return {**figures, "targets": targets}


def shapes_table(rows: list[SuiteRow], markdown: bool = False) -> str:
    """The speed table of the shapes beyond the suite: how far from pickle."""
    headers, cells = _time_cells(list(rows), "dumps", "loads", memory=True)
    lines = render(headers, cells, markdown=markdown)
    against_pickle = [row.ratios() for row in rows]
    dumps = [ratio["encode_vs_pickle"] for ratio in against_pickle]
    loads = [ratio["decode_vs_pickle"] for ratio in against_pickle]
    lines += [
        "",
        f"dumps: median {median(dumps):.2f}x pickle, slowest {min(dumps):.2f}x; "
        f"loads: median {median(loads):.2f}x pickle, slowest {min(loads):.2f}x",
    ]
    return "\n".join(lines)


def suite_table(rows: list[SuiteRow], markdown: bool = False) -> str:
    """The speed table of the fused path, with the summary under it."""
    headers, cells = _time_cells(list(rows), "dumps", "loads", memory=True)
    summary = suite_summary(rows)
    if "median_vs_msgspec" in summary:
        headers.insert(5, "xmsgspec")
        headers.insert(9, "xmsgspec")
        for row, line in zip(rows, cells, strict=True):
            for at, ratio in ((5, row.encode_vs_msgspec), (9, row.decode_vs_msgspec)):
                line.insert(at, "-" if ratio is None else f"{ratio:.2f}x")
    lines = render(headers, cells, markdown=markdown)
    lines += [
        "",
        "xTwisted: Twisted's time / pbfast's (banana.encode(jelly.jelly(x)),",
        "jelly.unjelly(banana.decode(b), globalSecurity)); xpickle: pickle protocol 5's /",
        "pbfast's; ±: how far the ratios moved between rounds; mem: loads' peak memory",
        "beyond its result, per message byte (tracemalloc).",
    ]
    if "median_vs_msgspec" in summary:
        lines += [
            "xmsgspec: msgspec's MessagePack time / pbfast's, where it carries the payload",
            "(equal values back, tuples as lists; no sharing, cycles, dates, decimals or sets).",
        ]
    lines += [
        "",
        f"median dumps {summary['median_encode_vs_twisted']:.1f}x Twisted, "
        f"{summary['median_encode_vs_pickle']:.2f}x pickle; median loads "
        f"{summary['median_decode_vs_twisted']:.1f}x Twisted, "
        f"{summary['median_decode_vs_pickle']:.2f}x pickle; slowest: "
        f"{summary['slowest_vs_twisted']:.1f}x Twisted, {summary['slowest_vs_pickle']:.2f}x pickle",
    ]
    if "small_call_vs_pickle" in summary:
        lines.append(
            f"small call, dumps + loads: {summary['small_call_vs_pickle']:.2f}x pickle's speed"
        )
    if "median_vs_msgspec" in summary:
        lines.append(
            f"against msgspec: median {summary['median_vs_msgspec']:.2f}x, "
            f"slowest {summary['slowest_vs_msgspec']:.2f}x"
        )
    lines += target_lines(summary["targets"], markdown)
    return "\n".join(lines)


def target_lines(targets: dict[str, bool], markdown: bool = False) -> list[str]:
    """A line per target: met or not (in Markdown, a list)."""
    if markdown:
        return [
            "",
            *(f"- {'met' if met else '**NOT MET**'}: {target}" for target, met in targets.items()),
        ]
    return [f"  {'met    ' if met else 'NOT MET'}  {target}" for target, met in targets.items()]
