"""
Interop over real loopback TCP for families of PB classes: Copyables and
RemoteCopies at the top level, nested one and two deep in a class, and local
to a function; the Copyable hooks on the class and on the instance; state
shared between Copyables, and cycles through a hook's state; RemoteCopy's
C{unjellyFor} and C{postUnjelly}; Cacheables and Referenceables of every
placement; and the errors a remote method or a receiving hook raises.

Every test runs in every pairing: pbfast serving a stock Twisted client,
stock Twisted serving a pbfast client, pbfast against itself, stock Twisted
against itself (the control: every expectation here is what two stock
Twisted brokers do), and stock Twisted at both ends after
L{pbfast.install}. The expectations are the same in every pairing, except in
L{_CodecLimitTests}, which are where pbfast deliberately differs.

Twisted's type tag for a Copyable is C{reflect.qual(cls)}, C{__module__} and
C{__name__} (not C{__qualname__}): a nested or local class travels as
C{pb_families.<name>}, and the receiver registers its RemoteCopy under that
name. The tests register what they need and remove it again.
"""

from __future__ import annotations

import gc
from typing import Any

from twisted.internet import defer
from twisted.persisted import crefutil
from twisted.python import reflect
from twisted.python.failure import Failure
from twisted.trial import unittest

import pbfast
import pbfast.pb
from pb_connection import Connection, remoteFailure, runsNatively
from pb_families import (
    POSTED,
    Account,
    BadPostUnjelly,
    BadState,
    BadUnjellyFor,
    ClassStateForHook,
    ClassStateHook,
    ClassTypeForHook,
    ClassTypeHook,
    Denied,
    DenyingState,
    FamilyRoot,
    Follower,
    KeepsState,
    Observed,
    Outer,
    Plain,
    Posted,
    Receiver,
    Refusal,
    RefusalState,
    Refused,
    RefusingState,
    SelfInState,
    Sender,
    SharedState,
    Swapped,
    TopCacheable,
    TopCallback,
    TopFollower,
    ViaUnjellyFor,
    makeLocal,
    makeLocalCache,
    makeLocalCallback,
    makeLocalSender,
    unencodable,
)
from pbfast._twisted import banana as twisted_banana
from pbfast._twisted import jelly as twisted_jelly
from pbfast._twisted import pb as twisted_pb

BananaError = twisted_banana.BananaError


class _Families(Connection):
    """
    A L{FamilyRoot} served and one client connected, in the pairing the
    subclass names (C{installs}: L{pbfast.install} first); helpers that
    register classes for the test only.
    """

    installs = False
    # Each test takes milliseconds: a call that is never answered fails the
    # test soon (see also L{call}).
    timeout = 10

    def setUp(self) -> Any:
        if self.installs:
            pbfast.install()
            self.addCleanup(pbfast.uninstall)
        self.service = FamilyRoot()
        del POSTED[:]
        return self.connect(self.service)

    def register(self, tag: str, cls: type) -> None:
        """C{pb.setUnjellyableForClass(tag, cls)}, undone at the end of the test."""
        name = tag.encode("utf-8")
        self.assertNotIn(name, twisted_jelly.unjellyableRegistry)
        allowed = twisted_jelly.globalSecurity.allowedTypes
        hadType = name in allowed
        twisted_pb.setUnjellyableForClass(tag, cls)

        def unregister() -> None:
            del twisted_jelly.unjellyableRegistry[name]
            if not hadType:
                del allowed[name]

        self.addCleanup(unregister)

    def allowInstancesOf(self, cls: type) -> None:
        """C{globalSecurity.allowInstancesOf(cls)}, undone at the end of the test."""
        security = twisted_jelly.globalSecurity
        tables = ("allowedTypes", "allowedModules", "allowedClasses")
        before = {table: dict(getattr(security, table)) for table in tables}
        security.allowInstancesOf(cls)

        def disallow() -> None:
            for table, saved in before.items():
                entries = getattr(security, table)
                for key in [key for key in entries if key not in saved]:
                    del entries[key]

        self.addCleanup(disallow)

    def call(self, method: str, *args: Any, **kw: Any) -> defer.Deferred[Any]:
        """
        C{self.root.callRemote(method, *args, **kw)}; but if the connection
        drops with the call unanswered, fails at once (a Twisted broker that
        cannot read an answer or an error drops the connection and forgets
        the call, whose Deferred then never fires).
        """
        broker = self.root.broker
        call = self.root.callRemote(method, *args, **kw)
        done: defer.Deferred[Any] = defer.Deferred()

        def lost() -> None:
            if not done.called:
                message = f"the connection was dropped with the call {method!r} unanswered"
                done.errback(Failure(AssertionError(message)))

        def fire(result: Any) -> None:
            broker.dontNotifyOnDisconnect(lost)
            if done.called:
                return
            if isinstance(result, Failure):
                done.errback(result)
            else:
                done.callback(result)

        broker.notifyOnDisconnect(lost)
        call.addBoth(fire)
        return done

    @defer.inlineCallbacks
    def assertStillConnected(self) -> Any:
        self.assertEqual((yield self.call("ping")), "pong")

    def remoteType(self, failure: Any, name: str, value: str) -> None:
        """C{failure} is a CopiedFailure of C{name}'s error with message C{value}."""
        self.assertIsInstance(failure, twisted_pb.CopiedFailure)
        self.assertEqual(failure.type, name.encode("utf-8"))
        self.assertEqual(failure.value, value)


class _FamilyTests(_Families):
    """The families, each as a call's argument and as its answer."""

    # -- Copyables of every placement ------------------------------------------

    @defer.inlineCallbacks
    def carrySelfCopying(self, cls: type, tag: str) -> Any:
        """
        C{cls} is its own RemoteCopy, registered under C{tag}: sent, echoed
        back, and made by the server.
        """
        self.assertEqual(reflect.qual(cls), tag)
        self.register(tag, cls)
        sent = cls(name="sent", items=[1, 2])
        echoed = yield self.call("echo", sent)
        ((received,),) = self.service.received
        self.assertIs(type(received), cls)
        self.assertEqual(received.__dict__, {"name": "sent", "items": [1, 2]})
        self.assertIs(type(echoed), cls)
        self.assertEqual(echoed, sent)
        self.assertIsNot(echoed, sent)
        self.service.toGive = cls(name="given")
        given = yield self.call("give")
        self.assertIs(type(given), cls)
        self.assertEqual(given.__dict__, {"name": "given"})

    @defer.inlineCallbacks
    def carryToReceiver(self, cls: type, tag: str) -> Any:
        """C{cls} is received as a L{Receiver}, registered under C{tag}."""
        self.assertEqual(reflect.qual(cls), tag)
        self.register(tag, Receiver)
        self.assertEqual((yield self.call("take", cls(name="sent"), 2)), 2)
        ((received, two),) = self.service.received
        self.assertIs(type(received), Receiver)
        self.assertEqual(received.__dict__, {"name": "sent"})
        self.assertEqual(two, 2)
        self.service.toGive = [cls(name="given")]
        (given,) = yield self.call("give")
        self.assertIs(type(given), Receiver)
        self.assertEqual(given.__dict__, {"name": "given"})

    def test_copyableTopLevel(self) -> Any:
        return self.carrySelfCopying(Plain, "pb_families.Plain")

    def test_copyableTopLevelToReceiver(self) -> Any:
        return self.carryToReceiver(Sender, "pb_families.Sender")

    def test_copyableNested(self) -> Any:
        return self.carrySelfCopying(Outer.Nested, "pb_families.Nested")

    def test_copyableNestedToReceiver(self) -> Any:
        return self.carryToReceiver(Outer.NestedSender, "pb_families.NestedSender")

    def test_copyableNestedTwoDeep(self) -> Any:
        return self.carrySelfCopying(Outer.Middle.Deep, "pb_families.Deep")

    def test_copyableLocal(self) -> Any:
        return self.carrySelfCopying(makeLocal(), "pb_families.Local")

    def test_copyableLocalToReceiver(self) -> Any:
        return self.carryToReceiver(makeLocalSender(), "pb_families.LocalSender")

    @defer.inlineCallbacks
    def test_copyablesOfEveryPlacementInOneCall(self) -> Any:
        local = makeLocal()
        classes = [Plain, Outer.Nested, Outer.Middle.Deep, local]
        for cls in classes:
            self.register(reflect.qual(cls), cls)
        sent = [cls(index=index) for index, cls in enumerate(classes)]
        echoed = yield self.call("echo", sent, {"deep": sent[2]})
        self.assertEqual(echoed[0], sent)
        self.assertEqual([type(each) for each in echoed[0]], classes)
        self.assertIs(echoed[1]["deep"], echoed[0][2])

    # -- Copyable hooks, on the class -------------------------------------------

    @defer.inlineCallbacks
    def carryHooked(self, make: Any, tag: str, state: dict[str, Any]) -> Any:
        """
        What C{make()} makes travels (as an argument, and as an answer) as a
        L{Receiver} registered under C{tag}, with C{state}.
        """
        self.register(tag, Receiver)
        yield self.call("take", make())
        ((received,),) = self.service.received
        self.assertIs(type(received), Receiver)
        self.assertEqual(received.__dict__, state)
        self.service.toGive = make()
        given = yield self.call("give")
        self.assertIs(type(given), Receiver)
        self.assertEqual(given.__dict__, state)

    def test_classGetStateToCopy(self) -> Any:
        return self.carryHooked(
            lambda: ClassStateHook(name="alice", password="secret"),
            "pb_families.ClassStateHook",
            {"name": "alice"},
        )

    def test_classGetStateToCopyFor(self) -> Any:
        return self.carryHooked(
            lambda: ClassStateForHook(name="alice", password="secret"),
            "pb_families.ClassStateForHook",
            {"name": "alice", "perspective": "None"},
        )

    def test_classGetTypeToCopy(self) -> Any:
        return self.carryHooked(
            lambda: ClassTypeHook(name="alice"), "families-class-type", {"name": "alice"}
        )

    def test_classGetTypeToCopyFor(self) -> Any:
        return self.carryHooked(
            lambda: ClassTypeForHook(name="alice"), "families-class-type-for", {"name": "alice"}
        )

    # -- Copyable hooks, on the instance ----------------------------------------
    #
    # Twisted calls self.getStateToCopy() (and the three others) on the
    # instance, so an instance attribute is the hook. The functions set there
    # are in the instance's __dict__ too: sending the whole __dict__ would
    # send them (and the password).

    def test_instanceGetStateToCopy(self) -> Any:
        def make() -> Account:
            account = Account(name="alice", password="secret")
            account.getStateToCopy = lambda: {"name": account.name}  # type: ignore[attr-defined]
            return account

        return self.carryHooked(make, "pb_families.Account", {"name": "alice"})

    def test_instanceGetStateToCopyFor(self) -> Any:
        def make() -> Account:
            account = Account(name="alice", password="secret")
            account.getStateToCopyFor = lambda perspective: {  # type: ignore[attr-defined]
                "name": account.name,
                "perspective": repr(perspective),
            }
            return account

        return self.carryHooked(
            make, "pb_families.Account", {"name": "alice", "perspective": "None"}
        )

    def test_instanceGetTypeToCopy(self) -> Any:
        def make() -> Account:
            account = Account(name="alice", password="secret")
            account.getTypeToCopy = lambda: b"families-instance-type"  # type: ignore[attr-defined]
            account.getStateToCopy = lambda: {"name": account.name}  # type: ignore[attr-defined]
            return account

        return self.carryHooked(make, "families-instance-type", {"name": "alice"})

    def test_instanceGetTypeToCopyFor(self) -> Any:
        def make() -> Account:
            account = Account(name="alice", password="secret")
            account.getTypeToCopyFor = lambda p: b"families-instance-type-for"  # type: ignore[attr-defined]
            account.getStateToCopyFor = lambda p: {"name": account.name}  # type: ignore[attr-defined]
            return account

        return self.carryHooked(make, "families-instance-type-for", {"name": "alice"})

    def test_instanceHookOnLocalClass(self) -> Any:
        sender = makeLocalSender()

        def make() -> Any:
            account = sender(name="alice", password="secret")
            account.getStateToCopy = lambda: {"name": account.name}
            return account

        return self.carryHooked(make, "pb_families.LocalSender", {"name": "alice"})

    # -- Shared state and cycles ------------------------------------------------

    @defer.inlineCallbacks
    def test_objectTwiceInOneCall(self) -> Any:
        self.register("pb_families.Plain", Plain)
        twice = Plain(name="twice")
        echoed = yield self.call("echo", twice, [twice])
        ((first, (second,)),) = self.service.received
        self.assertIs(first, second)
        self.assertEqual(first, twice)
        self.assertIs(echoed[0], echoed[1][0])
        self.assertEqual(echoed[0], twice)
        # The positional and keyword arguments are jellied apart: two copies.
        echoed = yield self.call("takeWithKeywords", twice, key=twice, again=twice)
        ((first,), keywords) = self.service.received[-1]
        self.assertIsNot(keywords["key"], first)
        self.assertIs(keywords["key"], keywords["again"])
        self.assertEqual(keywords["key"], twice)
        self.assertIsNot(echoed[1]["key"], echoed[0][0])
        self.assertIs(echoed[1]["key"], echoed[1]["again"])

    @defer.inlineCallbacks
    def test_stateSharedBetweenCopyables(self) -> Any:
        self.register("pb_families.Plain", Plain)
        shared = [1, {"x": 2}]
        one, two = Plain(items=shared), Plain(items=shared, more=shared[1])
        echoed = yield self.call("echo", one, two)
        ((first, second),) = self.service.received
        for a, b in [(first, second), tuple(echoed)]:
            self.assertIsNot(a, b)
            self.assertIs(a.items, b.items)
            self.assertIs(b.more, b.items[1])
            self.assertEqual(a.items, shared)

    @defer.inlineCallbacks
    def test_oneStateFromTwoHooks(self) -> Any:
        # Two objects' getStateToCopy return the same dict: the receiver gets
        # that one dict twice (KeepsState keeps it as its __dict__).
        self.register("pb_families.SharedState", KeepsState)
        state = {"items": [1, 2]}
        yield self.call("take", SharedState(state), SharedState(state))
        ((first, second),) = self.service.received
        self.service.toGive = [SharedState(state), SharedState(state)]
        given = yield self.call("give")
        for a, b in [(first, second), tuple(given)]:
            self.assertIs(type(a), KeepsState)
            self.assertIsNot(a, b)
            self.assertIs(a.__dict__, b.__dict__)
            self.assertEqual(a.__dict__, state)

    @defer.inlineCallbacks
    def test_hookStateHoldsSelf(self) -> Any:
        self.register("pb_families.SelfInState", KeepsState)
        one = SelfInState("one")
        two = SelfInState("two", peer=one)
        one.peer = two
        yield self.call("take", one, SelfInState("alone"))
        self.service.toGive = [two]
        (given,) = yield self.call("give")
        ((first, alone),) = self.service.received
        self.assertIs(alone.me, alone)
        self.assertIs(alone.inList[0], alone)
        self.assertIsNone(alone.peer)
        for received, name, peerName in [(first, "one", "two"), (given, "two", "one")]:
            self.assertIs(type(received), KeepsState)
            self.assertEqual(received.name, name)
            self.assertIs(received.me, received)
            self.assertIs(received.inList[0], received)
            self.assertIs(type(received.peer), KeepsState)
            self.assertEqual(received.peer.name, peerName)
            self.assertIs(received.peer.peer, received)
            self.assertIs(received.peer.me, received.peer)

    @defer.inlineCallbacks
    def test_hookStateHoldsSelfStockSetCopyableState(self) -> Any:
        # Twisted's quirk, kept: the stock setCopyableState copies the state
        # dict before the object it holds is complete, and the unjellier
        # resolves a reference still being made only in the containers it
        # made. So a list in the state holds the object, but the state's own
        # value is left the reference's placeholder (a crefutil._Dereference).
        self.register("pb_families.SelfInState", Receiver)
        yield self.call("take", SelfInState("alone"))
        self.service.toGive = SelfInState("given")
        given = yield self.call("give")
        ((alone,),) = self.service.received
        for received, name in [(alone, "alone"), (given, "given")]:
            self.assertIs(type(received), Receiver)
            self.assertEqual(received.name, name)
            self.assertIs(received.inList[0], received)
            self.assertIsInstance(received.me, crefutil._Dereference)

    # -- RemoteCopy hooks -------------------------------------------------------

    @defer.inlineCallbacks
    def test_unjellyForOverridden(self) -> Any:
        self.register("pb_families.ViaUnjellyFor", ViaUnjellyFor)
        echoed = yield self.call("echo", ViaUnjellyFor(name="x"))
        ((received,),) = self.service.received
        self.assertIs(type(received), ViaUnjellyFor)
        self.assertEqual(received.__dict__, {"name": "x", "tagSeen": b"pb_families.ViaUnjellyFor"})
        # Echoed with the tag it got as state: it comes back with both.
        self.assertEqual(echoed.__dict__, {"name": "x", "tagSeen": b"pb_families.ViaUnjellyFor"})

    @defer.inlineCallbacks
    def test_unjellyForAnswersAnotherObject(self) -> Any:
        self.register("pb_families.Swapped", Swapped)
        yield self.call("take", Swapped(name="sent"), [Swapped(name="listed")])
        ((received, listed),) = self.service.received
        self.assertEqual(received, ("swapped", [("name", "sent")]))
        self.assertEqual(listed, [("swapped", [("name", "listed")])])
        self.service.toGive = Swapped(name="given")
        given = yield self.call("give")
        self.assertEqual(given, ("swapped", [("name", "given")]))

    @defer.inlineCallbacks
    def test_postUnjellyRunsAfterTheWholeMessage(self) -> Any:
        self.register("pb_families.Posted", Posted)
        yield self.call("take", Posted(name="outer", child=Posted(name="inner")))
        ((received,),) = self.service.received
        self.assertEqual(POSTED, [("inner", False), ("outer", True)])
        self.assertTrue(received.posted)
        self.assertTrue(received.child.posted)
        del POSTED[:]
        self.service.toGive = Posted(name="given", child=Posted(name="its child"))
        given = yield self.call("give")
        self.assertEqual(POSTED, [("its child", False), ("given", True)])
        self.assertTrue(given.posted)

    # -- Cacheables of every placement ------------------------------------------

    @defer.inlineCallbacks
    def followCache(self, cacheable: type, follower: type, tag: str) -> Any:
        """
        A C{cacheable} the server gives, followed by a C{follower}
        (registered under C{tag}) as it changes, until it is let go; then one
        the client sends.
        """
        self.assertTrue(issubclass(cacheable, Observed))
        self.assertTrue(issubclass(follower, Follower))
        self.assertEqual(reflect.qual(cacheable), tag)
        self.register(tag, follower)
        served = cacheable(["a"])
        self.service.toGive = served
        cache = yield self.call("give")
        self.assertIs(type(cache), follower)
        self.assertEqual(cache.items, ["a"])
        self.assertEqual(cache.perspective, "None")
        self.assertEqual((yield served.add("b")), [2])
        self.assertEqual(cache.items, ["a", "b"])
        again = yield self.call("give")
        self.assertIs(type(again), follower)
        self.assertIs(again.items, cache.items)
        self.assertEqual(len(served.observers), 1)
        del cache, again
        gc.collect()
        yield self.assertStillConnected()
        self.assertEqual(served.observers, [])
        self.assertEqual(len(served.stopped), 1)
        # The other way: the client's cacheable, followed by the server.
        sent = cacheable(["x"])
        yield self.call("take", sent)
        ((received,),) = self.service.received
        self.assertIs(type(received), follower)
        self.assertEqual(received.items, ["x"])
        self.assertEqual((yield sent.add("y")), [2])
        self.assertEqual(received.items, ["x", "y"])
        del received
        self.service.received.clear()
        gc.collect()
        yield self.assertStillConnected()

    def test_cacheableTopLevel(self) -> Any:
        return self.followCache(TopCacheable, TopFollower, "pb_families.TopCacheable")

    def test_cacheableNested(self) -> Any:
        return self.followCache(
            Outer.NestedCacheable, Outer.NestedFollower, "pb_families.NestedCacheable"
        )

    def test_cacheableNestedTwoDeep(self) -> Any:
        return self.followCache(
            Outer.Middle.DeepCacheable, Outer.Middle.DeepFollower, "pb_families.DeepCacheable"
        )

    def test_cacheableLocal(self) -> Any:
        cacheable, follower = makeLocalCache()
        return self.followCache(cacheable, follower, "pb_families.LocalCacheable")

    # -- Referenceables of every placement --------------------------------------

    @defer.inlineCallbacks
    def callBothWays(self, cls: type, said: str) -> Any:
        callback = cls()
        result = yield self.call("callBack", callback, "hi")
        self.assertEqual(result, f"{said} notified 'hi'")
        self.assertEqual(callback.calls, ["hi"])
        self.service.toGive = cls()
        reference = yield self.call("give")
        self.assertIsInstance(reference, twisted_pb.RemoteReference)
        self.assertEqual((yield reference.callRemote("notify", 1)), f"{said} notified 1")
        self.assertEqual(self.service.toGive.calls, [1])
        # Sent back where it came from, it is the object itself there.
        self.assertEqual((yield self.call("echo", reference)), reference)
        self.assertIs(self.service.received[-1][0], self.service.toGive)

    def test_referenceableTopLevel(self) -> Any:
        return self.callBothWays(TopCallback, "top")

    def test_referenceableNested(self) -> Any:
        return self.callBothWays(Outer.NestedCallback, "nested")

    def test_referenceableLocal(self) -> Any:
        return self.callBothWays(makeLocalCallback(), "local")

    # -- Errors a remote method raises ------------------------------------------
    #
    # What the receiving broker logged as errors is taken first (a failed
    # assertion then leaves no logged error to fail the test a second time).

    @defer.inlineCallbacks
    def failed(self, method: str, *args: Any) -> Any:
        """The failure that calling C{method} ends in; the errors logged meanwhile."""
        (failure,) = yield remoteFailure(self.call(method, *args))
        return (failure, [type(logged.value) for logged in self.flushLoggedErrors()])

    @defer.inlineCallbacks
    def test_remoteMethodRaisesValueError(self) -> Any:
        failure, logged = yield self.failed("raise", "ValueError", "boom")
        self.remoteType(failure, "builtins.ValueError", "boom")
        self.assertTrue(failure.check(ValueError))
        self.assertEqual(logged, [ValueError])
        yield self.assertStillConnected()

    @defer.inlineCallbacks
    def test_remoteMethodRaisesPbError(self) -> Any:
        failure, logged = yield self.failed("raise", "Refusal", "no")
        self.remoteType(failure, "pb_families.Refusal", "no")
        self.assertTrue(failure.check(Refusal))
        self.assertEqual(logged, [])
        yield self.assertStillConnected()

    @defer.inlineCallbacks
    def test_remoteMethodRaisesCopyablePbError(self) -> Any:
        # A Jellyable pb.Error is sent itself: the errback gets a copy of it.
        self.register("pb_families.Refused", Refused)
        failure, logged = yield self.failed("raise", "Refused", "no")
        self.assertIs(failure.type, Refused)
        self.assertEqual(failure.value.reason, "no")
        self.assertTrue(failure.check(Refused))
        self.assertEqual(logged, [])
        yield self.assertStillConnected()

    @defer.inlineCallbacks
    def test_remoteMethodRaisesAllowedPbError(self) -> Any:
        # A pb.Error whose class the security allows is sent itself too.
        self.allowInstancesOf(Denied)
        failure, logged = yield self.failed("raise", "Denied", "no")
        self.assertIs(failure.type, Denied)
        self.assertEqual(failure.value.reason, "no")
        self.assertEqual(logged, [])
        yield self.assertStillConnected()

    # -- Errors a receiving hook raises while the arguments are unserialized ----
    #
    # The remote method is not called; the caller's errback gets the
    # application's own error, as the receiving broker caught it: a
    # CopiedFailure of builtins.ValueError, logged as that ValueError; a
    # pb.Error itself if it is Jellyable or allowed, else a CopiedFailure of
    # it, not logged.

    @defer.inlineCallbacks
    def failToReceive(self, cls: type) -> Any:
        self.register(reflect.qual(cls), cls)
        failure, logged = yield self.failed("take", [cls(name="x")])
        self.assertEqual(self.service.received, [])
        return (failure, logged)

    @defer.inlineCallbacks
    def hookRaisesValueError(self, cls: type, message: str) -> Any:
        failure, logged = yield self.failToReceive(cls)
        self.remoteType(failure, "builtins.ValueError", message)
        self.assertTrue(failure.check(ValueError))
        self.assertEqual(logged, [ValueError])
        yield self.assertStillConnected()

    def test_setCopyableStateRaises(self) -> Any:
        return self.hookRaisesValueError(BadState, "bad state")

    def test_unjellyForRaises(self) -> Any:
        return self.hookRaisesValueError(BadUnjellyFor, "bad unjellyFor")

    def test_postUnjellyRaises(self) -> Any:
        return self.hookRaisesValueError(BadPostUnjelly, "bad postUnjelly")

    @defer.inlineCallbacks
    def test_setCopyableStateRaisesPbError(self) -> Any:
        # Neither Jellyable nor allowed: a CopiedFailure of it.
        failure, logged = yield self.failToReceive(RefusalState)
        self.remoteType(failure, "pb_families.Refusal", "refusal state")
        self.assertTrue(failure.check(Refusal))
        self.assertEqual(logged, [])
        yield self.assertStillConnected()

    @defer.inlineCallbacks
    def test_setCopyableStateRaisesCopyablePbError(self) -> Any:
        self.register("pb_families.Refused", Refused)
        failure, logged = yield self.failToReceive(RefusingState)
        self.assertIs(failure.type, Refused)
        self.assertEqual(failure.value.reason, "refused state")
        self.assertEqual(logged, [])
        yield self.assertStillConnected()

    @defer.inlineCallbacks
    def test_setCopyableStateRaisesAllowedPbError(self) -> Any:
        self.allowInstancesOf(Denied)
        failure, logged = yield self.failToReceive(DenyingState)
        self.assertIs(failure.type, Denied)
        self.assertEqual(failure.value.reason, "denied state")
        self.assertEqual(logged, [])
        yield self.assertStillConnected()


class _CodecLimitTests(_Families):
    """
    What the codec cannot carry: where pbfast deliberately differs from
    Twisted, and each pairing is held to what its own broker does.

    An argument that Banana cannot encode (an int beyond its 448-bit limit,
    a function -- jellied as a str, which Banana cannot send -- or bytes over
    C{SIZE_LIMIT}): Twisted's C{_sendMessage} jellies the arguments inside a
    C{try} (a jelly error there would fail the Deferred), but Banana encodes
    them only in C{sendCall}, after the call's Deferred was put in
    C{waitingForAnswers}: C{callRemote} raises C{BananaError} and that entry
    stays, to be failed with C{PBConnectionLost} when the connection goes.
    pbfast's documented improvement: the arguments are encoded in
    C{serialize}, so C{callRemote} returns a Deferred that fails with the
    encoding error, and nothing stays in C{waitingForAnswers}.

    An answer too big for Banana (or that it cannot encode): Twisted's
    C{_sendAnswer} raises from C{sendCall}, outside the C{try} of
    C{_recvMessage}, out of C{dataReceived}: the connection is dropped and
    the caller gets C{PBConnectionLost}. pbfast's documented improvement:
    the answer is encoded in C{serialize}, inside that C{try}, so the caller
    gets the error (a CopiedFailure of C{BananaError}) and the connection
    stays up.

    An answer whose receiving hook raises: Twisted's C{proto_answer} takes
    the call's Deferred out of C{waitingForAnswers} before unserializing, and
    the error escapes C{dataReceived}: the connection is dropped and the
    caller's Deferred never fires. pbfast's documented improvement: the
    caller's Deferred fails with the error (the connection is dropped all
    the same).
    """

    UNENCODABLE: tuple[tuple[Any, str], ...] = (
        (2**500, "int is too large to send"),
        (unencodable, "Banana cannot send builtins.str objects: 'pb_families.unencodable'"),
        (b"x" * (twisted_banana.SIZE_LIMIT + 1), "byte string is too long to send (655361)"),
    )

    @defer.inlineCallbacks
    def test_argumentTheCodecCannotEncode(self) -> Any:
        client = self.root.broker
        for value, message in self.UNENCODABLE:
            if runsNatively(client):
                call = self.root.callRemote("echo", value)
                self.assertIsInstance(call, defer.Deferred)
                (failure,) = yield remoteFailure(call)
                self.assertIs(failure.type, BananaError)
                self.assertTrue(str(failure.value).startswith(message), failure.value)
                self.assertEqual(client.waitingForAnswers, {})
            else:
                with self.assertRaises(BananaError) as raised:
                    self.root.callRemote("echo", value)
                self.assertTrue(str(raised.exception).startswith(message), raised.exception)
                (stale,) = client.waitingForAnswers
                self.assertFalse(client.waitingForAnswers[stale].called)
                del client.waitingForAnswers[stale]
            self.assertEqual(self.service.received, [])
            yield self.assertStillConnected()

    @defer.inlineCallbacks
    def answerTheCodecCannotEncode(self, value: Any, message: str) -> Any:
        server = self.serverBrokers[0]
        self.service.toGive = value
        lost: defer.Deferred[None] = defer.Deferred()
        self.root.broker.notifyOnDisconnect(lambda: lost.callback(None))
        (failure,) = yield remoteFailure(self.root.callRemote("give"))
        logged = [type(each.value) for each in self.flushLoggedErrors()]
        self.assertEqual(logged, [BananaError])
        if runsNatively(server):
            self.remoteType(failure, "twisted.spread.banana.BananaError", message)
            self.assertTrue(failure.check(BananaError))
            yield self.assertStillConnected()
            self.assertFalse(lost.called)
        else:
            self.assertTrue(failure.check(twisted_pb.PBConnectionLost), failure)
            yield lost

    def test_answerTooBig(self) -> Any:
        return self.answerTheCodecCannotEncode(*self.UNENCODABLE[2])

    def test_answerOfAFunction(self) -> Any:
        return self.answerTheCodecCannotEncode(*self.UNENCODABLE[1])

    @defer.inlineCallbacks
    def test_answerWhoseReceivingHookRaises(self) -> Any:
        self.register("pb_families.BadState", BadState)
        client = self.root.broker
        self.service.toGive = BadState(name="x")
        lost: defer.Deferred[None] = defer.Deferred()
        client.notifyOnDisconnect(lambda: lost.callback(None))
        outcome: list[Any] = []
        self.root.callRemote("give").addBoth(outcome.append)
        yield lost
        logged = [type(each.value) for each in self.flushLoggedErrors()]
        if runsNatively(client):
            # The call fails with the error; the connection is dropped with a
            # warning log event, not a logged error.
            (failure,) = outcome
            self.assertIsInstance(failure, Failure)
            self.assertTrue(failure.check(ValueError))
            self.assertIn("bad state", str(failure.value))
            self.assertEqual(logged, [])
        else:
            # The error escapes dataReceived (logged by the reactor), and the
            # call is never answered.
            self.assertEqual(outcome, [])
            self.assertEqual(logged, [ValueError])
            self.assertEqual(client.waitingForAnswers, {})


PAIRINGS: dict[str, tuple[Any, Any, bool]] = {
    "PbfastServerTwistedClient": (pbfast.pb, twisted_pb, False),
    "TwistedServerPbfastClient": (twisted_pb, pbfast.pb, False),
    "PbfastBoth": (pbfast.pb, pbfast.pb, False),
    "TwistedBoth": (twisted_pb, twisted_pb, False),
    "Installed": (twisted_pb, twisted_pb, True),
}


def _matrix(base: type, prefix: str) -> dict[str, type]:
    return {
        f"{prefix}{name}": type(
            f"{prefix}{name}",
            (base, unittest.TestCase),
            {"serverPB": server, "clientPB": client, "installs": installs},
        )
        for name, (server, client, installs) in PAIRINGS.items()
    }


globals().update(_matrix(_FamilyTests, "Families"))
globals().update(_matrix(_CodecLimitTests, "CodecLimits"))
