"""
The codecs pbfast is checked and timed against: Twisted's own -- the
reference whose bytes and objects pbfast's must equal, used by the bench, the
tests, C{benches/} and the Python fuzzer -- and, for scale, C{pickle}'s and
msgspec's (L{msgspec_codec}, where it is installed and carries the payload).
"""

from __future__ import annotations

import pickle
from collections.abc import Callable
from typing import Any

from twisted.spread import banana as twisted_banana
from twisted.spread import jelly as twisted_jelly

Codec = tuple[Callable[[Any], Any], Callable[[Any], Any]]
"""An encoder and the decoder that reads what it writes."""


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


def twisted_dumps(value: Any) -> bytes:
    """What C{pbfast.dumps} stands for: Twisted's C{banana.encode(jelly.jelly(value))}."""
    result: bytes = twisted_banana.encode(twisted_jelly.jelly(value))
    return result


def twisted_loads(data: bytes) -> Any:
    """What C{pbfast.loads} stands for: Twisted's unjelly of its decode, C{globalSecurity}."""
    return twisted_jelly.unjelly(twisted_decode(data), taster=twisted_jelly.globalSecurity)


def pickle_dumps(value: Any) -> bytes:
    """C{pickle.dumps} in protocol 5, the one the bench compares with."""
    return pickle.dumps(value, protocol=5)


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
    if shares(value):
        return False
    try:
        back = codec[1](codec[0](value))
    except Exception:  # any failure means it does not carry it
        return False
    return bool(as_lists(back) == as_lists(value))


def shares(value: Any) -> bool:
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


def as_lists(value: Any) -> Any:
    """C{value} with its tuples as lists, as MessagePack gives them back."""
    if isinstance(value, list | tuple):
        return [as_lists(item) for item in value]
    if isinstance(value, dict):
        return {key: as_lists(item) for key, item in value.items()}
    return value
