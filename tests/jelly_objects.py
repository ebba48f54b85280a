"""
Classes for the jelly tests, in a module of their own so that jelly can name
them (C{jelly_objects.Node}) and unjelly can import them by that name.
"""

from __future__ import annotations

from typing import Any

from twisted.spread import jelly


class Node:
    """A plain class: unjellied through its module under a permissive taster."""

    def __init__(self, **attributes: Any) -> None:
        self.__dict__.update(attributes)


class Registered(jelly.Jellyable, jelly.Unjellyable):
    """Jellies itself and is registered for unjellying."""

    def __init__(self, **attributes: Any) -> None:
        self.__dict__.update(attributes)


jelly.setUnjellyableForClass(Registered, Registered)


class Slotted:
    """State through __getstate__/__setstate__ (no __dict__)."""

    __slots__ = ("a", "b")

    def __init__(self, a: Any = None, b: Any = None) -> None:
        self.a = a
        self.b = b

    def __getstate__(self) -> dict[str, Any]:
        return {"a": self.a, "b": self.b}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.a = state["a"]
        self.b = state["b"]


class PostUnjelly(jelly.Unjellyable):
    """Counts its postUnjelly calls."""

    def postUnjelly(self) -> None:
        self.__dict__["post_unjelly_calls"] = self.__dict__.get("post_unjelly_calls", 0) + 1


jelly.setUnjellyableForClass(PostUnjelly, PostUnjelly)


def module_function() -> None:
    """A function to jelly by name."""


def _holding(holder: Any, key: Any, known: Any) -> tuple[str, str, bool]:
    """Where a placeholder is held, as (holder type, key, whether the holder
    holds it there). A dictionary value is held through Twisted's key and
    value pair, or by the dictionary and key themselves: both the same."""
    from twisted.persisted.crefutil import _DictKeyAndValue

    if isinstance(holder, _DictKeyAndValue) and key == 1:
        holder, key = holder.dict, holder.key
    if type(holder) is list:
        # Every slot of a list a hook can reach is read: an empty one (a
        # list still being filled) would crash here.
        for _item in holder:
            pass
    holds = type(holder) in (list, dict) and holder[key] is known
    return (type(holder).__name__, repr(key), holds)


class Witness(jelly.Jellyable, jelly.Unjellyable):
    """Records, when it is unjellied, what a hook can see of the objects not
    complete yet: each forward-reference placeholder in the unjellier's
    references, and where it is held (see L{_holding})."""

    def unjellyFor(self, unjellier: Any, jellyList: Any) -> Any:
        from twisted.persisted.crefutil import NotKnown

        seen = []
        for refId, known in sorted(unjellier.references.items(), key=repr):
            if isinstance(known, NotKnown):
                held = sorted(_holding(holder, key, known) for holder, key in known.dependants)
                seen.append((repr(refId), held))
        made = super().unjellyFor(unjellier, jellyList)
        self.seen = seen
        return made


jelly.setUnjellyableForClass(Witness, Witness)


class GcWalker(jelly.Jellyable, jelly.Unjellyable):
    """Walks every container the collector knows of when it is unjellied."""

    def unjellyFor(self, unjellier: Any, jellyList: Any) -> Any:
        import gc

        for container in gc.get_objects():
            if type(container) in (list, tuple):
                for _item in container:
                    pass
        return super().unjellyFor(unjellier, jellyList)


jelly.setUnjellyableForClass(GcWalker, GcWalker)
