"""
What the serving tests serve (C{python -m pbfast serve served_service:root}):
each call says which process answered.
"""

from __future__ import annotations

import os
from typing import Any

from twisted.internet import reactor, task

from pbfast import pb


class Service(pb.Root):
    def remote_pid(self) -> int:
        return os.getpid()

    def remote_slow(self, seconds: float) -> Any:
        """The process's id, answered C{seconds} from now."""
        return task.deferLater(reactor, seconds, os.getpid)


root = Service()


def factory() -> pb.PBServerFactory:
    """A callable returning a factory, as C{MODULE:NAME} may name."""
    return pb.PBServerFactory(Service())


class Avatar(pb.Avatar):
    def __init__(self, name: bytes) -> None:
        self.name = name

    def perspective_whoami(self) -> bytes:
        return self.name


class Realm:
    def requestAvatar(self, avatarId: bytes, mind: Any, *interfaces: Any) -> Any:
        return pb.IPerspective, Avatar(avatarId), lambda: None


def portal() -> Any:
    """A callable returning a cred Portal, as C{MODULE:NAME} may name."""
    from twisted.cred import checkers
    from twisted.cred import portal as cred_portal

    checker = checkers.InMemoryUsernamePasswordDatabaseDontUse(alice=b"secret")
    return cred_portal.Portal(Realm(), [checker])
