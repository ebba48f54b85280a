"""
L{capture}: record the bytes of a factory's connections to files, for the
wire inspector (C{python -m pbfast decode FILE}).
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import IO, Any

from twisted.protocols.policies import ProtocolWrapper, WrappingFactory


class _Recording(ProtocolWrapper):
    """A connection whose bytes, both ways, also go to two files."""

    factory: _CaptureFactory

    def makeConnection(self, transport: Any) -> None:
        number = next(self.factory.numbers)
        directory = self.factory.directory
        self.receivedFile: IO[bytes] = open(directory / f"{number}-received.bin", "wb")
        self.sentFile: IO[bytes] = open(directory / f"{number}-sent.bin", "wb")
        super().makeConnection(transport)

    def dataReceived(self, data: bytes) -> None:
        self.receivedFile.write(data)
        self.receivedFile.flush()
        super().dataReceived(data)

    def write(self, data: bytes) -> None:
        self.sentFile.write(data)
        self.sentFile.flush()
        super().write(data)

    def writeSequence(self, data: Any) -> None:
        for piece in data:
            self.write(piece)

    def connectionLost(self, reason: Any = None) -> None:
        self.receivedFile.close()
        self.sentFile.close()
        super().connectionLost(reason)


class _CaptureFactory(WrappingFactory):
    protocol = _Recording

    def __init__(self, wrappedFactory: Any, directory: Path) -> None:
        super().__init__(wrappedFactory)
        self.directory = directory
        self.numbers = itertools.count(1)


def capture(factory: Any, directory: str | Path) -> WrappingFactory:
    """
    C{factory} (a PB server or client factory, or any other), recording the
    bytes of each connection it makes: received to
    C{directory/<n>-received.bin}, sent to C{directory/<n>-sent.bin}, C{n}
    counting connections from 1. Read them with
    C{python -m pbfast decode FILE}. For example::

        reactor.listenTCP(8800, pbfast.capture(pb.PBServerFactory(root), "capture"))
    """
    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    return _CaptureFactory(factory, path)
