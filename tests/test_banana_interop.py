"""
A pbfast Banana and a stock Twisted Banana negotiate a dialect and exchange
pb-dialect messages, each in both roles: over an in-memory pump, and over a
real loopback TCP connection.
"""

from __future__ import annotations

from typing import Any, ClassVar

import pytest
from twisted.internet import defer, protocol, reactor
from twisted.test.iosim import FakeTransport, connect
from twisted.trial.unittest import TestCase

from sexp import PbfastCollector, TwistedCollector, normal

# Messages a PB connection carries: vocabulary symbols, nested lists, every
# integer token, floats, long strings.
MESSAGES: list[Any] = [
    [b"version", 6],
    [b"message", 1, b"remote", b"callMe", [b"tuple", [b"unicode", b"hi"]], [b"dictionary"]],
    [b"answer", 1, [b"list", 2**31, -(2**31) - 1, 2**70, -(2**70), 0.5, float("-inf")]],
    [b"error", 2, b"x" * 100_000],
    [b"decref", 3, [], [[[b"None"]]]],
]

ROLES = [
    pytest.param(PbfastCollector, TwistedCollector, id="pbfast-server-twisted-client"),
    pytest.param(TwistedCollector, PbfastCollector, id="twisted-server-pbfast-client"),
    pytest.param(PbfastCollector, PbfastCollector, id="pbfast-both"),
]


@pytest.mark.parametrize(("server_class", "client_class"), ROLES)
def test_negotiate_and_exchange_in_memory(server_class: type, client_class: type) -> None:
    server = server_class(isClient=0)
    client = client_class(isClient=1)
    pump = connect(
        server, FakeTransport(server, isServer=True), client, FakeTransport(client, False)
    )
    assert server.currentDialect == client.currentDialect == b"pb"
    assert server.ready and client.ready
    for message in MESSAGES:
        client.sendEncoded(message)
        server.sendEncoded(message)
    pump.flush()
    expected = [normal(m) for m in MESSAGES]
    assert [normal(m) for m in server.received] == expected
    assert [normal(m) for m in client.received] == expected


@pytest.mark.parametrize(("server_class", "client_class"), ROLES)
def test_pb_dialect_uses_vocabulary_on_the_wire(server_class: type, client_class: type) -> None:
    server = server_class(isClient=0)
    client = client_class(isClient=1)
    server_transport = FakeTransport(server, isServer=True)
    pump = connect(server, server_transport, client, FakeTransport(client, False))
    server.sendEncoded([b"remote"])
    assert b"".join(server_transport.stream) == b"\x01\x80\x10\x87"
    pump.flush()
    assert client.received == [[b"remote"]]


def test_client_refuses_unknown_dialects() -> None:
    """A client offered no dialect it knows drops the connection."""

    class OddServer(TwistedCollector):
        knownDialects: ClassVar[list[bytes]] = [b"klingon"]

    server = OddServer(isClient=0)
    client = PbfastCollector(isClient=1)
    client_transport = FakeTransport(client, False)
    connect(server, FakeTransport(server, isServer=True), client, client_transport)
    assert client_transport.disconnecting
    assert client.currentDialect is None


class _Side(protocol.Factory):
    """Makes collectors that fire `done` once they have all of MESSAGES."""

    def __init__(self, protocol_class: type, is_client: int) -> None:
        self.protocol_class = protocol_class
        self.is_client = is_client
        self.done: defer.Deferred[Any] = defer.Deferred()
        self.instance: Any = None

    def buildProtocol(self, addr: Any) -> Any:
        factory = self

        class Side(self.protocol_class):  # type: ignore[name-defined,misc]
            def connectionReady(self) -> None:
                super().connectionReady()
                for message in MESSAGES:
                    self.sendEncoded(message)

            def expressionReceived(self, lst: Any) -> None:
                super().expressionReceived(lst)
                if len(self.received) == len(MESSAGES):
                    factory.done.callback(self.received)

        self.instance = Side(self.is_client)
        return self.instance


class TCPLoopbackTests(TestCase):
    """The same exchange over a real TCP connection on 127.0.0.1."""

    @defer.inlineCallbacks
    def _exchange(self, server_class: type, client_class: type) -> Any:
        server_side = _Side(server_class, 0)
        port = reactor.listenTCP(0, server_side, interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        client_side = _Side(client_class, 1)
        creator = protocol.ClientCreator(reactor, lambda: client_side.buildProtocol(None))
        client = yield creator.connectTCP("127.0.0.1", port.getHost().port)
        self.addCleanup(client.transport.loseConnection)
        server_got, client_got = yield defer.gatherResults([server_side.done, client_side.done])
        expected = [normal(m) for m in MESSAGES]
        self.assertEqual([normal(m) for m in server_got], expected)
        self.assertEqual([normal(m) for m in client_got], expected)
        self.assertEqual(client.currentDialect, b"pb")

    def test_pbfast_server_twisted_client(self) -> Any:
        return self._exchange(PbfastCollector, TwistedCollector)

    def test_twisted_server_pbfast_client(self) -> Any:
        return self._exchange(TwistedCollector, PbfastCollector)
