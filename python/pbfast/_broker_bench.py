"""
Broker throughput for C{python -m pbfast bench --broker}, the demo's speed
table and C{benches/bench_broker.py}: calls per second of an echo method,
pbfast's broker against Twisted's, in one run, for three payloads:

  - over a real loopback TCP connection, one call at a time and 64 at a time
    (what an application sees; one call at a time is bounded by the reactor's
    own round trip, which costs the same for both brokers);
  - in memory, the two brokers' bytes handed to each other directly, one call
    at a time (what the brokers themselves cost, without the reactor).
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Generator
from dataclasses import asdict, dataclass
from typing import Any, TextIO

from twisted.internet import defer
from twisted.internet.testing import StringTransport
from twisted.spread import pb as twisted_pb

from pbfast import _bench, pb


def _reactor() -> Any:
    from twisted.internet import reactor

    return reactor


class BenchCopy(pb.Copyable, pb.RemoteCopy):
    """A Copyable carrying 100 strings, its own RemoteCopy (stock methods)."""

    def __init__(self, index: int = 0) -> None:
        self.name = f"copy-{index}"
        self.index = index
        self.strings = [f"string {index}-{i}" for i in range(100)]


pb.setUnjellyableForClass(BenchCopy, BenchCopy)


def _record(index: int) -> dict[str, Any]:
    return {
        "id": index,
        "name": f"record-{index}",
        "score": index / 7.0,
        "owner": "someone",
        "count": index * 3,
        "ratio": 0.25,
    }


PAYLOADS: dict[str, Callable[[], Any]] = {
    "small call": lambda: {"builder": "builder-3", "build": 42, "verbose": True},
    "10 Copyables": lambda: [BenchCopy(i) for i in range(10)],
    "200 records": lambda: [_record(i) for i in range(200)],
}
"""What the echo method is called with and returns, per payload."""

IN_FLIGHT: dict[str, int] = {"small call": 64, "10 Copyables": 8, "200 records": 8}
ONE_AT_A_TIME = "TCP, 1 at a time"
"""Calls sent at a time when pipelined: a batch of Twisted's big calls takes seconds."""


class Echo(pb.Root):
    """The server's root: echoes its argument back."""

    def remote_echo(self, value: Any) -> Any:
        return value


@dataclass
class BrokerRow:
    """
    One payload's calls per second, pbfast's broker and Twisted's (medians),
    and how many times as many pbfast's made, timed side by side (see
    L{pbfast._bench.compare}); how far that moved between rounds.
    """

    payload: str
    mode: str
    pbfast: float
    twisted: float
    ratio: float
    spread: float


@defer.inlineCallbacks
def _connect(module: Any) -> Generator[Any, Any, tuple[Any, Any, Any]]:
    """A server and a connected client of C{module}'s broker; its root."""
    reactor = _reactor()
    port = reactor.listenTCP(0, module.PBServerFactory(Echo()), interface="127.0.0.1")
    client = module.PBClientFactory()
    reactor.connectTCP("127.0.0.1", port.getHost().port, client)
    root = yield client.getRootObject()
    return port, client, root


@defer.inlineCallbacks
def _close(port: Any, client: Any, root: Any) -> Generator[Any, Any, None]:
    lost: defer.Deferred[None] = defer.Deferred()
    root.broker.notifyOnDisconnect(lambda: lost.callback(None))
    client.disconnect()
    yield lost
    yield port.stopListening()


@defer.inlineCallbacks
def _callTime(root: Any, value: Any, pipelined: int, budget: float) -> Generator[Any, Any, float]:
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
def measure(
    payloads: list[str] | None = None,
    budget: float = 0.5,
    progress: TextIO | None = None,
) -> Generator[Any, Any, list[BrokerRow]]:
    """
    Calls per second over loopback TCP for each payload, one call at a time
    and pipelined (L{IN_FLIGHT} calls at a time), in L{ROUNDS} rounds: each
    times Twisted's broker between two timings of pbfast's, as
    L{pbfast._bench.compare} does.
    """
    rows = []
    connections = {}
    for name, module in (("pbfast", pb), ("twisted", twisted_pb)):
        connections[name] = yield _connect(module)
    ours, theirs = connections["pbfast"][2], connections["twisted"][2]
    try:
        for payload in payloads or list(PAYLOADS):
            value = PAYLOADS[payload]()
            width = IN_FLIGHT[payload]
            for mode, pipelined in ((ONE_AT_A_TIME, 1), (f"TCP, {width} at a time", width)):
                if progress is not None:
                    progress.write(f"  timing the broker: {payload}, {mode}...\n")
                    progress.flush()
                piece = budget / ROUNDS / 2
                ourTimes = [(yield _callTime(ours, value, pipelined, piece))]
                theirTimes, ratios = [], []
                for _ in range(ROUNDS):
                    theirTimes.append((yield _callTime(theirs, value, pipelined, piece)))
                    ourTimes.append((yield _callTime(ours, value, pipelined, piece)))
                    ratios.append(theirTimes[-1] / ((ourTimes[-2] + ourTimes[-1]) / 2))
                rows.append(
                    BrokerRow(
                        payload,
                        mode,
                        1 / _bench.median(ourTimes),
                        1 / _bench.median(theirTimes),
                        _bench.median(ratios),
                        _bench.spread(ratios),
                    )
                )
    finally:
        for connection in connections.values():
            yield _close(*connection)
    return rows


class InMemory:
    """
    A client and a server broker of one module connected through in-memory
    transports: L{pump} hands each side's bytes to the other until both are
    quiet. No reactor: what is measured is the brokers' own work.
    """

    def __init__(self, module: Any) -> None:
        self.server = module.PBServerFactory(Echo()).buildProtocol(None)
        clientFactory = module.PBClientFactory()
        self.client = clientFactory.buildProtocol(None)
        self.serverOut, self.clientOut = StringTransport(), StringTransport()
        self.server.makeConnection(self.serverOut)
        self.client.makeConnection(self.clientOut)
        self.pump()
        roots: list[Any] = []
        clientFactory.getRootObject().addCallback(roots.append)
        self.pump()
        self.root = roots[0]

    def pump(self) -> None:
        moved = True
        while moved:
            moved = False
            for source, destination in (
                (self.serverOut, self.client),
                (self.clientOut, self.server),
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


def measureInMemory(
    payloads: list[str] | None = None,
    budget: float = 0.5,
    progress: TextIO | None = None,
) -> list[BrokerRow]:
    """Calls per second in memory, one at a time, timed side by side (L{pbfast._bench.compare})."""
    ours, theirs = InMemory(pb), InMemory(twisted_pb)
    rows = []
    for payload in payloads or list(PAYLOADS):
        if progress is not None:
            progress.write(f"  timing the broker: {payload}, in memory...\n")
            progress.flush()
        value = PAYLOADS[payload]()
        found = _bench.compare((ours.call, value), {"twisted": (theirs.call, value)}, budget)
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


def targets(rows: list[BrokerRow]) -> dict[str, bool]:
    """
    The broker's targets, met or not: small calls at least 4 times Twisted's
    rate when the reactor's round trip does not set the pace (pipelined, or
    in memory), the Copyables and records at least 30 times in every mode.
    """
    small = [row.ratio for row in rows if row.payload == "small call" and row.mode != ONE_AT_A_TIME]
    big = [row.ratio for row in rows if row.payload != "small call"]
    found = {}
    if small:
        found["small calls >= 4x Twisted (pipelined, in memory)"] = min(small) >= 4.0
    if big:
        found["Copyables and records >= 30x Twisted"] = min(big) >= 30.0
    return found


def table(rows: list[BrokerRow], markdown: bool = False) -> str:
    """The broker table: calls per second and the ratio, and the targets."""
    headers = ["payload", "mode", "pbfast calls/s", "Twisted calls/s", "xTwisted", "±"]
    cells = [
        [
            row.payload,
            row.mode,
            f"{row.pbfast:,.0f}",
            f"{row.twisted:,.0f}",
            f"{row.ratio:.1f}x",
            f"{row.spread:.0%}",
        ]
        for row in sorted(rows, key=lambda row: list(PAYLOADS).index(row.payload))
    ]
    lines = _bench.render(headers, cells, markdown)
    lines += [
        "",
        "xTwisted: pbfast's calls per second / Twisted's, timed side by side; ±: how far it",
        "moved between rounds. One at a time over TCP, a call waits for the reactor's own round",
        "trip (the same for both brokers): there the reactor, not the broker, sets the pace.",
    ]
    lines += _bench.target_lines(targets(rows), markdown)
    return "\n".join(lines)


def asJSON(rows: list[BrokerRow]) -> list[dict[str, Any]]:
    return [asdict(row) for row in rows]


def run(
    payloads: list[str] | None = None, budget: float = 0.5, progress: TextIO | None = None
) -> list[BrokerRow]:
    """L{measure}, running the reactor for it (once per process), and L{measureInMemory}."""
    reactor = _reactor()
    result: list[list[BrokerRow]] = []
    failures: list[Any] = []

    def done(outcome: Any) -> None:
        reactor.stop()

    d = measure(payloads, budget, progress=progress)
    d.addCallbacks(result.append, failures.append)
    d.addBoth(done)
    reactor.run()
    if failures:
        failures[0].raiseException()
    return result[0] + measureInMemory(payloads, budget, progress=progress)
