"""
Every payload pbfast is measured on, defined once for C{python -m pbfast
bench}, the demo's speed tables, the pytest-benchmark suite in C{benches/}
and the tests that check pbfast on them:

  - L{SUITE}: what PB carries, objects <-> bytes (C{pbfast.dumps}/C{loads});
  - L{SHAPES}: what other payloads are made of, beyond the suite;
  - L{BANANA_PAYLOADS}: s-expressions, for Banana alone (L{mixed_message}
    among them);
  - L{JELLY_PAYLOADS}: object graphs, for jelly alone;
  - L{BROKER_PAYLOADS}: what an echo call carries through a broker.

Each maps a name to a function that makes the payload afresh.
"""

from __future__ import annotations

import datetime
import decimal
from collections.abc import Callable
from typing import Any

from pbfast import pb

# Banana alone: s-expressions <-> bytes ---------------------------------------


def record_sexp(index: int) -> list[Any]:
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
    return [b"list", *(record_sexp(index) for index in range(records))]


BANANA_PAYLOADS: dict[str, Callable[[], Any]] = {
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
"""s-expressions, for Banana's encode and decode alone."""


# Jelly alone: objects <-> s-expressions --------------------------------------


def records() -> list[dict[str, Any]]:
    """1000 dicts of mixed values."""
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


def shared() -> list[Any]:
    """One dict met 4000 times."""
    common = {"kind": "shared", "values": [1, 2, 3]}
    return [[common, [common, index]] for index in range(2000)]


def cyclic() -> list[Any]:
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
    "records": records,
    "numbers": lambda: [
        *range(-5000, 5000),
        *(i / 3 for i in range(5000)),
        *(2**40 + i for i in range(2000)),
    ],
    "strings": lambda: [f"string number {i}" for i in range(10_000)],
    "shared refs": shared,
    "cyclic dicts": cyclic,
}
"""Object graphs, for jelly and unjelly alone."""


# The fused path: objects <-> bytes -------------------------------------------


def call_arguments() -> Any:
    """What a remote call carries: a few arguments and keyword arguments."""
    return (
        "builder-3",
        42,
        {"verbose": True, "steps": ["compile", "test"], "timeout": 2.5, "tag": b"v1"},
    )


def mixed_types() -> list[Any]:
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
    "small call": call_arguments,
    "1k records": records,
    "10k small ints": lambda: list(range(-5000, 5000)),
    "10k big ints": lambda: [2**40 * i + i for i in range(10_000)],
    "10k floats": lambda: [i / 3.0 for i in range(10_000)],
    "10k unicode": lambda: [f"string number {i} \u00e9" for i in range(10_000)],
    "10k short bytes": lambda: [b"key-%d" % i for i in range(10_000)],
    "600 KiB blob": lambda: bytes(range(256)) * 2400,
    "shared refs": shared,
    "cyclic dicts": cyclic,
    "mixed types": mixed_types,
}
"""What PB carries, for objects <-> bytes: pbfast.dumps/loads against
Twisted's banana.encode(jelly.jelly()) / jelly.unjelly(banana.decode()) and
pickle protocol 5."""


def self_lists() -> list[Any]:
    """Lists that hold themselves."""
    lists: list[Any] = []
    for index in range(1000):
        held: list[Any] = [index]
        held.append(held)
        lists.append(held)
    return lists


def shared_dicts() -> list[Any]:
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
    "shared dicts": shared_dicts,
    "self-holding lists": self_lists,
    "empty containers": lambda: [[], {}, ()] * 1500,
}
"""Shapes beyond the suite (C{python -m pbfast bench --shapes}): what other
payloads are made of, measured the same way, with no targets of their own."""


# The broker: what an echo call carries ----------------------------------------


class BenchCopy(pb.Copyable, pb.RemoteCopy):
    """A Copyable carrying 100 strings, its own RemoteCopy (stock methods)."""

    def __init__(self, index: int = 0) -> None:
        self.name = f"copy-{index}"
        self.index = index
        self.strings = [f"string {index}-{i}" for i in range(100)]


pb.setUnjellyableForClass(BenchCopy, BenchCopy)


def broker_record(index: int) -> dict[str, Any]:
    """One record of a few fields, as an application's call returns them."""
    return {
        "id": index,
        "name": f"record-{index}",
        "score": index / 7.0,
        "owner": "someone",
        "count": index * 3,
        "ratio": 0.25,
    }


BROKER_PAYLOADS: dict[str, Callable[[], Any]] = {
    "small call": lambda: {"builder": "builder-3", "build": 42, "verbose": True},
    "10 Copyables": lambda: [BenchCopy(i) for i in range(10)],
    "200 records": lambda: [broker_record(i) for i in range(200)],
}
"""What the broker bench's echo method is called with and returns, per payload."""
