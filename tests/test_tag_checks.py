"""
Tag checks stay checks: what the taster allows and the registries claim is
kept between and within calls only while it cannot have changed. Each case
changes the taster or a registry -- between two calls, or from a hook in the
middle of one, in every way Python code can change a dict or an attribute --
and pbfast must then do what Twisted's unjelly does with the same bytes.
"""

from __future__ import annotations

import datetime
import decimal
import re
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from twisted.spread import jelly as twisted_jelly

import pbfast
from pbfast import banana, jelly
from pbfast.tools.reference import twisted_decode

BUILTIN_TAGS = [
    b"None", b"unicode", b"boolean", b"list", b"tuple", b"set", b"frozenset",
    b"dictionary", b"reference", b"dereference", b"datetime", b"date", b"time",
    b"timedelta", b"decimal",
]  # fmt: skip


class Claimed(jelly.Unjellyable):
    """What a registry claiming a built-in tag makes of its expression."""

    def unjellyFor(self, unjellier: Any, jellyList: Any) -> Any:
        self.jellyList = jellyList
        return self

    def __eq__(self, other: object) -> bool:
        return type(other) is Claimed and other.jellyList == self.jellyList

    def __hash__(self) -> int:
        return 0

    def __repr__(self) -> str:
        return f"Claimed({self.jellyList!r})"


def made(state: Any) -> tuple[str, Any]:
    return ("made", state)


class Hook(jelly.Unjellyable):
    """Runs the change under test when it is unjellied, mid-message."""

    change: Callable[[], None] = staticmethod(lambda: None)

    def unjellyFor(self, unjellier: Any, jellyList: Any) -> Any:
        Hook.change()
        return self

    def __eq__(self, other: object) -> bool:
        return type(other) is Hook

    def __hash__(self) -> int:
        return 1

    def __repr__(self) -> str:
        return "Hook()"


class Sent(jelly.Jellyable):
    """Jellied as a Hook's tag."""

    def jellyFor(self, jellier: Any) -> Any:
        return [b"test.tagchecks.Hook", 0]


def message(hook: bool) -> Any:
    """Every built-in tag, before and (with a hook) after the change."""
    if hook:
        return [message(hook=False), Sent(), message(hook=False)]
    shared = [7, 8]
    cycle: dict[str, Any] = {"n": 1}
    cycle["self"] = cycle
    return [
        [1, [2, 3]],
        {"key": (4, 5.5), "flag": True, "text": "caf\u00e9"},
        None,
        {1, 2},
        frozenset({3}),
        shared,
        shared,
        cycle,
        datetime.datetime(2026, 1, 2, 3, 4, 5, 6),
        datetime.date(2026, 1, 2),
        datetime.time(3, 4, 5),
        datetime.timedelta(1, 2, 3),
        decimal.Decimal("1.25"),
    ]


@pytest.fixture(autouse=True)
def registered() -> Iterator[None]:
    jelly.setUnjellyableForClass(b"test.tagchecks.Hook", Hook)
    yield
    jelly.unjellyableRegistry.pop(b"test.tagchecks.Hook", None)


def outcome(read: Callable[[], Any]) -> tuple[str, Any]:
    try:
        return ("value", read())
    except Exception as error:  # the outcome is what is compared
        return ("error", error)


def same(ours: tuple[str, Any], twisteds: tuple[str, Any], stateless: bool = False) -> None:
    """
    pbfast's outcome is Twisted's: an equal value, or an error -- of the
    class Twisted raised, or the typed InsecureJelly pbfast gives what it
    finds malformed where Twisted fails with whatever Python raised.
    C{stateless}: the message has a registered class's or factory's
    expression with no state after its tag, which pbfast refuses as
    malformed (Twisted's own hooks and its factory call index the state
    unchecked, and raise IndexError; a hook of one's own may take it).
    """
    if stateless:
        assert ours[0] == "error" and isinstance(ours[1], jelly.InsecureJelly), ours
        assert "needs at least 2" in str(ours[1])
        return
    if twisteds[0] == "error":
        assert ours[0] == "error", (ours, twisteds)
        typed = (type(twisteds[1]), jelly.InsecureJelly)
        assert isinstance(ours[1], typed), (ours, twisteds)
    else:
        assert ours[0] == "value", (ours, twisteds)
        assert shown(ours[1]) == shown(twisteds[1])


def shown(value: Any) -> str:
    """C{repr} without addresses (of placeholders a claimed tag leaves unresolved)."""
    return re.sub(r" at 0x[0-9a-f]+", "", repr(value))


def changes(tag: bytes) -> dict[str, Callable[[], Callable[[], None]]]:
    """Ways to change what `tag` means; each makes the change, gives its undo."""
    registry = jelly.unjellyableRegistry
    factories = jelly.unjellyableFactoryRegistry
    security = twisted_jelly.globalSecurity

    def claim() -> Callable[[], None]:
        registry[tag] = Claimed
        return lambda: registry.pop(tag, None)

    def claim_by_update() -> Callable[[], None]:
        registry.update({tag: Claimed})
        return lambda: registry.pop(tag, None)

    def factory() -> Callable[[], None]:
        factories.setdefault(tag, made)
        return lambda: factories.pop(tag, None)

    def disallow() -> Callable[[], None]:
        value = security.allowedTypes.pop(tag)
        return lambda: security.allowedTypes.__setitem__(tag, value)

    def other_allowed_types() -> Callable[[], None]:
        before = security.allowedTypes
        security.allowedTypes = {k: v for k, v in before.items() if k != tag}
        return lambda: setattr(security, "allowedTypes", before)

    def clear_allowed_types() -> Callable[[], None]:
        before = dict(security.allowedTypes)
        security.allowedTypes.clear()
        return lambda: security.allowedTypes.update(before)

    return {
        "claimed": claim,
        "claimed by update": claim_by_update,
        "factory": factory,
        "disallowed": disallow,
        "other allowedTypes": other_allowed_types,
        "allowedTypes cleared": clear_allowed_types,
    }


def stateless(tag: bytes, how: str) -> bool:
    """True if C{how} has a class or factory claim C{tag}, which L{message} sends stateless."""
    return tag == b"None" and how in ("claimed", "claimed by update", "factory")


def readers(data: bytes) -> dict[str, Callable[[], Any]]:
    sexp = twisted_decode(data)
    return {
        "loads": lambda: pbfast.loads(data),
        "unjelly": lambda: jelly.unjelly(sexp, taster=jelly.globalSecurity),
    }


def twisteds(data: bytes) -> tuple[str, Any]:
    return outcome(
        lambda: twisted_jelly.unjelly(twisted_decode(data), taster=twisted_jelly.globalSecurity)
    )


@pytest.mark.parametrize("how", list(changes(b"list")))
@pytest.mark.parametrize("tag", BUILTIN_TAGS)
def test_a_change_between_calls_is_seen_by_the_next(tag: bytes, how: str) -> None:
    data = pbfast.dumps(message(hook=False))
    for name, read in readers(data).items():
        expected = read()
        assert shown(read()) == shown(expected)  # what is kept, kept
        undo = changes(tag)[how]()
        try:
            same(outcome(read), twisteds(data), stateless(tag, how))
        finally:
            undo()
        assert shown(read()) == shown(expected), name  # and the undoing seen too


@pytest.mark.parametrize("how", list(changes(b"list")))
@pytest.mark.parametrize("tag", BUILTIN_TAGS)
def test_a_change_from_a_hook_applies_to_the_rest_of_the_call(tag: bytes, how: str) -> None:
    data = pbfast.dumps(message(hook=True))
    undos: list[Callable[[], None]] = []
    Hook.change = lambda: undos.append(changes(tag)[how]())
    try:
        expected = twisteds(data)
        while undos:
            undos.pop()()
        for name, read in readers(data).items():
            try:
                same(outcome(read), expected, stateless(tag, how))
            finally:
                while undos:
                    undos.pop()()
            assert undos == [], name
    finally:
        Hook.change = staticmethod(lambda: None)  # type: ignore[assignment]
        while undos:
            undos.pop()()


def test_under_dummy_security_the_registries_are_still_watched() -> None:
    data = pbfast.dumps([[1], (2,), {"a": None}])
    dummy = jelly.DummySecurityOptions()
    assert pbfast.loads(data, taster=dummy) == [[1], (2,), {"a": None}]
    jelly.unjellyableFactoryRegistry[b"tuple"] = made
    try:
        assert pbfast.loads(data, taster=dummy)[1] == ("made", 2)
    finally:
        del jelly.unjellyableFactoryRegistry[b"tuple"]
    assert pbfast.loads(data, taster=dummy)[1] == (2,)


def basic() -> jelly.SecurityOptions:
    taster = jelly.SecurityOptions()
    taster.allowBasicTypes()
    return taster


def test_tasters_taken_in_turn_each_get_their_own_answer() -> None:
    data = pbfast.dumps([[1, 2], (3,)])
    strict = basic()
    del strict.allowedTypes[b"tuple"]
    others = [basic() for _ in range(6)]
    for _ in range(3):
        with pytest.raises(jelly.InsecureJelly):
            pbfast.loads(data, taster=strict)
        for other in others:
            assert pbfast.loads(data, taster=other) == [[1, 2], (3,)]
        assert pbfast.loads(data) == [[1, 2], (3,)]


def test_a_taster_in_place_of_a_freed_one_is_asked_afresh() -> None:
    data = pbfast.dumps([(1,)])
    for round in range(50):
        taster = basic()
        if round % 2:
            del taster.allowedTypes[b"tuple"]
            with pytest.raises(jelly.InsecureJelly):
                pbfast.loads(data, taster=taster)
        else:
            assert pbfast.loads(data, taster=taster) == [(1,)]
        del taster


def test_limits_follow_every_kind_of_change_to_pbfast_banana() -> None:
    data = pbfast.dumps(b"x" * 100)
    assert pbfast.loads(data) == b"x" * 100
    before = banana.SIZE_LIMIT
    try:
        banana.SIZE_LIMIT = 50
        with pytest.raises(banana.BananaError):
            pbfast.loads(data)
        vars(banana).update(SIZE_LIMIT=before)
        assert pbfast.loads(data) == b"x" * 100
        vars(banana)["SIZE_LIMIT"] = 10
        with pytest.raises(banana.BananaError):
            pbfast.dumps(b"y" * 20)
    finally:
        banana.SIZE_LIMIT = before
    assert pbfast.loads(data) == b"x" * 100


def test_threads_with_different_tasters_each_get_their_own_answer() -> None:
    data = pbfast.dumps([[1], (2,)])
    strict = basic()
    del strict.allowedTypes[b"list"]
    failures: list[str] = []

    def work(taster: Any, refused: bool) -> None:
        for _ in range(2000):
            try:
                pbfast.loads(data, taster=taster)
                if refused:
                    failures.append("allowed")
            except jelly.InsecureJelly:
                if not refused:
                    failures.append("refused")

    threads = [
        threading.Thread(target=work, args=(strict, True)),
        threading.Thread(target=work, args=(jelly.globalSecurity, False)),
        threading.Thread(target=work, args=(jelly.DummySecurityOptions(), False)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
