#!/usr/bin/env python
"""
The receiving end of copy_sender.py (Twisted's "PB Copyable" document,
copy_receiver.py): incoming CopyPonds become ReceiverPonds.
"""

from twisted.internet import reactor

import pbchoice
from copy_sender import CopyPond, LilyPond
from pbchoice import pb


class ReceiverPond(pb.RemoteCopy, LilyPond):
    pass


pb.setUnjellyableForClass(CopyPond, ReceiverPond)


class Receiver(pb.Root):
    def remote_takePond(self, pond):
        print(" got pond:", pond)
        pond.countFrogs()
        return "safe and sound"  # positive acknowledgement

    def remote_shutdown(self):
        reactor.stop()


if __name__ == "__main__":
    pbchoice.serve(Receiver())
    reactor.run()
