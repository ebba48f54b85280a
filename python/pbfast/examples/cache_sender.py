#!/usr/bin/env python
"""
Shares a MasterDuckPond and changes it (Twisted's "PB Copyable" document,
cache_sender.py). Run cache_receiver.py first.
"""

from twisted.internet import reactor
from twisted.python import log

import pbchoice
from cache_classes import MasterDuckPond


class Sender:
    def __init__(self, pond):
        self.pond = pond

    def phase1(self, remote):
        self.remote = remote
        d = remote.callRemote("takePond", self.pond)
        d.addCallback(self.phase2).addErrback(log.err)

    def phase2(self, response):
        self.pond.addDuck("ugly duckling")
        self.pond.count()
        reactor.callLater(1, self.phase3)

    def phase3(self):
        d = self.remote.callRemote("checkDucks")
        d.addCallback(self.phase4).addErrback(log.err)

    def phase4(self, dummy):
        self.pond.removeDuck("one duck")
        self.pond.count()
        self.remote.callRemote("checkDucks")
        d = self.remote.callRemote("ignorePond")
        d.addCallback(self.phase5)

    def phase5(self, dummy):
        d = self.remote.callRemote("shutdown")
        # The receiver may stop before its answer leaves: either way, done.
        d.addBoth(self.phase6)

    def phase6(self, dummy):
        reactor.stop()


def main():
    master = MasterDuckPond(["one duck", "two duck"])
    master.count()

    sender = Sender(master)
    factory = pbchoice.connect()
    deferred = factory.getRootObject()
    deferred.addCallback(sender.phase1)
    reactor.run()


if __name__ == "__main__":
    main()
