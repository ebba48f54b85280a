"""
C{python -m pbfast serve}: worker processes sharing one listening socket,
supervised (a worker that dies is replaced; SIGTERM stops all of them after
the calls in flight are answered), one plain process with C{--workers 1},
and two services behind HAProxy in TCP mode. Real processes, real sockets.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from twisted.internet import defer, reactor, task
from twisted.trial import unittest

from pbfast import pb

HERE = Path(__file__).parent
LOOPBACK = ("--listen", "tcp:0:interface=127.0.0.1")
"""Where the services under test listen: an ephemeral loopback port."""


def sleep(seconds: float) -> defer.Deferred[None]:
    return task.deferLater(reactor, seconds, lambda: None)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A child of ours that ended and was not reaped yet is no longer serving.
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split()[2]
    except OSError:
        return False
    return state != "Z"


SERVE = (sys.executable, "-m", "pbfast", "serve")
"""The command: C{python -m pbfast serve}."""
TWIST = (sys.executable, "-m", "twisted", "--log-format=text", "pbfast")
"""The same as Twisted's C{twist} runs it, logging text."""


class Served:
    """A C{python -m pbfast serve} (or C{twist pbfast}) process, its output kept in a file."""

    def __init__(self, *arguments: str, command: tuple[str, ...] = SERVE) -> None:
        self.output = tempfile.NamedTemporaryFile(prefix="pbfast-serve-", suffix=".log")
        environment = dict(os.environ, PYTHONPATH=os.pathsep.join([str(HERE), *sys.path]))
        self.process = subprocess.Popen(
            [*command, *arguments],
            stdout=self.output,
            stderr=subprocess.STDOUT,
            env=environment,
            cwd=HERE,
        )

    def text(self) -> str:
        return Path(self.output.name).read_text()

    @defer.inlineCallbacks
    def port(self, timeout: float = 30.0) -> Any:
        """The TCP port it listens on, once it says so."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = re.search(r"listening on tcp:(\d+)", self.text())
            if found is None:
                found = re.search(r"port=(\d+)\)", self.text())
            if found:
                return int(found.group(1))
            if self.process.poll() is not None:
                raise AssertionError(f"serve ended ({self.process.returncode}):\n{self.text()}")
            yield sleep(0.05)
        raise AssertionError(f"serve did not listen:\n{self.text()}")

    def workers(self) -> list[int]:
        """The worker processes it started, in order."""
        return [int(pid) for pid in re.findall(r"started worker (\d+)", self.text())]

    @defer.inlineCallbacks
    def stop(self, timeout: float = 30.0, how: int = signal.SIGTERM) -> Any:
        """SIGTERM (or C{how}); its exit status."""
        if self.process.poll() is None:
            self.process.send_signal(how)
        deadline = time.monotonic() + timeout
        while self.process.poll() is None:
            if time.monotonic() > deadline:
                self.process.kill()
                raise AssertionError(f"serve did not stop:\n{self.text()}")
            yield sleep(0.05)
        return self.process.returncode

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        for pid in self.workers():
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
        self.output.close()


class ServeTests(unittest.TestCase):
    timeout = 120

    def serve(self, *arguments: str, command: tuple[str, ...] = SERVE) -> Served:
        served = Served(*arguments, command=command)
        self.addCleanup(served.kill)
        return served

    @defer.inlineCallbacks
    def call(self, where: Any, name: str = "pid", *args: Any) -> Any:
        """
        One call over a new connection to C{where} (a loopback TCP port, or
        a function connecting a client factory); its answer.
        """
        client = pb.PBClientFactory()
        if isinstance(where, int):
            reactor.connectTCP("127.0.0.1", where, client)
        else:
            where(client)
        try:
            root = yield client.getRootObject()
            return (yield root.callRemote(name, *args))
        finally:
            client.disconnect()

    @defer.inlineCallbacks
    def answering(self, where: Any, calls: int) -> Any:
        """The processes answering C{calls} calls, each over its own connection."""
        pids = []
        for _ in range(calls):
            pids.append((yield self.call(where)))
        return set(pids)

    @defer.inlineCallbacks
    def all_answering(self, where: Any, processes: int = 2) -> Any:
        """The processes answering calls, once C{processes} of them have (30 s at most)."""
        pids: set[int] = set()
        deadline = time.monotonic() + 30
        while len(pids) < processes and time.monotonic() < deadline:
            pids |= yield self.answering(where, 10)
        return pids

    @defer.inlineCallbacks
    def test_workers_share_the_load(self) -> Any:
        served = self.serve("served_service:root", *LOOPBACK, "--workers", "2")
        port = yield served.port()
        pids = yield self.all_answering(port)
        self.assertEqual(len(pids), 2, served.text())
        self.assertEqual(pids, set(served.workers()))
        self.assertNotIn(served.process.pid, pids)
        self.assertEqual((yield served.stop()), 0)
        self.assertFalse([pid for pid in served.workers() if alive(pid)])

    @defer.inlineCallbacks
    def test_twist_serves_with_workers(self) -> Any:
        """C{twist pbfast}: the same service, run by Twisted's runner."""
        served = self.serve("served_service:root", *LOOPBACK, "--workers", "2", command=TWIST)
        port = yield served.port()
        pids = yield self.all_answering(port)
        self.assertEqual(pids, set(served.workers()))
        # Twisted's runner ends by the signal that stopped it, once stopped.
        self.assertEqual((yield served.stop()), -signal.SIGTERM)
        self.assertIn("stopped, no worker left", served.text())
        self.assertFalse([pid for pid in served.workers() if alive(pid)])

    @defer.inlineCallbacks
    def test_a_killed_worker_is_replaced(self) -> Any:
        served = self.serve("served_service:factory", *LOOPBACK, "--workers", "2")
        port = yield served.port()
        yield self.answering(port, 4)
        first, second = served.workers()
        os.kill(first, signal.SIGKILL)
        # The other keeps serving meanwhile.
        answered = yield self.answering(port, 10)
        self.assertTrue(answered <= {second} | set(served.workers()[2:]), answered)
        deadline = time.monotonic() + 30
        while len(served.workers()) < 3:
            self.assertLess(time.monotonic(), deadline, served.text())
            yield sleep(0.05)
        third = served.workers()[2]
        self.assertIn("ended after", served.text())
        pids: set[int] = set()
        deadline = time.monotonic() + 30
        while third not in pids and time.monotonic() < deadline:
            pids |= yield self.answering(port, 10)
        self.assertIn(third, pids)
        self.assertNotIn(first, pids)
        self.assertEqual((yield served.stop()), 0)

    @defer.inlineCallbacks
    def test_workers_end_with_a_killed_supervisor(self) -> Any:
        """A supervisor killed outright (SIGKILL) leaves no worker behind."""
        served = self.serve("served_service:root", *LOOPBACK, "--workers", "2")
        port = yield served.port()
        yield self.answering(port, 2)
        served.process.kill()
        served.process.wait()
        deadline = time.monotonic() + 30
        while [pid for pid in served.workers() if alive(pid)]:
            self.assertLess(time.monotonic(), deadline, served.text())
            yield sleep(0.05)

    @defer.inlineCallbacks
    def test_a_graceful_stop_answers_calls_in_flight(self) -> Any:
        served = self.serve("served_service:root", *LOOPBACK, "--workers", "2")
        port = yield served.port()
        client = pb.PBClientFactory()
        reactor.connectTCP("127.0.0.1", port, client)
        root = yield client.getRootObject()
        yield root.callRemote("pid")
        slow = root.callRemote("slow", 1.0)
        yield sleep(0.2)
        served.process.send_signal(signal.SIGTERM)
        answered = yield slow
        self.assertIn(answered, served.workers())
        self.assertEqual((yield served.stop()), 0)
        self.assertFalse([pid for pid in served.workers() if alive(pid)])
        # Nothing listens any more.
        with self.assertRaises(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
        client.disconnect()

    @defer.inlineCallbacks
    def test_workers_share_a_tls_socket(self) -> Any:
        """C{ssl:}: the supervisor opens the socket, each worker speaks TLS on it."""
        import twisted.test
        from twisted.internet import ssl

        pem = Path(twisted.test.__file__).parent / "server.pem"
        served = self.serve(
            "served_service:root",
            "--listen",
            f"ssl:0:interface=127.0.0.1:privateKey={pem}",
            "--workers",
            "2",
        )
        port = yield served.port()
        pids = yield self.all_answering(
            lambda client: reactor.connectSSL("127.0.0.1", port, client, ssl.ClientContextFactory())
        )
        self.assertEqual(pids, set(served.workers()))
        self.assertEqual((yield served.stop()), 0)

    @defer.inlineCallbacks
    def test_workers_share_a_unix_socket(self) -> Any:
        path = Path(tempfile.mkdtemp()) / "pb.sock"
        served = self.serve("served_service:root", "--listen", f"unix:{path}", "--workers", "2")
        deadline = time.monotonic() + 30
        while len(re.findall("worker .* listening", served.text())) < 2:
            self.assertLess(time.monotonic(), deadline, served.text())
            yield sleep(0.05)
        pids = yield self.all_answering(lambda client: reactor.connectUNIX(str(path), client))
        self.assertEqual(pids, set(served.workers()))
        self.assertEqual((yield served.stop()), 0)

    @defer.inlineCallbacks
    def test_one_worker_is_one_process(self) -> Any:
        served = self.serve("served_service:root", *LOOPBACK, "--max-connections", "1")
        port = yield served.port()
        client = pb.PBClientFactory()
        reactor.connectTCP("127.0.0.1", port, client)
        root = yield client.getRootObject()
        self.assertEqual((yield root.callRemote("pid")), served.process.pid)
        # A second connection while the first is served is refused.
        refused = yield self.call(port).addCallbacks(lambda _: [], lambda failure: [failure])
        self.assertEqual(len(refused), 1)
        self.assertIn("Refusing the connection", served.text())
        client.disconnect()
        yield sleep(0.3)
        self.assertEqual((yield self.call(port)), served.process.pid)
        # Ctrl-C stops it as SIGTERM does.
        self.assertEqual((yield served.stop(how=signal.SIGINT)), 0)

    @defer.inlineCallbacks
    def test_a_portal_and_a_login(self) -> Any:
        """C{MODULE:NAME} naming a callable that returns a cred Portal."""
        from twisted.cred import credentials

        served = self.serve("served_service:portal", *LOOPBACK, "--workers", "2")
        port = yield served.port()
        client = pb.PBClientFactory()
        reactor.connectTCP("127.0.0.1", port, client)
        avatar = yield client.login(credentials.UsernamePassword(b"alice", b"secret"))
        self.assertEqual((yield avatar.callRemote("whoami")), b"alice")
        client.disconnect()
        self.assertEqual((yield served.stop()), 0)

    @defer.inlineCallbacks
    def test_install_serves_a_twisted_program_natively(self) -> Any:
        """C{--install}: a factory of Twisted's C{twisted.spread}, on pbfast's broker."""
        for extra, installed in (("--install", True), (None, False)):
            arguments = ["served_twisted:factory", *LOOPBACK]
            served = self.serve(*arguments, *([extra] if extra else []))
            port = yield served.port()
            self.assertEqual((yield self.call(port, "installed")), installed)
            self.assertEqual((yield served.stop()), 0)

    @defer.inlineCallbacks
    def test_behind_haproxy(self) -> Any:
        """Two services behind HAProxy in TCP mode: calls through it answered by both."""
        haproxy = shutil.which("haproxy") or shutil.which("haproxy", path="/usr/sbin:/sbin")
        if haproxy is None:
            haproxy = install_haproxy()
        services = [self.serve("served_service:root", *LOOPBACK) for _ in range(2)]
        ports = []
        for service in services:
            ports.append((yield service.port()))
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            front = probe.getsockname()[1]
        config = Path(tempfile.mkdtemp()) / "haproxy.cfg"
        config.write_text(HAPROXY_CONFIG.format(front=front, first=ports[0], second=ports[1]))
        balancer = subprocess.Popen(
            [haproxy, "-f", str(config), "-db"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.addCleanup(lambda: (balancer.kill(), balancer.wait()))
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", front), timeout=1).close()
                break
            except OSError:
                self.assertIsNone(balancer.poll(), "haproxy ended")
                self.assertLess(time.monotonic(), deadline, "haproxy did not listen")
                yield sleep(0.05)
        pids = yield self.answering(front, 10)
        self.assertEqual(pids, {service.process.pid for service in services})
        for service in services:
            self.assertEqual((yield service.stop()), 0)


HAPROXY_CONFIG = """\
defaults
    mode tcp
    timeout connect 5s
    timeout client 60s
    timeout server 60s

frontend pb
    bind 127.0.0.1:{front}
    default_backend brokers

backend brokers
    balance roundrobin
    server first 127.0.0.1:{first}
    server second 127.0.0.1:{second}
"""


def install_haproxy() -> str:
    """Debian's haproxy, installed where the tests run as root with apt (as CI's machines)."""
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise AssertionError("HAProxy is needed: apt-get install haproxy")
    subprocess.run(
        ["apt-get", "install", "-y", "-q", "haproxy"],
        check=True,
        stdout=subprocess.DEVNULL,
        env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"),
    )
    found = shutil.which("haproxy", path="/usr/sbin:/usr/bin:/sbin")
    assert found is not None
    return found


def test_twist_runs_it() -> None:
    """C{twist pbfast} is the same command, found as a Twisted plugin."""
    found = subprocess.run(
        [sys.executable, "-m", "twisted", "pbfast", "--help"],
        capture_output=True,
        text=True,
        check=True,
        cwd=HERE,
    )
    assert "--workers" in found.stdout and "MODULE:NAME" in found.stdout
