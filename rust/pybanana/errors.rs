//! Turning codec errors into the Python exceptions users catch.
//!
//! The classes live in `pbfast._errors`: `BananaError` is Twisted's own class
//! object, and the subclasses for the cases where Twisted raises something
//! else (`KeyError` for an unknown vocabulary id, `NotImplementedError` for a
//! bad type byte or a symbol outside the dialect) inherit from both, so either
//! `except` clause catches them.

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyType;

use crate::banana::encoder::EncodeError;
use crate::banana::error::{DecodeError, ErrorKind};

const ERRORS_MODULE: &str = "pbfast._errors";

static BANANA_ERROR: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static UNKNOWN_SYMBOL: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static NOT_IN_DIALECT: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static INVALID_TYPE_BYTE: PyOnceLock<Py<PyType>> = PyOnceLock::new();

fn raise(py: Python<'_>, class: &PyOnceLock<Py<PyType>>, name: &str, message: String) -> PyErr {
    match class.import(py, ERRORS_MODULE, name) {
        Ok(class) => PyErr::from_type(class.clone(), message),
        Err(import_error) => import_error,
    }
}

/// `object`'s repr for an error message: cut short if long, and something
/// in its place if `repr` itself fails (a list nested too deep for Python's
/// recursion limit, a `__repr__` that raises): the message must not fail.
pub fn describe(object: &Bound<'_, PyAny>) -> String {
    const LONGEST: usize = 200;
    let text = match object.repr() {
        Ok(repr) => repr.to_string(),
        Err(_) => format!(
            "<{} object>",
            object
                .get_type()
                .name()
                .map_or_else(|_| "?".into(), |name| name.to_string())
        ),
    };
    if text.len() <= LONGEST {
        return text;
    }
    let mut end = LONGEST;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &text[..end])
}

/// `BananaError(message)`.
pub fn banana_error(py: Python<'_>, message: String) -> PyErr {
    raise(py, &BANANA_ERROR, "BananaError", message)
}

/// True if `error` is a `BananaError` (or subclass).
pub fn is_banana_error(py: Python<'_>, error: &PyErr) -> bool {
    match BANANA_ERROR.import(py, ERRORS_MODULE, "BananaError") {
        Ok(class) => error.is_instance(py, class),
        Err(_) => false,
    }
}

/// The exception for a malformed or over-limit stream, with the stream
/// offset of the offending token as its `offset` attribute and, for a limit
/// passed, the limit as `limit` (None otherwise): for the log of a broker
/// that drops the connection, and for code that reports it.
pub fn decode_error(py: Python<'_>, error: &DecodeError) -> PyErr {
    let message = error.to_string();
    let raised = match error.kind {
        ErrorKind::UnknownVocabulary { .. } => {
            raise(py, &UNKNOWN_SYMBOL, "UnknownVocabularySymbol", message)
        }
        ErrorKind::VocabularyNotInDialect { .. } => {
            raise(py, &NOT_IN_DIALECT, "VocabularyNotInDialect", message)
        }
        ErrorKind::InvalidTypeByte(_) => raise(py, &INVALID_TYPE_BYTE, "InvalidTypeByte", message),
        _ => banana_error(py, message),
    };
    let value = raised.value(py);
    let described = value
        .setattr(pyo3::intern!(py, "offset"), error.offset)
        .and_then(|()| value.setattr(pyo3::intern!(py, "limit"), error.kind.limit()));
    match described {
        Ok(()) => raised,
        Err(failed) => failed,
    }
}

/// The exception for a value that cannot be sent; `culprit` is the object,
/// named in the message the way Twisted names it.
pub fn encode_error(py: Python<'_>, error: &EncodeError, culprit: &Bound<'_, PyAny>) -> PyErr {
    let message = match error {
        EncodeError::IntTooLarge => format!("int is too large to send ({culprit})"),
        other => other.to_string(),
    };
    banana_error(py, message)
}

/// Errors inside a decode: the stream's, or Python's own (out of memory).
/// One pointer, the error itself kept on the heap (made only when one
/// happens), so that a result on the decoding paths is two words, returned
/// in registers, instead of the size of a `PyErr`.
pub struct BuildError(Box<Failure>);

/// What a [`BuildError`] is.
pub enum Failure {
    Banana(DecodeError),
    Python(PyErr),
}

impl From<DecodeError> for BuildError {
    #[cold]
    fn from(error: DecodeError) -> Self {
        BuildError(Box::new(Failure::Banana(error)))
    }
}

impl From<PyErr> for BuildError {
    #[cold]
    fn from(error: PyErr) -> Self {
        BuildError(Box::new(Failure::Python(error)))
    }
}

impl BuildError {
    /// What the error is.
    pub fn failure(self) -> Failure {
        *self.0
    }

    pub fn into_pyerr(self, py: Python<'_>) -> PyErr {
        match self.failure() {
            Failure::Banana(error) => decode_error(py, &error),
            Failure::Python(error) => error,
        }
    }
}
