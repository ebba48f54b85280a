"""
pbfast: a fast, drop-in native codec for Twisted's Perspective Broker.

L{pbfast.banana} and L{pbfast.jelly} have the public API of
L{twisted.spread.banana} and L{twisted.spread.jelly} and produce the same
bytes and s-expressions, natively. L{dumps} goes from objects straight to
Banana bytes; L{loads} back, secure by default.
"""

from __future__ import annotations

from typing import IO, Any

from pbfast import _native, banana, jelly

__version__: str = _native.__version__

__all__ = ["__version__", "dump", "dumps", "load", "loads"]

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


def loads(
    data: bytes | bytearray | memoryview,
    *,
    taster: Any = jelly.globalSecurity,
    persistentLoad: Any = None,
    invoker: Any = None,
) -> Any:
    """
    The object that Banana bytes C{data} (one expression, dialect C{none})
    jelly: C{jelly.unjelly(banana.decode(data), taster=jelly.globalSecurity)}.

    Secure by default: C{jelly.globalSecurity} allows the basic types and the
    classes registered with C{setUnjellyableForClass}, nothing else; allowing
    more must be asked for (another taster, or C{jelly.DummySecurityOptions()}
    for everything). Any input ends in an object, L{banana.BananaError}
    (malformed, truncated or over-limit bytes, trailing bytes) or
    L{jelly.InsecureJelly} (a refused type, or an expression that does not
    make a valid object); nothing is kept between calls.
    """
    try:
        return _native.loads(
            data,
            taster,
            persistentLoad,
            invoker,
            banana._PREFIX_LIMIT,
            banana.SIZE_LIMIT,
            banana.MAX_DEPTH,
            banana.MAX_MESSAGE_SIZE,
        )
    except (banana.BananaError, jelly.InsecureJelly):
        raise
    except Exception as error:
        # A value's own constructor refusing its fields (a date out of range,
        # a bad decimal, undecodable UTF-8) or a hook refusing its state: for
        # bytes from elsewhere, that is one more kind of bad input.
        raise jelly.InsecureJelly(f"malformed jelly expression: {error!r}") from error


def dump(obj: Any, file: IO[bytes], **options: Any) -> None:
    """Write L{dumps}C{(obj, **options)} to C{file}."""
    file.write(dumps(obj, **options))


def load(file: IO[bytes], **options: Any) -> Any:
    """L{loads} of everything C{file} holds."""
    return loads(file.read(), **options)
