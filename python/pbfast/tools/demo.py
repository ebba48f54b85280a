"""
C{python -m pbfast demo}: pbfast at work, each part checked as it is shown --
Twisted's "PB Copyable" examples over loopback TCP, the broker's speed
against Twisted's, Banana round trips byte for byte against Twisted's, bad
input refused with what and where, a pbfast Banana server talking to a
stock Twisted client, jelly and C{dumps}/C{loads} on a graph with sharing
and a cycle, and the codec's speed table. A part that does not do what it
shows stops the demo with a non-zero exit status.
"""

from __future__ import annotations

import datetime
from typing import Any

from twisted.internet import defer, protocol
from twisted.spread import banana as twisted_banana
from twisted.spread import jelly as twisted_jelly

import pbfast
from pbfast import banana, jelly
from pbfast.tools import bench, broker_bench, examples_runner, tables

ROUND_TRIPS: list[Any] = [
    [b"version", 6],
    [b"message", 1, b"root", b"echo", [b"tuple", [b"unicode", b"hi"]], [b"dictionary"]],
    [2**31 - 1, 2**31, -(2**31), -(2**31) - 1, 2**100],
    [1.5, float("inf"), -0.0],
    [b"", b"x" * 70, [[], [[]]]],
]
"""s-expressions shown encoded, checked against Twisted's bytes and decoded back."""

BAD_INPUTS: list[bytes] = [
    b"\x7f" * 65 + b"\x85",
    b"\x02\x01\x01\x01\x01\x80",
    b"\x02\x80\x01\x81\x05\x99",
    b"\x03\x80\x01\x81",
    b"\x01\x80" * 20_000 + b"\x00\x80",
]
"""Malformed Banana: each must be refused with a BananaError."""


def wrapped(text: str, indent: str, width: int = 96) -> list[str]:
    """C{text} cut into lines of C{width} (s-expressions and hex shown whole)."""
    room = width - len(indent)
    return [indent + text[start : start + room] for start in range(0, len(text), room)] or [indent]


def show_examples() -> None:
    print('1. Twisted\'s "PB Copyable" examples over loopback TCP, each program its own process')
    for example, receiver_runs, sender_runs in [
        (examples_runner.PAIRS[0], examples_runner.STOCK, examples_runner.PBFAST),
        (examples_runner.PAIRS[1], examples_runner.PBFAST, examples_runner.STOCK),
        (examples_runner.PAIRS[2], examples_runner.INSTALLED, examples_runner.PBFAST),
    ]:
        outcome = examples_runner.run(example, receiver_runs, sender_runs)
        print(f"   {example.receiver} on {receiver_runs}, {example.sender} on {sender_runs}:")
        for line in outcome.receiver_printed:
            print(f"     receiver | {line}")
        for line in outcome.sender_printed:
            print(f"     sender   | {line}")
        if not outcome.as_documented:
            raise SystemExit(
                f"the {example.name} example did not print what the document says:\n"
                f"{outcome.errors}"
            )
        print("     (as the document prints it)")
    print()


@defer.inlineCallbacks
def show_broker_speed(budget: float) -> Any:
    print("2. The broker: echo calls per second, pbfast's against Twisted's")
    rows = yield broker_bench.measure_tcp(budget=budget)
    rows += broker_bench.measure_in_memory(budget=budget)
    for line in tables.broker_table(rows).splitlines():
        print(f"   {line}")
    print()


def show_round_trips() -> None:
    print("3. Round trips: pbfast's bytes against Twisted's, and back")
    for value in ROUND_TRIPS:
        ours = banana.encode(value)
        same = ours == twisted_banana.encode(value)
        back = banana.decode(ours) == json_like(value)
        print("\n".join(wrapped(repr(value), "   ")))
        print("\n".join(wrapped(ours.hex(" "), "     ")))
        print(
            "     "
            + ("identical to Twisted's" if same else "DIFFERENT from Twisted's")
            + (", decodes back" if back else ", DOES NOT decode back")
        )
        if not (same and back):
            raise SystemExit("pbfast's bytes differ from Twisted's")
    print()


def json_like(value: Any) -> Any:
    """What an encoded s-expression decodes to: tuples as lists."""
    if isinstance(value, (list, tuple)):
        return [json_like(item) for item in value]
    return value


def show_bad_input() -> None:
    print("4. Bad input is a BananaError saying what and where")
    for data in BAD_INPUTS:
        try:
            banana.decode(data)
        except banana.BananaError as error:
            shown = (
                data.hex(" ")
                if len(data) <= 16
                else f"{data[:8].hex(' ')} ... ({len(data):,} bytes)"
            )
            print(f"   {shown}")
            print(f"     {type(error).__name__}: {error}")
        else:
            raise SystemExit(f"{data[:20]!r} was accepted")
    print()


MESSAGES: list[Any] = [
    [b"message", 1, b"root", b"getStatus", [b"tuple"], [b"dictionary"]],
    [b"answer", 1, [b"list", 2**40, -7, 0.25, [b"unicode", b"ok"]]],
]
"""What each end of the loopback exchange sends the other."""


class Talker(protocol.Protocol):
    """Sends MESSAGES once the dialect is chosen; collects what it gets."""

    received: list[Any]
    done: defer.Deferred[list[Any]]

    def connectionReady(self) -> None:
        for message in MESSAGES:
            self.sendEncoded(message)  # type: ignore[attr-defined]

    def expressionReceived(self, lst: Any) -> None:
        self.received.append(lst)
        if len(self.received) == len(MESSAGES):
            self.done.callback(self.received)


def talker(base: type, is_client: int) -> Any:
    """A L{Talker} on the Banana protocol C{base} (pbfast's or Twisted's)."""
    cls = type("Talker", (Talker, base), {})
    made = cls(is_client)
    made.received = []
    made.done = defer.Deferred()
    return made


@defer.inlineCallbacks
def show_loopback(reactor: Any) -> Any:
    print("5. A pbfast Banana server and a stock Twisted Banana client, over TCP loopback")
    server = talker(banana.Banana, 0)
    factory = protocol.Factory.forProtocol(lambda: server)
    port = reactor.listenTCP(0, factory, interface="127.0.0.1")
    client = talker(twisted_banana.Banana, 1)
    endpoint = protocol.ClientCreator(reactor, lambda: client)
    yield endpoint.connectTCP("127.0.0.1", port.getHost().port)
    server_got, client_got = yield defer.gatherResults([server.done, client.done])
    print(f"   negotiated dialect: {server.currentDialect!r} (vocabulary symbols as VOCAB tokens)")
    for message in server_got:
        print("\n".join(wrapped(f"pbfast server got:  {message!r}", "   ")))
    for message in client_got:
        print("\n".join(wrapped(f"Twisted client got: {message!r}", "   ")))
    if server_got != MESSAGES or client_got != MESSAGES:
        raise SystemExit("the exchange lost or changed a message")
    client.transport.loseConnection()
    yield port.stopListening()
    print()


def show_jelly() -> None:
    print("6. Jelly and dumps/loads: a graph with a shared list and a cycle, against Twisted")
    shared = [1, 2]
    graph: dict[str, Any] = {"name": "root", "when": datetime.date(2026, 11, 25), "a": shared}
    graph["b"] = shared
    graph["self"] = graph
    ours = jelly.jelly(graph)
    if ours != twisted_jelly.jelly(graph):
        raise SystemExit("pbfast's s-expression differs from Twisted's")
    print("   s-expression (identical to Twisted's):")
    print("\n".join(wrapped(repr(ours), "     ")))
    back = jelly.unjelly(ours)
    print(
        "   unjellied: shared list shared again: "
        f"{back['a'] is back['b']}, cycle closed: {back['self'] is back}"
    )
    data = pbfast.dumps(graph)
    if data != twisted_banana.encode(twisted_jelly.jelly(graph)):
        raise SystemExit("pbfast.dumps differs from Twisted's encode(jelly())")
    print(
        f"   pbfast.dumps: {len(data)} bytes, identical to Twisted's banana.encode(jelly.jelly())"
    )
    loaded = pbfast.loads(data)
    print(
        "   pbfast.loads (secure by default): shared again: "
        f"{loaded['a'] is loaded['b']}, cycle closed: {loaded['self'] is loaded}"
    )
    hostile = twisted_banana.encode([b"os.system", [b"dictionary"]])
    try:
        pbfast.loads(hostile)
    except jelly.InsecureJelly as error:
        print(f"   pbfast.loads of an os.system instance: InsecureJelly({error})")
    else:
        raise SystemExit("an os.system instance was accepted")
    print()


def show_speed(budget: float) -> None:
    print("7. Speed: objects <-> bytes, pbfast vs Twisted vs pickle (ratios timed side by side)")
    print(tables.suite_table(bench.measure_suite(budget=budget)))
    print()


def run(budget: float) -> None:
    """The whole demo, C{budget} seconds per timing (twice that for the broker's)."""
    from twisted.internet import task

    print(f"pbfast {pbfast.__version__}: Twisted's Perspective Broker on a native codec\n")
    show_examples()

    @defer.inlineCallbacks
    def main(reactor: Any) -> Any:
        # The reactor runs once per process: everything that needs it, here.
        yield show_broker_speed(budget * 2)
        show_round_trips()
        show_bad_input()
        yield show_loopback(reactor)

    try:
        task.react(main)
    except SystemExit as exit_status:
        if exit_status.code not in (0, None):
            raise
    show_jelly()
    show_speed(budget)
