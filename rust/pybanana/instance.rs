//! An object's own attributes as `object`'s attribute machinery keeps them:
//! the instance dict, and whether a class looks attributes up and assigns
//! them as `object` does (so that what a lookup or an assignment does can
//! be told, or done, without making it).

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyType};

/// The instance dict of `obj` (made if the instance keeps its attributes
/// inline, after which they live in it); `None` for an object that has
/// none.
pub(crate) fn instance_dict<'py>(obj: &Bound<'py, PyAny>) -> PyResult<Option<Bound<'py, PyDict>>> {
    let py = obj.py();
    // SAFETY: PyObject_GenericGetDict returns a new reference to the
    // instance dict, or NULL with an exception set: AttributeError for an
    // object whose type gives its instances none.
    let dict = unsafe {
        Bound::from_owned_ptr_or_err(
            py,
            ffi::PyObject_GenericGetDict(obj.as_ptr(), std::ptr::null_mut()),
        )
    };
    match dict {
        Ok(dict) => Ok(dict.cast_into::<PyDict>().ok()),
        Err(error) if error.is_instance_of::<pyo3::exceptions::PyAttributeError>(py) => Ok(None),
        Err(error) => Err(error),
    }
}

/// True if instances of `class` look attributes up as `object` does (no
/// `__getattribute__` or `__getattr__` of their own).
pub(crate) fn looks_up_as_object(class: &Bound<'_, PyType>) -> bool {
    // SAFETY: reading the type's slot under the GIL. Two addresses of
    // CPython's exported function are compared: a type that has `object`'s
    // lookup copies that pointer; were they ever not the same, the caller
    // would just make the lookup.
    unsafe {
        (*class.as_type_ptr()).tp_getattro.is_some_and(|lookup| {
            std::ptr::fn_addr_eq(lookup, ffi::PyObject_GenericGetAttr as ffi::getattrofunc)
        })
    }
}

/// True if instances of `class` assign attributes as `object` does (no
/// `__setattr__` of their own).
pub(crate) fn assigns_as_object(class: &Bound<'_, PyType>) -> bool {
    // SAFETY: as in `looks_up_as_object`.
    unsafe {
        (*class.as_type_ptr()).tp_setattro.is_some_and(|assign| {
            std::ptr::fn_addr_eq(assign, ffi::PyObject_GenericSetAttr as ffi::setattrofunc)
        })
    }
}
