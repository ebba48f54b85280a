"""
pbfast.banana on its own: the public API, limits, errors, and hostile input.
"""

from __future__ import annotations

import gc
import io
import weakref
from typing import Any, ClassVar

import pytest
from hypothesis import given
from hypothesis import strategies as st
from twisted.spread import banana as twisted_banana

import pbfast
from pbfast import banana
from sexp import PbfastCollector, connected, mutate, sexps


def test_public_names_match_twisted() -> None:
    ours = set(dir(banana))
    missing = {
        name
        for name in dir(twisted_banana)
        if not name.startswith("_")
        and name not in ours
        # Twisted's module-level imports, not part of its API:
        and name not in {"BytesIO", "copy", "fullyQualifiedName", "iterbytes", "log"}
        and name not in {"protocol", "struct", "styles"}
    }
    assert missing == set()
    for name in ["LIST", "INT", "STRING", "NEG", "FLOAT", "LONGINT", "LONGNEG", "VOCAB"]:
        assert getattr(banana, name) == getattr(twisted_banana, name)
    assert banana.SIZE_LIMIT == twisted_banana.SIZE_LIMIT
    assert banana.Banana.outgoingVocabulary == twisted_banana.Banana.outgoingVocabulary
    assert banana.Banana.incomingVocabulary == twisted_banana.Banana.incomingVocabulary
    assert banana.Banana.knownDialects == twisted_banana.Banana.knownDialects


def test_version() -> None:
    assert isinstance(pbfast.__version__, str) and pbfast.__version__


def test_banana_error_is_twisteds() -> None:
    assert banana.BananaError is twisted_banana.BananaError
    with pytest.raises(twisted_banana.BananaError):
        banana.decode(b"\x01\x99")
    with pytest.raises(banana.BananaError):
        twisted_banana.decode(b"\x7f" * 65 + b"\x85")


@pytest.mark.parametrize(
    ("data", "error", "also", "fragment"),
    [
        (b"\x01\x81\x01\x99", banana.InvalidTypeByte, NotImplementedError, "offset 2"),
        (b"\x7f" * 65 + b"\x85", banana.BananaError, None, "more than 64 bytes of prefix"),
        (b"\x02\x01\x01\x01\x01\x80", banana.BananaError, None, "List too long"),
        (b"\x02\x01\x01\x01\x01\x82", banana.BananaError, None, "String too long"),
        (b"\x7a\x87", banana.UnknownVocabularySymbol, KeyError, "symbol 122 at offset 0"),
        (b"\x10\x87", banana.VocabularyNotInDialect, NotImplementedError, "symbol 16"),
        (b"\x84\x00\x00\x00", banana.BananaError, None, "float at offset 0 is incomplete"),
        (b"\x03\x80\x01\x81", banana.BananaError, None, "list at offset 0 is incomplete"),
        (b"", banana.BananaError, None, "expression at offset 0"),
    ],
)
def test_malformed_input_errors(data: bytes, error: type, also: Any, fragment: str) -> None:
    with pytest.raises(error) as caught:
        banana.decode(data)
    assert isinstance(caught.value, banana.BananaError)
    if also is not None:
        assert isinstance(caught.value, also)
    assert fragment in str(caught.value)


def test_unencodable_objects() -> None:
    unencodable = [("text", "builtins.str"), (None, "builtins.NoneType"), ({}, "builtins.dict")]
    for value, name in unencodable:
        with pytest.raises(banana.BananaError, match=f"Banana cannot send {name} objects"):
            banana.encode([1, [value]])
    with pytest.raises(banana.BananaError, match="int is too large to send"):
        banana.encode(2**448)
    with pytest.raises(banana.BananaError, match="int is too large to send"):
        banana.encode(-(2**448))
    assert banana.encode(2**448 - 1) == twisted_banana.encode(2**448 - 1)


def test_subclasses_encode_like_their_bases() -> None:
    class MyList(list):  # type: ignore[type-arg]
        def __iter__(self) -> Any:
            return iter(list(list.__iter__(self))[::-1])

    class MyInt(int):
        pass

    class MyBytes(bytes):
        pass

    class MyFloat(float):
        pass

    value = [MyList([1, 2, 3]), MyInt(7), MyBytes(b"x"), MyFloat(2.5), (MyInt(2**70),)]
    assert banana.encode(value) == twisted_banana.encode(value)


def test_self_containing_list_is_a_banana_error() -> None:
    loop: list[Any] = []
    loop.append(loop)
    with pytest.raises(banana.BananaError, match="nested deeper than"):
        banana.encode(loop)


def test_int2b128_and_b1282int() -> None:
    for value in [0, 1, 127, 128, 2**31, 2**64, 1024**10, 2**448 + 5]:
        ours, theirs = io.BytesIO(), io.BytesIO()
        banana.int2b128(value, ours.write)
        twisted_banana.int2b128(value, theirs.write)
        assert ours.getvalue() == theirs.getvalue()
        assert banana.b1282int(ours.getvalue()) == value
    for digits in [b"", b"\x00", b"\xff", b"\xff\xfe\x80" * 7, bytes(range(256))]:
        assert banana.b1282int(digits) == twisted_banana.b1282int(digits)
    with pytest.raises(AssertionError):
        banana.int2b128(-1, io.BytesIO().write)


def test_decode_accepts_bytes_like() -> None:
    data = banana.encode([b"abc", 5])
    assert banana.decode(bytearray(data)) == [b"abc", 5]
    assert banana.decode(memoryview(data)) == [b"abc", 5]
    with pytest.raises(TypeError):
        banana.decode("text")  # type: ignore[arg-type]


# Limits ---------------------------------------------------------------------


def _string_of(length: int) -> bytes:
    return banana.encode(b"x" * length)


def test_size_limit_is_per_instance() -> None:
    small = connected(PbfastCollector, b"none")
    small.sizeLimit = 10
    default = connected(PbfastCollector, b"none")
    assert default.sizeLimit == banana.SIZE_LIMIT == 640 * 1024
    default.dataReceived(_string_of(11))
    assert default.received == [b"x" * 11]
    with pytest.raises(banana.BananaError, match=r"String too long \(11 bytes claimed, limit 10"):
        small.dataReceived(_string_of(11))
    with pytest.raises(banana.BananaError, match="too long to send"):
        small.sendEncoded([b"x" * 11])
    with pytest.raises(banana.BananaError, match="too long to send"):
        small.sendEncoded(list(range(11)))


def test_size_limit_as_subclass_attribute() -> None:
    class Strict(PbfastCollector):
        sizeLimit = 4

    strict = connected(Strict, b"none")
    with pytest.raises(banana.BananaError, match="List too long"):
        strict.dataReceived(banana.encode([1, 2, 3, 4, 5]))


def test_module_size_limit_still_works(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(banana, "SIZE_LIMIT", 3)
    with pytest.raises(banana.BananaError):
        banana.decode(b"\x04\x82abcd")
    with pytest.raises(banana.BananaError):
        banana.encode(b"abcd")
    follower = connected(PbfastCollector, b"none")
    assert follower.sizeLimit == 3
    with pytest.raises(banana.BananaError):
        follower.dataReceived(b"\x04\x82abcd")


def test_module_prefix_limit_still_works(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(banana, "_PREFIX_LIMIT", banana._PREFIX_LIMIT)
    banana.setPrefixLimit(2)
    assert connected(PbfastCollector, b"none").prefixLimit == 2
    with pytest.raises(banana.BananaError, match="more than 2 bytes of prefix"):
        banana.decode(b"\x00\x00\x00\x01\x81")
    with pytest.raises(banana.BananaError, match="int is too large"):
        banana.encode(2**14)
    assert banana.decode(banana.encode(2**14 - 1)) == 2**14 - 1


def test_depth_limit() -> None:
    def nested(levels: int) -> bytes:
        return b"\x01\x80" * (levels - 1) + b"\x00\x80"

    protocol = connected(PbfastCollector, b"none")
    protocol.maxDepth = 5
    protocol.dataReceived(nested(5))
    with pytest.raises(banana.BananaError, match="nested deeper than 5 levels at offset 10"):
        connected_deep = connected(PbfastCollector, b"none")
        connected_deep.maxDepth = 5
        connected_deep.dataReceived(nested(6))
    # The default is far beyond what Twisted's recursive encoder can produce,
    # and decoding it uses no native stack.
    deep = banana.decode(nested(banana.MAX_DEPTH))
    for _ in range(banana.MAX_DEPTH - 1):
        deep = deep[0]
    assert deep == []
    with pytest.raises(banana.BananaError, match="nested deeper than 10000 levels"):
        banana.decode(nested(banana.MAX_DEPTH + 1))


def test_deepest_twisted_encoding_decodes() -> None:
    value: list[Any] = []
    depth = 1
    while True:
        try:
            data = twisted_banana.encode(value)
        except RecursionError:
            break
        value, depth = [value], depth + 1
    decoded = banana.decode(data)
    assert banana.encode(decoded) == data


def test_message_size_limit() -> None:
    protocol = connected(PbfastCollector, b"none")
    assert protocol.maxMessageSize == banana.MAX_MESSAGE_SIZE == 64 * 1024 * 1024
    protocol.maxMessageSize = 1000
    protocol.dataReceived(banana.encode([b"x" * 400, b"y" * 400]))
    assert len(protocol.received) == 1
    # Refused as soon as the claim is seen: the 600 string bytes never come.
    with pytest.raises(banana.BananaError, match="message larger than 1000 bytes"):
        protocol.dataReceived(b"\x02\x80\x10\x03\x82" + b"x" * 400 + b"\x58\x04\x82")


def test_after_an_error_the_stream_stays_failed() -> None:
    protocol = connected(PbfastCollector, b"none")
    with pytest.raises(banana.InvalidTypeByte):
        protocol.dataReceived(b"\x01\x81\x01\x99")
    assert protocol.received == [1]  # what came before the bad token is kept
    with pytest.raises(banana.BananaError, match="out of step since the bad token at offset 2"):
        protocol.dataReceived(b"\x01\x81")
    assert protocol.buffer == b""  # a peer that keeps sending grows nothing


def test_module_decode_is_stateless() -> None:
    with pytest.raises(banana.BananaError):
        banana.decode(b"\x01\x80")
    assert banana.decode(b"\x01\x81") == 1


# Incremental decoding -------------------------------------------------------


def test_byte_at_a_time_keeps_only_the_incomplete_token() -> None:
    """
    Each byte is parsed once: what stays buffered is never more than the one
    token that is not complete yet, so no byte is scanned again and again.
    """
    message = banana.encode([[b"k" * 20, i, -i, 2.5, [2**40]] for i in range(300)])
    protocol = connected(PbfastCollector, b"none")
    longest_pending = 0
    for index in range(len(message)):
        protocol.dataReceived(message[index : index + 1])
        longest_pending = max(longest_pending, len(protocol.buffer))
    assert protocol.received == [banana.decode(message)]
    assert longest_pending <= 21  # the 20-byte string's token, less its last byte


def test_buffer_property() -> None:
    protocol = connected(PbfastCollector, b"none")
    protocol.dataReceived(b"\x05\x82ab")
    assert protocol.buffer == b"\x05\x82ab"
    protocol.buffer = b""
    protocol.dataReceived(b"\x01\x81")
    assert protocol.received == [1]


def test_reentrant_delivery() -> None:
    """A handler that feeds more data while an expression is delivered."""

    class Echo(PbfastCollector):
        def expressionReceived(self, lst: Any) -> None:
            super().expressionReceived(lst)
            if lst == 1:
                self.dataReceived(b"\x03\x81")

    protocol = connected(Echo, b"none")
    protocol.dataReceived(b"\x01\x81\x02\x81")
    assert protocol.received == [1, 2, 3]


# Hostile input --------------------------------------------------------------


@st.composite
def mutated_encodings(draw: st.DrawFn) -> bytes:
    return mutate(draw, banana.encode(draw(sexps)))


@given(mutated_encodings(), st.booleans())
def test_mutated_encodings_give_a_value_or_banana_error(data: bytes, pb: bool) -> None:
    try:
        banana.decode(data)
    except banana.BananaError:
        pass
    protocol = connected(PbfastCollector, b"pb" if pb else b"none")
    try:
        for index in range(0, len(data), 3):
            protocol.dataReceived(data[index : index + 3])
    except banana.BananaError:
        pass


def test_lying_headers_do_not_allocate() -> None:
    # 640K items claimed, a handful present; a 600 KiB string claimed, none sent.
    assert_raises_banana(b"\x00\x00\x28\x80" + b"\x01\x81" * 5)
    protocol = connected(PbfastCollector, b"none")
    protocol.dataReceived(b"\x00\x00\x25\x82")
    assert protocol.buffer == b"\x00\x00\x25\x82"


def assert_raises_banana(data: bytes) -> None:
    with pytest.raises(banana.BananaError):
        banana.decode(data)


def test_module_decode_forgets_a_failed_list() -> None:
    """
    Twisted's module-level decoder keeps the lists a failed call had opened,
    so the next call's expression lands inside them; pbfast's calls are
    independent.
    """
    with pytest.raises(banana.BananaError):
        banana.decode(b"\x02\x80\x01\x81")
    assert banana.decode(b"\x05\x81") == 5


def test_reference_cycles_through_the_decoder_are_collected() -> None:
    class Symbol(bytes):
        owner: Any = None

    symbol = Symbol(b"custom")

    class Custom(PbfastCollector):
        incomingVocabulary: ClassVar[dict[int, bytes]] = {1: symbol}

    protocol = connected(Custom, b"pb")
    protocol.dataReceived(b"\x02\x80\x01\x87")  # a list left open, holding the symbol
    symbol.owner = protocol
    Custom.incomingVocabulary = {}  # only the decoder holds the symbol now
    alive = weakref.ref(protocol)
    del protocol, symbol
    gc.collect()
    assert alive() is None
