"""
Hypothesis strategies for object graphs jelly can carry (every type it
handles, nested, with shared references and cycles), and a comparison of two
graphs that also checks that they share and cycle in the same places.
"""

from __future__ import annotations

import datetime
import decimal
import math
import struct
from typing import Any

from hypothesis import strategies as st
from twisted.persisted.crefutil import NotKnown
from twisted.spread.jelly import Unpersistable

from jelly_objects import Node, Registered, Slotted, Witness

scalars = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.binary(max_size=12),
    st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=12),
    st.none(),
    st.booleans(),
    st.datetimes(),
    st.dates(),
    st.times(),
    st.timedeltas(),
    st.decimals(allow_nan=False, allow_infinity=False, places=4),
)
hashables = st.one_of(
    st.integers(min_value=-(2**40), max_value=2**40),
    st.binary(max_size=6),
    st.text(max_size=6, alphabet="abcxyz"),
)


@st.composite
def graphs(draw: st.DrawFn) -> Any:
    """An object graph; later draws may point back at earlier containers."""
    pool: list[Any] = []

    def value(depth: int) -> Any:
        kind = draw(st.integers(0, 9 if depth < 4 else 1))
        if kind <= 1:
            return draw(scalars)
        if kind == 2 and pool:
            return draw(st.sampled_from(pool))  # a shared reference
        if kind == 3:
            made: Any = [value(depth + 1) for _ in range(draw(st.integers(0, 4)))]
        elif kind == 4:
            made = tuple(value(depth + 1) for _ in range(draw(st.integers(0, 4))))
        elif kind == 5:
            made = {draw(hashables): value(depth + 1) for _ in range(draw(st.integers(0, 4)))}
        elif kind == 6:
            made = draw(st.sampled_from([set, frozenset]))(draw(st.lists(hashables, max_size=4)))
        elif kind == 7:
            made = Node(left=value(depth + 1), right=value(depth + 1))
        elif kind == 8:
            made = Registered(payload=value(depth + 1))
        else:
            made = Slotted(value(depth + 1), value(depth + 1))
        pool.append(made)
        return made

    root = value(0)
    # Cycles: containers that can change get references to any container,
    # their ancestors included.
    mutable = [item for item in pool if isinstance(item, (list, dict, Node, Registered))]
    for _ in range(draw(st.integers(0, 3))):
        if not mutable:
            break
        holder = draw(st.sampled_from(mutable))
        target = draw(st.sampled_from(pool))
        if isinstance(holder, list):
            holder.append(target)
        elif isinstance(holder, dict):
            holder[draw(hashables)] = target
        else:
            holder.back = target
    return root


def same_graph(a: Any, b: Any, pairs: dict[int, Any] | None = None) -> bool:
    """
    True if C{a} and C{b} are equal object graphs that also share and cycle
    in the same places (C{a}'s object met twice is C{b}'s same object met
    twice). Floats compare by bits, so a NaN equals itself.
    """
    pairs = {} if pairs is None else pairs
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return struct.pack("!d", a) == struct.pack("!d", b) or (math.isnan(a) and math.isnan(b))
    if isinstance(a, (int, bytes, str, type(None), datetime.date, datetime.time)):
        return bool(a == b)
    if isinstance(a, (datetime.timedelta, decimal.Decimal, set, frozenset)):
        return bool(a == b)
    if id(a) in pairs:
        return pairs[id(a)] is b
    pairs[id(a)] = b
    if isinstance(a, NotKnown):
        # A placeholder jelly left in (a cycle through __setstate__): the same
        # kind, for the same reference.
        return getattr(a, "id", None) == getattr(b, "id", None)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same_graph(x, y, pairs) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return list(a) == list(b) and all(same_graph(a[k], b[k], pairs) for k in a)
    if isinstance(a, Slotted):
        return same_graph(a.a, b.a, pairs) and same_graph(a.b, b.b, pairs)
    if isinstance(a, (Node, Registered, Witness)):
        return same_graph(a.__dict__, b.__dict__, pairs)
    if isinstance(a, Unpersistable):
        return bool(a.reason == b.reason)
    return bool(a == b)
