"""
Families of PB classes for L{test_pb_families}, written against
C{twisted.spread.pb} as an application would write them, in a module of their
own so that the type tags are stable.

Twisted's type tag for a L{pb.Copyable} is C{reflect.qual(cls)}: the class's
C{__module__} and C{__name__} -- not its C{__qualname__} -- so a class
nested in another one or defined in a function travels as
C{pb_families.<its name>}. Nothing here registers itself: each test registers
the receivers it needs under the name Twisted sends, and removes them again.
"""

from __future__ import annotations

from typing import Any, ClassVar

from twisted.internet import defer
from twisted.spread import pb


class Fields:
    """Keyword fields as the instance's state; equal by class and state."""

    def __init__(self, **fields: Any) -> None:
        self.__dict__.update(fields)

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.__dict__ == self.__dict__

    __hash__ = object.__hash__

    def __repr__(self) -> str:
        return f"{type(self).__qualname__}({self.__dict__!r})"


# ---------------------------------------------------------------------------
# Copyables that are their own RemoteCopy, at every depth


class Plain(Fields, pb.Copyable, pb.RemoteCopy):
    """At the module's top level: tag C{pb_families.Plain}."""


class Sender(Fields, pb.Copyable):
    """A top-level Copyable received as a L{Receiver}."""


class Receiver(Fields, pb.RemoteCopy):
    """Receives a L{Sender} (or a nested or local one) with the stock C{setCopyableState}."""


class KeepsState(Fields, pb.RemoteCopy):
    """Receives with the state object itself as its C{__dict__} (no copy)."""

    def setCopyableState(self, state: dict[Any, Any]) -> None:
        self.__dict__ = state


# ---------------------------------------------------------------------------
# Cacheables


class Observed(pb.Cacheable):
    """A Cacheable that tells its observers of each item added."""

    def __init__(self, items: list[Any]) -> None:
        self.items = items
        self.observers: list[Any] = []
        self.stopped: list[Any] = []

    def getStateToCacheAndObserveFor(self, perspective: Any, observer: Any) -> dict[str, Any]:
        self.observers.append(observer)
        return {"items": list(self.items), "perspective": repr(perspective)}

    def stoppedObserving(self, perspective: Any, observer: Any) -> None:
        self.observers.remove(observer)
        self.stopped.append(observer)

    def add(self, item: Any) -> defer.Deferred[Any]:
        """Add C{item}; fires when every observer has been told."""
        self.items.append(item)
        return defer.gatherResults(
            [observer.callRemote("add", item) for observer in self.observers]
        )


class Follower(pb.RemoteCache):
    """Follows an L{Observed}, with the stock C{setCopyableState}."""

    def observe_add(self, item: Any) -> int:
        self.items.append(item)
        return len(self.items)


class TopCacheable(Observed):
    """Top level: tag C{pb_families.TopCacheable}."""


class TopFollower(Follower):
    """Follows a L{TopCacheable}."""


class Outer:
    """Holds nested families: their tags are C{pb_families.<name>}."""

    class Nested(Fields, pb.Copyable, pb.RemoteCopy):
        """One deep: tag C{pb_families.Nested}."""

    class NestedSender(Fields, pb.Copyable):
        """One deep, received as a L{Receiver}: tag C{pb_families.NestedSender}."""

    class Middle:
        class Deep(Fields, pb.Copyable, pb.RemoteCopy):
            """Two deep: tag C{pb_families.Deep}."""

        class DeepCacheable(Observed):
            """Two deep, cached: tag C{pb_families.DeepCacheable}."""

        class DeepFollower(Follower):
            """Follows a L{DeepCacheable}."""

    class NestedCacheable(Observed):
        """One deep, cached: tag C{pb_families.NestedCacheable}."""

    class NestedFollower(Follower):
        """Follows a L{NestedCacheable}."""

    class NestedCallback(pb.Referenceable):
        """A nested Referenceable, called back."""

        def __init__(self) -> None:
            self.calls: list[Any] = []

        def remote_notify(self, value: Any) -> str:
            self.calls.append(value)
            return f"nested notified {value!r}"


def makeLocal() -> type:
    """A Copyable defined in a function: tag C{pb_families.Local}."""

    class Local(Fields, pb.Copyable, pb.RemoteCopy):
        pass

    return Local


def makeLocalSender() -> type:
    """A Copyable defined in a function, received as a L{Receiver}."""

    class LocalSender(Fields, pb.Copyable):
        pass

    return LocalSender


def makeLocalCallback() -> type:
    """A Referenceable defined in a function."""

    class LocalCallback(pb.Referenceable):
        def __init__(self) -> None:
            self.calls: list[Any] = []

        def remote_notify(self, value: Any) -> str:
            self.calls.append(value)
            return f"local notified {value!r}"

    return LocalCallback


def makeLocalCache() -> tuple[type, type]:
    """A Cacheable and its RemoteCache, defined in a function."""

    class LocalCacheable(Observed):
        pass

    class LocalFollower(Follower):
        pass

    return LocalCacheable, LocalFollower


class TopCallback(pb.Referenceable):
    """A top-level Referenceable, called back."""

    def __init__(self) -> None:
        self.calls: list[Any] = []

    def remote_notify(self, value: Any) -> str:
        self.calls.append(value)
        return f"top notified {value!r}"


# ---------------------------------------------------------------------------
# Copyable hooks


class Account(Fields, pb.Copyable):
    """Stock methods: its whole C{__dict__} travels unless a hook says otherwise."""


class ClassStateHook(Fields, pb.Copyable):
    """C{getStateToCopy} on the class: the password stays home."""

    def getStateToCopy(self) -> dict[str, Any]:
        return {key: value for key, value in self.__dict__.items() if key != "password"}


class ClassStateForHook(Fields, pb.Copyable):
    """C{getStateToCopyFor} on the class: the state names the perspective."""

    def getStateToCopyFor(self, perspective: Any) -> dict[str, Any]:
        return {"name": self.name, "perspective": repr(perspective)}


class ClassTypeHook(Fields, pb.Copyable):
    """C{getTypeToCopy} on the class: a tag of its own."""

    def getTypeToCopy(self) -> bytes:
        return b"families-class-type"


class ClassTypeForHook(Fields, pb.Copyable):
    """C{getTypeToCopyFor} on the class: a tag of its own."""

    def getTypeToCopyFor(self, perspective: Any) -> bytes:
        return b"families-class-type-for"


# ---------------------------------------------------------------------------
# Shared state and cycles


class SharedState(pb.Copyable):
    """Sends C{self.state}, which several instances may share."""

    def __init__(self, state: dict[str, Any]) -> None:
        self.state = state

    def getStateToCopy(self) -> dict[str, Any]:
        return self.state


class SelfInState(pb.Copyable):
    """Sends a state that holds the object itself (a cycle through the hook)."""

    def __init__(self, name: str, peer: Any = None) -> None:
        self.name = name
        self.peer = peer

    def getStateToCopy(self) -> dict[str, Any]:
        return {"name": self.name, "me": self, "peer": self.peer, "inList": [self]}


# ---------------------------------------------------------------------------
# RemoteCopy hooks: unjellyFor, postUnjelly


class ViaUnjellyFor(Fields, pb.Copyable, pb.RemoteCopy):
    """Receives through its own C{unjellyFor}, noting the tag it was given."""

    def unjellyFor(self, unjellier: Any, jellyList: Any) -> Any:
        result = pb.RemoteCopy.unjellyFor(self, unjellier, jellyList)
        result.tagSeen = jellyList[0]
        return result


class Swapped(Fields, pb.Copyable, pb.RemoteCopy):
    """Its C{unjellyFor} answers another object: the receiver gets that one."""

    def unjellyFor(self, unjellier: Any, jellyList: Any) -> Any:
        state = unjellier.unjelly(jellyList[1])
        return ("swapped", sorted(state.items()))


POSTED: list[Any] = []
"""What L{Posted}'s C{postUnjelly} saw, in the order it was called."""


class Posted(Fields, pb.Copyable, pb.RemoteCopy):
    """Its C{postUnjelly} runs when the whole message has been received."""

    def postUnjelly(self) -> None:
        child = self.__dict__.get("child")
        POSTED.append((self.name, child is not None and child.__dict__.get("posted", False)))
        self.posted = True


# ---------------------------------------------------------------------------
# Errors


class Refusal(pb.Error):
    """A pb.Error neither Jellyable nor allowed: travels as a CopyableFailure."""


class Refused(pb.Error, pb.Copyable, pb.RemoteCopy):
    """A pb.Error that is a Copyable (registered to itself by the tests)."""

    def __init__(self, reason: str = "") -> None:
        super().__init__(reason)
        self.reason = reason


class Denied(pb.Error):
    """A pb.Error the tests allow with C{globalSecurity.allowInstancesOf}."""

    def __init__(self, reason: str = "") -> None:
        super().__init__(reason)
        self.reason = reason


class BadState(Fields, pb.Copyable, pb.RemoteCopy):
    def setCopyableState(self, state: Any) -> None:
        raise ValueError("bad state")


class BadUnjellyFor(Fields, pb.Copyable, pb.RemoteCopy):
    def unjellyFor(self, unjellier: Any, jellyList: Any) -> Any:
        raise ValueError("bad unjellyFor")


class BadPostUnjelly(Fields, pb.Copyable, pb.RemoteCopy):
    def postUnjelly(self) -> None:
        raise ValueError("bad postUnjelly")


class RefusalState(Fields, pb.Copyable, pb.RemoteCopy):
    def setCopyableState(self, state: Any) -> None:
        raise Refusal("refusal state")


class RefusingState(Fields, pb.Copyable, pb.RemoteCopy):
    def setCopyableState(self, state: Any) -> None:
        raise Refused("refused state")


class DenyingState(Fields, pb.Copyable, pb.RemoteCopy):
    def setCopyableState(self, state: Any) -> None:
        raise Denied("denied state")


def unencodable() -> None:
    """A function: jelly makes C{[b"function", <a str>]}, which Banana cannot send."""


# ---------------------------------------------------------------------------
# The root


class FamilyRoot(pb.Root):
    """The server's root: takes, echoes and gives what the tests carry."""

    errors: ClassVar[dict[str, type]] = {
        "ValueError": ValueError,
        "Refusal": Refusal,
        "Refused": Refused,
        "Denied": Denied,
    }

    def __init__(self) -> None:
        self.received: list[tuple[Any, ...]] = []
        self.toGive: Any = None

    def remote_take(self, *args: Any) -> int:
        self.received.append(args)
        return len(args)

    def remote_takeWithKeywords(self, *args: Any, **kw: Any) -> Any:
        self.received.append((args, kw))
        return [list(args), kw]

    def remote_echo(self, *args: Any) -> Any:
        self.received.append(args)
        return args[0] if len(args) == 1 else list(args)

    def remote_ping(self) -> str:
        return "pong"

    def remote_give(self) -> Any:
        return self.toGive

    def remote_callBack(self, callback: Any, value: Any) -> defer.Deferred[Any]:
        return callback.callRemote("notify", value)

    def remote_raise(self, name: str, message: str) -> None:
        raise self.errors[name](message)
