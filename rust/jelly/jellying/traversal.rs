//! The jelly traversal: Twisted's `_Jellier.jelly`, object by object, into
//! a [`Sink`] — the same walk makes Python s-expressions (`jelly.jelly`) and
//! Banana bytes (`dumps`, the broker's messages).
//!
//! Exact built-in types go straight to their encodings; everything else is
//! checked in Twisted's order (Jellyable, the taster's type check, methods,
//! functions, modules, classes, instances), names computed as Twisted
//! computes them ([`crate::jelly::names`]) and hooks found on the object as
//! Twisted's calls find them ([`crate::jelly::hooks`]). Shared objects go through
//! the [`Jellier`]'s bookkeeping; only an object held by its container
//! alone, met while no Python code has run, skips it (it cannot be met
//! again: see `Jellier::may_skip`). Anything that may run Python code is
//! preceded by `Cx::python_may_run`.

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple, PyType};

use super::context::Cx;
use super::jellier::{unpersistable, Jellier};
use super::sinks::list::ListSink;
use super::sinks::Sink;
use super::values::jelly_value_type;
use crate::jelly::depth::{objects_too_deep, Depth, Stack};
use crate::jelly::hooks::{bound_function, look_up, type_function, Hook};
use crate::jelly::names::{function_name, qual, qual_bytes};
use crate::jelly::python_objects::PythonObjects;
use crate::pybanana::gc::GcPause;

/// The s-expression for `obj`, jellied by `slf`: `jellier.jelly(obj)`.
pub(crate) fn jelly_to_sexp<'py>(
    slf: &Bound<'py, Jellier>,
    obj: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    let _pause = GcPause::new(slf.py());
    let me = slf.borrow();
    let cx = Cx {
        slf,
        me: &me,
        refs: PythonObjects::get(slf.py())?,
        stack: Stack::new(),
        root: obj.as_ptr() as usize,
    };
    jelly(&cx, &mut ListSink::new(), obj)
}

/// The s-expression for `obj`: Twisted's `_Jellier.jelly`.
#[inline(always)]
pub(crate) fn jelly<'py, S: Sink<'py>>(
    cx: &Cx<'_, 'py>,
    sink: &mut S,
    obj: &Bound<'py, PyAny>,
) -> PyResult<S::Out> {
    // What fills most containers (the scalars, strs, the containers,
    // None and the booleans) without the call below: a large frame to set
    // up, for the general dispatch. Exact types under a taster that allows
    // every type name, as there.
    let ty_ptr = obj.get_type_ptr();
    if cx.me.policy().allows_all_type_names() {
        if ty_ptr == &raw mut ffi::PyLong_Type
            || ty_ptr == &raw mut ffi::PyFloat_Type
            || ty_ptr == &raw mut ffi::PyBytes_Type
        {
            return sink.scalar(cx, obj);
        }
        if ty_ptr == &raw mut ffi::PyUnicode_Type {
            return jelly_str(cx, sink, obj);
        }
        if ty_ptr == &raw mut ffi::PyList_Type
            || ty_ptr == &raw mut ffi::PyDict_Type
            || ty_ptr == &raw mut ffi::PyTuple_Type
        {
            return jelly_mutable(cx, sink, obj);
        }
        if obj.is_none() {
            return sink.none(cx);
        }
        if ty_ptr == &raw mut ffi::PyBool_Type {
            return jelly_bool(cx, sink, obj);
        }
    }
    jelly_any(cx, sink, obj)
}

/// [`jelly`] of any object.
#[inline(never)]
fn jelly_any<'py, S: Sink<'py>>(
    cx: &Cx<'_, 'py>,
    sink: &mut S,
    obj: &Bound<'py, PyAny>,
) -> PyResult<S::Out> {
    let py = cx.py();
    let refs = cx.refs;
    let ty_ptr = obj.get_type_ptr();

    // Exact built-in types cannot be Jellyable, and with a stock taster
    // every type name is allowed: straight to their encodings. (The
    // scalars, strs, lists, dicts, tuples, None and the booleans were
    // dispatched so in [`jelly`] already.)
    if cx.me.policy().allows_all_type_names() {
        if ty_ptr == &raw mut ffi::PySet_Type || ty_ptr == &raw mut ffi::PyFrozenSet_Type {
            return jelly_mutable(cx, sink, obj);
        }
        // The date and time types and Decimal, exactly: none of the checks
        // before them in the general order below can match them.
        if let Some(result) = jelly_value_type(cx, sink, obj)? {
            return Ok(result);
        }
    }

    // Everything below may run Python code: `isinstance` may read a
    // `__class__` property, and the rest calls methods of the object, hooks
    // and tasters.
    cx.python_may_run(sink.skips());
    let me = cx.me;
    if obj.is_instance(refs.jellyable.bind(py))? {
        return cx.stack.level(|| jelly_jellyable(cx, sink, obj));
    }
    let ty = obj.get_type();
    // Computed whatever the taster, as Twisted computes it: it fails for a
    // type whose `__module__` or `__name__` cannot be joined.
    let name = qual_bytes(ty.as_any())?;
    if !me.policy().allows_all_type_names() && !me.policy().type_allowed(name.as_any(), &name)? {
        return Err(refs.insecure(
            py,
            format!("Type not allowed for object: {} {}", ty.str()?, obj.str()?),
        ));
    }
    if ty.is(py.get_type::<PyBytes>())
        || ty.is(py.get_type::<PyInt>())
        || ty.is(py.get_type::<PyFloat>())
    {
        return sink.scalar(cx, obj);
    }
    if obj.is_instance(refs.method_type.bind(py))? {
        let function = obj.getattr("__func__")?;
        let owner = obj.getattr("__self__")?;
        let class = owner.getattr("__class__")?;
        let mut seq = sink.open(cx, cx.atom(&refs.atoms.method), 3)?;
        let name = sink.sexp(cx, function.getattr("__name__")?)?;
        sink.push(&mut seq, name);
        let owner = jelly(cx, sink, &owner)?;
        sink.push(&mut seq, owner);
        let class = jelly(cx, sink, &class)?;
        sink.push(&mut seq, class);
        return sink.close(cx, seq);
    }
    if ty.is(py.get_type::<PyString>()) {
        return jelly_str(cx, sink, obj);
    }
    if obj.is_none() {
        return sink.none(cx);
    }
    if obj.is_instance(refs.function_type.bind(py))? {
        return sink.pair(cx, &refs.atoms.function, function_name(obj)?);
    }
    if obj.is_instance(refs.module_type.bind(py))? {
        return sink.pair(cx, &refs.atoms.module, obj.getattr("__name__")?);
    }
    if ty.is(py.get_type::<PyBool>()) {
        return jelly_bool(cx, sink, obj);
    }
    if let Some(result) = jelly_value_type(cx, sink, obj)? {
        return Ok(result);
    }
    if ty.is_subclass(&py.get_type::<PyType>())? {
        return sink.pair(cx, &refs.atoms.class, qual_bytes(obj)?.into_any());
    }
    jelly_mutable(cx, sink, obj)
}

fn jelly_str<'py, S: Sink<'py>>(
    cx: &Cx<'_, 'py>,
    sink: &mut S,
    obj: &Bound<'py, PyAny>,
) -> PyResult<S::Out> {
    // SAFETY: `obj` is a str (checked by the caller).
    sink.text(cx, unsafe { obj.cast_unchecked::<PyString>() })
}

#[inline(always)]
fn jelly_bool<'py, S: Sink<'py>>(
    cx: &Cx<'_, 'py>,
    sink: &mut S,
    obj: &Bound<'py, PyAny>,
) -> PyResult<S::Out> {
    // SAFETY: reading the address of the `True` singleton. (`bool` cannot
    // be subclassed: its two instances are the singletons.)
    let value = obj.as_ptr() == unsafe { ffi::Py_True() };
    sink.boolean(cx, value)
}

/// A Jellyable object: it writes itself (`jellyFor`, looked up on the
/// object as Twisted's `obj.jellyFor(self)` finds it). The flavors whose
/// stock `jellyFor` a broker's serialization (an invoker) makes common are
/// written here instead, as Twisted's methods would write them: a Copyable
/// as `[type, state]`, a Referenceable as `[b"remote", luid]`. A stock
/// method pbfast fixes is replaced by the fixed one (`Flavors::substitutes`).
fn jelly_jellyable<'py, S: Sink<'py>>(
    cx: &Cx<'_, 'py>,
    sink: &mut S,
    obj: &Bound<'py, PyAny>,
) -> PyResult<S::Out> {
    let py = cx.py();
    let (me, refs) = (cx.me, cx.refs);
    if let Some(id) = me.reference_id(obj)? {
        return sink.dereference(cx, obj, id);
    }
    let Some(_level) = Depth::enter(&me.depth, me.max_jelly_depth()) else {
        return Err(objects_too_deep(py, refs, me.max_jelly_depth()));
    };
    let name = pyo3::intern!(py, "jellyFor");
    // The function `obj.jellyFor` is, bound to `obj`, if it is one.
    let (hook, function) = match type_function(obj, name)? {
        Some(function) => (None, Some(function)),
        None => {
            let hook = obj.getattr(name)?;
            let function = bound_function(&hook, obj, refs);
            (Some(hook), function)
        }
    };
    if let Some(function) = function {
        let flavors = &refs.flavors;
        let invoker = &me.invoker(py);
        if !invoker.is_none() {
            if function.is(&flavors.copyable_jelly_for) {
                return jelly_copyable(cx, sink, obj, invoker);
            }
            if function.is(&flavors.referenceable_jelly_for) {
                let luid = invoker.call_method1(pyo3::intern!(py, "registerReference"), (obj,))?;
                return sink.pair(cx, &refs.atoms.remote, luid);
            }
        }
        if let Some(substitute) = flavors.substitutes.bind(py).get_item(&function)? {
            return sink.sexp(cx, substitute.call1((obj, cx.slf))?);
        }
    }
    let hook = match hook {
        Some(hook) => hook,
        None => obj.getattr(name)?,
    };
    sink.sexp(cx, hook.call1((cx.slf,))?)
}

/// `obj.<outer>(perspective)`, where Twisted's stock `outer` is
/// `return self.<inner>()` and its stock `inner` is `stock_result()`: each
/// hook looked up on the object when Twisted's code would look it up, the
/// stock ones done here.
fn copy_hook<'py>(
    cx: &Cx<'_, 'py>,
    obj: &Bound<'py, PyAny>,
    outer: (&Bound<'py, PyString>, &Py<PyAny>),
    inner: (&Bound<'py, PyString>, &Py<PyAny>),
    perspective: &Bound<'py, PyAny>,
    stock_result: impl FnOnce() -> PyResult<Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    if let Hook::Other(hook) = look_up(obj, outer.0, outer.1, cx.refs)? {
        return hook.call1((perspective,));
    }
    if let Hook::Other(hook) = look_up(obj, inner.0, inner.1, cx.refs)? {
        return hook.call0();
    }
    stock_result()
}

/// What Twisted's `Copyable.jellyFor` writes for a broker: the type tag
/// (`getTypeToCopyFor`: the class's qualified name by default) and the
/// state (`getStateToCopyFor`: the instance dict by default), as an object
/// that later occurrences refer back to. Hooks that are not Twisted's
/// stock ones are called, in Twisted's order.
fn jelly_copyable<'py, S: Sink<'py>>(
    cx: &Cx<'_, 'py>,
    sink: &mut S,
    obj: &Bound<'py, PyAny>,
    invoker: &Bound<'py, PyAny>,
) -> PyResult<S::Out> {
    let py = cx.py();
    let flavors = &cx.refs.flavors;
    let perspective = invoker.getattr(pyo3::intern!(py, "serializingPerspective"))?;
    let tag = copy_hook(
        cx,
        obj,
        (
            pyo3::intern!(py, "getTypeToCopyFor"),
            &flavors.get_type_to_copy_for,
        ),
        (
            pyo3::intern!(py, "getTypeToCopy"),
            &flavors.get_type_to_copy,
        ),
        &perspective,
        || Ok(qual_bytes(&obj.getattr(pyo3::intern!(py, "__class__"))?)?.into_any()),
    )?;
    let state = copy_hook(
        cx,
        obj,
        (
            pyo3::intern!(py, "getStateToCopyFor"),
            &flavors.get_state_to_copy_for,
        ),
        (
            pyo3::intern!(py, "getStateToCopy"),
            &flavors.get_state_to_copy,
        ),
        &perspective,
        || obj.getattr(pyo3::intern!(py, "__dict__")),
    )?;
    // Registered only now, as Twisted's `prepare` registers it after the
    // hooks ran.
    if let Some(id) = cx.me.reference_or_start(obj, sink.position())? {
        return sink.dereference(cx, obj, id);
    }
    let mut seq = sink.open(cx, tag, 1)?;
    let state = jelly(cx, sink, &state)?;
    sink.push(&mut seq, state);
    let out = sink.close(cx, seq)?;
    sink.finish_object(cx, obj, out)
}

/// Lists, tuples, dicts, sets, frozensets and instances: the objects that
/// can be shared, so the ones that take part in references. One met again
/// is a dereference, written here; one met for the first time is written
/// a level down ([`jelly_contents`]).
#[inline(always)]
fn jelly_mutable<'py, S: Sink<'py>>(
    cx: &Cx<'_, 'py>,
    sink: &mut S,
    obj: &Bound<'py, PyAny>,
) -> PyResult<S::Out> {
    // One that cannot be met again (see `Jellier::may_skip`) is not
    // entered among the objects met: Twisted would never give it an id.
    let skipped = if cx.me.may_skip(obj) {
        let offset = sink.position();
        Some(sink.skips().skip(obj, offset))
    } else {
        if obj.as_ptr() as usize == cx.root && sink.skips().starts_with(cx.root) {
            // The root, skipped (it is the first object met), met again
            // through a cycle: it must be among the objects met now.
            cx.stop_skipping(sink.skips());
        }
        if let Some(id) = cx.me.reference_or_start(obj, sink.position())? {
            return sink.dereference(cx, obj, id);
        }
        None
    };
    cx.stack.level(|| jelly_contents(cx, sink, obj, skipped))
}

/// [`jelly_mutable`] for an object met for the first time: its contents,
/// one nesting level down. `skipped`: its slot among the objects skipped,
/// if it is one.
fn jelly_contents<'py, S: Sink<'py>>(
    cx: &Cx<'_, 'py>,
    sink: &mut S,
    obj: &Bound<'py, PyAny>,
    skipped: Option<usize>,
) -> PyResult<S::Out> {
    let py = cx.py();
    let (me, refs) = (cx.me, cx.refs);
    let Some(_level) = Depth::enter(&me.depth, me.max_jelly_depth()) else {
        return Err(objects_too_deep(py, refs, me.max_jelly_depth()));
    };
    let ty_ptr = obj.get_type_ptr();
    let out = if ty_ptr == &raw mut ffi::PyList_Type {
        // SAFETY: the type was just checked.
        let list = unsafe { obj.cast_unchecked::<PyList>() };
        let count = list.len();
        let mut seq = sink.open(cx, cx.atom(&refs.atoms.list), count)?;
        // Indexed each time: a hook run meanwhile may change the list.
        let mut index = 0;
        // Bounded by the current length each time (never by a failing
        // get_item: an IndexError per list is not free).
        loop {
            // SAFETY: `list` is an exact list, alive (held by `obj`); the index
            // is checked against its current size just before the read, and
            // the item is turned into a strong reference at once.
            let item = unsafe {
                let size = ffi::PyList_GET_SIZE(list.as_ptr()) as usize;
                if (S::FIXED_LENGTH && index == count) || index >= size {
                    break;
                }
                Bound::from_borrowed_ptr(py, ffi::PyList_GET_ITEM(list.as_ptr(), index as isize))
            };
            let item = jelly(cx, sink, &item)?;
            sink.push(&mut seq, item);
            index += 1;
        }
        sink.close(cx, seq)?
    } else if ty_ptr == &raw mut ffi::PyTuple_Type {
        // SAFETY: the type was just checked.
        let tuple = unsafe { obj.cast_unchecked::<PyTuple>() };
        let mut seq = sink.open(cx, cx.atom(&refs.atoms.tuple), tuple.len())?;
        for item in tuple.iter() {
            let item = jelly(cx, sink, &item)?;
            sink.push(&mut seq, item);
        }
        sink.close(cx, seq)?
    } else if ty_ptr == &raw mut ffi::PyDict_Type {
        // SAFETY: the type was just checked.
        jelly_dict(cx, sink, unsafe { obj.cast_unchecked::<PyDict>() })?
    } else if ty_ptr == &raw mut ffi::PySet_Type || ty_ptr == &raw mut ffi::PyFrozenSet_Type {
        let atom = if ty_ptr == &raw mut ffi::PySet_Type {
            &refs.atoms.set
        } else {
            &refs.atoms.frozenset
        };
        let mut seq = sink.open(cx, cx.atom(atom), obj.len()?)?;
        for item in obj.try_iter()? {
            let item = jelly(cx, sink, &item?)?;
            sink.push(&mut seq, item);
        }
        sink.close(cx, seq)?
    } else {
        jelly_instance(cx, sink, obj)?
    };
    // A skipped object is done: still not among the objects met, unless
    // Python code ran meanwhile, which entered it there as being built (to
    // be finished as any other object).
    if let Some(slot) = skipped {
        if cx.me.is_unobserved() {
            if let Some(sexp) = S::kept(&out) {
                sink.skips().made(slot, sexp);
            }
            return Ok(out);
        }
    }
    sink.finish_object(cx, obj, out)
}

fn jelly_dict<'py, S: Sink<'py>>(
    cx: &Cx<'_, 'py>,
    sink: &mut S,
    dict: &Bound<'py, PyDict>,
) -> PyResult<S::Out> {
    let py = cx.py();
    let size = dict.len();
    let mut seq = sink.open(cx, cx.atom(&cx.refs.atoms.dictionary), size)?;
    let mut position: ffi::Py_ssize_t = 0;
    loop {
        let mut key: *mut ffi::PyObject = std::ptr::null_mut();
        let mut value: *mut ffi::PyObject = std::ptr::null_mut();
        // SAFETY: PyDict_Next reads the dict's current table and bounds-checks
        // `position`; it returns borrowed references, which are turned into
        // owned ones at once, before any Python code (a hook jellying them)
        // can run and change the dict.
        let (key, value) = unsafe {
            if ffi::PyDict_Next(dict.as_ptr(), &mut position, &mut key, &mut value) == 0 {
                break;
            }
            (
                Bound::from_borrowed_ptr(py, key),
                Bound::from_borrowed_ptr(py, value),
            )
        };
        sink.open_item(cx)?;
        // An exact str key, where any type is allowed: what `jelly` would
        // write (see `jelly_str`).
        let key = if key.get_type_ptr() == &raw mut ffi::PyUnicode_Type
            && cx.me.policy().allows_all_type_names()
        {
            // SAFETY: an exact str, checked above.
            sink.key_text(cx, unsafe { key.cast_unchecked::<PyString>() })?
        } else {
            jelly(cx, sink, &key)?
        };
        let value = jelly(cx, sink, &value)?;
        let item = sink.close_item(cx, key, value)?;
        sink.push(&mut seq, item);
        if dict.len() != size {
            return Err(pyo3::exceptions::PyRuntimeError::new_err(
                "dictionary changed size during iteration",
            ));
        }
    }
    sink.close(cx, seq)
}

/// An instance of any other class: `[b"module.Class", <state>]`, or what the
/// persistent store says, or `unpersistable` if the taster refuses the class.
fn jelly_instance<'py, S: Sink<'py>>(
    cx: &Cx<'_, 'py>,
    sink: &mut S,
    obj: &Bound<'py, PyAny>,
) -> PyResult<S::Out> {
    let py = cx.py();
    let (me, refs) = (cx.me, cx.refs);
    let class = obj.getattr(pyo3::intern!(py, "__class__"))?;
    let class_name = qual_bytes(&class)?;
    let store = me.persistent_store(py);
    let persistent = if store.is_truthy()? {
        store.call1((obj, cx.slf))?
    } else {
        py.None().into_bound(py)
    };
    if !persistent.is_none() {
        let mut seq = sink.open(cx, cx.atom(&refs.atoms.persistent), 1)?;
        let persistent = sink.sexp(cx, persistent)?;
        sink.push(&mut seq, persistent);
        return sink.close(cx, seq);
    }
    if me.policy().class_allowed(&class)? {
        let state = match obj.getattr_opt(pyo3::intern!(py, "__getstate__"))? {
            Some(getstate) => getstate.call0()?,
            None => obj.getattr(pyo3::intern!(py, "__dict__"))?,
        };
        let mut seq = sink.open(cx, class_name.into_any(), 1)?;
        let state = jelly(cx, sink, &state)?;
        sink.push(&mut seq, state);
        return sink.close(cx, seq);
    }
    let reason = PyString::new(
        py,
        &format!("instance of class {} deemed insecure", qual(&class)?.str()?),
    );
    let sexp = unpersistable(py, reason.as_any(), Some(PyList::empty(py)))?;
    sink.sexp(cx, sexp.into_any())
}
