# -*- test-case-name: tests.test_pb -*-
"""
Flavors of remotely accessible objects: a drop-in for
L{twisted.spread.flavors}.

The classes users subclass -- L{Referenceable}, L{Root}, L{Viewable},
L{Copyable}, L{Cacheable}, L{RemoteCopy}, L{RemoteCache} -- are Twisted's
own, so code written against either module registers and behaves the same
with either broker. What a broker sends and receives of them is done
natively where looking a hook up on the object finds Twisted's stock method:
a L{Copyable}'s type tag and state (C{getTypeToCopyFor}, C{getStateToCopyFor}),
a L{Referenceable}'s reference, a L{RemoteCopy}'s C{setCopyableState}. A hook
the class or the instance overrides is called as Twisted calls it.

Two of Twisted's behaviours are fixed, for any broker that serializes through
pbfast's jelly:

  - L{RemoteCacheObserver}s compare and hash without comparing brokers
    (Twisted's raise C{TypeError} on Python 3 when a L{Cacheable} has
    observers on more than one broker, as the C{list.remove} of a typical
    C{stoppedObserving} does; Twisted issue 9671);
  - a L{RemoteCache}'s C{observe_*} methods are called on the object the
    application was given, not on a twin sharing its state (Twisted issue
    7274): C{self} there is the object the application holds.
"""

from __future__ import annotations

import weakref
from typing import Any

from twisted.python.compat import cmp

from pbfast import _twisted
from pbfast._twisted import flavors as _flavors
from pbfast.jelly import (
    InsecureJelly,
    Jellyable,
    Unjellyable,
    _createBlank,  # noqa: F401  (Twisted's flavors exports it)
    getInstanceState,
    setInstanceState,
    setUnjellyableFactoryForClass,
    setUnjellyableForClass,
    setUnjellyableForClassTree,
    unjellyableRegistry,
)

NoSuchMethod = _flavors.NoSuchMethod
IPBRoot = _flavors.IPBRoot
Serializable = _flavors.Serializable
Referenceable = _flavors.Referenceable
Root = _flavors.Root
ViewPoint = _flavors.ViewPoint
Viewable = _flavors.Viewable
Copyable = _flavors.Copyable
Cacheable = _flavors.Cacheable
RemoteCopy = _flavors.RemoteCopy
RemoteCache = _flavors.RemoteCache
RemoteCacheMethod = _flavors.RemoteCacheMethod
unjellyCached = _flavors.unjellyCached
unjellyLCache = _flavors.unjellyLCache
unjellyLocal = _flavors.unjellyLocal

setCopierForClass = setUnjellyableForClass
setCopierForClassTree = setUnjellyableForClassTree
setFactoryForClass = setUnjellyableFactoryForClass
copyTags = unjellyableRegistry

copy_atom = _flavors.copy_atom
cache_atom = _flavors.cache_atom
cached_atom = _flavors.cached_atom
remote_atom = _flavors.remote_atom

__all__ = [
    "Cacheable",
    "Copyable",
    "IPBRoot",
    "Jellyable",
    "NoSuchMethod",
    "Referenceable",
    "RemoteCache",
    "RemoteCacheMethod",
    "RemoteCacheObserver",
    "RemoteCopy",
    "Root",
    "Serializable",
    "Unjellyable",
    "ViewPoint",
    "Viewable",
    "cache_atom",
    "cached_atom",
    "copyTags",
    "copy_atom",
    "getInstanceState",
    "remote_atom",
    "setCopierForClass",
    "setCopierForClassTree",
    "setFactoryForClass",
    "setInstanceState",
    "setUnjellyableFactoryForClass",
    "setUnjellyableForClass",
    "setUnjellyableForClassTree",
    "unjellyCached",
    "unjellyLCache",
    "unjellyLocal",
    "unjellyableRegistry",
]


class RemoteCacheObserver(_flavors.RemoteCacheObserver):
    """
    I am a reverse-reference to the peer's L{RemoteCache}: Twisted's
    C{RemoteCacheObserver}, comparing as it means to.

    Two observers are equal when they observe the same L{Cacheable} for the
    same broker and an equal perspective -- whichever of the two classes each
    is, since a broker makes a new one to pass to C{stoppedObserving}. The
    brokers themselves are compared by identity: they have no order, and
    Twisted's comparison, which orders them, raises C{TypeError} as soon as an
    application keeps observers of two brokers (Twisted issue 9671). The hash
    is Twisted's, so equal observers of either class hash alike.
    """

    def _sameAs(self, other: _flavors.RemoteCacheObserver) -> bool:
        return (
            self.broker is other.broker
            and self.cached is other.cached
            and (self.perspective is other.perspective or self.perspective == other.perspective)
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, _flavors.RemoteCacheObserver):
            return NotImplemented
        return self._sameAs(other)

    def __ne__(self, other: object) -> bool:
        if not isinstance(other, _flavors.RemoteCacheObserver):
            return NotImplemented
        return not self._sameAs(other)

    def __cmp__(self, other: object) -> int:
        if isinstance(other, _flavors.RemoteCacheObserver) and self._sameAs(other):
            return 0
        mine = (id(self.broker), id(self.perspective), id(self.cached))
        if isinstance(other, _flavors.RemoteCacheObserver):
            return cmp(mine, (id(other.broker), id(other.perspective), id(other.cached)))
        return cmp(id(self), id(other))

    __hash__ = _flavors.RemoteCacheObserver.__hash__


def _jellyCacheable(self: Any, jellier: Any) -> Any:
    """
    Twisted's C{Cacheable.jellyFor}, giving L{getStateToCacheAndObserveFor}
    pbfast's L{RemoteCacheObserver}.
    """
    if jellier.invoker is None:
        return getInstanceState(self, jellier)
    luid = jellier.invoker.cachedRemotelyAs(self, 1)
    if luid is None:
        luid = jellier.invoker.cacheRemotely(self)
        p = jellier.invoker.serializingPerspective
        type_ = self.getTypeToCopyFor(p)
        observer = RemoteCacheObserver(jellier.invoker, self, p)
        state = self.getStateToCacheAndObserveFor(p, observer)
        sexp = jellier.prepare(self)
        jstate = jellier.jelly(state)
        sexp.extend([type_, luid, jstate])
        return jellier.preserve(self, sexp)
    return cached_atom, luid


def _handedOut(invoker: Any, luid: Any, cache: Any) -> Any:
    """
    Note C{cache} as an object the application holds for the cached object
    C{luid}, for a broker that keeps track (pbfast's): its C{observe_*}
    methods are called on such an object.
    """
    holders = getattr(invoker, "_pbfastCacheHolders", None)
    if holders is not None:
        try:
            reference = weakref.ref(cache)
        except TypeError:
            return cache
        alive = [held for held in holders.get(luid, ()) if held() is not None]
        alive.append(reference)
        holders[luid] = alive
    return cache


def _unjellyRemoteCache(self: Any, unjellier: Any, jellyList: Any) -> Any:
    """
    Twisted's C{RemoteCache.unjellyFor}, noting the copy it hands out (see
    L{_handedOut}).
    """
    if unjellier.invoker is None:
        return setInstanceState(self, unjellier, jellyList)
    self.broker = unjellier.invoker
    self.luid = jellyList[1]
    borgCopy = self._borgify()
    init = getattr(borgCopy, "__init__", None)
    if init:
        init()
    unjellier.invoker.cacheLocally(jellyList[1], self)
    borgCopy.setCopyableState(unjellier.unjelly(jellyList[2]))
    self.__dict__ = borgCopy.__dict__
    self.broker = unjellier.invoker
    self.luid = jellyList[1]
    return _handedOut(unjellier.invoker, jellyList[1], borgCopy)


def _unjellyCached(unjellier: Any, unjellyList: Any) -> Any:
    """
    Twisted's C{unjellyCached}, noting the copy it hands out (see
    L{_handedOut}).
    """
    luid = unjellyList[1]
    cache = unjellier.invoker.cachedLocallyAs(luid)._borgify()
    return _handedOut(unjellier.invoker, luid, cache)


def _unjellyRemoteReference(self: Any, unjellier: Any, unjellyList: Any) -> Any:
    """
    Twisted's C{RemoteReference.unjellyFor}, refusing a reference that comes
    without a broker to refer through (Twisted's fails on the missing
    broker, and the half-made reference then complains again as it is
    freed).
    """
    if unjellier.invoker is None:
        self.doRefCount = 0
        raise InsecureJelly("a remote reference can only be unjellied by a broker")
    return _twisted.RemoteReference_unjellyFor(self, unjellier, unjellyList)


_SUBSTITUTES: dict[Any, Any] = {
    _flavors.Cacheable.jellyFor: _jellyCacheable,
    _flavors.RemoteCache.unjellyFor: _unjellyRemoteCache,
    _flavors.unjellyCached: _unjellyCached,
    _twisted.RemoteReference_unjellyFor: _unjellyRemoteReference,
}
"""
Twisted's stock functions that pbfast's traversal replaces by its fixed
versions (the same signatures), for objects whose classes keep the stock ones.
"""
