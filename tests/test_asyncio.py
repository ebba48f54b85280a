"""
PB on Twisted's asyncio reactor (C{examples/async_echo.py}): a server and a
client in one process, called with C{await} from C{async def} code and
through C{Deferred.asFuture} from plain asyncio code, on pbfast's broker, on
Twisted's modules with C{pbfast.install()}, on stock Twisted, and with
pbfast at one end and stock Twisted at the other.

Each run is a fresh interpreter: the reactor is process-wide, and this one
may already have imported the default one. Warnings are errors there too,
and the run must leave nothing on standard error (no unhandled error, no
unclosed loop or socket).
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from pbfast.tools import examples_runner

REACTOR = "reactor: twisted.internet.asyncioreactor.AsyncioSelectorReactor"


def calls(errorModule: str = "__main__") -> list[str]:
    """What the example prints after its reactor and broker lines."""
    return [
        "echo: ['hello', 42, {'x': (1.5, None)}]",
        "slowEcho: after asyncio.sleep",
        f"fail: b'{errorModule}.NoSuchThing' no such thing",
        "asyncio.gather through asFuture: [0, 1, 2]",
        "asyncio.wait_for through asFuture: timed out",
        "echo after: still connected",
    ]


def run(*arguments: str) -> list[str]:
    """Run python with C{arguments} in the examples' directory; the lines it printed."""
    done = subprocess.run(
        [sys.executable, "-W", "error", *arguments],
        cwd=examples_runner.EXAMPLES,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (done.returncode, done.stderr) == (0, ""), done.stdout
    return done.stdout.splitlines()


@pytest.mark.parametrize(
    ("runs", "broker"),
    [
        (examples_runner.PBFAST, "pbfast.pb.Broker, serialize from pbfast.pb"),
        (examples_runner.INSTALLED, "twisted.spread.pb.Broker, serialize from pbfast.pb"),
        (examples_runner.STOCK, "twisted.spread.pb.Broker, serialize from twisted.spread.pb"),
    ],
    ids=["pbfast", "installed", "stock"],
)
def test_example_on_the_asyncio_reactor(runs: str, broker: str) -> None:
    printed = run("async_echo.py", *examples_runner.FLAGS[runs])
    assert printed == [REACTOR, f"broker: {broker}", *calls()]


MIXED = """
import async_echo  # installs the asyncio reactor; pbchoice picks pbfast (no flag)
from twisted.internet import task
from twisted.spread import pb as stock
from pbfast import pb as fast

server, client = {server}.PBServerFactory(async_echo.Echoer()), {client}.PBClientFactory()
build = server.buildProtocol

def buildProtocol(addr):
    broker = build(addr)
    print("server broker:", type(broker).__module__, type(broker).__name__)
    return broker

server.buildProtocol = buildProtocol
try:
    task.react(async_echo.demo, [server, client])
finally:
    async_echo.loop.close()
"""


@pytest.mark.parametrize(
    ("server", "client"),
    [("stock", "fast"), ("fast", "stock")],
    ids=["stock-server", "stock-client"],
)
def test_pbfast_and_stock_twisted_on_the_asyncio_reactor(server: str, client: str) -> None:
    modules = {"stock": "twisted.spread.pb", "fast": "pbfast.pb"}
    printed = run("-c", MIXED.format(server=server, client=client))
    assert printed == [
        f"server broker: {modules[server]} Broker",
        REACTOR,
        f"broker: {modules[client]}.Broker, serialize from {modules[client]}",
        *calls("async_echo"),
    ]
