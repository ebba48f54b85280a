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
from twisted.internet.protocol import ClientFactory, Factory, Protocol
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
    pbfast_p50: float | None = None
    """Median seconds from a call sent to its answer, where latencies were taken."""
    pbfast_p99: float | None = None
    twisted_p50: float | None = None
    twisted_p99: float | None = None

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def percentile(values: list[float], fraction: float) -> float:
    """The value below which C{fraction} of C{values} lie (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


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


def timed_call(root: Any, value: Any, latencies: list[float]) -> defer.Deferred[Any]:
    """C{root.callRemote("echo", value)}, its latency appended to C{latencies} when answered."""
    sent = time.perf_counter()

    def answered(result: Any) -> Any:
        latencies.append(time.perf_counter() - sent)
        return result

    d: defer.Deferred[Any] = root.callRemote("echo", value)
    return d.addCallback(answered)


def call_time(
    root: Any, value: Any, pipelined: int, budget: float, latencies: list[float]
) -> defer.Deferred[float]:
    """
    Seconds per call of C{echo(value)} on C{root}, over about C{budget},
    with C{pipelined} calls kept in flight; each call's latency is appended
    to C{latencies}.

    Each answer sends the next call from its callback, as the reactor
    floor's pinger sends its next message from C{dataReceived}: what is
    timed between two calls is the broker and the reactor, with no more of
    the driver than the floor has (no generator resumed, no batch gathered,
    and the calls in flight never drain between batches).
    """
    done: defer.Deferred[float] = defer.Deferred()
    calls, in_flight = [0], [0]
    gc.collect()
    start = time.perf_counter()

    def send() -> None:
        in_flight[0] += 1
        sent = time.perf_counter()
        root.callRemote("echo", value).addCallbacks(answered, failed, callbackArgs=(sent,))

    def answered(result: Any, sent: float) -> None:
        now = time.perf_counter()
        latencies.append(now - sent)
        calls[0] += 1
        in_flight[0] -= 1
        if now - start < budget:
            send()
        elif not in_flight[0]:
            done.callback((now - start) / calls[0])

    def failed(failure: Any) -> None:
        if not done.called:
            done.errback(failure)

    for _ in range(pipelined):
        send()
    return done


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
                our_latencies: list[float] = []
                their_latencies: list[float] = []
                # The reactor's floor, for small calls one at a time, is timed
                # in the same rounds, after each of Twisted's.
                floored = payload == "small call" and pipelined == 1
                floors: list[float] = []
                floors_at_once: list[float] = []
                our_times = [(yield call_time(ours, value, pipelined, piece, our_latencies))]
                their_times, ratios = [], []
                for _ in range(ROUNDS):
                    their_times.append(
                        (yield call_time(theirs, value, pipelined, piece, their_latencies))
                    )
                    if floored:
                        # Long enough to be steady whatever the budget.
                        floors.append((yield measure_floor(max(piece, 0.05))))
                        floors_at_once.append((yield measure_floor(max(piece, 0.05), at_once=True)))
                    our_times.append(
                        (yield call_time(ours, value, pipelined, piece, our_latencies))
                    )
                    ratios.append(their_times[-1] / ((our_times[-2] + our_times[-1]) / 2))
                rows.append(
                    BrokerRow(
                        payload,
                        mode,
                        1 / median(our_times),
                        1 / median(their_times),
                        median(ratios),
                        spread(ratios),
                        percentile(our_latencies, 0.5),
                        percentile(our_latencies, 0.99),
                        percentile(their_latencies, 0.5),
                        percentile(their_latencies, 0.99),
                    )
                )
                if floored:
                    for name, rates in ((FLOOR, floors), (FLOOR_AT_ONCE, floors_at_once)):
                        floor = median(rates)
                        rows.append(
                            BrokerRow(
                                name,
                                ONE_AT_A_TIME,
                                floor,
                                1 / median(their_times),
                                floor * median(their_times),
                                spread([rate * median(their_times) for rate in rates]),
                            )
                        )
    finally:
        for connection in connections.values():
            yield close(*connection)
    return rows


FLOOR = "reactor floor"
"""
The row of the reactor's own round trip: a raw protocol echoing 40-byte
messages, one in flight, over loopback TCP, each written with
C{transport.write} (its rate in the pbfast column, and how many times
Twisted's small call rate it is).
"""

FLOOR_AT_ONCE = "floor, sent at once"
"""
The same raw protocol sending each message on the socket itself when
nothing waits unsent, as pbfast's broker sends a call's answer (see
C{rust/broker/outgoing.rs}): C{transport.write} keeps a message for the
reactor's next turn, which costs a turn and two system calls a message, so
a broker that sends at once can go past the row above; this row is the
round trip left to a broker that does.
"""


def _send(transport: Any, data: bytes, at_once: bool) -> None:
    """C{transport.write(data)}; if C{at_once}, sent on the idle socket first."""
    if at_once and not transport._tempDataLen and len(transport.dataBuffer) == transport.offset:
        try:
            sent = transport.socket.send(data)
        except BlockingIOError:
            sent = 0
        data = data[sent:]
    if data:
        transport.write(data)


class _Echoer(Protocol):
    transport: Any
    at_once = False

    def dataReceived(self, data: bytes) -> None:
        _send(self.transport, data, self.at_once)


class _EchoerAtOnce(_Echoer):
    at_once = True


class _Pinger(Protocol):
    """Sends 40 bytes, waits for their echo, again, until its time is up."""

    MESSAGE = b"x" * 40
    transport: Any

    def __init__(self, budget: float, done: defer.Deferred[float], at_once: bool) -> None:
        self.budget, self.done, self.at_once = budget, done, at_once
        self.pending, self.trips = 0, 0

    def connectionMade(self) -> None:
        self.start = time.perf_counter()
        self.ping()

    def ping(self) -> None:
        self.pending = len(self.MESSAGE)
        _send(self.transport, self.MESSAGE, self.at_once)

    def dataReceived(self, data: bytes) -> None:
        self.pending -= len(data)
        if self.pending > 0:
            return
        self.trips += 1
        elapsed = time.perf_counter() - self.start
        if elapsed < self.budget:
            self.ping()
            return
        self.transport.loseConnection()
        self.done.callback(self.trips / elapsed)


@defer.inlineCallbacks
def measure_floor(budget: float, at_once: bool = False) -> Generator[Any, Any, float]:
    """
    Round trips per second of a raw protocol ping-pong over loopback TCP
    (see L{FLOOR}; with C{at_once}, L{FLOOR_AT_ONCE}).
    """
    reactor = the_reactor()
    server = Factory.forProtocol(_EchoerAtOnce if at_once else _Echoer)
    port = reactor.listenTCP(0, server, interface="127.0.0.1")
    done: defer.Deferred[float] = defer.Deferred()
    client = ClientFactory()
    client.buildProtocol = lambda addr: _Pinger(budget, done, at_once)  # type: ignore[method-assign]
    reactor.connectTCP("127.0.0.1", port.getHost().port, client)
    try:
        rate = yield done
    finally:
        yield port.stopListening()
    return rate


CLIENTS, CLIENT_IN_FLIGHT = 100, 8
"""The many-clients mode: this many clients, each with this many small calls in flight."""


@defer.inlineCallbacks
def many_clients(module: Any, budget: float) -> Generator[Any, Any, tuple[float, list[float]]]:
    """
    Small calls per second answered by one server of C{module}'s broker to
    L{CLIENTS} clients over loopback TCP, each keeping L{CLIENT_IN_FLIGHT}
    calls in flight for about C{budget} seconds; and their latencies.
    """
    reactor = the_reactor()
    port = reactor.listenTCP(0, module.PBServerFactory(Echo()), interface="127.0.0.1")
    factories, roots = [], []
    for _ in range(CLIENTS):
        factory = module.PBClientFactory()
        reactor.connectTCP("127.0.0.1", port.getHost().port, factory)
        factories.append(factory)
    for factory in factories:
        roots.append((yield factory.getRootObject()))
    value = BROKER_PAYLOADS["small call"]()
    latencies: list[float] = []
    finished: defer.Deferred[None] = defer.Deferred()
    running = [0]
    start = time.perf_counter()

    def keep_going(_: Any, root: Any) -> None:
        if time.perf_counter() - start < budget:
            timed_call(root, value, latencies).addCallback(keep_going, root)
            return
        running[0] -= 1
        if not running[0]:
            finished.callback(None)

    for root in roots:
        for _ in range(CLIENT_IN_FLIGHT):
            running[0] += 1
            timed_call(root, value, latencies).addCallback(keep_going, root)
    yield finished
    elapsed = time.perf_counter() - start
    for factory in factories:
        factory.disconnect()
    yield port.stopListening()
    return len(latencies) / elapsed, latencies


HEAVY_CALLS = 10_000
"""The fairness measurement's heavy client: this many small calls sent at once."""


@dataclass
class FairnessRow:
    """
    A light client's latency, one call at a time, while another client of
    the same server pipelines L{HEAVY_CALLS} calls, per broker: how long one
    connection's burst holds the others up (Twisted #7087).
    """

    broker: str
    light_p50: float
    light_p99: float
    light_calls: int
    heavy_seconds: float

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


@defer.inlineCallbacks
def fairness(module: Any, name: str) -> Generator[Any, Any, FairnessRow]:
    """L{FairnessRow} of C{module}'s broker."""
    reactor = the_reactor()
    port = reactor.listenTCP(0, module.PBServerFactory(Echo()), interface="127.0.0.1")
    heavy_factory, light_factory = module.PBClientFactory(), module.PBClientFactory()
    for factory in (heavy_factory, light_factory):
        reactor.connectTCP("127.0.0.1", port.getHost().port, factory)
    heavy = yield heavy_factory.getRootObject()
    light = yield light_factory.getRootObject()
    value = BROKER_PAYLOADS["small call"]()
    latencies: list[float] = []
    start = time.perf_counter()
    burst = defer.gatherResults([heavy.callRemote("echo", value) for _ in range(HEAVY_CALLS)])
    ended: list[float] = []
    burst.addCallback(lambda _: ended.append(time.perf_counter() - start))
    while not ended:
        yield timed_call(light, value, latencies)
    for factory in (heavy_factory, light_factory):
        factory.disconnect()
    yield port.stopListening()
    return FairnessRow(
        name, percentile(latencies, 0.5), percentile(latencies, 0.99), len(latencies), ended[0]
    )


class _ListTransport(StringTransport):
    """
    A transport that keeps what it is given in a list, for L{InMemory}: its
    C{write} is the list's own C{append}, so that a message written costs
    the harness no Python frame (what is timed is the brokers' work).
    """

    def __init__(self) -> None:
        self.written: list[bytes] = []
        super().__init__()
        self.write = self.written.append  # type: ignore[method-assign]

    def value(self) -> bytes:
        return b"".join(self.written)

    def clear(self) -> None:
        self.written.clear()


class InMemory:
    """
    A client and a server broker of one module connected through in-memory
    transports: L{pump} hands each side's bytes to the other until both are
    quiet. No reactor: what is measured is the brokers' own work.
    """

    def __init__(
        self,
        module: Any,
        client_module: Any = None,
        root: Any = None,
        server_broker: type | None = None,
        client_broker: type | None = None,
    ) -> None:
        """
        Brokers of C{module}'s factories (the client's of C{client_module},
        if given) serving C{root} (an L{Echo} by default); C{server_broker}
        and C{client_broker}, if given, are the classes they build.
        """
        self.service = Echo() if root is None else root
        server_factory = module.PBServerFactory(self.service, unsafeTracebacks=True)
        client_factory = (client_module or module).PBClientFactory()
        if server_broker is not None:
            server_factory.protocol = server_broker
        if client_broker is not None:
            client_factory.protocol = client_broker
        self.server = server_factory.buildProtocol(None)
        self.client = client_factory.buildProtocol(None)
        self.server_out, self.client_out = _ListTransport(), _ListTransport()
        self.server.makeConnection(self.server_out)
        self.client.makeConnection(self.client_out)
        self.pump()
        roots: list[Any] = []
        client_factory.getRootObject().addCallback(roots.append)
        self.pump()
        self.root = roots[0]

    def pump(self) -> None:
        """Hand each side what the other wrote, until neither writes more."""
        to_client, to_server = self.server_out.written, self.client_out.written
        while to_client or to_server:
            if to_server:
                data = b"".join(to_server)
                to_server.clear()
                self.server.dataReceived(data)
            if to_client:
                data = b"".join(to_client)
                to_client.clear()
                self.client.dataReceived(data)

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


@defer.inlineCallbacks
def measure_many_clients(
    budget: float, progress: TextIO | None = None
) -> Generator[Any, Any, BrokerRow]:
    """The many-clients mode (L{many_clients}) of each broker, side by side."""
    if progress is not None:
        mode = f"{CLIENTS} clients x {CLIENT_IN_FLIGHT} in flight"
        progress.write(f"  timing the broker: {mode}...\n")
        progress.flush()
    ours, our_latencies = yield many_clients(pb, budget)
    theirs, their_latencies = yield many_clients(twisted_pb, budget)
    return BrokerRow(
        "small call",
        f"TCP, {CLIENTS} clients x {CLIENT_IN_FLIGHT}",
        ours,
        theirs,
        ours / theirs,
        0.0,
        percentile(our_latencies, 0.5),
        percentile(our_latencies, 0.99),
        percentile(their_latencies, 0.5),
        percentile(their_latencies, 0.99),
    )


@defer.inlineCallbacks
def measure_fairness(progress: TextIO | None = None) -> Generator[Any, Any, list[FairnessRow]]:
    """L{FairnessRow} of each broker."""
    if progress is not None:
        progress.write(f"  timing the broker: a light client beside {HEAVY_CALLS:,} pipelined...\n")
        progress.flush()
    return [(yield fairness(pb, "pbfast")), (yield fairness(twisted_pb, "twisted"))]


def run(
    payloads: list[str] | None = None,
    budget: float = 0.5,
    progress: TextIO | None = None,
    fairness_rows: list[FairnessRow] | None = None,
) -> list[BrokerRow]:
    """
    L{measure_tcp} and, for all payloads, L{measure_many_clients} (and
    L{measure_fairness}, into C{fairness_rows} if given), running the reactor
    for them (once per process); then L{measure_in_memory}.
    """
    reactor = the_reactor()
    result: list[list[BrokerRow]] = []
    failures: list[Any] = []

    @defer.inlineCallbacks
    def everything() -> Generator[Any, Any, list[BrokerRow]]:
        rows = yield measure_tcp(payloads, budget, progress=progress)
        if payloads is None:
            rows.append((yield measure_many_clients(budget, progress)))
            if fairness_rows is not None:
                fairness_rows.extend((yield measure_fairness(progress)))
        return rows

    def done(outcome: Any) -> None:
        reactor.stop()

    d = everything()
    d.addCallbacks(result.append, failures.append)
    d.addBoth(done)
    reactor.run()
    if failures:
        failures[0].raiseException()
    return result[0] + measure_in_memory(payloads, budget, progress=progress)
