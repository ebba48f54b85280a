#!/usr/bin/env python
"""
PB on Twisted's asyncio reactor, from C{async def} code: a PB server and a
client in one process, both on the reactor that runs on an asyncio event
loop (C{twisted.internet.asyncioreactor}, installed first of all, before
anything imports C{twisted.internet.reactor}).

  - Twisted code awaits Deferreds: C{demo} is a coroutine, run by
    C{task.react}, which wraps it with C{Deferred.fromCoroutine}, so
    C{await root.callRemote(...)} gives the answer or raises the error.
  - The server answers with asyncio: C{remote_slowEcho} returns a Deferred
    made from an asyncio task (C{Deferred.fromFuture}) that sleeps.
  - Plain asyncio code awaits Deferreds as asyncio Futures
    (C{d.asFuture(loop)}): C{gathered} runs as an asyncio task, with
    C{asyncio.gather} and C{asyncio.wait_for}; a call that times out there is
    cancelled, its late answer dropped, and the connection carries on.
    (A remote error is for Twisted code to await: Twisted's C{asFuture}
    cannot pass one on, since the failure's value is a string, and the
    Future never completes -- on stock Twisted as on pbfast.)

The first two lines say which reactor and broker class ran, and where its
C{serialize} came from. Runs on pbfast, with C{--twisted} on stock Twisted,
with C{--install} on Twisted's modules plus C{pbfast.install()} (see
pbchoice.py); no port to pick, the server listens on a free one.
"""

# ruff: noqa: E402 -- the asyncio reactor is installed before anything else is imported.
import asyncio

from twisted.internet import asyncioreactor

loop = asyncio.new_event_loop()
asyncioreactor.install(loop)

from twisted.internet import task
from twisted.internet.defer import Deferred

from pbchoice import pb


class NoSuchThing(pb.Error):
    """A pb.Error: expected, so the server does not log it; the caller gets it."""


class Echoer(pb.Root):
    def remote_echo(self, value):
        return value

    def remote_slowEcho(self, value, delay):
        # A coroutine on the asyncio loop, made an asyncio task, made a Deferred.
        return Deferred.fromFuture(asyncio.ensure_future(asyncio.sleep(delay, result=value)))

    def remote_fail(self, why):
        raise NoSuchThing(why)


async def gathered(root):
    """Plain asyncio: Deferreds awaited through asFuture, never as Deferreds."""
    loop = asyncio.get_running_loop()  # the one the reactor runs on
    # Three calls at once, answered last first; gather keeps their order.
    calls = [root.callRemote("slowEcho", n, 0.03 * (3 - n)).asFuture(loop) for n in range(3)]
    answers = await asyncio.gather(*calls)
    late = root.callRemote("slowEcho", "late", 0.2).asFuture(loop)
    try:
        late = await asyncio.wait_for(late, 0.05)
    except TimeoutError:
        late = "timed out"
    return answers, late


async def demo(reactor, serverFactory, clientFactory):
    """Serve, connect, call, and close both ends."""
    listening = reactor.listenTCP(0, serverFactory, interface="127.0.0.1")
    reactor.connectTCP("127.0.0.1", listening.getHost().port, clientFactory)
    try:
        root = await clientFactory.getRootObject()
        broker = type(root.broker)
        print(f"reactor: {type(reactor).__module__}.{type(reactor).__name__}")
        where = broker.serialize.__module__
        print(f"broker: {broker.__module__}.{broker.__name__}, serialize from {where}")

        print("echo:", await root.callRemote("echo", ["hello", 42, {"x": (1.5, None)}]))
        print("slowEcho:", await root.callRemote("slowEcho", "after asyncio.sleep", 0.01))
        try:
            await root.callRemote("fail", "no such thing")
        except pb.RemoteError as error:
            print("fail:", error.remoteType, error)

        # An asyncio task, awaited here as a Deferred in turn.
        answers, late = await Deferred.fromFuture(asyncio.ensure_future(gathered(root)))
        print("asyncio.gather through asFuture:", answers)
        print("asyncio.wait_for through asFuture:", late)
        # Outlasts the late answer to the timed-out call, which is dropped.
        print("echo after:", await root.callRemote("slowEcho", "still connected", 0.3))
    finally:
        clientFactory.disconnect()
        await listening.stopListening()


def main(reactor):
    return demo(reactor, pb.PBServerFactory(Echoer()), pb.PBClientFactory())


if __name__ == "__main__":
    try:
        task.react(main)  # runs main, stops the reactor, exits 0 or 1
    finally:
        loop.close()
