"""
pbfast.jelly on its own: the shared API, security, hooks, malformed input
and limits.
"""

from __future__ import annotations

import datetime
import decimal
import gc
import sys
import threading
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.spread import jelly as twisted_jelly

import jelly_objects
import pbfast
from jelly_objects import Node, PostUnjelly, Registered, Slotted, module_function
from pbfast import banana, jelly

TWISTED_IMPORTS = {
    "Callable", "TYPE_CHECKING", "Version", "annotations", "copy", "datetime", "decimal",
    "deprecatedModuleAttribute", "implementer", "namedAny", "namedObject", "nativeString",
    "qual", "reduce", "types", "warnings",
}  # fmt: skip


def test_public_names_match_twisted() -> None:
    for name in dir(twisted_jelly):
        if name.startswith("__") or name in TWISTED_IMPORTS or name == "instance_atom":
            continue
        assert hasattr(jelly, name), name


@pytest.mark.parametrize(
    "name",
    [
        "InsecureJelly", "SecurityOptions", "DummySecurityOptions", "globalSecurity",
        "Jellyable", "Unjellyable", "Unpersistable", "unjellyableRegistry",
        "unjellyableFactoryRegistry", "setUnjellyableForClass", "setUnjellyableFactoryForClass",
        "setUnjellyableForClassTree", "getInstanceState", "setInstanceState", "NotKnown",
    ],
)  # fmt: skip
def test_shared_objects_are_twisteds(name: str) -> None:
    assert getattr(jelly, name) is getattr(twisted_jelly, name)


def test_instance_atom_is_deprecated_as_in_twisted() -> None:
    with pytest.warns(DeprecationWarning, match="instance_atom is unused within Twisted"):
        assert jelly.instance_atom == b"instance"  # type: ignore[attr-defined]


def test_registration_through_either_module_works_for_both() -> None:
    class ViaTwisted(jelly.Unjellyable):
        pass

    class ViaPbfast(jelly.Unjellyable):
        pass

    twisted_jelly.setUnjellyableForClass("test.ViaTwisted", ViaTwisted)
    jelly.setUnjellyableForClass("test.ViaPbfast", ViaPbfast)
    for tag, cls in [(b"test.ViaTwisted", ViaTwisted), (b"test.ViaPbfast", ViaPbfast)]:
        sexp = [tag, [b"dictionary", [[b"unicode", b"x"], 1]]]
        for unjelly in (jelly.unjelly, twisted_jelly.unjelly):
            result = unjelly(sexp, taster=jelly.globalSecurity)
            assert type(result) is cls and result.x == 1


def test_registered_factory() -> None:
    made: list[Any] = []

    def factory(state: Any) -> Any:
        made.append(state)
        return ("made", state)

    jelly.setUnjellyableFactoryForClass("test.Factory", factory)
    result = jelly.unjelly([b"test.Factory", [b"list", 1, 2]], taster=jelly.globalSecurity)
    assert result == ("made", [1, 2]) and made == [[1, 2]]


def test_post_unjelly_hooks_run_once_after_the_graph_is_built() -> None:
    thing = PostUnjelly()
    thing.partner = Node(friend=thing)
    result = jelly.unjelly(jelly.jelly([thing, thing]))
    assert result[0] is result[1]
    assert result[0].post_unjelly_calls == 1
    assert result[0].partner.friend is result[0]


def test_slots_and_getstate() -> None:
    value = Slotted(1, [2])
    assert jelly.jelly(value) == twisted_jelly.jelly(value)
    back = jelly.unjelly(jelly.jelly(value))
    assert (back.a, back.b) == (1, [2])


def test_python_311_default_getstate() -> None:
    """object.__getstate__ gives None for an empty instance, as Twisted sends."""
    empty = Node()
    assert jelly.jelly(empty) == twisted_jelly.jelly(empty) == [b"jelly_objects.Node", [b"None"]]


def test_functions_classes_modules_methods() -> None:
    values = [module_function, Node, jelly_objects, datetime.datetime, Node().__init__]
    for value in values:
        assert jelly.jelly(value) == twisted_jelly.jelly(value)
    assert jelly.unjelly(jelly.jelly(module_function)) is module_function
    assert jelly.unjelly(jelly.jelly(Node)) is Node
    assert jelly.unjelly(jelly.jelly(jelly_objects)) is jelly_objects


def test_special_decimals_behave_as_in_twisted() -> None:
    for text in ["1e-30", "-0", "NaN123", "Infinity"]:
        value = decimal.Decimal(text)
        assert jelly.jelly(value) == twisted_jelly.jelly(value)
    for module in (jelly, twisted_jelly):
        with pytest.raises(TypeError):  # no digits to make a value of
            module.jelly(decimal.Decimal("NaN"))


def test_tzinfo_is_refused_as_in_twisted() -> None:
    aware = datetime.datetime(2020, 1, 1, tzinfo=datetime.UTC)
    with pytest.raises(NotImplementedError, match="tzinfo"):
        jelly.jelly(aware)


def test_hook_sees_the_same_jellier_state() -> None:
    """A jellyFor hook's prepare/preserve and the native traversal share ids."""
    shared = [1, 2]
    value = [Registered(items=shared), shared, Registered(items=shared)]
    assert jelly.jelly(value) == twisted_jelly.jelly(value)


def test_persistent_store_and_load() -> None:
    stored: dict[bytes, Any] = {}

    def store(obj: Any, jellier: Any) -> Any:
        if isinstance(obj, Node):
            key = b"node-%d" % id(obj)
            stored[key] = obj
            return key
        return None

    def load(key: bytes, unjellier: Any) -> Any:
        return stored[key]

    node = Node(x=1)
    sexp = jelly.jelly([node, node, 5], persistentStore=store)
    assert sexp == twisted_jelly.jelly([node, node, 5], persistentStore=store)
    result = jelly.unjelly(sexp, persistentLoad=load)
    assert result[0] is node and result[1] is node
    assert isinstance(jelly.unjelly(sexp), list)  # without a loader: Unpersistable
    assert isinstance(jelly.unjelly(sexp)[0], jelly.Unpersistable)


def test_invoker_reaches_hooks() -> None:
    seen: list[Any] = []

    class Hooked(jelly.Jellyable, jelly.Unjellyable):
        def jellyFor(self, jellier: Any) -> Any:
            seen.append(("jelly", jellier.invoker))
            return super().jellyFor(jellier)

        def unjellyFor(self, unjellier: Any, jellyList: Any) -> Any:
            seen.append(("unjelly", unjellier.invoker))
            return super().unjellyFor(unjellier, jellyList)

    jelly.setUnjellyableForClass(Hooked, Hooked)
    invoker = object()
    jelly.unjelly(jelly.jelly(Hooked(), invoker=invoker), invoker=invoker)
    assert seen == [("jelly", invoker), ("unjelly", invoker)]


# Security ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [Node(x=1), module_function, Node, jelly_objects, Node().__init__],
    ids=["instance", "function", "class", "module", "method"],
)
def test_global_security_refuses_what_is_not_allowed(value: Any) -> None:
    sexp = jelly.jelly(value)
    with pytest.raises(jelly.InsecureJelly):
        twisted_jelly.unjelly(sexp, taster=jelly.globalSecurity)
    with pytest.raises(jelly.InsecureJelly):
        jelly.unjelly(sexp, taster=jelly.globalSecurity)


def test_custom_security_options_allow_what_they_name() -> None:
    taster = jelly.SecurityOptions()
    taster.allowInstancesOf(Node)
    result = jelly.unjelly(jelly.jelly(Node(x=[1])), taster=taster)
    assert isinstance(result, Node) and result.x == [1]
    with pytest.raises(jelly.InsecureJelly):
        jelly.unjelly(jelly.jelly(Slotted(1, 2)), taster=taster)
    taster.allowModules("jelly_objects")
    taster.allowTypes("function")
    assert jelly.unjelly(jelly.jelly(module_function), taster=taster) is module_function


def test_refused_dangerous_names() -> None:
    for sexp in (
        [b"os.system", [b"dictionary"]],
        [b"function", b"os.system"],
        [b"module", b"os"],
        [b"class", b"subprocess.Popen"],
    ):
        with pytest.raises(jelly.InsecureJelly):
            jelly.unjelly(sexp, taster=jelly.globalSecurity)


def test_jelly_taster_marks_insecure_instances_unpersistable() -> None:
    taster = jelly.SecurityOptions()
    taster.allowBasicTypes()
    assert jelly.jelly([Node(x=1)], taster) == twisted_jelly.jelly([Node(x=1)], taster)
    assert jelly.jelly(Node(), taster)[0] == b"unpersistable"


def test_custom_taster_methods_are_asked() -> None:
    asked: list[Any] = []

    class Recording(jelly.SecurityOptions):
        def isTypeAllowed(self, typeName: Any) -> bool:
            asked.append(typeName)
            return typeName != b"builtins.float"

    taster = Recording()
    assert jelly.jelly([1, b"x"], taster) == [b"list", 1, b"x"]
    assert asked == [b"builtins.list", b"builtins.int", b"builtins.bytes"]
    with pytest.raises(jelly.InsecureJelly, match="Type not allowed for object"):
        jelly.jelly([1.5], taster)
    asked.clear()
    taster.allowBasicTypes()
    assert jelly.unjelly([b"list", [b"tuple", 1]], taster) == [(1,)]
    assert asked == [b"list", b"tuple"]


# Malformed input ------------------------------------------------------------

TAGS = [
    b"None", b"unicode", b"boolean", b"list", b"tuple", b"set", b"frozenset", b"dictionary",
    b"reference", b"dereference", b"datetime", b"date", b"time", b"timedelta", b"decimal",
    b"module", b"class", b"function", b"persistent", b"instance", b"unpersistable", b"method",
    b"jelly_objects.Registered", b"jelly_objects.Node", b"os.system", b"", b"\xff",
]  # fmt: skip
leaves = st.one_of(
    st.integers(-3, 3),
    st.floats(),
    st.sampled_from([b"true", b"false", b"1 2 3", b"2020 1 1", b"x", b"", b"\xff", *TAGS]),
)
malformed = st.recursive(
    leaves,
    lambda children: st.builds(
        lambda tag, items: [tag, *items], st.sampled_from(TAGS), st.lists(children, max_size=4)
    ),
    max_leaves=20,
)
# Errors a malformed expression may end in: jelly's own refusal, or the error
# of the value's own constructor (int(), datetime(), Decimal(), str decoding,
# hashing), or a registered hook's complaint about its state.
CLEAR_ERRORS = (jelly.InsecureJelly, ValueError, TypeError, ArithmeticError)


@given(malformed)
@settings(max_examples=500)
@pytest.mark.filterwarnings("ignore:Unjelly support for the instance atom:DeprecationWarning")
def test_malformed_expressions_give_clear_errors(sexp: Any) -> None:
    try:
        jelly.unjelly(sexp, taster=jelly.globalSecurity)
    except CLEAR_ERRORS:
        pass
    try:
        jelly.unjelly(sexp)
    except (*CLEAR_ERRORS, ImportError, AttributeError):
        # Permissive: anything may be named, a module or a function that is
        # not a class included, and Twisted's import and instantiation fail
        # on those as they do.
        pass


@pytest.mark.parametrize(
    ("sexp", "fragment"),
    [
        ([], "needs at least 1"),
        ([b"unicode"], "needs at least 2"),
        ([b"unicode", 5], "must hold bytes"),
        ([b"boolean", b"maybe"], "b'true' or b'false'"),
        ([b"reference", 1], "needs at least 3"),
        ([b"dereference"], "needs at least 2"),
        ([b"reference", [b"list"], 5], "hashable"),
        ([b"list", [b"reference", 1, 5], [b"reference", 1, 6]], "Multiple references"),
        ([b"dictionary", [b"x"]], "pairs"),
        ([b"dictionary", [[b"dereference", 9], 1]], "forward reference"),
        ([b"timedelta", b"1 2"], "3 fields"),
        ([b"jelly_objects.Registered"], "needs at least 2"),
        ([7, 8], "must be bytes"),
        ([b"module"], "needs at least 2"),
        ([b"method", b"x", 1], "needs at least 4"),
    ],
)
def test_malformed_expression_messages(sexp: Any, fragment: str) -> None:
    with pytest.raises(jelly.InsecureJelly, match=fragment.replace("(", r"\(")):
        jelly.unjelly(sexp)


def test_str_tags_are_accepted_as_in_twisted() -> None:
    assert jelly.unjelly(["list", ["unicode", b"x"]]) == ["x"]


# Depth ----------------------------------------------------------------------


def test_depth_limit_both_ways() -> None:
    deep: list[Any] = []
    for _ in range(jelly.MAX_DEPTH + 5):
        deep = [deep]
    with pytest.raises(jelly.InsecureJelly, match="nested deeper than 1000 levels"):
        jelly.jelly(deep)
    sexp: list[Any] = [b"list"]
    for _ in range(jelly.MAX_DEPTH + 5):
        sexp = [b"list", sexp]
    with pytest.raises(jelly.InsecureJelly, match="nested deeper than 1000 levels"):
        jelly.unjelly(sexp)


def test_depth_beyond_twisteds_reach_is_fine() -> None:
    """Deeper than Twisted's recursion can go at Python's default limit."""
    deep: list[Any] = []
    for _ in range(900):
        deep = [deep]
    back = jelly.unjelly(jelly.jelly(deep))
    for _ in range(900):
        back = back[0]
    assert back == []


def test_hooks_may_reenter() -> None:
    """A hook that jellies and unjellies on the same jellier/unjellier."""
    inner = [1, 2]
    value = [Registered(a=inner, b=Registered(c=inner)), inner]
    assert jelly.jelly(value) == twisted_jelly.jelly(value)
    back = jelly.unjelly(jelly.jelly(value))
    assert back[0].a is back[1] and back[0].b.c is back[1]


def test_hooks_that_change_the_registry_take_effect_at_once() -> None:
    """What a hook registers applies to the rest of the same call, as in Twisted."""

    class Changer(jelly.Unjellyable):
        def unjellyFor(self, unjellier: Any, jellyList: Any) -> Any:
            jelly.setUnjellyableFactoryForClass(b"test.later", lambda state: ("made", state))
            twisted_jelly.globalSecurity.allowTypes(b"test.later")
            return self

    jelly.setUnjellyableForClass(b"test.Changer", Changer)
    sexp = [b"list", [b"boolean", b"true"], [b"test.Changer", [b"None"]], [b"test.later", 1]]
    try:
        for unjelly in (jelly.unjelly, twisted_jelly.unjelly):
            jelly.unjellyableFactoryRegistry.pop(b"test.later", None)
            result = unjelly(sexp)
            assert result[0] is True and isinstance(result[1], Changer)
            assert result[2] == ("made", 1)
        jelly.unjellyableFactoryRegistry.pop(b"test.later", None)
        loaded = pbfast.loads(banana.encode(sexp), taster=jelly.DummySecurityOptions())
        assert loaded[2] == ("made", 1)
    finally:
        jelly.unjellyableFactoryRegistry.pop(b"test.later", None)
        jelly.unjellyableRegistry.pop(b"test.Changer", None)


class _KeepsItsJellier(jelly.Jellyable):
    """Keeps the jellier its jellyFor is handed (as a hook's frame in a
    traceback would)."""

    kept: list[Any] = []  # noqa: RUF012

    def jellyFor(self, jellier: Any) -> Any:
        _KeepsItsJellier.kept.append(jellier)
        return jellier.jelly([1, 2])


class _KeepsItsUnjellier(jelly.Unjellyable):
    """Keeps the unjellier its unjellyFor is handed."""

    kept: list[Any] = []  # noqa: RUF012

    def unjellyFor(self, unjellier: Any, jellyList: Any) -> Any:
        _KeepsItsUnjellier.kept.append(unjellier)
        return self


def test_jelliers_and_unjelliers_are_used_and_freed_on_any_thread() -> None:
    """
    A jellier or unjellier a hook kept (or a frame of a hook in a traceback
    kept) may end up with another thread, as Twisted's may: used there, and
    freed there, without a complaint (an object tied to the thread that made
    it would print one, and leak).
    """
    tag = b"test_jelly.KeepsItsUnjellier"
    jelly.setUnjellyableForClass(tag, _KeepsItsUnjellier)
    try:
        pbfast.dumps([_KeepsItsJellier()])
        jelly.unjelly([tag, 1])
        pbfast.loads(banana.encode([tag, 1]), taster=jelly.DummySecurityOptions())
    finally:
        del jelly.unjellyableRegistry[tag]
        jelly.globalSecurity.allowedTypes.pop(tag, None)
    kept = _KeepsItsJellier.kept + _KeepsItsUnjellier.kept
    _KeepsItsJellier.kept.clear()
    _KeepsItsUnjellier.kept.clear()
    assert len(kept) == 3
    used: list[Any] = []
    unraisable: list[Any] = []

    def elsewhere() -> None:
        used.append(kept[0].jelly({"a": [1]}))
        used.append(kept[1].unjelly([b"list", 1, [b"unicode", b"x"]]))
        kept.clear()
        gc.collect()

    hook = sys.unraisablehook
    sys.unraisablehook = unraisable.append
    try:
        thread = threading.Thread(target=elsewhere)
        thread.start()
        thread.join()
    finally:
        sys.unraisablehook = hook
    assert used == [[b"dictionary", [[b"unicode", b"a"], [b"list", 1]]], [1, "x"]]
    assert not kept
    assert unraisable == []
