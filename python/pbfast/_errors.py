"""
The exceptions the native codec raises.

C{BananaError} and C{InsecureJelly} are Twisted's own class objects, so
C{except BananaError} works the same whichever module the name was imported
from. Where Twisted raises something else for bad input -- its decoder a
C{KeyError} for an unknown vocabulary id, a C{NotImplementedError} for a bad
type byte or a symbol the dialect does not have; its unjelly whatever a
value's constructor or a hook raises (a C{TypeError} for an unhashable key, a
C{UnicodeDecodeError}, a C{ValueError} for a date out of range) -- pbfast
raises a subclass of both: code written against either behaviour keeps
working.
"""

from __future__ import annotations

import functools
import importlib
import os
import sysconfig
from types import TracebackType
from typing import Any

import twisted
import twisted.persisted.crefutil
import twisted.python.reflect

from pbfast import _twisted
from pbfast._twisted import InsecureJelly
from pbfast._twisted import banana as _banana

BananaError = _banana.BananaError

__all__ = [
    "BananaError",
    "InvalidTypeByte",
    "MalformedJelly",
    "UnknownVocabularySymbol",
    "VocabularyNotInDialect",
    "malformed",
    "raisedByApplication",
]


class UnknownVocabularySymbol(BananaError, KeyError):
    """A VOCAB token named a symbol id the vocabulary does not have."""

    # KeyError would quote the message.
    __str__ = BaseException.__str__


class VocabularyNotInDialect(BananaError, NotImplementedError):
    """A VOCAB token arrived on a connection whose dialect has no vocabulary."""


class InvalidTypeByte(BananaError, NotImplementedError):
    """A token ended in a byte that is not one of Banana's eight type bytes."""


class MalformedJelly(InsecureJelly):
    """
    A jelly expression that does not make a valid object: what the value's
    constructor or a hook raised is the C{__cause__}. Raised as a class that
    is also the class of that error (C{MalformedTypeError} is a
    C{MalformedJelly} and a C{TypeError}), so that code catching either
    catches it.
    """

    def __str__(self) -> str:
        message: str = getattr(self, "_message", None) or super().__str__()
        return message


_MALFORMED: dict[type, type] = {}


def _malformedClass(cls: type) -> type:
    """C{MalformedJelly} and C{cls} in one class, made once per class."""
    made = _MALFORMED.get(cls)
    if made is None:
        try:
            made = type(f"Malformed{cls.__name__}", (MalformedJelly, cls), {"__module__": __name__})
        except TypeError:
            # A class that cannot be combined (its layout, a metaclass).
            made = MalformedJelly
        _MALFORMED[cls] = made
    return made


def _describe(error: BaseException) -> str:
    """C{error}'s repr, cut short; never failing (a deep list's repr can)."""
    try:
        text = repr(error)
    except Exception:
        text = f"<{type(error).__name__}>"
    return text if len(text) <= 200 else text[:200] + "..."


def malformed(error: BaseException) -> BaseException:
    """
    The error to raise for C{error}, raised by a value's constructor or a
    hook while an object was made from untrusted bytes or s-expressions: a
    L{MalformedJelly} of C{error}'s class too, saying what was wrong, with
    C{error} as its cause.
    """
    cls = _malformedClass(type(error))
    instance: Any
    try:
        instance = cls(*error.args)
    except Exception:
        instance = MalformedJelly()
    instance._message = f"malformed jelly expression: {_describe(error)}"
    instance.__cause__ = error
    return instance  # type: ignore[no-any-return]


def _realPath(filename: str) -> str:
    return os.path.normcase(os.path.realpath(filename))


def _codecFiles() -> frozenset[str]:
    """
    The source files of the codec: Twisted's modules that jelly and unjelly
    (C{twisted.spread}'s, C{crefutil}'s placeholders, C{reflect}'s name
    lookups) and pbfast's own library modules.
    """
    modules = [
        _twisted.banana,
        _twisted.jelly,
        _twisted.flavors,
        _twisted.pb,
        twisted.persisted.crefutil,
        twisted.python.reflect,
    ]
    files = {_realPath(module.__file__ or "") for module in modules}
    package = os.path.dirname(_realPath(__file__))
    files.update(
        os.path.join(package, name) for name in os.listdir(package) if name.endswith(".py")
    )
    return frozenset(files)


_CODEC_FILES = _codecFiles()
_LIBRARIES = tuple(
    _realPath(path) for key in ("purelib", "platlib") if (path := sysconfig.get_paths().get(key))
)
_STANDARD_LIBRARY = tuple(
    _realPath(path) for key in ("stdlib", "platstdlib") if (path := sysconfig.get_paths().get(key))
)
# Twisted's and zope.interface's other modules: helpers both the codec and
# applications call (Twisted's test modules are applications).
_HELPERS = tuple(
    _realPath(os.path.dirname(module.__file__ or "")) + os.sep
    for module in (twisted, importlib.import_module("zope.interface"))
)


@functools.lru_cache(maxsize=256)
def _whose(filename: str) -> str:
    """
    C{"codec"}, C{"application"} or C{"helper"} (the standard library's,
    Twisted's and zope.interface's other modules, which both call): whose
    code a frame of C{filename} runs.
    """
    if filename.startswith("<frozen "):
        return "helper"
    path = _realPath(filename)
    if path in _CODEC_FILES:
        return "codec"
    if path.startswith(_HELPERS):
        return "application" if f"{os.sep}test{os.sep}" in path else "helper"
    if path.startswith(_LIBRARIES):
        return "application"
    if path.startswith(_STANDARD_LIBRARY):
        return "helper"
    return "application"


def raisedByApplication(error: BaseException, traceback: TracebackType | None = None) -> bool:
    """
    True if C{error} was raised by application code while objects were made
    from bytes or s-expressions: a hook (C{unjellyFor}, C{setCopyableState},
    C{__setstate__}, C{postUnjelly}, a factory, a persistent load), a class's
    constructor, a taster's method -- called by pbfast's native code or by
    Twisted's own methods. Such an error reaches the caller as it is, as
    Twisted delivers it; what the codec itself rejects is typed (see
    L{malformed}).

    Whose an error is, is told by where it was raised: the innermost frame
    of its traceback that is not a helper's both call (the standard
    library's, Twisted's or zope.interface's other modules). An error raised
    there in the codec's own modules (Twisted's C{jelly}, C{flavors}, C{pb},
    C{banana}, C{crefutil}, C{reflect}, and pbfast's), or by native code
    with no Python frame at all (a value's constructor), is the codec's; in
    any other code, the application's. C{traceback}: the error's, if it is
    not yet its C{__traceback__}.
    """
    frames = []
    if traceback is None:
        traceback = error.__traceback__
    while traceback is not None:
        frames.append(traceback.tb_frame.f_code.co_filename)
        traceback = traceback.tb_next
    for filename in reversed(frames):
        whose = _whose(filename)
        if whose != "helper":
            return whose == "application"
    return False
