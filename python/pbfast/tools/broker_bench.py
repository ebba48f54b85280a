"""
Broker throughput for C{python -m pbfast bench --broker}, the demo's speed
table and C{benches/bench_broker.py}: calls per second of an echo method,
pbfast's broker against Twisted's, in one run, for each payload of
L{pbfast.tools.payloads.BROKER_PAYLOADS}:

  - over a real loopback TCP connection, one call at a time and several at
    a time (what an application sees; one call at a time is bounded by the
    reactor's own round trip, which costs the same for both brokers);
  - in memory, the two brokers' bytes handed to each other directly, one call
    at a time (what the brokers themselves cost, without the reactor).

The rows it makes are rendered and judged by L{pbfast.tools.tables}.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Generator
from dataclasses import asdict, dataclass
from typing import Any, TextIO

from twisted.internet import defer
from twisted.internet.testing import StringTransport
from twisted.spread import pb as twisted_pb

from pbfast import pb
from pbfast.tools.payloads import BROKER_PAYLOADS
from pbfast.tools.timing import compare, median, spread


def the_reactor() -> Any:
    """Twisted's global reactor, imported only when a timing needs it."""
    from twisted.internet import reactor

    return reactor


IN_FLIGHT: dict[str, int] = {"small call": 64, "10 Copyables": 8, "200 records": 8}
"""Calls sent at a time when pipelined: a batch of Twisted's big calls takes seconds."""
ONE_AT_A_TIME = "TCP, 1 at a time"
"""The mode of a TCP timing that waits for each answer before the next call."""


class Echo(pb.Root):
    """The server's root: echoes its argument back."""

    def remote_echo(self, value: Any) -> Any:
        return value


@dataclass
class BrokerRow:
    """
    One payload's calls per second, pbfast's broker and Twisted's (medians),
    and how many times as many pbfast's made, timed side by side (see
    L{pbfast.tools.timing.compare}); how far that moved between rounds.
    """

    payload: str
    mode: str
    pbfast: float
    twisted: float
    ratio: float
    spread: float

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


@defer.inlineCallbacks
def connect(module: Any) -> Generator[Any, Any, tuple[Any, Any, Any]]:
    """A server and a connected client of C{module}'s broker; its root."""
    reactor = the_reactor()
    port = reactor.listenTCP(0, module.PBServerFactory(Echo()), interface="127.0.0.1")
    client = module.PBClientFactory()
    reactor.connectTCP("127.0.0.1", port.getHost().port, client)
    root = yield client.getRootObject()
    return port, client, root


@defer.inlineCallbacks
def close(port: Any, client: Any, root: Any) -> Generator[Any, Any, None]:
    """Disconnect what L{connect} connected, and stop listening."""
    lost: defer.Deferred[None] = defer.Deferred()
    root.broker.notifyOnDisconnect(lambda: lost.callback(None))
    client.disconnect()
    yield lost
    yield port.stopListening()


@defer.inlineCallbacks
def call_time(root: Any, value: Any, pipelined: int, budget: float) -> Generator[Any, Any, float]:
    """Seconds per call of C{echo(value)} on C{root}, over about C{budget} (one batch at least)."""
    calls = 0
    gc.collect()
    start = time.perf_counter()
    while True:
        if pipelined > 1:
            yield defer.gatherResults([root.callRemote("echo", value) for _ in range(pipelined)])
            calls += pipelined
        else:
            yield root.callRemote("echo", value)
            calls += 1
        elapsed = time.perf_counter() - start
        if elapsed >= budget:
            return elapsed / calls


ROUNDS = 5
"""Rounds of a TCP timing: Twisted's slowest batches take a second each."""


@defer.inlineCallbacks
def measure_tcp(
    payloads: list[str] | None = None,
    budget: float = 0.5,
    progress: TextIO | None = None,
) -> Generator[Any, Any, list[BrokerRow]]:
    """
    Calls per second over loopback TCP for each payload, one call at a time
    and pipelined (L{IN_FLIGHT} calls at a time), in L{ROUNDS} rounds: each
    times Twisted's broker between two timings of pbfast's, as
    L{pbfast.tools.timing.compare} does.
    """
    rows = []
    connections = {}
    for name, module in (("pbfast", pb), ("twisted", twisted_pb)):
        connections[name] = yield connect(module)
    ours, theirs = connections["pbfast"][2], connections["twisted"][2]
    try:
        for payload in payloads or list(BROKER_PAYLOADS):
            value = BROKER_PAYLOADS[payload]()
            width = IN_FLIGHT[payload]
            for mode, pipelined in ((ONE_AT_A_TIME, 1), (f"TCP, {width} at a time", width)):
                if progress is not None:
                    progress.write(f"  timing the broker: {payload}, {mode}...\n")
                    progress.flush()
                piece = budget / ROUNDS / 2
                our_times = [(yield call_time(ours, value, pipelined, piece))]
                their_times, ratios = [], []
                for _ in range(ROUNDS):
                    their_times.append((yield call_time(theirs, value, pipelined, piece)))
                    our_times.append((yield call_time(ours, value, pipelined, piece)))
                    ratios.append(their_times[-1] / ((our_times[-2] + our_times[-1]) / 2))
                rows.append(
                    BrokerRow(
                        payload,
                        mode,
                        1 / median(our_times),
                        1 / median(their_times),
                        median(ratios),
                        spread(ratios),
                    )
                )
    finally:
        for connection in connections.values():
            yield close(*connection)
    return rows


class InMemory:
    """
    A client and a server broker of one module connected through in-memory
    transports: L{pump} hands each side's bytes to the other until both are
    quiet. No reactor: what is measured is the brokers' own work.
    """

    def __init__(self, module: Any) -> None:
        self.server = module.PBServerFactory(Echo()).buildProtocol(None)
        client_factory = module.PBClientFactory()
        self.client = client_factory.buildProtocol(None)
        self.server_out, self.client_out = StringTransport(), StringTransport()
        self.server.makeConnection(self.server_out)
        self.client.makeConnection(self.client_out)
        self.pump()
        roots: list[Any] = []
        client_factory.getRootObject().addCallback(roots.append)
        self.pump()
        self.root = roots[0]

    def pump(self) -> None:
        moved = True
        while moved:
            moved = False
            for source, destination in (
                (self.server_out, self.client),
                (self.client_out, self.server),
            ):
                data = source.value()
                if data:
                    source.clear()
                    destination.dataReceived(data)
                    moved = True

    def call(self, value: Any) -> Any:
        """One echo call, pumped to its answer."""
        answers: list[Any] = []
        self.root.callRemote("echo", value).addBoth(answers.append)
        self.pump()
        return answers[0]


def measure_in_memory(
    payloads: list[str] | None = None,
    budget: float = 0.5,
    progress: TextIO | None = None,
) -> list[BrokerRow]:
    """Calls per second in memory, one at a time, timed side by side (L{compare})."""
    ours, theirs = InMemory(pb), InMemory(twisted_pb)
    rows = []
    for payload in payloads or list(BROKER_PAYLOADS):
        if progress is not None:
            progress.write(f"  timing the broker: {payload}, in memory...\n")
            progress.flush()
        value = BROKER_PAYLOADS[payload]()
        found = compare((ours.call, value), {"twisted": (theirs.call, value)}, budget)
        rows.append(
            BrokerRow(
                payload,
                "in memory",
                1 / found.ours,
                1 / found.others["twisted"],
                found.ratios["twisted"],
                found.spread,
            )
        )
    return rows


def run(
    payloads: list[str] | None = None, budget: float = 0.5, progress: TextIO | None = None
) -> list[BrokerRow]:
    """L{measure_tcp}, running the reactor for it (once per process), and L{measure_in_memory}."""
    reactor = the_reactor()
    result: list[list[BrokerRow]] = []
    failures: list[Any] = []

    def done(outcome: Any) -> None:
        reactor.stop()

    d = measure_tcp(payloads, budget, progress=progress)
    d.addCallbacks(result.append, failures.append)
    d.addBoth(done)
    reactor.run()
    if failures:
        failures[0].raiseException()
    return result[0] + measure_in_memory(payloads, budget, progress=progress)
