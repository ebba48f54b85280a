//! How errors from input are typed: what `loads`, `unjelly` and a broker's
//! `unserialize` raise for bytes or s-expressions from elsewhere.

use pyo3::prelude::*;

use super::python_objects::PythonObjects;

/// An error from making objects out of bytes or s-expressions from
/// elsewhere, as `loads`, `unjelly` and a broker's `unserialize` report it:
/// their own two types as they are; what application code raised (a hook,
/// a class's constructor, a taster's method: see
/// `pbfast._errors.raisedByApplication`) as it is, as Twisted delivers it;
/// anything else a value's constructor or Twisted's own code raised (a date
/// out of range, a bad decimal, undecodable UTF-8, an unhashable key, a
/// state that cannot be an instance dict) is one more kind of bad input,
/// `pbfast._errors.malformed` of it: an `InsecureJelly` that is also the
/// class raised, with the original as its cause. Out of memory, and what
/// is not an `Exception`, stay what they are.
pub(crate) fn bad_input(py: Python<'_>, refs: &PythonObjects, error: PyErr) -> PyErr {
    let typed = error.is_instance(py, refs.insecure_jelly.bind(py))
        || crate::pybanana::errors::is_banana_error(py, &error)
        || !error.is_instance_of::<pyo3::exceptions::PyException>(py)
        || error.is_instance_of::<pyo3::exceptions::PyMemoryError>(py);
    if typed {
        return error;
    }
    static BY_APPLICATION: pyo3::sync::PyOnceLock<Py<PyAny>> = pyo3::sync::PyOnceLock::new();
    let by_application = BY_APPLICATION
        .import(py, "pbfast._errors", "raisedByApplication")
        .and_then(|check| {
            // The traceback as PyO3 holds it (the exception's own
            // `__traceback__` is not set yet on every version).
            check
                .call1((error.value(py), error.traceback(py)))?
                .is_truthy()
        });
    match by_application {
        Ok(true) => error,
        Ok(false) => malformed(py, error),
        Err(failed) => failed,
    }
}

/// `pbfast._errors.malformed` of `error`: an `InsecureJelly` that is also
/// `error`'s class, saying the expression is malformed, with `error` as its
/// cause.
pub(crate) fn malformed(py: Python<'_>, error: PyErr) -> PyErr {
    static MALFORMED: pyo3::sync::PyOnceLock<Py<PyAny>> = pyo3::sync::PyOnceLock::new();
    let malformed = match MALFORMED.import(py, "pbfast._errors", "malformed") {
        Ok(malformed) => malformed,
        Err(import_error) => return import_error,
    };
    match malformed.call1((error.value(py),)) {
        Ok(wrapped) => PyErr::from_value(wrapped),
        Err(failed) => failed,
    }
}
