"""
A broker facing bad peers and heavy load, over loopback TCP: a peer that
sends garbage, over-limit messages or disallowed objects is dropped with one
log event saying why, while the other connections are served; limits are per
broker and set on the factory; a connection lost mid-message leaves nothing
behind; fifty clients calling at once each get their own answers.
"""

from __future__ import annotations

import gc
import os
import weakref
from typing import Any

from twisted.internet import defer, protocol, reactor, task
from twisted.logger import LogLevel, formatEvent, globalLogPublisher
from twisted.trial import unittest

from pb_connection import Connection, remoteFailure
from pb_objects import Failing, Record, Service
from pbfast import banana, jelly
from pbfast import pb as fast_pb
from pbfast._twisted import pb as twisted_pb


class RawPeer(protocol.Protocol):
    """A peer that picks the dialect, then sends what it is told, and notes when it is dropped."""

    def __init__(self, send: bytes) -> None:
        self.send = send
        self.received = b""
        self.lost: defer.Deferred[None] = defer.Deferred()

    def dataReceived(self, data: bytes) -> None:
        if not self.received:
            self.transport.write(banana.encode(b"pb") + self.send)
        self.received += data

    def connectionLost(self, reason: Any) -> None:
        self.lost.callback(None)


def residentMemory() -> int:
    """This process's resident memory, in bytes."""
    with open(f"/proc/{os.getpid()}/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class Observed:
    """Collects the brokers' log events (namespace C{pbfast.pb}) in C{self.events}."""

    events: list[dict[str, Any]]
    addCleanup: Any

    def observeEvents(self) -> None:
        self.events = []

        def observe(event: dict[str, Any]) -> None:
            if event.get("log_namespace") == "pbfast.pb":
                self.events.append(event)

        globalLogPublisher.addObserver(observe)
        self.addCleanup(globalLogPublisher.removeObserver, observe)

    def eventsWith(self, **fields: Any) -> list[dict[str, Any]]:
        """The events that have C{fields}, their text checked to name its reason."""
        found = [
            event
            for event in self.events
            if all(event.get(name) == value for name, value in fields.items())
        ]
        for event in found:
            assert str(event["reason"]) in formatEvent(event), event
        return found


class BadPeers(Observed, Connection, unittest.TestCase):
    serverPB = fast_pb
    clientPB = fast_pb

    def setUp(self) -> Any:
        self.observeEvents()
        self.service = Service()
        return self.connect(self.service, maxMessageSize=65536)

    @defer.inlineCallbacks
    def rawPeer(self, send: bytes) -> Any:
        peer = RawPeer(send)
        creator = protocol.ClientCreator(reactor, lambda: peer)
        yield creator.connectTCP("127.0.0.1", self.port.getHost().port)
        yield peer.lost
        return peer

    @defer.inlineCallbacks
    def assertDroppedFor(self, send: bytes, errorType: str, **fields: Any) -> Any:
        before = len(self.events)
        yield self.rawPeer(send)
        (event,) = self.events[before:]
        self.assertEqual(event["errorType"], errorType)
        for name, value in fields.items():
            self.assertEqual(event[name], value)
        self.assertIn(str(event["reason"]), formatEvent(event))
        self.assertEqual(event["log_level"], LogLevel.warn)
        self.assertEqual(event["peer"].host, "127.0.0.1")
        # The connection made before is served as ever.
        self.assertEqual((yield self.root.callRemote("echo", [1, "x"])), [1, "x"])

    def test_garbage(self) -> Any:
        return self.assertDroppedFor(
            b"\x01\x80\x05\x99", "pbfast._errors.InvalidTypeByte", offset=6, limit=None
        )

    def test_overLimitMessage(self) -> Any:
        message = banana.encode([b"message", 1, b"root", b"echo", 1, b"x" * 70_000, []])
        return self.assertDroppedFor(
            message, "twisted.spread.banana.BananaError", limit=65536, offset=4
        )

    def test_deepNesting(self) -> Any:
        return self.assertDroppedFor(
            b"\x01\x80" * 20_000, "twisted.spread.banana.BananaError", limit=10_000
        )

    def test_notAMessage(self) -> Any:
        return self.assertDroppedFor(banana.encode(7), "twisted.spread.pb.ProtocolError")

    def test_answerToNoCall(self) -> Any:
        answer = banana.encode([b"answer", 99, [b"unicode", b"unasked"]])
        return self.assertDroppedFor(answer, "builtins.KeyError")

    @defer.inlineCallbacks
    def test_disallowedObjectsInAnAnswer(self) -> Any:
        # A server whose answers are os.system instances.
        class Hostile(protocol.Protocol):
            def connectionMade(self) -> None:
                self.transport.write(banana.encode([b"pb", b"none"]))

            def dataReceived(self, data: bytes) -> None:
                if b"\x1a\x87" in data:  # b"message", a vocabulary symbol
                    answer = [b"answer", 1, [b"os.system", [b"dictionary"]]]
                    self.transport.write(banana.encode(answer))

        port = reactor.listenTCP(0, protocol.Factory.forProtocol(Hostile), interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        factory = fast_pb.PBClientFactory()
        reactor.connectTCP("127.0.0.1", port.getHost().port, factory)
        root = yield factory.getRootObject()
        (failure,) = yield remoteFailure(root.callRemote("anything"))
        # The caller learns why its answer could not be read.
        self.assertTrue(failure.check(jelly.InsecureJelly))
        yield task.deferLater(reactor, 0.01, lambda: None)
        self.assertTrue(root.broker.disconnected)
        (event,) = [event for event in self.events if "os.system" in event["reason"]]
        self.assertEqual(event["errorType"], "twisted.spread.jelly.InsecureJelly")

    def test_disallowedArgumentsAreAnsweredAsTwistedDoes(self) -> Any:
        return disallowedArgumentsFailTheCall(self)


class Unregistered(fast_pb.Copyable):
    """A Copyable no RemoteCopy is registered for."""


@defer.inlineCallbacks
def disallowedArgumentsFailTheCall(case: Any) -> Any:
    # As in Twisted's "PB Copyable" document: the call fails with
    # InsecureJelly; the caller stays connected.
    (failure,) = yield remoteFailure(case.root.callRemote("echo", Unregistered()))
    case.assertTrue(failure.check(jelly.InsecureJelly))
    case.assertEqual((yield case.root.callRemote("echo", 1)), 1)
    case.flushLoggedErrors(jelly.InsecureJelly)


class TwistedDisallowed(Connection, unittest.TestCase):
    """Twisted's broker, the same way."""

    serverPB = twisted_pb
    clientPB = twisted_pb

    def setUp(self) -> Any:
        return self.connect(Service())

    def test_disallowedArgumentsAreAnsweredAsTwistedDoes(self) -> Any:
        return disallowedArgumentsFailTheCall(self)


class Limits(Observed, Connection, unittest.TestCase):
    serverPB = fast_pb
    clientPB = fast_pb

    def setUp(self) -> None:
        self.observeEvents()

    def test_factorySettingsReachEveryBroker(self) -> Any:
        factory = fast_pb.PBServerFactory(
            Service(), maxBrokerRefs=5, maxCachedObjects=6, maxMessageSize=7, maxDepth=8
        )
        broker = factory.buildProtocol(None)
        self.assertEqual(
            (broker.maxBrokerRefs, broker.maxCachedObjects, broker.maxMessageSize, broker.maxDepth),
            (5, 6, 7, 8),
        )
        other = fast_pb.PBServerFactory(Service()).buildProtocol(None)
        self.assertEqual(other.maxBrokerRefs, fast_pb.MAX_BROKER_REFS)
        self.assertEqual(other.maxCachedObjects, fast_pb.MAX_CACHED_OBJECTS)
        self.assertEqual(other.maxMessageSize, banana.MAX_MESSAGE_SIZE)

    @defer.inlineCallbacks
    def test_cachedObjectsLimit(self) -> Any:
        yield self.connect(Service())
        self.root.broker.maxCachedObjects = 2
        held = []
        for _ in range(2):
            held.append((yield self.root.callRemote("newPond")))
        (failure,) = yield remoteFailure(self.root.callRemote("newPond"))
        self.assertTrue(failure.check(jelly.InsecureJelly))
        self.assertIn("more than 2 objects", failure.getErrorMessage())
        # Read in an answer, it drops the connection.
        yield task.deferLater(reactor, 0.01, lambda: None)
        self.assertTrue(self.root.broker.disconnected)
        self.assertEqual(len(held), 2)
        (hit,) = self.eventsWith(what="cached object")
        self.assertEqual((hit["limit"], hit["log_level"]), (2, LogLevel.warn))
        self.assertEqual(hit["peer"], self.root.broker.transport.getPeer())
        # Then the answer that could not be read dropped the connection.
        (dropped,) = self.eventsWith(errorType="twisted.spread.jelly.InsecureJelly")
        self.assertIn("more than 2 objects", dropped["reason"])

    @defer.inlineCallbacks
    def test_brokerRefsLimit(self) -> Any:
        yield self.connect(Service())
        server = self.serverBrokers[0]
        server.maxBrokerRefs = 2
        # Held: a reference dropped is released at once.
        held = []
        for _ in range(2):
            held.append((yield self.root.callRemote("newCounter")))
        refusals = []
        for _ in range(4):
            (failure,) = yield remoteFailure(self.root.callRemote("newCounter"))
            refusals.append(failure.getErrorMessage())
        self.assertEqual(refusals[-1], "Maximum PB reference count exceeded.  Goodbye.")
        hits = self.eventsWith(what="reference", limit=2)
        self.assertEqual([hit["violations"] for hit in hits], [1, 2, 3, 4])
        self.assertIn("dropping the connection", formatEvent(hits[-1]))
        self.assertEqual(hits[0]["peer"], server.transport.getPeer())
        self.assertEqual(len(held), 2)
        self.flushLoggedErrors(fast_pb.Error)


class RemoteErrors(Observed, Connection, unittest.TestCase):
    """A call answered with an error is one log event, with its request id and why."""

    serverPB = fast_pb
    clientPB = fast_pb

    def setUp(self) -> Any:
        self.observeEvents()
        return self.connect(Service())

    @defer.inlineCallbacks
    def test_errorsAnswered(self) -> Any:
        for method, level, errorType in [
            # pb.Error is how a remote method answers with an error: info.
            ("refuse", LogLevel.info, "twisted.spread.pb.Error"),
            ("fail", LogLevel.warn, "pb_objects.Failing"),
            ("failLater", LogLevel.warn, "pb_objects.Failing"),
        ]:
            before = len(self.events)
            yield remoteFailure(self.root.callRemote(method, f"why {method}"))
            (event,) = self.events[before:]
            self.assertEqual(
                (event["log_level"], event["errorType"], event["reason"]),
                (level, errorType, f"why {method}"),
            )
            self.assertEqual(event["peer"], self.serverBrokers[0].transport.getPeer())
            self.assertIn(f"call {event['requestID']} of", formatEvent(event))
        self.flushLoggedErrors(Failing)


class Cleanup(Connection, unittest.TestCase):
    """A connection lost mid-message leaves nothing behind."""

    serverPB = fast_pb
    clientPB = fast_pb

    @defer.inlineCallbacks
    def test_connectionLostMidMessage(self) -> Any:
        service = Service()
        yield self.connect(service)
        server = self.serverBrokers[0]
        counter = yield self.root.callRemote("newCounter")
        pond = yield self.root.callRemote("getPond")
        never = self.root.callRemote("never")
        yield task.deferLater(reactor, 0.01, lambda: None)
        registered = [weakref.ref(local.object) for local in server.localObjects.values()]
        self.assertEqual(len(service.pond.observers), 1)
        # Half a message, then the connection goes.
        whole = banana.encode([b"message", 5, b"root", b"echo", 1, [b"list"], [b"dictionary"]])
        self.root.broker.transport.write(whole[: len(whole) // 2])
        yield task.deferLater(reactor, 0.01, lambda: None)
        lost = self.root.broker.transport
        yield self.disconnect()
        del lost
        (failure,) = yield remoteFailure(never)
        self.assertTrue(failure.check(fast_pb.PBConnectionLost))
        self.assertEqual(service.pond.observers, [])
        self.assertEqual(len(service.pond.stopped), 1)
        self.assertFalse(service.pending.called)
        brokerGone = weakref.ref(server)
        # What the test's own objects hold of it: the service noted its
        # broker, the pond the observer it stopped, the call never answered
        # its answering callback.
        service.broker = None
        service.pond.stopped.clear()
        del service.pending
        del server, counter, pond
        self.serverBrokers.clear()
        gc.collect()
        self.assertIsNone(brokerGone())
        # The Counter lived only in the broker's table: gone with it.
        alive = [ref() for ref in registered if ref() is not None]
        self.assertEqual([type(obj) for obj in alive], [Service])


class Load(Connection, unittest.TestCase):
    """Fifty clients, a thousand mixed calls each, some failing remotely."""

    serverPB = fast_pb
    clientPB = fast_pb
    CLIENTS = 50
    CALLS = 1000
    IN_FLIGHT = 20

    @defer.inlineCallbacks
    def clientRun(self, root: Any, index: int) -> Any:
        done = 0
        while done < self.CALLS:
            batch = []
            for call in range(done, min(done + self.IN_FLIGHT, self.CALLS)):
                if call % 17 == 0:
                    expected = ("fail", f"{index}/{call}")
                    batch.append((expected, root.callRemote("fail", f"{index}/{call}")))
                else:
                    value = [index, call, f"client {index} call {call}", call / 3]
                    if call % 5 == 0:
                        value.append(Record(client=index, call=call))
                    if call % 7 == 0:
                        value.append({"shared": value[2], "again": value[2]})
                    batch.append((("echo", value), root.callRemote("echo", value)))
            results = yield defer.DeferredList([call for _, call in batch], consumeErrors=True)
            for ((kind, expected), _), (ok, result) in zip(batch, results, strict=True):
                if kind == "fail":
                    self.assertFalse(ok)
                    self.assertEqual(result.value, expected)
                else:
                    self.assertTrue(ok, result)
                    self.assertEqual(result, expected)
            done += len(batch)
        return done

    @defer.inlineCallbacks
    def round(self) -> Any:
        roots = []
        for _ in range(self.CLIENTS):
            roots.append((yield self.connectClient()))
        counts = yield defer.gatherResults(
            [self.clientRun(root, index) for index, root in enumerate(roots)]
        )
        self.assertEqual(counts, [self.CALLS] * self.CLIENTS)
        for factory in self.clientFactories:
            factory.disconnect()
        yield task.deferLater(reactor, 0.05, lambda: None)
        self.flushLoggedErrors()

    @defer.inlineCallbacks
    def test_manyClientsMixedCalls(self) -> Any:
        self.serve(Service())
        yield self.round()
        gc.collect()
        before = residentMemory()
        yield self.round()
        gc.collect()
        grown = residentMemory() - before
        self.assertLess(grown, 16 * 1024 * 1024, f"grew {grown} bytes over a second round")
