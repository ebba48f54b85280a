"""
What pbfast's broker writes natively (rust/broker/outgoing.rs): while a
receiving loop runs, held and handed to the transport in one piece when the
loop ends; the last message's write sent on an idle TCP socket at once,
where Twisted's transport would keep it for the reactor's next turn;
everywhere else, and for every part the socket does not take, written as
Twisted writes it.

What is checked: which writes go out at once (the last message of what was
received, nothing else), that the bytes and their order are what Twisted's
broker sends (Python code writing while answers are held included), and that
a transport that is not Twisted's plain idle TCP transport (its methods
changed, TLS started, a pull producer, a full send buffer, a socket that
fails) is written to as Twisted writes.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import twisted.test
from twisted.internet import defer, reactor, task, tcp
from twisted.trial import unittest

from pb_connection import Connection, remoteFailure
from pbfast import pb as fast_pb
from pbfast._twisted import pb as twisted_pb


class Echo(twisted_pb.Root):
    """Echoes; calls back a client's object first where asked to."""

    def __init__(self) -> None:
        self.events: list[str] = []

    def remote_echo(self, value: Any) -> Any:
        return value

    def remote_echoLater(self, value: Any) -> defer.Deferred[Any]:
        # Answered by the broker's Python code (a Deferred result), which
        # writes on the transport while the native answers are held.
        return defer.succeed(value)

    def remote_callFirst(self, client: Any, value: Any) -> Any:
        # A call of its own, sent before the answer: it must arrive first.
        client.callRemote("note", "called first")
        return value


class Client(twisted_pb.Referenceable):
    def __init__(self, events: list[str]) -> None:
        self.events = events

    def remote_note(self, what: str) -> None:
        self.events.append(what)


class WritesWatched:
    """Notes which transports the reactor is asked to watch for writing."""

    patch: Any

    def watchWrites(self) -> list[Any]:
        watched: list[Any] = []
        addWriter = reactor.addWriter

        def recordingAddWriter(writer: Any) -> None:
            watched.append(writer)
            addWriter(writer)

        self.patch(reactor, "addWriter", recordingAddWriter)
        return watched


class AtOnce(WritesWatched, Connection, unittest.TestCase):
    """pbfast's brokers on both ends, over loopback TCP."""

    serverPB = fast_pb
    clientPB = fast_pb

    @defer.inlineCallbacks
    def test_oneAtATimeGoesOutAtOnce(self) -> Any:
        """
        A call sent from an answer's callback, and its answer: neither
        waits for the reactor's turn (no transport is watched for writing).
        """
        root = yield self.connect(Echo())
        yield root.callRemote("echo", 0)
        watched = self.watchWrites()
        results = []
        for number in range(20):
            results.append((yield root.callRemote("echo", number)))
        self.assertEqual(results, list(range(20)))
        self.assertEqual(watched, [])

    @defer.inlineCallbacks
    def test_aBurstFromATimerWaitsForTheTurn(self) -> Any:
        """
        Calls sent outside a receiving loop (from a timer) are written as
        Twisted writes them, to go out together on the reactor's turn; their
        answers come back in order.
        """
        root = yield self.connect(Echo())
        watched = self.watchWrites()
        calls = yield task.deferLater(
            reactor, 0, lambda: [root.callRemote("echo", number) for number in range(50)]
        )
        self.assertIn(root.broker.transport, watched)
        results = yield defer.gatherResults(calls)
        self.assertEqual(results, list(range(50)))

    @defer.inlineCallbacks
    def test_aCallBeforeTheAnswerArrivesFirst(self) -> Any:
        """
        A method that calls its caller back before answering: the call went
        out at once, the answer after it, in that order.
        """
        root = yield self.connect(Echo())
        events: list[str] = []
        answer = yield root.callRemote("callFirst", Client(events), "answered")
        events.append(answer)
        yield task.deferLater(reactor, 0.01, lambda: None)
        self.assertEqual(events, ["called first", "answered"])

    @defer.inlineCallbacks
    def test_whatTheSocketDoesNotTakeIsWrittenLater(self) -> Any:
        """
        An answer larger than the socket's send buffer: the rest goes to
        the transport, and the whole answer arrives.
        """
        root = yield self.connect(Echo())
        server = self.serverBrokers[0].transport
        server.socket.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        big = bytes(range(256)) * 2000
        for _ in range(3):
            self.assertEqual((yield root.callRemote("echo", big)), big)


class HeldInOrder(Connection, unittest.TestCase):
    """
    Answers written natively while Python code writes too, in one chunk of
    pipelined calls: they reach the client in the order Twisted's broker
    sends them.
    """

    serverPB = fast_pb
    clientPB = fast_pb

    @defer.inlineCallbacks
    def arrivals(self) -> Any:
        root = yield self.connect(Echo())
        arrived: list[int] = []

        def burst() -> list[defer.Deferred[Any]]:
            calls = []
            for number in range(40):
                method = "echoLater" if number % 3 == 0 else "echo"
                calls.append(root.callRemote(method, number).addCallback(arrived.append))
            return calls

        calls = yield task.deferLater(reactor, 0, burst)
        yield defer.gatherResults(calls)
        return arrived

    @defer.inlineCallbacks
    def test_theOrderIsTwisteds(self) -> Any:
        arrived = yield self.arrivals()
        self.assertEqual(sorted(arrived), list(range(40)))
        self.assertEqual(arrived, (yield self.twistedsOrder()))

    @defer.inlineCallbacks
    def twistedsOrder(self) -> Any:
        """The same burst served by Twisted's broker."""
        case = HeldInOrderOnTwisted("arrivals")
        try:
            return (yield case.arrivals())
        finally:
            yield case.disconnect()


class HeldInOrderOnTwisted(HeldInOrder):
    serverPB = twisted_pb

    def test_theOrderIsTwisteds(self) -> None:
        """(The reference, taken by L{HeldInOrder}.)"""


class AnswersBeforeADrop(unittest.TestCase):
    """
    A chunk with a call and then bytes that cannot be read: the call's
    answer, held while the chunk is read, is sent before the connection is
    dropped.
    """

    @defer.inlineCallbacks
    def test_theAnswerArrives(self) -> Any:
        from twisted.internet import protocol

        from pbfast import banana

        port = reactor.listenTCP(0, fast_pb.PBServerFactory(Echo()), interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        call = banana.encode([b"message", 1, b"root", b"echo", 1, [b"tuple", 7], [b"dictionary"]])

        class Peer(protocol.Protocol):
            def __init__(self) -> None:
                self.received = b""
                self.lost: defer.Deferred[None] = defer.Deferred()

            def dataReceived(self, data: bytes) -> None:
                if not self.received:
                    self.transport.write(banana.encode(b"pb") + call + b"\xff" * 8)
                self.received += data

            def connectionLost(self, reason: Any) -> None:
                self.lost.callback(None)

        peer = Peer()
        yield protocol.ClientCreator(reactor, lambda: peer).connectTCP(
            "127.0.0.1", port.getHost().port
        )
        yield peer.lost
        self.flushLoggedErrors()
        # [answer, 1, 7]: a list of 3, the pb dialect's symbol 27 ("answer"),
        # the ints 1 and 7.
        answer = b"\x03\x80" + b"\x1b\x87" + b"\x01\x81" + b"\x07\x81"
        self.assertIn(answer, peer.received)


class AgainstTwisted(Connection, unittest.TestCase):
    """pbfast's broker serving a stock Twisted client, and the other way round."""

    serverPB = fast_pb
    clientPB = twisted_pb

    @defer.inlineCallbacks
    def test_answersReachAStockClient(self) -> Any:
        root = yield self.connect(Echo())
        values = [7, "seven", {"color": "green", "numFrogs": 7}, [b"x"] * 10]
        for value in values * 5:
            self.assertEqual((yield root.callRemote("echo", value)), value)


class AgainstTwistedServer(AgainstTwisted):
    serverPB = twisted_pb
    clientPB = fast_pb


class AsTwistedWrites(WritesWatched, Connection, unittest.TestCase):
    """
    Transports that are not plain idle TCP transports of Twisted's own are
    written to through their C{write}, as Twisted writes.
    """

    serverPB = fast_pb
    clientPB = fast_pb

    @defer.inlineCallbacks
    def callsAnswered(self, root: Any) -> Any:
        for number in range(5):
            self.assertEqual((yield root.callRemote("echo", number)), number)

    @defer.inlineCallbacks
    def test_aWriteOfTheInstancesOwn(self) -> Any:
        """A transport given its own C{write} has every message through it."""
        root = yield self.connect(Echo())
        written: list[bytes] = []
        for transport in (root.broker.transport, self.serverBrokers[0].transport):
            write = transport.write

            def recordingWrite(data: bytes, write: Any = write) -> None:
                written.append(data)
                write(data)

            transport.write = recordingWrite
        yield self.callsAnswered(root)
        # Each call and each answer, at least.
        self.assertGreaterEqual(len(written), 10)

    @defer.inlineCallbacks
    def test_aClassWithAnotherWriteSomeData(self) -> Any:
        """C{tcp.Connection.writeSomeData} replaced: it sends every message."""
        root = yield self.connect(Echo())
        sent: list[bytes] = []
        writeSomeData = tcp.Connection.writeSomeData

        def recordingWriteSomeData(self: Any, data: bytes) -> Any:
            sent.append(bytes(data))
            return writeSomeData(self, data)

        self.patch(tcp.Connection, "writeSomeData", recordingWriteSomeData)
        yield self.callsAnswered(root)
        self.assertEqual(len(sent), 10)

    @defer.inlineCallbacks
    def test_aPullProducerIsResumed(self) -> Any:
        """
        A transport with a pull producer: a write is followed by the
        producer's C{resumeProducing}, as Twisted's C{doWrite} calls it.
        """
        root = yield self.connect(Echo())
        transport = self.serverBrokers[0].transport
        resumed: list[None] = []

        class Pull:
            def resumeProducing(self) -> None:
                resumed.append(None)

            def stopProducing(self) -> None:
                pass

        transport.unregisterProducer()
        transport.registerProducer(Pull(), False)
        del resumed[:]
        yield self.callsAnswered(root)
        transport.unregisterProducer()
        self.assertGreaterEqual(len(resumed), 5)

    @defer.inlineCallbacks
    def test_tlsStartedOnTheConnection(self) -> Any:
        """
        After C{startTLS}, what goes out is encrypted by the transport: the
        calls still reach the other end and are answered.
        """
        from twisted.internet import ssl

        root = yield self.connect(Echo())
        # What the connection's start sent is received before TLS starts
        # (as a protocol's STARTTLS would make sure).
        yield task.deferLater(reactor, 0.05, lambda: None)
        # pbfast's bound on what waits unsent (a producer) would move into
        # the TLS layer, whose loseConnection waits for its producer to be
        # unregistered (see pbfast.pb._UnsentBound): it is let go of first.
        for transport in (root.broker.transport, self.serverBrokers[0].transport):
            transport.unregisterProducer()
        pem = str(Path(twisted.test.__file__).parent / "server.pem")
        self.serverBrokers[0].transport.startTLS(ssl.DefaultOpenSSLContextFactory(pem, pem))
        root.broker.transport.startTLS(ssl.CertificateOptions())
        yield self.callsAnswered(root)
        self.assertTrue(self.serverBrokers[0].transport.TLS)


class AsTwistedWritesOnTwisted(AsTwistedWrites):
    """The same with Twisted's brokers: what pbfast's must match."""

    serverPB = twisted_pb
    clientPB = twisted_pb


class FailedSend(Connection, unittest.TestCase):
    """
    A socket that fails: the bytes go to Twisted's transport, which meets
    the error and loses the connection, with either broker serving.
    """

    serverPB = fast_pb
    clientPB = fast_pb

    @defer.inlineCallbacks
    def test_theConnectionIsLost(self) -> Any:
        class ShutsDown(Echo):
            def remote_shutDown(self) -> str:
                self.broker.transport.socket.shutdown(socket.SHUT_WR)
                return "after the shutdown"

        service = ShutsDown()
        root = yield self.connect(service)
        server = self.serverBrokers[0]
        service.broker = server
        lost: defer.Deferred[None] = defer.Deferred()
        server.notifyOnDisconnect(lambda: lost.callback(None))
        (failure,) = yield remoteFailure(root.callRemote("shutDown"))
        failure.trap(twisted_pb.PBConnectionLost)
        yield lost
        self.assertTrue(server.disconnected)


class FailedSendOnTwisted(FailedSend):
    serverPB = twisted_pb
