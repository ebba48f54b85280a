"""
Generated families of classes and hooks for the differential jelly tests
(test_jelly_families.py).

A L{Family} is a plain description (what hypothesis draws and prints): the
classes -- their kind, where they are defined, their hooks -- and a payload of
their instances in containers. L{build} turns it into live objects: a
L{World}. Each side of a comparison gets a world of its own, built from the
same description, so that hooks run on fresh objects and their call logs can
be compared; class names, registry tags and instance labels depend only on
the description, so both worlds jelly to the same s-expression.

Classes are placed as Python would place them: at this module's top level
(importable as C{class_families.GenN}), nested one or two deep in another
class, local to a function (C{__qualname__} with C{<locals>}), or with a
C{__module__} of C{"__main__"}. Jelly names a class by C{reflect.qual}, the
module and the C{__name__} (not the C{__qualname__}), as Twisted does.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime
import decimal
import enum
import itertools
import math
import struct
import sys
import types
from typing import Any

from twisted.persisted.crefutil import NotKnown
from twisted.python.reflect import qual
from twisted.spread import flavors
from twisted.spread import jelly as twisted_jelly

MODULE = sys.modules[__name__]


class HookError(Exception):
    """What a hook raises when it is told to raise an exception of its own."""


EXCEPTIONS: dict[str, type[Exception]] = {"ValueError": ValueError, "HookError": HookError}


class Leaf:
    """A class without hooks: the fresh objects a hook's result makes."""

    def __init__(self, value: Any = None) -> None:
        self.value = value


class Parent:
    """Gives L{Child} a method that is not in C{Child.__dict__}."""

    def greet(self) -> None:
        """Twisted unjellies a bound method only if its class defines it."""


class Child(Parent):
    """A bound method of mine (C{greet}) is inherited."""


def top_function() -> None:
    """A function jelly names by its module and qualified name."""


def _make_local() -> Any:
    def local_function() -> None:
        """A function local to another (C{_make_local.<locals>.local_function})."""

    return local_function


FUNCTIONS: dict[str, Any] = {
    "top": top_function,
    "local": _make_local(),
    "lambda": lambda: None,
    "builtin": len,
}


class Invoker:
    """What a Copyable's hooks see of the broker: a perspective, nothing else."""

    serializingPerspective = "perspective"


# --------------------------------------------------------------------------
# Descriptions.

# Kinds of generated class, and what each one can carry.
KINDS = (
    "plain",
    "slots",
    "dataclass",
    "frozen_dataclass",
    "slots_dataclass",
    "enum",
    "namedtuple",
    "list",
    "dict",
    "int",
    "str",
    "tuple",
    "set",
    "frozenset",
    "bytes",
    "float",
    "jellyable",
    "copyable",
)
PLACEMENTS = ("top", "nested", "nested2", "local", "main")
BUILTIN_BASES: dict[str, type] = {
    "list": list,
    "dict": dict,
    "int": int,
    "str": str,
    "tuple": tuple,
    "set": set,
    "frozenset": frozenset,
    "bytes": bytes,
    "float": float,
}
# Classes whose instances hash by identity get a hash that does not (their
# class's index), so that a set of them iterates in the same order in two
# worlds and both sides jelly it the same way.
IDENTITY_HASHED = ("plain", "slots", "dataclass", "slots_dataclass", "jellyable", "copyable")
# Builtins whose __new__ needs the value.
VALUE_BASES = ("int", "str", "tuple", "frozenset", "bytes", "float", "namedtuple")


def has_dict(kind: str) -> bool:
    """Whether instances of C{kind} have a C{__dict__} (can carry instance hooks)."""
    return kind not in ("slots", "slots_dataclass")


def jelly_hook_names(kind: str) -> tuple[str, ...]:
    """The jelly-side hooks Twisted calls on an instance of C{kind}."""
    if kind == "jellyable":
        return ("__getstate__", "getStateFor", "jellyFor")
    if kind == "copyable":
        return (
            "__getstate__",
            "getStateToCopy",
            "getStateToCopyFor",
            "getTypeToCopy",
            "getTypeToCopyFor",
            "jellyFor",
        )
    return ("__getstate__",)


def unjelly_hook_names(kind: str, receiver: bool) -> tuple[str, ...]:
    """The unjelly-side hooks (class-level only: unjelly makes blank instances),
    and two Twisted never calls (C{__reduce_ex__}, C{__init__} is not one)."""
    names = ["__setstate__", "postUnjelly", "__reduce_ex__"]
    if kind not in ("enum",):
        names.append("__new__")
    if kind not in ("enum", "frozen_dataclass"):
        names.append("__setattr__")
    if receiver and kind == "jellyable":
        names += ["setStateFor", "unjellyFor"]
    if receiver and kind == "copyable":
        names += ["setCopyableState", "unjellyFor"]
    return tuple(names)


@dataclasses.dataclass(frozen=True)
class Hook:
    """
    One hook: its name, whether it is set on the class or on the instance,
    what it returns (a node, evaluated afresh at each call, with C{("self",)}
    the object the hook is called on) or C{("raise", exception name)}, and a
    variant where the hook has more than one shape (C{jellyFor}: how it builds
    its s-expression; C{getTypeToCopy}: which tag; C{unjellyFor}: what it
    gives back).
    """

    name: str
    where: str
    result: Any
    variant: str = ""


@dataclasses.dataclass(frozen=True)
class ClassSpec:
    """
    A generated class: its kind, where it is defined, whose name it takes
    (C{shadows}: another class's index, so that two classes share a
    C{reflect.qual}), whether it is also a receiver (Unjellyable for a
    Jellyable, RemoteCopy for a Copyable), how it is registered for unjelly
    (C{"qual"}: under its own name; C{"tag"}: under its C{TAG}; or a factory,
    C{"factory_qual"}, C{"factory_tag"}), whether its
    C{TAG} has a dot (which makes any taster allow it as a type), its
    class-level hooks, a C{__getattr__} (C{"log"}: records each lookup and
    fails; C{"provide"}: also provides C{__setstate__}, C{postUnjelly} and
    C{unjellyFor}), and whether C{__class__} claims another class.
    """

    kind: str
    placement: str
    shadows: int | None = None
    receiver: bool = False
    registration: str | None = None
    dotted_tag: bool = True
    hooks: tuple[Hook, ...] = ()
    getattr_hook: str | None = None
    spoof_class: bool = False


@dataclasses.dataclass(frozen=True)
class Family:
    """
    Classes, a pool of objects (each may point at earlier ones; C{links} then
    add cycles: pool index of a holder, pool index of its target), the
    payload (C{root}), and the options of the jelly call: a taster (C{None};
    C{("secure", class indices)}: a SecurityOptions allowing instances of
    those; C{("logging", refused)}: a taster recording each question, refusing
    one type), whether an invoker is given (which switches Copyable to its
    C{*ToCopyFor} hooks), and a persistent store (C{"none"}, C{"some"}: a
    persistent id for instances of even-indexed classes, C{"raise"}).

    Nodes (tuples): C{("lit", value)}, C{("list"|"tuple"|"set"|"frozenset",
    children)}, C{("dict", ((key, value), ...))}, C{("new", class index,
    values, instance hooks)}, C{("pool", index)}, C{("method", target)} (the
    target's C{method}, bound), C{("leaf", child)}, C{("class", index, which)},
    C{("function", name)}, C{("class_function", index, name)}, C{("module",)},
    C{("childmethod",)}, C{("inside", pool index, position)} (what a pool
    object holds, see L{_inside}); in a hook's result also C{("self",)}, C{("attrs",)}
    (a dict of the object's fields) and C{("vars",)} (its C{__dict__} itself).
    """

    classes: tuple[ClassSpec, ...]
    pool: tuple[Any, ...] = ()
    links: tuple[tuple[int, int], ...] = ()
    root: Any = ("lit", None)
    taster: Any = None
    invoker: bool = False
    store: str | None = None


# --------------------------------------------------------------------------
# Worlds.


class LoggingTaster(twisted_jelly.SecurityOptions):
    """A taster (a SecurityOptions subclass overriding its questions) that
    records every question and allows everything but one type name."""

    def __init__(self, log: list[Any], refused: bytes | None) -> None:
        super().__init__()
        self.log = log
        self.refused = refused

    def isTypeAllowed(self, typeName: Any) -> bool:
        self.log.append(("isTypeAllowed", typeName))
        return typeName != self.refused

    def isModuleAllowed(self, moduleName: Any) -> bool:
        self.log.append(("isModuleAllowed", moduleName))
        return True

    def isClassAllowed(self, klass: Any) -> bool:
        self.log.append(("isClassAllowed", qual(klass)))
        return True


def _field_names(obj: Any) -> tuple[str, ...]:
    if isinstance(obj, tuple) and hasattr(type(obj), "_fields"):
        return tuple(type(obj)._fields)
    names: list[str] = []
    for klass in type(obj).__mro__:
        for name in klass.__dict__.get("__slots__", ()):
            if name not in ("__dict__", "__weakref__") and name not in names:
                names.append(name)
    return tuple(names)


def _restore(obj: Any, state: Any) -> None:
    """What the generated C{__setstate__} does: set what it can."""
    if isinstance(state, dict):
        for key, value in state.items():
            if isinstance(key, str):
                try:
                    object.__setattr__(obj, key, value)
                except (AttributeError, TypeError):
                    pass


class World:
    """The live objects of one L{Family}: classes installed where their
    placement puts them (and registered), the pool, the payload, and the log
    every hook writes to."""

    def __init__(self, family: Family) -> None:
        self.family = family
        self.log: list[Any] = []
        self.labels: dict[int, str] = {}
        self.classes: list[Any] = []
        self.holders: list[Any] = []  # the class each one's name is looked up in
        self.pool: list[Any] = []
        self.root: Any = None
        self._installed: list[tuple[Any, str, Any]] = []
        self._registered: list[tuple[bytes, Any]] = []
        self._counter = 0
        # While the world is being built its hooks are inert: building calls
        # __new__ and __setattr__ (and may look attributes up).
        self.building = True

    # ---- options of the calls

    def jelly_options(self) -> dict[str, Any]:
        """The keyword arguments for C{jelly} and C{dumps} (taster, store, invoker)."""
        options: dict[str, Any] = {}
        taster = self.family.taster
        if taster is not None and taster[0] == "secure":
            secure = twisted_jelly.SecurityOptions()
            secure.allowBasicTypes()
            secure.allowInstancesOf(*[self.classes[i % len(self.classes)] for i in taster[1]])
            options["taster"] = secure
        elif taster is not None:
            options["taster"] = LoggingTaster(self.log, taster[1])
        if self.family.store is not None:
            options["persistentStore"] = self._store
        if self.family.invoker:
            options["invoker"] = Invoker()
        return options

    def unjelly_options(self, secure: bool = False) -> dict[str, Any]:
        """The keyword arguments for C{unjelly} and C{loads}: the logging
        taster (unless C{secure}, where the taster is globalSecurity), a
        persistent load if the family has a store, the invoker."""
        options: dict[str, Any] = {}
        if secure:
            options["taster"] = twisted_jelly.globalSecurity
        elif self.family.taster is not None and self.family.taster[0] == "logging":
            options["taster"] = LoggingTaster(self.log, None)
        if self.family.store is not None:
            options["persistentLoad"] = self._load
        if self.family.invoker:
            options["invoker"] = Invoker()
        return options

    def _store(self, obj: Any, jellier: Any) -> Any:
        self.log.append(("persistentStore", self.label(obj)))
        if self.family.store == "raise":
            raise HookError("persistentStore")
        if self.family.store == "some":
            index = getattr(type(obj), "INDEX", None)
            if isinstance(index, int) and index % 2 == 0:
                return b"pid-" + self.label(obj).encode()
        return None

    def _load(self, pid: Any, unjellier: Any) -> Any:
        self.log.append(("persistentLoad", pid))
        return Leaf(pid)

    # ---- labels and logs

    def label(self, obj: Any) -> str:
        """The build-order label of an object of the payload ("?" for others)."""
        return self.labels.get(id(obj), "?")

    def _labelled(self, obj: Any) -> Any:
        self._counter += 1
        self.labels[id(obj)] = f"o{self._counter}"
        return obj

    def _note(self, hook: str, index: int, obj: Any) -> None:
        self.log.append((hook, index, self.label(obj)))

    # ---- classes

    def _tag(self, index: int, spec: ClassSpec) -> bytes:
        return (b"families.Tag%d" if spec.dotted_tag else b"families_tag%d") % index

    def add_class(self, index: int, spec: ClassSpec) -> None:
        name = f"Gen{index if spec.shadows is None else spec.shadows}"
        module = "__main__" if spec.placement == "main" else MODULE.__name__
        holder: Any = MODULE if spec.placement in ("top", "nested", "nested2") else None
        prefix = ""
        if spec.placement in ("nested", "nested2"):
            outer = self._plain_class(f"Outer{index}", module, f"Outer{index}")
            self._install(MODULE, outer.__name__, outer)
            holder, prefix = outer, f"Outer{index}."
            if spec.placement == "nested2":
                middle = self._plain_class(f"Mid{index}", module, f"Outer{index}.Mid{index}")
                self._install(outer, middle.__name__, middle)
                holder, prefix = middle, f"Outer{index}.Mid{index}."
        elif spec.placement == "local":
            prefix = "make_local_class.<locals>."
        qualname = prefix + name
        cls = self._make_class(index, spec, name, module, qualname)
        cls.TAG = self._tag(index, spec)
        cls.INDEX = index
        if holder is not None:
            self._install(holder, name, cls)
        self.classes.append(cls)
        self.holders.append(holder)
        if spec.registration is not None:
            key = qual(cls).encode() if spec.registration.endswith("qual") else cls.TAG
            if spec.registration.startswith("factory"):
                factory = self._factory(index)
                twisted_jelly.setUnjellyableFactoryForClass(key, factory)
                self._registered.append((key, factory))
            else:
                twisted_jelly.setUnjellyableForClass(key, cls)
                self._registered.append((key, cls))

    def _factory(self, index: int) -> Any:
        """A factory registered for a class: records its call, and makes a
        Leaf of the state."""
        world = self

        def factory(state: Any) -> Any:
            world.log.append(("factory", index))
            return Leaf(state)

        return factory

    def _plain_class(self, name: str, module: str, qualname: str) -> Any:
        return type(name, (), {"__module__": module, "__qualname__": qualname})

    def _install(self, holder: Any, name: str, value: Any) -> None:
        setattr(holder, name, value)
        self._installed.append((holder, name, value))

    def cleanup(self) -> None:
        """Take the classes out of the module and the registry (those still
        there: a later world of the same family may have replaced them)."""
        for holder, name, value in reversed(self._installed):
            if holder is MODULE and MODULE.__dict__.get(name) is value:
                del MODULE.__dict__[name]
        for key, registered in self._registered:
            for registry in (
                twisted_jelly.unjellyableRegistry,
                twisted_jelly.unjellyableFactoryRegistry,
            ):
                if registry.get(key) is registered:
                    del registry[key]
                    twisted_jelly.globalSecurity.allowedTypes.pop(key, None)
        self._installed.clear()
        self._registered.clear()

    def _make_class(
        self, index: int, spec: ClassSpec, name: str, module: str, qualname: str
    ) -> Any:
        kind = spec.kind
        namespace: dict[str, Any] = {}

        def method(self: Any) -> None:
            """Bound, jellied as a method; defined in the class's own dict."""

        def classmethod_function(cls: Any) -> None:
            """Bound to the class."""

        def static_function() -> None:
            """A plain function, reached through the class."""

        namespace["method"] = method
        namespace["cm"] = classmethod(classmethod_function)
        namespace["sm"] = staticmethod(static_function)
        for hook in spec.hooks:
            namespace[hook.name] = self._class_hook(index, spec, hook)
        if kind in IDENTITY_HASHED:
            namespace["__hash__"] = _index_hash(index)
        if spec.getattr_hook is not None:
            namespace["__getattr__"] = self._getattr_hook(index, spec)
        if spec.spoof_class:
            namespace["__class__"] = property(lambda self: Leaf)
        functions = [
            (attribute, getattr(value, "__func__", value))
            for attribute, value in namespace.items()
            if isinstance(getattr(value, "__func__", value), types.FunctionType)
        ]
        for attribute, function in functions:
            # As a class statement would name them.
            function.__qualname__ = f"{qualname}.{attribute}"
            function.__module__ = module
        namespace["__module__"] = module
        namespace["__qualname__"] = qualname

        if kind == "enum":
            enum_namespace = enum.EnumType.__prepare__(name, (enum.Enum,))
            enum_namespace["__module__"] = module
            enum_namespace["__qualname__"] = qualname
            enum_namespace["A"] = 1
            enum_namespace["B"] = 2
            for key, value in namespace.items():
                if key not in ("__module__", "__qualname__"):
                    enum_namespace[key] = value
            return enum.EnumType(name, (enum.Enum,), enum_namespace)
        if kind in ("dataclass", "frozen_dataclass", "slots_dataclass"):
            namespace["__annotations__"] = {"a": "Any", "b": "Any"}
            namespace["a"] = None
            namespace["b"] = None
            made = type(name, (), namespace)
            return dataclasses.dataclass(
                eq=False, frozen=kind == "frozen_dataclass", slots=kind == "slots_dataclass"
            )(made)
        bases: tuple[type, ...] = ()
        if kind == "slots":
            namespace["__slots__"] = ("a", "b")
        elif kind == "namedtuple":
            bases = (collections.namedtuple(f"{name}Base", "a b", defaults=(None, None)),)
        elif kind in BUILTIN_BASES:
            bases = (BUILTIN_BASES[kind],)
        elif kind == "jellyable":
            bases = (twisted_jelly.Jellyable,)
            if spec.receiver:
                bases += (twisted_jelly.Unjellyable,)
        elif kind == "copyable":
            bases = (flavors.Copyable,)
            if spec.receiver:
                bases += (flavors.RemoteCopy,)
        return type(name, bases, namespace)

    # ---- hooks

    def _class_hook(self, index: int, spec: ClassSpec, hook: Hook) -> Any:
        world = self
        name = hook.name
        if name in jelly_hook_names(spec.kind):
            impl = self._jelly_hook(index, hook)

            def jelly_side(self: Any, *args: Any) -> Any:
                return impl(self, *args)

            return jelly_side
        failing = hook.result[0] == "raise"

        def note(obj: Any) -> None:
            world._note(name, index, obj)
            if failing:
                raise EXCEPTIONS[hook.result[1]](name)

        if name == "__setstate__":

            def __setstate__(self: Any, state: Any) -> None:
                note(self)
                _restore(self, state)

            return __setstate__
        if name in ("setStateFor", "setCopyableState"):

            def set_state(self: Any, *args: Any) -> None:
                note(self)
                self.__dict__ = args[-1]

            return set_state
        if name == "unjellyFor":
            base = twisted_jelly.Unjellyable if spec.kind == "jellyable" else flavors.RemoteCopy

            def unjellyFor(self: Any, unjellier: Any, jellyList: Any) -> Any:
                note(self)
                if hook.variant == "replace":
                    return ("replaced", unjellier.unjelly(jellyList[1]))
                if hook.variant == "into":
                    held = [None]
                    unjellier.unjellyInto(held, 0, jellyList[1])
                    self.__dict__["held"] = held
                    return self
                return base.unjellyFor(self, unjellier, jellyList)

            return unjellyFor
        if name == "postUnjelly":

            def postUnjelly(self: Any) -> None:
                note(self)

            return postUnjelly
        if name == "__reduce_ex__":

            def __reduce_ex__(self: Any, protocol: Any) -> Any:
                note(self)
                return object.__reduce_ex__(self, protocol)

            return __reduce_ex__
        if name == "__new__":
            base_new = BUILTIN_BASES.get(spec.kind, object).__new__
            with_value = spec.kind in VALUE_BASES

            def __new__(cls: Any, *args: Any, **kwargs: Any) -> Any:
                world.log.append((name, index, cls.__name__))
                if failing and not world.building:
                    raise EXCEPTIONS[hook.result[1]](name)
                if spec.kind == "namedtuple":
                    return cls.__mro__[1].__new__(cls, *args, **kwargs)
                if with_value:
                    return base_new(cls, *args, **kwargs)
                return base_new(cls)

            return __new__
        if name == "__setattr__":

            def __setattr__(self: Any, attribute: str, value: Any) -> None:
                world.log.append((name, index, attribute))
                if failing and not world.building:
                    raise EXCEPTIONS[hook.result[1]](name)
                object.__setattr__(self, attribute, value)

            return __setattr__
        raise AssertionError(name)

    def _getattr_hook(self, index: int, spec: ClassSpec) -> Any:
        world = self
        provide = spec.getattr_hook == "provide"

        def __getattr__(self: Any, attribute: str) -> Any:
            world.log.append(("__getattr__", index, attribute))
            if provide and attribute == "__setstate__":

                def provided_setstate(state: Any) -> None:
                    world._note("provided __setstate__", index, self)
                    _restore(self, state)

                return provided_setstate
            if provide and attribute == "postUnjelly":
                return lambda: world._note("provided postUnjelly", index, self)
            if provide and attribute == "unjellyFor":

                def provided_unjellyFor(unjellier: Any, jellyList: Any) -> Any:
                    world._note("provided unjellyFor", index, self)
                    _restore(self, unjellier.unjelly(jellyList[1]))
                    return self

                return provided_unjellyFor
            raise AttributeError(attribute)

        return __getattr__

    def _jelly_hook(self, index: int, hook: Hook) -> Any:
        """The body of a jelly-side hook, as C{impl(obj, *args)}."""
        world = self
        name = hook.name

        def impl(obj: Any, *args: Any) -> Any:
            world._note(name, index, obj)
            if hook.result[0] == "raise":
                raise EXCEPTIONS[hook.result[1]](name)
            if name in ("getTypeToCopy", "getTypeToCopyFor"):
                return world._written_tag(obj, hook.variant)
            if name != "jellyFor":
                return world.evaluate(hook.result, obj)
            jellier = args[0]
            tag = world._written_tag(obj, hook.variant.split("/")[-1])
            shape = hook.variant.split("/")[0]
            if shape == "instance_state":
                return twisted_jelly.getInstanceState(obj, jellier)
            if shape == "unpersistable":
                return jellier.unpersistable("refused by its jellyFor")
            if shape == "bare":
                return [tag, jellier.jelly(world.evaluate(hook.result, obj))]
            if shape == "shared_first":
                first = jellier.jelly(world.evaluate(hook.result, obj))
                sxp = jellier.prepare(obj)
                sxp.extend([tag, first])
                return jellier.preserve(obj, sxp)
            sxp = jellier.prepare(obj)
            sxp.extend([tag, jellier.jelly(world.evaluate(hook.result, obj))])
            return jellier.preserve(obj, sxp)

        return impl

    def _written_tag(self, obj: Any, variant: str) -> Any:
        if variant == "tag":
            return type(obj).TAG
        if variant == "tagstr":
            return type(obj).TAG.decode()
        return qual(obj.__class__).encode("utf-8")

    # ---- objects

    def evaluate(self, node: Any, obj: Any) -> Any:
        """A hook's result: C{node} made afresh, with C{obj} as C{("self",)}."""
        return self._make(node, obj, labelled=False)

    def make(self, node: Any) -> Any:
        """The object a payload node describes."""
        return self._make(node, None, labelled=True)

    def _pooled(self, index: int) -> Any:
        if not self.pool:
            return None
        return self.pool[index % len(self.pool)]

    def _hashable(self, node: Any, obj: Any, labelled: bool, stable: bool) -> Any:
        """A dict key (C{stable} false) or set member (C{stable} true: its hash
        must not depend on an address, so that a set iterates in the same
        order in every world of the family). Something else is replaced by a
        string, the same in every world: the kind decides, not the object."""
        made = self._make(node, obj, labelled)
        try:
            hash(made)
        except TypeError:
            usable = False
        else:
            usable = not stable or _stable_hash(made)
        if not usable:
            if node[0] == "new":
                # Forget its label: it dies, and its address may be reused.
                self.labels.pop(id(made), None)
            self._counter += 1
            return f"unhashable{self._counter}"
        return made

    def _make(self, node: Any, obj: Any, labelled: bool) -> Any:
        tag = node[0]
        if tag == "lit":
            return node[1]
        if tag == "list":
            return self._container([self._make(n, obj, labelled) for n in node[1]], labelled)
        if tag == "tuple":
            return self._container(tuple(self._make(n, obj, labelled) for n in node[1]), labelled)
        if tag in ("set", "frozenset"):
            items = [self._hashable(n, obj, labelled, stable=True) for n in node[1]]
            return self._container((set if tag == "set" else frozenset)(items), labelled)
        if tag == "dict":
            made: dict[Any, Any] = {}
            for key, value in node[1]:
                made[self._hashable(key, obj, labelled, stable=False)] = self._make(
                    value, obj, labelled
                )
            return self._container(made, labelled)
        if tag == "pool":
            return self._pooled(node[1])
        if tag == "inside":
            return _inside(self._pooled(node[1]), node[2])
        if tag == "self":
            return obj
        if tag == "attrs":
            if hasattr(type(obj), "__dataclass_fields__") or not hasattr(obj, "__dict__"):
                names = _field_names(obj) or ("a", "b")
                return {n: object.__getattribute__(obj, n) for n in names if _has(obj, n)}
            return dict(object.__getattribute__(obj, "__dict__"))
        if tag == "vars":
            try:
                return object.__getattribute__(obj, "__dict__")
            except AttributeError:
                return None
        if tag == "leaf":
            return Leaf(self._make(node[1], obj, labelled))
        if tag == "method":
            target = self._make(node[1], obj, labelled)
            function = _class_attribute(type(target), "method")
            if not isinstance(function, types.FunctionType):
                return None
            return types.MethodType(function, target)
        if tag == "childmethod":
            return Child().greet
        if tag == "class":
            index = node[1] % len(self.classes)
            cls = self.classes[index]
            if node[2] == "holder" and isinstance(self.holders[index], type):
                return self.holders[index]
            return cls
        if tag == "function":
            return FUNCTIONS[node[1]]
        if tag == "class_function":
            cls = self.classes[node[1] % len(self.classes)]
            return getattr(cls, node[2])
        if tag == "module":
            return MODULE
        if tag == "new":
            return self._new(node, labelled)
        raise AssertionError(node)

    def _container(self, made: Any, labelled: bool) -> Any:
        return self._labelled(made) if labelled else made

    def _new(self, node: Any, labelled: bool) -> Any:
        _, index, value_nodes, instance_hooks = node
        index %= len(self.classes)
        cls = self.classes[index]
        spec = self.family.classes[index]
        kind = spec.kind
        count = len(value_nodes)
        # Only the values an instance keeps are made: one made and dropped
        # would free an address a later object (labelled or not) could take.
        if kind in ("list", "dict", "tuple"):
            kept = count
        elif kind in ("dataclass", "frozen_dataclass", "slots_dataclass", "namedtuple"):
            kept = min(count, 2)
        elif kind in ("plain", "jellyable", "copyable"):
            kept = min(count, 4)
        elif kind == "slots":
            kept = min(count, 2)
        else:
            kept = 0
        values = [self._make(n, None, labelled) for n in value_nodes[:kept]]
        if kind == "enum":
            made = list(cls)[count % 2]
        elif kind in ("dataclass", "frozen_dataclass", "slots_dataclass", "namedtuple"):
            made = cls(*values)
        elif kind in ("list", "tuple"):
            made = cls(values)
        elif kind == "dict":
            made = cls({f"k{i}": value for i, value in enumerate(values)})
        elif kind in ("set", "frozenset"):
            made = cls(f"m{i}" for i in range(count))
        elif kind == "int":
            made = cls(7 * count - 3)
        elif kind == "float":
            made = cls(count + 0.5)
        elif kind == "str":
            made = cls("s" * count)
        elif kind == "bytes":
            made = cls(b"b" * count)
        else:
            made = cls.__new__(cls)
            for attribute, value in zip("abcd", values, strict=False):
                object.__setattr__(made, attribute, value)
        if kind in BUILTIN_BASES and count > 2:
            # A builtin subclass's instance also has a __dict__: an attribute
            # (for list, dict and tuple, one of its items as well).
            extra = values[2] if kept > 2 else self._make(value_nodes[2], None, labelled)
            vars(made)["extra"] = extra
        if has_dict(kind) and kind != "enum":
            for hook in instance_hooks:
                vars(made)[hook.name] = self._instance_hook(index, made, hook)
        if kind == "enum":
            # A member is a singleton: labelled by name, not by build order.
            self.labels[id(made)] = f"{type(made).__name__}.{made.name}"
            return made
        return self._labelled(made)

    def _instance_hook(self, index: int, obj: Any, hook: Hook) -> Any:
        impl = self._jelly_hook(index, hook)
        return lambda *args: impl(obj, *args)


def _index_hash(index: int) -> Any:
    def __hash__(self: Any) -> int:
        return index

    __hash__.stable = True  # type: ignore[attr-defined]
    return __hash__


def _stable_hash(value: Any) -> bool:
    """Whether C{value}'s hash is the same in every world of a family: not
    an address (a class, a function or method of a world, a Leaf)."""
    kind = type(value)
    if value is MODULE or any(value is function for function in FUNCTIONS.values()):
        return True
    if issubclass(kind, enum.Enum):
        return True
    if issubclass(kind, (tuple, frozenset)):
        return all(_stable_hash(item) for item in value)
    if issubclass(kind, (int, float, str, bytes)) or value is None:
        return True
    return getattr(_class_attribute(kind, "__hash__"), "stable", False)


def _inside(holder: Any, position: int) -> Any:
    """Something C{holder} holds (often its only holder): an item, a value,
    an attribute's value, or for C{position} -1 its C{__dict__} itself."""
    if type(holder) in (list, tuple):
        return holder[position % len(holder)] if holder and position >= 0 else None
    if type(holder) is dict:
        values = list(holder.values())
        return values[position % len(values)] if values and position >= 0 else None
    try:
        attributes = object.__getattribute__(holder, "__dict__")
    except AttributeError:
        return None
    if position < 0:
        return attributes
    values = [v for k, v in attributes.items() if not callable(v) or isinstance(v, type)]
    return values[position % len(values)] if values else None


def _has(obj: Any, name: str) -> bool:
    try:
        object.__getattribute__(obj, name)
    except AttributeError:
        return False
    return True


def _class_attribute(cls: type, name: str) -> Any:
    for klass in cls.__mro__:
        if name in klass.__dict__:
            return klass.__dict__[name]
    return None


def build(family: Family) -> World:
    """
    A world for C{family}: its classes made and installed, then the pool,
    the cycles, the payload. An object the payload makes inline is held by
    its container only (no variable, no list of everything made keeps it),
    as in C{[T()]}. The log starts empty.
    """
    world = World(family)
    try:
        for index, spec in enumerate(family.classes):
            world.add_class(index, spec)
        for node in family.pool:
            world.pool.append(world.make(node))
        for count, (holder_index, target_index) in enumerate(family.links):
            if not world.pool:
                break
            holder = world.pool[holder_index % len(world.pool)]
            target = world.pool[target_index % len(world.pool)]
            if type(holder) is list:
                holder.append(target)
            elif type(holder) is dict:
                holder[f"link{count}"] = target
            elif type(holder) in world.classes and family.classes[
                world.classes.index(type(holder))
            ].kind in ("plain", "jellyable", "copyable"):
                vars(holder)["link"] = target
        world.root = world.make(family.root)
    except BaseException:
        world.cleanup()
        raise
    world.log.clear()
    world.building = False
    return world


# --------------------------------------------------------------------------
# Comparing what two unjellies give back.

_MISSING = object()


def same_structure(a: Any, b: Any, pairs: dict[int, Any] | None = None) -> bool:
    """
    True if C{a} and C{b} are the same structure: the same classes (the very
    class objects: both sides resolve names in the same world), the same
    state (a C{__dict__}, slots, a builtin base's value, items), and sharing
    and cycles in the same places (C{a}'s object met twice is C{b}'s same
    object met twice). Classes, functions and modules compare by identity,
    bound methods by function and (structurally) C{__self__}, Twisted's
    placeholders by their type and fields.
    """
    pairs = {} if pairs is None else pairs
    if _machinery(a) and _machinery(b):
        # Each side's own unjellier (or jellier), handed to a hook that kept
        # it (a registered class that is not Unjellyable is called with it).
        return _machinery(a) == _machinery(b)
    if type(a) is not type(b):
        return False
    if type(a) is float:
        return struct.pack("!d", a) == struct.pack("!d", b) or (math.isnan(a) and math.isnan(b))
    if type(a) in (int, bool, bytes, str, type(None), decimal.Decimal) or isinstance(
        a, (datetime.date, datetime.time, datetime.timedelta)
    ):
        return bool(a == b)
    if isinstance(a, (type, types.FunctionType, types.ModuleType, types.BuiltinFunctionType)):
        return a is b
    if id(a) in pairs:
        return pairs[id(a)] is b
    pairs[id(a)] = b
    if isinstance(a, types.MethodType):
        return a.__func__ is b.__func__ and same_structure(a.__self__, b.__self__, pairs)
    if isinstance(a, twisted_jelly.Unpersistable):
        return bool(a.reason == b.reason)
    if isinstance(a, NotKnown):
        fields_a = {k: v for k, v in vars(a).items() if k != "dependants"}
        fields_b = {k: v for k, v in vars(b).items() if k != "dependants"}
        return (
            len(getattr(a, "dependants", ())) == len(getattr(b, "dependants", ()))
            and list(fields_a) == list(fields_b)
            and all(same_structure(fields_a[k], fields_b[k], pairs) for k in fields_a)
        )
    if isinstance(a, enum.Enum):
        return a is b
    if isinstance(a, (set, frozenset)):
        if not _same_members(a, b, pairs):
            return False
    elif isinstance(a, (list, tuple)):
        if len(a) != len(b) or not all(
            same_structure(x, y, pairs) for x, y in zip(a, b, strict=True)
        ):
            return False
    elif isinstance(a, dict):
        if len(a) != len(b) or not all(
            same_structure(ka, kb, pairs) and same_structure(a[ka], b[kb], pairs)
            for ka, kb in zip(a, b, strict=True)
        ):
            return False
    elif isinstance(a, (int, float, str, bytes)):
        if not same_structure(
            _builtin_value(a), _builtin_value(b), pairs
        ):  # a subclass of a builtin
            return False
    try:
        dict_a = object.__getattribute__(a, "__dict__")
    except AttributeError:
        dict_a = _MISSING
    try:
        dict_b = object.__getattribute__(b, "__dict__")
    except AttributeError:
        dict_b = _MISSING
    if (dict_a is _MISSING) != (dict_b is _MISSING):
        return False
    if dict_a is not _MISSING and not same_structure(dict_a, dict_b, pairs):
        return False
    for name in _field_names(a):
        if isinstance(a, tuple):
            continue
        value_a = _slot(a, name)
        value_b = _slot(b, name)
        if (value_a is _MISSING) != (value_b is _MISSING):
            return False
        if value_a is not _MISSING and not same_structure(value_a, value_b, pairs):
            return False
    return True


def _same_members(a: Any, b: Any, pairs: dict[int, Any]) -> bool:
    """Two sets the same, whatever their order (an unjellied set may hold
    objects hashed by address): some pairing of their members is the same
    structure."""
    if len(a) != len(b):
        return False
    members_a = list(a)
    for ordering in itertools.permutations(list(b)):
        trial = dict(pairs)
        if all(same_structure(x, y, trial) for x, y in zip(members_a, ordering, strict=True)):
            pairs.update(trial)
            return True
    return False


def _machinery(value: Any) -> str | None:
    """ "unjellier" or "jellier" for Twisted's or pbfast's, else None."""
    kind = type(value)
    if kind is twisted_jelly._Unjellier or (
        kind.__module__.startswith("pbfast") and kind.__name__ == "Unjellier"
    ):
        return "unjellier"
    if kind is twisted_jelly._Jellier or (
        kind.__module__.startswith("pbfast") and kind.__name__ == "Jellier"
    ):
        return "jellier"
    return None


def _builtin_value(value: Any) -> Any:
    for base in (bool, int, float, str, bytes):
        if isinstance(value, base):
            return base(value)
    raise AssertionError(value)


def _slot(obj: Any, name: str) -> Any:
    try:
        return object.__getattribute__(obj, name)
    except AttributeError:
        return _MISSING
