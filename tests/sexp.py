"""
Shared helpers for the Banana tests: hypothesis strategies for the
s-expressions Twisted's Banana can encode, protocol plumbing, and a normal
form for comparing decoded values (a NaN equals itself there).
"""

from __future__ import annotations

import itertools
import math
import struct
from typing import Any

from hypothesis import strategies as st
from twisted.internet.testing import StringTransport
from twisted.spread import banana as twisted_banana

from pbfast import banana as pbfast_banana

PB_SYMBOLS = list(twisted_banana.Banana.outgoingVocabulary)

LIMIT = 2 ** (64 * 7) - 1

# Integers cluster around the token boundaries, where the choice between INT,
# NEG, LONGINT and LONGNEG (and the 64-bit fast path) is made.
_BOUNDARIES = [0, 1, 127, 128, 2**31 - 1, 2**31, 2**32, 2**63 - 1, 2**63, 2**64, LIMIT]
integers = st.one_of(
    st.integers(min_value=-(2**40), max_value=2**40),
    st.sampled_from(_BOUNDARIES + [-b for b in _BOUNDARIES]).flatmap(
        lambda b: st.integers(min_value=max(-LIMIT, b - 2), max_value=min(LIMIT, b + 2))
    ),
    st.integers(min_value=-LIMIT, max_value=LIMIT),
)
floats = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, -0.0, math.inf, -math.inf, math.nan]),
)
byte_strings = st.one_of(st.binary(max_size=40), st.sampled_from(PB_SYMBOLS))
atoms = st.one_of(integers, floats, byte_strings, st.booleans())
sexps = st.recursive(
    atoms,
    lambda children: st.one_of(
        st.lists(children, max_size=6),
        st.lists(children, max_size=6).map(tuple),
    ),
    max_leaves=40,
)


def normal(value: Any) -> Any:
    """A comparable form of a decoded s-expression: floats by their bits."""
    if isinstance(value, list):
        return [normal(item) for item in value]
    if isinstance(value, float):
        return ("float", struct.pack("!d", value))
    return value


def decoded_form(value: Any) -> Any:
    """What an encoded s-expression decodes to: tuples become lists, bools ints."""
    if isinstance(value, (list, tuple)):
        return [decoded_form(item) for item in value]
    if isinstance(value, bool):
        return int(value)
    return normal(value)


class Collector:
    """Mixin: a Banana that keeps what it receives."""

    def __init__(self, isClient: int = 1) -> None:
        super().__init__(isClient)  # type: ignore[call-arg]
        self.received: list[Any] = []
        self.ready = False

    def expressionReceived(self, lst: Any) -> None:
        self.received.append(lst)

    def connectionReady(self) -> None:
        self.ready = True


class TwistedCollector(Collector, twisted_banana.Banana):
    pass


class PbfastCollector(Collector, pbfast_banana.Banana):
    pass


def connected(cls: type, dialect: bytes) -> Any:
    """A protocol on a StringTransport with C{dialect} selected."""
    protocol = cls()
    transport = StringTransport()
    protocol.makeConnection(transport)
    protocol._selectDialect(dialect)
    transport.clear()
    return protocol


def send(cls: type, dialect: bytes, value: Any) -> bytes:
    """The bytes a protocol of class C{cls} writes for C{value}."""
    protocol = connected(cls, dialect)
    protocol.sendEncoded(value)
    data: bytes = protocol.transport.value()
    return data


def chunks(data: bytes, cuts: list[int]) -> list[bytes]:
    """Split C{data} at the given offsets (taken modulo its length)."""
    points = sorted({cut % (len(data) + 1) for cut in cuts} | {0, len(data)})
    return [data[a:b] for a, b in itertools.pairwise(points) if b > a]


def mutate(draw: st.DrawFn, data: bytes) -> bytes:
    """One to four random edits of C{data}: flip a bit, insert, delete, truncate."""
    edited = bytearray(data)
    for _ in range(draw(st.integers(1, 4))):
        action = draw(st.sampled_from(["flip", "insert", "delete", "truncate"]))
        position = draw(st.integers(0, max(len(edited) - 1, 0)))
        if action == "flip" and edited:
            edited[position] ^= 1 << draw(st.integers(0, 7))
        elif action == "insert":
            edited[position:position] = bytes([draw(st.integers(0, 255))])
        elif action == "delete" and edited:
            del edited[position]
        elif action == "truncate":
            del edited[position:]
    return bytes(edited)
