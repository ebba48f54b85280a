"""
Serving a PB root on every core: C{python -m pbfast serve MODULE:NAME
--listen ENDPOINT --workers N}, and the same as a C{twist} plugin
(C{twist pbfast ...}).

A PB connection carries its own state -- the references each side holds,
the caches, the login -- and it all lives in the process that accepted the
connection. So a service scales past one process by accepting connections
in several: with C{--workers N} a supervising process opens the listening
socket and starts N worker processes that each adopt it (Twisted's
C{adoptStreamPort}); the kernel hands each new connection to one of them.
Nothing is balanced here, and for the same reason any TCP load balancer in
front of several hosts spreads PB connections across them. What workers
must share (an account, a counter) lives where every worker reaches it, a
database, not in one worker's memory.

The supervisor starts a worker again when one ends (waiting longer each
time one ends soon after starting), and on SIGTERM or SIGINT stops: it
closes the listening socket and asks each worker to stop, which stops
accepting, lets the calls in flight be answered (for up to C{--grace}
seconds), closes its connections and exits; a worker that has not exited
some seconds after that is killed. C{--workers 1} is one plain process.
"""

from __future__ import annotations

import importlib
import os
import signal
import socket
import sys
import time
from typing import Any, ClassVar

from twisted.application import service
from twisted.internet import defer, endpoints, protocol, task
from twisted.logger import Logger
from twisted.python import usage

_log = Logger(namespace="pbfast.serve")

WORKER_FD = 3
"""Where a worker finds the listening socket its supervisor opened."""

LONG_LIVED = 10.0
"""A worker that ran this many seconds is started again at once when it ends."""

MAX_BACKOFF = 30.0
"""The longest wait before starting again a worker that keeps ending."""

KILL_AFTER = 5.0
"""Seconds past the grace period after which a worker still running is killed."""


def _count(text: str) -> int:
    value = int(text)
    if value < 0:
        raise ValueError(f"not a count: {text}")
    return value


class Options(usage.Options):
    """The options of C{python -m pbfast serve} and C{twist pbfast}."""

    synopsis = "MODULE:NAME [options]"
    longdesc = (
        "Serve NAME from MODULE over PB: a pb.Root, a PBServerFactory, or a callable "
        "returning either (or a cred Portal)."
    )
    optParameters: ClassVar[list[list[Any]]] = [
        ["listen", "l", "tcp:8800", "Twisted server endpoint string (tcp:, ssl:, unix:)."],
        ["workers", "w", 1, "Worker processes sharing the listening socket.", int],
        ["max-connections", None, None, "Most connections a worker serves at once.", _count],
        [
            "max-unsent",
            None,
            None,
            "Most bytes waiting unsent to a peer before its calls are not read "
            "(default: pbfast.pb.MAX_UNSENT_BYTES, 16 MiB; 0: no bound).",
            _count,
        ],
        ["grace", None, 10.0, "Seconds calls in flight may take to be answered on stop.", float],
        ["inherit-fd", None, None, "(internal) the listening socket a worker adopts.", int],
    ]
    optFlags: ClassVar[list[list[Any]]] = [
        ["install", None, "Call pbfast.install() first (for a program using twisted.spread)."],
    ]

    def parseOptions(self, options: Any = None) -> None:
        # MODULE:NAME first, as the synopsis has it: Twisted's parser takes
        # the options before the arguments only.
        options = list(sys.argv[1:] if options is None else options)
        if options and not options[0].startswith("-"):
            options = options[1:] + options[:1]
        super().parseOptions(options)

    def parseArgs(self, *arguments: str) -> None:
        if len(arguments) != 1:
            raise usage.UsageError("expected one MODULE:NAME")
        (target,) = arguments
        if ":" not in target:
            raise usage.UsageError(f"expected MODULE:NAME, got {target!r}")
        self["target"] = target

    def postOptions(self) -> None:
        if "target" not in self:
            raise usage.UsageError("MODULE:NAME is required")
        if self["workers"] < 1:
            raise usage.UsageError("--workers must be at least 1")


def load(target: str) -> Any:
    """What C{MODULE:NAME} names (NAME may be dotted)."""
    module_name, _, name = target.partition(":")
    found: Any = importlib.import_module(module_name)
    for part in name.split("."):
        found = getattr(found, part)
    return found


def server_factory(options: Options) -> Any:
    """
    The PB server factory of C{options["target"]}: the factory it names or
    returns, or a L{pbfast.pb.PBServerFactory} for the root (or portal) it
    names or returns; with C{--max-unsent} given to its brokers.
    """
    if options["install"]:
        import pbfast

        pbfast.install()
    from pbfast import pb

    found = load(options["target"])
    if not _serves(found) and callable(found):
        found = found()
    if isinstance(found, protocol.ServerFactory):
        factory = found
    elif pb.IPBRoot(found, None) is not None:
        factory = pb.PBServerFactory(found)
    else:
        raise usage.UsageError(
            f"{options['target']} is no pb.Root, PBServerFactory, Portal, or callable "
            f"returning one: {found!r}"
        )
    if options["max-unsent"] is not None:
        # Brokers of any factory (Twisted's too, once installed) read it.
        pb.MAX_UNSENT_BYTES = options["max-unsent"]
        if isinstance(factory, pb.PBServerFactory):
            factory.maxUnsentBytes = options["max-unsent"]
    return factory


def _serves(found: Any) -> bool:
    from pbfast import pb

    return isinstance(found, protocol.ServerFactory) or pb.IPBRoot(found, None) is not None


def _limited(factory: Any, max_connections: int | None) -> Any:
    """C{factory}, keeping the brokers it serves in C{served}, at most C{max_connections}."""
    from pbfast import pb

    if isinstance(factory, pb.PBServerFactory):
        if max_connections is not None:
            factory.maxConnections = max_connections
        return factory
    build = factory.buildProtocol

    def buildProtocol(addr: Any) -> Any:
        return pb._servedWithin(factory, lambda: build(addr), addr, max_connections)

    factory.buildProtocol = buildProtocol
    return factory


def _endpoint_parts(reactor: Any, description: str) -> tuple[str, Any, Any]:
    """
    (kind, address, TLS context factory or None) of a server endpoint
    description: kind C{"tcp"}, C{"tcp6"} or C{"unix"}; address
    C{(interface, port, backlog)} or C{(path, backlog)}. The endpoint
    classes keep these as private attributes, read here because only the
    listening socket is made here (shared by the workers).
    """
    endpoint = endpoints.serverFromString(reactor, description)
    tls = getattr(endpoint, "_sslContextFactory", None)
    if isinstance(endpoint, endpoints.UNIXServerEndpoint):
        return "unix", (endpoint._address, endpoint._backlog), None
    if isinstance(endpoint, (endpoints.TCP4ServerEndpoint, endpoints.SSL4ServerEndpoint)):
        interface = endpoint._interface
        kind = "tcp6" if isinstance(endpoint, endpoints.TCP6ServerEndpoint) else "tcp"
        if ":" in interface:
            kind = "tcp6"
        return kind, (interface, endpoint._port, endpoint._backlog), tls
    raise usage.UsageError(
        f"--workers above 1 shares a tcp:, tcp6:, ssl: or unix: socket; not {description!r}"
    )


def listening_socket(reactor: Any, description: str) -> socket.socket:
    """The bound, listening, non-blocking socket C{description} describes."""
    kind, address, _ = _endpoint_parts(reactor, description)
    if kind == "unix":
        path, backlog = address
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        if os.path.exists(path):
            os.unlink(path)
        sock.bind(path)
    else:
        interface, port, backlog = address
        family = socket.AF_INET6 if kind == "tcp6" else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((interface or ("::" if kind == "tcp6" else ""), port))
    sock.listen(backlog)
    sock.setblocking(False)
    return sock


def _address_text(sock: socket.socket) -> str:
    name = sock.getsockname()
    if sock.family == socket.AF_UNIX:
        return f"unix:{name}"
    return f"tcp:{name[1]}:interface={name[0]}"


class Worker(service.Service):
    """
    One process serving the target: on the endpoint itself, or (as a
    supervisor's worker) on the listening socket it inherited.
    """

    def __init__(self, options: Options, reactor: Any = None) -> None:
        if reactor is None:
            from twisted.internet import reactor
        self.options, self.reactor = options, reactor
        self.port: Any = None

    def startService(self) -> Any:
        super().startService()
        options = self.options
        self.factory = _limited(server_factory(options), options["max-connections"])
        fd = options["inherit-fd"]
        if fd is None:
            endpoint = endpoints.serverFromString(self.reactor, options["listen"])
            return endpoint.listen(self.factory).addCallback(self._listening)
        _end_with_supervisor()
        kind, _, tls = _endpoint_parts(self.reactor, options["listen"])
        factory = self.factory
        if tls is not None:
            from twisted.protocols.tls import TLSMemoryBIOFactory

            factory = TLSMemoryBIOFactory(tls, False, factory)
        family = {"unix": socket.AF_UNIX, "tcp6": socket.AF_INET6}.get(kind, socket.AF_INET)
        self._listening(self.reactor.adoptStreamPort(fd, family, factory))
        os.close(fd)
        return None

    def _listening(self, port: Any) -> None:
        self.port = port
        _log.info(
            "pbfast serve: worker {pid} listening on {address}",
            pid=os.getpid(),
            address=port.getHost(),
        )

    @defer.inlineCallbacks
    def stopService(self) -> Any:
        """
        Stop accepting; let the calls in flight be answered, for up to
        C{--grace} seconds; close the connections and wait for them to end.
        """
        super().stopService()
        if self.port is not None:
            yield defer.maybeDeferred(self.port.stopListening)
        factory = getattr(self, "factory", None)
        served = factory.__dict__.get("served", set()) if factory is not None else set()
        deadline = time.monotonic() + self.options["grace"]
        while any(getattr(b, "_answersPending", 0) for b in served):
            if time.monotonic() > deadline:
                _log.warn("pbfast serve: grace period over with calls in flight")
                break
            yield task.deferLater(self.reactor, 0.05, lambda: None)
        for broker in list(served):
            broker.transport.loseConnection()
        closing = time.monotonic() + KILL_AFTER / 2
        while served and time.monotonic() < closing:
            yield task.deferLater(self.reactor, 0.02, lambda: None)


def _end_with_supervisor() -> None:
    """
    Have the kernel send this worker SIGTERM when its supervisor ends, even
    by SIGKILL (Linux's C{PR_SET_PDEATHSIG}), so that no worker is left
    behind; where that cannot be asked for, a worker outlives a supervisor
    killed outright.
    """
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    PR_SET_PDEATHSIG = 1
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):
        return
    # The supervisor may have ended before the request was made.
    if os.getppid() == 1:
        os.kill(os.getpid(), signal.SIGTERM)


class _WorkerProcess(protocol.ProcessProtocol):
    transport: Any

    def __init__(self, supervisor: Supervisor, slot: int) -> None:
        self.supervisor, self.slot = supervisor, slot
        self.started = time.monotonic()
        self.ended: defer.Deferred[None] = defer.Deferred()

    def processEnded(self, reason: Any) -> None:
        self.ended.callback(None)
        self.supervisor._ended(self, reason)


class Supervisor(service.Service):
    """
    Opens the listening socket and keeps C{--workers} worker processes
    serving on it (see this module's docstring).
    """

    def __init__(self, options: Options, reactor: Any = None) -> None:
        if reactor is None:
            from twisted.internet import reactor
        self.options, self.reactor = options, reactor
        self.workers: dict[int, _WorkerProcess] = {}
        self.backoff: dict[int, float] = {}
        self.stopping = False

    def startService(self) -> None:
        super().startService()
        self.socket = listening_socket(self.reactor, self.options["listen"])
        _log.info(
            "pbfast serve: listening on {address} with {workers} workers",
            address=_address_text(self.socket),
            workers=self.options["workers"],
        )
        for slot in range(self.options["workers"]):
            self._start(slot)

    def _arguments(self) -> list[str]:
        options = self.options
        arguments = [sys.executable, "-m", "pbfast", "serve", options["target"]]
        arguments += ["--listen", options["listen"], "--grace", str(options["grace"])]
        arguments += ["--inherit-fd", str(WORKER_FD)]
        for name in ("max-connections", "max-unsent"):
            if options[name] is not None:
                arguments += [f"--{name}", str(options[name])]
        if options["install"]:
            arguments.append("--install")
        return arguments

    def _start(self, slot: int) -> None:
        if self.stopping:
            return
        worker = _WorkerProcess(self, slot)
        self.workers[slot] = worker
        self.reactor.spawnProcess(
            worker,
            sys.executable,
            self._arguments(),
            env=os.environ,
            childFDs={0: 0, 1: 1, 2: 2, WORKER_FD: self.socket.fileno()},
        )
        _log.info(
            "pbfast serve: started worker {pid} (slot {slot})",
            pid=worker.transport.pid,
            slot=slot,
        )

    def _ended(self, worker: _WorkerProcess, reason: Any) -> None:
        if self.workers.get(worker.slot) is worker:
            del self.workers[worker.slot]
        if self.stopping:
            return
        lived = time.monotonic() - worker.started
        if lived >= LONG_LIVED:
            delay = 0.0
        else:
            delay = min(MAX_BACKOFF, max(0.5, 2 * self.backoff.get(worker.slot, 0.0)))
        self.backoff[worker.slot] = delay
        _log.warn(
            "pbfast serve: worker of slot {slot} ended after {lived:.1f} s ({reason}); "
            "starting another in {delay:.1f} s",
            slot=worker.slot,
            lived=lived,
            reason=reason.value,
            delay=delay,
        )
        self.reactor.callLater(delay, self._start, worker.slot)

    @defer.inlineCallbacks
    def stopService(self) -> Any:
        super().stopService()
        self.stopping = True
        if getattr(self, "socket", None) is not None:
            self.socket.close()
        workers = list(self.workers.values())
        for worker in workers:
            try:
                worker.transport.signalProcess("TERM")
            except Exception:  # Ended meanwhile.
                pass
        ended = defer.DeferredList([worker.ended for worker in workers])
        timeout = self.reactor.callLater(self.options["grace"] + KILL_AFTER, self._kill, workers)
        yield ended
        if timeout.active():
            timeout.cancel()
        _log.info("pbfast serve: stopped, no worker left")

    def _kill(self, workers: list[_WorkerProcess]) -> None:
        for worker in workers:
            if not worker.ended.called:
                _log.warn("pbfast serve: killing worker {pid}", pid=worker.transport.pid)
                try:
                    worker.transport.signalProcess("KILL")
                except Exception:  # Ended meanwhile.
                    pass


def makeService(options: Options) -> service.Service:
    """The service C{options} describe (what C{twist pbfast} runs)."""
    if options["workers"] > 1 and options["inherit-fd"] is None:
        return Supervisor(options)
    return Worker(options)


def main(argv: list[str]) -> int:
    """C{python -m pbfast serve ...}: run the service until SIGTERM or SIGINT; 0 once stopped."""
    from twisted.internet import reactor as the_reactor
    from twisted.logger import globalLogBeginner, textFileLogObserver

    reactor: Any = the_reactor

    options = Options()
    try:
        options.parseOptions(argv)
    except usage.UsageError as error:
        print(f"{options}\nerror: {error}", file=sys.stderr)
        return 2
    observer: Any = textFileLogObserver(sys.stdout)
    globalLogBeginner.beginLoggingTo([observer])
    served = makeService(options)
    failed: list[Any] = []

    def start() -> None:
        def could_not(failure: Any) -> None:
            failed.append(failure)
            _log.failure("pbfast serve: could not start", failure)
            reactor.stop()

        defer.maybeDeferred(served.startService).addErrback(could_not)

    def stop_once(signum: int, frame: Any) -> None:
        # A second signal while stopping (a supervisor's and a shell's, or
        # Ctrl-C twice) changes nothing: the stop under way finishes.
        if not stopping:
            stopping.append(signum)
            reactor.callFromThread(reactor.stop)

    stopping: list[int] = []

    def handle_signals() -> None:
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, stop_once)

    reactor.callWhenRunning(handle_signals)
    reactor.callWhenRunning(start)
    reactor.addSystemEventTrigger("before", "shutdown", served.stopService)
    reactor.run()
    return 1 if failed else 0
