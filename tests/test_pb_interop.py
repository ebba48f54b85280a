"""
Interop over real loopback TCP: a pbfast broker against stock Twisted's, in
each direction (and pbfast against itself, and Twisted against itself as the
control that the expectations are Twisted's). Stock Twisted here is
C{twisted.spread.pb} unpatched: its brokers use Twisted's own pure-Python
codec.

Every behaviour of the broker is crossed: calls and answers, remote errors
with their tracebacks, Referenceables passed both ways and called back,
Copyable state with differing sender and receiver classes, Cacheable with
observers and C{stoppedObserving}, Viewable, cred login, disconnect
notification, reference counting and decref.
"""

from __future__ import annotations

import datetime
import decimal
import gc
from typing import Any

from twisted.cred import credentials, error
from twisted.internet import defer
from twisted.trial import unittest

import pbfast.pb
from pb_connection import Connection, remoteFailure
from pb_objects import (
    Callback,
    DuckPondCache,
    Failing,
    PerspectiveCopy,
    ReceiverPond,
    Record,
    SenderPond,
    Service,
    makePortal,
)
from pbfast._twisted import pb as twisted_pb

VALUES: list[Any] = [
    0,
    -5,
    2**31,
    -(2**70),
    1.5,
    "text \u00e9",
    b"bytes",
    None,
    True,
    False,
    [1, [2, 3], []],
    (1, (2, "x")),
    {"a": 1, "b": [1, 2], 3: None},
    {1, 2, 3},
    frozenset({"x"}),
    datetime.datetime(2024, 5, 6, 7, 8, 9, 10),
    datetime.date(2024, 1, 2),
    datetime.timedelta(days=1, seconds=2),
    decimal.Decimal("-1.25"),
    Record(name="r", n=1, tags=["a", "b"]),
    [Record(i=i) for i in range(5)],
]


class _ServiceTests(Connection):
    """The tests, on a L{Service} root."""

    def setUp(self) -> Any:
        self.service = Service()
        return self.connect(self.service)

    @defer.inlineCallbacks
    def test_echo(self) -> Any:
        for value in VALUES:
            result = yield self.root.callRemote("echo", value)
            self.assertEqual(result, value)
            self.assertEqual(type(result), type(value))
        result = yield self.root.callRemote("echo", "positional", key="word", n=2)
        self.assertEqual(result, [["positional"], {"key": "word", "n": 2}])

    @defer.inlineCallbacks
    def test_sharedAndCyclic(self) -> Any:
        shared = [1, 2]
        cycle: list[Any] = ["head"]
        cycle.append(cycle)
        record = Record(x=1)
        result = yield self.root.callRemote("echo", [shared, shared, cycle, record, record])
        self.assertIs(result[0], result[1])
        self.assertIs(result[2][1], result[2])
        self.assertIs(result[3], result[4])
        self.assertEqual(result[3], record)

    @defer.inlineCallbacks
    def test_remoteErrorsCarryTheirTraceback(self) -> Any:
        for method in ("fail", "failLater"):
            (failure,) = yield remoteFailure(self.root.callRemote(method, "boom"))
            self.assertIsInstance(failure, twisted_pb.CopiedFailure)
            self.assertEqual(failure.type, b"pb_objects.Failing")
            self.assertEqual(failure.value, "boom")
            self.assertIn("Failing: boom", failure.traceback)
            if method == "fail":
                self.assertIn("in remote_fail", failure.traceback)
            self.assertTrue(failure.check(Failing))
        self.assertEqual(len(self.flushLoggedErrors(Failing)), 2)

    @defer.inlineCallbacks
    def test_pbErrorIsSentWithoutLogging(self) -> Any:
        (failure,) = yield remoteFailure(self.root.callRemote("refuse", "not today"))
        self.assertEqual(failure.value, "not today")
        self.assertEqual(failure.type, b"twisted.spread.pb.Error")

    @defer.inlineCallbacks
    def test_noSuchMethod(self) -> Any:
        (failure,) = yield remoteFailure(self.root.callRemote("nothingLikeThis"))
        self.assertTrue(failure.check(twisted_pb.NoSuchMethod))
        self.flushLoggedErrors(twisted_pb.NoSuchMethod)

    @defer.inlineCallbacks
    def test_referenceablesBothWays(self) -> Any:
        counter = yield self.root.callRemote("getCounter")
        self.assertIsInstance(counter, twisted_pb.RemoteReference)
        self.assertEqual((yield counter.callRemote("increment")), 1)
        self.assertEqual((yield counter.callRemote("increment", by=5)), 6)
        again = yield self.root.callRemote("getCounter")
        self.assertEqual(again, counter)
        callback = Callback()
        result = yield self.root.callRemote("callBack", callback, "hi")
        self.assertEqual(result, "notified 'hi'")
        self.assertEqual(callback.calls, ["hi"])
        # A reference sent back to where it came from is the object itself
        # there (so the same reference comes back).
        self.assertEqual((yield self.root.callRemote("echo", counter)), counter)

    @defer.inlineCallbacks
    def test_copyableWithDifferingClasses(self) -> Any:
        count = yield self.root.callRemote("takePond", SenderPond(3, 4))
        self.assertEqual(count, 7)
        received = self.service.received[0]
        self.assertIsInstance(received, ReceiverPond)
        self.assertEqual(received.__dict__, {"frogsAndToads": 7})
        pond = yield self.root.callRemote("makePond", 2, 5)
        self.assertIsInstance(pond, ReceiverPond)
        self.assertEqual(pond.count(), 7)

    @defer.inlineCallbacks
    def test_cacheableWithObservers(self) -> Any:
        pond = yield self.root.callRemote("getPond")
        self.assertIsInstance(pond, DuckPondCache)
        self.assertEqual(pond.cacheducks, ["one duck", "two duck"])
        self.assertEqual((yield self.root.callRemote("addDuck", "ugly duckling")), 3)
        self.assertEqual(pond.cacheducks, ["one duck", "two duck", "ugly duckling"])
        yield self.root.callRemote("removeDuck", "one duck")
        self.assertEqual(pond.cacheducks, ["two duck", "ugly duckling"])
        # The same Cacheable again is the same cache, not a new copy.
        again = yield self.root.callRemote("getPond")
        self.assertEqual(again.cacheducks, pond.cacheducks)
        self.assertEqual((yield self.root.callRemote("observers")), 1)
        # The last reference gone, the server stops observing.
        del pond, again
        gc.collect()
        self.assertEqual((yield self.root.callRemote("observers")), 0)
        self.assertEqual(len(self.service.pond.stopped), 1)

    @defer.inlineCallbacks
    def test_decrefFreesLocalObjects(self) -> Any:
        before = yield self.root.callRemote("localObjects")
        counter = yield self.root.callRemote("getCounter")
        self.assertEqual((yield self.root.callRemote("localObjects")), before + 1)
        del counter
        gc.collect()
        self.assertEqual((yield self.root.callRemote("localObjects")), before)

    @defer.inlineCallbacks
    def test_notifyOnDisconnect(self) -> Any:
        counter = yield self.root.callRemote("getCounter")
        notified: defer.Deferred[Any] = defer.Deferred()
        counter.notifyOnDisconnect(notified.callback)
        dropped: list[Any] = []
        counter.notifyOnDisconnect(dropped.append)
        counter.dontNotifyOnDisconnect(dropped.append)
        self.serverBrokers[0].transport.loseConnection()
        self.assertIs((yield notified), counter)
        self.assertEqual(dropped, [])
        with self.assertRaises(twisted_pb.DeadReferenceError):
            counter.callRemote("increment")


class _LoginTests(Connection):
    """Cred login through a Portal, avatars, Viewables."""

    def setUp(self) -> Any:
        self.portal, self.realm = makePortal()
        self.service = None
        return self.connect(self.portal)

    @defer.inlineCallbacks
    def test_loginAndPerspective(self) -> Any:
        avatar = yield self.clientFactory.login(credentials.UsernamePassword(b"alice", b"secret"))
        self.assertEqual((yield avatar.callRemote("hello", "hi")), "alice says hi")
        copy = yield avatar.callRemote("copyForMe")
        self.assertIsInstance(copy, PerspectiveCopy)
        self.assertEqual(copy.seenBy, "alice")

    @defer.inlineCallbacks
    def test_viewableGetsThePerspective(self) -> Any:
        avatar = yield self.clientFactory.login(credentials.UsernamePassword(b"alice", b"secret"))
        gallery = yield avatar.callRemote("gallery")
        self.assertEqual((yield gallery.callRemote("whoAmI", "hello")), "hello, alice")

    @defer.inlineCallbacks
    def test_badPasswordIsRefused(self) -> Any:
        login = self.clientFactory.login(credentials.UsernamePassword(b"alice", b"wrong"))
        (failure,) = yield remoteFailure(login)
        self.assertTrue(failure.check(error.UnauthorizedLogin))
        self.flushLoggedErrors(error.UnauthorizedLogin)

    @defer.inlineCallbacks
    def test_logoutOnDisconnect(self) -> Any:
        yield self.clientFactory.login(credentials.UsernamePassword(b"alice", b"secret"))
        yield self.disconnect()
        self.assertEqual(self.realm.loggedOut, ["alice"])


def _matrix(base: type) -> dict[str, type]:
    cases = {
        "PbfastServerTwistedClient": (pbfast.pb, twisted_pb),
        "TwistedServerPbfastClient": (twisted_pb, pbfast.pb),
        "PbfastBoth": (pbfast.pb, pbfast.pb),
        "TwistedBoth": (twisted_pb, twisted_pb),
    }
    return {
        f"{base.__name__.strip('_')}{name}": type(
            f"{base.__name__.strip('_')}{name}",
            (base, unittest.TestCase),
            {"serverPB": server, "clientPB": client},
        )
        for name, (server, client) in cases.items()
    }


globals().update(_matrix(_ServiceTests))
globals().update(_matrix(_LoginTests))
