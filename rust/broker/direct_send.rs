//! A message sent on an idle TCP connection at once, instead of on the
//! reactor's next turn.
//!
//! Twisted's TCP transport keeps what `write` is given and sends it when
//! the reactor, on a later turn, finds the socket writable: `write` has the
//! reactor watch the socket for that (an `epoll_ctl`), the next turn calls
//! `doWrite`, which sends the bytes and stops the watching (another
//! `epoll_ctl`). For a connection that answers one call at a time, that is
//! a reactor turn and two system calls for every message, more than the
//! rest of a small call costs. asyncio's transports send at once when
//! nothing waits to be sent. pbfast's broker does the same for the
//! messages it writes natively (a call sent, a call's answer), where:
//!
//! - the broker's receiving loop is handling the last message of what it
//!   has received, and has sent nothing at once for it yet ([`handling`]).
//!   The answers to a chunk of pipelined calls, and the calls their
//!   callbacks send, are written as before and go out together on the
//!   reactor's turn. So do calls sent outside the loop (a burst of calls
//!   from a timer);
//! - the transport is Twisted's own TCP transport (`tcp.Server` or
//!   `tcp.Client`, exactly), whose class keeps Twisted's methods that a
//!   write goes through (`pbfast.pb._DIRECT_SEND_EXPECTED`), with no data
//!   descriptor for the state read here, and the instance has none of
//!   those methods of its own;
//! - nothing waits unsent in it; it is connected, not closing, not TLS; its
//!   producer, if any, is a streaming one, not paused (the only kind that
//!   a write followed by `doWrite` would not call).
//!
//! The bytes are sent as `doWrite` sends them (`socket.send`, here with
//! `MSG_DONTWAIT`). What the socket does not take (a full send buffer), or
//! everything where sending fails, is given to `transport.write`: Twisted's
//! code sends it, or meets the error and loses the connection, as it would
//! have. The bytes go out in the order of the writes, as nothing waited
//! before them.

use std::cell::RefCell;

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBool, PyBytes, PyDict, PyInt, PyString, PyType};

use super::stock::version_tag;
use crate::jelly::hooks::{method_function, type_lookup};
use crate::pybanana::instance::looks_up_as_object;
use crate::pybanana::watched::{lock, Cache};

/// A receiving loop's message being handled (see [`handling`]).
struct Receiving {
    /// The broker's address (alive while its loop runs).
    broker: usize,
    /// Whether it is the last message of what the broker has received.
    last: bool,
    /// Whether a message went out at once while it is handled.
    sent: bool,
}

thread_local! {
    /// The messages being handled by the receiving loops running on this
    /// thread, innermost last (a handler may run another broker's loop,
    /// as a test's loopback pump does).
    static RECEIVING: RefCell<Vec<Receiving>> = const { RefCell::new(Vec::new()) };
}

/// While a broker's receiving loop handles a message: see [`handling`].
pub(crate) struct Handling(());

impl Drop for Handling {
    fn drop(&mut self) {
        RECEIVING.with(|receiving| receiving.borrow_mut().pop());
    }
}

/// `broker`'s receiving loop handles a message, the last of what it has
/// received if `last`, until the guard is dropped: the one stretch in
/// which a message it writes natively may go out at once.
pub(crate) fn handling(broker: &Bound<'_, PyAny>, last: bool) -> Handling {
    RECEIVING.with(|receiving| {
        receiving.borrow_mut().push(Receiving {
            broker: broker.as_ptr() as usize,
            last,
            sent: false,
        })
    });
    Handling(())
}

/// True if `broker`'s innermost message being handled is the last received
/// and nothing went out at once for it yet; it is then marked as having
/// sent.
fn take_turn(broker: &Bound<'_, PyAny>) -> bool {
    let address = broker.as_ptr() as usize;
    RECEIVING.with(|receiving| {
        let mut receiving = receiving.borrow_mut();
        match receiving
            .iter_mut()
            .rev()
            .find(|each| each.broker == address)
        {
            Some(each) if each.last && !each.sent => {
                each.sent = true;
                true
            }
            _ => false,
        }
    })
}

/// `transport.write(data)`, for a message `broker` writes natively: the
/// bytes sent on the socket at once where the module's conditions hold.
pub(crate) fn write_message<'py>(
    broker: &Bound<'py, PyAny>,
    transport: &Bound<'py, PyAny>,
    data: Bound<'py, PyBytes>,
) -> PyResult<()> {
    let py = broker.py();
    // The turn first: most writes are not the last message's, and that
    // costs a look at a short list, where the transport's state costs a
    // dozen lookups. (A turn taken for a transport that is not idle is
    // not wasted: what it writes makes it not idle for the next write.)
    let socket = if take_turn(broker) {
        idle_socket(transport)?
    } else {
        None
    };
    let unsent = match socket.map(|socket| send(socket, data.as_bytes())) {
        Some(Some(sent)) if sent == data.as_bytes().len() => return Ok(()),
        Some(Some(sent)) => PyBytes::new(py, &data.as_bytes()[sent..]),
        _ => data,
    };
    transport.call_method1(pyo3::intern!(py, "write"), (unsent,))?;
    Ok(())
}

/// What is read of a transport: these must be no data descriptors on its
/// class, so that the instance dict, where Twisted assigns them, holds
/// them (or, for what was never assigned, the class).
const STATE: [&str; 11] = [
    "TLS",
    "connected",
    "disconnecting",
    "_writeDisconnected",
    "producer",
    "streamingProducer",
    "producerPaused",
    "dataBuffer",
    "offset",
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
const TEMP_DATA_LEN: usize = 9;
const SOCKET: usize = 10;

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

/// The socket's descriptor of `transport`, if it is a TCP transport of
/// Twisted's with nothing waiting to be sent, connected, not closing, not
/// TLS, without a producer that a write would resume (see the module's
/// comment); else `None`.
fn idle_socket(transport: &Bound<'_, PyAny>) -> PyResult<Option<i32>> {
    if !cfg!(unix) {
        return Ok(None);
    }
    let py = transport.py();
    let expected = expected(py)?;
    let class = transport.get_type();
    if !class_qualifies(&class, expected) {
        return Ok(None);
    }
    // Read as Python reads them (the instance's own, else the class's):
    // the generic lookup, which runs no Python code here (no descriptors)
    // and leaves the instance's attributes where they are. (Its dict, once
    // made, would hold them, and every attribute Twisted's own code reads
    // on the transport would cost a dict lookup from then on.) What waits
    // unsent first: where something does (pipelined calls), nothing more
    // is read.
    let read = |index: usize| -> PyResult<Option<Bound<'_, PyAny>>> {
        transport.getattr_opt(expected.state[index].bind(py))
    };
    // A flag Twisted keeps as a bool or an int (anything else, whose truth
    // could take Python code to tell, is not read: no send then).
    let flag = |index: usize| -> PyResult<Option<bool>> {
        Ok(match read(index)? {
            None => Some(false),
            Some(value) if value.is_exact_instance_of::<PyBool>() => Some(value.is_truthy()?),
            Some(value) if value.is_exact_instance_of::<PyInt>() => {
                Some(value.extract::<i64>().map_or(true, |number| number != 0))
            }
            Some(_) => None,
        })
    };
    let count = |index: usize| -> PyResult<Option<usize>> {
        Ok(match read(index)? {
            Some(value) if value.is_exact_instance_of::<PyInt>() => value.extract().ok(),
            _ => None,
        })
    };
    // Nothing waits: `dataBuffer` sent up to `offset`, nothing in the list.
    if count(TEMP_DATA_LEN)? != Some(0) {
        return Ok(None);
    }
    let Some(offset) = count(OFFSET)? else {
        return Ok(None);
    };
    let sent_up_to_offset = read(DATA_BUFFER)?.is_some_and(|buffer| {
        buffer
            .cast_exact::<PyBytes>()
            .is_ok_and(|buffer| buffer.as_bytes().len() == offset)
    });
    if !sent_up_to_offset {
        return Ok(None);
    }
    // The methods a write goes through: none of the instance's own.
    let method_type = expected.method_type.bind(py);
    for (name, method) in &expected.methods {
        let found = transport.getattr(name.bind(py))?;
        if !method_function(&found, transport, method_type).is_some_and(|found| found.is(method)) {
            return Ok(None);
        }
    }
    // The descriptor: `fileno()` of a socket of Python's own, which runs
    // no Python code, so that none runs between what is read and the send.
    let Some(socket) = read(SOCKET)? else {
        return Ok(None);
    };
    if !socket.get_type().is(&expected.socket) {
        return Ok(None);
    }
    let descriptor: i32 = socket
        .call_method0(pyo3::intern!(py, "fileno"))?
        .extract()?;
    if descriptor < 0 {
        return Ok(None);
    }
    // Not TLS, connected, not closing, not cut off from writing.
    if flag(TLS)? != Some(false)
        || flag(CONNECTED)? != Some(true)
        || flag(DISCONNECTING)? != Some(false)
        || flag(WRITE_DISCONNECTED)? != Some(false)
    {
        return Ok(None);
    }
    // No producer, or a streaming one that is not paused.
    let producer = read(PRODUCER)?.is_some_and(|producer| !producer.is_none());
    if producer
        && (flag(STREAMING_PRODUCER)? != Some(true) || flag(PRODUCER_PAUSED)? != Some(false))
    {
        return Ok(None);
    }
    Ok(Some(descriptor))
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
