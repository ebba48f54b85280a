"""
pbfast.dumps: jelly and banana in one pass, against the two steps (pbfast's
and Twisted's) on random object graphs with hooks, sharing and cycles.
"""

from __future__ import annotations

import copy
import datetime
import decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from twisted.spread import banana as twisted_banana
from twisted.spread import jelly as twisted_jelly

import pbfast
from graphs import graphs, same_graph
from jelly_objects import Node, Registered
from pbfast import banana, jelly
from pbfast._errors import MalformedJelly
from pbfast.tools.reference import twisted_decode


def _outcome(function: Any, *args: Any, **kwargs: Any) -> tuple[str, Any]:
    try:
        return ("value", function(*args, **kwargs))
    except Exception as error:
        return ("error", type(error))


def _two_steps(value: Any, **kwargs: Any) -> bytes:
    return twisted_banana.encode(twisted_jelly.jelly(value, **kwargs))


@given(graphs())
@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
def test_dumps_is_encode_of_jelly(graph: Any) -> None:
    ours = _outcome(pbfast.dumps, graph)
    theirs = _outcome(_two_steps, graph)
    assert ours == theirs
    if ours[0] == "value":
        assert ours[1] == banana.encode(jelly.jelly(graph))


def _ints_of_every_width() -> list[int]:
    """Ints of every bit length to the default prefix limit's 448 bits, both
    signs: each width's edges (2**(k-1) and 2**k - 1) and a value between."""
    pattern = int.from_bytes(b"\x5a" * 56, "little")
    values = [0]
    for bits in range(1, 449):
        top = 2 ** (bits - 1)
        for magnitude in (top, 2**bits - 1, top | (pattern & (top - 1))):
            values += [magnitude, -magnitude]
    return values


def test_ints_of_every_width_as_twisted_writes_and_reads_them() -> None:
    """Long ints (beyond 64 bits) take CPython's byte conversions, 127 bits
    and less without a buffer: every width, both ways, against Twisted."""
    values = _ints_of_every_width()
    for value in values:
        data = pbfast.dumps(value)
        assert data == _two_steps(value), value
        back = pbfast.loads(data)
        assert back == value and type(back) is int, value
    assert pbfast.loads(pbfast.dumps(values)) == values
    with pytest.raises(twisted_banana.BananaError):
        pbfast.dumps(2**448)
    with pytest.raises(twisted_banana.BananaError):
        pbfast.dumps(-(2**448))


def test_long_int_digits_as_twisted_reads_them() -> None:
    """C{int2b128}/C{b1282int} agree with Twisted's at every width, and on
    digits of 128 and more (which Twisted weighs as C{n * 128**i})."""
    for value in _ints_of_every_width():
        if value < 0:
            with pytest.raises(AssertionError):
                banana.int2b128(value, lambda _: None)
            continue
        ours: list[bytes] = []
        theirs: list[bytes] = []
        banana.int2b128(value, ours.append)
        twisted_banana.int2b128(value, theirs.append)
        assert b"".join(ours) == b"".join(theirs)
        assert banana.b1282int(b"".join(ours)) == value
    for digits in (bytes([255] * 20), bytes([200, 129, 3] * 7), bytes(range(256))):
        assert banana.b1282int(digits) == twisted_banana.b1282int(digits)


def test_references_are_spliced_where_the_object_starts() -> None:
    shared = [1, [2]]
    value = [shared, {"a": shared}, shared]
    assert pbfast.dumps(value) == _two_steps(value)
    cycle: list[Any] = [b"head"]
    cycle.append(cycle)
    assert pbfast.dumps([cycle, cycle]) == _two_steps([cycle, cycle])


def test_hooks_and_native_share_references() -> None:
    """Objects first met inside a jellyFor hook, then natively, and back."""
    inner = {"k": [1, 2]}
    first = Registered(items=inner)
    value = [first, inner, Registered(again=inner, other=first), [first]]
    assert pbfast.dumps(value) == _two_steps(value)
    looped = Registered()
    looped.me = looped
    looped.friend = Node(back=looped)
    assert pbfast.dumps([looped, looped.friend]) == _two_steps([looped, looped.friend])


def test_large_strings_and_references_together() -> None:
    blob = b"x" * 100_000
    shared = [blob, 1]
    value = [blob, shared, [shared, blob], shared]
    assert pbfast.dumps(value) == _two_steps(value)


class _Key(str):
    """A str subclass: jellied by the general way, never as a plain key."""


def keys_of_every_kind(count: int) -> list[dict[Any, Any]]:
    shared = ["id", "peer", "x" * 31, "y" * 40, "clé", "鍵", "\U0001f511", ""]
    records = []
    for index in range(count):
        record: dict[Any, Any] = {key: index for key in shared}
        # Equal keys that are other objects, made anew for each record.
        record["".join(["fre", "sh"])] = index
        record[str(index)] = -index
        record[_Key("sub")] = index
        record[index] = "int key"
        records.append(record)
    return records


@pytest.mark.parametrize("count", [1, 3, 40, 300])
def test_dictionary_keys_met_again(count: int) -> None:
    """
    Dict keys written again as they were written the first time (keys
    repeat): the bytes are still Twisted's whatever the keys (shared or
    equal objects, long, non-ASCII, a subclass, an int).
    """
    value = keys_of_every_kind(count)
    assert pbfast.dumps(value) == _two_steps(value)
    taster = twisted_jelly.SecurityOptions()
    taster.allowBasicTypes()
    assert pbfast.dumps(value, taster=taster) == _two_steps(value, taster=taster)


_OLD_KEYS = [b"o%03d" % index for index in range(40)]
_NEW_KEYS = [b"n%03d" % index for index in range(40)]


class _Swapper(twisted_jelly.Jellyable):
    """Empties the dictionary written before it, freeing its keys, and puts
    a new one, its keys made then (where the freed ones were, as the
    allocator goes), where the traversal goes next."""

    def __init__(self, written: dict[str, int], next: list[Any]) -> None:
        self.written = written
        self.next = next

    def jellyFor(self, jellier: Any) -> Any:
        self.written.clear()
        self.next.append({key.decode(): index for index, key in enumerate(_NEW_KEYS)})
        return [b"swapped"]


def _swapping() -> list[Any]:
    written = {key.decode(): index for index, key in enumerate(_OLD_KEYS)}
    following: list[Any] = []
    return [written, _Swapper(written, following), following]


def test_dictionary_keys_freed_meanwhile() -> None:
    """A key written, then freed by a hook, its address taken by another
    str: the other is written as it is."""
    for _ in range(5):
        assert pbfast.dumps(_swapping()) == _two_steps(_swapping())


def test_taster_and_persistent_store() -> None:
    taster = jelly.SecurityOptions()
    taster.allowBasicTypes()
    value = [Node(x=1), {"n": Node()}]
    assert pbfast.dumps(value, taster=taster) == _two_steps(value, taster=taster)

    def store(obj: Any, jellier: Any) -> Any:
        return b"stored" if isinstance(obj, Node) else None

    assert pbfast.dumps(value, persistentStore=store) == _two_steps(value, persistentStore=store)


def test_none_booleans_and_dereferences_written_again_as_first_written() -> None:
    """None, the booleans and the start of a dereference are written as the
    first one was; a taster that refuses their types still sees each."""
    shared: list[Any] = [1]
    value = [None, True, False, shared, None, shared, {"t": True, "n": None}, shared, False]
    assert pbfast.dumps(value) == _two_steps(value)
    taster = jelly.SecurityOptions()
    taster.allowBasicTypes()
    assert pbfast.dumps(value, taster=taster) == _two_steps(value, taster=taster)
    for refused in (b"builtins.NoneType", b"builtins.bool"):
        refusing = _Refusing(refused)
        ours = _outcome(pbfast.dumps, value, taster=refusing)
        assert ours == _outcome(_two_steps, value, taster=refusing)
        assert ours[0] == "error"


class _Refusing(jelly.SecurityOptions):
    """Basic types but one."""

    def __init__(self, refused: bytes) -> None:
        super().__init__()
        self.allowBasicTypes()
        self.refused = refused

    def isTypeAllowed(self, typeName: Any) -> Any:
        return typeName != self.refused and super().isTypeAllowed(typeName)


@pytest.mark.parametrize(
    "value",
    [["text"], [Node().__init__], [2**500], [b"x" * (640 * 1024 + 1)], list(range(640 * 1024))],
    ids=["str in method-free", "method name is a str", "int too large", "long string", "long list"],
)
def test_what_banana_cannot_send_is_a_banana_error(value: Any) -> None:
    if value == ["text"]:
        assert pbfast.dumps(value) == _two_steps(value)
        return
    with pytest.raises(banana.BananaError):
        _two_steps(value)
    with pytest.raises(banana.BananaError):
        pbfast.dumps(value)


def test_depth_limit() -> None:
    deep: list[Any] = []
    for _ in range(jelly.MAX_DEPTH + 1):
        deep = [deep]
    with pytest.raises(jelly.InsecureJelly, match="nested deeper"):
        pbfast.dumps(deep)


@given(graphs())
@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
def test_twisted_reads_what_dumps_writes(graph: Any) -> None:
    """Stock Twisted decodes and unjellies pbfast.dumps' bytes to the graph."""
    try:
        data = pbfast.dumps(graph)
    except Exception:
        return
    # Compared with Twisted's own round trip, not with the graph: a cycle
    # through an object restored by __setstate__ comes back with Twisted's
    # placeholder in it, in Twisted and in pbfast alike.
    kind, expected = _outcome(lambda: twisted_jelly.unjelly(twisted_jelly.jelly(graph)))
    theirs = _outcome(lambda: twisted_jelly.unjelly(twisted_decode(data)))
    ours = _outcome(lambda: jelly.unjelly(banana.decode(data)))
    if kind == "error":  # Twisted cannot rebuild this graph, whatever the bytes
        assert theirs == (kind, expected)
        # pbfast raises the error as MalformedJelly of its class.
        assert ours[0] == kind
        assert ours[1] is expected or (
            issubclass(ours[1], MalformedJelly) and issubclass(ours[1], expected)
        )
        return
    assert theirs[0] == ours[0] == "value"
    assert same_graph(theirs[1], expected)
    assert same_graph(ours[1], expected)


DECIMALS = [
    "0", "-0", "0.00", "1.2345", "-0.001", "1.2E+3", "0E-7", "1E+2", "-1.2E-10", "1e5",
    "123456789012345678901234567890123456789012345", "-5E-1000000",
    "NaN", "-Infinity", "sNaN", "NaN123",
]  # fmt: skip


@pytest.mark.parametrize("text", DECIMALS)
@pytest.mark.parametrize("capitals", [1, 0])
def test_decimals_as_twisted_writes_them(text: str, capitals: int) -> None:
    """Decimals are read from their string form (whose exponent letter the
    context chooses); special values go to Twisted's method, errors and all."""
    with decimal.localcontext() as context:
        context.capitals = capitals
        value = decimal.Decimal(text)
        assert _outcome(pbfast.dumps, value) == _outcome(_two_steps, value)
        assert _outcome(jelly.jelly, value) == _outcome(twisted_jelly.jelly, value)


class _Tz(datetime.tzinfo):
    def utcoffset(self, dt: Any) -> datetime.timedelta:
        return datetime.timedelta(hours=1)


@pytest.mark.parametrize(
    "encoding_error",
    [
        decimal.Decimal("Infinity"),  # jellied with a str exponent
        2**448,  # beyond the prefix limit
        b"x" * (640 * 1024 + 1),  # beyond the size limit
        list(range(640 * 1024 + 1)),
        Node.__init__,  # a function: jellied as a str
    ],
    ids=["infinity", "int too large", "long bytes", "long list", "function"],
)
@pytest.mark.parametrize(
    "jelly_error",
    [
        decimal.Decimal("NaN"),  # Twisted's jelly_decimal fails on it
        datetime.datetime(2024, 1, 1, tzinfo=_Tz()),
        "\ud800",  # no UTF-8
    ],
    ids=["nan", "tzinfo", "lone surrogate"],
)
def test_a_jelly_error_after_an_encoding_error_is_the_one_raised(
    encoding_error: Any, jelly_error: Any
) -> None:
    """
    dumps writes as it jellies, yet raises what encode(jelly(x)) raises:
    jelly runs to the end (and meets its error) before Banana encodes
    anything, so an encoding error met first is not the one raised.
    """
    value = [encoding_error, jelly_error]
    with pytest.raises(Exception) as theirs:
        _two_steps(value)
    with pytest.raises(Exception) as ours:
        pbfast.dumps(value)
    assert not isinstance(theirs.value, banana.BananaError)
    assert type(ours.value) is type(theirs.value)
    # Alone, each is an encoding error, in both.
    for alone in ([encoding_error], [encoding_error, encoding_error]):
        with pytest.raises(banana.BananaError):
            _two_steps(alone)
        with pytest.raises(banana.BananaError):
            pbfast.dumps(alone)


def test_hooks_after_an_encoding_error_still_run() -> None:
    """Twisted's jelly calls every hook before encode fails: so does dumps."""
    called: list[str] = []

    class Hooked:
        def __getstate__(self) -> dict[str, Any]:
            called.append("getstate")
            return {}

    value = [2**448, Hooked()]
    with pytest.raises(banana.BananaError):
        _two_steps(value)
    with pytest.raises(banana.BananaError):
        pbfast.dumps(value)
    assert called == ["getstate", "getstate"]


@given(graphs())
@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
def test_a_graph_nothing_else_holds(graph: Any) -> None:
    """
    The same bytes and s-expression for a graph that only the call holds (a
    deep copy made in the call: objects held by their container alone, a
    root held by its caller alone, cycles back to the root), which the
    traversal leaves out of the objects it tracks while it can prove that
    they cannot be met again.
    """
    # Copies made the same way iterate their sets in the same order.
    assert pbfast.dumps(copy.deepcopy(graph)) == _two_steps(copy.deepcopy(graph))
    assert jelly.jelly(copy.deepcopy(graph)) == twisted_jelly.jelly(copy.deepcopy(graph))


def _holds_itself() -> list[Any]:
    held: list[Any] = [1]
    held.append({"again": [held]})
    return held


def test_a_root_that_holds_itself() -> None:
    """A root met again through a cycle, held by the call alone or not."""
    expected = _two_steps(_holds_itself())
    assert pbfast.dumps(_holds_itself()) == expected
    kept = _holds_itself()
    assert pbfast.dumps(kept) == expected
    assert jelly.jelly(_holds_itself()) == twisted_jelly.jelly(_holds_itself())
