"""Type stubs for the native extension module (private: use pbfast.banana)."""

from typing import Any, final

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
    vocabulary: OutgoingVocabulary | None = None,
    prefix_limit: int = 64,
    size_limit: int = 655360,
    max_depth: int = 10000,
) -> bytes: ...
def decode(
    data: bytes | bytearray | memoryview,
    prefix_limit: int = 64,
    size_limit: int = 655360,
    max_depth: int = 10000,
    max_message_size: int = 67108864,
) -> Any: ...
def int2b128(integer: int) -> bytes: ...
def b1282int(st: bytes | bytearray | memoryview) -> int: ...
