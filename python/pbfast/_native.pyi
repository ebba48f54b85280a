"""Type stubs for the native extension module (private: use pbfast.banana)."""

from typing import Any, final

__all__ = [
    "MAX_DEPTH",
    "MAX_MESSAGE_SIZE",
    "PB_VOCABULARY",
    "PREFIX_LIMIT",
    "SIZE_LIMIT",
    "Decoder",
    "OutgoingVocabulary",
    "__version__",
    "b1282int",
    "decode",
    "encode",
    "int2b128",
]
__version__: str
SIZE_LIMIT: int
PREFIX_LIMIT: int
MAX_DEPTH: int
MAX_MESSAGE_SIZE: int
PB_VOCABULARY: tuple[bytes, ...]

@final
class OutgoingVocabulary:
    def __new__(cls, symbols: dict[bytes, int]) -> OutgoingVocabulary: ...

@final
class Decoder:
    def __new__(cls, vocabulary: dict[int, bytes]) -> Decoder: ...
    def feed(self, data: bytes | bytearray | memoryview) -> None: ...
    def next(
        self,
        pb_dialect: bool,
        prefix_limit: int,
        size_limit: int,
        max_depth: int,
        max_message_size: int,
    ) -> Any | None: ...
    @property
    def pending(self) -> bytes: ...
    @property
    def offset(self) -> int: ...
    @property
    def idle(self) -> bool: ...
    def reset(self) -> None: ...

def encode(
    obj: Any,
    vocabulary: OutgoingVocabulary | None,
    prefix_limit: int,
    size_limit: int,
    max_depth: int,
) -> bytes: ...
def decode(
    data: bytes | bytearray | memoryview,
    prefix_limit: int,
    size_limit: int,
    max_depth: int,
    max_message_size: int,
) -> Any: ...
def int2b128(integer: int) -> bytes: ...
def b1282int(st: bytes | bytearray | memoryview) -> int: ...
