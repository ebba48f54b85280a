//! A method call received and answered, an answer delivered, a call sent:
//! what Twisted's broker code does for each, step for step, with the jelly
//! done straight between objects and bytes and the message around it
//! encoded in the same native call.
//!
//! Each function here stands for a stretch of Twisted's code; the comments
//! name it. Where that code would go somewhere this one does not (an object
//! that overrides `remoteMessageReceived`, a result that is a Deferred, an
//! error), it hands over to `pbfast.pb`'s Python, before anything was done
//! or at the point where Twisted's code would be, so that what happens is
//! what Twisted's code makes happen.

use std::cell::Cell;

use pyo3::exceptions::PyTypeError;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyDict, PyList, PyString, PyTuple};

use super::found_absent::{self, Known};
use super::outgoing::write_message;
use super::stock::{keeps_stock_methods, Path};
use crate::banana::encoder;
use crate::jelly::depth::MAX_JELLY_DEPTH;
use crate::jelly::hooks::{type_function, type_lookup};
use crate::jelly::jellying::dumps::serialize;
use crate::jelly::jellying::jellier::Jellier;
use crate::jelly::taster::Taster;
use crate::jelly::unjellying::loads::unserialize;
use crate::jelly::unjellying::unjellier::Unjellier;
use crate::pybanana::encode::{encode_into, write_encoded, EncodeSettings};
use crate::pybanana::encoded::Encoded;
use crate::pybanana::instance::{assigns_as_object, instance_dict, looks_up_as_object};
use crate::pybanana::messages::Item;
use crate::pybanana::output::{with_output_buffer, Output};
use crate::pybanana::watched::{lock, Cache};

/// What the call path takes from Python, looked up once.
struct FromPython {
    /// `pbfast.pb._callFailed(broker, requestID, answerRequired, error)`:
    /// Twisted's `except` clauses of `_recvMessage`.
    call_failed: Py<PyAny>,
    /// `pbfast.pb._resultReady(broker, requestID, answerRequired, state,
    /// perspective)`: the rest of `_recvMessage` for a result the native
    /// path does not answer itself (a Deferred, or no answer asked for).
    result_ready: Py<PyAny>,
    /// `pbfast.pb._answerUnreadable(deferred, error)`: the call's Deferred
    /// fails with the error, which is raised again.
    answer_unreadable: Py<PyAny>,
    /// `twisted.python.log.msg`.
    log_msg: Py<PyAny>,
    /// `twisted.spread.flavors.NoSuchMethod`.
    no_such_method: Py<PyAny>,
    /// `twisted.internet.defer.Deferred`.
    deferred: Py<PyAny>,
    /// `Referenceable.remoteMessageReceived`, Twisted's.
    remote_message_received: Py<PyAny>,
    /// How `abc.ABCMeta` checks instances (see [`is_deferred`]).
    abc: AbcCheck,
}

/// `abc.ABCMeta.__instancecheck__`, whose body is `return
/// _abc_instancecheck(cls, instance)`: the function, its code, the module
/// globals it reads that name from, and what the name was.
struct AbcCheck {
    method: Py<PyAny>,
    code: Py<PyAny>,
    globals: Py<PyDict>,
    instancecheck: Py<PyAny>,
}

fn python(py: Python<'_>) -> PyResult<&'static FromPython> {
    static PYTHON: PyOnceLock<FromPython> = PyOnceLock::new();
    PYTHON.get_or_try_init(py, || {
        let pb = py.import("pbfast.pb")?;
        let get = |name: &str| pb.getattr(name).map(Bound::unbind);
        Ok(FromPython {
            call_failed: get("_callFailed")?,
            result_ready: get("_resultReady")?,
            answer_unreadable: get("_answerUnreadable")?,
            log_msg: py.import("twisted.python.log")?.getattr("msg")?.unbind(),
            no_such_method: get("NoSuchMethod")?,
            deferred: py
                .import("twisted.internet.defer")?
                .getattr("Deferred")?
                .unbind(),
            remote_message_received: get("_STOCK_REMOTE_MESSAGE_RECEIVED")?,
            abc: {
                let abc = py.import("abc")?;
                let method = abc.getattr("ABCMeta")?.getattr("__instancecheck__")?;
                AbcCheck {
                    code: method.getattr("__code__")?.unbind(),
                    method: method.unbind(),
                    globals: abc.dict().unbind(),
                    instancecheck: abc.getattr("_abc_instancecheck")?.unbind(),
                }
            },
        })
    })
}

/// The connection's encoding: its dialect's vocabulary and its limits.
pub(crate) struct Wire<'a> {
    pub(crate) vocabulary: Option<&'a crate::banana::vocabulary::OutgoingVocabulary>,
    pub(crate) prefix_limit: usize,
    pub(crate) size_limit: u64,
    pub(crate) max_depth: usize,
}

impl Wire<'_> {
    fn settings(&self) -> EncodeSettings<'_> {
        EncodeSettings {
            prefix_limit: self.prefix_limit,
            size_limit: self.size_limit,
            max_depth: self.max_depth,
            vocabulary: self.vocabulary,
        }
    }

    /// The message `[*head, *parts]` encoded, its jellied `parts` copied
    /// in as they are: what `sendCall(*message)` writes, without the list.
    fn encode_message<'py>(
        &self,
        py: Python<'py>,
        head: &[&Bound<'py, PyAny>],
        parts: &[&Encoded],
    ) -> PyResult<Bound<'py, PyBytes>> {
        let count = head.len() + parts.len();
        if self.max_depth == 0 || count as u64 > self.size_limit {
            // The list itself, for the encoder's error about it.
            let mut items: Vec<Bound<'py, PyAny>> = head.iter().map(|&item| item.clone()).collect();
            for part in parts {
                items.push(Bound::new(py, part.clone_ref(py))?.into_any());
            }
            return self.encode(PyList::new(py, items)?.as_any());
        }
        let settings = self.settings();
        // An item is written one level down, as inside the list.
        let inside = EncodeSettings {
            max_depth: self.max_depth - 1,
            ..self.settings()
        };
        with_output_buffer(|buf| {
            let mut out = Output::new(buf);
            encoder::write_list_header(out.buf, count as u64);
            for item in head {
                encode_into(item, &inside, &mut out)?;
            }
            for part in parts {
                write_encoded(py, part, &settings, &mut out)?;
            }
            out.finish(py)
        })
    }

    /// `expression` encoded: what `sendCall(*expression)` writes.
    fn encode<'py>(&self, expression: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyBytes>> {
        let settings = self.settings();
        with_output_buffer(|buf| {
            let mut out = Output::new(buf);
            encode_into(expression, &settings, &mut out)?;
            out.finish(expression.py())
        })
    }
}

/// The broker attributes the call path assigns, as Twisted's `serialize`
/// and `unserialize` do ([`crate::broker::stock::ASSIGNED`]).
#[derive(Clone, Copy)]
enum Hook {
    SerializingPerspective,
    JellyMethod,
    JellyArgs,
    JellyKw,
    UnserializingPerspective,
}

impl Hook {
    fn name(self, py: Python<'_>) -> &Bound<'_, PyString> {
        match self {
            Hook::SerializingPerspective => pyo3::intern!(py, "serializingPerspective"),
            Hook::JellyMethod => pyo3::intern!(py, "jellyMethod"),
            Hook::JellyArgs => pyo3::intern!(py, "jellyArgs"),
            Hook::JellyKw => pyo3::intern!(py, "jellyKw"),
            Hook::UnserializingPerspective => pyo3::intern!(py, "unserializingPerspective"),
        }
    }

    /// Its bit among the names found to hold `None` (see [`found_absent`]).
    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// Where `broker.<name> = value` lands, for the names the call path
/// assigns ([`Hook`]): the instance dict, written directly, for a broker on
/// the native path (its class assigns attributes as `object` does and has
/// nothing of these names, so no descriptor takes the assignment; see
/// [`crate::broker::stock`]); the assignment itself for a broker without
/// an instance dict.
struct Attributes<'py> {
    broker: Bound<'py, PyAny>,
    dict: Option<Bound<'py, PyDict>>,
    /// What was known of the dict when last looked at (see
    /// [`found_absent`]): good while its tag is the same.
    known: Cell<Known>,
}

impl<'py> Attributes<'py> {
    fn of(broker: &Bound<'py, PyAny>) -> PyResult<Self> {
        let dict = instance_dict(broker)?;
        let known = dict.as_ref().map_or(
            Known {
                tag: None,
                absent: 0,
                nones: 0,
            },
            found_absent::known,
        );
        Ok(Attributes {
            broker: broker.clone(),
            dict,
            known: Cell::new(known),
        })
    }

    /// `broker.security`, and whether reading it may run Python code. For
    /// a class with nothing of that name (whose lookup is `object`'s, see
    /// [`crate::broker::stock`]) it is the instance dict's entry, read
    /// there; else the lookup is made, which may run code (a property).
    fn security(&self) -> PyResult<(Bound<'py, PyAny>, bool)> {
        let py = self.broker.py();
        let name = pyo3::intern!(py, "security");
        let on_class = type_lookup(&self.broker.get_type(), name).is_some();
        if !on_class {
            if let Some(found) = self
                .dict
                .as_ref()
                .map(|dict| dict.get_item(name))
                .transpose()?
                .flatten()
            {
                return Ok((found, false));
            }
        }
        Ok((self.broker.getattr(name)?, on_class))
    }

    /// True if `hook` was found to hold `None` in `dict`, unchanged since.
    fn known_none(&self, dict: &Bound<'py, PyDict>, hook: Hook) -> bool {
        let known = self.known.get();
        known.nones & hook.bit() != 0 && known.tag.is_some() && known.tag == found_absent::tag(dict)
    }

    /// `broker.<hook> = value`. In the dict, a value already there is left
    /// as it is: assigning it again would change nothing. True if a value
    /// other than `None` was let go of (whose release may run Python code),
    /// or the assignment itself was made.
    fn set(&self, hook: Hook, value: &Bound<'py, PyAny>) -> PyResult<bool> {
        let py = self.broker.py();
        let name = hook.name(py);
        let Some(dict) = &self.dict else {
            return self.broker.setattr(name, value).map(|()| true);
        };
        let tag = found_absent::tag(dict);
        let held = if self.known_none(dict, hook) {
            // SAFETY: the address of None, compared, not dereferenced.
            unsafe { ffi::Py_None() }
        } else {
            // SAFETY: a borrowed reference (or NULL) from a live dict,
            // compared as an address and not kept.
            let held = unsafe { ffi::PyDict_GetItemWithError(dict.as_ptr(), name.as_ptr()) };
            if held.is_null() {
                if let Some(error) = PyErr::take(py) {
                    return Err(error);
                }
            }
            held
        };
        if held == value.as_ptr() {
            if value.is_none() && !self.known_none(dict, hook) {
                found_absent::found(dict, tag, 0, hook.bit());
                self.known.set(found_absent::known(dict));
            }
            return Ok(false);
        }
        // SAFETY: an address compared, not dereferenced.
        let released = !held.is_null() && held != unsafe { ffi::Py_None() };
        if let Some(after) = found_absent::assign(dict, name, value, hook.bit())? {
            let mut known = self.known.get();
            if known.tag.is_some() {
                known.tag = Some(after);
                if value.is_none() {
                    known.nones |= hook.bit();
                } else {
                    known.nones &= !hook.bit();
                }
                self.known.set(known);
            }
        }
        Ok(released)
    }
}

/// pbfast's `Broker.serialize(obj, perspective, method)` of each of
/// `objects` in turn (none a Deferred), as `_sendMessage` serializes a
/// call's args and then its kw: the broker's `serializingPerspective`,
/// `jellyMethod`, `jellyArgs` and `jellyKw` set for the jelly hooks, then
/// `None` again, around each. The first error ends it, as it ends Twisted's.
fn serialize_for<'py>(
    broker: &Bound<'py, PyAny>,
    objects: &[&Bound<'py, PyAny>],
    perspective: &Bound<'py, PyAny>,
    method: &Bound<'py, PyAny>,
    wire: &Wire<'_>,
) -> PyResult<Vec<Encoded>> {
    let py = broker.py();
    let none = py.None().into_bound(py);
    let names = [
        Hook::SerializingPerspective,
        Hook::JellyMethod,
        Hook::JellyArgs,
        Hook::JellyKw,
    ];
    let attributes = Attributes::of(broker)?;
    let values = [perspective, method, &none, &none];
    let set = |values: [&Bound<'py, PyAny>; 4]| -> PyResult<bool> {
        let mut released = false;
        for (name, value) in names.into_iter().zip(values) {
            released |= attributes.set(name, value)?;
        }
        Ok(released)
    };
    // Whether Python code may have run since the attributes were set.
    let mut may_have_run = set(values)?;
    let mut encoded = Vec::with_capacity(objects.len());
    // The taster and the policy the last traversal read from it, while no
    // Python code has run since (see `taster_for_traversal`).
    let mut carried = None;
    let made = (|| {
        for (index, obj) in objects.iter().enumerate() {
            // Between two serializations Twisted sets the attributes to
            // None and then to the same values again. Where no Python code
            // has run since they were set, they still hold those values
            // and both assignments would change nothing: they are made
            // only where code may have run.
            if index > 0 && may_have_run {
                set([&none; 4])?;
                may_have_run = set(values)?;
            }
            let (taster, policy) =
                taster_for_traversal(&attributes, carried.take(), &mut may_have_run)?;
            let invoker = broker.clone().unbind();
            let jellier =
                Jellier::for_traversal(py, taster.clone(), invoker, MAX_JELLY_DEPTH, policy)?;
            let made = serialize(&jellier, obj, wire.settings());
            may_have_run |= !jellier.get().is_unobserved();
            if !may_have_run {
                carried = jellier.get().take_policy().map(|policy| (taster, policy));
            }
            Jellier::done(jellier);
            encoded.push(made?);
        }
        Ok(())
    })();
    // Where no Python code has run since they were set (no value let go of
    // then, `security` read from the instance, none run by the jellier),
    // the attributes set to None still are. The others are let go of by
    // the dict only: the caller holds them.
    may_have_run |= made.is_err();
    for (name, value) in names.into_iter().zip(values) {
        if may_have_run || !value.is_none() {
            attributes.set(name, &none)?;
        }
    }
    made.map(|()| encoded)
}

/// The broker's `security` for a traversal, and the policy read from it by
/// the traversal before (`carried`, with the taster it was read from), if
/// it can be used again: where no Python code has run since
/// (`may_have_run` false; it is kept only then), the instance dict the
/// taster was read from still holds it, and the taster's attributes are
/// still the dicts the policy holds. Else `security` is read again (which
/// may run code: `may_have_run` says so).
fn taster_for_traversal<'py>(
    attributes: &Attributes<'py>,
    carried: Option<(Bound<'py, PyAny>, Taster)>,
    may_have_run: &mut bool,
) -> PyResult<(Bound<'py, PyAny>, Option<Taster>)> {
    if let Some((taster, policy)) = carried.filter(|_| !*may_have_run) {
        return Ok((taster, Some(policy)));
    }
    let (taster, ran) = attributes.security()?;
    *may_have_run |= ran;
    Ok((taster, None))
}

/// pbfast's `Broker.unserialize(encoded)` of each of `encoded` in turn,
/// with no perspective, as `_recvMessage` unserializes a call's args and
/// then its kw: the broker's `unserializingPerspective` is `None`
/// throughout. The first error ends it, as it ends Twisted's.
fn unserialize_for<'py>(
    broker: &Bound<'py, PyAny>,
    encoded: &[&Encoded],
) -> PyResult<Vec<Bound<'py, PyAny>>> {
    let py = broker.py();
    let none = py.None().into_bound(py);
    let name = Hook::UnserializingPerspective;
    let attributes = Attributes::of(broker)?;
    // Whether Python code may have run since the attribute was set (see
    // `serialize_for`).
    let mut may_have_run = attributes.set(name, &none)?;
    let mut objects = Vec::with_capacity(encoded.len());
    let mut carried = None;
    let made = (|| {
        for (index, each) in encoded.iter().enumerate() {
            // Twisted sets it to None after one and before the next: where
            // no code has run, it still is (see `serialize_for`).
            if index > 0 && may_have_run {
                may_have_run = attributes.set(name, &none)?;
            }
            let (taster, policy) =
                taster_for_traversal(&attributes, carried.take(), &mut may_have_run)?;
            let invoker = broker.clone().unbind();
            let unjellier =
                Unjellier::for_traversal(py, taster.clone(), invoker, MAX_JELLY_DEPTH, policy)?;
            let object = unserialize(&unjellier, each);
            may_have_run |= unjellier.get().python_may_have_run();
            if !may_have_run {
                carried = unjellier.get().take_policy().map(|policy| (taster, policy));
            }
            Unjellier::done(unjellier);
            objects.push(object?);
        }
        Ok::<_, PyErr>(())
    })();
    // Where none has run, the attribute set to None still is.
    may_have_run |= made.is_err();
    if may_have_run {
        attributes.set(name, &none)?;
    }
    made.map(|()| objects)
}

/// `[b"message", requestID, objectID, message, answerRequired, netArgs,
/// netKw]` received by `broker`, as Twisted's `proto_message` and
/// `_recvMessage` take it, with `Referenceable.remoteMessageReceived` for
/// an object that keeps it. `false`, with nothing done, where Twisted's
/// code must take it from the start (see the module's comment).
pub(crate) fn call_received(
    broker: &Bound<'_, PyAny>,
    items: &[Item<'_>],
    wire: &Wire<'_>,
) -> PyResult<bool> {
    let py = broker.py();
    let [_, request_id, object_id, name, answer_required, net_args, net_kw] = items else {
        return Ok(false);
    };
    let (Some(request_id), Some(object_id), Some(name), Some(answer_required)) = (
        request_id.object(),
        object_id.object(),
        name.object(),
        answer_required.object(),
    ) else {
        return Ok(false);
    };
    let (Item::Jellied(net_args), Item::Jellied(net_kw)) = (net_args, net_kw) else {
        return Ok(false);
    };
    // _recvMessage: `message.decode("utf8")` unless a str; then
    // remoteMessageReceived's `"remote_%s" % message`.
    let method_name = remote_method_name(name)?;
    // localObjectForID: `luid.encode("utf8")` if a str, then
    // `self.localObjects.get(luid)` and the Local's `object`.
    let luid = if object_id.is_instance_of::<PyString>() {
        object_id.call_method1(pyo3::intern!(py, "encode"), ("utf8",))?
    } else {
        object_id.clone()
    };
    let objects = broker.getattr(pyo3::intern!(py, "localObjects"))?;
    let local = match objects.cast_exact::<PyDict>() {
        // dict.get itself, without the method call.
        Ok(dict) => dict
            .get_item(&luid)?
            .unwrap_or_else(|| py.None().into_bound(py)),
        Err(_) => objects.call_method1(pyo3::intern!(py, "get"), (&luid,))?,
    };
    let target = if local.is_none() {
        local
    } else {
        local.getattr(pyo3::intern!(py, "object"))?
    };
    let python = python(py)?;
    let stock = !target.is_none()
        && type_function(&target, pyo3::intern!(py, "remoteMessageReceived"))?
            .is_some_and(|function| function.is(&python.remote_message_received));
    if !stock {
        return Ok(false);
    }
    // The `try` of _recvMessage, around remoteMessageReceived.
    let answered = (|| -> PyResult<Outcome<'_>> {
        let objects = unserialize_for(broker, &[net_args, net_kw])?;
        let [args, kw] = &objects[..] else {
            unreachable!("an object for each")
        };
        let kw = text_keywords(kw)?;
        let Some(method) = target.getattr_opt(&method_name)? else {
            let reason = format!("No such method: {method_name}");
            return Err(PyErr::from_value(
                python.no_such_method.bind(py).call1((reason,))?,
            ));
        };
        let state = call_method(&method, args, &kw).inspect_err(|error| {
            if error.is_instance_of::<PyTypeError>(py) {
                // "{method} didn't accept {args} and {kw}", logged as
                // Twisted logs it before raising again.
                let text = |object: &Bound<'_, PyAny>| {
                    object
                        .str()
                        .map(|text| text.to_string())
                        .unwrap_or_default()
                };
                let line = format!(
                    "{} didn't accept {} and {}",
                    text(&method),
                    text(args),
                    text(&kw)
                );
                // A failure to log does not hide the call's own error.
                let _ = python.log_msg.bind(py).call1((line,));
            }
        })?;
        let perspective = target.getattr(pyo3::intern!(py, "perspective"))?;
        // The method may have changed its broker: the answer is the native
        // path's only while the broker keeps what answering goes through.
        if !answer_required.is_truthy()?
            || is_deferred(&state, python)?
            || !keeps_stock_methods(broker, Path::Reply)?
        {
            return Ok(Outcome::Later(state, perspective));
        }
        let none = py.None().into_bound(py);
        let encoded = serialize_for(broker, &[&state], &perspective, &none, wire)?;
        let [result] = &encoded[..] else {
            unreachable!("one for one")
        };
        let kind = kind(py, b"answer");
        let answer = wire.encode_message(py, &[&kind, request_id], &[result])?;
        Ok(Outcome::Answer(answer))
    })();
    match answered {
        // _sendAnswer, outside the `try`: its errors are the caller's.
        Ok(Outcome::Answer(answer)) => {
            let transport = broker.getattr(pyo3::intern!(py, "transport"))?;
            write_message(broker, &transport, answer)?;
        }
        // The result jellied by the broker's own `serialize` (its errors
        // taken as the `try` takes them), then answered now or when the
        // Deferred fires: outside the `try`, as in _recvMessage.
        Ok(Outcome::Later(state, perspective)) => {
            python.result_ready.bind(py).call1((
                broker,
                request_id,
                answer_required,
                state,
                perspective,
            ))?;
        }
        Err(error) => {
            python.call_failed.bind(py).call1((
                broker,
                request_id,
                answer_required,
                error.into_value(py),
            ))?;
        }
    }
    Ok(true)
}

/// `isinstance(state, Deferred)`. Twisted's `Deferred` is an ABC, whose
/// metaclass's `__instancecheck__` is Python code: while that method is
/// `abc.ABCMeta`'s as imported (the same function, with the same code, and
/// the name its body calls still bound to the same function in its
/// module), what it does is call `_abc_instancecheck(Deferred, state)`,
/// which is called directly, without the frame. An instance of `Deferred`
/// itself is one, as `isinstance` says before asking the metaclass.
fn is_deferred(state: &Bound<'_, PyAny>, python: &FromPython) -> PyResult<bool> {
    let py = state.py();
    let deferred = python.deferred.bind(py);
    if state.get_type().is(deferred) {
        return Ok(true);
    }
    let abc = &python.abc;
    let method = type_lookup(&deferred.get_type(), pyo3::intern!(py, "__instancecheck__"));
    let stock = method.is_some_and(|method| {
        // SAFETY: the stock method is a function (checked by identity), whose
        // code is read as a borrowed pointer and compared, not kept.
        method.is(&abc.method)
            && unsafe { ffi::PyFunction_GetCode(method.as_ptr()) } == abc.code.as_ptr()
    }) && abc
        .globals
        .bind(py)
        .get_item(pyo3::intern!(py, "_abc_instancecheck"))?
        .is_some_and(|function| function.is(&abc.instancecheck));
    if stock {
        return abc
            .instancecheck
            .bind(py)
            .call1((deferred, state))?
            .is_truthy();
    }
    state.is_instance(deferred)
}

/// Method names kept (see [`remote_method_name`]).
const KEPT_METHOD_NAMES: usize = 16;

/// The last few message names received as bytes, and the `remote_` name
/// each stands for.
static METHOD_NAMES: Cache<Vec<(Vec<u8>, Py<PyString>)>> = Cache::new(Vec::new());

/// `"remote_%s" % message`, with `message` decoded from UTF-8 unless a
/// str, as `_recvMessage` and `remoteMessageReceived` make it. A name
/// arriving as bytes (every peer's) is kept with what it made, for the next
/// call of the same method: the same text, made once.
fn remote_method_name<'py>(message: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyString>> {
    let py = message.py();
    let Ok(bytes) = message.cast_exact::<PyBytes>() else {
        let text = if message.is_instance_of::<PyString>() {
            message.clone()
        } else {
            message.call_method1(pyo3::intern!(py, "decode"), ("utf8",))?
        };
        return Ok(PyString::new(
            py,
            &format!("remote_{}", text.str()?.to_str()?),
        ));
    };
    let key = bytes.as_bytes();
    {
        let kept = lock(py, &METHOD_NAMES);
        if let Some((_, name)) = kept.iter().find(|(known, _)| known.as_slice() == key) {
            return Ok(name.bind(py).clone());
        }
    }
    // bytes.decode("utf8"), its errors included.
    let text = bytes.call_method1(pyo3::intern!(py, "decode"), ("utf8",))?;
    let name = PyString::intern(py, &format!("remote_{}", text.str()?.to_str()?));
    // The name let go of (a str, whose release runs no Python code) is
    // let go of once the cache is no longer in use.
    let _dropped = {
        let mut kept = lock(py, &METHOD_NAMES);
        let dropped = (kept.len() == KEPT_METHOD_NAMES).then(|| kept.remove(0));
        kept.push((key.to_vec(), name.clone().unbind()));
        dropped
    };
    Ok(name)
}

/// The message kind `name` (`answer` or `message`) as a bytes object, made
/// once (bytes are immutable: one object serves every message).
fn kind<'py>(py: Python<'py>, name: &'static [u8]) -> Bound<'py, PyAny> {
    static KINDS: PyOnceLock<(Py<PyAny>, Py<PyAny>)> = PyOnceLock::new();
    let (answer, message) = KINDS.get_or_init(py, || {
        (
            PyBytes::new(py, b"answer").into_any().unbind(),
            PyBytes::new(py, b"message").into_any().unbind(),
        )
    });
    match name {
        b"answer" => answer.bind(py).clone(),
        b"message" => message.bind(py).clone(),
        _ => PyBytes::new(py, name).into_any(),
    }
}

/// What the `remote_` method's call came to, inside `_recvMessage`'s `try`.
enum Outcome<'py> {
    /// The answer message, encoded: a result jellied natively.
    Answer(Bound<'py, PyBytes>),
    /// The result and the object's perspective, for the broker's own
    /// `serialize`: a Deferred, or a call that wants no answer.
    Later(Bound<'py, PyAny>, Bound<'py, PyAny>),
}

/// Twisted's `if [key for key in kw.keys() if isinstance(key, bytes)]: kw =
/// {k.decode("utf8"): v for k, v in kw.items()}`.
fn text_keywords<'py>(kw: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    let py = kw.py();
    let mut any_bytes = false;
    if let Ok(dict) = kw.cast_exact::<PyDict>() {
        // A dict's own keys(), iterated without the method call.
        for (key, _) in dict.iter() {
            any_bytes |= key.is_instance_of::<PyBytes>();
        }
    } else {
        for key in kw.call_method0(pyo3::intern!(py, "keys"))?.try_iter()? {
            any_bytes |= key?.is_instance_of::<PyBytes>();
        }
    }
    if !any_bytes {
        return Ok(kw.clone());
    }
    let decoded = PyDict::new(py);
    for pair in kw.call_method0(pyo3::intern!(py, "items"))?.try_iter()? {
        let (key, value): (Bound<'py, PyAny>, Bound<'py, PyAny>) = pair?.extract()?;
        decoded.set_item(
            key.call_method1(pyo3::intern!(py, "decode"), ("utf8",))?,
            value,
        )?;
    }
    Ok(decoded.into_any())
}

/// `method(*args, **kw)`.
fn call_method<'py>(
    method: &Bound<'py, PyAny>,
    args: &Bound<'py, PyAny>,
    kw: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    // An exact tuple and dict are what `*` and `**` make of themselves
    // (PyObject_Call checks the keys as the call syntax does); anything else
    // goes through the call syntax itself.
    if let (Ok(args), Ok(kw)) = (args.cast_exact::<PyTuple>(), kw.cast_exact::<PyDict>()) {
        return method.call(args, Some(kw));
    }
    static STAR_CALL: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    STAR_CALL
        .import(method.py(), "pbfast.pb", "_starCall")?
        .call1((method, args, kw))
}

/// `[b"answer", requestID, netResult]` received by `broker`, as pbfast's
/// `proto_answer` takes it: the call's Deferred fires with the result, or
/// fails with the error that reading it raised (raised again).
pub(crate) fn answer_received(broker: &Bound<'_, PyAny>, items: &[Item<'_>]) -> PyResult<bool> {
    let py = broker.py();
    let [_, Item::Object(request_id), net_result] = items else {
        return Ok(false);
    };
    let waiting = broker.getattr(pyo3::intern!(py, "waitingForAnswers"))?;
    let deferred = match waiting.cast_exact::<PyDict>() {
        // dict.pop itself, without the method call.
        Ok(waiting) => match waiting.get_item(request_id)? {
            Some(deferred) => {
                waiting.del_item(request_id)?;
                deferred
            }
            None => {
                return Err(pyo3::exceptions::PyKeyError::new_err(
                    request_id.clone().unbind(),
                ))
            }
        },
        Err(_) => waiting.call_method1(pyo3::intern!(py, "pop"), (request_id,))?,
    };
    let result = match net_result {
        Item::Jellied(encoded) => unserialize_for(broker, &[encoded]).map(|objects| {
            let [object] =
                <[_; 1]>::try_from(objects).unwrap_or_else(|_| unreachable!("one for one"));
            object
        }),
        Item::Object(net_result) => {
            broker.call_method1(pyo3::intern!(py, "unserialize"), (net_result,))
        }
    };
    match result {
        Ok(result) => {
            deferred.call_method1(pyo3::intern!(py, "callback"), (result,))?;
            Ok(true)
        }
        Err(error) => {
            python(py)?
                .answer_unreadable
                .bind(py)
                .call1((deferred, error.into_value(py)))?;
            Ok(true)
        }
    }
}

/// What Twisted's `_sendMessage` does for a call with none of `pbcallback`,
/// `pberrback`, `pbanswer`, once it is known not to be stale: `args` and
/// `kw` serialized, a request id taken, a Deferred kept for the answer and
/// `[prefix + b"message", requestID, objectID, message, 1, netArgs, netKw]`
/// sent.
pub(crate) fn send_call<'py>(
    broker: &Bound<'py, PyAny>,
    call: &Call<'_, 'py>,
    wire: &Wire<'_>,
) -> PyResult<Sent<'py>> {
    let py = broker.py();
    let objects = [call.args, call.kw];
    let encoded = match serialize_for(broker, &objects, call.perspective, call.message, wire) {
        Ok(encoded) => encoded,
        Err(error) => return Ok(Sent::NotSerialized(error.into_value(py).into_bound(py))),
    };
    let [net_args, net_kw] = &encoded[..] else {
        unreachable!("one for each")
    };
    let request_id = new_request_id(broker)?;
    let deferred = python(py)?.deferred.bind(py).call0()?;
    broker
        .getattr(pyo3::intern!(py, "waitingForAnswers"))?
        .set_item(&request_id, &deferred)?;
    let kind = call.prefix.add(kind(py, b"message"))?;
    let answer_required = 1i32.into_pyobject(py)?.into_any();
    let head = [
        &kind,
        &request_id,
        call.object_id,
        call.message,
        &answer_required,
    ];
    let data = wire.encode_message(py, &head, &[net_args, net_kw])?;
    let transport = broker.getattr(pyo3::intern!(py, "transport"))?;
    write_message(broker, &transport, data)?;
    Ok(Sent::Call(deferred))
}

/// Twisted's `newRequestID`, which the send path stands in for (see
/// [`crate::broker::stock::Path::Send`]): `self.currentRequestID =
/// self.currentRequestID + 1`, and the new id.
fn new_request_id<'py>(broker: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    let py = broker.py();
    let name = pyo3::intern!(py, "currentRequestID");
    let next = broker.getattr(name)?.add(1)?;
    // The assignment is the instance dict's, for a class with nothing of
    // that name that assigns as `object` does (as every class on the send
    // path does): made there, as the path's own (see `found_absent`).
    let class = broker.get_type();
    match instance_dict(broker)? {
        Some(dict) if assigns_as_object(&class) && type_lookup(&class, name).is_none() => {
            // Where nothing but the assignment changed the dict (see
            // `found_absent::assign`), the id read back from it is the one
            // assigned: a class that looks attributes up as `object` does
            // (as every class on the send path does), with nothing of that
            // name, finds it there.
            if found_absent::assign(&dict, name, &next, 0)?.is_some() && looks_up_as_object(&class)
            {
                return Ok(next);
            }
        }
        _ => broker.setattr(name, next)?,
    }
    broker.getattr(name)
}

/// What `_sendMessage(prefix, perspective, objectID, message, args, kw)`
/// is given.
pub(crate) struct Call<'a, 'py> {
    pub(crate) prefix: &'a Bound<'py, PyAny>,
    pub(crate) perspective: &'a Bound<'py, PyAny>,
    pub(crate) object_id: &'a Bound<'py, PyAny>,
    pub(crate) message: &'a Bound<'py, PyAny>,
    pub(crate) args: &'a Bound<'py, PyAny>,
    pub(crate) kw: &'a Bound<'py, PyAny>,
}

/// What became of a call to send.
pub(crate) enum Sent<'py> {
    /// Sent: the Deferred of its answer.
    Call(Bound<'py, PyAny>),
    /// Not sent: serializing the arguments raised this (Twisted's
    /// `_sendMessage` returns it as a failed Deferred).
    NotSerialized(Bound<'py, pyo3::exceptions::PyBaseException>),
}
