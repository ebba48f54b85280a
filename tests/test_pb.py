"""
pbfast's broker beyond interop: the bytes it sends are Twisted's, what it
receives is read straight from the bytes, and the three places where Twisted's
broker is wrong are right (observers of several brokers, C{observe_*} on the
application's object, the reference limit per broker).
"""

from __future__ import annotations

import gc
from typing import Any

from hypothesis import given, settings
from twisted.internet import defer
from twisted.internet.testing import StringTransport
from twisted.trial import unittest

import pbfast
from graphs import graphs, same_graph
from pb_connection import Connection, remoteFailure, runsNatively
from pb_objects import Callback, Counter, DuckPond, Record, SenderPond, Service
from pbfast import _native, flavors, jelly
from pbfast import pb as fast_pb
from pbfast._errors import MalformedJelly
from pbfast._twisted import flavors as twisted_flavors
from pbfast._twisted import jelly as twisted_jelly
from pbfast._twisted import pb as twisted_pb


def connectedBroker(pb: Any) -> tuple[Any, StringTransport]:
    """A server broker of C{pb} in dialect C{pb}, writing to a transport."""
    broker = pb.Broker(isClient=False)
    broker.factory = pb.PBServerFactory(Service())
    transport = StringTransport()
    broker.makeConnection(transport)
    broker.dataReceived(b"\x02\x82pb")  # the client's choice of dialect
    assert broker.currentDialect == b"pb"
    transport.clear()
    return broker, transport


# ---------------------------------------------------------------------------
# Bytes


def flavored(value: Any, referenceable: bool = True) -> Any:
    """
    C{value} with PB flavors around it: Copyables, shared, and a
    Referenceable (which becomes a counted reference to the sender where it
    is received).
    """
    record = Record(payload=value)
    local = Counter() if referenceable else None
    return [record, SenderPond(1, 2), record, local, {"inner": value}]


@settings(max_examples=150, deadline=None)
@given(graphs())
def test_serialized_bytes_are_twisteds(value: Any) -> None:
    # The same message from both brokers: the same bytes on the wire.
    fast, fastOut = connectedBroker(fast_pb)
    stock, stockOut = connectedBroker(twisted_pb)
    for broker in (fast, stock):
        try:
            broker._sendMessage(b"", None, 1, b"echo", (flavored(value), 2), {"k": value})
        except Exception as error:
            broker.sent = type(error)
    assert getattr(fast, "sent", None) == getattr(stock, "sent", None)
    assert fastOut.value() == stockOut.value()


@settings(max_examples=150, deadline=None)
@given(graphs())
def test_received_bytes_make_twisteds_objects(value: Any) -> None:
    # Twisted's bytes for a call, read by both brokers: the same objects.
    sender, out = connectedBroker(twisted_pb)
    sender._sendMessage(b"", None, b"root", b"echo", (flavored(value, False),), {})
    outcomes = []
    for pb in (fast_pb, twisted_pb):
        receiver, _ = connectedBroker(pb)
        messages: list[Any] = []
        receiver.expressionReceived = messages.append
        receiver.dataReceived(out.value())
        (message,) = messages
        if pb is fast_pb:
            assert type(message[5]) is _native.Encoded
        try:
            outcomes.append(receiver.unserialize(message[5]))
        except Exception as error:
            outcomes.append(type(error))
    fast, stock = outcomes
    if isinstance(stock, type):
        # Where Twisted cannot rebuild the graph, pbfast raises the same
        # error, as a MalformedJelly of its class (as test_dumps has it).
        assert fast is stock or (issubclass(fast, MalformedJelly) and issubclass(fast, stock))
    else:
        assert type(fast[0][1]) is type(stock[0][1])
        assert fast[0][1].count() == stock[0][1].count()
        fastRecord, fastDict = fast[0][0], fast[0][4]
        stockRecord, stockDict = stock[0][0], stock[0][4]
        assert fast[0][2] is fastRecord
        assert same_graph([fastRecord.__dict__, fastDict], [stockRecord.__dict__, stockDict])


def test_encoded_reads_as_its_sexp() -> None:
    # Code written against Twisted's broker may look at what serialize
    # returns, or at a message's jellied parts: they read as s-expressions.
    fast, _ = connectedBroker(fast_pb)
    stock, _ = connectedBroker(twisted_pb)
    value = {"a": [1, 2.5, "x"], "b": None}
    encoded = fast.serialize(value)
    assert type(encoded) is _native.Encoded
    assert encoded.pb_dialect
    sexp = stock.serialize(value)
    assert encoded == sexp
    assert encoded.sexp() == sexp
    assert list(encoded) == sexp
    assert len(encoded) == len(sexp)
    assert encoded[0] == sexp[0]
    assert repr(encoded) == f"Encoded({sexp!r})"
    assert fast.unserialize(encoded) == value
    assert fast.unserialize(sexp) == value


def test_dictionary_keys_met_again_in_dialect_pb() -> None:
    # Keys written again as first written (see test_dumps), with the tag a
    # vocabulary symbol.
    from test_dumps import keys_of_every_kind

    fast, _ = connectedBroker(fast_pb)
    stock, _ = connectedBroker(twisted_pb)
    for count in (3, 300):
        value = keys_of_every_kind(count)
        encoded = fast.serialize(value)
        assert encoded.sexp() == stock.serialize(value)


def test_custom_remote_message_received_sees_sexps() -> None:
    class Inspecting(fast_pb.Referenceable):
        def remoteMessageReceived(self, broker: Any, message: Any, args: Any, kw: Any) -> Any:
            # Twisted hands this the s-expressions of the arguments.
            self.seen = (message, list(args), broker.unserialize(args))
            return broker.serialize("ok")

    target = Inspecting()
    sender, out = connectedBroker(twisted_pb)
    sender._sendMessage(b"", None, b"target", b"look", ("x",), {})
    receiver, answers = connectedBroker(fast_pb)
    receiver.setNameForLocal("target", target)
    receiver.dataReceived(out.value())
    assert target.seen == (
        "look",
        [b"tuple", [b"unicode", b"x"]],
        ("x",),
    )
    sender.dataReceived(answers.value())


# ---------------------------------------------------------------------------
# Where Twisted's broker is wrong


def test_twisteds_observers_of_two_brokers_do_not_compare() -> None:
    # The bug (Twisted issue 9671) and its fix, on the observers themselves.
    cached = DuckPond([])
    one, two = twisted_pb.Broker(), twisted_pb.Broker()
    with __import__("pytest").raises(TypeError):
        _ = twisted_flavors.RemoteCacheObserver(
            one, cached, None
        ) == twisted_flavors.RemoteCacheObserver(two, cached, None)
    fixed = flavors.RemoteCacheObserver(one, cached, None)
    assert fixed != flavors.RemoteCacheObserver(two, cached, None)
    assert fixed != twisted_flavors.RemoteCacheObserver(two, cached, None)
    assert fixed == twisted_flavors.RemoteCacheObserver(one, cached, None)
    assert hash(fixed) == hash(twisted_flavors.RemoteCacheObserver(one, cached, None))
    observers = [flavors.RemoteCacheObserver(two, cached, None), fixed]
    observers.remove(twisted_flavors.RemoteCacheObserver(one, cached, None))
    assert observers == [flavors.RemoteCacheObserver(two, cached, None)]
    assert sorted([fixed, observers[0]], key=lambda o: o) is not None


class BrokerFixes(Connection, unittest.TestCase):
    """The fixes over real connections, pbfast's broker serving."""

    serverPB = fast_pb
    clientPB = fast_pb

    def setUp(self) -> Any:
        self.service = Service()
        return self.connect(self.service)

    @defer.inlineCallbacks
    def test_observersOfSeveralBrokers(self) -> Any:
        # Two clients cache the pond; one goes: its observer is removed
        # (Twisted's comparison raised TypeError here), the other stays.
        second = yield self.connectClient()
        first = yield self.root.callRemote("getPond")
        other = yield second.callRemote("getPond")
        self.assertEqual((yield self.root.callRemote("observers")), 2)
        lost: defer.Deferred[None] = defer.Deferred()
        self.serverBrokers[1].notifyOnDisconnect(lambda: lost.callback(None))
        self.clientFactories[1].disconnect()
        yield lost
        self.assertEqual(self.flushLoggedErrors(TypeError), [])
        self.assertEqual((yield self.root.callRemote("observers")), 1)
        yield self.root.callRemote("addDuck", "late duck")
        self.assertEqual(first.cacheducks[-1], "late duck")
        self.assertEqual(other.cacheducks, ["one duck", "two duck"])

    @defer.inlineCallbacks
    def test_observeMethodsRunOnTheApplicationsObject(self) -> Any:
        # Twisted calls observe_* on a twin that shares the state (issue 7274).
        pond = yield self.root.callRemote("getPond")
        yield self.root.callRemote("addDuck", "new duck")
        self.assertEqual(pond.observedBy, [id(pond)])
        again = yield self.root.callRemote("getPond")
        yield self.root.callRemote("removeDuck", "new duck")
        self.assertIn(pond.observedBy[-1], (id(pond), id(again)))
        del pond
        gc.collect()
        yield self.root.callRemote("addDuck", "third duck")
        self.assertEqual(again.observedBy[-1], id(again))

    @defer.inlineCallbacks
    def test_referenceLimitPerBroker(self) -> Any:
        self.serverBrokers[0].maxBrokerRefs = 2
        second = yield self.connectClient()
        # Held, so that they are not released (decref) meanwhile.
        held = []
        for _ in range(2):
            held.append((yield self.root.callRemote("newCounter")))
        (failure,) = yield remoteFailure(self.root.callRemote("newCounter"))
        self.assertEqual(failure.value, "Maximum PB reference count exceeded.")
        # Another connection has the module's limit.
        self.assertEqual(self.serverBrokers[1].maxBrokerRefs, fast_pb.MAX_BROKER_REFS)
        for _ in range(5):
            held.append((yield second.callRemote("newCounter")))

    @defer.inlineCallbacks
    def test_referenceLimitFromTheFactory(self) -> Any:
        yield self.disconnect()
        self.serve(Service(), maxBrokerRefs=1)
        root = yield self.connectClient()
        held = yield root.callRemote("newCounter")
        (failure,) = yield remoteFailure(root.callRemote("newCounter"))
        self.assertIsInstance(held, fast_pb.RemoteReference)
        self.assertEqual(failure.value, "Maximum PB reference count exceeded.")


# ---------------------------------------------------------------------------
# install()


def test_install_patches_twisted_in_place_and_uninstall_restores() -> None:
    from twisted.spread import banana as tb
    from twisted.spread import flavors as tf
    from twisted.spread import pb as tp

    class ProgramBroker(tp.Broker):  # subclassed before the call
        pass

    before = {
        (tb.Banana, "dataReceived"): tb.Banana.dataReceived,
        (tb.Banana, "sizeLimit"): tb.Banana.sizeLimit,
        (tp.Broker, "serialize"): tp.Broker.serialize,
        (tp.Broker, "registerReference"): tp.Broker.registerReference,
        (twisted_jelly, "jelly"): twisted_jelly.jelly,
        (tb, "encode"): tb.encode,
        (tf, "RemoteCacheObserver"): tf.RemoteCacheObserver,
    }
    assert not pbfast.installed()
    pbfast.install()
    try:
        pbfast.install()  # again: nothing more
        assert pbfast.installed()
        assert tp.Broker.serialize is fast_pb._NativeBroker.serialize
        assert ProgramBroker.dataReceived is fast_pb._NativeBroker.dataReceived
        assert tb.Banana.dataReceived is pbfast.banana._NativeCodec.dataReceived
        assert twisted_jelly.jelly is jelly.jelly
        assert tp.jelly is jelly.jelly
        assert tf.RemoteCacheObserver is flavors.RemoteCacheObserver
        broker, _ = connectedBroker(tp)
        assert runsNatively(broker)
        assert type(broker.serialize([1])) is _native.Encoded
        assert tb.encode([1, b"x"]) == pbfast.banana.encode([1, b"x"])
        assert tb.decode(b"\x01\x80\x01\x81") == [1]
    finally:
        pbfast.uninstall()
    assert not pbfast.installed()
    for (target, name), original in before.items():
        assert getattr(target, name) is original, name
    assert "_limitsModule" not in vars(tb.Banana)
    broker, _ = connectedBroker(tp)
    assert not runsNatively(broker)
    assert broker.serialize([1]) == [b"list", 1]


class Installed(Connection, unittest.TestCase):
    """An unchanged Twisted program after install(): both ends native."""

    serverPB = twisted_pb
    clientPB = twisted_pb

    def setUp(self) -> Any:
        pbfast.install()
        self.addCleanup(pbfast.uninstall)
        self.service = Service()
        return self.connect(self.service)

    @defer.inlineCallbacks
    def test_callsCopiesAndCallbacks(self) -> Any:
        self.assertEqual((yield self.root.callRemote("takePond", SenderPond(3, 4))), 7)
        callback = Callback()
        yield self.root.callRemote("callBack", callback, "hi")
        self.assertEqual(callback.calls, ["hi"])
        pond = yield self.root.callRemote("getPond")
        yield self.root.callRemote("addDuck", "duck")
        self.assertEqual(pond.observedBy, [id(pond)])
