"""
The Rust code's layers, as docs/architecture.md states them, read from the
sources: every path a module uses (its C{use} statements and the paths
written out in its code) must point up the layers, and no modules may use
each other in a circle.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

RUST = Path(__file__).resolve().parent.parent / "rust"

# Each layer may use the ones before it, never one after.
LAYERS = [
    "crate::banana",
    "crate::pybanana",
    "crate::jelly",
    "crate::broker",
    "crate::bindings",
]
# Inside the traversal layer, the two directions stay apart; what both use
# uses neither.
DIRECTIONS = ["crate::jelly::jellying", "crate::jelly::unjellying"]

_PATH = re.compile(r"(?<![\w:])((?:super::)+\w+(?:::\w+)*|crate::\w+(?:::\w+)*)")
_USE = re.compile(r"^\s*(?:pub(?:\([\w:]+\))?\s+)?use\s+([^;]+);", re.M)


def module_name(path: Path) -> str:
    """C{rust/jelly/unjellying/loads/mod.rs} is C{crate::jelly::unjellying::loads}."""
    parts = list(path.relative_to(RUST).with_suffix("").parts)
    if parts[-1] == "mod":
        parts.pop()
    return "::".join(["crate", *parts])


def code_of(text: str) -> str:
    """The text without its comments (which may name paths in prose)."""
    return "\n".join(line.split("//")[0] for line in text.splitlines())


def expand(use: str) -> Iterator[str]:
    """C{a::{b, c::{d, e as f}}} is C{a::b}, C{a::c::d}, C{a::c::e}."""
    start = use.find("{")
    if start < 0:
        yield use.split(" as ")[0].removesuffix("::self")
        return
    prefix, inner = use[:start], use[start + 1 : use.rindex("}")]
    depth, item = 0, ""
    for char in inner + ",":
        if char == "," and depth == 0:
            if item.strip():
                yield from expand(prefix + item.strip())
            item = ""
            continue
        depth += {"{": 1, "}": -1}.get(char, 0)
        item += char


def used_paths(module: str, text: str) -> Iterator[str]:
    """The absolute paths C{text}, the source of C{module}, uses."""
    code = code_of(text)
    found = [
        path for use in _USE.findall(code) for path in expand(re.sub(r"\s+", " ", use).strip())
    ]
    found += _PATH.findall(code)
    for path in found:
        parts = path.replace(" ", "").split("::")
        if parts[0] == "super":
            # A file's `super` is the module it is declared in.
            here = module.split("::")[:-1]
            parts = parts[1:]
            while parts and parts[0] == "super":
                here, parts = here[:-1], parts[1:]
            yield "::".join(here + parts)
        elif parts[0] == "crate":
            yield "::".join(parts)


def within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + "::")


def dependency_graph() -> dict[str, set[str]]:
    """Module → the modules it uses (its own descendants and ancestors aside)."""
    sources = {
        module_name(path): path.read_text()
        for path in RUST.rglob("*.rs")
        if path.name != "lib.rs" and path.parent.name != "tests"
    }
    modules = sorted(sources, key=len, reverse=True)

    def owner(path: str) -> str | None:
        return next((m for m in modules if within(path, m)), None)

    graph: dict[str, set[str]] = {}
    for module, text in sources.items():
        graph[module] = {
            used
            for path in used_paths(module, text)
            if (used := owner(path)) is not None
            and not within(used, module)
            and not within(module, used)
        }
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in graph[node]:
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def layer(module: str) -> int:
    return next(i for i, prefix in enumerate(LAYERS) if within(module, prefix))


def test_the_graph_is_read() -> None:
    """
    The reading finds the uses the layers are made of, so that the tests
    below check something.
    """
    graph = dependency_graph()
    assert "crate::jelly::jellying::context" in graph["crate::jelly::jellying::traversal"]
    assert "crate::jelly::unjellying::frame" in graph["crate::jelly::unjellying::unjelly"]
    assert "crate::banana::decoder" in graph["crate::pybanana::messages"]
    assert "crate::jelly::unjellying::unjellier" in graph["crate::jelly::unjellying::loads"]
    # Paths written out in code count too, not only `use`s.
    assert "crate::jelly::unjellying::unjelly" in graph["crate::bindings::jelly"]


def test_circles_are_found() -> None:
    """The circle finder finds a circle, through any number of modules."""
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert circles(graph) == [["a", "b", "c"]]


def test_uses_are_expanded() -> None:
    assert list(expand("crate::a::{b, c::{d, e as f}, self}")) == [
        "crate::a::b",
        "crate::a::c::d",
        "crate::a::c::e",
        "crate::a",
    ]


def test_no_circles() -> None:
    assert circles(dependency_graph()) == []


@pytest.mark.parametrize("module", sorted(dependency_graph()))
def test_uses_point_up_the_layers(module: str) -> None:
    uses = dependency_graph()[module]
    assert [used for used in sorted(uses) if layer(used) > layer(module)] == []
    if not within(module, "crate::jelly"):
        return
    mine = [d for d in DIRECTIONS if within(module, d)]
    others = [d for d in DIRECTIONS if d not in mine]
    assert [used for used in sorted(uses) if any(within(used, d) for d in others)] == []
