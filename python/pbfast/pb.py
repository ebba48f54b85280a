# -*- test-case-name: tests.test_pb -*-
"""
Perspective Broker on the native codec: a drop-in for L{twisted.spread.pb}.

L{Broker}, L{PBServerFactory} and L{PBClientFactory} are subclasses of
Twisted's; every other name is Twisted's own object (L{Root},
L{Referenceable}, L{RemoteReference}, L{Copyable}, L{Avatar}, the errors, ...),
so code written against C{twisted.spread.pb} runs unchanged on either broker,
and the two talk to each other over the wire in both directions.

What the broker does natively:

  - receiving: bytes are buffered natively and each message is read whole,
    in time linear in the bytes however they arrive; the jellied parts of a
    call, an answer or an error stay the bytes they arrived as
    (C{pbfast._native.Encoded}) until C{unserialize}, which makes the objects
    straight from them -- once the broker knows for whom (a method call's
    arguments are unjellied with the perspective of the object called);
  - sending: C{serialize} jellies straight to Banana bytes in the connection's
    dialect, and the message around them is encoded in one native call;
  - a method call to an object that keeps Twisted's
    C{Referenceable.remoteMessageReceived}, its answer, and a plain call
    sent are handled natively, message to bytes, by a broker that keeps the
    stock methods they go through (C{pbfast._native.takes_native_path});
    overriding any of them, on the class or the instance, brings Twisted's
    code back for it;
  - the flavors' stock methods are done natively (see L{pbfast.flavors}):
    a L{Copyable}'s type and state, a L{Referenceable}'s reference, a
    L{RemoteCopy}'s C{setCopyableState}.

Everything else -- message dispatch, Deferreds, reference counting, caches,
login -- is Twisted's code, running unchanged.

Beyond Twisted: C{MAX_BROKER_REFS} is per broker (C{Broker.maxBrokerRefs},
which follows this module's C{MAX_BROKER_REFS} until set, and the factories'
C{maxBrokerRefs} argument); and the two L{pbfast.flavors} fixes (observer
comparison, C{observe_*} on the application's object).
"""

from __future__ import annotations

import sys
from typing import Any, ClassVar

from twisted.internet import abstract as _abstract
from twisted.internet import defer
from twisted.internet import tcp as _tcp
from twisted.logger import Logger
from twisted.python import log as _twistedLog
from twisted.python.failure import Failure
from twisted.python.reflect import qual

from pbfast import _native, banana, jelly
from pbfast._errors import InsecureJelly
from pbfast._twisted import pb as _pb
from pbfast.banana import _FollowsModuleGlobal, _NativeCodec
from pbfast.flavors import (
    Cacheable,
    Copyable,
    IPBRoot,
    Jellyable,
    NoSuchMethod,
    Referenceable,
    RemoteCache,
    RemoteCacheObserver,
    RemoteCopy,
    Root,
    Serializable,
    Viewable,
    ViewPoint,
    copyTags,
    setCopierForClass,
    setCopierForClassTree,
    setFactoryForClass,
    setUnjellyableFactoryForClass,
    setUnjellyableForClass,
    setUnjellyableForClassTree,
)

MAX_BROKER_REFS = 1024
"""Most local objects a broker references for its peer, for brokers that set none."""

MAX_CACHED_OBJECTS = 1024
"""Most objects a peer may have a broker cache for it, for brokers that set none."""

MAX_UNSENT_BYTES = 16 * 1024 * 1024
"""
Most bytes a broker lets wait unsent to a peer before it stops reading that
peer's calls (until they drain), for brokers that set none; 0 for no bound.
"""

_log = Logger(namespace="pbfast.pb")

portno = _pb.portno

ProtocolError = _pb.ProtocolError
DeadReferenceError = _pb.DeadReferenceError
Error = _pb.Error
RemoteError = _pb.RemoteError
RemoteMethod = _pb.RemoteMethod
PBConnectionLost = _pb.PBConnectionLost
IPerspective = _pb.IPerspective
Avatar = _pb.Avatar
AsReferenceable = _pb.AsReferenceable
RemoteReference = _pb.RemoteReference
Local = _pb.Local
CopyableFailure = _pb.CopyableFailure
CopiedFailure = _pb.CopiedFailure
failure2Copyable = _pb.failure2Copyable
respond = _pb.respond
challenge = _pb.challenge
IUsernameMD5Password = _pb.IUsernameMD5Password

Perspective = Avatar
"""The name older PB code gives what Twisted now calls L{Avatar}."""

__all__ = [
    "MAX_BROKER_REFS",
    "MAX_CACHED_OBJECTS",
    "MAX_UNSENT_BYTES",
    "AsReferenceable",
    "Avatar",
    "Broker",
    "Cacheable",
    "CopiedFailure",
    "Copyable",
    "CopyableFailure",
    "DeadReferenceError",
    "Error",
    "IPBRoot",
    "IPerspective",
    "IUsernameMD5Password",
    "Jellyable",
    "NoSuchMethod",
    "PBClientFactory",
    "PBConnectionLost",
    "PBServerFactory",
    "Perspective",
    "ProtocolError",
    "Referenceable",
    "RemoteCache",
    "RemoteCacheObserver",
    "RemoteCopy",
    "RemoteError",
    "RemoteMethod",
    "RemoteReference",
    "Root",
    "Serializable",
    "ViewPoint",
    "Viewable",
    "challenge",
    "copyTags",
    "failure2Copyable",
    "portno",
    "respond",
    "setCopierForClass",
    "setCopierForClassTree",
    "setFactoryForClass",
    "setUnjellyableFactoryForClass",
    "setUnjellyableForClass",
    "setUnjellyableForClassTree",
]


def __getattr__(name: str) -> Any:
    # Twisted's private names, for code that reaches for them.
    try:
        return getattr(_pb, name)
    except AttributeError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None


class _NativeBroker(_NativeCodec):
    """
    The native methods of a Perspective Broker, over those of L{_NativeCodec}:
    serializing straight to bytes and back, per-broker reference limits, and
    cache messages delivered to the application's own L{RemoteCache}. They
    serve L{Broker} and, once L{pbfast.install} has patched them in, Twisted's
    C{Broker}; so they call Twisted's methods explicitly, never through
    C{super()}.
    """

    _jelliedMessages: ClassVar[bool] = True
    _refsModule: ClassVar[Any] = sys.modules[__name__]
    maxBrokerRefs = _FollowsModuleGlobal(
        "MAX_BROKER_REFS", "maxBrokerRefs", "_refsModule", sys.modules[__name__]
    )
    maxCachedObjects = _FollowsModuleGlobal(
        "MAX_CACHED_OBJECTS", "maxCachedObjects", "_refsModule", sys.modules[__name__]
    )
    locallyCachedObjects: dict[Any, Any]
    transport: Any

    # Read and dispatch the messages a chunk completes. A peer that sends
    # what cannot be read -- malformed or over-limit bytes, a message that
    # is not one, an answer of disallowed objects or to no call -- is not
    # answered further: the connection is dropped, with one log event saying
    # why (see _dropped). Native, bound as a method: no Python frame a chunk.
    dataReceived = _native.as_method(_native.data_received)

    def connectionReady(self) -> None:
        """
        Twisted's C{connectionReady}, then the bound on what waits unsent to
        the peer: a peer that sends calls and does not read their answers
        would have the transport buffer them without end (see
        L{_UnsentBound}).
        """
        _TWISTED_CONNECTION_READY(self)  # type: ignore[arg-type]
        _UnsentBound.register(self)

    # Twisted's _sendMessage (what callRemote calls), with the arguments
    # jellied straight to bytes and the message encoded once: Twisted's own
    # for a call that asks for pbcallback, pberrback or pbanswer, or a broker
    # whose class changes a method it goes through. Native, bound as a
    # method: no Python frame a call.
    _sendMessage = _native.as_method(_native.send_message)

    def expressionReceived(self, sexp: Any) -> None:
        """
        Twisted's dispatch of a message to its C{proto_} method, except that
        a command not understood is answered as the protocol intends: with
        C{didNotUnderstand} and the command as bytes. (Twisted's broker sends
        it as a C{str}, which Banana cannot encode, so it drops the
        connection instead of answering.)
        """
        if isinstance(sexp, list):
            command = sexp[0]
            if not isinstance(command, str):
                command = command.decode("utf8")
            method = getattr(self, f"proto_{command}", None)
            if method:
                method(*sexp[1:])
            else:
                self.sendCall(b"didNotUnderstand", command.encode("utf8"))  # type: ignore[attr-defined]
        else:
            raise ProtocolError("Non-list expression received.")

    def _peer(self) -> Any:
        """The peer's address, for log events (None without a transport that knows it)."""
        getPeer = getattr(self.transport, "getPeer", None)
        return None if getPeer is None else getPeer()

    security: Any
    serializingPerspective: Any
    unserializingPerspective: Any
    jellyMethod: Any
    jellyArgs: Any
    jellyKw: Any
    luids: dict[Any, Any]
    localObjects: dict[Any, Any]
    remotelyCachedObjects: dict[Any, Any]
    remotelyCachedLUIDs: dict[Any, Any]
    maxBrokerRefsViolations: int

    def serialize(
        self,
        object: Any,
        perspective: Any = None,
        method: Any = None,
        args: Any = None,
        kw: Any = None,
    ) -> Any:
        """
        Jelly an object according to the remote security rules for this
        broker: straight to Banana bytes, as a C{_native.Encoded} that the
        message carrying it copies as it is.

        @param object: The object to jelly.
        @param perspective: The perspective.
        @param method: The method.
        @param args: Arguments.
        @param kw: Keyword arguments.
        """
        if isinstance(object, defer.Deferred):
            # Answers still to come, for a server stopping gracefully.
            self._answersPending = getattr(self, "_answersPending", 0) + 1
            object.addCallbacks(self._answerReady, self._answerReady)
            object.addCallbacks(
                self.serialize,
                lambda x: x,
                callbackKeywords={
                    "perspective": perspective,
                    "method": method,
                    "args": args,
                    "kw": kw,
                },
            )
            return object
        self.serializingPerspective = perspective
        self.jellyMethod = method
        self.jellyArgs = args
        self.jellyKw = kw
        try:
            return _native.serialize(
                object,
                self.security,
                self,
                self._sendingVocabulary(),
                self._effectivePrefixLimit(),
                self.sizeLimit,
                self.maxDepth,
            )
        finally:
            self.serializingPerspective = None
            self.jellyMethod = None
            self.jellyArgs = None
            self.jellyKw = None

    def _answerReady(self, result: Any) -> Any:
        self._answersPending -= 1
        return result

    def unserialize(self, sexp: Any, perspective: Any = None) -> Any:
        """
        Unjelly what was received according to the local security rules for
        this broker: straight from its bytes, or from an s-expression.

        @param sexp: The object to unjelly.
        @param perspective: The perspective.
        """
        self.unserializingPerspective = perspective
        try:
            if type(sexp) is _native.Encoded:
                # Received bytes: the limits were checked as they arrived.
                return _native.unserialize(sexp, self.security, self)
            return jelly.unjelly(sexp, self.security, None, self)
        finally:
            self.unserializingPerspective = None

    def proto_answer(self, requestID: Any, netResult: Any) -> None:
        """
        (internal) Got an answer to a previously sent message: the caller's
        Deferred gets it -- or, if it cannot be read, the error (Twisted's
        broker forgets the Deferred, which then never fires), which then
        drops the connection (see L{dataReceived}).

        @param requestID: The request ID.
        @param netResult: The answer.
        """
        self._deliver(requestID, netResult, answered=True)

    def proto_error(self, requestID: Any, fail: Any) -> None:
        """
        (internal) Deal with an error: as L{proto_answer}, to the errback.

        @param requestID: The request ID.
        @param fail: The failure.
        """
        self._deliver(requestID, fail, answered=False)

    def _deliver(self, requestID: Any, netResult: Any, answered: bool) -> None:
        d = self.waitingForAnswers.pop(requestID)  # type: ignore[attr-defined]
        try:
            result = self.unserialize(netResult)
        except BaseException:
            d.errback()
            raise
        if answered:
            d.callback(result)
        else:
            d.errback(result)

    def _refuseBeyond(self, table: dict[Any, Any], what: str) -> None:
        """
        Twisted's check of a table against the reference limit, per broker,
        and a log event when it refuses (the fourth refusal drops the
        connection, as Twisted's does).
        """
        limit = self.maxBrokerRefs
        if len(table) > limit:
            self.maxBrokerRefsViolations = violations = self.maxBrokerRefsViolations + 1
            dropping = violations > 3
            _log.warn(
                "Refusing {peer}: {reason}"
                + (" (refusal {violations}: dropping the connection)" if dropping else ""),
                peer=self._peer(),
                what=what,
                limit=limit,
                violations=violations,
                reason=f"a {what} beyond the limit of {limit}",
            )
            if dropping:
                self.transport.loseConnection()
                raise Error(f"Maximum PB {what} count exceeded.  Goodbye.")
            raise Error(f"Maximum PB {what} count exceeded.")

    def registerReference(self, object: Any) -> Any:
        """
        Store a persistent reference to a local object and map its
        id() to a generated, session-unique ID.

        @param object: a local object
        @return: the generated ID
        """
        assert object is not None
        puid = object.processUniqueID()
        luid = self.luids.get(puid)
        if luid is None:
            self._refuseBeyond(self.localObjects, "reference")
            luid = self.newLocalID()  # type: ignore[attr-defined]
            self.localObjects[luid] = Local(object)
            self.luids[puid] = luid
        else:
            self.localObjects[luid].incref()
        return luid

    def cacheRemotely(self, instance: Any) -> Any:
        """
        Give C{instance} a new LUID as an object cached by the peer.

        @return: A new LUID.
        """
        puid = instance.processUniqueID()
        luid = self.newLocalID()  # type: ignore[attr-defined]
        self._refuseBeyond(self.remotelyCachedObjects, "cache")
        self.remotelyCachedLUIDs[puid] = luid
        self.remotelyCachedObjects[luid] = Local(instance, self.serializingPerspective)
        return luid

    def cacheLocally(self, cid: Any, instance: Any) -> None:
        """
        (internal) Store a non-filled-out cached instance locally: at most
        C{maxCachedObjects} of them, so that a peer cannot have this broker
        keep objects without bound.
        """
        cached = self.locallyCachedObjects
        limit = self.maxCachedObjects
        if cid not in cached and len(cached) >= limit:
            reason = f"the peer has this broker cache more than {limit} objects"
            _log.warn(
                "Refusing {peer}: {reason}",
                peer=self._peer(),
                what="cached object",
                limit=limit,
                reason=reason,
            )
            raise InsecureJelly(reason)
        cached[cid] = instance

    def _sendError(self, fail: Any, requestID: Any) -> None:
        """
        (internal) Answer call C{requestID} with an error, as Twisted's broker
        does, and say so in a log event: C{peer}, C{requestID}, C{errorType}
        and C{reason} -- at level info for L{pb.Error}s, which a remote method
        raises to answer with them, and warn for anything else (Twisted
        logs those with their traceback too).
        """
        # A Failure (CopyableFailure too) or the error itself.
        error = fail.value if isinstance(fail, Failure) else fail
        (_log.info if isinstance(error, Error) else _log.warn)(
            "Answering call {requestID} of {peer} with an error: {errorType}: {reason}",
            peer=self._peer(),
            requestID=requestID,
            errorType=qual(type(error)),
            reason=str(error),
        )
        _TWISTED_SEND_ERROR(self, fail, requestID)  # type: ignore[arg-type]

    @property
    def _pbfastCacheHolders(self) -> dict[Any, list[Any]]:
        """
        The objects handed to the application for each object the peer
        caches here, as weak references (see L{pbfast.flavors._handedOut}).
        """
        holders: dict[Any, list[Any]] = self.__dict__.setdefault("_pbfastCacheHolderTable", {})
        return holders

    def _observedCache(self, luid: Any) -> Any:
        """
        The L{RemoteCache} that a cache message for C{luid} is for: an object
        the application holds, so that C{self} in C{observe_*} is the
        application's object; else the broker's own copy.
        """
        for held in self._pbfastCacheHolders.get(luid, ()):
            cache = held()
            if cache is not None:
                return cache
        return self.cachedLocallyAs(luid)  # type: ignore[attr-defined]

    def proto_cachemessage(
        self,
        requestID: Any,
        objectID: Any,
        message: Any,
        answerRequired: Any,
        netArgs: Any,
        netKw: Any,
    ) -> None:
        self._recvMessage(  # type: ignore[attr-defined]
            self._observedCache, requestID, objectID, message, answerRequired, netArgs, netKw
        )

    def proto_uncache(self, objectID: Any) -> None:
        """
        (internal) Tell the client it is now OK to uncache an object.

        @param objectID: The object ID.
        """
        _TWISTED_PROTO_UNCACHE(self, objectID)  # type: ignore[arg-type]
        self._pbfastCacheHolders.pop(objectID, None)


_STOCK_REMOTE_MESSAGE_RECEIVED = Referenceable.remoteMessageReceived
"""Twisted's C{Referenceable.remoteMessageReceived}: objects that keep it take the native path."""


def _callFailed(broker: Any, requestID: Any, answerRequired: Any, error: BaseException) -> None:
    """
    The C{except} clauses of Twisted's C{Broker._recvMessage}, for C{error},
    raised where the native path stood in for its C{try} (the lookup of
    the method, the arguments unjellied, the call, the result jellied).
    """
    try:
        raise error
    except Error as e:
        if answerRequired:
            if isinstance(e, Jellyable) or broker.security.isClassAllowed(e.__class__):
                broker._sendError(e, requestID)
            else:
                broker._sendError(CopyableFailure(e), requestID)
    except BaseException:
        if answerRequired:
            _twistedLog.msg("Peer will receive following PB traceback:", isError=True)
            f = CopyableFailure()
            broker._sendError(f, requestID)
        _twistedLog.err()


def _dropped(broker: Any, error: Exception) -> None:
    """
    A broker's peer sent what cannot be read (C{error}): nothing more is read
    from it (the native side checks the mark set here), one log event says
    why (C{peer}, C{reason}, C{errorType}, and the stream C{offset} and the
    C{limit} where the bytes were at fault), and the connection is closed.
    Twisted's broker lets such errors escape from C{dataReceived}, which
    drops the connection too, logging a traceback.
    """
    broker.__dict__["_pbfastDropped"] = True
    _log.warn(
        "Dropping the connection to {peer}: {reason}",
        peer=broker._peer(),
        reason=str(error),
        errorType=qual(type(error)),
        offset=getattr(error, "offset", None),
        limit=getattr(error, "limit", None),
    )
    broker.transport.loseConnection()


def _resultReady(
    broker: Any, requestID: Any, answerRequired: Any, state: Any, perspective: Any
) -> None:
    """
    The rest of Twisted's C{_recvMessage} once the C{remote_} method
    returned C{state}, for a result the native path does not answer itself
    (a Deferred, or no answer asked for): C{serialize(state, perspective)},
    then the answer, now or when the Deferred fires.
    """
    try:
        netResult = broker.serialize(state, perspective)
    except BaseException as error:
        _callFailed(broker, requestID, answerRequired, error)
        return
    if answerRequired:
        if isinstance(netResult, defer.Deferred):
            args = (requestID,)
            netResult.addCallbacks(
                broker._sendAnswer,
                broker._sendFailureOrError,
                callbackArgs=args,
                errbackArgs=args,
            )
        else:
            broker._sendAnswer(netResult, requestID)


def _answerUnreadable(deferred: defer.Deferred[Any], error: BaseException) -> None:
    """An answer that cannot be read fails its call, and is raised again (see L{_deliver})."""
    try:
        raise error
    except BaseException:
        deferred.errback()
        raise


def _sendFailed(error: BaseException) -> defer.Deferred[Any]:
    """What Twisted's C{_sendMessage} returns when serializing the arguments raised C{error}."""
    return defer.fail(Failure(error))


def _starCall(method: Any, args: Any, kw: Any) -> Any:
    """C{method(*args, **kw)}, for arguments that are no exact tuple and dict."""
    return method(*args, **kw)


# The broker's methods each native path goes through, with what each must be
# for the path (pbfast._native.takes_native_path) to do what they would:
# pbfast's own where its broker has one, else Twisted's, as this module found
# them before install() could patch Twisted's class.
_NATIVE_PATHS = {
    # A method call received, up to the method's call (the answer's
    # vocabulary and prefix limit are read before it).
    "call": (
        "callExpressionReceived",
        "expressionReceived",
        "proto_message",
        "_recvMessage",
        "localObjectForID",
        "unserialize",
        "_sendingVocabulary",
        "_effectivePrefixLimit",
    ),
    # Its answer, asked again once the method has run (it may have changed
    # its broker).
    "reply": (
        "serialize",
        "_sendAnswer",
        "sendCall",
        "sendEncoded",
        "_encode",
        "_encodeToBytes",
        "_sendingVocabulary",
        "_effectivePrefixLimit",
    ),
    # An answer received.
    "answer": (
        "callExpressionReceived",
        "expressionReceived",
        "proto_answer",
        "_deliver",
        "unserialize",
    ),
    # A call sent (what _sendMessage does).
    "send": (
        "serialize",
        "newRequestID",
        "sendCall",
        "sendEncoded",
        "_encode",
        "_encodeToBytes",
        "_sendingVocabulary",
        "_effectivePrefixLimit",
    ),
    # Bytes received: what the receiving loop reads without the call.
    "receive": ("_nativeDecoder", "_effectivePrefixLimit"),
}
# Every method a path stands in for.
_NATIVE_PATH_METHODS = tuple(
    dict.fromkeys(name for names in _NATIVE_PATHS.values() for name in names)
)


def _expectedMethod(name: str) -> Any:
    for cls in (_NativeBroker, _NativeCodec):
        if name in cls.__dict__:
            return cls.__dict__[name]
    return getattr(_pb.Broker, name)


_FAST_PATH_EXPECTED = {name: _expectedMethod(name) for name in _NATIVE_PATH_METHODS}
_TWISTED_SEND_MESSAGE = _pb.Broker._sendMessage
_TWISTED_CONNECTION_READY = _pb.Broker.connectionReady
_TWISTED_PROTO_UNCACHE = _pb.Broker.proto_uncache
_TWISTED_SEND_ERROR = _pb.Broker._sendError

# A message the native path writes may go out on the socket at once, where
# the transport is one of Twisted's own TCP transports that keeps these, the
# methods a write goes through (write, then doWrite on the reactor's turn):
# see rust/broker/outgoing.rs.
_DIRECT_SEND_TRANSPORTS = (_tcp.Server, _tcp.Client)
_DIRECT_SEND_EXPECTED = {
    name: getattr(_tcp.Connection, name)
    for name in ("write", "doWrite", "writeSomeData", "startWriting", "_maybePauseProducer")
}
# ... and what those call by their class: (a base of both transports, name,
# the method).
_DIRECT_SEND_CALLED = ((_abstract.FileDescriptor, "write", _abstract.FileDescriptor.write),)


# Twisted's TLS layer over another transport (none without pyOpenSSL).
_TLS_LAYERS: tuple[type[Any], ...]
try:
    from twisted.protocols.tls import TLSMemoryBIOProtocol

    _TLS_LAYERS = (TLSMemoryBIOProtocol,)
except ImportError:  # pragma: no cover - without pyOpenSSL there is no TLS layer
    _TLS_LAYERS = ()


def _countsUnsent(transport: Any) -> bool:
    """True if C{transport} counts what waits unsent as Twisted's own transports do."""
    return all(
        hasattr(transport, name) for name in ("dataBuffer", "offset", "_tempDataLen", "producer")
    )


class _UnsentBound:
    """
    A broker's reading of its peer, as the streaming producer of the
    broker's transport (Twisted's producer/consumer): answers are what a
    broker produces, and calls read are what makes them, so a broker whose
    peer does not read its answers stops reading the peer's calls while more
    than C{maxUnsentBytes} wait unsent, and reads again once the transport
    has sent them all. The server's memory for that peer stays within the
    bound (and the answers to one chunk of calls); its other peers are served
    meanwhile.

    The transport asks for a pause whenever more than its own C{bufferSize}
    (64 KiB) waits; the bound is checked then, with the transport's own count
    of what waits (C{dataBuffer} past C{offset}, and C{_tempDataLen}). A TLS
    layer over TCP (C{listenSSL}, C{connectSSL}, C{ssl:} endpoints) is bounded
    at the TCP transport under it, which keeps that count: registered with the
    TLS layer itself, the bound would keep it from ever closing (its
    C{loseConnection} waits for its producer to be unregistered, which a
    broker's reading never is). A transport that already has a producer, or
    keeps no count, is left as it is.
    """

    def __init__(self, broker: Any, bound: int, transport: Any) -> None:
        self.broker, self.bound, self.transport = broker, bound, transport
        self.paused = False

    @classmethod
    def register(cls, broker: Any) -> None:
        """Bound what waits unsent on C{broker}'s transport, if it has a bound."""
        bound = getattr(broker, "maxUnsentBytes", None)
        if bound is None:
            bound = MAX_UNSENT_BYTES
        transport: Any = broker.transport
        if isinstance(transport, _TLS_LAYERS):
            transport = transport.transport
        if not bound or not _countsUnsent(transport) or transport.producer is not None:
            return
        transport.registerProducer(cls(broker, bound, transport), True)

    def unsent(self) -> int:
        waiting = len(self.transport.dataBuffer) - self.transport.offset
        return int(waiting + self.transport._tempDataLen)

    def pauseProducing(self) -> None:
        unsent = self.unsent()
        if self.paused or unsent <= self.bound:
            return
        self.paused = True
        _log.warn(
            "{peer} is not reading its answers: {unsent} bytes wait unsent (bound: "
            "{bound}); its calls are not read until they are sent",
            peer=self.broker._peer(),
            unsent=unsent,
            bound=self.bound,
        )
        self.transport.pauseProducing()

    def resumeProducing(self) -> None:
        if not self.paused:
            return
        self.paused = False
        _log.info("{peer} read its answers: reading its calls again", peer=self.broker._peer())
        self.transport.resumeProducing()

    def stopProducing(self) -> None:
        self.paused = False


class Broker(_NativeBroker, banana.Banana, _pb.Broker):
    """
    I am a broker for objects: Twisted's C{Broker}, on the native codec.
    """


class _BrokerSettings:
    """
    Limits a factory gives every broker it builds, as keyword arguments of
    the factory or its attributes; None leaves a broker's own (which follow
    the module globals: C{MAX_BROKER_REFS}, C{MAX_CACHED_OBJECTS},
    C{MAX_UNSENT_BYTES} here, C{MAX_MESSAGE_SIZE}, C{MAX_DEPTH}, C{SIZE_LIMIT}
    in L{pbfast.banana}).

    @ivar maxBrokerRefs: most local objects referenced for the peer.
    @ivar maxCachedObjects: most objects the peer may have cached here.
    @ivar maxUnsentBytes: most bytes waiting unsent to the peer before the
        broker stops reading it until they are sent (0: no bound).
    @ivar maxMessageSize: most bytes in one message received.
    @ivar maxDepth: deepest nesting of lists in a message received or sent.
    @ivar sizeLimit: most items in a list, bytes in a string.
    """

    SETTINGS: ClassVar[tuple[str, ...]] = (
        "maxBrokerRefs",
        "maxCachedObjects",
        "maxUnsentBytes",
        "maxMessageSize",
        "maxDepth",
        "sizeLimit",
    )
    maxBrokerRefs: int | None = None
    maxCachedObjects: int | None = None
    maxUnsentBytes: int | None = None
    maxMessageSize: int | None = None
    maxDepth: int | None = None
    sizeLimit: int | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        for name in self.SETTINGS:
            value = kwargs.pop(name, None)
            if value is not None:
                setattr(self, name, value)
        super().__init__(*args, **kwargs)

    def _configured(self, broker: Any) -> Any:
        for name in self.SETTINGS:
            value = getattr(self, name)
            if value is not None:
                setattr(broker, name, value)
        return broker


class PBClientFactory(_BrokerSettings, _pb.PBClientFactory):
    """Client factory for PB brokers: Twisted's, building pbfast's L{Broker}."""

    protocol = Broker

    def buildProtocol(self, addr: Any) -> Any:
        return self._configured(_pb.PBClientFactory.buildProtocol(self, addr))


class PBServerFactory(_BrokerSettings, _pb.PBServerFactory):
    """
    Server factory for perspective broker: Twisted's, building pbfast's
    L{Broker}.

    @ivar maxConnections: most connections served at once (None: no limit);
        beyond it, a new connection is closed as soon as it is accepted, with
        a log event, and the served ones go on. A keyword argument too.
    """

    protocol = Broker
    maxConnections: int | None = None

    def __init__(self, *args: Any, maxConnections: int | None = None, **kwargs: Any) -> None:
        if maxConnections is not None:
            self.maxConnections = maxConnections
        self.served: set[Any] = set()
        super().__init__(*args, **kwargs)

    def buildProtocol(self, addr: Any) -> Any:
        """
        A broker for the connection from C{addr}, or None (which has the
        listening port close it) while C{maxConnections} are served.
        """
        return _servedWithin(
            self,
            lambda: self._configured(_pb.PBServerFactory.buildProtocol(self, addr)),
            addr,
            self.maxConnections,
        )


def _servedWithin(factory: Any, build: Any, addr: Any, maxConnections: int | None) -> Any:
    """
    C{build()}'s broker for the connection from C{addr}, kept in
    C{factory.served} while connected; None, with a log event, while
    C{maxConnections} are served (a listening port closes a connection its
    factory builds nothing for).
    """
    served = factory.__dict__.setdefault("served", set())
    if maxConnections is not None and len(served) >= maxConnections:
        _log.warn(
            "Refusing the connection from {peer}: {served} connections served (maxConnections)",
            peer=addr,
            served=len(served),
        )
        return None
    broker = build()
    if broker is not None:
        served.add(broker)
        broker.notifyOnDisconnect(lambda: served.discard(broker))
    return broker
