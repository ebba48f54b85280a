"""
The report of C{python -m pbfast bench} and of the demo's speed tables: the
rows that L{pbfast.tools.bench} and L{pbfast.tools.broker_bench} measure,
rendered as aligned text or Markdown tables (L{render}), with what their
columns mean under them; the figures the targets are about
(L{suite_summary}, L{broker_targets}), and a line per target, met or not
(L{target_lines}).
"""

from __future__ import annotations

from typing import Any

from pbfast.tools.bench import JellyRow, Row, SuiteRow
from pbfast.tools.broker_bench import (
    FLOOR,
    FLOOR_AT_ONCE,
    HEAVY_CALLS,
    ONE_AT_A_TIME,
    BrokerRow,
    FairnessRow,
)
from pbfast.tools.payloads import BROKER_PAYLOADS
from pbfast.tools.timing import median


def duration(seconds: float) -> str:
    """C{seconds} in the unit that reads best: s, ms, us or ns."""
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


def render(headers: list[str], rows: list[list[str]], markdown: bool = False) -> list[str]:
    """
    A table's lines: aligned text (the first column left, the others
    right), or a Markdown table.
    """
    if markdown:
        lines = ["| " + " | ".join(headers) + " |"]
        lines.append("|" + "|".join([":---"] + ["---:"] * (len(headers) - 1)) + "|")
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        return lines
    widths = [max(len(cells[index]) for cells in [headers, *rows]) for index in range(len(headers))]

    def line(cells: list[str]) -> str:
        first = cells[0].ljust(widths[0])
        rest = zip(cells[1:], widths[1:], strict=True)
        return " ".join([first, *(cell.rjust(width) for cell, width in rest)])

    text = [line(headers)]
    return [*text, "-" * len(text[0]), *(line(cells) for cells in rows)]


def time_cells(
    rows: list[Row], encode: str, decode: str, memory: bool
) -> tuple[list[str], list[list[str]]]:
    """The headers and a row of cells per payload: times, ratios, spread, memory."""
    headers = [
        "payload",
        "bytes",
        encode,
        "xTwisted",
        "xpickle",
        decode,
        "xTwisted",
        "xpickle",
        "±",
    ]
    if memory:
        headers.append("mem")
    cells = []
    for row in rows:
        r = row.ratios()
        line = [
            row.payload,
            f"{row.size:,}",
            duration(row.encode_pbfast),
            f"{r['encode_vs_twisted']:.1f}x",
            f"{r['encode_vs_pickle']:.2f}x",
            duration(row.decode_pbfast),
            f"{r['decode_vs_twisted']:.1f}x",
            f"{r['decode_vs_pickle']:.2f}x",
            f"{row.spread:.0%}",
        ]
        if memory:
            line.append(f"{r['decode_extra_memory_vs_size']:.2f}")
        cells.append(line)
    return headers, cells


def banana_table(rows: list[Row], markdown: bool = False) -> str:
    """The Banana speed table: times and ratios (how many times faster pbfast is)."""
    lines = render(*time_cells(rows, "encode", "decode", memory=False), markdown=markdown)
    lines.append(
        "\nxTwisted: Twisted's time / pbfast's (banana only); "
        "xpickle: pickle protocol 5's time / pbfast's, on the same s-expression; "
        "±: how far the ratios moved between rounds."
    )
    return "\n".join(lines)


def jelly_table(rows: list[JellyRow], markdown: bool = False) -> str:
    """The jelly speed table: pbfast's times and how many times Twisted's."""
    headers = ["payload", "jelly", "xTwisted", "unjelly", "xTwisted", "±"]
    cells = []
    for row in rows:
        r = row.ratios()
        cells.append(
            [
                row.payload,
                duration(row.jelly_pbfast),
                f"{r['jelly_vs_twisted']:.1f}x",
                duration(row.unjelly_pbfast),
                f"{r['unjelly_vs_twisted']:.1f}x",
                f"{row.spread:.0%}",
            ]
        )
    lines = render(headers, cells, markdown)
    lines.append("\nxTwisted: Twisted's time / pbfast's (jelly.jelly, jelly.unjelly).")
    return "\n".join(lines)


def suite_summary(rows: list[SuiteRow]) -> dict[str, Any]:
    """The figures the targets are about, from one run, and whether each is met."""
    ratios = [row.ratios() for row in rows]

    def column(name: str) -> list[float]:
        return [r[name] for r in ratios]

    figures = {
        "slowest_vs_twisted": min(column("encode_vs_twisted") + column("decode_vs_twisted")),
        "median_encode_vs_twisted": median(column("encode_vs_twisted")),
        "median_decode_vs_twisted": median(column("decode_vs_twisted")),
        "slowest_vs_pickle": min(column("encode_vs_pickle") + column("decode_vs_pickle")),
        "median_encode_vs_pickle": median(column("encode_vs_pickle")),
        "median_decode_vs_pickle": median(column("decode_vs_pickle")),
        "most_decode_extra_memory_vs_size": max(column("decode_extra_memory_vs_size")),
    }
    targets = {
        "never slower than Twisted": figures["slowest_vs_twisted"] >= 1.0,
        "median encode >= 20x Twisted": figures["median_encode_vs_twisted"] >= 20.0,
        "median decode >= 50x Twisted": figures["median_decode_vs_twisted"] >= 50.0,
        "median decode faster than pickle": figures["median_decode_vs_pickle"] > 1.0,
        "every payload within 1.25x of pickle": figures["slowest_vs_pickle"] >= 0.8,
        "decode memory <= 2x message + result": figures["most_decode_extra_memory_vs_size"] <= 2.0,
    }
    small = [row for row in rows if row.payload == "small call"]
    if small:
        call = small[0]
        figures["small_call_vs_pickle"] = (call.encode_pickle + call.decode_pickle) / (
            call.encode_pbfast + call.decode_pbfast
        )
        targets["small call both ways within 1.2x of pickle"] = (
            figures["small_call_vs_pickle"] >= 1 / 1.2
        )
    versus_msgspec = [
        ratio
        for row in rows
        for ratio in (row.encode_vs_msgspec, row.decode_vs_msgspec)
        if ratio is not None
    ]
    if versus_msgspec:
        figures["slowest_vs_msgspec"] = min(versus_msgspec)
        figures["median_vs_msgspec"] = median(versus_msgspec)
        targets["within 2x of msgspec where it carries the payload"] = (
            figures["slowest_vs_msgspec"] >= 0.5
        )
    return {**figures, "targets": targets}


def shapes_table(rows: list[SuiteRow], markdown: bool = False) -> str:
    """The speed table of the shapes beyond the suite: how far from pickle."""
    headers, cells = time_cells(list(rows), "dumps", "loads", memory=True)
    lines = render(headers, cells, markdown=markdown)
    against_pickle = [row.ratios() for row in rows]
    dumps = [ratio["encode_vs_pickle"] for ratio in against_pickle]
    loads = [ratio["decode_vs_pickle"] for ratio in against_pickle]
    lines += [
        "",
        f"dumps: median {median(dumps):.2f}x pickle, slowest {min(dumps):.2f}x; "
        f"loads: median {median(loads):.2f}x pickle, slowest {min(loads):.2f}x",
    ]
    return "\n".join(lines)


def suite_table(rows: list[SuiteRow], markdown: bool = False) -> str:
    """The speed table of the fused path, with the summary under it."""
    headers, cells = time_cells(list(rows), "dumps", "loads", memory=True)
    summary = suite_summary(rows)
    if "median_vs_msgspec" in summary:
        headers.insert(5, "xmsgspec")
        headers.insert(9, "xmsgspec")
        for row, line in zip(rows, cells, strict=True):
            for at, ratio in ((5, row.encode_vs_msgspec), (9, row.decode_vs_msgspec)):
                line.insert(at, "-" if ratio is None else f"{ratio:.2f}x")
    lines = render(headers, cells, markdown=markdown)
    lines += [
        "",
        "xTwisted: Twisted's time / pbfast's (banana.encode(jelly.jelly(x)),",
        "jelly.unjelly(banana.decode(b), globalSecurity)); xpickle: pickle protocol 5's /",
        "pbfast's; ±: how far the ratios moved between rounds; mem: loads' peak memory",
        "beyond its result, per message byte (tracemalloc).",
    ]
    if "median_vs_msgspec" in summary:
        lines += [
            "xmsgspec: msgspec's MessagePack time / pbfast's, where it carries the payload",
            "(equal values back, tuples as lists; no sharing, cycles, dates, decimals or sets).",
        ]
    lines += [
        "",
        f"median dumps {summary['median_encode_vs_twisted']:.1f}x Twisted, "
        f"{summary['median_encode_vs_pickle']:.2f}x pickle; median loads "
        f"{summary['median_decode_vs_twisted']:.1f}x Twisted, "
        f"{summary['median_decode_vs_pickle']:.2f}x pickle; slowest: "
        f"{summary['slowest_vs_twisted']:.1f}x Twisted, {summary['slowest_vs_pickle']:.2f}x pickle",
    ]
    if "small_call_vs_pickle" in summary:
        lines.append(
            f"small call, dumps + loads: {summary['small_call_vs_pickle']:.2f}x pickle's speed"
        )
    if "median_vs_msgspec" in summary:
        lines.append(
            f"against msgspec: median {summary['median_vs_msgspec']:.2f}x, "
            f"slowest {summary['slowest_vs_msgspec']:.2f}x"
        )
    lines += target_lines(summary["targets"], markdown)
    return "\n".join(lines)


MANY_CLIENTS_TARGET = 17_250
"""Calls/s of the many-clients mode to reach: 1.5 times the 11.5k measured before."""


def broker_targets(rows: list[BrokerRow]) -> dict[str, bool]:
    """
    The broker's targets, met or not: small calls at least 20 times
    Twisted's rate in memory and pipelined, at least 0.8 of the reactor's
    floor one at a time over TCP, the many-clients mode at
    L{MANY_CLIENTS_TARGET} calls/s; the Copyables and records at least 30
    times Twisted's in every mode.
    """

    def small(mode: str) -> list[BrokerRow]:
        return [row for row in rows if row.payload == "small call" and mode in row.mode]

    floor = [row for row in rows if row.payload == FLOOR]
    big = [row.ratio for row in rows if row.payload not in ("small call", FLOOR, FLOOR_AT_ONCE)]
    found = {}
    if small("in memory"):
        found["small calls in memory >= 20x Twisted"] = small("in memory")[0].ratio >= 20.0
    pipelined = [row.ratio for row in small("at a time") if row.mode != ONE_AT_A_TIME]
    if pipelined:
        found["small calls pipelined >= 20x Twisted"] = min(pipelined) >= 20.0
    if floor and small(ONE_AT_A_TIME):
        found["small calls one at a time >= 0.8 of the reactor's floor"] = (
            small(ONE_AT_A_TIME)[0].pbfast >= 0.8 * floor[0].pbfast
        )
    if small("clients"):
        found[f"{small('clients')[0].mode}: >= {MANY_CLIENTS_TARGET:,} calls/s"] = (
            small("clients")[0].pbfast >= MANY_CLIENTS_TARGET
        )
    if big:
        found["Copyables and records >= 30x Twisted"] = min(big) >= 30.0
    return found


def _milliseconds(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1e3:.2f}"


def broker_table(
    rows: list[BrokerRow],
    markdown: bool = False,
    fairness: list[FairnessRow] | None = None,
) -> str:
    """The broker table: calls per second, the ratio and latencies; fairness; the targets."""
    headers = [
        "payload",
        "mode",
        "pbfast calls/s",
        "Twisted calls/s",
        "xTwisted",
        "±",
        "pbfast p50/p99 ms",
        "Twisted p50/p99 ms",
    ]
    order = [*BROKER_PAYLOADS, FLOOR, FLOOR_AT_ONCE]
    cells = [
        [
            row.payload,
            row.mode,
            f"{row.pbfast:,.0f}",
            f"{row.twisted:,.0f}",
            f"{row.ratio:.1f}x",
            f"{row.spread:.0%}",
            f"{_milliseconds(row.pbfast_p50)} / {_milliseconds(row.pbfast_p99)}",
            f"{_milliseconds(row.twisted_p50)} / {_milliseconds(row.twisted_p99)}",
        ]
        for row in sorted(
            rows,
            key=lambda row: order.index(row.payload) if row.payload in order else len(order),
        )
    ]
    lines = render(headers, cells, markdown)
    lines += [
        "",
        "xTwisted: pbfast's calls per second / Twisted's, timed side by side; ±: how far it",
        "moved between rounds; p50/p99: from a call sent to its answer. One at a time over TCP,",
        "a call waits for the reactor's own round trip: the reactor floor row is a raw protocol",
        "echoing 40-byte messages, one in flight, over the same loopback, written with",
        "transport.write (its round trips/s in the pbfast column); the 'sent at once' row is",
        "the same protocol sending on the idle socket itself, as pbfast's broker does.",
    ]
    floor = [row for row in rows if row.payload == FLOOR]
    at_once = [row for row in rows if row.payload == FLOOR_AT_ONCE]
    one = [row for row in rows if row.payload == "small call" and row.mode == ONE_AT_A_TIME]
    if floor and one:
        line = (
            f"small call one at a time: pbfast at {one[0].pbfast / floor[0].pbfast:.2f} of the"
            f" floor, Twisted at {one[0].twisted / floor[0].pbfast:.2f}"
        )
        if at_once:
            line += f"; pbfast at {one[0].pbfast / at_once[0].pbfast:.2f} of the floor sent at once"
        lines.append(line)
    for row in fairness or []:
        lines.append(
            f"fairness, {row.broker}: a light client's calls, one at a time, while another"
            f" pipelines {HEAVY_CALLS:,} (done in {row.heavy_seconds:.2f} s):"
            f" p50 {row.light_p50 * 1e3:.2f} ms, p99 {row.light_p99 * 1e3:.2f} ms"
            f" ({row.light_calls} calls)"
        )
    lines += target_lines(broker_targets(rows), markdown)
    return "\n".join(lines)


def target_lines(targets: dict[str, bool], markdown: bool = False) -> list[str]:
    """A line per target: met or not (in Markdown, a list)."""
    if markdown:
        return [
            "",
            *(f"- {'met' if met else '**NOT MET**'}: {target}" for target, met in targets.items()),
        ]
    return [f"  {'met    ' if met else 'NOT MET'}  {target}" for target, met in targets.items()]
