"""
Serving measured (C{python -m pbfast bench --serve}): calls per second and
latency of C{python -m pbfast serve} with one worker and with two, the load
coming from separate processes over loopback TCP; and the server's memory
while a peer pipelines calls and reads none of the answers, with the bound
on what waits unsent (C{--max-unsent}, 16 MiB by default) and without it.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from pbfast.tools.broker_bench import percentile

TARGET = "pbfast.tools.broker_bench:Echo"
"""What is served: the broker bench's echo root."""

LOADERS, CLIENTS, IN_FLIGHT = 2, 16, 8
"""Load processes, connections each, calls each keeps in flight."""

SLOW_CALLS, SLOW_PAYLOAD = 100_000, 1024
"""The peer that reads nothing: calls it pipelines, bytes each echoes."""


@dataclass
class ServeRow:
    workers: int
    calls_per_second: float
    p50_ms: float
    p99_ms: float


@dataclass
class SlowReaderRow:
    bound: str
    rss_mib: float


class Served:
    """A C{python -m pbfast serve} process on an ephemeral loopback port."""

    def __init__(self, *arguments: str) -> None:
        listen = ("--listen", "tcp:0:interface=127.0.0.1")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "pbfast", "serve", TARGET, *listen, *arguments],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []

    def port(self, workers: int) -> int:
        """The port, once every worker listens."""
        port, listening = None, 0
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)
            found = re.search(r"listening on tcp:(\d+)|port=(\d+)\)", line)
            if found and port is None:
                port = int(found.group(1) or found.group(2))
            if "pbfast serve: worker" in line and "listening" in line:
                listening += 1
            if port is not None and listening >= workers:
                return port
        raise RuntimeError("serve ended:\n" + "".join(self.lines))

    def rss_mib(self) -> float:
        """Resident memory of the serving process (a lone worker), in MiB."""
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        found = re.search(r"VmRSS:\s+(\d+) kB", status)
        return int(found.group(1)) / 1024 if found else float("nan")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _spawn(*arguments: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "pbfast.tools.serve_bench", *arguments],
        stdout=subprocess.PIPE,
        text=True,
    )


def measure_workers(workers: int, seconds: float) -> ServeRow:
    """Calls/s and latency with C{workers} workers under L{LOADERS} load processes."""
    served = Served("--workers", str(workers))
    try:
        port = served.port(workers)
        loaders = [
            _spawn("load", str(port), str(seconds), str(CLIENTS), str(IN_FLIGHT))
            for _ in range(LOADERS)
        ]
        results = [json.loads(loader.communicate()[0]) for loader in loaders]
    finally:
        served.stop()
    latencies = sorted(latency for result in results for latency in result["latencies"])
    calls = sum(result["calls"] / result["seconds"] for result in results)
    return ServeRow(
        workers, calls, percentile(latencies, 0.5) * 1e3, percentile(latencies, 0.99) * 1e3
    )


def measure_slow_reader(max_unsent: str | None) -> SlowReaderRow:
    """The lone worker's RSS once a peer pipelined L{SLOW_CALLS} calls and read nothing."""
    arguments = () if max_unsent is None else ("--max-unsent", max_unsent)
    served = Served(*arguments)
    try:
        port = served.port(1)
        before = served.rss_mib()
        peer = _spawn("slow", str(port))
        assert peer.stdout is not None
        peer.stdout.readline()  # Every call sent (to the peer's own buffers).
        most = before
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            most = max(most, served.rss_mib())
            time.sleep(0.05)
        peer.kill()
        peer.wait()
    finally:
        served.stop()
    label = "16 MiB (default)" if max_unsent is None else "none (--max-unsent 0)"
    return SlowReaderRow(label, most)


def run(
    seconds: float = 3.0, progress: TextIO | None = None
) -> tuple[list[ServeRow], list[SlowReaderRow]]:
    """Both measures (see this module's docstring)."""
    rows, slow = [], []
    for workers in (1, 2):
        if progress is not None:
            progress.write(f"  timing serve with {workers} worker(s)...\n")
        rows.append(measure_workers(workers, seconds))
    for bound in (None, "0"):
        if progress is not None:
            progress.write(f"  a peer that reads nothing, bound {bound or 'default'}...\n")
        slow.append(measure_slow_reader(bound))
    return rows, slow


def table(rows: list[ServeRow], slow: list[SlowReaderRow]) -> str:
    lines = [
        f"{'workers':>7} {'calls/s':>10} {'p50 ms':>8} {'p99 ms':>8}",
        *(
            f"{row.workers:>7} {row.calls_per_second:>10,.0f} {row.p50_ms:>8.2f} {row.p99_ms:>8.2f}"
            for row in rows
        ),
        "",
        f"load: {LOADERS} processes x {CLIENTS} connections x {IN_FLIGHT} calls in flight, "
        f"on this machine's {os.cpu_count()} cores with the server",
        "",
        f"a peer that pipelines {SLOW_CALLS:,} calls of {SLOW_PAYLOAD} bytes and reads nothing:",
        *(f"  unsent bound {row.bound:<22} server RSS {row.rss_mib:7.1f} MiB" for row in slow),
    ]
    return "\n".join(lines)


def _reactor() -> Any:
    from twisted.internet import reactor

    return reactor


def _load(port: int, seconds: float, clients: int, in_flight: int) -> None:
    """A load process: C{clients} connections keeping C{in_flight} echo calls each."""
    from twisted.internet import defer

    from pbfast import pb

    reactor = _reactor()
    latencies: list[float] = []
    calls = [0]
    state: dict[str, float] = {}

    def send(root: Any) -> None:
        sent = time.perf_counter()

        def answered(_: Any) -> None:
            now = time.perf_counter()
            if "start" in state and now < state["end"]:
                latencies.append(now - sent)
                calls[0] += 1
            if now < state.get("end", float("inf")):
                send(root)

        root.callRemote("echo", {"color": "green", "numFrogs": 7}).addCallback(answered)

    @defer.inlineCallbacks
    def main() -> Any:
        roots = []
        for _ in range(clients):
            factory = pb.PBClientFactory()
            reactor.connectTCP("127.0.0.1", port, factory)
            roots.append((yield factory.getRootObject()))
        for root in roots:
            for _ in range(in_flight):
                send(root)
        warm = time.perf_counter() + 0.5
        state["end"] = warm + seconds
        reactor.callLater(0.5, state.__setitem__, "start", warm)
        reactor.callLater(0.6 + seconds, reactor.stop)

    reactor.callWhenRunning(main)
    reactor.run()
    print(json.dumps({"calls": calls[0], "seconds": seconds, "latencies": latencies}))


def _slow(port: int) -> None:
    """A peer that pipelines L{SLOW_CALLS} calls and reads none of the answers."""
    import socket

    from twisted.internet import defer

    from pbfast import pb

    reactor = _reactor()

    @defer.inlineCallbacks
    def main() -> Any:
        factory = pb.PBClientFactory()
        reactor.connectTCP("127.0.0.1", port, factory)
        root = yield factory.getRootObject()
        yield root.callRemote("echo", None)
        transport = root.broker.transport
        transport.pauseProducing()
        transport.socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8192)
        payload = b"x" * SLOW_PAYLOAD
        for _ in range(SLOW_CALLS):
            root.callRemote("echo", payload)
        print("sent", flush=True)

    reactor.callWhenRunning(main)
    reactor.run()


if __name__ == "__main__":
    if sys.argv[1] == "load":
        _load(int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))
    elif sys.argv[1] == "slow":
        _slow(int(sys.argv[2]))
