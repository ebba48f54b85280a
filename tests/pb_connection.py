"""
A PB client connected to a PB server over loopback TCP, for trial test cases:
which broker each end runs is the test case's choice.
"""

from __future__ import annotations

from typing import Any

from twisted.internet import defer, reactor

import pbfast


def remoteFailure(call: defer.Deferred[Any]) -> defer.Deferred[tuple[Any]]:
    """
    The failure C{call} ends in, in a tuple (a Deferred's result cannot be a
    failure itself); succeeding is an error.
    """

    def succeeded(result: Any) -> Any:
        raise AssertionError(f"the call succeeded with {result!r}")

    return call.addCallbacks(succeeded, lambda failure: (failure,))


def runsNatively(broker: Any) -> bool:
    """True if C{broker} runs on pbfast's native codec and broker path."""
    return hasattr(type(broker), "_nativeDecoder")


class Connection:
    """
    PB clients connected to a PB server over loopback TCP, closed at the end
    of the test; the test case names the broker modules (C{serverPB},
    C{clientPB}: C{pbfast.pb} or Twisted's).
    """

    serverPB: Any = None
    clientPB: Any = None

    def serve(self, root: Any, **options: Any) -> Any:
        """Listen with a server factory of C{serverPB} for C{root}."""
        self.serverBrokers: list[Any] = []
        self.clientFactories: list[Any] = []
        self.roots: list[Any] = []
        serverFactory = self.serverPB.PBServerFactory(root, unsafeTracebacks=True)
        for name, value in options.items():
            setattr(serverFactory, name, value)
        build = serverFactory.buildProtocol

        def buildProtocol(addr: Any) -> Any:
            broker = build(addr)
            self.serverBrokers.append(broker)
            return broker

        serverFactory.buildProtocol = buildProtocol
        self.port = reactor.listenTCP(0, serverFactory, interface="127.0.0.1")
        self.addCleanup(self.disconnect)
        return serverFactory

    @defer.inlineCallbacks
    def connectClient(self) -> Any:
        """A new client of C{clientPB}; the server's root object."""
        clientFactory = self.clientPB.PBClientFactory()
        self.clientFactories.append(clientFactory)
        reactor.connectTCP("127.0.0.1", self.port.getHost().port, clientFactory)
        root = yield clientFactory.getRootObject()
        self.roots.append(root)
        server = self.serverBrokers[len(self.roots) - 1]
        self.assertIsInstance(root.broker, self.clientPB.Broker)
        self.assertIsInstance(server, self.serverPB.Broker)
        for broker, pb in [(root.broker, self.clientPB), (server, self.serverPB)]:
            expected = pb is pbfast.pb or pbfast.installed()
            assert runsNatively(broker) == expected, (broker, pb)
        return root

    @defer.inlineCallbacks
    def connect(self, root: Any, **options: Any) -> Any:
        """Serve C{root} and connect one client: its root (also C{self.root})."""
        self.serve(root, **options)
        self.root = yield self.connectClient()
        self.clientFactory = self.clientFactories[0]
        return self.root

    def disconnect(self) -> defer.Deferred[Any]:
        """Close every connection and the port; fires when all are closed."""
        waits = []
        for broker in [root.broker for root in self.roots] + self.serverBrokers:
            if not broker.disconnected:
                lost: defer.Deferred[None] = defer.Deferred()
                broker.notifyOnDisconnect(lambda lost=lost: lost.callback(None))
                waits.append(lost)
        for factory in self.clientFactories:
            factory.disconnect()
        for broker in self.serverBrokers:
            if not broker.disconnected:
                broker.transport.loseConnection()
        if self.port.connected:
            waits.append(defer.maybeDeferred(self.port.stopListening))
        return defer.gatherResults(waits)
