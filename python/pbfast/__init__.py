"""
pbfast: a fast, drop-in native codec and broker for Twisted's Perspective
Broker.

L{pbfast.banana}, L{pbfast.jelly}, L{pbfast.flavors} and L{pbfast.pb} have
the public API of Twisted's modules of the same names and produce the same
bytes and s-expressions, natively; their classes are Twisted's own (or
subclasses of them), so a class registered through either works through
both. L{install} makes Twisted's own modules use the native codec and broker
path instead, for a program that keeps importing C{twisted.spread}.
L{dumps} goes from objects straight to Banana bytes; L{loads} back, secure by
default (both are native functions: see their docstrings for the keyword
options).
"""

import typing as _typing

# Twisted's own modules are taken first, before pbfast can stand in for them.
from pbfast import _twisted  # noqa: F401  (isort: skip)
from pbfast import _native, banana, flavors, jelly, pb
from pbfast._capture import capture
from pbfast._install import install, installed, uninstall
from pbfast._native import dumps, loads

__version__: str = _native.__version__

__all__ = [
    "__version__",
    "banana",
    "capture",
    "dump",
    "dumps",
    "flavors",
    "install",
    "installed",
    "jelly",
    "load",
    "loads",
    "pb",
    "uninstall",
]


def dump(obj: _typing.Any, file: _typing.IO[bytes], **options: _typing.Any) -> None:
    """Write L{dumps}C{(obj, **options)} to C{file}."""
    file.write(dumps(obj, **options))


def load(file: _typing.IO[bytes], **options: _typing.Any) -> _typing.Any:
    """L{loads} of everything C{file} holds."""
    return loads(file.read(), **options)
