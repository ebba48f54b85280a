"""
The exceptions the native codec raises.

C{BananaError} is Twisted's own class object, so C{except BananaError} works
the same whichever module the name was imported from. Where Twisted's decoder
raises something other than C{BananaError} for bad input (C{KeyError} for an
unknown vocabulary id, C{NotImplementedError} for a bad type byte or a symbol
the dialect does not have), pbfast raises a subclass of both: code written
against either behaviour keeps working.
"""

from twisted.spread.banana import BananaError

__all__ = [
    "BananaError",
    "InvalidTypeByte",
    "UnknownVocabularySymbol",
    "VocabularyNotInDialect",
]


class UnknownVocabularySymbol(BananaError, KeyError):
    """A VOCAB token named a symbol id the vocabulary does not have."""

    # KeyError would quote the message.
    __str__ = BaseException.__str__


class VocabularyNotInDialect(BananaError, NotImplementedError):
    """A VOCAB token arrived on a connection whose dialect has no vocabulary."""


class InvalidTypeByte(BananaError, NotImplementedError):
    """A token ended in a byte that is not one of Banana's eight type bytes."""
