"""
C{python -m pbfast bench --plot FILE.png}: bar charts of how many times
faster pbfast is than Twisted (and than pickle), for the codec and the
broker. matplotlib is an optional extra (C{pip install 'pbfast[plot]'}).
"""

from __future__ import annotations

from typing import Any

from pbfast.tools.bench import SuiteRow
from pbfast.tools.broker_bench import ONE_AT_A_TIME, BrokerRow


class MissingMatplotlib(Exception):
    """--plot needs matplotlib, which is not installed."""


def pyplot() -> Any:
    """matplotlib's pyplot, drawing to files; L{MissingMatplotlib} without it."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as error:
        raise MissingMatplotlib(
            "--plot needs matplotlib: pip install 'pbfast[plot]' (or matplotlib)"
        ) from error
    return plt


def plot(suite: list[SuiteRow], broker: list[BrokerRow], path: str) -> None:
    """Draw the charts of C{suite} and C{broker} (either may be empty) to C{path}."""
    plt = pyplot()
    panels = [panel for panel in (codec_panel(suite), broker_panel(broker)) if panel is not None]
    figure, axes = plt.subplots(len(panels), 1, figsize=(11, 4.2 * len(panels)), squeeze=False)
    for axis, (title, labels, series, note) in zip(axes[:, 0], panels, strict=True):
        width = 0.8 / len(series)
        for index, (name, values) in enumerate(series.items()):
            positions = [x + (index - (len(series) - 1) / 2) * width for x in range(len(labels))]
            axis.bar(positions, values, width, label=name)
        axis.set_yscale("log")
        # From below 1x (the line pbfast is measured against) to room above
        # the tallest bar for the legend.
        every = [value for values in series.values() for value in values]
        axis.set_ylim(bottom=min([*every, 1.0]) / 2, top=max(every) * 12)
        axis.axhline(1.0, color="black", linewidth=0.8)
        axis.set_xticks(range(len(labels)))
        axis.set_xticklabels(labels, rotation=20, ha="right")
        axis.set_ylabel("times as fast (log scale)")
        axis.set_title(title)
        axis.legend(fontsize="small", ncol=len(series), loc="upper center")
        axis.annotate(note, (0, -0.32), xycoords="axes fraction", fontsize="small", va="top")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def codec_panel(rows: list[SuiteRow]) -> Any:
    """The codec's chart: its title, payloads, series of ratios and note (None without rows)."""
    if not rows:
        return None
    ratios = [row.ratios() for row in rows]
    series = {
        "dumps vs Twisted": [r["encode_vs_twisted"] for r in ratios],
        "loads vs Twisted": [r["decode_vs_twisted"] for r in ratios],
        "dumps vs pickle": [r["encode_vs_pickle"] for r in ratios],
        "loads vs pickle": [r["decode_vs_pickle"] for r in ratios],
    }
    note = "objects <-> bytes: pbfast.dumps/loads against Twisted's jelly+banana and pickle 5"
    return "The codec", [row.payload for row in rows], series, note


def broker_panel(rows: list[BrokerRow]) -> Any:
    """The broker's chart: its title, payloads, series of ratios and note (None without rows)."""
    if not rows:
        return None
    payloads = list(dict.fromkeys(row.payload for row in rows))
    by_mode: dict[str, list[float]] = {}
    for row in rows:
        # "TCP, 64 at a time" and "TCP, 8 at a time" are one series; the
        # many-clients mode is one of its own.
        pipelined = row.mode.endswith(" at a time") and row.mode != ONE_AT_A_TIME
        kind = "TCP, pipelined" if pipelined else row.mode
        by_mode.setdefault(kind, [0.0] * len(payloads))[payloads.index(row.payload)] = row.ratio
    note = (
        "echo calls per second: pbfast's broker against Twisted's\n"
        "reactor floor: a raw ping-pong against Twisted's small calls (transport.write;"
        " sent at once: on the idle socket, as pbfast's broker sends)"
    )
    return "The broker", payloads, by_mode, note
