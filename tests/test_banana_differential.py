"""
Differential tests: pbfast.banana against twisted.spread.banana on the same
s-expressions and the same bytes.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from twisted.spread import banana as twisted_banana

from pbfast import banana as pbfast_banana
from pbfast.tools.reference import twisted_decode
from sexp import (
    PbfastCollector,
    TwistedCollector,
    chunks,
    connected,
    decoded_form,
    normal,
    send,
    sexps,
)

DIALECTS = [b"none", b"pb"]


@given(sexps)
@example([2**31 - 1, 2**31, -(2**31), -(2**31) - 1, 2**63, -(2**63), 2**448 - 1])
@example([float("nan"), float("inf"), -0.0, b"", b"x" * 1000, [], [[]], True])
def test_module_encode_is_byte_identical(value: Any) -> None:
    encoded = pbfast_banana.encode(value)
    assert encoded == twisted_banana.encode(value)
    assert normal(pbfast_banana.decode(encoded)) == decoded_form(value)
    assert normal(pbfast_banana.decode(encoded)) == normal(twisted_decode(encoded))


@pytest.mark.parametrize("dialect", DIALECTS)
@given(value=sexps)
@settings(suppress_health_check=[HealthCheck.too_slow])
def test_protocol_encode_is_byte_identical(dialect: bytes, value: Any) -> None:
    assert send(PbfastCollector, dialect, value) == send(TwistedCollector, dialect, value)


@pytest.mark.parametrize("dialect", DIALECTS)
@given(values=st.lists(sexps, min_size=1, max_size=4), cuts=st.lists(st.integers(0, 10_000)))
@settings(suppress_health_check=[HealthCheck.too_slow])
def test_chunked_stream_decodes_like_twisted(
    dialect: bytes, values: list[Any], cuts: list[int]
) -> None:
    stream = b"".join(send(TwistedCollector, dialect, value) for value in values)
    ours = connected(PbfastCollector, dialect)
    theirs = connected(TwistedCollector, dialect)
    for chunk in chunks(stream, cuts):
        ours.dataReceived(chunk)
    theirs.dataReceived(stream)
    assert [normal(v) for v in ours.received] == [normal(v) for v in theirs.received]
    assert [normal(v) for v in ours.received] == [decoded_form(v) for v in values]
    assert ours.buffer == b""


def _outcome(decode: Any, data: bytes) -> Any:
    try:
        return ("value", normal(decode(data)))
    except Exception as error:
        return ("error", error)


@given(st.binary(max_size=60))
@example(b"\x05\x84" + b"\x00" * 8)  # a float's prefix is ignored
@example(b"\x01\x81\x01")  # trailing partial token after a complete one
@example(b"\x01\x81\x01\xff")  # trailing bad token after a complete one
def test_arbitrary_bytes_decode_like_twisted(data: bytes) -> None:
    """
    On any bytes, pbfast returns what Twisted returns, or both fail; pbfast's
    failure is always a BananaError.
    """
    ours = _outcome(pbfast_banana.decode, data)
    theirs = _outcome(twisted_decode, data)
    if ours[0] == "error":
        assert isinstance(ours[1], twisted_banana.BananaError), repr(ours[1])
        assert theirs[0] == "error", (data, theirs)
    else:
        assert ours == theirs, data


@given(sexps, st.lists(st.integers(0, 10_000), max_size=8))
def test_pb_dialect_bytes_from_twisted_decode_in_pbfast(value: Any, cuts: list[int]) -> None:
    stream = send(TwistedCollector, b"pb", value)
    ours = connected(PbfastCollector, b"pb")
    for chunk in chunks(stream, cuts):
        ours.dataReceived(chunk)
    assert [normal(v) for v in ours.received] == [decoded_form(value)]


@pytest.mark.parametrize("dialect", DIALECTS)
@given(
    st.lists(
        st.one_of(
            st.integers(16 * 1024 - 2, 16 * 1024 + 2).map(lambda n: b"\xab" * n),
            st.integers(0, 200_000).map(lambda n: bytes(range(256)) * (n // 256)),
            sexps,
        ),
        max_size=6,
    )
)
@settings(max_examples=30, suppress_health_check=[HealthCheck.too_slow])
def test_large_strings_are_byte_identical(dialect: bytes, value: list[Any]) -> None:
    """Long strings go into the output without passing through the buffer."""
    encoded = send(PbfastCollector, dialect, value)
    assert encoded == send(TwistedCollector, dialect, value)
    assert pbfast_banana.encode(value) == twisted_banana.encode(value)
    receiver = connected(PbfastCollector, dialect)
    receiver.dataReceived(encoded)
    assert [normal(v) for v in receiver.received] == [decoded_form(value)]
