"""
What the examples run on: pbfast (C{pb} and C{jelly} here are C{pbfast.pb}
and C{pbfast.jelly}); with C{--twisted}, stock Twisted's C{twisted.spread}
without pbfast imported at all -- run one end each way to see the two talk;
with C{--install}, Twisted's C{twisted.spread}, imported first, then put on
pbfast's native path by C{pbfast.install()}, as an existing program would
add that one line. And the port: C{--port N} (8800 by default, as in
Twisted's document; 0 picks a free one).

A server prints C{listening on port N} on standard error once it listens.
"""

from __future__ import annotations

import sys
from typing import Any

if "--twisted" in sys.argv:
    from twisted.spread import jelly, pb
elif "--install" in sys.argv:
    from twisted.spread import jelly, pb

    import pbfast

    pbfast.install()
else:
    from pbfast import jelly, pb

__all__ = ["connect", "jelly", "pb", "port", "serve"]


def port() -> int:
    """The port to listen on or connect to."""
    if "--port" in sys.argv:
        return int(sys.argv[sys.argv.index("--port") + 1])
    return 8800


def serve(root: Any) -> None:
    """Listen on L{port} with a PB server factory for C{root}, and say where."""
    from twisted.internet import reactor

    listening = reactor.listenTCP(port(), pb.PBServerFactory(root), interface="127.0.0.1")
    print(f"listening on port {listening.getHost().port}", file=sys.stderr, flush=True)


def connect() -> Any:
    """Connect a PB client factory to L{port}; the factory."""
    from twisted.internet import reactor

    factory = pb.PBClientFactory()
    reactor.connectTCP("127.0.0.1", port(), factory)
    return factory
