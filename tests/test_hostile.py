"""
Hostile input at every entry point for bytes and s-expressions from
elsewhere -- C{banana.decode}, C{Banana.dataReceived}, C{jelly.unjelly} with a
taster, C{pbfast.loads}, a broker's C{dataReceived} -- ends in a value, a
C{BananaError} (bytes, limits; with the offset) or an C{InsecureJelly}
(forms, types, classes): no crash on any thread, no hang, no other exception,
memory bounded by the bytes received (virtual memory too).
"""

from __future__ import annotations

import datetime
import os
import subprocess
import sys
import textwrap
import time
import tracemalloc
from typing import Any

import pytest
from twisted.internet.testing import StringTransport
from twisted.spread import banana as twisted_banana
from twisted.spread import jelly as twisted_jelly

import pbfast
from jelly_objects import Registered
from pbfast import _native, banana, jelly, pb
from sexp import PbfastCollector, connected

b128 = _native.int2b128
encode = banana.encode

TAGS = [
    b"None", b"unicode", b"boolean", b"list", b"tuple", b"set", b"frozenset", b"dictionary",
    b"reference", b"dereference", b"datetime", b"date", b"time", b"timedelta", b"decimal",
    b"class", b"module", b"function", b"method", b"instance", b"persistent", b"unpersistable",
    b"remote", b"local", b"cached", b"lcache", b"copy", b"cache",
    b"jelly_objects.Registered",
]  # fmt: skip


class Refusing(pb.RemoteCopy):
    """A RemoteCopy whose hooks refuse their state (with a broker, and without)."""

    def setCopyableState(self, state: Any) -> None:
        raise ValueError("refused")

    def __setstate__(self, state: Any) -> None:
        raise ValueError("refused")


pb.setUnjellyableForClass("test_hostile.Refused", Refusing)


def _wrong_shapes() -> list[tuple[str, bytes]]:
    """Every tag with the wrong number or kinds of items."""
    shapes = []
    for tag in TAGS:
        for items in ([], [1, 2, 3, 4], [[b"list"]], [b"x", 2.5], [-1], [[b"dictionary", 5]]):
            shapes.append((f"{tag.decode()} {items!r}", encode([tag, *items])))
    return shapes


DEREF_1 = [b"dereference", 1]
ARGS, SH = [b"unicode", b"args"], [b"unicode", b"sh"]
OS_SYSTEM = [b"class", b"os.system"]
REGISTERED = [b"jelly_objects.Registered", [b"dictionary"]]
REGISTERED_CLASS = [b"class", b"jelly_objects.Registered"]

HOSTILE: list[tuple[str, bytes]] = [
    ("lists a million deep", b"\x01\x80" * 1_000_000 + b"\x01\x81"),
    ("jelly lists a million deep", b"\x02\x80\x04\x82list" * 1_000_000 + b"\x01\x81"),
    ("dictionaries deep", b"\x02\x80\x0a\x82dictionary\x02\x80\x01\x81" * 5000 + b"\x01\x81"),
    ("prefix too long", b"\x7f" * 100 + b"\x81"),
    ("list claim past the limit", b128(640 * 1024 + 1) + b"\x80"),
    ("string claim past the limit", b128(10**9) + b"\x82abc"),
    ("nested big claims", (b128(640 * 1024) + b"\x80") * 9000),
    ("truncated", pbfast.dumps({"a": [1, 2, "three"], "b": datetime.date.today()})[:-3]),
    ("truncated list", b"\x05\x80\x01\x81"),
    ("unknown type byte", b"\x01\x80\x01\x99"),
    ("vocabulary id out of range", b"\x7f\x7f\x87"),
    ("bad utf-8", encode([b"unicode", b"\xff\xfe\xfd"])),
    ("bad datetime", encode([b"datetime", b"2026 13 45 25 61 61 -1"])),
    ("datetime garbage", encode([b"datetime", b"x y z"])),
    ("bad date", encode([b"date", b"0 0 0"])),
    ("bad timedelta", encode([b"timedelta", b"1 2"])),
    ("bad decimal", encode([b"decimal", b"x", b"y"])),
    ("decimal of a list", encode([b"decimal", [b"list"], 1])),
    ("bad boolean", encode([b"boolean", b"maybe"])),
    ("unhashable key", encode([b"dictionary", [[b"list", 1], 2]])),
    ("unhashable set member", encode([b"set", [b"list", 1]])),
    ("unknown reference id", encode([b"dereference", 12345])),
    ("duplicate reference id", encode([b"list", *[[b"reference", 1, [b"list"]]] * 2])),
    ("dereference cycle", encode([b"reference", 1, [b"dereference", 1]])),
    ("reference id unhashable", encode([b"reference", [b"list"], [b"list"]])),
    ("forward reference as a key", encode([b"reference", 1, [b"dictionary", [DEREF_1, 1]]])),
    ("os.system instance", encode([b"os.system", [b"dictionary"]])),
    ("subprocess.Popen instance", encode([b"subprocess.Popen", [b"dictionary", [ARGS, SH]]])),
    ("builtins.eval function", encode([b"function", b"builtins.eval"])),
    ("os module", encode([b"module", b"os"])),
    ("os.system class", encode([b"class", b"os.system"])),
    ("method reaching os", encode([b"method", b"system", [b"module", b"os"], OS_SYSTEM])),
    ("method of an allowed class", encode([b"method", b"__init__", REGISTERED, REGISTERED_CLASS])),
    ("instance form", encode([b"instance", [b"class", b"os.system"], [b"dictionary"]])),
    ("state of the wrong type", encode([b"jelly_objects.Registered", 5])),
    ("registered without state", encode([b"jelly_objects.Registered"])),
    *_wrong_shapes(),
]  # fmt: skip


def _typed(call: Any) -> tuple[str, Any]:
    """The outcome of C{call}: a value or one of the two promised errors."""
    started = time.monotonic()
    try:
        outcome = ("value", call())
    except banana.BananaError as error:
        assert isinstance(error.offset, int), error
        assert "offset" in str(error) or "Truncated" in str(error), error
        outcome = ("BananaError", error)
    except jelly.InsecureJelly as error:
        outcome = ("InsecureJelly", error)
    assert time.monotonic() - started < 5, "too slow: not linear"
    return outcome


def _broker() -> tuple[Any, StringTransport]:
    broker = pb.PBServerFactory(pb.Root()).buildProtocol(None)
    transport = StringTransport()
    broker.makeConnection(transport)
    broker.dataReceived(b"\x02\x82pb")
    return broker, transport


@pytest.mark.parametrize(("name", "data"), HOSTILE, ids=[name for name, _ in HOSTILE])
def test_every_entry_point_gives_a_value_or_a_typed_error(name: str, data: bytes) -> None:
    decoded = _typed(lambda: banana.decode(data))
    _typed(lambda: pbfast.loads(data))
    if decoded[0] == "value":
        _typed(lambda: jelly.unjelly(decoded[1], taster=jelly.globalSecurity))
        _typed(lambda: jelly.unjelly(decoded[1]))
    protocol = connected(PbfastCollector, b"none")
    _typed(lambda: protocol.dataReceived(data))
    # As the arguments of a call to a broker: it answers or drops the peer,
    # and never lets an exception out.
    broker, _ = _broker()
    message = encode([b"message", 1, b"root", b"echo", 1])
    call = b"\x07" + message[1:] + data + encode([b"dictionary"])
    broker.dataReceived(call)
    broker.connectionLost(None)


def test_an_application_hooks_error_reaches_the_caller_as_raised() -> None:
    """
    An error a hook of the application raises (here C{__setstate__}, and
    C{setCopyableState} with a broker) is not bad input: it reaches the
    caller as it is, as Twisted's unjelly lets it through -- not made a
    typed error as what the codec itself rejects is.
    """
    data = encode([b"test_hostile.Refused", [b"dictionary"]])
    broker, _ = _broker()
    messages: list[Any] = []
    broker.expressionReceived = messages.append
    broker.dataReceived(
        encode([b"answer", 1])[: -0 or None].replace(b"\x02\x80", b"\x03\x80", 1) + data
    )
    (answer,) = messages
    with pytest.raises(ValueError) as twisteds:
        twisted_jelly.unjelly(twisted_banana.decode(data), taster=jelly.globalSecurity)
    for unjellying in (
        lambda: pbfast.loads(data),
        lambda: jelly.unjelly(banana.decode(data), taster=jelly.globalSecurity),
        lambda: jelly.unjelly(banana.decode(data), invoker=broker),
        lambda: broker.unserialize(answer[2]),
    ):
        with pytest.raises(ValueError) as raised:
            unjellying()
        assert type(raised.value) is type(twisteds.value) is ValueError
        assert raised.value.args == twisteds.value.args == ("refused",)


def test_unjelly_errors_are_insecure_jelly_of_twisteds_class_too() -> None:
    cases = {
        "unhashable key": TypeError,
        "bad utf-8": UnicodeDecodeError,
        "bad datetime": ValueError,
        "datetime garbage": ValueError,
        "decimal of a list": TypeError,
    }
    for name, data in HOSTILE:
        if name in cases:
            with pytest.raises(cases[name]) as raised:
                jelly.unjelly(banana.decode(data), taster=jelly.globalSecurity)
            assert isinstance(raised.value, jelly.InsecureJelly), name
            assert isinstance(raised.value.__cause__, cases[name]), name


def test_memory_is_bounded_by_the_bytes() -> None:
    for name, data in HOSTILE:
        for call in (banana.decode, pbfast.loads):
            tracemalloc.start()
            try:
                call(data)
            except (banana.BananaError, jelly.InsecureJelly):
                pass
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            assert peak < 16 * len(data) + 256 * 1024, (name, call, peak)


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=os.path.dirname(__file__),
    )


def test_virtual_memory_is_bounded_by_the_bytes() -> None:
    # Nested headers that each claim 640 Ki items: 36 KB of them once made
    # the decoders reserve 1.3 GB of address space; under a 1.5 GiB limit a
    # failed allocation aborted the process.
    completed = _run(
        """
        import resource
        resource.setrlimit(resource.RLIMIT_AS, (1536 << 20, 1536 << 20))
        import pbfast
        from pbfast import _native, banana, jelly, pb
        from twisted.internet.testing import StringTransport

        def peak():
            for line in open("/proc/self/status"):
                if line.startswith("VmPeak"):
                    return int(line.split()[1]) * 1024

        data = (_native.int2b128(640 * 1024) + b"\\x80") * 9000
        before = peak()
        for call in (banana.decode, pbfast.loads):
            try:
                call(data)
            except (banana.BananaError, jelly.InsecureJelly):
                pass
        broker = pb.PBServerFactory(pb.Root()).buildProtocol(None)
        broker.makeConnection(StringTransport())
        broker.dataReceived(b"\\x02\\x82pb" + data)
        print("grew", peak() - before)
        """
    )
    assert completed.returncode == 0, completed.stderr
    grew = int(completed.stdout.split()[-1])
    assert grew < 64 << 20, grew


DEEP_ON_A_SMALL_STACK = """
import sys, threading
import pbfast
from pbfast import banana, jelly, pb
from jelly_objects import Registered
from twisted.internet.testing import StringTransport

def nested(depth, make=lambda inner: [inner]):
    value = 1
    for _ in range(depth):
        value = make(value)
    return value

deepest = jelly.MAX_DEPTH - 1
values = {
    "lists": nested(deepest),
    "tuples": nested(deepest, lambda inner: (inner,)),
    "dicts": nested(deepest, lambda inner: {"k": inner}),
    "registered": nested(deepest // 2, lambda inner: Registered(inner=inner)),
}
sexps = {name: jelly.jelly(value) for name, value in values.items()}
data = {name: pbfast.dumps(value) for name, value in values.items()}
banana_deep = nested(banana.MAX_DEPTH - 1)
banana_data = banana.encode(banana_deep)
broker = pb.PBServerFactory(pb.Root()).buildProtocol(None)
broker.makeConnection(StringTransport())
broker.dataReceived(b"\\x02\\x82pb")
permissive = jelly.DummySecurityOptions()
made = []
refused = []

def run():
    # Only pbfast's entry points run here: Python itself compares, prints or
    # copies such deep structures recursively in C, more than 128 KiB.
    for name in values:
        made.append(pbfast.dumps(values[name]))
        made.append(jelly.jelly(values[name]))
        made.append(pbfast.loads(data[name], taster=permissive))
        made.append(jelly.unjelly(sexps[name]))
        made.append(broker.unserialize(broker.serialize(values[name])))
        made.append(broker.unserialize(sexps[name]))
    made.append(banana.encode(banana_deep))
    made.append(banana.decode(banana_data))
    # Deeper than the limits: the typed errors.
    for attempt in (
        lambda: pbfast.dumps(nested(jelly.MAX_DEPTH + 1)),
        lambda: pbfast.loads(b"\\x02\\x80\\x04\\x82list" * 100_000 + b"\\x01\\x81"),
        lambda: banana.decode(b"\\x01\\x80" * 1_000_000),
    ):
        try:
            attempt()
        except (banana.BananaError, jelly.InsecureJelly):
            refused.append(True)

threading.stack_size(int(sys.argv[1]) * 1024)
thread = threading.Thread(target=run)
thread.start()
thread.join()
# Compared here, as the bytes they make (Python's own comparison of such
# deep structures stops at its recursion limit).
same = []
for index, name in enumerate(values):
    dumped, sexp, *objects = made[index * 6 : index * 6 + 6]
    same.append(dumped == data[name])
    same.append(banana.encode(sexp) == banana.encode(sexps[name]))
    same += [pbfast.dumps(made_object) == data[name] for made_object in objects]
same.append(made[-2] == banana_data)
same.append(banana.encode(made[-1]) == banana_data)
print(len(same) == 6 * len(values) + 2, all(same), refused == [True] * 3)
"""


@pytest.mark.parametrize("kib", [128, 256])
def test_deepest_input_the_limits_allow_on_a_small_stack(kib: int) -> None:
    completed = subprocess.run(
        [sys.executable, "-c", DEEP_ON_A_SMALL_STACK, str(kib)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=os.path.dirname(__file__),
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert completed.stdout.split() == ["True", "True", "True"], completed.stdout


assert Registered
