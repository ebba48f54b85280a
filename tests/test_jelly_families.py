"""
Differential tests on generated families of classes and hooks: pbfast's
jelly, unjelly, dumps and loads against Twisted's, on classes of every kind
(plain, slots, dataclasses, enums, namedtuples, builtin subclasses,
Jellyable, Copyable, registered receivers) defined at every place a class can
be (top level, nested, local, C{__main__}), with hooks on the class or on the
instance returning fresh, shared or cyclic objects, bound methods, or
raising, in containers that share them.

Each side runs on a world of its own built from the same description (see
L{class_families}), so hooks run on fresh objects and their call logs can be
compared: the same hooks, called the same number of times, in the same order.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from twisted.spread import banana as twisted_banana
from twisted.spread import jelly as twisted_jelly

import pbfast
from class_families import (
    KINDS,
    PLACEMENTS,
    ClassSpec,
    Family,
    Hook,
    World,
    build,
    has_dict,
    jelly_hook_names,
    same_structure,
    unjelly_hook_names,
)
from pbfast import jelly

FAMILY_SETTINGS = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# --------------------------------------------------------------------------
# Strategies.

MAX_DEPTH = 3

literals = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False),
    st.text(max_size=5),
    st.binary(max_size=5),
    st.none(),
    st.booleans(),
)
key_literals = st.one_of(
    st.integers(min_value=-5, max_value=5),
    st.text(alphabet="abk", max_size=3),
    st.binary(max_size=2),
)
raising = st.tuples(st.just("raise"), st.sampled_from(["ValueError", "HookError"]))
tag_variants = st.sampled_from(["qual", "tag", "tagstr"])


def _weighted(draw: st.DrawFn, weights: dict[str, int]) -> str:
    """One of C{weights}' keys, in proportion to its weight (shrinking
    towards the first)."""
    pick = draw(st.integers(0, sum(weights.values()) - 1))
    for key, weight in weights.items():
        if pick < weight:
            return key
        pick -= weight
    raise AssertionError(pick)


@st.composite
def leaf_nodes(draw: st.DrawFn, count: int, in_hook: bool) -> Any:
    """Nodes without children: literals, shared pool objects, classes (or the
    class a nested one is defined in), functions (module-level, local,
    lambda, builtin; a class's own function, classmethod and staticmethod),
    the module, an inherited bound method, what a pool object holds (an
    object whose only other holder is that one); in a hook's result also the
    object itself, a dict of its fields, its C{__dict__} itself."""
    weights = {"lit": 4, "pool": 4, "inside": 2}
    if in_hook:
        weights.update({"self": 4, "attrs": 2, "vars": 1, "inside": 4})
    weights.update({"class": 1, "function": 1, "class_function": 1, "module": 1, "childmethod": 1})
    shape = _weighted(draw, weights)
    if shape == "lit":
        return ("lit", draw(literals))
    if shape == "pool":
        return ("pool", draw(st.integers(0, 5)))
    if shape == "inside":
        return ("inside", draw(st.integers(0, 5)), draw(st.integers(-1, 3)))
    if shape == "class":
        return (
            "class",
            draw(st.integers(0, count - 1)),
            draw(st.sampled_from(["class", "holder"])),
        )
    if shape == "function":
        return ("function", draw(st.sampled_from(["top", "local", "lambda", "builtin"])))
    if shape == "class_function":
        which = draw(st.sampled_from(["method", "cm", "sm"]))
        return ("class_function", draw(st.integers(0, count - 1)), which)
    return (shape,)


@st.composite
def hook_results(draw: st.DrawFn, count: int, depth: int = 1) -> Any:
    """What a jelly-side hook returns, made afresh at each call: fresh
    containers holding shared pool objects, the object itself (a cycle),
    bound methods, fresh Leaf instances."""
    weights = {"leaf_node": 3, "list": 2, "tuple": 2, "dict": 2, "set": 1, "leaf": 1}
    shape = "leaf_node" if depth >= MAX_DEPTH else _weighted(draw, weights | {"method": 1})
    if shape == "leaf_node":
        return draw(leaf_nodes(count, in_hook=True))
    children = st.lists(hook_results(count, depth + 1), max_size=3).map(tuple)
    if shape in ("list", "tuple", "set"):
        return (shape, draw(children))
    if shape == "dict":
        keys = st.one_of(
            st.tuples(st.just("lit"), key_literals), st.just(("self",)), st.just(("lit", "me"))
        )
        items = st.lists(st.tuples(keys, hook_results(count, depth + 1)), max_size=3)
        return ("dict", tuple(draw(items)))
    if shape == "leaf":
        return ("leaf", draw(hook_results(count, depth + 1)))
    return ("method", draw(st.sampled_from([("self",), ("pool", 0), ("pool", 1), ("pool", 2)])))


@st.composite
def jelly_hooks(
    draw: st.DrawFn, kind: str, where: str, count: int, chance: int
) -> tuple[Hook, ...]:
    """Jelly-side hooks for a class of C{kind}, on the class or the
    instance, each there with a chance of one in C{chance}; one in eight
    raises."""
    hooks = []
    for name in jelly_hook_names(kind):
        if draw(st.integers(0, chance - 1)) != 0:
            continue
        result = raising if draw(st.integers(0, 7)) == 0 else hook_results(count)
        variant = ""
        if name == "jellyFor":
            shapes = ["standard", "bare", "shared_first", "instance_state", "unpersistable"]
            variant = f"{draw(st.sampled_from(shapes))}/{draw(tag_variants)}"
        elif name in ("getTypeToCopy", "getTypeToCopyFor"):
            variant = draw(tag_variants)
        hooks.append(Hook(name, where, draw(result), variant))
    return tuple(hooks)


@st.composite
def class_specs(draw: st.DrawFn, index: int, count: int) -> ClassSpec:
    """A class: kind, place, name, registration and class-level hooks."""
    # The hook-rich kinds more often than the others.
    kind = _weighted(draw, {kind: 3 if kind in ("jellyable", "copyable") else 1 for kind in KINDS})
    receiver = kind in ("jellyable", "copyable") and draw(st.booleans())
    hooks = draw(jelly_hooks(kind, "class", count, chance=2))
    for name in unjelly_hook_names(kind, receiver):
        if draw(st.integers(0, 3)) != 0:
            continue
        result = draw(
            st.sampled_from([("ok",), ("ok",), ("raise", "ValueError"), ("raise", "HookError")])
        )
        variant = (
            draw(st.sampled_from(["super", "replace", "into"])) if name == "unjellyFor" else ""
        )
        hooks += (Hook(name, "class", result, variant),)
    others = [i for i in range(count) if i != index]
    shadows = None
    if others and draw(st.integers(0, 4)) == 0:
        shadows = draw(st.sampled_from(others))
    return ClassSpec(
        kind=kind,
        placement=draw(st.sampled_from(PLACEMENTS)),
        shadows=shadows,
        receiver=receiver,
        registration=draw(
            st.sampled_from([None, None, None, "qual", "tag", "factory_qual", "factory_tag"])
        ),
        dotted_tag=draw(st.booleans()),
        hooks=hooks,
        getattr_hook=None
        if kind == "enum"
        else draw(st.sampled_from([None, None, None, "log", "provide"])),
        spoof_class=kind != "enum" and draw(st.integers(0, 9)) == 0,
    )


@st.composite
def payload_nodes(draw: st.DrawFn, classes: tuple[ClassSpec, ...], depth: int = 0) -> Any:
    """A payload node: instances made inline (held only by their container),
    containers, shared pool objects, bound methods (of an inline instance:
    held only by the method), and the leaves of L{leaf_nodes}."""
    count = len(classes)
    weights = {"leaf_node": 3, "new": 5}
    if depth < MAX_DEPTH:
        weights |= {"list": 2, "tuple": 1, "dict": 1, "set": 1, "frozenset": 1, "method": 1}
    shape = _weighted(draw, weights)
    if shape == "leaf_node":
        return draw(leaf_nodes(count, in_hook=False))
    children = st.lists(payload_nodes(classes, depth + 1), max_size=3).map(tuple)
    if shape == "new":
        index = draw(st.integers(0, count - 1))
        kind = classes[index].kind
        hooks: tuple[Hook, ...] = ()
        if has_dict(kind) and kind != "enum":
            hooks = draw(jelly_hooks(kind, "instance", count, chance=4))
        values = draw(children) if depth < MAX_DEPTH else ()
        return ("new", index, values, hooks)
    # A set's members and a dict's keys are leaves or instances without
    # values: one that cannot be hashed is replaced, and dies alone.
    members = st.one_of(st.tuples(st.just("lit"), key_literals), payload_nodes(classes, MAX_DEPTH))
    if shape in ("list", "tuple"):
        return (shape, draw(children))
    if shape in ("set", "frozenset"):
        return (shape, tuple(draw(st.lists(members, max_size=3))))
    if shape == "dict":
        items = st.lists(st.tuples(members, payload_nodes(classes, depth + 1)), max_size=3)
        return ("dict", tuple(draw(items)))
    target = st.one_of(
        st.tuples(st.just("new"), st.integers(0, count - 1), st.just(()), st.just(())),
        st.tuples(st.just("pool"), st.integers(0, 5)),
    )
    return ("method", draw(target))


@st.composite
def tasters(draw: st.DrawFn, count: int) -> Any:
    """No taster (most often); a SecurityOptions allowing instances of some
    classes; or a logging taster, refusing one type or none."""
    which = draw(st.sampled_from([None, None, None, "secure", "logging"]))
    if which == "secure":
        return ("secure", tuple(draw(st.lists(st.integers(0, count - 1), max_size=2))))
    if which == "logging":
        refused = [None, b"builtins.float", b"builtins.tuple", b"builtins.str"]
        return ("logging", draw(st.sampled_from(refused)))
    return None


@st.composite
def families(draw: st.DrawFn) -> Family:
    """A family: up to four classes, a pool of shared objects, cycles, a
    payload, and the options of the call (taster, invoker, persistent store)."""
    count = draw(st.integers(1, 4))
    classes = tuple(draw(class_specs(index, count)) for index in range(count))
    pool = tuple(draw(payload_nodes(classes, 1)) for _ in range(draw(st.integers(0, 4))))
    links = tuple(draw(st.lists(st.tuples(st.integers(0, 5), st.integers(0, 5)), max_size=2)))
    items = tuple(draw(payload_nodes(classes, 1)) for _ in range(draw(st.integers(1, 5))))
    root = (draw(st.sampled_from(["list", "tuple", "dict"])), items)
    if root[0] == "dict":
        root = ("dict", tuple((("lit", f"k{i}"), item) for i, item in enumerate(items)))
    return Family(
        classes=classes,
        pool=pool,
        links=links,
        root=root,
        taster=draw(tasters(count)),
        invoker=draw(st.booleans()),
        store=draw(st.sampled_from([None, None, None, "none", "some", "raise"])),
    )


# --------------------------------------------------------------------------
# Running and comparing.


def _outcome(function: Callable[[], Any]) -> tuple[str, Any]:
    try:
        return ("value", function())
    except Exception as error:
        return ("error", type(error))


def _in_world(family: Family, run: Callable[[World], Any]) -> tuple[tuple[str, Any], list[Any]]:
    """C{run} on a fresh world of C{family}: its outcome, and the hooks' log."""
    world = build(family)
    try:
        outcome = _outcome(lambda: run(world))
        return outcome, list(world.log)
    finally:
        world.cleanup()


def _recursed(outcome: tuple[str, Any]) -> bool:
    """Twisted recursed without end (a hook's result that leads back to an
    object no prepare() tracks, as a jellyFor that jellies itself before
    prepare): how far each side gets depends on its stack, and pbfast may
    stop at its depth limit instead (InsecureJelly)."""
    return outcome[0] == "error" and issubclass(outcome[1], RecursionError)


def _assert_same_outcome(
    ours: tuple[str, Any],
    theirs: tuple[str, Any],
    same: Callable[[Any, Any], bool] = lambda a, b: bool(a == b),
) -> None:
    """The same value (by C{same}), or an error of Twisted's type (pbfast's
    may be a subclass of it). Where Twisted recursed without end, pbfast may
    raise RecursionError or InsecureJelly (its depth limit)."""
    if _recursed(theirs):
        assert ours[0] == "error", (ours, theirs)
        assert issubclass(ours[1], (RecursionError, jelly.InsecureJelly)), (ours, theirs)
        return
    assert ours[0] == theirs[0], (ours, theirs)
    if ours[0] == "error":
        assert issubclass(ours[1], theirs[1]), (ours, theirs)
    else:
        assert same(ours[1], theirs[1]), (ours, theirs)


def _twisted_jelly(world: World) -> Any:
    return twisted_jelly.jelly(world.root, **world.jelly_options())


def _twisted_dumps(world: World) -> bytes:
    return twisted_banana.encode(twisted_jelly.jelly(world.root, **world.jelly_options()))


def _pbfast_jelly(world: World) -> Any:
    return jelly.jelly(world.root, **world.jelly_options())


def _pbfast_dumps(world: World) -> bytes:
    return pbfast.dumps(world.root, **world.jelly_options())


def _unjellied(
    family: Family, secure: bool
) -> tuple[tuple[str, Any], list[Any], tuple[str, Any], list[Any]] | None:
    """
    Twisted's s-expression of a world of C{family}, unjellied by Twisted and
    then by pbfast in that world (so that class names resolve to the same
    classes): each side's outcome and log. C{secure}: through Banana bytes,
    C{loads} against Twisted's decode and unjelly under globalSecurity.
    None where Twisted cannot jelly (or encode) the family.
    """
    world = build(family)
    try:
        kind, sexp = _outcome(lambda: _twisted_jelly(world))
        if kind == "error":
            return None
        options = world.unjelly_options(secure=secure)
        if secure:
            kind, data = _outcome(lambda: twisted_banana.encode(sexp))
            if kind == "error":
                return None
            world.log.clear()
            theirs = _outcome(lambda: twisted_jelly.unjelly(twisted_banana.decode(data), **options))
            their_log = list(world.log)
            world.log.clear()
            ours = _outcome(lambda: pbfast.loads(data, **options))
        else:
            world.log.clear()
            theirs = _outcome(lambda: twisted_jelly.unjelly(copy.deepcopy(sexp), **options))
            their_log = list(world.log)
            world.log.clear()
            ours = _outcome(lambda: jelly.unjelly(copy.deepcopy(sexp), **options))
        return ours, list(world.log), theirs, their_log
    finally:
        world.cleanup()


# --------------------------------------------------------------------------
# The tests.


@given(families())
@FAMILY_SETTINGS
def test_jelly_matches_twisted(family: Family) -> None:
    """
    jelly gives Twisted's s-expression exactly (class names by C{reflect.qual},
    reference ids and their placement, what hooks return), or an error of
    Twisted's type.
    """
    theirs, _ = _in_world(family, _twisted_jelly)
    ours, _ = _in_world(family, _pbfast_jelly)
    _assert_same_outcome(ours, theirs)


@given(families())
@FAMILY_SETTINGS
def test_jelly_calls_hooks_as_twisted_does(family: Family) -> None:
    """
    jelly calls the same hooks (class or instance attribute, persistent
    store, taster) on the same objects, as many times and in the same order
    as Twisted's, error or not: a hook's side effects are part of its
    behaviour.
    """
    theirs, their_log = _in_world(family, _twisted_jelly)
    ours, our_log = _in_world(family, _pbfast_jelly)
    if not _recursed(theirs):
        assert our_log == their_log, (ours, theirs)


@given(families())
@FAMILY_SETTINGS
def test_dumps_matches_twisted(family: Family) -> None:
    """
    pbfast.dumps gives the bytes of Twisted's banana.encode(jelly.jelly(x)),
    or an error of Twisted's type: when both a hook and Banana fail, the one
    Twisted's two steps meet first (jelly's) is the one raised.
    """
    theirs, _ = _in_world(family, _twisted_dumps)
    ours, _ = _in_world(family, _pbfast_dumps)
    _assert_same_outcome(ours, theirs)


@given(families())
@FAMILY_SETTINGS
def test_dumps_calls_hooks_as_twisted_does(family: Family) -> None:
    """
    pbfast.dumps, which jellies and encodes in one pass, calls the hooks
    Twisted's jelly calls before its encode, the same times in the same order
    -- also when the encode then fails (a str in the s-expression, an int too
    large): the hooks have run by then in Twisted's two steps.
    """
    theirs, their_log = _in_world(family, _twisted_dumps)
    ours, our_log = _in_world(family, _pbfast_dumps)
    if not _recursed(theirs):
        assert our_log == their_log, (ours, theirs)


@given(families())
@FAMILY_SETTINGS
def test_unjelly_matches_twisted(family: Family) -> None:
    """
    unjelly (permissive) of Twisted's s-expression gives the same structure as
    Twisted's unjelly -- the same classes (names resolved the same way: a
    nested or local class is not found by its qual name), the same state, the
    same objects shared and cyclic in the same places -- or an error of
    Twisted's type.
    """
    result = _unjellied(family, secure=False)
    if result is not None:
        ours, _, theirs, _ = result
        _assert_same_outcome(ours, theirs, same_structure)


@given(families())
@FAMILY_SETTINGS
def test_unjelly_calls_hooks_as_twisted_does(family: Family) -> None:
    """
    unjelly calls the same unjelly-side hooks as Twisted's (C{__new__},
    C{__setattr__}, C{__setstate__}, C{__getattr__}, C{setStateFor},
    C{unjellyFor}, C{setCopyableState}, C{postUnjelly}, the persistent load,
    the taster), the same times in the same order, and never
    C{__reduce_ex__}.
    """
    result = _unjellied(family, secure=False)
    if result is not None:
        ours, our_log, theirs, their_log = result
        assert our_log == their_log, (ours, theirs)


@given(families())
@FAMILY_SETTINGS
def test_loads_matches_twisted(family: Family) -> None:
    """
    pbfast.loads (secure by default) of Twisted's bytes gives what Twisted's
    decode and unjelly under globalSecurity give: most generated classes are
    refused (InsecureJelly on both sides), registered ones are made, with the
    same structure and the same hooks called in the same order.
    """
    result = _unjellied(family, secure=True)
    if result is not None:
        ours, our_log, theirs, their_log = result
        _assert_same_outcome(ours, theirs, same_structure)
        assert our_log == their_log, (ours, theirs)
