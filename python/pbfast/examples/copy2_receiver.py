#!/usr/bin/env python
"""
Receives SenderPonds as ReceiverPonds (Twisted's "PB Copyable" document,
copy2_receiver.py).
"""

from twisted.internet import reactor

import copy2_classes  # noqa: F401 -- needed to get ReceiverPond registered with Jelly
import pbchoice
from pbchoice import pb


class Receiver(pb.Root):
    def remote_takePond(self, pond):
        print(" got pond:", pond)
        print(" count %d" % pond.count())
        return "safe and sound"  # positive acknowledgement

    def remote_shutdown(self):
        reactor.stop()


if __name__ == "__main__":
    pbchoice.serve(Receiver())
    reactor.run()
