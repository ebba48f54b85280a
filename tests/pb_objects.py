"""
PB application objects for the broker tests, written against
C{twisted.spread.pb} as an application would write them, in a module of their
own so that jelly names them by a stable C{pb_objects.Class}.
"""

from __future__ import annotations

from typing import Any

from twisted.cred import checkers, portal
from twisted.internet import defer
from twisted.spread import pb
from zope.interface import implementer


class FrogPond:
    """The document's pond: frogs and toads."""

    def __init__(self, numFrogs: int, numToads: int) -> None:
        self.numFrogs = numFrogs
        self.numToads = numToads

    def count(self) -> int:
        return self.numFrogs + self.numToads


class SenderPond(FrogPond, pb.Copyable):
    """Sends a reduced state: only the total (C{getStateToCopy})."""

    def getStateToCopy(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["frogsAndToads"] = state.pop("numFrogs") + state.pop("numToads")
        return state


class ReceiverPond(pb.RemoteCopy):
    """Receives a L{SenderPond}: a different class, the total as its state."""

    def setCopyableState(self, state: dict[str, Any]) -> None:
        self.__dict__ = state

    def count(self) -> int:
        total: int = self.frogsAndToads
        return total


pb.setUnjellyableForClass(SenderPond, ReceiverPond)


class Record(pb.Copyable, pb.RemoteCopy):
    """A plain Copyable that is also its own RemoteCopy (stock methods both ways)."""

    def __init__(self, **fields: Any) -> None:
        self.__dict__.update(fields)

    def __eq__(self, other: object) -> bool:
        return type(other) is Record and other.__dict__ == self.__dict__

    def __repr__(self) -> str:
        return f"Record({self.__dict__!r})"


pb.setUnjellyableForClass(Record, Record)


class PerspectiveCopy(pb.Copyable, pb.RemoteCopy):
    """A Copyable whose state depends on the perspective it is sent to."""

    def __init__(self, secret: str) -> None:
        self.secret = secret

    def getStateToCopyFor(self, perspective: Any) -> dict[str, Any]:
        return {"seenBy": getattr(perspective, "name", None)}


pb.setUnjellyableForClass(PerspectiveCopy, PerspectiveCopy)


class DuckPond(pb.Cacheable):
    """The document's MasterDuckPond: a Cacheable that tells its observers."""

    def __init__(self, ducks: list[str]) -> None:
        self.observers: list[Any] = []
        self.ducks = ducks
        self.stopped: list[Any] = []

    def addDuck(self, duck: str) -> None:
        self.ducks.append(duck)
        for observer in self.observers:
            # The document's idiom: an observer may be gone by the answer.
            observer.callRemote("addDuck", duck).addErrback(lambda failure: None)

    def removeDuck(self, duck: str) -> None:
        self.ducks.remove(duck)
        for observer in self.observers:
            observer.callRemote("removeDuck", duck).addErrback(lambda failure: None)

    def getStateToCacheAndObserveFor(self, perspective: Any, observer: Any) -> list[str]:
        self.observers.append(observer)
        return self.ducks

    def stoppedObserving(self, perspective: Any, observer: Any) -> None:
        self.observers.remove(observer)
        self.stopped.append(observer)


class DuckPondCache(pb.RemoteCache):
    """The document's SlaveDuckPond: follows a L{DuckPond}."""

    def setCopyableState(self, state: list[str]) -> None:
        self.cacheducks = state
        self.observedBy: list[int] = []

    def observe_addDuck(self, duck: str) -> None:
        self.observedBy.append(id(self))
        self.cacheducks.append(duck)

    def observe_removeDuck(self, duck: str) -> None:
        self.observedBy.append(id(self))
        self.cacheducks.remove(duck)


pb.setUnjellyableForClass(DuckPond, DuckPondCache)


class Callback(pb.Referenceable):
    """A Referenceable a peer calls back."""

    def __init__(self) -> None:
        self.calls: list[Any] = []

    def remote_notify(self, value: Any) -> str:
        self.calls.append(value)
        return f"notified {value!r}"


class Counter(pb.Referenceable):
    """A Referenceable handed to a peer."""

    def __init__(self) -> None:
        self.value = 0

    def remote_increment(self, by: int = 1) -> int:
        self.value += by
        return self.value


class Failing(Exception):
    """An application error raised by a remote method."""


class Gallery(pb.Viewable):
    """A Viewable: its view_ methods get the caller's perspective."""

    def view_whoAmI(self, perspective: Any, greeting: str) -> str:
        return f"{greeting}, {perspective.name}"


class User(pb.Avatar):
    """An avatar reached through cred login."""

    def __init__(self, name: str) -> None:
        self.name = name

    def perspective_hello(self, text: str) -> str:
        return f"{self.name} says {text}"

    def perspective_gallery(self) -> Gallery:
        return Gallery()

    def perspective_copyForMe(self) -> PerspectiveCopy:
        return PerspectiveCopy("hidden")


@implementer(portal.IRealm)
class Realm:
    """Makes a L{User} for each login; notes logouts."""

    def __init__(self) -> None:
        self.loggedOut: list[str] = []

    def requestAvatar(self, avatarId: Any, mind: Any, *interfaces: Any) -> Any:
        assert pb.IPerspective in interfaces
        name = avatarId.decode() if isinstance(avatarId, bytes) else avatarId
        return pb.IPerspective, User(name), lambda: self.loggedOut.append(name)


def makePortal() -> tuple[portal.Portal, Realm]:
    realm = Realm()
    checker = checkers.InMemoryUsernamePasswordDatabaseDontUse(alice=b"secret")
    return portal.Portal(realm, [checker]), realm


class Service(pb.Root):
    """The root object of the test server."""

    def __init__(self) -> None:
        self.pond = DuckPond(["one duck", "two duck"])
        self.counter = Counter()
        self.received: list[Any] = []

    def remote_echo(self, *args: Any, **kwargs: Any) -> Any:
        if kwargs:
            return [list(args), kwargs]
        return args[0] if len(args) == 1 else list(args)

    def remote_fail(self, message: str) -> None:
        raise Failing(message)

    def remote_failLater(self, message: str) -> defer.Deferred[None]:
        return defer.fail(Failing(message))

    def remote_refuse(self, message: str) -> None:
        raise pb.Error(message)

    def remote_takePond(self, pond: Any) -> int:
        self.received.append(pond)
        result: int = pond.count()
        return result

    def remote_makePond(self, frogs: int, toads: int) -> SenderPond:
        return SenderPond(frogs, toads)

    def remote_getCounter(self) -> Counter:
        return self.counter

    def remote_newCounter(self) -> Counter:
        return Counter()

    def remote_newPond(self) -> DuckPond:
        return DuckPond(["a duck"])

    def remote_never(self) -> defer.Deferred[None]:
        """An answer that never comes (until the connection goes)."""
        self.pending: defer.Deferred[None] = defer.Deferred()
        return self.pending

    def remote_callBack(self, callback: Any, value: Any) -> defer.Deferred[Any]:
        return callback.callRemote("notify", value)

    def remote_getPond(self) -> DuckPond:
        return self.pond

    def remote_addDuck(self, duck: str) -> int:
        self.pond.addDuck(duck)
        return len(self.pond.ducks)

    def remote_removeDuck(self, duck: str) -> int:
        self.pond.removeDuck(duck)
        return len(self.pond.ducks)

    def remote_observers(self) -> int:
        return len(self.pond.observers)

    def remote_localObjects(self) -> int:
        return len(self.broker.localObjects)

    def rootObject(self, broker: Any) -> Service:
        self.broker = broker
        return self
