"""
L{install} and L{uninstall}: Twisted's own C{twisted.spread} on pbfast's
native codec and broker path, for a program that keeps importing Twisted's
modules.

Patching is done on Twisted's module and class objects themselves, so it
reaches code that imported them before the call (C{from twisted.spread import
pb}, C{from twisted.spread.jelly import jelly} excepted: a name bound before
the call keeps the function it was bound to) and classes already subclassed
from Twisted's (a C{pb.Broker} subclass inherits the patched methods unless
it overrides them). What changes, exactly:

  - C{twisted.spread.banana.Banana}: C{dataReceived}, C{sendEncoded},
    C{_encode}, C{connectionMade} and the C{buffer} attribute become pbfast's
    native ones (see L{pbfast.banana._NativeCodec}), with per-instance
    C{sizeLimit}, C{maxDepth} and C{maxMessageSize} that follow
    C{twisted.spread.banana}'s globals (and pbfast's for the two Twisted does
    not have) until set;
  - C{twisted.spread.pb.Broker}: C{serialize} and C{unserialize} (native, to
    and from bytes), C{registerReference} and C{cacheRemotely} (the limit
    per broker: C{maxBrokerRefs}, following C{twisted.spread.pb.MAX_BROKER_REFS}
    until set), C{cacheLocally} (at most C{maxCachedObjects}),
    C{proto_cachemessage} and C{proto_uncache} (C{observe_*} on the
    application's own L{RemoteCache}), C{dataReceived} (a peer that sends
    what cannot be read is dropped), C{proto_answer}/C{proto_error} (an
    answer that cannot be read fails its call), C{_sendError},
    C{_sendMessage} (a plain call sent natively) and C{expressionReceived}
    (an unknown command answered with bytes), each with
    a log event where a peer is dropped, refused or answered with an error;
    the broker's received messages keep their jellied parts as bytes (see
    L{pbfast.pb._NativeBroker});
  - the functions C{twisted.spread.jelly.jelly} and C{unjelly} (also as
    C{twisted.spread.pb}'s globals) become pbfast's, and
    C{twisted.spread.banana.encode} and C{decode} native ones that follow
    Twisted's module globals;
  - C{RemoteCacheObserver} in C{twisted.spread.flavors} and
    C{twisted.spread.pb} becomes pbfast's (which compares without comparing
    brokers).

Instances made before the call are patched too (their methods are the
classes'); a connected one takes the bytes it had buffered along. Call
L{uninstall} when no connection is open: it puts every original back.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pbfast import _native, _twisted, banana, flavors, jelly
from pbfast.banana import _NativeCodec
from pbfast.pb import _NativeBroker

_MISSING = object()
_saved: list[tuple[Any, str, Any]] = []


def _encode(lst: Any) -> bytes:
    """C{twisted.spread.banana.encode}, natively, with that module's limits."""
    twisted: Any = _twisted.banana
    return _native.encode(lst, None, twisted._PREFIX_LIMIT, twisted.SIZE_LIMIT, banana.MAX_DEPTH)


def _decode(st: bytes) -> Any:
    """C{twisted.spread.banana.decode}, natively, with that module's limits."""
    twisted: Any = _twisted.banana
    return _native.decode(
        st, twisted._PREFIX_LIMIT, twisted.SIZE_LIMIT, banana.MAX_DEPTH, banana.MAX_MESSAGE_SIZE
    )


def _methodsOf(mixin: type) -> Iterator[tuple[str, Any]]:
    for name, value in vars(mixin).items():
        if not (name.startswith("__") and name.endswith("__")):
            yield name, value


def _patches() -> Iterator[tuple[Any, str, Any]]:
    """(object, attribute, new value) for everything L{install} changes."""
    for name, value in _methodsOf(_NativeCodec):
        yield _twisted.banana.Banana, name, value
    yield _twisted.banana.Banana, "_limitsModule", _twisted.banana
    for name, value in _methodsOf(_NativeBroker):
        yield _twisted.pb.Broker, name, value
    yield _twisted.pb.Broker, "_refsModule", _twisted.pb
    for module in (_twisted.jelly, _twisted.pb):
        yield module, "jelly", jelly.jelly
        yield module, "unjelly", jelly.unjelly
    yield _twisted.banana, "encode", _encode
    yield _twisted.banana, "decode", _decode
    for module in (_twisted.flavors, _twisted.pb):
        yield module, "RemoteCacheObserver", flavors.RemoteCacheObserver


def install() -> None:
    """
    Make Twisted's own C{twisted.spread} use pbfast's native codec and
    broker path, for a program written against Twisted's modules; one call at
    start-up, before or after the program imported them. See this module's
    docstring for exactly what changes. Calling it again does nothing.
    """
    if _saved:
        return
    for target, name, value in _patches():
        _saved.append((target, name, target.__dict__.get(name, _MISSING)))
        setattr(target, name, value)


def uninstall() -> None:
    """Undo L{install}: every patched attribute gets its original back."""
    while _saved:
        target, name, original = _saved.pop()
        if original is _MISSING:
            delattr(target, name)
        else:
            setattr(target, name, original)


def installed() -> bool:
    """True between L{install} and L{uninstall}."""
    return bool(_saved)
