"""
C{python -m pbfast demo | bench | decode}.

  - C{demo}: what pbfast does, shown: the example programs of Twisted's "PB
    Copyable" document over loopback TCP, on pbfast's broker against stock
    Twisted's both ways, printing what the document says they print; the
    broker's calls per second against Twisted's; then the codec: round trips
    whose bytes are compared with Twisted's, bad input turned away, a pbfast
    Banana and a stock Twisted one talking, an object graph through jelly and
    dumps/loads, and the codec's speed table.
  - C{bench}: the speed table of objects <-> bytes over a payload suite
    (pbfast vs Twisted vs pickle, as ratios from one run, and the decode's
    memory), with the targets met or not; C{--broker} times the broker
    instead (calls per second, pbfast's against Twisted's); C{--all} adds
    banana alone and jelly alone; C{--json} for machines.
  - C{decode}: print the s-expressions in a Banana byte stream (a file, or
    standard input).
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
from typing import Any

from twisted.internet import defer, protocol
from twisted.spread import banana as twisted_banana
from twisted.spread import jelly as twisted_jelly

import pbfast
from pbfast import _bench, _broker_bench, _examples, banana, jelly

ROUND_TRIPS: list[Any] = [
    [b"version", 6],
    [b"message", 1, b"root", b"echo", [b"tuple", [b"unicode", b"hi"]], [b"dictionary"]],
    [2**31 - 1, 2**31, -(2**31), -(2**31) - 1, 2**100],
    [1.5, float("inf"), -0.0],
    [b"", b"x" * 70, [[], [[]]]],
]

BAD_INPUTS: list[bytes] = [
    b"\x7f" * 65 + b"\x85",
    b"\x02\x01\x01\x01\x01\x80",
    b"\x02\x80\x01\x81\x05\x99",
    b"\x03\x80\x01\x81",
    b"\x01\x80" * 20_000 + b"\x00\x80",
]


def _short(value: Any, width: int = 44) -> str:
    text = repr(value)
    return text if len(text) <= width else text[: width - 3] + "..."


def _hex(data: bytes, width: int = 14) -> str:
    text = data[:width].hex(" ")
    return text + (" ..." if len(data) > width else "")


def show_examples() -> None:
    print('1. Twisted\'s "PB Copyable" examples over loopback TCP, each program its own process')
    for example, receiverRuns, senderRuns in [
        (_examples.PAIRS[0], _examples.STOCK, _examples.PBFAST),
        (_examples.PAIRS[1], _examples.PBFAST, _examples.STOCK),
        (_examples.PAIRS[2], _examples.INSTALLED, _examples.PBFAST),
    ]:
        outcome = _examples.run(example, receiverRuns, senderRuns)
        print(f"   {example.receiver} on {receiverRuns}, {example.sender} on {senderRuns}:")
        for line in outcome.receiverPrinted:
            print(f"     receiver | {line}")
        for line in outcome.senderPrinted:
            print(f"     sender   | {line}")
        if not outcome.asDocumented:
            raise SystemExit(
                f"the {example.name} example did not print what the document says:\n"
                f"{outcome.errors}"
            )
        print("     (as the document prints it)")
    print()


@defer.inlineCallbacks
def show_broker_speed(budget: float) -> Any:
    print("2. The broker: echo calls per second, pbfast's against Twisted's")
    rows = yield _broker_bench.measure(budget=budget)
    rows += _broker_bench.measureInMemory(budget=budget)
    for line in _broker_bench.table(rows).splitlines():
        print(f"   {line}")
    print()


def show_round_trips() -> None:
    print("3. Round trips: pbfast's bytes against Twisted's, and back")
    for value in ROUND_TRIPS:
        ours = banana.encode(value)
        same = ours == twisted_banana.encode(value)
        back = banana.decode(ours)
        print(f"   {_short(value):<46} {_hex(ours):<46} ", end="")
        print(("identical" if same else "DIFFERENT") + (", decodes back" if back == back else ""))
        if not same:
            raise SystemExit("pbfast's bytes differ from Twisted's")
    print()


def show_bad_input() -> None:
    print("4. Bad input is a BananaError saying what and where")
    for data in BAD_INPUTS:
        try:
            banana.decode(data)
        except banana.BananaError as error:
            print(f"   {_hex(data, 8):<30} {type(error).__name__}: {error}")
        else:
            raise SystemExit(f"{data[:20]!r} was accepted")
    print()


MESSAGES: list[Any] = [
    [b"message", 1, b"root", b"getStatus", [b"tuple"], [b"dictionary"]],
    [b"answer", 1, [b"list", 2**40, -7, 0.25, [b"unicode", b"ok"]]],
]


class _Talker(protocol.Protocol):
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


def _talker(base: type, is_client: int) -> Any:
    cls = type("Talker", (_Talker, base), {})
    talker = cls(is_client)
    talker.received = []
    talker.done = defer.Deferred()
    return talker


@defer.inlineCallbacks
def show_loopback(reactor: Any) -> Any:
    print("5. A pbfast Banana server and a stock Twisted Banana client, over TCP loopback")
    server = _talker(banana.Banana, 0)
    factory = protocol.Factory.forProtocol(lambda: server)
    port = reactor.listenTCP(0, factory, interface="127.0.0.1")
    client = _talker(twisted_banana.Banana, 1)
    endpoint = protocol.ClientCreator(reactor, lambda: client)
    yield endpoint.connectTCP("127.0.0.1", port.getHost().port)
    server_got, client_got = yield defer.gatherResults([server.done, client.done])
    print(f"   negotiated dialect: {server.currentDialect!r} (vocabulary symbols as VOCAB tokens)")
    for message in server_got:
        print(f"   pbfast server got:  {_short(message, 70)}")
    for message in client_got:
        print(f"   Twisted client got: {_short(message, 70)}")
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
    print(f"   s-expression (identical to Twisted's): {_short(ours, 90)}")
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
    print("7. Speed, best of several calls: objects <-> bytes, pbfast vs Twisted vs pickle")
    print(_bench.suite_table(_bench.measure_suite(budget=budget)))
    print()


def demo(args: argparse.Namespace) -> None:
    from twisted.internet import task

    print(f"pbfast {pbfast.__version__}: Twisted's Perspective Broker on a native codec\n")
    show_examples()

    @defer.inlineCallbacks
    def main(reactor: Any) -> Any:
        # The reactor runs once per process: everything that needs it, here.
        yield show_broker_speed(args.budget * 2)
        show_round_trips()
        show_bad_input()
        yield show_loopback(reactor)

    try:
        task.react(main)
    except SystemExit as exit_status:
        if exit_status.code not in (0, None):
            raise
    show_jelly()
    show_speed(args.budget)


def bench_broker(args: argparse.Namespace) -> None:
    rows = _broker_bench.run(budget=args.budget * 4, progress=sys.stderr)
    if args.json:
        json.dump({"broker": _broker_bench.asJSON(rows)}, sys.stdout, indent=2)
        print()
        return
    print("the broker: echo calls/s, pbfast's broker vs Twisted's")
    print(_broker_bench.table(rows))


def bench(args: argparse.Namespace) -> None:
    if args.broker:
        bench_broker(args)
        return
    rows = _bench.measure_suite(args.payload or None, budget=args.budget)
    banana_rows = jelly_rows = None
    if args.all:
        banana_rows = _bench.measure(budget=args.budget)
        jelly_rows = _bench.measure_jelly(budget=args.budget)
    if args.json:
        report: dict[str, Any] = {
            "suite": [row.as_json() for row in rows],
            "summary": _bench.suite_summary(rows),
        }
        if banana_rows is not None and jelly_rows is not None:
            report["banana"] = [row.as_json() for row in banana_rows]
            report["jelly"] = [row.as_json() for row in jelly_rows]
        json.dump(report, sys.stdout, indent=2)
        print()
        return
    print("objects <-> bytes: pbfast.dumps/loads vs Twisted's jelly+banana vs pickle")
    print(_bench.suite_table(rows))
    if banana_rows is not None and jelly_rows is not None:
        print()
        print("banana alone (s-expression <-> bytes)")
        print(_bench.table(banana_rows))
        print()
        print("jelly alone (objects <-> s-expression)")
        print(_bench.jelly_table(jelly_rows))


def decode(args: argparse.Namespace) -> None:
    data = sys.stdin.buffer.read() if args.file == "-" else open(args.file, "rb").read()
    received: list[Any] = []

    class Printer(banana.Banana):
        def expressionReceived(self, lst: Any) -> None:
            received.append(lst)

    reader = Printer()
    reader._selectDialect(b"pb" if args.pb else b"none")
    reader.dataReceived(data)
    for expression in received:
        print(repr(expression))
    if reader.buffer:
        raise SystemExit(f"{len(reader.buffer)} trailing bytes do not complete an expression")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m pbfast", description=__doc__.split("\n")[1])
    commands = parser.add_subparsers(dest="command", required=True)
    demo_parser = commands.add_parser("demo", help="show the codec at work")
    demo_parser.add_argument("--budget", type=float, default=0.15, help="seconds per timing")
    demo_parser.set_defaults(run=demo)
    bench_parser = commands.add_parser("bench", help="pbfast vs Twisted vs pickle")
    bench_parser.add_argument("--json", action="store_true", help="machine-readable output")
    bench_parser.add_argument("--budget", type=float, default=0.5, help="seconds per timing")
    bench_parser.add_argument(
        "--payload", action="append", choices=list(_bench.SUITE), help="only these payloads"
    )
    bench_parser.add_argument(
        "--broker",
        action="store_true",
        help="time the broker instead: calls/s of pbfast's broker against Twisted's",
    )
    bench_parser.add_argument(
        "--all",
        action="store_true",
        help="also time banana alone and jelly alone (the s-expression layers)",
    )
    bench_parser.set_defaults(run=bench)
    decode_parser = commands.add_parser("decode", help="print a Banana stream's expressions")
    decode_parser.add_argument("file", nargs="?", default="-", help="a file, or - for stdin")
    decode_parser.add_argument("--pb", action="store_true", help="dialect pb (vocabulary)")
    decode_parser.set_defaults(run=decode)
    args = parser.parse_args(argv)
    args.run(args)


if __name__ == "__main__":
    main()
