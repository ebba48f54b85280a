"""
Payloads and timing for C{python -m pbfast bench}, the demo's speed table and
the pytest-benchmark suite in C{benches/}: one definition of what is measured.

Times are the best of several calls, so that one run gives pbfast, Twisted and
C{pickle} side by side on the same machine in the same state; what is
reported is the ratios.
"""

from __future__ import annotations

import pickle
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, TextIO

from twisted.spread import banana as twisted_banana
from twisted.spread import jelly as twisted_jelly

import pbfast
from pbfast import banana, jelly


def twisted_decode(data: bytes) -> Any:
    """
    Twisted's C{banana.decode} on a fresh decoder. Twisted's module-level
    decoder keeps half-built lists after a failed call (only its byte buffer
    is reset), which would make every later call on it wrong.
    """
    received: list[Any] = []
    protocol = twisted_banana.Banana()
    protocol.expressionReceived = received.append  # type: ignore[method-assign]
    protocol.setPrefixLimit(64)
    protocol._selectDialect(b"none")
    protocol.dataReceived(data)
    return received[0]


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


def best_time(function: Callable[[Any], Any], argument: Any, budget: float) -> float:
    """Best seconds per call of C{function(argument)} within about C{budget}."""
    best = float("inf")
    deadline = time.perf_counter() + budget
    while True:
        start = time.perf_counter()
        function(argument)
        elapsed = time.perf_counter() - start
        best = min(best, elapsed)
        if time.perf_counter() + elapsed > deadline:
            return best


@dataclass
class Row:
    """One payload's times, in seconds per call, and its encoded size."""

    payload: str
    size: int
    encode_pbfast: float
    encode_twisted: float
    encode_pickle: float
    decode_pbfast: float
    decode_twisted: float
    decode_pickle: float

    def ratios(self) -> dict[str, float]:
        return {
            "encode_vs_twisted": self.encode_twisted / self.encode_pbfast,
            "decode_vs_twisted": self.decode_twisted / self.decode_pbfast,
            "encode_vs_pickle": self.encode_pickle / self.encode_pbfast,
            "decode_vs_pickle": self.decode_pickle / self.decode_pbfast,
        }

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), **self.ratios()}


def measure(
    names: list[str] | None = None,
    budget: float = 0.3,
    progress: TextIO | None = sys.stderr,
) -> list[Row]:
    """Time banana encode/decode for each payload: pbfast, Twisted, pickle."""
    rows = []
    for name in names or list(PAYLOADS):
        value = PAYLOADS[name]()
        data = banana.encode(value)
        assert data == twisted_banana.encode(value), name
        pickled = pickle.dumps(value, protocol=5)
        if progress is not None:
            print(f"  timing {name} ({len(data):,} bytes)...", file=progress, flush=True)
        rows.append(
            Row(
                payload=name,
                size=len(data),
                encode_pbfast=best_time(banana.encode, value, budget),
                encode_twisted=best_time(twisted_banana.encode, value, budget),
                encode_pickle=best_time(lambda v: pickle.dumps(v, protocol=5), value, budget),
                decode_pbfast=best_time(banana.decode, data, budget),
                decode_twisted=best_time(twisted_decode, data, budget),
                decode_pickle=best_time(pickle.loads, pickled, budget),
            )
        )
    return rows


def _duration(seconds: float) -> str:
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


def table(rows: list[Row]) -> str:
    """The speed table: times and ratios (how many times faster pbfast is)."""
    header = (
        f"{'payload':<16} {'bytes':>9} | {'encode':>9} {'xTwisted':>9} {'xpickle':>8} | "
        f"{'decode':>9} {'xTwisted':>9} {'xpickle':>8}"
    )
    lines = [header, "-" * len(header)]
    for row in rows:
        ratios = row.ratios()
        lines.append(
            f"{row.payload:<16} {row.size:>9,} | {_duration(row.encode_pbfast):>9} "
            f"{ratios['encode_vs_twisted']:>8.1f}x {ratios['encode_vs_pickle']:>7.2f}x | "
            f"{_duration(row.decode_pbfast):>9} {ratios['decode_vs_twisted']:>8.1f}x "
            f"{ratios['decode_vs_pickle']:>7.2f}x"
        )
    lines.append(
        "xTwisted: Twisted's time / pbfast's (banana only); "
        "xpickle: pickle protocol 5's time / pbfast's, on the same s-expression."
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
    One payload's times in seconds: jelly and unjelly (pbfast and Twisted),
    and objects to bytes (pbfast.dumps, Twisted's encode(jelly()), pickle).
    """

    payload: str
    jelly_pbfast: float
    jelly_twisted: float
    unjelly_pbfast: float
    unjelly_twisted: float
    dumps_pbfast: float
    dumps_twisted: float
    dumps_pickle: float
    loads_pbfast: float
    loads_twisted: float
    loads_pickle: float

    def ratios(self) -> dict[str, float]:
        return {
            "jelly_vs_twisted": self.jelly_twisted / self.jelly_pbfast,
            "unjelly_vs_twisted": self.unjelly_twisted / self.unjelly_pbfast,
            "dumps_vs_twisted": self.dumps_twisted / self.dumps_pbfast,
            "dumps_vs_pickle": self.dumps_pickle / self.dumps_pbfast,
            "loads_vs_twisted": self.loads_twisted / self.loads_pbfast,
            "loads_vs_pickle": self.loads_pickle / self.loads_pbfast,
        }

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), **self.ratios()}


def measure_jelly(
    names: list[str] | None = None,
    budget: float = 0.3,
    progress: TextIO | None = sys.stderr,
) -> list[JellyRow]:
    """Time jelly and unjelly for each payload: pbfast and Twisted."""
    rows = []
    for name in names or list(JELLY_PAYLOADS):
        value = JELLY_PAYLOADS[name]()
        sexp = twisted_jelly.jelly(value)
        assert jelly.jelly(value) == sexp, name
        data = pbfast.dumps(value)
        assert data == twisted_banana.encode(sexp), name
        pickled = pickle.dumps(value, protocol=5)
        if progress is not None:
            print(f"  timing jelly of {name}...", file=progress, flush=True)
        rows.append(
            JellyRow(
                payload=name,
                jelly_pbfast=best_time(jelly.jelly, value, budget),
                jelly_twisted=best_time(twisted_jelly.jelly, value, budget),
                unjelly_pbfast=best_time(jelly.unjelly, sexp, budget),
                unjelly_twisted=best_time(twisted_jelly.unjelly, sexp, budget),
                dumps_pbfast=best_time(pbfast.dumps, value, budget),
                dumps_twisted=best_time(_twisted_dumps, value, budget),
                dumps_pickle=best_time(_pickle_dumps, value, budget),
                loads_pbfast=best_time(pbfast.loads, data, budget),
                loads_twisted=best_time(_twisted_loads, data, budget),
                loads_pickle=best_time(pickle.loads, pickled, budget),
            )
        )
    return rows


def _twisted_dumps(value: Any) -> bytes:
    result: bytes = twisted_banana.encode(twisted_jelly.jelly(value))
    return result


def _twisted_loads(data: bytes) -> Any:
    return twisted_jelly.unjelly(twisted_decode(data), taster=twisted_jelly.globalSecurity)


def _pickle_dumps(value: Any) -> bytes:
    return pickle.dumps(value, protocol=5)


def jelly_table(rows: list[JellyRow]) -> str:
    """The jelly speed table: pbfast's times and how many times Twisted's."""
    header = (
        f"{'payload':<12} | {'jelly':>8} {'xTw':>6} | {'unjelly':>8} {'xTw':>6} | "
        f"{'dumps':>8} {'xTw':>6} {'xpkl':>5} | {'loads':>8} {'xTw':>6} {'xpkl':>5}"
    )
    lines = [header, "-" * len(header)]
    for row in rows:
        r = row.ratios()
        lines.append(
            f"{row.payload:<12} | "
            f"{_duration(row.jelly_pbfast):>8} {r['jelly_vs_twisted']:>5.1f}x | "
            f"{_duration(row.unjelly_pbfast):>8} {r['unjelly_vs_twisted']:>5.1f}x | "
            f"{_duration(row.dumps_pbfast):>8} {r['dumps_vs_twisted']:>5.1f}x "
            f"{r['dumps_vs_pickle']:>4.2f}x | {_duration(row.loads_pbfast):>8} "
            f"{r['loads_vs_twisted']:>5.1f}x {r['loads_vs_pickle']:>4.2f}x"
        )
    lines.append(
        "xTw: Twisted's time / pbfast's (jelly.jelly, jelly.unjelly, banana.encode(jelly.jelly(x)),"
        " jelly.unjelly(banana.decode(b), globalSecurity)); xpkl: pickle protocol 5's / pbfast's."
    )
    return "\n".join(lines)
