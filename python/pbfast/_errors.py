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

from typing import Any

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
