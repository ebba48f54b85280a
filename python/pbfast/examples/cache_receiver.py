#!/usr/bin/env python
"""
Caches a MasterDuckPond as a SlaveDuckPond and watches it change (Twisted's
"PB Copyable" document, cache_receiver.py).
"""

from twisted.internet import reactor

import cache_classes  # noqa: F401 -- registers SlaveDuckPond
import pbchoice
from pbchoice import pb


class Receiver(pb.Root):
    def remote_takePond(self, pond):
        self.pond = pond
        print("got pond:", pond)  # a DuckPondCache
        self.remote_checkDucks()

    def remote_checkDucks(self):
        print("[%d] ducks: " % self.pond.count(), self.pond.getDucks())

    def remote_ignorePond(self):
        # stop watching the pond
        print("dropping pond")
        # gc causes __del__ causes 'decache' msg causes stoppedObserving
        self.pond = None

    def remote_shutdown(self):
        reactor.stop()


if __name__ == "__main__":
    pbchoice.serve(Receiver())
    reactor.run()
