"""
The command line: C{python -m pbfast demo | bench | decode} (C{--help} for
each). L{DESCRIPTION} and the commands' help are what users see.
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


DESCRIPTION = "pbfast: Twisted's Perspective Broker on a native codec."


def _wrapped(text: str, indent: str, width: int = 96) -> list[str]:
    """C{text} cut into lines of C{width} (s-expressions and hex shown whole)."""
    room = width - len(indent)
    return [indent + text[start : start + room] for start in range(0, len(text), room)] or [indent]


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
        back = banana.decode(ours) == json_like(value)
        print("\n".join(_wrapped(repr(value), "   ")))
        print("\n".join(_wrapped(ours.hex(" "), "     ")))
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
        print("\n".join(_wrapped(f"pbfast server got:  {message!r}", "   ")))
    for message in client_got:
        print("\n".join(_wrapped(f"Twisted client got: {message!r}", "   ")))
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
    print("\n".join(_wrapped(repr(ours), "     ")))
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


def bench(args: argparse.Namespace) -> int:
    if args.plot:
        from pbfast import _plot

        try:
            # Before minutes of measuring, not after.
            _plot.pyplot()
        except _plot.MissingMatplotlib as missing:
            print(f"python -m pbfast bench: error: {missing}", file=sys.stderr)
            return 2
    rows: list[_bench.SuiteRow] = []
    shape_rows: list[_bench.SuiteRow] = []
    banana_rows: list[_bench.Row] = []
    jelly_rows: list[_bench.JellyRow] = []
    broker_rows: list[_broker_bench.BrokerRow] = []
    if not args.broker:
        rows = _bench.measure_suite(args.payload or None, budget=args.budget)
    if args.all or args.shapes:
        shape_rows = _bench.measure_suite(budget=args.budget, payloads=_bench.SHAPES)
    if args.all:
        banana_rows = _bench.measure(budget=args.budget)
        jelly_rows = _bench.measure_jelly(budget=args.budget)
    if args.all or args.broker:
        broker_rows = _broker_bench.run(budget=args.budget, progress=sys.stderr)
    targets = {}
    if rows:
        targets.update(_bench.suite_summary(rows)["targets"])
    targets.update(_broker_bench.targets(broker_rows))
    if args.json:
        report: dict[str, Any] = {"targets": targets}
        if rows:
            report["suite"] = [row.as_json() for row in rows]
            report["summary"] = _bench.suite_summary(rows)
        if shape_rows:
            report["shapes"] = [row.as_json() for row in shape_rows]
        if banana_rows:
            report["banana"] = [row.as_json() for row in banana_rows]
            report["jelly"] = [row.as_json() for row in jelly_rows]
        if broker_rows:
            report["broker"] = _broker_bench.asJSON(broker_rows)
        json.dump(report, sys.stdout, indent=2)
        print()
    else:
        heading = "### " if args.markdown else ""
        sections = []
        if rows:
            sections.append(
                f"{heading}Objects <-> bytes: pbfast.dumps/loads vs Twisted's jelly+banana "
                f"vs pickle\n\n{_bench.suite_table(rows, args.markdown)}"
            )
        if shape_rows:
            sections.append(
                f"{heading}Shapes beyond the suite: pbfast.dumps/loads vs Twisted vs pickle"
                f"\n\n{_bench.shapes_table(shape_rows, args.markdown)}"
            )
        if banana_rows:
            sections.append(
                f"{heading}Banana alone (s-expression <-> bytes)"
                f"\n\n{_bench.table(banana_rows, args.markdown)}"
            )
            sections.append(
                f"{heading}Jelly alone (objects <-> s-expression)"
                f"\n\n{_bench.jelly_table(jelly_rows, args.markdown)}"
            )
        if broker_rows:
            sections.append(
                f"{heading}The broker: echo calls/s, pbfast's broker vs Twisted's"
                f"\n\n{_broker_bench.table(broker_rows, args.markdown)}"
            )
        print("\n\n".join(sections))
    if args.plot:
        _plot.plot(rows, broker_rows, args.plot)
        print(f"chart written to {args.plot}", file=sys.stderr)
    if args.check and not all(targets.values()):
        missed = [target for target, met in targets.items() if not met]
        print(f"python -m pbfast bench: targets not met: {'; '.join(missed)}", file=sys.stderr)
        return 1
    return 0


def decode(args: argparse.Namespace) -> int:
    from pbfast import _inspect

    try:
        if args.file == "-":
            data = sys.stdin.buffer.read()
        else:
            with open(args.file, "rb") as capture_file:
                data = capture_file.read()
    except OSError as error:
        reason = error.strerror or str(error)
        print(f"python -m pbfast decode: error: cannot read {args.file}: {reason}", file=sys.stderr)
        return 2
    capture = _inspect.read(data)
    if args.json:
        json.dump(_inspect.asJSON(capture), sys.stdout, indent=2)
        print()
    else:
        for line in _inspect.lines(capture):
            print(line)
    return 0 if capture.complete else 1


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a number of seconds above 0, not {text}")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pbfast",
        description=DESCRIPTION,
    )
    parser.add_argument("--version", action="version", version=f"pbfast {pbfast.__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    demo_parser = commands.add_parser(
        "demo", help="the examples over loopback, the broker's speed, the codec at work"
    )
    demo_parser.add_argument(
        "--budget", type=_seconds, default=0.15, help="seconds per timing (default 0.15)"
    )
    demo_parser.set_defaults(run=demo)
    bench_parser = commands.add_parser(
        "bench",
        help="pbfast vs Twisted vs pickle",
        description=(
            "pbfast against Twisted and pickle, as ratios from one run: each payload's calls "
            "are timed together in rounds, and a time is the median of the rounds."
        ),
    )
    bench_parser.add_argument(
        "--budget",
        type=_seconds,
        default=1.0,
        help="seconds of timing per payload (default 1; at least 5 rounds each)",
    )
    bench_parser.add_argument(
        "--payload", action="append", choices=list(_bench.SUITE), help="only these payloads"
    )
    bench_parser.add_argument(
        "--all",
        action="store_true",
        help="also the shapes beyond the suite, Banana alone, jelly alone and the broker",
    )
    bench_parser.add_argument(
        "--broker", action="store_true", help="the broker only: calls/s, pbfast's vs Twisted's"
    )
    bench_parser.add_argument(
        "--shapes",
        action="store_true",
        help="also payload shapes beyond the suite (tuples, None, sets, self-holding lists...)",
    )
    bench_parser.add_argument("--json", action="store_true", help="machine-readable output")
    bench_parser.add_argument("--markdown", action="store_true", help="the tables in Markdown")
    bench_parser.add_argument(
        "--plot", metavar="FILE.png", help="also draw bar charts of the speedups (matplotlib)"
    )
    bench_parser.add_argument(
        "--check", action="store_true", help="exit with status 1 if a target is not met"
    )
    bench_parser.set_defaults(run=bench)
    decode_parser = commands.add_parser(
        "decode",
        help="read a Banana capture: messages, offsets, what they carry, faults",
        description=(
            "Read a Banana capture (bytes saved from a PB connection -- see pbfast.capture -- "
            "or pbfast.dumps output; either dialect): each expression with its offset, PB "
            "messages as what they are, their jellied parts as objects where globalSecurity "
            "allows and as s-expressions where not; then a fault, and where it is. Exit "
            "status 1 if the capture is malformed or cut short, 2 if it cannot be read."
        ),
    )
    decode_parser.add_argument("file", nargs="?", default="-", help="a file, or - for stdin")
    decode_parser.add_argument("--json", action="store_true", help="machine-readable output")
    decode_parser.set_defaults(run=decode)
    args = parser.parse_args(argv)
    status: int | None = args.run(args)
    return status or 0


if __name__ == "__main__":
    sys.exit(main())
