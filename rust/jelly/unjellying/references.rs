//! `reference` and `dereference`: shared and cyclic objects coming in.
//!
//! Shared and cyclic structures use Twisted's own forward-reference objects
//! (`twisted.persisted.crefutil`): a `dereference` to an id not yet seen
//! yields a `_Dereference` placeholder, and containers register themselves
//! as its dependants so that resolving it patches them. The placeholders
//! appear only where a cycle needs them; a referenced dictionary or list
//! read by `loads` is registered before it is filled instead (see
//! [`super::unjellier::Building`]).

use crate::pybanana::errors::describe;
use pyo3::ffi;
use pyo3::prelude::*;

use super::unjellier::{Building, Unjellier};
use crate::jelly::python_objects::PythonObjects;

/// True if `value` is one of Twisted's forward-reference placeholders.
#[inline]
pub(crate) fn is_not_known(value: &Bound<'_, PyAny>, refs: &PythonObjects) -> PyResult<bool> {
    let ty = value.get_type_ptr();
    let plain = ty == &raw mut ffi::PyBytes_Type
        || ty == &raw mut ffi::PyLong_Type
        || ty == &raw mut ffi::PyUnicode_Type
        || ty == &raw mut ffi::PyList_Type
        || ty == &raw mut ffi::PyDict_Type
        || ty == &raw mut ffi::PyTuple_Type
        || ty == &raw mut ffi::PyFloat_Type
        || ty == &raw mut ffi::PyBool_Type;
    if plain || value.is_none() {
        return Ok(false);
    }
    value.is_instance(refs.not_known.bind(value.py()))
}

/// `[b"reference", id, value]` with `value` made: it becomes what `id`
/// stands for, and placeholders waiting for it are resolved.
pub(crate) fn resolve_reference<'py>(
    slf: &Bound<'py, Unjellier>,
    refs: &PythonObjects,
    id: &Bound<'py, PyAny>,
    value: Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    let py = slf.py();
    let me = slf.borrow();
    let known = me
        .reference_get(py, id)
        .map_err(|_| refs.insecure(py, "reference id must be hashable"))?;
    match known {
        Some(known) if !known.is_none() => {
            if !is_not_known(&known, refs)? {
                return Err(refs.insecure(
                    py,
                    format!("Multiple references with same ID {}", describe(id)),
                ));
            }
            me.forget_tags();
            known.call_method1(pyo3::intern!(py, "resolveDependants"), (&value,))?;
        }
        _ => {}
    }
    me.reference_set(py, id, &value)?;
    Ok(value)
}

/// The end of a `reference` whose object was registered before it was
/// filled (see [`Building`]): the places that hold it are set again (if a
/// key was given a second value meanwhile: otherwise they still hold it) and
/// the placeholder handed out for it meanwhile is resolved, as Twisted's
/// patching does. Once materialized, it is Twisted's own resolution.
pub(crate) fn finish_early_reference<'py>(
    slf: &Bound<'py, Unjellier>,
    me: &Unjellier,
    refs: &PythonObjects,
    object: Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    let Some(entry) = me.finish_building() else {
        return Err(pyo3::exceptions::PyRuntimeError::new_err(
            "no reference being filled",
        ));
    };
    finish_reference_entry(slf, me, refs, object, entry)
}

/// [`finish_early_reference`] for its `entry`, taken off the objects being
/// filled.
pub(crate) fn finish_reference_entry<'py>(
    slf: &Bound<'py, Unjellier>,
    me: &Unjellier,
    refs: &PythonObjects,
    object: Bound<'py, PyAny>,
    entry: Building,
) -> PyResult<Bound<'py, PyAny>> {
    let py = slf.py();
    if entry.materialized {
        let id = entry.id.object(py);
        entry.release(py, me);
        return resolve_reference(slf, refs, &id, object);
    }
    // Not materialized: no hook has run since the object was registered,
    // so the reference table still holds it.
    if entry.replaced {
        for (holder, key) in me.places_of(py, &entry) {
            holder.set_item(key, &object)?;
        }
    }
    let placeholder = entry
        .placeholder
        .as_ref()
        .map(|placeholder| placeholder.bind(py).clone());
    entry.release(py, me);
    if let Some(placeholder) = placeholder {
        me.forget_tags();
        placeholder.call_method1(pyo3::intern!(py, "resolveDependants"), (&object,))?;
    }
    Ok(object)
}

/// `[b"dereference", id]`: the object, or a placeholder until it is made.
/// An object still being filled (see [`Building`]) comes with its index
/// there: a dictionary or a list may hold it as it is, anything else gets
/// the placeholder ([`Unjellier::placeholder`]).
pub(crate) fn dereference_building<'py>(
    slf: &Bound<'py, Unjellier>,
    refs: &PythonObjects,
    id: &Bound<'py, PyAny>,
) -> PyResult<(Bound<'py, PyAny>, Option<usize>)> {
    let py = slf.py();
    let me = slf.borrow();
    let known = me
        .reference_get(py, id)
        .map_err(|_| refs.insecure(py, "reference id must be hashable"))?;
    if let Some(known) = known {
        if !known.is_none() {
            let building = me.building_index(&known);
            return Ok((known, building));
        }
    }
    me.forget_tags();
    let placeholder = refs.dereference.bind(py).call1((id,))?;
    me.reference_set(py, id, &placeholder)?;
    Ok((placeholder, None))
}

/// `[b"dereference", id]` for anything but a dictionary or a list.
pub(crate) fn dereference<'py>(
    slf: &Bound<'py, Unjellier>,
    refs: &PythonObjects,
    id: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    match dereference_building(slf, refs, id)? {
        (object, None) => Ok(object),
        (_, Some(index)) => slf.borrow().placeholder(slf.py(), refs, index),
    }
}
