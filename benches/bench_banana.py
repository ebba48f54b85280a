"""
Banana encode and decode of a ~1 MB mixed PB-like message: pbfast against
Twisted (and pickle on the same s-expression, for scale).

In the normal test run these execute once each with timing disabled, so they
are exercised but never flaky; time them with
C{python -m pytest benches --benchmark-enable}.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable
from typing import Any

import pytest
from twisted.spread import banana as twisted_banana

from pbfast import banana
from pbfast.tools.payloads import BANANA_PAYLOADS, mixed_message
from pbfast.tools.reference import twisted_decode

MESSAGE = mixed_message()
ENCODED = banana.encode(MESSAGE)
PICKLED = pickle.dumps(MESSAGE, protocol=5)

ENCODERS: dict[str, Callable[[Any], bytes]] = {
    "pbfast": banana.encode,
    "twisted": twisted_banana.encode,
    "pickle": lambda value: pickle.dumps(value, protocol=5),
}


def test_message_is_about_a_megabyte() -> None:
    assert 900_000 <= len(ENCODED) <= 1_200_000
    assert ENCODED == twisted_banana.encode(MESSAGE)


@pytest.mark.parametrize("implementation", list(ENCODERS))
def test_encode_mixed_1mb(benchmark: Any, implementation: str) -> None:
    benchmark.group = "banana encode, mixed 1 MB"
    result = benchmark(ENCODERS[implementation], MESSAGE)
    assert result == (PICKLED if implementation == "pickle" else ENCODED)


@pytest.mark.parametrize("implementation", ["pbfast", "twisted", "pickle"])
def test_decode_mixed_1mb(benchmark: Any, implementation: str) -> None:
    benchmark.group = "banana decode, mixed 1 MB"
    if implementation == "twisted":
        # Twisted's decoder copies the rest of its buffer for every token:
        # seconds per call at this size, so a few rounds are all it gets.
        result = benchmark.pedantic(twisted_decode, (ENCODED,), rounds=3)
    elif implementation == "pickle":
        result = benchmark(pickle.loads, PICKLED)
    else:
        result = benchmark(banana.decode, ENCODED)
    assert result == MESSAGE


def test_decode_mixed_1mb_byte_chunks(benchmark: Any) -> None:
    """The same message arriving in 1 KiB chunks through a Banana protocol."""
    benchmark.group = "banana decode, mixed 1 MB, 1 KiB chunks"
    chunks = [ENCODED[i : i + 1024] for i in range(0, len(ENCODED), 1024)]

    def receive() -> list[Any]:
        received: list[Any] = []
        protocol = banana.Banana()
        protocol.expressionReceived = received.append  # type: ignore[method-assign]
        protocol._selectDialect(b"none")
        for chunk in chunks:
            protocol.dataReceived(chunk)
        return received

    assert benchmark(receive) == [MESSAGE]


@pytest.mark.parametrize("payload", [name for name in BANANA_PAYLOADS if name != "mixed 1 MB"])
def test_payload_round_trip(benchmark: Any, payload: str) -> None:
    benchmark.group = "banana round trip, payloads"
    value = BANANA_PAYLOADS[payload]()

    def round_trip() -> Any:
        return banana.decode(banana.encode(value))

    assert benchmark(round_trip) == banana.decode(twisted_banana.encode(value))
