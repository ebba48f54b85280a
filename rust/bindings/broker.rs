//! The broker half of `pbfast._native`: the receiving loop over a broker's
//! decoder, and a call sent (see [`crate::broker`]).

use pyo3::prelude::*;
use pyo3::types::PyBytes;

use super::banana::{limits, settings, OutgoingVocabulary};
use super::decoder::{Decoder, Next};
use crate::banana::decoder::Limits;
use crate::broker::calls::{answer_received, call_received, send_call, Call, Sent, Wire};
use crate::broker::outgoing;
use crate::broker::stock::{keeps_all_stock_methods, keeps_stock_methods, Path};
use crate::pybanana::instance::instance_dict;
use crate::pybanana::messages::{message_list, Item};

/// Feed `chunk` to `broker`'s decoder and handle every message it
/// completes, as the broker's `callExpressionReceived` would: while the
/// broker keeps the stock methods (see [`keeps_stock_methods`]), a method
/// call and an answer natively (see [`call_received`], [`answer_received`]);
/// anything else, or anything once the broker does not, through
/// `callExpressionReceived` itself. Asked again before each message: the
/// one before may have run code that changed the broker. Nothing is read
/// for a broker `pbfast.pb` marked dropped (`_pbfastDropped`).
#[pyfunction]
pub fn receive_messages(broker: &Bound<'_, PyAny>, chunk: &Bound<'_, PyAny>) -> PyResult<()> {
    let py = broker.py();
    // A connection dropped for what its peer sent reads nothing more (the
    // mark pbfast.pb's dataReceived sets).
    if let Some(dict) = instance_dict(broker)? {
        if let Some(dropped) = dict.get_item(pyo3::intern!(py, "_pbfastDropped"))? {
            if dropped.is_truthy()? {
                return Ok(());
            }
        }
    }
    // What pbfast.banana's dataReceived reads before its loop: the decoder
    // (made on first use) and the limits.
    let stock = keeps_stock_methods(broker, Path::Receive)?;
    let decoder = native_decoder(broker, stock)?;
    let prefix_limit = effective_prefix_limit(broker, stock)?;
    let [size_limit, max_depth, max_message_size] = settings(
        broker,
        [
            pyo3::intern!(py, "sizeLimit"),
            pyo3::intern!(py, "maxDepth"),
            pyo3::intern!(py, "maxMessageSize"),
        ],
    )?;
    let size_limit: u64 = size_limit.extract()?;
    let max_depth: usize = max_depth.extract()?;
    let max_message_size: u64 = max_message_size.extract()?;
    decoder.borrow_mut().feed(chunk)?;
    let limits = limits(prefix_limit, size_limit, max_depth, max_message_size);
    // What the messages' handling writes natively is held until all are
    // read, then handed to the transport in one piece (see `outgoing`),
    // whether the loop ends well or with an error.
    let receiving = outgoing::receiving(broker)?;
    let read = read_messages(
        broker,
        &decoder,
        &limits,
        prefix_limit,
        size_limit,
        max_depth,
    );
    let finished = receiving.finish(py);
    read.and(finished)
}

/// The receiving loop of [`receive_messages`]: every message `decoder`
/// completes, handled.
fn read_messages(
    broker: &Bound<'_, PyAny>,
    decoder: &Bound<'_, Decoder>,
    limits: &Limits,
    prefix_limit: usize,
    size_limit: u64,
    max_depth: usize,
) -> PyResult<()> {
    let py = broker.py();
    // The broker's `_sendingVocabulary()`, asked once the dialect is `pb`
    // (it never changes back).
    let mut vocabulary: Option<Option<Bound<'_, OutgoingVocabulary>>> = None;
    loop {
        // Where nothing more is received, there is nothing to read it for.
        if decoder.borrow().is_drained() {
            return Ok(());
        }
        // The dialect is read again before each message, as the general
        // loop reads it (the first messages of a connection select it).
        let dialect = broker.getattr(pyo3::intern!(py, "currentDialect"))?;
        let exactly_pb = dialect
            .cast_exact::<PyBytes>()
            .is_ok_and(|bytes| bytes.as_bytes() == b"pb");
        let pb_dialect = exactly_pb
            || (!dialect.is_exact_instance_of::<PyBytes>()
                && dialect.eq(PyBytes::new(py, b"pb"))?);
        // The decoder is not borrowed while a message is handled: a handler
        // may feed it (a nested dataReceived) or reset it.
        let next = decoder.borrow_mut().next_item(py, pb_dialect, limits)?;
        outgoing::reading(broker, decoder.borrow().is_drained());
        let (data, base, ends) = match next {
            None => return Ok(()),
            Some(Next::Expression(expression)) => {
                broker.call_method1(pyo3::intern!(py, "callExpressionReceived"), (expression,))?;
                continue;
            }
            Some(Next::Message(data, base, ends)) => (data, base, ends),
        };
        let items = decoder
            .borrow()
            .read_items(py, &data, base, ends, pb_dialect, limits)?;
        let Some(items) = items else {
            let message = decoder.borrow().read(py, &data, base, pb_dialect, limits)?;
            broker.call_method1(pyo3::intern!(py, "callExpressionReceived"), (message,))?;
            continue;
        };
        let path = if !pb_dialect {
            None
        } else if items.len() == 7 && is_kind(&items, b"message") {
            Some(Path::Call)
        } else if items.len() == 3 && is_kind(&items, b"answer") {
            Some(Path::Answer)
        } else {
            None
        };
        let handled = match path {
            Some(path) if keeps_stock_methods(broker, path)? => match path {
                Path::Call => {
                    if vocabulary.is_none() {
                        vocabulary = Some(sending_vocabulary(broker, Some(exactly_pb))?);
                    }
                    let wire = Wire {
                        vocabulary: vocabulary
                            .as_ref()
                            .and_then(|v| v.as_ref())
                            .map(|v| v.get().core()),
                        prefix_limit,
                        size_limit,
                        max_depth,
                    };
                    call_received(broker, &items, &wire)?
                }
                Path::Answer => answer_received(broker, &items)?,
                Path::Send | Path::Receive | Path::Reply => false,
            },
            _ => false,
        };
        if !handled {
            let message = message_list(py, items)?;
            broker.call_method1(pyo3::intern!(py, "callExpressionReceived"), (message,))?;
        }
    }
}

/// pbfast's broker's `dataReceived(chunk)`: [`receive_messages`], and a
/// peer that sent what cannot be read is not answered further: on an
/// `Exception`, `pbfast.pb._dropped(broker, error)` marks the connection
/// dropped, logs why and closes it (Twisted's broker lets such errors
/// escape from `dataReceived`, which drops the connection too, logging a
/// traceback). Bound to its broker as a method ([`as_method`]), so that a
/// chunk received costs no Python frame.
#[pyfunction]
pub fn data_received(broker: &Bound<'_, PyAny>, chunk: &Bound<'_, PyAny>) -> PyResult<()> {
    let py = broker.py();
    match receive_messages(broker, chunk) {
        Err(error) if error.is_instance_of::<pyo3::exceptions::PyException>(py) => {
            static DROPPED: pyo3::sync::PyOnceLock<Py<PyAny>> = pyo3::sync::PyOnceLock::new();
            DROPPED
                .import(py, "pbfast.pb", "_dropped")?
                .call1((broker, error.into_value(py)))?;
            Ok(())
        }
        done => done,
    }
}

extern "C" {
    // CPython's `PyObject *PyInstanceMethod_New(PyObject *func)` (not among
    // pyo3-ffi's declarations): the type that binds a callable to the
    // instance it is looked up on, as a function is bound.
    fn PyInstanceMethod_New(function: *mut pyo3::ffi::PyObject) -> *mut pyo3::ffi::PyObject;
}

/// `function` as a method of the class it is set on: looked up on an
/// instance, it is bound to it (the instance is its first argument), as a
/// function is; on the class, it is `function` itself.
#[pyfunction]
pub fn as_method<'py>(function: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    let py = function.py();
    // SAFETY: `function` is a live object; the call returns a new
    // reference, or NULL with an exception set.
    unsafe { Bound::from_owned_ptr_or_err(py, PyInstanceMethod_New(function.as_ptr())) }
}

/// True if the message's kind (its first item) is the byte string `kind`.
fn is_kind(items: &[Item<'_>], kind: &[u8]) -> bool {
    items
        .first()
        .and_then(Item::object)
        .and_then(|first| first.cast_exact::<PyBytes>().ok())
        .is_some_and(|bytes| bytes.as_bytes() == kind)
}

/// Twisted's `Broker._sendMessage(prefix, perspective, objectID, message,
/// args, kw)`, what `callRemote` calls: for a broker that keeps the stock
/// methods and a call with none of `pbcallback`, `pberrback`, `pbanswer`,
/// natively (see [`send_call`]); else Twisted's own method.
#[pyfunction]
#[allow(clippy::too_many_arguments)]
pub fn send_message<'py>(
    broker: &Bound<'py, PyAny>,
    prefix: &Bound<'py, PyAny>,
    perspective: &Bound<'py, PyAny>,
    object_id: &Bound<'py, PyAny>,
    message: &Bound<'py, PyAny>,
    args: &Bound<'py, PyAny>,
    kw: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    let py = broker.py();
    let python = sending(py)?;
    let call = Call {
        prefix,
        perspective,
        object_id,
        message,
        args,
        kw,
    };
    let mut plain = keeps_stock_methods(broker, Path::Send)?;
    for name in [
        pyo3::intern!(py, "pbcallback"),
        pyo3::intern!(py, "pberrback"),
        pyo3::intern!(py, "pbanswer"),
    ] {
        plain = plain && !kw.contains(name)?;
    }
    if !plain {
        let given = (broker, prefix, perspective, object_id, message, args, kw);
        return python.twisted_send_message.bind(py).call1(given);
    }
    if broker
        .getattr(pyo3::intern!(py, "disconnected"))?
        .is_truthy()?
    {
        let error = python
            .dead_reference_error
            .bind(py)
            .call1(("Calling Stale Broker",))?;
        return Err(PyErr::from_value(error));
    }
    let vocabulary = sending_vocabulary(broker, None)?;
    let [size_limit, max_depth] = settings(
        broker,
        [
            pyo3::intern!(py, "sizeLimit"),
            pyo3::intern!(py, "maxDepth"),
        ],
    )?;
    let wire = Wire {
        vocabulary: vocabulary.as_ref().map(|v| v.get().core()),
        // Kept: the send path goes through `_effectivePrefixLimit`.
        prefix_limit: effective_prefix_limit(broker, true)?,
        size_limit: size_limit.extract()?,
        max_depth: max_depth.extract()?,
    };
    match send_call(broker, &call, &wire)? {
        Sent::Call(deferred) => Ok(deferred),
        // Twisted's `defer.fail(failure.Failure())`.
        Sent::NotSerialized(error) => python.failed.bind(py).call1((error,)),
    }
}

/// pbfast's `broker._sendingVocabulary()`, for a broker that keeps it (the
/// native path's brokers): the vocabulary it keeps in its dict once made,
/// read there, in dialect `pb`; else the method's answer. `pb_dialect`:
/// whether the dialect is `pb`, where the caller read it with no Python
/// code run since (the receiving loop, before the message).
fn sending_vocabulary<'py>(
    broker: &Bound<'py, PyAny>,
    pb_dialect: Option<bool>,
) -> PyResult<Option<Bound<'py, OutgoingVocabulary>>> {
    let py = broker.py();
    let pb = match pb_dialect {
        Some(pb) => pb,
        None => broker
            .getattr(pyo3::intern!(py, "currentDialect"))?
            .cast_exact::<PyBytes>()
            .is_ok_and(|bytes| bytes.as_bytes() == b"pb"),
    };
    if pb {
        if let Some(dict) = instance_dict(broker)? {
            if let Some(kept) = dict.get_item(pyo3::intern!(py, "_pbfastVocabulary"))? {
                if let Ok(kept) = kept.cast_into_exact::<OutgoingVocabulary>() {
                    return Ok(Some(kept));
                }
            }
        }
    }
    let sending = broker.call_method0(pyo3::intern!(py, "_sendingVocabulary"))?;
    Ok(sending.cast_into::<OutgoingVocabulary>().ok())
}

/// The broker's `_effectivePrefixLimit()`: for a broker that keeps
/// pbfast's (`kept`), `prefixLimit` when set, else the method's answer
/// (the module's).
fn effective_prefix_limit(broker: &Bound<'_, PyAny>, kept: bool) -> PyResult<usize> {
    let py = broker.py();
    let name = pyo3::intern!(py, "_effectivePrefixLimit");
    if kept {
        let own = broker.getattr(pyo3::intern!(py, "prefixLimit"))?;
        if !own.is_none() {
            return own.extract();
        }
    }
    broker.call_method0(name)?.extract()
}

/// The broker's `_nativeDecoder()`: for a broker that keeps pbfast's
/// (`kept`), the decoder it keeps in its dict once made, read there; else
/// (or before it is made) the method's answer.
fn native_decoder<'py>(broker: &Bound<'py, PyAny>, kept: bool) -> PyResult<Bound<'py, Decoder>> {
    let py = broker.py();
    let name = pyo3::intern!(py, "_nativeDecoder");
    if kept {
        if let Some(dict) = instance_dict(broker)? {
            if let Some(kept) = dict.get_item(pyo3::intern!(py, "_pbfastDecoder"))? {
                if let Ok(kept) = kept.cast_into_exact::<Decoder>() {
                    return Ok(kept);
                }
            }
        }
    }
    Ok(broker.call_method0(name)?.cast_into::<Decoder>()?)
}

/// What sending a call takes from Python, looked up once.
struct Sending {
    twisted_send_message: Py<PyAny>,
    dead_reference_error: Py<PyAny>,
    /// `pbfast.pb._sendFailed(error)`: `defer.fail(Failure(error))`.
    failed: Py<PyAny>,
}

fn sending(py: Python<'_>) -> PyResult<&'static Sending> {
    static SENDING: pyo3::sync::PyOnceLock<Sending> = pyo3::sync::PyOnceLock::new();
    SENDING.get_or_try_init(py, || {
        let pb = py.import("pbfast.pb")?;
        Ok(Sending {
            twisted_send_message: pb.getattr("_TWISTED_SEND_MESSAGE")?.unbind(),
            dead_reference_error: pb.getattr("DeadReferenceError")?.unbind(),
            failed: pb.getattr("_sendFailed")?.unbind(),
        })
    })
}

/// True if `broker` keeps every method the native call path stands in for
/// (see [`crate::broker::stock`]).
#[pyfunction]
pub fn takes_native_path(broker: &Bound<'_, PyAny>) -> PyResult<bool> {
    keeps_all_stock_methods(broker)
}
