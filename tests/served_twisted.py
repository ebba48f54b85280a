"""
A service written against Twisted's C{twisted.spread}, for
C{python -m pbfast serve --install}: it says whether pbfast is installed
under it.
"""

from __future__ import annotations

from twisted.spread import pb

import pbfast


class Service(pb.Root):
    def remote_installed(self) -> bool:
        return pbfast.installed()


factory = pb.PBServerFactory(Service())
