# -*- test-case-name: tests.test_banana -*-
"""
Banana -- the s-expression byte protocol under Perspective Broker, natively.

A drop-in for L{twisted.spread.banana}: the same names, the same bytes on the
wire, the same class of exception. The token stream is encoded and decoded by
pbfast's native core; this module keeps the protocol logic (dialect
negotiation, the vocabulary tables, the limits) where subclasses such as PB's
C{Broker} expect it.

Banana carries s-expressions made of lists (or tuples), byte strings, ints and
floats. Each token is a base-128 prefix followed by a type byte (L{LIST},
L{INT}, L{STRING}, L{NEG}, L{FLOAT}, L{LONGINT}, L{LONGNEG}, L{VOCAB}). On
connect, the server sends the list of dialects it knows and the client answers
with the one it picks; in dialect C{pb}, the byte strings of the vocabulary
travel as VOCAB tokens.

Decoding is incremental and linear: each byte is parsed once however the
stream is chunked, and a list or string header is checked against the limits
before its body arrives. The limits are per instance:

  - C{prefixLimit}: bytes of prefix (Twisted's, default 64, set on connect
    from the module's L{setPrefixLimit});
  - C{sizeLimit}: items in a list, bytes in a string (Twisted keeps this
    attribute but checks only the module's C{SIZE_LIMIT}; here each instance
    honours its own, which follows C{SIZE_LIMIT} until set);
  - C{maxDepth}: list nesting (follows C{MAX_DEPTH}, 10,000, until set);
  - C{maxMessageSize}: bytes in one top-level expression (follows
    C{MAX_MESSAGE_SIZE}, 64 MiB, until set).

Bad input raises L{BananaError} (or a subclass that is also the exception
Twisted raises in that case), with a message saying what and at which offset.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any, ClassVar, cast

from twisted.internet import protocol
from twisted.persisted import styles
from twisted.python import log

from pbfast import _native
from pbfast._errors import (
    BananaError,
    InvalidTypeByte,
    UnknownVocabularySymbol,
    VocabularyNotInDialect,
)

__all__ = [
    "FLOAT",
    "HIGH_BIT_SET",
    "INT",
    "LIST",
    "LONGINT",
    "LONGNEG",
    "MAX_DEPTH",
    "MAX_MESSAGE_SIZE",
    "NEG",
    "SIZE_LIMIT",
    "STRING",
    "VOCAB",
    "Banana",
    "BananaError",
    "InvalidTypeByte",
    "UnknownVocabularySymbol",
    "VocabularyNotInDialect",
    "b1282int",
    "decode",
    "encode",
    "int2b128",
    "setPrefixLimit",
]


def int2b128(integer: int, stream: Callable[[bytes], object]) -> None:
    """
    Write the base-128 prefix of a non-negative integer to C{stream}.
    """
    stream(_native.int2b128(integer))


def b1282int(st: bytes) -> int:
    """
    Convert an integer represented as a base 128 string into an L{int}.
    """
    return _native.b1282int(st)


# Type bytes.
LIST = b"\x80"
INT = b"\x81"
STRING = b"\x82"
NEG = b"\x83"
FLOAT = b"\x84"
LONGINT = b"\x85"
LONGNEG = b"\x86"
VOCAB = b"\x87"

HIGH_BIT_SET = b"\x80"

SIZE_LIMIT = 640 * 1024
"""Most items in a list and bytes in a string, for instances that set none."""

MAX_DEPTH: int = _native.MAX_DEPTH
"""Deepest list nesting, for instances that set none."""

MAX_MESSAGE_SIZE: int = _native.MAX_MESSAGE_SIZE
"""Most bytes in one top-level expression, for instances that set none."""

_PREFIX_LIMIT: int = 64


def setPrefixLimit(limit: int) -> None:
    """
    Set the limit on the prefix length for all Banana connections established
    after this call, and for the module's L{encode} and L{decode}.

    The prefix length limit determines how many bytes of prefix a banana
    decoder will allow before rejecting a potential object as too large.
    """
    global _PREFIX_LIMIT
    _PREFIX_LIMIT = limit


class _FollowsModuleGlobal:
    """
    A per-instance limit that, until an instance sets it, reads the module
    global of the given name at the time of use. A subclass may also override
    it with a plain class attribute.
    """

    def __init__(self, globalName: str) -> None:
        self.globalName = globalName
        self.slot = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.slot = "_" + name

    def __get__(self, instance: object, owner: type | None = None) -> int:
        default: int = globals()[self.globalName]
        if instance is None:
            return default
        value: int = instance.__dict__.get(self.slot, default)
        return value

    def __set__(self, instance: object, value: int) -> None:
        instance.__dict__[self.slot] = value


def _pbVocabulary() -> dict[bytes, int]:
    return {symbol: ident for ident, symbol in enumerate(_native.PB_VOCABULARY) if ident}


class Banana(protocol.Protocol, styles.Ephemeral):
    """
    L{Banana} implements the I{Banana} s-expression protocol, client and
    server.

    @ivar knownDialects: These are the profiles supported by this Banana
        implementation.
    @type knownDialects: L{list} of L{bytes}
    """

    # The specification calls these profiles but this implementation calls them
    # dialects instead.
    knownDialects: ClassVar[list[bytes]] = [b"pb", b"none"]

    prefixLimit: int | None = None
    sizeLimit = _FollowsModuleGlobal("SIZE_LIMIT")
    maxDepth = _FollowsModuleGlobal("MAX_DEPTH")
    maxMessageSize = _FollowsModuleGlobal("MAX_MESSAGE_SIZE")

    currentDialect: bytes | None = None
    isClient: int | bool

    outgoingVocabulary: ClassVar[dict[bytes, int]] = _pbVocabulary()
    incomingVocabulary: ClassVar[dict[int, bytes]] = {
        ident: symbol for symbol, ident in outgoingVocabulary.items()
    }

    def __init__(self, isClient: int | bool = 1) -> None:
        self.outgoingSymbols = copy.copy(self.outgoingVocabulary)
        self.outgoingSymbolCount = 0
        self.isClient = isClient
        self._decoder = _native.Decoder(self.incomingVocabulary)
        self._sendingVocabulary: _native.OutgoingVocabulary | None = None

    def setPrefixLimit(self, limit: int) -> None:
        """
        Set the prefix limit for decoding done by this protocol instance.

        @see: L{setPrefixLimit}
        """
        self.prefixLimit = limit
        self._smallestLongInt = -(2 ** (limit * 7)) + 1
        self._smallestInt = -(2**31)
        self._largestInt = 2**31 - 1
        self._largestLongInt = 2 ** (limit * 7) - 1

    def connectionReady(self) -> None:
        """Surrogate for connectionMade
        Called after protocol negotiation.
        """

    def _selectDialect(self, dialect: bytes) -> None:
        self.currentDialect = dialect
        self.connectionReady()

    def callExpressionReceived(self, obj: Any) -> None:
        if self.currentDialect:
            self.expressionReceived(obj)
        else:
            # this is the first message we've received
            if self.isClient:
                # if I'm a client I have to respond
                for serverVer in obj:
                    if serverVer in self.knownDialects:
                        self.sendEncoded(serverVer)
                        self._selectDialect(serverVer)
                        break
                else:
                    # I can't speak any of those dialects.
                    log.msg(
                        "The client doesn't speak any of the protocols "
                        "offered by the server: disconnecting."
                    )
                    cast(Any, self.transport).loseConnection()
            else:
                if obj in self.knownDialects:
                    self._selectDialect(obj)
                else:
                    # the client just selected a protocol that I did not suggest.
                    log.msg(
                        "The client selected a protocol the server didn't "
                        "suggest and doesn't know: disconnecting."
                    )
                    cast(Any, self.transport).loseConnection()

    def connectionMade(self) -> None:
        self.setPrefixLimit(_PREFIX_LIMIT)
        self.currentDialect = None
        if not self.isClient:
            self.sendEncoded(self.knownDialects)

    def _effectivePrefixLimit(self) -> int:
        return _PREFIX_LIMIT if self.prefixLimit is None else self.prefixLimit

    def dataReceived(self, chunk: bytes) -> None:
        """
        Buffer C{chunk} natively and deliver every expression it completes to
        L{callExpressionReceived}, in order.

        The dialect is read again before each expression, because the first
        expression of a connection selects it. Nothing of the decoder is
        borrowed while an expression is delivered, so a handler may send, feed
        more data or drop the connection.
        """
        decoder = self._decoder
        decoder.feed(chunk)
        prefixLimit = self._effectivePrefixLimit()
        sizeLimit = self.sizeLimit
        maxDepth = self.maxDepth
        maxMessageSize = self.maxMessageSize
        while True:
            item = decoder.next(
                self.currentDialect == b"pb", prefixLimit, sizeLimit, maxDepth, maxMessageSize
            )
            if item is None:
                return
            self.callExpressionReceived(item)

    @property
    def buffer(self) -> bytes:
        """The received bytes not yet decoded (an incomplete token)."""
        return self._decoder.pending

    @buffer.setter
    def buffer(self, value: bytes) -> None:
        self._decoder.reset()
        if value:
            self._decoder.feed(value)

    def expressionReceived(self, lst: Any) -> None:
        """Called when an expression (list, string, or int) is received."""
        raise NotImplementedError()

    def sendEncoded(self, obj: Any) -> None:
        """
        Send the encoded representation of the given object:

        @param obj: An object to encode and send.

        @raise BananaError: If the given object is not an instance of one of
            the types supported by Banana.

        @return: L{None}
        """
        cast(Any, self.transport).write(self._encodeToBytes(obj))

    def _encode(self, obj: Any, write: Callable[[bytes], object]) -> None:
        write(self._encodeToBytes(obj))

    def _encodeToBytes(self, obj: Any) -> bytes:
        vocabulary = None
        if self.currentDialect == b"pb":
            vocabulary = self._sendingVocabulary
            if vocabulary is None:
                vocabulary = _native.OutgoingVocabulary(self.outgoingSymbols)
                self._sendingVocabulary = vocabulary
        return _native.encode(
            obj, vocabulary, self._effectivePrefixLimit(), self.sizeLimit, self.maxDepth
        )


def encode(lst: Any) -> bytes:
    """Encode a list s-expression (dialect C{none})."""
    return _native.encode(lst, None, _PREFIX_LIMIT, SIZE_LIMIT, MAX_DEPTH)


def decode(st: bytes) -> Any:
    """
    Decode a banana-encoded string (dialect C{none}).

    As with Twisted's, every complete expression in C{st} is decoded and the
    first is returned; input with no complete expression raises
    L{BananaError}. Calls are independent of each other.
    """
    return _native.decode(st, _PREFIX_LIMIT, SIZE_LIMIT, MAX_DEPTH, MAX_MESSAGE_SIZE)
