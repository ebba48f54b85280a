"""
pbfast: a fast, drop-in native codec for Twisted's Perspective Broker.

L{pbfast.banana} and L{pbfast.jelly} have the public API of
L{twisted.spread.banana} and L{twisted.spread.jelly} and produce the same
bytes and s-expressions, natively. L{dumps} goes from objects straight to
Banana bytes.
"""

from __future__ import annotations

from typing import Any

from pbfast import _native, banana, jelly

__version__: str = _native.__version__

__all__ = ["__version__", "dumps"]

_PERMISSIVE = jelly.DummySecurityOptions()


def dumps(
    obj: Any,
    *,
    taster: Any = _PERMISSIVE,
    persistentStore: Any = None,
    invoker: Any = None,
) -> bytes:
    """
    Serialize C{obj} to Banana bytes with jelly's semantics, in one native
    pass and without the s-expression in between: the result equals
    C{banana.encode(jelly.jelly(obj, taster, persistentStore, invoker))},
    byte for byte (dialect C{none}, the module-level limits).

    The taster, as for L{jelly.jelly}, decides what may be sent; the default
    allows everything, as jelly's does. Hooks (C{jellyFor}, persistent
    stores) are called as jelly calls them; only objects that have one pay for
    the Python call.
    """
    return _native.dumps(
        obj,
        taster,
        persistentStore,
        invoker,
        None,
        banana._PREFIX_LIMIT,
        banana.SIZE_LIMIT,
        banana.MAX_DEPTH,
    )
