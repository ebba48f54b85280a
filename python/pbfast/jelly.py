# -*- test-case-name: tests.test_jelly -*-
"""
S-expression-based persistence of Python objects, natively.

A drop-in for L{twisted.spread.jelly}: the same names, the same
s-expressions, the same objects back. The traversal (type dispatch,
containers, shared and cyclic references) is pbfast's native code; the
security policy, the class registry and the exception are Twisted's own
objects, so a class registered through either module unjellies through both,
and C{except InsecureJelly} catches either module's refusals.

Hooks are called as Twisted calls them: C{jellyFor(jellier)} and
C{unjellyFor(unjellier, jellyList)} receive pbfast's jellier and unjellier,
which have the methods and attributes Twisted's have (C{jelly}, C{prepare},
C{preserve}, C{unpersistable}, C{invoker}, C{taster}, C{persistentStore};
C{unjelly}, C{unjellyInto}, C{invoker}, C{taster}, C{persistentLoad},
C{references}, C{postCallbacks}).

Like Twisted's, module-level L{unjelly} is permissive unless given a taster:
its default is a L{DummySecurityOptions}, which allows every class and module.
Pass C{taster=globalSecurity} (or your own L{SecurityOptions}) for untrusted
input. Nesting deeper than L{MAX_DEPTH} levels, either way, raises
L{InsecureJelly} instead of exhausting the stack.
"""

from __future__ import annotations

import warnings
from typing import Any

from twisted.spread.jelly import (
    DictTypes,
    DummySecurityOptions,
    IJellyable,
    InsecureJelly,
    IUnjellyable,
    Jellyable,
    None_atom,
    NotKnown,
    SecurityOptions,
    Unjellyable,
    Unpersistable,
    _Container,
    _createBlank,
    _Dereference,
    _DictKeyAndValue,
    _InstanceMethod,
    _maybeClass,
    _newInstance,
    _Tuple,
    class_atom,
    dereference_atom,
    dictionary_atom,
    frozenset_atom,
    function_atom,
    getInstanceState,
    globalSecurity,
    list_atom,
    module_atom,
    persistent_atom,
    reference_atom,
    set_atom,
    setInstanceState,
    setUnjellyableFactoryForClass,
    setUnjellyableForClass,
    setUnjellyableForClassTree,
    tuple_atom,
    unjellyableFactoryRegistry,
    unjellyableRegistry,
    unpersistable_atom,
)

from pbfast._native import MAX_JELLY_DEPTH as MAX_DEPTH
from pbfast._native import Jellier as _Jellier
from pbfast._native import Unjellier as _Unjellier
from pbfast._native import jelly as _jelly

__all__ = [
    "MAX_DEPTH",
    "DictTypes",
    "DummySecurityOptions",
    "IJellyable",
    "IUnjellyable",
    "InsecureJelly",
    "Jellyable",
    "None_atom",
    "NotKnown",
    "SecurityOptions",
    "Unjellyable",
    "Unpersistable",
    "class_atom",
    "dereference_atom",
    "dictionary_atom",
    "frozenset_atom",
    "function_atom",
    "getInstanceState",
    "globalSecurity",
    "jelly",
    "list_atom",
    "module_atom",
    "persistent_atom",
    "reference_atom",
    "setInstanceState",
    "setUnjellyableFactoryForClass",
    "setUnjellyableForClass",
    "setUnjellyableForClassTree",
    "set_atom",
    "tuple_atom",
    "unjelly",
    "unjellyableFactoryRegistry",
    "unjellyableRegistry",
    "unpersistable_atom",
]

# Twisted's private helpers, re-exported for code that reaches for them
# (and pbfast's jellier, under Twisted's name for its own).
_PRIVATE = (
    _Jellier,
    _Container,
    _Dereference,
    _DictKeyAndValue,
    _InstanceMethod,
    _Tuple,
    _createBlank,
    _maybeClass,
    _newInstance,
)


def __getattr__(name: str) -> Any:
    if name == "instance_atom":
        # Deprecated in Twisted, and said the same way here.
        warnings.warn(
            "twisted.spread.jelly.instance_atom was deprecated in Twisted 15.0.0: "
            "instance_atom is unused within Twisted.",
            DeprecationWarning,
            stacklevel=2,
        )
        return b"instance"
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


_PERMISSIVE = DummySecurityOptions()


def jelly(
    object: Any,
    taster: Any = _PERMISSIVE,
    persistentStore: Any = None,
    invoker: Any = None,
) -> Any:
    """
    Serialize to s-expression.

    Returns a list which is the serialized representation of an object.  An
    optional 'taster' argument takes a SecurityOptions and will mark any
    insecure objects as unpersistable rather than serializing them.
    """
    return _jelly(object, taster, persistentStore, invoker)


def unjelly(
    sexp: Any,
    taster: Any = _PERMISSIVE,
    persistentLoad: Any = None,
    invoker: Any = None,
) -> Any:
    """
    Unserialize from s-expression.

    Takes a list that was the result from a call to jelly() and unserializes
    an arbitrary object from it.  The optional 'taster' argument, an instance
    of SecurityOptions, will cause an InsecureJelly exception to be raised if a
    disallowed type, module, or class attempted to unserialize.
    """
    return _Unjellier(taster, persistentLoad, invoker).unjellyFull(sexp)
