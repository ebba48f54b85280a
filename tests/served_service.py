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
