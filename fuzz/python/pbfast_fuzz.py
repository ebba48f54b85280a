"""
Fuzzing pbfast's entry points for untrusted bytes, from Python:

  - C{loads}: C{pbfast.loads(data)} (secure by default);
  - C{unjelly}: C{jelly.unjelly(banana.decode(data), taster=globalSecurity)};
  - C{broker}: a broker's C{dataReceived}, in dialect C{pb}, the bytes in
    random chunks, its root an echo.

Each input must end in a value or the promised typed errors (C{BananaError},
C{InsecureJelly}); a broker must never let an exception out (it drops the
peer instead). Differential against Twisted wherever Twisted gives an answer:
the same objects back (C{loads}, C{unjelly}), the same bytes written by a
broker that Twisted's handles without error (C{broker}).

The inputs are mutations (bit flips, inserted, deleted and repeated ranges,
changed type bytes, huge prefixes, deep nesting, splices) of a corpus: the
committed seeds in C{fuzz/seeds/python}, and the jelly of sample objects.
What breaks a check is written to C{fuzz/findings/} and reported; a finding
fixed becomes a regression: a file in C{fuzz/regressions/}, which the test
suite replays.

Usage::

    python fuzz/python/pbfast_fuzz.py [--seconds N] [--target NAME] [--seed S]
    python fuzz/python/pbfast_fuzz.py --leaks CALLS   # memory across many calls

Exit status 1 if anything was found.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import decimal
import gc
import hashlib
import math
import os
import random
import struct
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from twisted.internet.testing import StringTransport
from twisted.persisted.crefutil import NotKnown
from twisted.python import failure
from twisted.spread import jelly as twisted_jelly
from twisted.spread import pb as twisted_pb

import pbfast
from pbfast import banana, jelly, pb
from pbfast.tools.reference import twisted_expressions

FUZZ = Path(__file__).resolve().parent.parent
SEEDS = FUZZ / "seeds" / "python"
REGRESSIONS = FUZZ / "regressions"
FINDINGS = FUZZ / "findings"


class Finding(Exception):
    """An input broke a check."""


# ---------------------------------------------------------------------------
# The corpus


class Point(pb.Copyable, pb.RemoteCopy):
    """A registered Copyable, its own RemoteCopy."""

    def __init__(self, x: Any = 0, y: Any = 0) -> None:
        self.x = x
        self.y = y


pb.setUnjellyableForClass(Point, Point)


class Echo(pb.Root):
    def remote_echo(self, *args: Any, **kwargs: Any) -> Any:
        return [list(args), kwargs]


def samples() -> list[Any]:
    """Objects whose jelly is the corpus's starting point."""
    shared = [1, "two", 3.0]
    cycle: list[Any] = ["cycle"]
    cycle.append(cycle)
    record = {"name": "x", "n": 2**40, "when": datetime.date(2026, 1, 2), "shared": shared}
    return [
        None,
        True,
        0,
        -(2**31) - 1,
        2**70,
        1.5,
        math.nan,
        b"bytes",
        "text \u00e9",
        [shared, shared, cycle],
        (1, (2, 3)),
        {"a": 1, 2: [3], (4, 5): None},
        {1, 2},
        frozenset({"f"}),
        datetime.datetime(2026, 11, 29, 1, 2, 3, 4),
        datetime.time(1, 2, 3),
        datetime.timedelta(days=1, seconds=2),
        decimal.Decimal("-1.250"),
        decimal.Decimal("1E+30"),
        record,
        [record, record],
        Point(1, [Point(2, "x")]),
        [Point(), Point()],
    ]


def messages() -> list[bytes]:
    """PB traffic, as a Twisted client sends it after choosing dialect pb."""
    client = twisted_pb.Broker(isClient=1)
    transport = StringTransport()
    client.makeConnection(transport)
    client.currentDialect = b"pb"
    out = []
    for args in ([1, "x"], [{"k": Point(1, 2)}], [[1] * 20]):
        transport.clear()
        client._sendMessage(b"", None, b"root", b"echo", tuple(args), {"kw": 1})
        out.append(transport.value())
    transport.clear()
    client.sendCall(b"decref", 5)
    out.append(transport.value())
    client.waitingForAnswers = {}
    client.disconnected = 1
    return out


def corpus() -> list[bytes]:
    """The seeds: committed files, the samples' jelly, PB messages."""
    inputs = [path.read_bytes() for path in sorted(SEEDS.glob("*.bin"))] if SEEDS.is_dir() else []
    inputs += [pbfast.dumps(value) for value in samples()]
    inputs += messages()
    return inputs


def regressions() -> list[tuple[str, bytes]]:
    """The committed findings: (target, bytes)."""
    if not REGRESSIONS.is_dir():
        return []
    return [
        (path.name.split("-", 1)[0], path.read_bytes())
        for path in sorted(REGRESSIONS.glob("*.bin"))
    ]


# ---------------------------------------------------------------------------
# Mutations


PIECES = [
    b"\x07\x82unicode\x02\x82\xff\xfe",
    b"\x04\x82None",
    b"\x09\x82reference",
    b"\x0b\x82dereference\x01\x81",
    b"\x09\x82os.system",
]
"""Bits of jelly inserted as they are: bad UTF-8, tags, references, a disallowed class."""


def _header(value: int, type_byte: int) -> bytes:
    return banana._native.int2b128(value) + bytes([type_byte])


def mutate(rng: random.Random, data: bytes, pool: list[bytes]) -> bytes:
    """A few random edits of C{data}: one most often, up to eight."""
    edited = bytearray(data)
    for _ in range(min(rng.choice([1, 1, 1, 2, 2, 3, 5, 8]), 8)):
        position = rng.randrange(len(edited) + 1)
        action = rng.randrange(11)
        if action == 0 and edited:
            edited[min(position, len(edited) - 1)] ^= 1 << rng.randrange(8)
        elif action == 1:
            edited[position:position] = bytes([rng.randrange(256)])
        elif action == 2 and edited:
            del edited[position : position + rng.randint(1, 8)]
        elif action == 3:
            start = rng.randrange(len(edited) + 1)
            edited[position:position] = edited[start : start + rng.randint(1, 32)]
        elif action == 4 and edited:
            # Another type byte in place of one.
            marks = [index for index, byte in enumerate(edited) if byte & 0x80]
            if marks:
                edited[rng.choice(marks)] = 0x80 + rng.randrange(9)
        elif action == 5:
            edited[position:position] = _header(
                rng.choice([0, 1, 127, 2**31, 640 * 1024, 2**60]), 0x80 + rng.randrange(8)
            )
        elif action == 6:
            edited[position:position] = b"\x01\x80" * rng.choice([1, 10, 200, 1200])
        elif action == 7 and pool:
            other = rng.choice(pool)
            start = rng.randrange(len(other) + 1)
            edited[position:position] = other[start : start + rng.randint(1, 64)]
        elif action == 8:
            del edited[position:]
        elif action == 9:
            edited[:0] = _header(rng.randint(1, 3), 0x80)
        else:
            edited[position:position] = rng.choice(
                [
                    b"\x07\x82unicode\x02\x82\xff\xfe",
                    b"\x04\x82None",
                    b"\x09\x82reference",
                    b"\x0b\x82dereference\x01\x81",
                    b"\x09\x82os.system",
                ]
            )
    return bytes(edited)


# ---------------------------------------------------------------------------
# Checks


def _same(a: Any, b: Any, pairs: dict[int, Any] | None = None) -> bool:
    """Equal object graphs, shared and cyclic in the same places."""
    pairs = {} if pairs is None else pairs
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return struct.pack("!d", a) == struct.pack("!d", b) or (math.isnan(a) and math.isnan(b))
    if isinstance(a, (int, bytes, str, type(None), datetime.date, datetime.time)):
        return bool(a == b)
    if isinstance(a, (datetime.timedelta, decimal.Decimal)):
        return bool(a == b) or (a != a and b != b)
    if isinstance(a, (set, frozenset)):
        return len(a) == len(b)
    if id(a) in pairs:
        return pairs[id(a)] is b
    pairs[id(a)] = b
    if isinstance(a, NotKnown):
        # A forward reference never resolved: the same kind, the same id.
        return getattr(a, "id", None) == getattr(b, "id", None)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y, pairs) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return len(a) == len(b) and all(
            _same(x, y, pairs) and _same(a[x], b[y], pairs) for x, y in zip(a, b, strict=True)
        )
    if hasattr(a, "__dict__"):
        return _same(a.__dict__, b.__dict__, pairs)
    return True


def _twisted_value(make: Callable[[], Any]) -> tuple[bool, Any]:
    """(True, value) if Twisted gives one, else (False, None)."""
    try:
        return True, make()
    except Exception:
        return False, None
    except RecursionError:
        return False, None


def _one_expression(data: bytes) -> Any:
    """Twisted's decode of C{data}, if it is exactly one expression."""
    expressions = twisted_expressions(data)
    if len(expressions) != 1 or banana.encode(expressions[0]) != data:
        raise ValueError("not exactly one expression as Twisted writes it")
    return expressions[0]


def check_loads(data: bytes, differential: bool = True) -> None:
    try:
        got: Any = pbfast.loads(data)
        ok = True
    except (banana.BananaError, jelly.InsecureJelly):
        ok = False
    except Exception as error:
        raise Finding(f"loads raised {type(error).__name__}: {error}") from error
    if not differential:
        return
    twisted_ok, expected = _twisted_value(
        lambda: twisted_jelly.unjelly(_one_expression(data), taster=twisted_jelly.globalSecurity)
    )
    if twisted_ok and not ok:
        raise Finding("loads refused what Twisted unjellies")
    if twisted_ok and not _same(got, expected):
        raise Finding(f"loads gave {got!r}, Twisted {expected!r}")


def check_unjelly(data: bytes, differential: bool = True) -> None:
    try:
        sexp = banana.decode(data)
    except banana.BananaError:
        return
    except Exception as error:
        raise Finding(f"decode raised {type(error).__name__}: {error}") from error
    try:
        got: Any = jelly.unjelly(sexp, taster=jelly.globalSecurity)
        ok = True
    except jelly.InsecureJelly:
        ok = False
    except Exception as error:
        raise Finding(f"unjelly raised {type(error).__name__}: {error}") from error
    if not differential:
        return
    twisted_ok, expected = _twisted_value(
        lambda: twisted_jelly.unjelly(banana.decode(data), taster=twisted_jelly.globalSecurity)
    )
    if twisted_ok and not ok:
        raise Finding("unjelly refused what Twisted unjellies")
    if twisted_ok and not _same(got, expected):
        raise Finding(f"unjelly gave {got!r}, Twisted {expected!r}")


def _server(module: Any) -> tuple[Any, StringTransport]:
    # Failures carry a process-wide count: each broker's from the same start.
    failure.count = 0
    broker = module.PBServerFactory(Echo()).buildProtocol(None)
    transport = StringTransport()
    broker.makeConnection(transport)
    broker.dataReceived(b"\x02\x82pb")
    transport.clear()
    return broker, transport


def _feed(broker: Any, data: bytes, cuts: list[int]) -> None:
    start = 0
    for cut in [*cuts, len(data)]:
        if cut > start:
            broker.dataReceived(data[start:cut])
            start = cut


def _close(broker: Any) -> None:
    # Answers never read, references never released: what a connection
    # lost leaves, so that nothing is written to a closed transport later.
    if not broker.disconnected:
        broker.connectionLost(None)


def check_broker(data: bytes, differential: bool = True, rng: random.Random | None = None) -> None:
    rng = rng or random.Random(len(data))
    cuts = sorted(rng.randrange(len(data) + 1) for _ in range(rng.randint(0, 4)))
    broker, transport = _server(pb)
    try:
        _feed(broker, data, cuts)
    except Exception as error:
        raise Finding(f"a broker let {type(error).__name__} out: {error}") from error
    finally:
        _close(broker)
    if not differential:
        return
    stock, stock_out = _server(twisted_pb)
    try:
        _feed(stock, data, cuts)
        handled = True
    except Exception:
        handled = False
    except RecursionError:
        handled = False
    finally:
        _close(stock)
    # Where Twisted's broker answers with errors, the errors may differ by
    # design (pbfast's unjelly says what is wrong where Twisted's raises an
    # IndexError or an AttributeError): the answers are compared.
    if handled and not _errors_in(stock_out.value()) and transport.value() != stock_out.value():
        raise Finding(f"a broker wrote {transport.value()!r}, Twisted's {stock_out.value()!r}")


def _errors_in(written: bytes) -> bool:
    """True if a broker's output holds an error answer."""
    return any(message[0] == b"error" for message in twisted_expressions(written, b"pb"))


TARGETS: dict[str, Callable[..., None]] = {
    "loads": check_loads,
    "unjelly": check_unjelly,
    "broker": check_broker,
}


# ---------------------------------------------------------------------------
# Runs


def record(target: str, data: bytes, finding: Finding) -> Path:
    FINDINGS.mkdir(exist_ok=True)
    path = FINDINGS / f"{target}-{hashlib.sha256(data).hexdigest()[:16]}.bin"
    path.write_bytes(data)
    path.with_suffix(".txt").write_text(str(finding) + "\n")
    return path


def fuzz(targets: Iterable[str], seconds: float, seed: int, out: Any = sys.stdout) -> int:
    """Mutate the corpus for C{seconds} per target; the number of findings."""
    rng = random.Random(seed)
    pool = corpus()
    findings = 0
    with quiet():
        findings = _fuzz(rng, pool, targets, seconds, out)
    return findings


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Twisted's brokers log every refused call's traceback: not meanwhile."""
    saved = twisted_pb.log.msg, twisted_pb.log.err
    twisted_pb.log.msg = twisted_pb.log.err = lambda *args, **kwargs: None
    try:
        yield
    finally:
        twisted_pb.log.msg, twisted_pb.log.err = saved


def _fuzz(
    rng: random.Random, pool: list[bytes], targets: Iterable[str], seconds: float, out: Any
) -> int:
    findings = 0
    for target in targets:
        check = TARGETS[target]
        runs = 0
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            data = mutate(rng, rng.choice(pool), pool)
            try:
                check(data)
            except Finding as finding:
                findings += 1
                path = record(target, data, finding)
                out.write(f"FINDING {target}: {finding} ({path})\n")
            runs += 1
            if runs % 50 == 0 and len(pool) < 5000:
                pool.append(data)
        out.write(f"{target}: {runs} inputs in {seconds:.0f} s\n")
        out.flush()
    return findings


def resident() -> int:
    with open(f"/proc/{os.getpid()}/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def leaks(calls: int, seed: int, out: Any = sys.stdout) -> dict[str, int]:
    """
    Resident memory growth (bytes) over C{calls} calls of each entry point,
    after as many again to warm up; the inputs are mutations, most failing.
    """
    rng = random.Random(seed)
    pool = corpus()
    inputs = [mutate(rng, rng.choice(pool), pool) for _ in range(2000)]
    growth = {}
    objects = samples()
    sexps = [jelly.jelly(value) for value in objects]
    entry: dict[str, tuple[Callable[[Any], Any], list[Any]]] = {
        "loads": (lambda data: check_loads(data, differential=False), inputs),
        "unjelly": (lambda data: check_unjelly(data, differential=False), inputs),
        "decode": (lambda data: _swallow(banana.decode, data), inputs),
        "dumps": (pbfast.dumps, objects),
        "jelly": (jelly.jelly, objects),
        "encode": (banana.encode, sexps),
    }
    for name, (call, arguments) in entry.items():
        for round_ in range(2):
            if round_ == 1:
                gc.collect()
                before = resident()
            for index in range(calls):
                call(arguments[index % len(arguments)])
        gc.collect()
        growth[name] = resident() - before
    # A broker per thousand inputs, each fed all of them.
    with quiet():
        growth["broker"] = _brokerGrowth(inputs, calls)
    for name, grown in growth.items():
        out.write(f"{name}: {calls} calls, resident memory grew {grown / 1024:.0f} KiB\n")
    return growth


def _brokerGrowth(inputs: list[bytes], calls: int) -> int:
    for round_ in range(2):
        if round_ == 1:
            gc.collect()
            before = resident()
        done = 0
        while done < calls:
            broker, _ = _server(pb)
            for data in inputs[: min(1000, calls - done)]:
                broker.dataReceived(data)
                done += 1
            _close(broker)
    gc.collect()
    return resident() - before


def _swallow(function: Callable[[bytes], Any], data: bytes) -> None:
    try:
        function(data)
    except (banana.BananaError, jelly.InsecureJelly):
        pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20, help="seconds per target")
    parser.add_argument("--target", action="append", choices=list(TARGETS))
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--leaks", type=int, metavar="CALLS", help="check memory instead")
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else random.randrange(2**32)
    print(f"seed {seed}")
    if args.leaks:
        growth = leaks(args.leaks, seed)
        return 1 if max(growth.values()) > 16 * 1024 * 1024 else 0
    return 1 if fuzz(args.target or list(TARGETS), args.seconds, seed) else 0


if __name__ == "__main__":
    sys.exit(main())
