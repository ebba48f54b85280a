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
