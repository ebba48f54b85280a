"""
pbfast: a fast, drop-in native codec for Twisted's Perspective Broker.

L{pbfast.banana} and L{pbfast.jelly} have the public API of
L{twisted.spread.banana} and L{twisted.spread.jelly} and produce the same
bytes and s-expressions, natively. L{dumps} goes from objects straight to
Banana bytes; L{loads} back, secure by default (both are native functions:
see their docstrings for the keyword options).
"""

from __future__ import annotations

from typing import IO, Any

# The modules are imported here so that `import pbfast` is enough to use
# them (and so that the native functions find pbfast.banana's limits).
from pbfast import _native, banana, jelly
from pbfast._native import dumps, loads

__version__: str = _native.__version__

__all__ = ["__version__", "banana", "dump", "dumps", "jelly", "load", "loads"]


def dump(obj: Any, file: IO[bytes], **options: Any) -> None:
    """Write L{dumps}C{(obj, **options)} to C{file}."""
    file.write(dumps(obj, **options))


def load(file: IO[bytes], **options: Any) -> Any:
    """L{loads} of everything C{file} holds."""
    return loads(file.read(), **options)
