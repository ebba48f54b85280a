"""
The command line, as a user meets it: C{python -m pbfast --help} and
C{--version}; C{decode} of captures from a live connection (recorded by
L{pbfast.capture}), of C{dumps} output, of captures cut short or malformed
(everything before the fault, then the fault and its offset; exit status 1),
of files that cannot be read (one line, exit status 2); C{bench}'s options
(a budget that means something, C{--check} failing the exit status when a
target is not met, C{--markdown}, C{--plot} with or without matplotlib).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
from twisted.internet import defer, reactor
from twisted.spread import banana as twisted_banana
from twisted.spread import jelly as twisted_jelly
from twisted.trial import unittest

import pbfast
from pb_objects import Service
from pbfast import banana
from pbfast import pb as fast_pb
from pbfast.tools import bench, cli, inspector, payloads, reference
from pbfast.tools.bench import SuiteRow


def pbfast_command(*arguments: str, stdin: bytes = b"") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pbfast", *arguments],
        input=stdin.decode("latin-1"),
        capture_output=True,
        text=True,
        encoding="latin-1",
        timeout=120,
    )


def test_help_is_plain_text() -> None:
    for arguments in [["--help"], ["decode", "--help"], ["bench", "--help"]]:
        done = pbfast_command(*arguments)
        assert done.returncode == 0
        assert "C{" not in done.stdout and "L{" not in done.stdout, done.stdout
    assert "demo" in pbfast_command("--help").stdout


def test_version() -> None:
    done = pbfast_command("--version")
    assert (done.returncode, done.stdout.strip()) == (0, f"pbfast {pbfast.__version__}")


# A PB session's bytes, as a client sends them: the dialect, the version, a
# call with a refused argument, a call with plain ones, a reference released.
CLIENT_SENT = b"".join(
    banana.encode(expression)
    for expression in [
        b"pb",
        [b"version", 6],
        [b"message", 1, b"root", b"echo", 1, [b"tuple", [b"os.system", 1]], [b"dictionary"]],
        [
            b"message",
            2,
            b"root",
            b"echo",
            1,
            [b"tuple", [b"unicode", b"hi"]],
            [b"dictionary", [[b"unicode", b"x"], [b"list", 1, 2]]],
        ],
        [b"decref", 5],
    ]
)


def test_decode_a_pb_session(tmp_path: Path) -> None:
    capture = tmp_path / "sent.bin"
    capture.write_bytes(CLIENT_SENT)
    done = pbfast_command("decode", str(capture))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "@0       dialect chosen: pb"
    assert lines[1].endswith("version: version 6")
    assert "message #1: object root, method echo (answer wanted)" in lines[2]
    # Refused by globalSecurity: shown as the s-expression, with why.
    assert "[b'os.system', 1]" in lines[3] and "not made" in lines[3]
    assert "message #2: object root, method echo" in lines[5]
    assert lines[6].split() == ["args:", "('hi',)"]
    assert lines[7].split(maxsplit=1) == ["kwargs:", "{'x': [1, 2]}"]
    assert lines[8].endswith("decref: object 5")
    assert len(lines) == 9


def test_decode_json() -> None:
    done = pbfast_command("decode", "--json", "-", stdin=CLIENT_SENT)
    assert done.returncode == 0
    report = json.loads(done.stdout)
    assert report["error"] is None
    kinds = [expression["kind"] for expression in report["expressions"]]
    assert kinds == ["dialect", "version", "message", "message", "decref"]
    second = report["expressions"][3]
    assert (second["request"], second["method"]) == (2, {"bytes": "echo"})
    assert second["args"]["object"] == "('hi',)"
    assert "refused" in report["expressions"][2]["args"]


def test_decode_dumps_output() -> None:
    data = pbfast.dumps({"a": 1}) + pbfast.dumps([1, 2.5])
    done = pbfast_command("decode", "-", stdin=data)
    assert done.returncode == 0
    assert done.stdout.splitlines() == [
        "@0       {'a': 1}",
        f"@{len(pbfast.dumps({'a': 1})):<8}[1, 2.5]",
    ]


def test_decode_a_capture_cut_short() -> None:
    cut = CLIENT_SENT[:-2]
    done = pbfast_command("decode", "-", stdin=cut)
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    assert "message #2" in lines[5]
    start = len(CLIENT_SENT) - len(banana.encode([b"decref", 5]))
    assert lines[-1] == (
        f"ERROR at offset {start}: the last {len(cut) - start} bytes do not complete "
        "an expression (a capture cut short?)"
    )
    report = json.loads(pbfast_command("decode", "--json", "-", stdin=cut).stdout)
    assert report["error"]["offset"] == start
    assert len(report["expressions"]) == 4


def test_decode_a_bad_type_byte() -> None:
    good = banana.encode(b"pb") + banana.encode([b"version", 6])
    done = pbfast_command("decode", "-", stdin=good + b"\x02\x80\x01\x81\x05\x99")
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    assert len(lines) == 3
    token = len(good) + 4  # where the bad token's prefix starts
    assert lines[-1] == f"ERROR at offset {token}: Invalid Type Byte 0x99 at offset {token}"
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("where", ["missing", "directory"])
def test_decode_what_cannot_be_read(tmp_path: Path, where: str) -> None:
    path = tmp_path / "nothing.bin" if where == "missing" else tmp_path
    done = pbfast_command("decode", str(path))
    assert done.returncode == 2
    assert done.stdout == ""
    (line,) = done.stderr.splitlines()
    assert line.startswith(f"python -m pbfast decode: error: cannot read {path}: ")


class Capture(unittest.TestCase):
    """L{pbfast.capture} records a live connection's bytes both ways."""

    @defer.inlineCallbacks
    def test_captureALiveConnection(self) -> Any:
        directory = Path(tempfile.mkdtemp())
        self.addCleanup(shutil.rmtree, directory)
        factory = pbfast.capture(fast_pb.PBServerFactory(Service()), directory)
        port = reactor.listenTCP(0, factory, interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        client = fast_pb.PBClientFactory()
        clientDirectory = Path(tempfile.mkdtemp())
        self.addCleanup(shutil.rmtree, clientDirectory)
        reactor.connectTCP(
            "127.0.0.1", port.getHost().port, pbfast.capture(client, clientDirectory)
        )
        root = yield client.getRootObject()
        self.assertEqual((yield root.callRemote("echo", "hi", x=[1, 2])), [["hi"], {"x": [1, 2]}])
        lost: defer.Deferred[None] = defer.Deferred()
        root.notifyOnDisconnect(lambda _: lost.callback(None))
        client.disconnect()
        yield lost
        received = inspector.read((directory / "1-received.bin").read_bytes())
        sent = inspector.read((directory / "1-sent.bin").read_bytes())
        self.assertTrue(received.complete and sent.complete)
        self.assertEqual([e.kind for e in received.expressions], ["dialect", "version", "message"])
        call = received.expressions[2].fields
        self.assertEqual((call["method"], call["args"].object), (b"echo", ("hi",)))
        self.assertEqual(call["kwargs"].object, {"x": [1, 2]})
        self.assertEqual([e.kind for e in sent.expressions], ["dialects", "version", "answer"])
        self.assertEqual(sent.expressions[2].fields["result"].object, [["hi"], {"x": [1, 2]}])
        # The client's capture: the same bytes the other way.
        self.assertEqual(
            (clientDirectory / "1-sent.bin").read_bytes(),
            (directory / "1-received.bin").read_bytes(),
        )
        self.assertEqual(
            (clientDirectory / "1-received.bin").read_bytes(),
            (directory / "1-sent.bin").read_bytes(),
        )


@pytest.mark.parametrize("budget", ["0", "-1", "nan", "inf", "soon"])
def test_bench_refuses_a_budget_that_means_nothing(budget: str) -> None:
    done = pbfast_command("bench", "--budget", budget)
    assert done.returncode == 2
    assert "--budget" in done.stderr and "Traceback" not in done.stderr


def fakeRows(times_faster: float, msgspec: float | None = None) -> list[SuiteRow]:
    """
    One payload pbfast runs C{times_faster} than Twisted and a little faster
    than pickle (and C{msgspec} times as fast as msgspec, if given).
    """
    return [
        SuiteRow(
            payload="small call",
            size=100,
            encode_pbfast=1.0,
            encode_twisted=times_faster,
            encode_pickle=1.1,
            decode_pbfast=1.0,
            decode_twisted=times_faster,
            decode_pickle=1.1,
            encode_vs_twisted=times_faster,
            encode_vs_pickle=1.1,
            decode_vs_twisted=times_faster,
            decode_vs_pickle=1.1,
            spread=0.01,
            decode_extra_memory=10,
            encode_msgspec=msgspec,
            decode_msgspec=msgspec,
            encode_vs_msgspec=msgspec,
            decode_vs_msgspec=msgspec,
        )
    ]


@pytest.mark.parametrize(("timesFaster", "status"), [(100.0, 0), (10.0, 1)])
def test_bench_check_fails_when_a_target_is_not_met(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    timesFaster: float,
    status: int,
) -> None:
    monkeypatch.setattr(bench, "measure_suite", lambda *args, **kwargs: fakeRows(timesFaster))
    assert cli.main(["bench", "--check"]) == status
    out, err = capsys.readouterr()
    assert ("NOT MET" in out) == bool(status)
    assert ("targets not met: median encode >= 20x Twisted" in err) == bool(status)
    # Without --check, the table says it and the status does not.
    assert cli.main(["bench"]) == 0


def test_bench_markdown(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(bench, "measure_suite", lambda *args, **kwargs: fakeRows(100.0))
    assert cli.main(["bench", "--markdown"]) == 0
    out = capsys.readouterr().out
    table = [line for line in out.splitlines() if line.startswith("|")]
    assert table[0].startswith("| payload")
    assert set(table[1]) <= {"|", "-", ":", " "}
    assert table[2].startswith("| small call")
    assert "100.0x" in table[2]


def test_bench_shapes_are_measured_apart_with_no_targets(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """--shapes measures the shapes beyond the suite (their own table, their
    own JSON key); their figures count for no target."""
    measured: list[Any] = []

    def measure(*args: Any, **kwargs: Any) -> list[SuiteRow]:
        measured.append(kwargs.get("payloads", payloads.SUITE))
        rows = fakeRows(100.0)
        if measured[-1] is payloads.SHAPES:
            rows[0].payload, rows[0].decode_vs_pickle = "2-tuples", 0.5
        return rows

    monkeypatch.setattr(bench, "measure_suite", measure)
    assert cli.main(["bench", "--shapes", "--check"]) == 0
    assert measured == [payloads.SUITE, payloads.SHAPES]
    out = capsys.readouterr().out
    shapes = out[out.index("Shapes beyond the suite") :]
    assert "2-tuples" in shapes and "NOT MET" not in out
    assert "loads: median 0.50x pickle, slowest 0.50x" in shapes
    assert cli.main(["bench", "--shapes", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [row["payload"] for row in report["shapes"]] == ["2-tuples"]


def test_shapes_round_trip_as_twisted_writes_them() -> None:
    """Each shape beyond the suite: the bytes Twisted writes, and back (one
    measured for real, at a tiny budget)."""
    for name, make in payloads.SHAPES.items():
        value = make()
        data = pbfast.dumps(value)
        assert data == twisted_banana.encode(twisted_jelly.jelly(value)), name
        assert pbfast.dumps(pbfast.loads(data)) == data, name
    [row] = bench.measure_suite(["2-tuples"], budget=0.01, progress=None, payloads=payloads.SHAPES)
    assert row.payload == "2-tuples" and row.encode_vs_twisted > 1


@pytest.mark.parametrize(("versus", "met"), [(0.6, True), (0.4, False), (None, None)])
def test_bench_msgspec_column_where_it_was_measured(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    versus: float | None,
    met: bool | None,
) -> None:
    monkeypatch.setattr(bench, "measure_suite", lambda *args, **kwargs: fakeRows(100.0, versus))
    assert cli.main(["bench"]) == 0
    out = capsys.readouterr().out
    header = next(line for line in out.splitlines() if line.startswith("payload"))
    target = "within 2x of msgspec where it carries the payload"
    if met is None:
        assert "xmsgspec" not in header and target not in out
        return
    assert header.split().count("xmsgspec") == 2
    assert f"{versus:.2f}x" in next(line for line in out.splitlines() if line.startswith("small"))
    assert f"{'met    ' if met else 'NOT MET'}  {target}" in out


def test_msgspec_carries_only_what_it_gives_back() -> None:
    pytest.importorskip("msgspec")
    codec = reference.msgspec_codec()
    assert codec is not None
    assert reference.carries(codec, payloads.SUITE["1k records"]())
    assert reference.carries(codec, payloads.SUITE["small call"]())  # its tuple, as a list
    for name in ("shared refs", "cyclic dicts", "mixed types"):
        assert not reference.carries(codec, payloads.SUITE[name]()), name


def test_no_msgspec_column_without_msgspec(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "msgspec", None)
    assert reference.msgspec_codec() is None


def test_bench_plot_without_matplotlib(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    def unmeasured(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("measured before finding matplotlib missing")

    monkeypatch.setattr(bench, "measure_suite", unmeasured)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    chart = tmp_path / "speed.png"
    assert cli.main(["bench", "--plot", str(chart)]) == 2
    err = capsys.readouterr().err
    assert "pip install 'pbfast[plot]'" in err
    assert not chart.exists()


def test_bench_plot(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    monkeypatch.setattr(bench, "measure_suite", lambda *args, **kwargs: fakeRows(100.0))
    chart = tmp_path / "speed.png"
    assert cli.main(["bench", "--plot", str(chart)]) == 0
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bench_broker_json_has_the_floor_latencies_and_fairness() -> None:
    done = pbfast_command("bench", "--broker", "--budget", "0.02", "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    rows = {(row["payload"], row["mode"]): row for row in report["broker"]}
    for name in ("reactor floor", "floor, sent at once"):
        assert rows[(name, "TCP, 1 at a time")]["pbfast"] > 0
    many = rows[("small call", "TCP, 100 clients x 8")]
    for row in (many, rows[("small call", "TCP, 1 at a time")]):
        assert 0 < row["pbfast_p50"] <= row["pbfast_p99"]
        assert 0 < row["twisted_p50"] <= row["twisted_p99"]
    assert rows[("small call", "in memory")]["pbfast_p50"] is None
    fairness = {row["broker"]: row for row in report["fairness"]}
    assert set(fairness) == {"pbfast", "twisted"}
    for row in fairness.values():
        assert row["light_calls"] >= 1 and 0 < row["light_p50"] <= row["light_p99"]
    assert "small calls one at a time >= 0.8 of the reactor's floor" in report["targets"]
