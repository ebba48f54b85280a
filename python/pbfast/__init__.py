"""
pbfast: a fast, drop-in native codec for Twisted's Perspective Broker.

L{pbfast.banana} has the public API of L{twisted.spread.banana} and produces
byte-identical output, with the token stream encoded and decoded in Rust.
"""

from pbfast import _native

__version__: str = _native.__version__

__all__ = ["__version__"]
