"""
The command line: C{python -m pbfast demo | bench | decode} (C{--help} for
each), its arguments and what each command does with them.
L{DESCRIPTION} and the commands' help are what users see.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import pbfast
from pbfast.tools import bench, broker_bench, demo, payloads, tables

DESCRIPTION = "pbfast: Twisted's Perspective Broker on a native codec."


def demo_command(args: argparse.Namespace) -> None:
    demo.run(args.budget)


def bench_command(args: argparse.Namespace) -> int:
    if args.serve:
        from pbfast.tools import serve_bench

        served, slow = serve_bench.run(progress=sys.stderr)
        print(serve_bench.table(served, slow))
        return 0
    if args.plot:
        from pbfast.tools import plot

        try:
            # Before minutes of measuring, not after.
            plot.pyplot()
        except plot.MissingMatplotlib as missing:
            print(f"python -m pbfast bench: error: {missing}", file=sys.stderr)
            return 2
    rows: list[bench.SuiteRow] = []
    shape_rows: list[bench.SuiteRow] = []
    banana_rows: list[bench.Row] = []
    jelly_rows: list[bench.JellyRow] = []
    broker_rows: list[broker_bench.BrokerRow] = []
    fairness_rows: list[broker_bench.FairnessRow] = []
    if not args.broker:
        rows = bench.measure_suite(args.payload or None, budget=args.budget)
    if args.all or args.shapes:
        shape_rows = bench.measure_suite(budget=args.budget, payloads=payloads.SHAPES)
    if args.all:
        banana_rows = bench.measure_banana(budget=args.budget)
        jelly_rows = bench.measure_jelly(budget=args.budget)
    if args.all or args.broker:
        broker_rows = broker_bench.run(
            budget=args.budget, progress=sys.stderr, fairness_rows=fairness_rows
        )
    targets = {}
    if rows:
        targets.update(tables.suite_summary(rows)["targets"])
    targets.update(tables.broker_targets(broker_rows))
    if args.json:
        report: dict[str, Any] = {"targets": targets}
        if rows:
            report["suite"] = [row.as_json() for row in rows]
            report["summary"] = tables.suite_summary(rows)
        if shape_rows:
            report["shapes"] = [row.as_json() for row in shape_rows]
        if banana_rows:
            report["banana"] = [row.as_json() for row in banana_rows]
            report["jelly"] = [row.as_json() for row in jelly_rows]
        if broker_rows:
            report["broker"] = [row.as_json() for row in broker_rows]
            report["fairness"] = [row.as_json() for row in fairness_rows]
        json.dump(report, sys.stdout, indent=2)
        print()
    else:
        heading = "### " if args.markdown else ""
        sections = []
        if rows:
            sections.append(
                f"{heading}Objects <-> bytes: pbfast.dumps/loads vs Twisted's jelly+banana "
                f"vs pickle\n\n{tables.suite_table(rows, args.markdown)}"
            )
        if shape_rows:
            sections.append(
                f"{heading}Shapes beyond the suite: pbfast.dumps/loads vs Twisted vs pickle"
                f"\n\n{tables.shapes_table(shape_rows, args.markdown)}"
            )
        if banana_rows:
            sections.append(
                f"{heading}Banana alone (s-expression <-> bytes)"
                f"\n\n{tables.banana_table(banana_rows, args.markdown)}"
            )
            sections.append(
                f"{heading}Jelly alone (objects <-> s-expression)"
                f"\n\n{tables.jelly_table(jelly_rows, args.markdown)}"
            )
        if broker_rows:
            sections.append(
                f"{heading}The broker: echo calls/s, pbfast's broker vs Twisted's"
                f"\n\n{tables.broker_table(broker_rows, args.markdown, fairness_rows)}"
            )
        print("\n\n".join(sections))
    if args.plot:
        plot.plot(rows, broker_rows, args.plot)
        print(f"chart written to {args.plot}", file=sys.stderr)
    if args.check and not all(targets.values()):
        missed = [target for target, met in targets.items() if not met]
        print(f"python -m pbfast bench: targets not met: {'; '.join(missed)}", file=sys.stderr)
        return 1
    return 0


def decode_command(args: argparse.Namespace) -> int:
    from pbfast.tools import inspector

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
    capture = inspector.read(data)
    if args.json:
        json.dump(inspector.as_json(capture), sys.stdout, indent=2)
        print()
    else:
        for line in inspector.lines(capture):
            print(line)
    return 0 if capture.complete else 1


def serve_command(args: argparse.Namespace) -> int:
    from pbfast import serve

    return serve.main(args.arguments)


def seconds(text: str) -> float:
    """A C{--budget}: a number of seconds above 0, and finite."""
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
        "--budget", type=seconds, default=0.15, help="seconds per timing (default 0.15)"
    )
    demo_parser.set_defaults(run=demo_command)
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
        type=seconds,
        default=1.0,
        help="seconds of timing per payload (default 1; at least 5 rounds each)",
    )
    bench_parser.add_argument(
        "--payload", action="append", choices=list(payloads.SUITE), help="only these payloads"
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
        "--serve",
        action="store_true",
        help="python -m pbfast serve with 1 and 2 workers, and a peer that reads nothing",
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
    bench_parser.set_defaults(run=bench_command)
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
    decode_parser.set_defaults(run=decode_command)
    serve_parser = commands.add_parser(
        "serve",
        add_help=False,
        help="serve a PB root on N worker processes sharing one listening socket",
        description="python -m pbfast serve MODULE:NAME [--listen ENDPOINT] [--workers N] ...",
    )
    serve_parser.add_argument("arguments", nargs=argparse.REMAINDER)
    serve_parser.set_defaults(run=serve_command)
    args, rest = parser.parse_known_args(argv)
    if args.command == "serve":
        args.arguments = list(args.arguments) + rest
    elif rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    status: int | None = args.run(args)
    return status or 0


if __name__ == "__main__":
    sys.exit(main())
