"""
Errors and panics cross from the native module into Python as they should,
whichever way the module was built (the CI runs this on the portable
manylinux2014 wheels, linked by zig): a hook raising deep inside C{loads}
(on a small thread stack too), a Rust panic (PyO3's C{PanicException}),
one raised by a hook deep inside C{loads}, and an allocation the system
refuses (a C{MemoryError}, not an abort).
"""

from __future__ import annotations

import subprocess
import sys
import threading
from typing import Any

import pytest

import pbfast
from pbfast import _native, jelly, pb

DEPTH = 800


class Deep(pb.Copyable):
    def __init__(self, how: str) -> None:
        self.how = how


class DeepCopy(pb.RemoteCopy):
    # Without an invoker (pbfast.loads), a RemoteCopy's state is set as
    # jelly sets an instance's: through __setstate__.
    def __setstate__(self, state: dict[str, Any]) -> None:
        if state["how"] == "raise":
            raise ValueError("raised deep inside")
        _native.panic_for_tests("panicked deep inside")


pb.setUnjellyableForClass(Deep, DeepCopy)


def nested(how: str) -> bytes:
    """A L{Deep} inside lists L{DEPTH} deep, dumped."""
    value: Any = Deep(how)
    for _ in range(DEPTH):
        value = [value]
    return pbfast.dumps(value, maxDepth=DEPTH + 10)


def load(data: bytes) -> Any:
    taster = jelly.SecurityOptions()
    taster.allowInstancesOf(DeepCopy)
    return pbfast.loads(data, taster=taster, maxDepth=DEPTH + 10)


def on_small_stack(call: Any) -> BaseException | None:
    """What C{call()} raises on a thread with a 256 KiB stack."""
    raised: list[BaseException | None] = [None]

    def run() -> None:
        try:
            call()
        except BaseException as error:
            raised[0] = error

    previous = threading.stack_size(256 * 1024)
    try:
        thread = threading.Thread(target=run)
        thread.start()
        thread.join()
    finally:
        threading.stack_size(previous)
    return raised[0]


def test_a_hook_raising_deep_inside_loads() -> None:
    data = nested("raise")
    with pytest.raises(ValueError, match="raised deep inside"):
        load(data)
    error = on_small_stack(lambda: load(data))
    assert isinstance(error, ValueError) and "raised deep inside" in str(error)


def test_a_panic_reaches_python() -> None:
    with pytest.raises(BaseException) as raised:
        _native.panic_for_tests("a panic")
    assert type(raised.value).__name__ == "PanicException"
    assert "a panic" in str(raised.value)


def test_a_panic_in_a_hook_deep_inside_loads() -> None:
    data = nested("panic")
    with pytest.raises(BaseException) as raised:
        load(data)
    assert type(raised.value).__name__ == "PanicException"
    error = on_small_stack(lambda: load(data))
    assert type(error).__name__ == "PanicException", error
    # And the module goes on working.
    assert pbfast.loads(pbfast.dumps([1, "two"])) == [1, "two"]


def test_a_refused_allocation_is_a_memory_error() -> None:
    code = """
import resource
from pbfast import _native
decoder = _native.Decoder({})
decoder.feed(b"\\x01\\x81")
chunk = b"\\x01" * (300 << 20)
size = int(open("/proc/self/status").read().split("VmSize:")[1].split()[0]) * 1024
resource.setrlimit(resource.RLIMIT_AS, (size + (700 << 20),) * 2)
try:
    for _ in range(3):
        decoder.feed(chunk)
    print("fed")
except MemoryError as error:
    print("MemoryError", error)
"""
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.startswith("MemoryError"), completed.stdout
