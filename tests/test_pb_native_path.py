"""
The broker's native call path (C{pbfast._native.receive_messages},
C{send_message}): taken by brokers and objects that keep the stock methods,
and left, for Twisted's code, wherever an application overrides one -- on
the class, on the instance, or on the class after calls were made. Calls
made each way end as Twisted's end: answers, errors, Deferred results,
calls that want no answer, unknown commands.
"""

from __future__ import annotations

import sys
from typing import Any, ClassVar

import pytest
from twisted.internet import defer
from twisted.python import log
from twisted.spread import pb as twisted_pb

from pbfast import _native
from pbfast import pb as fast_pb
from pbfast.tools.broker_bench import InMemory


class Service(fast_pb.Root):
    """What the calls below call."""

    def __init__(self) -> None:
        self.calls: list[Any] = []
        self.later: list[defer.Deferred[Any]] = []

    def remote_echo(self, value: Any = None, **extra: Any) -> Any:
        self.calls.append((value, extra))
        return value

    def remote_later(self) -> defer.Deferred[Any]:
        d: defer.Deferred[Any] = defer.Deferred()
        self.later.append(d)
        return d

    def remote_later_subclass(self) -> defer.Deferred[Any]:
        d: defer.Deferred[Any] = LaterDeferred()
        self.later.append(d)
        return d

    def remote_later_registered(self) -> Any:
        d = Registered()
        self.later.append(d)
        return d

    def remote_unsendable(self) -> Any:
        # What the server's jelly refuses to send.
        return object()

    def remote_fail(self, kind: str) -> Any:
        if kind == "pb":
            raise fast_pb.Error("refused")
        raise ValueError("broken")


class LaterDeferred(defer.Deferred[Any]):
    """A result that is a Deferred by subclassing."""


class Registered:
    """A result that is a Deferred by C{Deferred.register}: Twisted's broker
    adds its callbacks to it, as to any Deferred."""

    def __init__(self) -> None:
        self.callbacks: list[Any] = []

    def addCallbacks(self, callback: Any, errback: Any, **kw: Any) -> None:
        args = (kw.get("callbackArgs") or (), kw.get("callbackKeywords") or {})
        self.callbacks.append((callback, args))

    def callback(self, value: Any) -> None:
        # Each callback is given what the one before returned.
        for callback, (args, kw) in self.callbacks:
            value = callback(value, *args, **kw)


defer.Deferred.register(Registered)


class Pair(InMemory):
    """A client and a server broker, each of its own class, pumped in memory."""

    def __init__(self, server: type, client: type, root: Any = None) -> None:
        super().__init__(
            _module(server),
            _module(client),
            root if root is not None else Service(),
            server_broker=server,
            client_broker=client,
        )

    def call(self, name: str, *args: Any, **kw: Any) -> list[Any]:
        """What C{callRemote(name, ...)} ends in, once pumped: [result], or [Failure]."""
        outcome: list[Any] = []
        d = self.root.callRemote(name, *args, **kw)
        if d is not None:
            d.addBoth(outcome.append)
        self.pump()
        return outcome


def _module(broker: type) -> Any:
    return fast_pb if issubclass(broker, fast_pb.Broker) else twisted_pb


class Recorder:
    """Counts the calls of Twisted's broker methods made while it is on (a profile hook)."""

    def __init__(self, *names: str) -> None:
        self.names = set(names)
        self.calls: dict[str, int] = dict.fromkeys(names, 0)

    def __enter__(self) -> Recorder:
        def profile(frame: Any, event: str, arg: Any) -> None:
            if event == "call" and frame.f_code.co_name in self.names:
                self.calls[frame.f_code.co_name] += 1

        sys.setprofile(profile)
        return self

    def __exit__(self, *exc: Any) -> None:
        sys.setprofile(None)


def test_stock_brokers_take_the_native_path() -> None:
    pair = Pair(fast_pb.Broker, fast_pb.Broker)
    assert _native.takes_native_path(pair.server)
    assert _native.takes_native_path(pair.client)
    with Recorder("_recvMessage", "proto_message", "_sendMessage", "_deliver") as seen:
        assert pair.call("echo", {"color": "green"}) == [{"color": "green"}]
    # _sendMessage is pbfast's, native itself (bound as a method).
    assert seen.calls == {"_recvMessage": 0, "proto_message": 0, "_sendMessage": 0, "_deliver": 0}
    assert pair.server.dataReceived.__func__ is _native.data_received
    assert pair.client._sendMessage.__func__ is _native.send_message


OVERRIDABLE = [
    name
    for name in fast_pb._NATIVE_PATH_METHODS
    # What an echo call goes through, on one side or the other.
    if name not in ("_encode",)
]


def _overriding(name: str, seen: list[str]) -> type:
    original = getattr(fast_pb.Broker, name)

    def override(self: Any, *args: Any, **kw: Any) -> Any:
        seen.append(name)
        return original(self, *args, **kw)

    return type(f"Overrides_{name}", (fast_pb.Broker,), {name: override})


@pytest.mark.parametrize("name", OVERRIDABLE)
def test_a_method_overridden_on_the_class_runs(name: str) -> None:
    seen: list[str] = []
    broker = _overriding(name, seen)
    pair = Pair(broker, broker)
    assert not _native.takes_native_path(pair.server)
    assert pair.call("echo", [1, "two"]) == [[1, "two"]]
    assert name in seen


def _set_through_setattr(broker: Any, name: str, value: Any) -> None:
    setattr(broker, name, value)


def _set_in_the_dict(broker: Any, name: str, value: Any) -> None:
    broker.__dict__[name] = value


def _set_by_update(broker: Any, name: str, value: Any) -> None:
    vars(broker).update({name: value})


def _override_on_instances(pair: Pair, name: str, setter: Any = _set_through_setattr) -> list[str]:
    """Give both brokers of C{pair} their own C{name}, noting each call in the list returned."""
    seen: list[str] = []
    for broker in (pair.server, pair.client):
        original = getattr(broker, name)

        def override(*args: Any, _original: Any = original, **kw: Any) -> Any:
            seen.append(name)
            return _original(*args, **kw)

        setter(broker, name, override)
    return seen


@pytest.mark.parametrize("name", OVERRIDABLE)
def test_a_method_overridden_on_the_instance_runs(name: str) -> None:
    pair = Pair(fast_pb.Broker, fast_pb.Broker)
    seen = _override_on_instances(pair, name)
    assert not _native.takes_native_path(pair.server)
    assert pair.call("echo", (3,)) == [(3,)]
    assert name in seen


@pytest.mark.parametrize("setter", [_set_through_setattr, _set_in_the_dict, _set_by_update])
@pytest.mark.parametrize("name", OVERRIDABLE)
def test_an_instance_changed_after_calls_is_seen(name: str, setter: Any) -> None:
    # After calls on the native path (which keeps what it found of the
    # brokers' instance dicts while they are unchanged), a method given to
    # an instance runs from the next call on, and the native path is taken
    # again once it is gone.
    pair = Pair(fast_pb.Broker, fast_pb.Broker)
    for value in range(3):
        assert pair.call("echo", value) == [value]
    seen = _override_on_instances(pair, name, setter)
    assert not _native.takes_native_path(pair.server)
    assert pair.call("echo", (4,)) == [(4,)]
    assert name in seen
    for broker in (pair.server, pair.client):
        del broker.__dict__[name]
    seen.clear()
    assert _native.takes_native_path(pair.server)
    assert _native.takes_native_path(pair.client)
    assert pair.call("echo", 5) == [5]
    assert seen == []


HOOK_ATTRIBUTES = (
    "serializingPerspective",
    "jellyMethod",
    "jellyArgs",
    "jellyKw",
    "unserializingPerspective",
)


@pytest.mark.parametrize("name", HOOK_ATTRIBUTES)
def test_hook_attributes_set_between_calls_end_as_twisteds(name: str) -> None:
    # What the native path knows of the hook attributes (None, while the
    # instance dict is unchanged) is not taken for granted once something
    # else set them: a call leaves them None, as Twisted's serialize and
    # unserialize do.
    pair = Pair(fast_pb.Broker, fast_pb.Broker)
    for value in range(3):
        assert pair.call("echo", value) == [value]
    for broker in (pair.server, pair.client):
        setattr(broker, name, "stale")
    assert pair.call("echo", 4) == [4]
    for broker in (pair.server, pair.client):
        assert [getattr(broker, each) for each in HOOK_ATTRIBUTES] == [None] * 5


def test_a_module_limit_changed_after_calls_is_followed(monkeypatch: pytest.MonkeyPatch) -> None:
    # The brokers' limits follow pbfast.banana's globals (kept while the
    # module's dict is unchanged): a global assigned after calls is the
    # limit from the next call on, both ways.
    from pbfast import banana

    pair = Pair(fast_pb.Broker, fast_pb.Broker)
    for value in range(3):
        assert pair.call("echo", [value] * 5) == [[value] * 5]
    monkeypatch.setattr(banana, "SIZE_LIMIT", 4)
    assert pair.server.sizeLimit == pair.client.sizeLimit == 4
    (failure,) = pair.call("echo", [1] * 5)
    assert failure.check(banana.BananaError)
    monkeypatch.undo()
    pair = Pair(fast_pb.Broker, fast_pb.Broker)
    assert pair.call("echo", [1] * 5) == [[1] * 5]


def test_an_instance_changed_by_the_call_is_seen() -> None:
    # A remote method that gives the server's broker a method of its own:
    # the answer to that very call goes through it.
    seen: list[Any] = []
    pair = Pair(fast_pb.Broker, fast_pb.Broker)

    def sendCall(*args: Any) -> None:
        seen.append(args[0])
        fast_pb.Broker.sendCall(pair.server, *args)

    class Changer(Service):
        def remote_change(self) -> str:
            pair.server.sendCall = sendCall
            return "changed"

    pair = Pair(fast_pb.Broker, fast_pb.Broker, root=Changer())
    assert pair.call("echo", 1) == [1]
    assert pair.call("change") == ["changed"]
    assert seen == [b"answer"]


def test_a_class_changed_after_calls_is_seen() -> None:
    broker = type("Later", (fast_pb.Broker,), {})
    pair = Pair(broker, broker)
    assert pair.call("echo", 1) == [1]
    seen: ClassVar[list[Any]] = []

    def proto_message(self: Any, *args: Any) -> None:
        seen.append(args[2])
        fast_pb.Broker.proto_message(self, *args)

    broker.proto_message = proto_message  # type: ignore[attr-defined]
    assert pair.call("echo", 2) == [2]
    assert seen == [b"echo"]
    del broker.proto_message  # type: ignore[attr-defined]
    assert _native.takes_native_path(pair.server)
    assert pair.call("echo", 3) == [3]
    assert seen == [b"echo"]


def test_an_object_overriding_remote_message_received_runs_it() -> None:
    class Own(Service):
        def remoteMessageReceived(self, broker: Any, message: Any, args: Any, kw: Any) -> Any:
            self.calls.append(("own", message))
            return Service.remoteMessageReceived(self, broker, message, args, kw)

    pair = Pair(fast_pb.Broker, fast_pb.Broker, Own())
    assert pair.call("echo", 5) == [5]
    assert pair.service.calls[0] == ("own", "echo")


def test_an_object_with_its_own_remote_message_received_runs_it() -> None:
    service = Service()
    original = service.remoteMessageReceived

    def own(broker: Any, message: Any, args: Any, kw: Any) -> Any:
        service.calls.append(("instance", message))
        return original(broker, message, args, kw)

    service.remoteMessageReceived = own  # type: ignore[method-assign]
    pair = Pair(fast_pb.Broker, fast_pb.Broker, service)
    assert pair.call("echo", 6) == [6]
    assert service.calls[0] == ("instance", "echo")


BROKERS = {
    "pbfast": fast_pb.Broker,
    "twisted": twisted_pb.Broker,
}
PAIRINGS = [("pbfast", "pbfast"), ("pbfast", "twisted"), ("twisted", "pbfast")]


def _outcome(outcome: list[Any]) -> Any:
    """An outcome as comparable across brokers: a value, or the failure's type and text."""
    if not outcome:
        return "no answer"
    result = outcome[0]
    if hasattr(result, "trap"):
        value = result.value
        return ("failure", getattr(value, "remoteType", type(value)), str(value))
    if isinstance(result, (type(None), bool, int, float, str, bytes, list, tuple, dict)):
        return result
    # An object without an equality of its own (an Unpersistable).
    return (type(result), str(result))


def _both_ways(server: str, client: str, scenario: Any) -> None:
    """The same scenario against this pairing and against Twisted on both ends."""
    ours = scenario(Pair(BROKERS[server], BROKERS[client]))
    theirs = scenario(Pair(twisted_pb.Broker, twisted_pb.Broker))
    assert ours == theirs


@pytest.mark.parametrize("server,client", PAIRINGS)
def test_errors_answer_as_twisteds(server: str, client: str) -> None:
    def scenario(pair: Pair) -> Any:
        errors: list[Any] = []
        log.addObserver(errors.append)
        try:
            return [
                _outcome(pair.call("fail", "pb")),
                _outcome(pair.call("fail", "value")),
                _outcome(pair.call("missing")),
                _outcome(pair.call("echo", 1, 2, 3)),
                _outcome(pair.call("unsendable")),
                any("didn't accept" in str(e.get("message")) for e in errors),
            ]
        finally:
            log.removeObserver(errors.append)
            pair.pump()

    _both_ways(server, client, scenario)


@pytest.mark.parametrize("server,client", PAIRINGS)
def test_deferred_results_and_calls_without_answers(server: str, client: str) -> None:
    def scenario(pair: Pair) -> Any:
        first = pair.call("later")
        before = list(first)
        pair.service.later.pop().callback("done")
        pair.pump()
        quiet = pair.call("echo", "unanswered", pbanswer=0)
        # Deferreds by subclass and by registration (Deferred is an ABC).
        later = []
        for kind in ("later_subclass", "later_registered"):
            outcome = pair.call(kind)
            later.append(list(outcome))
            pair.service.later.pop().callback(kind)
            pair.pump()
            later.append(_outcome(outcome))
        return before, _outcome(first), quiet, pair.service.calls, later

    _both_ways(server, client, scenario)


@pytest.mark.parametrize("server,client", PAIRINGS)
def test_pbcallback_and_pberrback(server: str, client: str) -> None:
    def scenario(pair: Pair) -> Any:
        got: list[Any] = []
        pair.root.callRemote("echo", "x", pbcallback=got.append, pberrback=got.append)
        pair.pump()
        return got

    _both_ways(server, client, scenario)


def test_bytes_keyword_names_are_decoded() -> None:
    # What a Python 2 peer sent: keyword names as bytes.
    pair = Pair(fast_pb.Broker, twisted_pb.Broker)
    answers: list[Any] = []
    pair.client._sendMessage(b"", None, b"root", b"echo", (), {b"value": 7}).addBoth(answers.append)
    pair.pump()
    assert answers == [7]


def test_a_stale_broker_refuses_calls() -> None:
    pair = Pair(fast_pb.Broker, fast_pb.Broker)
    pair.client.disconnected = True
    with pytest.raises(fast_pb.DeadReferenceError):
        pair.root.callRemote("echo", 1)


@pytest.mark.parametrize("server", ["pbfast", "twisted"])
@pytest.mark.parametrize("client", ["pbfast", "twisted"])
def test_an_unknown_command_is_answered(server: str, client: str) -> None:
    """
    A command the server does not know is answered with C{didNotUnderstand}
    and the command as bytes: pbfast's broker answers so, where Twisted's
    tries to send the command as a C{str}, which Banana refuses, and drops
    the connection.
    """
    heard: list[Any] = []

    class Listening(BROKERS[client]):  # type: ignore[misc,valid-type]
        def proto_didNotUnderstand(self, command: Any) -> None:
            heard.append(command)

    pair = Pair(BROKERS[server], Listening)
    pair.client.sendCall(b"bogus", 1)
    if server == "twisted":
        with pytest.raises(Exception, match="str"):
            pair.pump()
        return
    pair.pump()
    assert heard == [b"bogus"]
    assert pair.call("echo", "still here") == ["still here"]


def test_twisteds_broker_takes_it_once_installed() -> None:
    import pbfast

    pbfast.install()
    try:
        pair = Pair(twisted_pb.Broker, twisted_pb.Broker)
        assert _native.takes_native_path(pair.server)
        with Recorder("_recvMessage") as seen:
            assert pair.call("echo", {"n": 1}) == [{"n": 1}]
        assert seen.calls == {"_recvMessage": 0}
    finally:
        pbfast.uninstall()
    assert not hasattr(twisted_pb.Broker, "_nativeDecoder")


class Spy(twisted_pb.Copyable):
    """
    Records, as it is jellied, the attributes the broker sets for the jelly
    hooks; the one marked C{meddle} then changes one of them, as a hook may.
    """

    seen: ClassVar[list[Any]] = []

    def __init__(self, tag: str, meddle: bool = False) -> None:
        self.tag, self.meddle = tag, meddle

    def jellyFor(self, jellier: Any) -> Any:
        broker = jellier.invoker
        hooks = (broker.jellyMethod, broker.jellyArgs, broker.jellyKw)
        Spy.seen.append(("sent", self.tag, broker.serializingPerspective, *hooks))
        if self.meddle:
            broker.jellyMethod = "meddled"
        return super().jellyFor(jellier)

    def getStateToCopy(self) -> dict[str, Any]:
        return {"tag": self.tag, "meddle": self.meddle}


class SpyCopy(twisted_pb.RemoteCopy):
    """L{Spy} received: records the broker's C{unserializingPerspective}."""

    def unjellyFor(self, unjellier: Any, jellyList: Any) -> Any:
        broker = unjellier.invoker
        found = super().unjellyFor(unjellier, jellyList)
        Spy.seen.append(("received", self.tag, broker.unserializingPerspective))
        if self.meddle:
            broker.unserializingPerspective = "meddled"
        return found


twisted_pb.setUnjellyableForClass(Spy, SpyCopy)


class Taker(twisted_pb.Root):
    def remote_take(self, first: Any, second: Any = None) -> Any:
        return Spy("answer", meddle=True)


@pytest.mark.parametrize("server,client", PAIRINGS)
def test_hooks_see_the_attributes_twisted_sets(server: str, client: str) -> None:
    """
    A call's args and then its kw are jellied (and unjellied) each with the
    broker's attributes set for it, as Twisted's C{serialize} and
    C{unserialize} set them, even where a hook in the args changed them; and
    they are C{None} again afterwards.
    """

    def scenario(pair: Pair) -> Any:
        Spy.seen = []
        outcome = pair.call("take", Spy("args", meddle=True), second=Spy("kw"))
        names = ("serializingPerspective", "jellyMethod", "jellyArgs", "jellyKw")
        after = [
            [getattr(broker, name) for name in (*names, "unserializingPerspective")]
            for broker in (pair.client, pair.server)
        ]
        tags = [outcome[0].tag] if outcome and hasattr(outcome[0], "tag") else _outcome(outcome)
        return Spy.seen, tags, after

    ours = scenario(Pair(BROKERS[server], BROKERS[client], Taker()))
    theirs = scenario(Pair(twisted_pb.Broker, twisted_pb.Broker, Taker()))
    assert ours == theirs
    # What is compared covers every part: both ways, meddled and reset.
    assert [entry[:2] for entry in theirs[0]] == [
        ("sent", "args"),
        ("sent", "kw"),
        ("received", "args"),
        ("received", "kw"),
        ("sent", "answer"),
        ("received", "answer"),
    ]
    assert theirs[0][1][3] == b"take" and theirs[0][3][2] is None
