//! How a hook is found: as Python finds it for the call Twisted makes —
//! `obj.jellyFor(jellier)`, `self.getTypeToCopyFor(p)`,
//! `self.getStateToCopy()`, `getattr(blank, "unjellyFor", regClass)`,
//! `self.setCopyableState(state)` — so that an attribute set on the
//! instance, a `__getattr__`, a `__getattribute__` or a descriptor counts
//! exactly as it does there.
//!
//! Each hook is looked up where Twisted looks it up. Native code stands in
//! for it only when that lookup gives Twisted's stock function bound to the
//! object (a class that keeps the stock method, and nothing on the instance
//! hiding it); anything else the lookup gives is called as found.
//!
//! Where the object's type looks attributes up as `object` does, what the
//! lookup gives is told without making the bound method
//! ([`type_function`]); elsewhere the lookup is made.

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyString, PyType};

use super::python_objects::PythonObjects;
use crate::pybanana::instance::{instance_dict, looks_up_as_object};

extern "C" {
    // CPython's accessors of a bound method (`Include/classobject.h`),
    // which PyO3 does not declare: exported by every CPython 3.
    fn PyMethod_Function(method: *mut ffi::PyObject) -> *mut ffi::PyObject;
    fn PyMethod_Self(method: *mut ffi::PyObject) -> *mut ffi::PyObject;
    // The lookup of a name along a type's MRO that `object`'s attribute
    // lookup makes (`Include/cpython/object.h`), which PyO3 does not
    // declare: exported by CPython 3.11 to 3.13. A borrowed reference, or
    // NULL (with no exception set) when no class has the name.
    fn _PyType_Lookup(ty: *mut ffi::PyTypeObject, name: *mut ffi::PyObject) -> *mut ffi::PyObject;
}

/// What the first class along `class`'s MRO that has `name` has there
/// (`_PyType_Lookup`: what an instance's attribute lookup finds on its
/// class), or `None`. Runs no Python code.
pub(crate) fn type_lookup<'py>(
    class: &Bound<'py, PyType>,
    name: &Bound<'py, PyString>,
) -> Option<Bound<'py, PyAny>> {
    // SAFETY: `class` and `name` are live objects; `_PyType_Lookup` reads
    // the MRO under the GIL and gives a borrowed reference (or NULL, with
    // no exception set), taken as a new one at once.
    unsafe {
        let found = _PyType_Lookup(class.as_type_ptr(), name.as_ptr());
        (!found.is_null()).then(|| Bound::from_borrowed_ptr(class.py(), found))
    }
}

/// The plain function `getattr(obj, name)` would give bound to `obj`, told
/// without making the bound method; `None` where that cannot be told so
/// (the lookup must then be made).
///
/// This is what `object`'s attribute lookup (`PyObject_GenericGetAttr`)
/// gives for a name that classes define as a plain function: a function is
/// not a data descriptor, so an attribute of the instance's own dict comes
/// first; without one, the function bound to the object. So where the
/// type's lookup is `object`'s (no `__getattribute__`, no `__getattr__`),
/// the first class along the MRO that has the name has a plain function
/// there, and the instance has no attribute of that name, the lookup gives
/// that function bound to `obj`. None of this runs Python code.
pub(crate) fn type_function<'py>(
    obj: &Bound<'py, PyAny>,
    name: &Bound<'py, PyString>,
) -> PyResult<Option<Bound<'py, PyAny>>> {
    let py = obj.py();
    // SAFETY: `obj` and `name` are live objects; the type's slot and the
    // MRO are read under the GIL; `_PyType_Lookup` gives a borrowed
    // reference, taken as a new one at once, before anything can run.
    if !looks_up_as_object(&obj.get_type()) {
        return Ok(None);
    }
    let function = unsafe {
        let found = _PyType_Lookup(ffi::Py_TYPE(obj.as_ptr()), name.as_ptr());
        if found.is_null() || ffi::Py_TYPE(found) != &raw mut ffi::PyFunction_Type {
            return Ok(None);
        }
        Bound::from_borrowed_ptr(py, found)
    };
    let hidden = match instance_dict(obj)? {
        Some(dict) => dict.contains(name)?,
        None => false,
    };
    Ok((!hidden).then_some(function))
}

/// The function of `found` if it is a method bound to `obj` (what looking
/// up a function defined on `obj`'s class gives), else `None`.
pub(crate) fn bound_function<'py>(
    found: &Bound<'py, PyAny>,
    obj: &Bound<'py, PyAny>,
    refs: &PythonObjects,
) -> Option<Bound<'py, PyAny>> {
    method_function(found, obj, refs.method_type.bind(found.py()))
}

/// The function of `found` if it is a method bound to `obj`, where
/// `method_type` is `types.MethodType`; else `None`.
pub(crate) fn method_function<'py>(
    found: &Bound<'py, PyAny>,
    obj: &Bound<'py, PyAny>,
    method_type: &Bound<'py, PyType>,
) -> Option<Bound<'py, PyAny>> {
    let py = found.py();
    // `types.MethodType` cannot be subclassed: its instances are exactly
    // the objects of that type.
    if !found.get_type().is(method_type) {
        return None;
    }
    // SAFETY: `found` is a bound method (its type was just checked), alive
    // while it is borrowed here; both accessors return borrowed references
    // to what it holds, taken as new references at once.
    unsafe {
        if PyMethod_Self(found.as_ptr()) != obj.as_ptr() {
            return None;
        }
        Some(Bound::from_borrowed_ptr(
            py,
            PyMethod_Function(found.as_ptr()),
        ))
    }
}

/// True if `found`, what looking a hook up on `obj` gave, is Twisted's
/// stock function `stock` bound to `obj`: Twisted's default behaviour,
/// which native code may stand in for.
pub(crate) fn is_stock(
    found: &Bound<'_, PyAny>,
    obj: &Bound<'_, PyAny>,
    stock: &Py<PyAny>,
    refs: &PythonObjects,
) -> bool {
    bound_function(found, obj, refs).is_some_and(|function| function.is(stock))
}

/// What looking a hook up on an object gave.
pub(crate) enum Hook<'py> {
    /// Twisted's stock function, bound to the object.
    Stock,
    /// Anything else: called as found.
    Other(Bound<'py, PyAny>),
}

/// `getattr(obj, name)`: whether it is `stock` bound to `obj` (see
/// [`is_stock`]), or what else it is.
pub(crate) fn look_up<'py>(
    obj: &Bound<'py, PyAny>,
    name: &Bound<'py, PyString>,
    stock: &Py<PyAny>,
    refs: &PythonObjects,
) -> PyResult<Hook<'py>> {
    look_up_with(obj, name, stock, refs, |obj, name| {
        obj.getattr(name).map(Some)
    })
    .map(|hook| hook.expect("getattr gives an attribute or an error"))
}

/// [`look_up`] of a hook the object may not have (`getattr(obj, name,
/// default)`): `None` where it has none.
pub(crate) fn look_up_optional<'py>(
    obj: &Bound<'py, PyAny>,
    name: &Bound<'py, PyString>,
    stock: &Py<PyAny>,
    refs: &PythonObjects,
) -> PyResult<Option<Hook<'py>>> {
    look_up_with(obj, name, stock, refs, |obj, name| obj.getattr_opt(name))
}

/// [`look_up`], the lookup made by `get` where it cannot be told without.
fn look_up_with<'py>(
    obj: &Bound<'py, PyAny>,
    name: &Bound<'py, PyString>,
    stock: &Py<PyAny>,
    refs: &PythonObjects,
    get: impl FnOnce(&Bound<'py, PyAny>, &Bound<'py, PyString>) -> PyResult<Option<Bound<'py, PyAny>>>,
) -> PyResult<Option<Hook<'py>>> {
    if type_function(obj, name)?.is_some_and(|function| function.is(stock)) {
        return Ok(Some(Hook::Stock));
    }
    Ok(get(obj, name)?.map(|found| {
        if is_stock(&found, obj, stock, refs) {
            Hook::Stock
        } else {
            Hook::Other(found)
        }
    }))
}
