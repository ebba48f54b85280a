"""
What a PB server bounds for its peers, over loopback TCP: how many
connections it serves at once (C{maxConnections}), and how much waits unsent
to a peer that sends calls and does not read their answers
(C{maxUnsentBytes}, Twisted's producer/consumer), while its other peers are
served.
"""

from __future__ import annotations

import socket
from typing import Any

from twisted.internet import defer, reactor, task
from twisted.logger import globalLogPublisher
from twisted.trial import unittest

from pbfast import pb


class Echo(pb.Root):
    def remote_echo(self, value: Any) -> Any:
        return value


def until(condition: Any, timeout: float = 20.0, step: float = 0.01) -> defer.Deferred[None]:
    """Fires once C{condition()} is true; fails after C{timeout} seconds."""

    @defer.inlineCallbacks
    def poll() -> Any:
        waited = 0.0
        while not condition():
            if waited > timeout:
                raise AssertionError(f"still not true after {timeout} s: {condition}")
            yield task.deferLater(reactor, step, lambda: None)
            waited += step

    return poll()


class LogEvents:
    """The log events of pbfast.pb while on."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def __call__(self, event: dict[str, Any]) -> None:
        if event.get("log_namespace") == "pbfast.pb":
            self.events.append(event)

    def formats(self) -> list[str]:
        return [event["log_format"] for event in self.events]


class Served(unittest.TestCase):
    """A pbfast PB server over loopback TCP, its clients, and their log events."""

    def bounded(self, server: Any) -> Any:
        """The transport whose producer bounds what waits unsent to C{server}'s peer."""
        return server.transport

    def setUp(self) -> None:
        self.log = LogEvents()
        globalLogPublisher.addObserver(self.log)
        self.addCleanup(globalLogPublisher.removeObserver, self.log)
        self.clients: list[Any] = []

    def listen(self, **settings: Any) -> Any:
        self.factory = pb.PBServerFactory(Echo(), **settings)
        self.port = reactor.listenTCP(0, self.factory, interface="127.0.0.1")
        self.addCleanup(self.close)
        return self.factory

    def connect(self) -> defer.Deferred[Any]:
        """
        A new client's root object, once a first call was answered (the
        client has its root before the server has read a byte).
        """
        client = pb.PBClientFactory()
        self.clients.append(client)
        reactor.connectTCP("127.0.0.1", self.port.getHost().port, client)

        def ready(root: Any) -> Any:
            return root.callRemote("echo", None).addCallback(lambda _: root)

        return client.getRootObject().addCallback(ready)

    @defer.inlineCallbacks
    def close(self) -> Any:
        brokers = list(self.factory.served)
        for client in self.clients:
            client.disconnect()
        for broker in brokers:
            broker.transport.loseConnection()
        yield until(lambda: not self.factory.served)
        yield defer.maybeDeferred(self.port.stopListening)


class Bounds:
    """What waits unsent is bounded per broker (see L{Served.bounded})."""

    listen: Any
    connect: Any
    factory: Any
    patch: Any
    assertIsNone: Any
    assertEqual: Any
    bounded: Any

    @defer.inlineCallbacks
    def test_no_bound(self) -> Any:
        """C{maxUnsentBytes=0}: no producer, as Twisted's broker."""
        self.listen(maxUnsentBytes=0)
        root = yield self.connect()
        self.assertEqual((yield root.callRemote("echo", 1)), 1)
        server = next(iter(self.factory.served))
        self.assertIsNone(self.bounded(server).producer)

    @defer.inlineCallbacks
    def test_the_module_default(self) -> Any:
        """Brokers that set no bound follow C{pbfast.pb.MAX_UNSENT_BYTES}."""
        self.patch(pb, "MAX_UNSENT_BYTES", 12345)
        self.listen()
        yield self.connect()
        server = next(iter(self.factory.served))
        self.assertEqual(self.bounded(server).producer.bound, 12345)


class ServingLimits(Bounds, Served):
    @defer.inlineCallbacks
    def test_connections_beyond_the_limit_are_closed(self) -> Any:
        """
        With C{maxConnections} served, a new connection is closed at once,
        with a log event; the served ones go on, and once one ends a new
        one is served.
        """
        self.listen(maxConnections=2)
        first = yield self.connect()
        second = yield self.connect()
        third = yield self.connect().addCallbacks(lambda _: [], lambda failure: [failure])
        self.assertEqual(len(third), 1, "the third connection was served")
        self.assertTrue(any("Refusing the connection" in f for f in self.log.formats()))
        self.assertEqual((yield first.callRemote("echo", 1)), 1)
        self.assertEqual((yield second.callRemote("echo", 2)), 2)
        self.assertEqual(len(self.factory.served), 2)
        self.clients[0].disconnect()
        yield until(lambda: len(self.factory.served) == 1)
        fourth = yield self.connect()
        self.assertEqual((yield fourth.callRemote("echo", 4)), 4)

    @defer.inlineCallbacks
    def test_a_peer_that_does_not_read_is_not_read(self) -> Any:
        """
        A peer that pipelines 100,000 calls and reads nothing: the server
        stops reading it once more than C{maxUnsentBytes} wait unsent to it
        (with a log event), so what waits stays within the bound and the
        answers to one chunk of calls; another peer is served meanwhile;
        once the peer reads, every call is answered.
        """
        bound = 256 * 1024
        self.listen(maxUnsentBytes=bound)
        greedy = yield self.connect()
        server = next(iter(self.factory.served))
        # The greedy peer stops reading its answers. The kernel's buffers
        # for the connection are made small, so that what the peer leaves
        # unread waits in the server's process rather than in the kernel.
        greedy.broker.transport.pauseProducing()
        greedy.broker.transport.socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8192)
        server.transport.socket.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 8192)
        answers: list[Any] = []
        calls = 100_000
        for number in range(calls):
            greedy.callRemote("echo", number).addCallback(answers.append)
        producer = server.transport.producer
        most = [0]

        def paused() -> bool:
            unsent = producer.unsent()
            most[0] = max(most[0], unsent)
            return producer.paused

        yield until(paused)
        self.assertNotIn(server.transport, reactor.getReaders())
        self.assertTrue(any("is not reading its answers" in f for f in self.log.formats()))
        # Nothing more is read while paused: what waits stays bounded.
        for _ in range(20):
            yield task.deferLater(reactor, 0.02, lambda: None)
            paused()
        # The bound, and the answers to one chunk read (64 KiB of calls at
        # most, each answered in fewer bytes than it took).
        self.assertLess(most[0], bound + 64 * 1024 + 4096)
        self.assertLess(len(answers), calls)
        # Another peer is served meanwhile.
        other = yield self.connect()
        self.assertEqual((yield other.callRemote("echo", "other")), "other")
        # The greedy peer reads again: every call is answered, in order.
        greedy.broker.transport.resumeProducing()
        yield until(lambda: len(answers) == calls, timeout=60)
        self.assertEqual(answers, list(range(calls)))
        self.assertFalse(producer.paused)
        self.assertIn(server.transport, reactor.getReaders())


class OverTLS(Bounds, Served):
    """The same server over TLS (C{listenSSL}, C{connectSSL})."""

    def bounded(self, server: Any) -> Any:
        """The TCP transport under the TLS layer, where the bound is."""
        return server.transport.transport

    def listen(self, **settings: Any) -> Any:
        from pathlib import Path

        import twisted.test
        from twisted.internet import ssl

        pem = str(Path(twisted.test.__file__).parent / "server.pem")
        self.factory = pb.PBServerFactory(Echo(), **settings)
        self.port = reactor.listenSSL(
            0, self.factory, ssl.DefaultOpenSSLContextFactory(pem, pem), interface="127.0.0.1"
        )
        self.addCleanup(self.close)
        return self.factory

    def connect(self) -> defer.Deferred[Any]:
        from twisted.internet import ssl

        client = pb.PBClientFactory()
        self.clients.append(client)
        port = self.port.getHost().port
        reactor.connectSSL("127.0.0.1", port, client, ssl.ClientContextFactory())

        def ready(root: Any) -> Any:
            return root.callRemote("echo", None).addCallback(lambda _: root)

        return client.getRootObject().addCallback(ready)

    @defer.inlineCallbacks
    def test_a_connection_closes(self) -> Any:
        """
        The bound is the TCP transport's under the TLS layer, which leaves
        the TLS layer free to close: C{loseConnection} ends the connection,
        from either end.
        """
        self.listen()
        for close in ("client", "server"):
            root = yield self.connect()
            server = next(broker for broker in self.factory.served if not broker.disconnected)
            self.assertIs(server.transport.transport.producer.transport, server.transport.transport)
            lost: defer.Deferred[None] = defer.Deferred()
            server.notifyOnDisconnect(lambda lost=lost: lost.callback(None))
            if close == "client":
                root.broker.transport.loseConnection()
            else:
                server.transport.loseConnection()
            yield lost

    test_a_connection_closes.timeout = 10  # type: ignore[attr-defined]
