//! How a hook is found: as Python finds it for the call Twisted makes —
//! `obj.jellyFor(jellier)`, `self.getTypeToCopyFor(p)`,
//! `self.getStateToCopy()`, `getattr(blank, "unjellyFor", regClass)`,
//! `self.setCopyableState(state)` — so that an attribute set on the
//! instance, a `__getattr__`, a `__getattribute__` or a descriptor counts
//! exactly as it does there.
//!
//! Each hook is looked up once, where Twisted looks it up. Native code
//! stands in for it only when that lookup gives Twisted's stock function
//! bound to the object (a class that keeps the stock method, and nothing
//! on the instance hiding it); anything else the lookup gives is called as
//! found.

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::PyString;

use super::refs::Refs;

extern "C" {
    // CPython's accessors of a bound method (`Include/classobject.h`),
    // which PyO3 does not declare: exported by every CPython 3.
    fn PyMethod_Function(method: *mut ffi::PyObject) -> *mut ffi::PyObject;
    fn PyMethod_Self(method: *mut ffi::PyObject) -> *mut ffi::PyObject;
}

/// The function of `found` if it is a method bound to `obj` (what looking
/// up a function defined on `obj`'s class gives), else `None`.
pub(crate) fn bound_function<'py>(
    found: &Bound<'py, PyAny>,
    obj: &Bound<'py, PyAny>,
    refs: &Refs,
) -> Option<Bound<'py, PyAny>> {
    let py = found.py();
    // `types.MethodType` cannot be subclassed: its instances are exactly
    // the objects of that type.
    if !found.get_type().is(refs.method_type.bind(py)) {
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
    refs: &Refs,
) -> bool {
    bound_function(found, obj, refs).is_some_and(|function| function.is(stock))
}

/// `getattr(obj, name)`, and whether it is `stock` bound to `obj` (see
/// [`is_stock`]).
pub(crate) fn look_up<'py>(
    obj: &Bound<'py, PyAny>,
    name: &Bound<'py, PyString>,
    stock: &Py<PyAny>,
    refs: &Refs,
) -> PyResult<(Bound<'py, PyAny>, bool)> {
    let found = obj.getattr(name)?;
    let stock = is_stock(&found, obj, stock, refs);
    Ok((found, stock))
}
