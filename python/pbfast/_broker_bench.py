"""
Broker throughput for C{python -m pbfast bench --broker}, the demo's speed
table and C{benches/bench_broker.py}: calls per second of an echo method over
a real loopback TCP connection, pbfast's broker against Twisted's, in one
run, for three payloads, one call at a time and pipelined.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Generator
from dataclasses import asdict, dataclass
from typing import Any, TextIO

from twisted.internet import defer
from twisted.spread import pb as twisted_pb

from pbfast import pb


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


class Echo(pb.Root):
    """The server's root: echoes its argument back."""

    def remote_echo(self, value: Any) -> Any:
        return value


@dataclass
class BrokerRow:
    """One payload's calls per second: pbfast's broker and Twisted's."""

    payload: str
    mode: str
    pbfast: float
    twisted: float

    @property
    def ratio(self) -> float:
        return self.pbfast / self.twisted if self.twisted else float("inf")


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
def _rate(root: Any, value: Any, pipelined: int, budget: float) -> Generator[Any, Any, float]:
    """Calls per second of C{echo(value)} on C{root} for about C{budget}."""
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
            return calls / elapsed


@defer.inlineCallbacks
def measure(
    payloads: list[str] | None = None,
    budget: float = 0.5,
    rounds: int = 3,
    progress: TextIO | None = None,
) -> Generator[Any, Any, list[BrokerRow]]:
    """
    Calls per second for each payload, sequential and pipelined (64 calls at
    a time), pbfast's broker and Twisted's taking turns C{rounds} times; the
    best round of each is kept.
    """
    rows = []
    connections = {}
    for name, module in (("pbfast", pb), ("twisted", twisted_pb)):
        connections[name] = yield _connect(module)
    try:
        for payload in payloads or list(PAYLOADS):
            value = PAYLOADS[payload]()
            for mode, pipelined in (("sequential", 1), ("pipelined", 64)):
                if progress is not None:
                    progress.write(f"  timing the broker: {payload}, {mode}...\n")
                    progress.flush()
                best = {"pbfast": 0.0, "twisted": 0.0}
                for _ in range(rounds):
                    for name, (_, _, root) in connections.items():
                        rate = yield _rate(root, value, pipelined, budget / rounds)
                        best[name] = max(best[name], rate)
                rows.append(BrokerRow(payload, mode, best["pbfast"], best["twisted"]))
    finally:
        for connection in connections.values():
            yield _close(*connection)
    return rows


def table(rows: list[BrokerRow]) -> str:
    """The broker table: calls per second and the ratio."""
    lines = [
        f"{'payload':<14} {'mode':<11} | {'pbfast calls/s':>14} {'Twisted calls/s':>15} "
        f"{'xTwisted':>9}",
        "-" * 70,
    ]
    for row in rows:
        lines.append(
            f"{row.payload:<14} {row.mode:<11} | {row.pbfast:>14,.0f} {row.twisted:>15,.0f} "
            f"{row.ratio:>8.1f}x"
        )
    return "\n".join(lines)


def asJSON(rows: list[BrokerRow]) -> list[dict[str, Any]]:
    return [{**asdict(row), "ratio": row.ratio} for row in rows]


def run(
    payloads: list[str] | None = None, budget: float = 0.5, progress: TextIO | None = None
) -> list[BrokerRow]:
    """L{measure}, running the reactor for it (once per process)."""
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
    return result[0]
