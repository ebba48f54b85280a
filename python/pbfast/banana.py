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

import sys
from collections.abc import Callable
from typing import Any, ClassVar, cast

from pbfast import _native
from pbfast._errors import (
    BananaError,
    InvalidTypeByte,
    UnknownVocabularySymbol,
    VocabularyNotInDialect,
)
from pbfast._twisted import banana as twisted_banana

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


def _FollowsModuleGlobal(
    globalName: str,
    attributeName: str,
    moduleAttribute: str = "_limitsModule",
    fallback: Any = None,
) -> Any:
    """
    A per-instance setting (class attribute C{attributeName}) that, until an
    instance sets it, reads a module global at the time of use: the one named
    C{globalName} in the module the class names in its attribute
    C{moduleAttribute} (pbfast's module, or Twisted's once L{pbfast.install}
    has patched Twisted's class), or C{fallback}'s (this module by default)
    if that one lacks it. A subclass may also override it with a plain class
    attribute. (Native: these are read on every call that encodes or
    decodes.)
    """
    return _native.FollowsModuleGlobal(
        globalName, "_" + attributeName, moduleAttribute, fallback or sys.modules[__name__]
    )


class _NativeCodec:
    """
    The native methods of a Banana protocol: buffering and decoding what is
    received, and encoding what is sent. They keep their state on the
    instance, made the first time it is needed, so that they serve
    L{Banana}, pbfast's broker, and -- once L{pbfast.install} has patched them
    into Twisted's C{Banana} -- Twisted's classes and instances, connected ones
    included (a Twisted instance's buffered bytes are taken over).

    A protocol whose C{_jelliedMessages} is true (a broker) receives PB
    messages with their jellied parts as the bytes they arrived as
    (C{_native.Encoded}), to be unjellied straight from them.
    """

    sizeLimit = _FollowsModuleGlobal("SIZE_LIMIT", "sizeLimit")
    maxDepth = _FollowsModuleGlobal("MAX_DEPTH", "maxDepth")
    maxMessageSize = _FollowsModuleGlobal("MAX_MESSAGE_SIZE", "maxMessageSize")
    _limitsModule: ClassVar[Any] = sys.modules[__name__]
    _jelliedMessages: ClassVar[bool] = False

    currentDialect: bytes | None
    incomingVocabulary: ClassVar[dict[int, bytes]]
    outgoingSymbols: dict[bytes, int]
    transport: Any

    def _nativeDecoder(self) -> _native.Decoder:
        state = self.__dict__
        decoder: _native.Decoder | None = state.get("_pbfastDecoder")
        if decoder is None:
            # Messages with their jellied parts as bytes can be read with the
            # pb vocabulary only (a custom one gets s-expressions).
            messages = self._jelliedMessages and self.incomingVocabulary == _STANDARD_INCOMING
            decoder = _native.Decoder(self.incomingVocabulary, messages)
            state["_pbfastDecoder"] = decoder
            # Bytes a Twisted instance buffered before it was patched (the
            # attribute stays, empty, for Twisted's methods after uninstall).
            pending = state.get("buffer", b"")
            if pending:
                decoder.feed(pending)
                state["buffer"] = b""
        return decoder

    def connectionMade(self) -> None:
        # Twisted's, with the prefix limit of the module the class follows
        # (Twisted's reads its own module's global).
        self.setPrefixLimit(self._limitsModule._PREFIX_LIMIT)  # type: ignore[attr-defined]
        self.currentDialect = None
        if not self.isClient:  # type: ignore[attr-defined]
            self.sendEncoded(self.knownDialects)  # type: ignore[attr-defined]

    def _effectivePrefixLimit(self) -> int:
        limit: int | None = self.prefixLimit  # type: ignore[attr-defined]
        if limit is None:
            limit = self._limitsModule._PREFIX_LIMIT
        assert limit is not None
        return limit

    def dataReceived(self, chunk: bytes) -> None:
        """
        Buffer C{chunk} natively and deliver every expression it completes to
        C{callExpressionReceived}, in order.

        The dialect is read again before each expression, because the first
        expression of a connection selects it. Nothing of the decoder is
        borrowed while an expression is delivered, so a handler may send, feed
        more data or drop the connection.
        """
        decoder = self._nativeDecoder()
        decoder.feed(chunk)
        prefixLimit = self._effectivePrefixLimit()
        sizeLimit = self.sizeLimit
        maxDepth = self.maxDepth
        maxMessageSize = self.maxMessageSize
        callExpressionReceived = cast(Any, self).callExpressionReceived
        while True:
            item = decoder.next(
                self.currentDialect == b"pb", prefixLimit, sizeLimit, maxDepth, maxMessageSize
            )
            if item is None:
                return
            callExpressionReceived(item)

    @property
    def buffer(self) -> bytes:
        """The received bytes not yet delivered (an incomplete expression)."""
        return self._nativeDecoder().pending

    @buffer.setter
    def buffer(self, value: bytes) -> None:
        decoder = self._nativeDecoder()
        decoder.reset()
        if value:
            decoder.feed(value)

    def sendEncoded(self, obj: Any) -> None:
        """
        Send the encoded representation of the given object:

        @param obj: An object to encode and send.

        @raise BananaError: If the given object is not an instance of one of
            the types supported by Banana.

        @return: L{None}
        """
        self.transport.write(self._encodeToBytes(obj))

    def _encode(self, obj: Any, write: Callable[[bytes], object]) -> None:
        write(self._encodeToBytes(obj))

    def _sendingVocabulary(self) -> _native.OutgoingVocabulary | None:
        """The vocabulary of what is sent now: C{pb}'s in dialect C{pb}."""
        if self.currentDialect != b"pb":
            return None
        vocabulary: _native.OutgoingVocabulary | None = self.__dict__.get("_pbfastVocabulary")
        if vocabulary is None:
            vocabulary = _native.OutgoingVocabulary(self.outgoingSymbols)
            self.__dict__["_pbfastVocabulary"] = vocabulary
        return vocabulary

    def _encodeToBytes(self, obj: Any) -> bytes:
        return _native.encode(
            obj,
            self._sendingVocabulary(),
            self._effectivePrefixLimit(),
            self.sizeLimit,
            self.maxDepth,
        )


_STANDARD_INCOMING = dict(twisted_banana.Banana.incomingVocabulary)


class Banana(_NativeCodec, twisted_banana.Banana):
    """
    L{Banana} implements the I{Banana} s-expression protocol, client and
    server: Twisted's C{Banana}, with the native codec.

    @ivar knownDialects: These are the profiles supported by this Banana
        implementation.
    @type knownDialects: L{list} of L{bytes}
    """


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
