//! An expression already encoded as Banana bytes, carried as one object:
//! what a broker serializes a call's arguments or an answer to, and what
//! it receives them as. The encoder copies it into an outgoing message as
//! it is; a reader takes its objects straight from the bytes. Code that
//! expects the s-expression can have it: the object decodes itself on
//! demand (and reads like that list).

use std::ops::Range;

use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::banana::decoder::{self, Limits};

use super::decode::PyBuilder;
use super::gc::GcPause;
use super::vocabulary::IncomingVocabulary;

/// Bytes `range` of `data`: one whole Banana expression, in dialect `pb`
/// (VOCAB tokens with the `pb` vocabulary's ids) or `none`.
#[pyclass(module = "pbfast._native", frozen)]
pub struct Encoded {
    data: Py<PyBytes>,
    range: Range<usize>,
    pb_dialect: bool,
}

impl Encoded {
    /// `range` must lie within `data` and hold one whole expression.
    pub fn new(data: Py<PyBytes>, range: Range<usize>, pb_dialect: bool) -> Encoded {
        Encoded {
            data,
            range,
            pb_dialect,
        }
    }

    /// Another handle on the same bytes.
    pub fn clone_ref(&self, py: Python<'_>) -> Encoded {
        Encoded::new(self.data.clone_ref(py), self.range.clone(), self.pb_dialect)
    }

    /// The expression's bytes.
    pub fn bytes<'a>(&'a self, py: Python<'_>) -> &'a [u8] {
        &self.data.as_bytes(py)[self.range.clone()]
    }

    /// The bytes object holding the expression, and where in it.
    pub fn data<'py>(&self, py: Python<'py>) -> (Bound<'py, PyBytes>, Range<usize>) {
        (self.data.bind(py).clone(), self.range.clone())
    }

    /// True if VOCAB tokens may occur, with the `pb` vocabulary's ids.
    pub fn pb_dialect(&self) -> bool {
        self.pb_dialect
    }

    /// The expression as an s-expression of Python lists, bytes, ints and
    /// floats.
    pub fn sexp<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let mut builder = PyBuilder::new(py, IncomingVocabulary::pb(py), self.pb_dialect);
        let _pause = GcPause::new(py);
        let limits = Limits {
            prefix: usize::MAX,
            size: u64::MAX,
            depth: usize::MAX,
            message: u64::MAX,
        };
        decoder::decode_exact(self.bytes(py), &mut builder, &limits)
            .map(|value| value.into_bound(py))
            .map_err(|error| error.into_pyerr(py))
    }
}
