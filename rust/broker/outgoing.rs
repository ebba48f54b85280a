//! What the native path writes on a connection while its broker's receiving
//! loop runs (a call's answer, a call sent from an answer's callback): held,
//! and handed to the transport in one piece when the loop has read all it
//! was given; on an idle TCP connection, sent on the socket at once.
//!
//! Twisted's TCP transport takes each message through a dozen Python calls
//! (`write`, `FileDescriptor.write`, `_maybePauseProducer`, `startWriting`,
//! the reactor's `addWriter`), keeps it, and sends it when the reactor, on
//! a later turn, finds the socket writable: the watching for that costs an
//! `epoll_ctl` to start and one to stop. A chunk of pipelined calls took
//! those Python calls once for every answer; a call answered one at a time
//! took a reactor turn and two system calls more than its bytes need.
//! asyncio's transports send at once when nothing waits to be sent. So does
//! pbfast's broker, for what it writes natively:
//!
//! - while a receiving loop runs ([`receiving`]), the bytes the native path
//!   writes for the broker's transport are held ([`write_message`]), where
//!   the transport is Twisted's own TCP transport (`tcp.Server` or
//!   `tcp.Client`, exactly) whose class keeps Twisted's methods that a
//!   write goes through (`pbfast.pb._DIRECT_SEND_EXPECTED`), with no
//!   descriptor for the state read here, and the instance has none of those
//!   methods of its own ([`Plain`]), not in TLS, connected;
//! - what Python code writes on the transport meanwhile (a method that
//!   calls its caller back before answering, a message the broker's Python
//!   code handles) is appended to the transport's buffer, as Twisted's
//!   `write` appends it. Before more is held, and when the loop ends, the
//!   buffer is looked at: where something was appended since the bytes
//!   began to be held, they are put in the buffer before it
//!   (`_tempDataBuffer`, counted in `_tempDataLen`), where Twisted's
//!   transport would have kept them. The bytes on the wire are in the order
//!   of the writes;
//! - the last message of what was received, where nothing is held, has its
//!   first write sent on an idle socket at once, not held (a call answered
//!   one at a time costs nothing more);
//! - when the loop ends, the bytes held are given to the transport: sent on
//!   the socket at once (`socket.send`, with `MSG_DONTWAIT`) where nothing
//!   waits unsent in it, it is not closing, and its producer, if any, is a
//!   streaming one not paused (the only kind that a write followed by
//!   `doWrite` would not call); what the socket does not take (a full send
//!   buffer), or everything where sending fails, or where the transport is
//!   not idle, goes to `transport.write`, so that Twisted's code sends it, or
//!   meets the error and loses the connection, as it would have.
//!
//! Outside a receiving loop (a call sent from a timer), the transport's
//! `write` is called, as Twisted's broker calls it: a burst of calls goes
//! out together on the reactor's turn.
//!
//! One way a write could be reordered is left: Python code that, while the
//! bytes are held, both writes on the transport and runs the reactor so
//! that it sends (a remote method calling `reactor.iterate()`, which
//! Twisted does not support from within a callback). The buffer is then
//! found emptied or replaced, not appended to, and the bytes held go after
//! what was sent.

use std::cell::RefCell;

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBool, PyBytes, PyDict, PyInt, PyList, PyString, PyType};

use super::stock::version_tag;
use crate::jelly::hooks::{method_function, type_lookup};
use crate::pybanana::instance::looks_up_as_object;
use crate::pybanana::watched::{lock, Cache};

/// What a broker's receiving loop holds (see [`receiving`]).
struct Loop {
    /// The broker's address (alive while its loop runs).
    broker: usize,
    /// The bytes held, if any.
    held: Option<Held>,
    /// Whether the message being handled is the last of what was received.
    last: bool,
    /// Whether a write went out at once while the last message was handled.
    sent: bool,
}

/// Bytes held for a transport, and the state of its buffer when they began
/// to be held (or were last found in place).
struct Held {
    transport: Py<PyAny>,
    bytes: Vec<u8>,
    mark: Mark,
}

/// A transport's buffer at one moment: the list `_tempDataBuffer` and its
/// length, `dataBuffer`, `offset`. The objects themselves are kept, so that
/// while they are an address cannot be another object's.
struct Mark {
    listed: Py<PyList>,
    length: usize,
    buffer: Py<PyAny>,
    offset: usize,
}

thread_local! {
    /// The receiving loops running on this thread, innermost last (a
    /// handler may run another loop, as a test's loopback pump does).
    static LOOPS: RefCell<Vec<Loop>> = const { RefCell::new(Vec::new()) };
}

/// A broker's receiving loop running, from [`receiving`] to
/// [`Receiving::finish`].
pub(crate) struct Receiving {
    broker: usize,
    finished: bool,
}

/// `broker`'s receiving loop starts: what the native path writes for it
/// until [`Receiving::finish`] is held. Bytes an outer loop of the same
/// broker holds (a loop run from within its own handling) are handed over
/// first, as they were written first.
pub(crate) fn receiving(broker: &Bound<'_, PyAny>) -> PyResult<Receiving> {
    let address = broker.as_ptr() as usize;
    if let Some(held) = take_held(address) {
        hand_over(broker.py(), held)?;
    }
    LOOPS.with(|loops| {
        loops.borrow_mut().push(Loop {
            broker: address,
            held: None,
            last: false,
            sent: false,
        })
    });
    Ok(Receiving {
        broker: address,
        finished: false,
    })
}

impl Receiving {
    /// The loop has ended: what it holds is given to the transport (sent at
    /// once on an idle socket).
    pub(crate) fn finish(mut self, py: Python<'_>) -> PyResult<()> {
        self.finished = true;
        let held = LOOPS.with(|loops| {
            let mut loops = loops.borrow_mut();
            let index = loops.iter().rposition(|each| each.broker == self.broker);
            index.and_then(|index| loops.remove(index).held)
        });
        match held {
            Some(held) => send_held(py, held),
            None => Ok(()),
        }
    }
}

impl Drop for Receiving {
    fn drop(&mut self) {
        // Only where `finish` was not reached (a panic): the entry goes.
        if !self.finished {
            LOOPS.with(|loops| {
                let mut loops = loops.borrow_mut();
                if let Some(index) = loops.iter().rposition(|each| each.broker == self.broker) {
                    loops.remove(index);
                }
            });
        }
    }
}

/// `f` of the innermost loop of the broker at `address`, if one runs. (No
/// Python code runs in `f`: the loops are not borrowed while it may.)
fn innermost<R>(address: usize, f: impl FnOnce(&mut Loop) -> R) -> Option<R> {
    LOOPS.with(|loops| {
        loops
            .borrow_mut()
            .iter_mut()
            .rev()
            .find(|each| each.broker == address)
            .map(f)
    })
}

/// What the innermost loop of the broker at `address` held (taken from it).
fn take_held(address: usize) -> Option<Held> {
    innermost(address, |each| each.held.take()).flatten()
}

/// `broker`'s receiving loop handles a message, the last of what it has
/// received if `last`: a write of the last message's handling, with
/// nothing held, may go out at once (one message answered at a time costs
/// no holding then).
pub(crate) fn reading(broker: &Bound<'_, PyAny>, last: bool) {
    innermost(broker.as_ptr() as usize, |each| each.last = last);
}

/// True if the innermost loop of the broker at `address` handles the last
/// message received and nothing went out at once for it yet; it is then
/// marked as having sent.
fn take_turn(address: usize) -> bool {
    innermost(address, |each| {
        let turn = each.last && !each.sent;
        each.sent |= turn;
        turn
    })
    .unwrap_or(false)
}

/// True if a loop of the broker at `address` is running.
fn in_loop(address: usize) -> bool {
    innermost(address, |_| ()).is_some()
}

/// Puts `held` back in the innermost loop of the broker at `address`. Where
/// that loop holds bytes again (written while Python code ran for the
/// write that made `held`: a producer told the buffer is full calling the
/// broker, say), those were written first: `held` goes after them.
fn put_held(py: Python<'_>, address: usize, held: Held) -> PyResult<()> {
    let mut held = Some(held);
    let earlier = innermost(address, |each| match &mut each.held {
        Some(earlier)
            if held
                .as_ref()
                .is_some_and(|held| earlier.transport.is(&held.transport)) =>
        {
            earlier
                .bytes
                .extend_from_slice(&held.take().map(|held| held.bytes).unwrap_or_default());
            None
        }
        slot => std::mem::replace(slot, held.take()),
    })
    .flatten();
    // Held for another transport: handed over, as written first.
    match earlier {
        Some(earlier) => {
            let later = take_held(address);
            hand_over(py, earlier)?;
            match later {
                Some(later) => put_held(py, address, later),
                None => Ok(()),
            }
        }
        None => Ok(()),
    }
}

/// `transport.write(data)`, for a message `broker` writes natively: held
/// while its receiving loop runs, where the module's conditions hold; else
/// the transport's `write` itself.
pub(crate) fn write_message<'py>(
    broker: &Bound<'py, PyAny>,
    transport: &Bound<'py, PyAny>,
    data: Bound<'py, PyBytes>,
) -> PyResult<()> {
    let py = broker.py();
    let address = broker.as_ptr() as usize;
    if !in_loop(address) {
        return write(transport, &data);
    }
    // Taken out while Python may run, put back once more is held.
    let held = match take_held(address) {
        // Held for another transport (the broker's was replaced): handed
        // over first, as written first.
        Some(held) if !held.transport.is(transport) => {
            hand_over(py, held)?;
            None
        }
        // Still in place, unless Python code wrote since.
        Some(held) => in_place(py, held)?,
        None => None,
    };
    let held = match held {
        Some(mut held) => {
            held.bytes.extend_from_slice(data.as_bytes());
            held
        }
        None => {
            let Some(plain) = Plain::of(transport)? else {
                return write(transport, &data);
            };
            // The last message's first write, with nothing held, on an idle
            // transport: sent now (what the socket does not take, written).
            if take_turn(address) {
                if let Some(socket) = plain.idle_socket()? {
                    let sent = send(socket, data.as_bytes()).unwrap_or(0);
                    if sent < data.as_bytes().len() {
                        write(transport, &PyBytes::new(py, &data.as_bytes()[sent..]))?;
                    }
                    return Ok(());
                }
            }
            let Some(mark) = plain.mark()? else {
                return write(transport, &data);
            };
            if !plain.writable()? {
                return write(transport, &data);
            }
            Held {
                transport: transport.clone().unbind(),
                bytes: data.as_bytes().to_vec(),
                mark,
            }
        }
    };
    put_held(py, address, held)
}

fn write(transport: &Bound<'_, PyAny>, data: &Bound<'_, PyBytes>) -> PyResult<()> {
    transport.call_method1(pyo3::intern!(transport.py(), "write"), (data,))?;
    Ok(())
}

/// `held`, if its place in the transport's buffer is still the end: nothing
/// was written since its mark. Where something was appended since, the
/// bytes are put before it, where Twisted's transport would have kept them,
/// and `None`: nothing is held any more.
fn in_place(py: Python<'_>, held: Held) -> PyResult<Option<Held>> {
    let transport = held.transport.bind(py);
    let now = Plain::read_mark(transport)?;
    let mark = &held.mark;
    match now {
        Some(now) if now.length == mark.length && same(py, &now, mark) => Ok(Some(held)),
        Some(now) if now.length > mark.length && same(py, &now, mark) => {
            // Appended to, since: the bytes go where they were written,
            // counted as `write` counts them, the producer told as `write`
            // tells it (`startWriting` was called by what was appended).
            let listed = mark.listed.bind(py);
            listed.insert(mark.length, PyBytes::new(py, &held.bytes))?;
            let name = pyo3::intern!(py, "_tempDataLen");
            let counted = transport.getattr(name)?.add(held.bytes.len())?;
            transport.setattr(name, counted)?;
            transport.call_method0(pyo3::intern!(py, "_maybePauseProducer"))?;
            Ok(None)
        }
        // Sent, replaced or gone since (see the module's comment): written
        // after what is there.
        _ => {
            write(transport, &PyBytes::new(py, &held.bytes))?;
            Ok(None)
        }
    }
}

/// True if `now` is the same buffer as `mark`, appended to at most.
fn same(py: Python<'_>, now: &Mark, mark: &Mark) -> bool {
    now.listed.bind(py).is(mark.listed.bind(py))
        && now.buffer.bind(py).is(mark.buffer.bind(py))
        && now.offset == mark.offset
}

/// `held` given to its transport's `write` (after what was appended since,
/// if anything was: see [`in_place`]).
fn hand_over(py: Python<'_>, held: Held) -> PyResult<()> {
    if let Some(held) = in_place(py, held)? {
        let transport = held.transport.bind(py);
        write(transport, &PyBytes::new(py, &held.bytes))?;
    }
    Ok(())
}

/// `held` given to its transport at the loop's end: sent on the socket at
/// once where the transport is idle (see the module's comment), what the
/// socket does not take through `write`.
fn send_held(py: Python<'_>, held: Held) -> PyResult<()> {
    let Some(held) = in_place(py, held)? else {
        return Ok(());
    };
    let transport = held.transport.bind(py);
    let socket = match Plain::of(transport)? {
        Some(plain) => plain.idle_socket()?,
        None => None,
    };
    let bytes = &held.bytes;
    let sent = socket.and_then(|socket| send(socket, bytes)).unwrap_or(0);
    if sent < bytes.len() {
        write(transport, &PyBytes::new(py, &bytes[sent..]))?;
    }
    Ok(())
}

/// What is read of a transport: no descriptors on its class (checked), so
/// that reading one is reading the instance's attribute, else the class's
/// value.
const STATE: [&str; 12] = [
    "TLS",
    "connected",
    "disconnecting",
    "_writeDisconnected",
    "producer",
    "streamingProducer",
    "producerPaused",
    "dataBuffer",
    "offset",
    "_tempDataBuffer",
    "_tempDataLen",
    "socket",
];
// Their places in STATE.
const TLS: usize = 0;
const CONNECTED: usize = 1;
const DISCONNECTING: usize = 2;
const WRITE_DISCONNECTED: usize = 3;
const PRODUCER: usize = 4;
const STREAMING_PRODUCER: usize = 5;
const PRODUCER_PAUSED: usize = 6;
const DATA_BUFFER: usize = 7;
const OFFSET: usize = 8;
const TEMP_DATA_BUFFER: usize = 9;
const TEMP_DATA_LEN: usize = 10;
const SOCKET: usize = 11;

/// The transports and methods from `pbfast.pb`, looked up once.
struct Expected {
    transports: Vec<Py<PyType>>,
    methods: Vec<(Py<PyString>, Py<PyAny>)>,
    /// Methods the stock ones call by their class: the class (a base of
    /// every transport in `transports`), the name, the method.
    called: Vec<(Py<PyType>, Py<PyString>, Py<PyAny>)>,
    state: Vec<Py<PyString>>,
    /// `socket.socket`.
    socket: Py<PyType>,
    /// `types.MethodType`.
    method_type: Py<PyType>,
}

fn expected(py: Python<'_>) -> PyResult<&'static Expected> {
    static EXPECTED: PyOnceLock<Expected> = PyOnceLock::new();
    EXPECTED.get_or_try_init(py, || {
        let pb = py.import("pbfast.pb")?;
        let transports = pb
            .getattr("_DIRECT_SEND_TRANSPORTS")?
            .try_iter()?
            .map(|class| Ok(class?.cast_into::<PyType>()?.unbind()))
            .collect::<PyResult<_>>()?;
        let methods = pb
            .getattr("_DIRECT_SEND_EXPECTED")?
            .cast_into::<PyDict>()?
            .iter()
            .map(|(name, method)| {
                let name = PyString::intern(py, name.cast_into::<PyString>()?.to_str()?);
                Ok((name.unbind(), method.unbind()))
            })
            .collect::<PyResult<_>>()?;
        let called = pb
            .getattr("_DIRECT_SEND_CALLED")?
            .try_iter()?
            .map(|entry| {
                let (class, name, method): (Bound<'_, PyType>, String, Bound<'_, PyAny>) =
                    entry?.extract()?;
                Ok((
                    class.unbind(),
                    PyString::intern(py, &name).unbind(),
                    method.unbind(),
                ))
            })
            .collect::<PyResult<_>>()?;
        let state = STATE
            .iter()
            .map(|name| PyString::intern(py, name).unbind())
            .collect();
        let socket = py
            .import("socket")?
            .getattr("socket")?
            .cast_into::<PyType>()?
            .unbind();
        let method_type = py
            .import("types")?
            .getattr("MethodType")?
            .cast_into::<PyType>()?
            .unbind();
        Ok(Expected {
            transports,
            methods,
            called,
            state,
            socket,
            method_type,
        })
    })
}

/// Classes looked at: their address, version tag then, and whether they
/// qualify (see [`class_qualifies`]).
static CLASSES: Cache<Vec<(usize, u32, bool)>> = Cache::new(Vec::new());

/// True if `class` is one of Twisted's TCP transports, keeping the methods
/// a write goes through (and those call, on its bases), looking attributes
/// up as `object` does, with no descriptor for the state read (kept with
/// the class's version tag, which changes whenever the class or a base is
/// changed).
fn class_qualifies(class: &Bound<'_, PyType>, expected: &Expected) -> bool {
    let py = class.py();
    if !expected.transports.iter().any(|known| class.is(known)) {
        return false;
    }
    let address = class.as_ptr() as usize;
    let version = version_tag(class);
    if version != 0 {
        let kept = lock(py, &CLASSES);
        if let Some(&(_, _, qualifies)) = kept
            .iter()
            .find(|&&(known, known_version, _)| known == address && known_version == version)
        {
            return qualifies;
        }
    }
    let qualifies = looks_up_as_object(class)
        && expected.methods.iter().all(|(name, method)| {
            type_lookup(class, name.bind(py)).is_some_and(|found| found.is(method))
        })
        && expected.called.iter().all(|(owner, name, method)| {
            type_lookup(owner.bind(py), name.bind(py)).is_some_and(|found| found.is(method))
        })
        && expected.state.iter().all(|name| {
            // A plain value (or nothing) on the class: no `__get__`, so
            // neither a descriptor nor a method.
            type_lookup(class, name.bind(py)).is_none_or(|found| {
                // SAFETY: reading a slot of a live type object under the GIL.
                unsafe { (*found.get_type().as_type_ptr()).tp_descr_get.is_none() }
            })
        });
    // As in `stock::class_keeps`: the lookups gave the class a tag if it had
    // none, and a tag is never given twice.
    let version = version_tag(class);
    if version != 0 {
        let mut kept = lock(py, &CLASSES);
        kept.retain(|&(known, _, _)| known != address);
        kept.push((address, version, qualifies));
    }
    qualifies
}

/// One of Twisted's TCP transports that writes as Twisted's code does:
/// its class qualifies ([`class_qualifies`]) and the instance has none of
/// the methods a write goes through of its own.
struct Plain<'a, 'py> {
    transport: &'a Bound<'py, PyAny>,
}

impl<'a, 'py> Plain<'a, 'py> {
    fn of(transport: &'a Bound<'py, PyAny>) -> PyResult<Option<Self>> {
        if !cfg!(unix) {
            return Ok(None);
        }
        let py = transport.py();
        let expected = expected(py)?;
        if !class_qualifies(&transport.get_type(), expected) {
            return Ok(None);
        }
        // Looked up as Python looks them up (the instance's own, else the
        // class's, bound): the generic lookup, which runs no Python code
        // here and leaves the instance's attributes where they are. (Its
        // dict, once made, would hold them, and every attribute Twisted's
        // own code reads on the transport would cost a dict lookup from
        // then on.)
        let method_type = expected.method_type.bind(py);
        for (name, method) in &expected.methods {
            let found = transport.getattr(name.bind(py))?;
            if !method_function(&found, transport, method_type)
                .is_some_and(|found| found.is(method))
            {
                return Ok(None);
            }
        }
        Ok(Some(Plain { transport }))
    }

    /// The attribute, as Python reads it: for a transport of a class that
    /// qualifies (no descriptors), a lookup that runs no Python code.
    fn read(transport: &Bound<'py, PyAny>, index: usize) -> PyResult<Option<Bound<'py, PyAny>>> {
        let py = transport.py();
        transport.getattr_opt(expected(py)?.state[index].bind(py))
    }

    /// A count Twisted keeps as an int; `None` for anything else.
    fn count(transport: &Bound<'py, PyAny>, index: usize) -> PyResult<Option<usize>> {
        Ok(match Self::read(transport, index)? {
            Some(value) if value.is_exact_instance_of::<PyInt>() => value.extract().ok(),
            _ => None,
        })
    }

    /// A flag Twisted keeps as a bool or an int (absent: false); `None` for
    /// anything else, whose truth could take Python code to tell.
    fn flag(&self, index: usize) -> PyResult<Option<bool>> {
        Ok(match Self::read(self.transport, index)? {
            None => Some(false),
            Some(value) if value.is_exact_instance_of::<PyBool>() => Some(value.is_truthy()?),
            Some(value) if value.is_exact_instance_of::<PyInt>() => {
                Some(value.extract::<i64>().map_or(true, |number| number != 0))
            }
            Some(_) => None,
        })
    }

    /// Not in TLS, connected, not cut off from writing: where Twisted's
    /// `write` keeps what it is given.
    fn writable(&self) -> PyResult<bool> {
        Ok(self.flag(TLS)? == Some(false)
            && self.flag(CONNECTED)? == Some(true)
            && self.flag(WRITE_DISCONNECTED)? == Some(false))
    }

    fn mark(&self) -> PyResult<Option<Mark>> {
        Self::read_mark(self.transport)
    }

    /// The transport's buffer now, where it is as Twisted keeps it (a list,
    /// bytes, ints); else `None`. Called for a transport of a class that
    /// qualifies only (see [`Plain::read`]).
    fn read_mark(transport: &Bound<'py, PyAny>) -> PyResult<Option<Mark>> {
        let count = |index: usize| Self::count(transport, index);
        let Some(listed) = Self::read(transport, TEMP_DATA_BUFFER)? else {
            return Ok(None);
        };
        let Ok(listed) = listed.cast_into_exact::<PyList>() else {
            return Ok(None);
        };
        let Some(buffer) = Self::read(transport, DATA_BUFFER)? else {
            return Ok(None);
        };
        let Some(offset) = count(OFFSET)? else {
            return Ok(None);
        };
        Ok(Some(Mark {
            length: listed.len(),
            listed: listed.unbind(),
            buffer: buffer.unbind(),
            offset,
        }))
    }

    /// The socket's descriptor, if nothing waits unsent, the transport is
    /// writable and not closing, and it has no producer that a write would
    /// resume (see the module's comment); else `None`.
    fn idle_socket(&self) -> PyResult<Option<i32>> {
        let py = self.transport.py();
        let count = |index: usize| Self::count(self.transport, index);
        // Nothing waits: `dataBuffer` sent up to `offset`, nothing listed.
        if count(TEMP_DATA_LEN)? != Some(0) {
            return Ok(None);
        }
        let Some(offset) = count(OFFSET)? else {
            return Ok(None);
        };
        let sent_up_to_offset = Self::read(self.transport, DATA_BUFFER)?.is_some_and(|buffer| {
            buffer
                .cast_exact::<PyBytes>()
                .is_ok_and(|buffer| buffer.as_bytes().len() == offset)
        });
        if !sent_up_to_offset || !self.writable()? || self.flag(DISCONNECTING)? != Some(false) {
            return Ok(None);
        }
        // No producer, or a streaming one that is not paused.
        let producer =
            Self::read(self.transport, PRODUCER)?.is_some_and(|producer| !producer.is_none());
        if producer
            && (self.flag(STREAMING_PRODUCER)? != Some(true)
                || self.flag(PRODUCER_PAUSED)? != Some(false))
        {
            return Ok(None);
        }
        // The descriptor last: `fileno()` of a socket of Python's own,
        // which runs no Python code, so that none runs between what was
        // read and the send.
        let Some(socket) = Self::read(self.transport, SOCKET)? else {
            return Ok(None);
        };
        if !socket.get_type().is(&expected(py)?.socket) {
            return Ok(None);
        }
        let descriptor: i32 = socket
            .call_method0(pyo3::intern!(py, "fileno"))?
            .extract()?;
        Ok((descriptor >= 0).then_some(descriptor))
    }
}

/// `send(descriptor, bytes)` without waiting (and, on Linux, without
/// `SIGPIPE`), again where a signal interrupted it: how much the socket
/// took, or `None` where it took nothing (full, or an error: the caller
/// hands everything to Twisted, which meets the error again and loses the
/// connection as it would have).
#[cfg(unix)]
fn send(descriptor: i32, bytes: &[u8]) -> Option<usize> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    const FLAGS: libc::c_int = libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL;
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    const FLAGS: libc::c_int = libc::MSG_DONTWAIT;
    loop {
        // SAFETY: `bytes` is valid for its length for the whole call, and
        // `send` only reads it. The descriptor is the transport's socket,
        // open: its `fileno()` just gave it, and no Python code (which
        // could close it) has run since.
        let sent = unsafe { libc::send(descriptor, bytes.as_ptr().cast(), bytes.len(), FLAGS) };
        if sent >= 0 {
            return Some(sent as usize);
        }
        if std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            return None;
        }
    }
}

#[cfg(not(unix))]
fn send(_descriptor: i32, _bytes: &[u8]) -> Option<usize> {
    None
}
