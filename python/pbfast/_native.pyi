"""Type stubs for the native extension module (private: use pbfast.banana)."""

from collections.abc import Iterator
from types import ModuleType
from typing import Any, final

__all__ = [
    "MAX_DEPTH",
    "MAX_JELLY_DEPTH",
    "MAX_MESSAGE_SIZE",
    "PB_VOCABULARY",
    "PREFIX_LIMIT",
    "SIZE_LIMIT",
    "Decoder",
    "Encoded",
    "FollowsModuleGlobal",
    "Jellier",
    "OutgoingVocabulary",
    "Unjellier",
    "__version__",
    "as_method",
    "b1282int",
    "data_received",
    "decode",
    "dumps",
    "encode",
    "int2b128",
    "jelly",
    "loads",
    "panic_for_tests",
    "receive_messages",
    "send_message",
    "serialize",
    "takes_native_path",
    "unserialize",
]
__version__: str
SIZE_LIMIT: int
PREFIX_LIMIT: int
MAX_DEPTH: int
MAX_MESSAGE_SIZE: int
PB_VOCABULARY: tuple[bytes, ...]
MAX_JELLY_DEPTH: int

@final
class OutgoingVocabulary:
    def __new__(cls, symbols: dict[bytes, int]) -> OutgoingVocabulary: ...

@final
class Decoder:
    """A connection's incremental decoder: expressions, or (messages=True) PB messages."""

    def __new__(cls, vocabulary: dict[int, bytes], messages: bool = False) -> Decoder: ...
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

@final
class FollowsModuleGlobal:
    """A per-instance setting that follows a module global until set."""

    def __new__(
        cls, name: str, slot: str, module_attribute: str, fallback: ModuleType
    ) -> FollowsModuleGlobal: ...
    def __get__(self, instance: Any, owner: Any = None, /) -> Any: ...
    def __set__(self, instance: Any, value: Any, /) -> None: ...

@final
class Encoded:
    """One expression already encoded as Banana bytes; reads as its s-expression."""

    def sexp(self) -> Any: ...
    @property
    def pb_dialect(self) -> bool: ...
    def __bytes__(self) -> bytes: ...
    def __len__(self) -> int: ...
    def __getitem__(self, key: Any, /) -> Any: ...
    def __iter__(self) -> Iterator[Any]: ...
    def __eq__(self, value: object, /) -> bool: ...

def serialize(
    obj: Any,
    taster: Any,
    invoker: Any,
    vocabulary: OutgoingVocabulary | None,
    prefix_limit: int,
    size_limit: int,
    max_depth: int,
    persistentStore: Any = None,
    max_jelly_depth: int = 1000,
) -> Encoded:
    """A broker's serialize: obj jellied straight to Banana bytes."""

def unserialize(
    encoded: Encoded,
    taster: Any,
    invoker: Any,
    persistentLoad: Any = None,
    max_jelly_depth: int = 1000,
) -> Any:
    """A broker's unserialize: objects straight from what it received."""

def receive_messages(broker: Any, chunk: bytes | bytearray | memoryview) -> None:
    """A broker's received bytes: every message they complete, calls and answers natively."""

def data_received(broker: Any, chunk: bytes | bytearray | memoryview) -> None:
    """The broker's dataReceived: receive_messages; a peer sending the unreadable is dropped."""

def as_method(function: Any) -> Any:
    """function as a method of the class it is set on (bound to the instance it is looked up on)."""

def send_message(
    broker: Any,
    prefix: bytes,
    perspective: Any,
    object_id: Any,
    message: bytes,
    args: Any,
    kw: Any,
) -> Any:
    """A broker's _sendMessage: the Deferred of the call's answer (or of its failure)."""

def takes_native_path(broker: Any) -> bool:
    """True if the broker keeps every method the native call path stands in for."""

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
def jelly(
    object: Any,
    taster: Any,
    persistentStore: Any = None,
    invoker: Any = None,
) -> Any:
    """jelly.jelly(object, ...): the s-expression for object."""

def dumps(
    obj: Any,
    *,
    taster: Any = None,
    persistentStore: Any = None,
    invoker: Any = None,
    maxDepth: int = 1000,
) -> bytes:
    """Objects to Banana bytes in one pass: banana.encode(jelly.jelly(obj))."""

def loads(
    data: bytes | bytearray | memoryview,
    *,
    taster: Any = None,
    persistentLoad: Any = None,
    invoker: Any = None,
    maxDepth: int = 1000,
) -> Any:
    """Banana bytes to objects in one pass, secure by default."""

def int2b128(integer: int) -> bytes: ...
def panic_for_tests(message: str) -> None:
    """A Rust panic carrying message (PyO3's PanicException), for the tests."""

def b1282int(st: bytes | bytearray | memoryview) -> int: ...

@final
class Jellier:
    """The state of one jelly() call; what jellyFor hooks receive."""

    @property
    def taster(self) -> Any: ...
    @property
    def persistentStore(self) -> Any: ...
    @property
    def invoker(self) -> Any: ...
    def __new__(
        cls,
        taster: Any,
        persistentStore: Any = None,
        invoker: Any = None,
        max_jelly_depth: int = 1000,
    ) -> Jellier: ...
    def jelly(self, obj: Any) -> Any: ...
    def prepare(self, object: Any) -> list[Any]: ...
    def preserve(self, object: Any, sexp: Any) -> Any: ...
    def _cook(self, object: Any) -> list[Any] | None: ...
    def _checkMutable(self, object: Any) -> list[Any] | None: ...
    def unpersistable(self, reason: Any, sxp: list[Any] | None = None) -> list[Any]: ...
    def jelly_decimal(self, d: Any) -> Any: ...

@final
class Unjellier:
    """The state of one unjelly() call; what unjellyFor hooks receive."""

    @property
    def taster(self) -> Any: ...
    @property
    def persistentLoad(self) -> Any: ...
    @property
    def invoker(self) -> Any: ...
    @property
    def references(self) -> dict[Any, Any]: ...
    @property
    def postCallbacks(self) -> list[Any]: ...
    def __new__(
        cls,
        taster: Any,
        persistentLoad: Any = None,
        invoker: Any = None,
        max_jelly_depth: int = 1000,
    ) -> Unjellier: ...
    def unjellyFull(self, obj: Any) -> Any: ...
    def unjelly(self, obj: Any) -> Any: ...
    def unjellyInto(self, obj: Any, loc: Any, jel: Any) -> Any: ...
    def _maybePostUnjelly(self, unjellied: Any) -> Any: ...
    def _genericUnjelly(self, cls: Any, state: Any) -> Any: ...
