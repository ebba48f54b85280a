//! The names jelly writes and checks, each computed by the expression
//! Twisted's `twisted/spread/jelly.py` uses for it:
//!
//! - a class or type: `qual(cls).encode("utf-8")`, where Twisted's
//!   `reflect.qual(clazz)` is `clazz.__module__ + "." + clazz.__name__` —
//!   the `__name__`, not the `__qualname__`, so a class nested in another
//!   or defined in a function is `module.Inner` (the type check of
//!   `_Jellier.jelly`, `[b"class", ...]`, an instance's tag, a Copyable's
//!   `getTypeToCopy`);
//! - a function: `obj.__module__ + "." + obj.__qualname__`, a `str`;
//! - a module: `obj.__name__`, and a method: its function's `__name__`,
//!   both as they are (read where they are written).
//!
//! Where both parts are exact `str`s the join is made natively, with the
//! same result; anything else goes through Python's `+` and `.encode`, so
//! that an unusual `__module__` gives Twisted's result or Twisted's error.

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString};

/// `left + "." + right`, as Python evaluates it.
fn dotted<'py>(left: &Bound<'py, PyAny>, right: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    let py = left.py();
    if let (Ok(left), Ok(right)) = (
        left.cast_exact::<PyString>(),
        right.cast_exact::<PyString>(),
    ) {
        // Lone surrogates have no UTF-8 here; Python's `+` joins them as
        // they are, below.
        if let (Ok(left), Ok(right)) = (left.to_str(), right.to_str()) {
            return Ok(PyString::new(py, &format!("{left}.{right}")).into_any());
        }
    }
    left.add(pyo3::intern!(py, "."))?.add(right)
}

/// `text.encode("utf-8")`: the bytes of a name as jelly writes it.
fn encoded<'py>(text: Bound<'py, PyAny>) -> PyResult<Bound<'py, PyBytes>> {
    let py = text.py();
    if let Ok(exact) = text.cast_exact::<PyString>() {
        // Strict, as `str.encode("utf-8")`: a lone surrogate raises
        // UnicodeEncodeError.
        return Ok(PyBytes::new(py, exact.to_str()?.as_bytes()));
    }
    text.call_method1(pyo3::intern!(py, "encode"), ("utf-8",))?
        .cast_into::<PyBytes>()
        .map_err(Into::into)
}

/// Twisted's `reflect.qual(class)`: `class.__module__ + "." +
/// class.__name__`.
pub(crate) fn qual<'py>(class: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    let py = class.py();
    let module = class.getattr(pyo3::intern!(py, "__module__"))?;
    let name = class.getattr(pyo3::intern!(py, "__name__"))?;
    dotted(&module, &name)
}

/// `qual(class).encode("utf-8")`: the name jelly writes for a class, and
/// checks with the taster.
pub(crate) fn qual_bytes<'py>(class: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyBytes>> {
    encoded(qual(class)?)
}

/// `function.__module__ + "." + function.__qualname__`: what
/// `[b"function", ...]` holds (a `str`, as Twisted writes it).
pub(crate) fn function_name<'py>(function: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    let py = function.py();
    let module = function.getattr(pyo3::intern!(py, "__module__"))?;
    let name = function.getattr(pyo3::intern!(py, "__qualname__"))?;
    dotted(&module, &name)
}
