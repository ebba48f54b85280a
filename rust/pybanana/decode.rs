//! Banana bytes to Python s-expressions (`banana.decode`, and each
//! expression a connection's decoder completes): [`PyBuilder`] is the token
//! core's [`Builder`] for Python lists, bytes, ints and floats.

use pyo3::ffi;
use pyo3::prelude::*;

use crate::banana::decoder::{self, Builder, Digits, Limits};
use crate::banana::error::{DecodeError, ErrorKind};

use super::bigint::int_from_digits;
use super::buffer::with_bytes;
use super::errors::BuildError;
use super::gc::GcPause;
use super::string_cache::StringCache;
use super::vocabulary::IncomingVocabulary;

/// Builds Python s-expressions: `list`, `bytes`, `int`, `float`.
pub struct PyBuilder<'py, 'v> {
    pub py: Python<'py>,
    pub vocabulary: &'v IncomingVocabulary,
    pub pb_dialect: bool,
    /// Short byte strings (tags, keys) shared with equal recent ones.
    pub strings: StringCache,
}

impl<'py, 'v> PyBuilder<'py, 'v> {
    pub fn new(py: Python<'py>, vocabulary: &'v IncomingVocabulary, pb_dialect: bool) -> Self {
        PyBuilder {
            py,
            vocabulary,
            pb_dialect,
            strings: StringCache::bytes(),
        }
    }
}

impl PyBuilder<'_, '_> {
    /// Wrap a new reference from the C API, or fetch the error it set.
    #[inline]
    fn owned(&self, pointer: *mut ffi::PyObject) -> Result<Py<PyAny>, BuildError> {
        // SAFETY: `pointer` is a new reference just returned by the C API, or
        // NULL with an exception set.
        unsafe { Ok(Bound::from_owned_ptr_or_err(self.py, pointer)?.unbind()) }
    }
}

impl Builder for PyBuilder<'_, '_> {
    type Value = Py<PyAny>;
    type List = Vec<Py<PyAny>>;
    type Error = BuildError;

    #[inline]
    fn list(&mut self, capacity: usize) -> Self::List {
        // A reservation the allocator refuses is no error yet: the list
        // grows as its items come, and a growth refused is a MemoryError.
        let mut items = Vec::new();
        let _ = items.try_reserve_exact(capacity);
        items
    }

    #[inline]
    fn push(&mut self, list: &mut Self::List, item: Py<PyAny>) -> Result<(), BuildError> {
        if list.len() == list.capacity() {
            list.try_reserve(1).map_err(|_| out_of_memory())?;
        }
        list.push(item);
        Ok(())
    }

    fn finish_list(&mut self, items: Self::List) -> Result<Py<PyAny>, BuildError> {
        // SAFETY: PyList_New(n) returns a list with n NULL slots (or NULL and
        // an exception); each slot is filled exactly once with a reference
        // whose ownership moves into the list (into_ptr).
        unsafe {
            let list = ffi::PyList_New(items.len() as ffi::Py_ssize_t);
            if list.is_null() {
                return Err(PyErr::fetch(self.py).into());
            }
            for (index, item) in items.into_iter().enumerate() {
                ffi::PyList_SET_ITEM(list, index as ffi::Py_ssize_t, item.into_ptr());
            }
            self.owned(list)
        }
    }

    #[inline]
    fn int(&mut self, negative: bool, digits: Digits<'_>) -> Result<Py<PyAny>, BuildError> {
        // Nine digits are 63 bits: an i64 either way. Longer ones go to the
        // long-int conversion directly.
        if digits.0.len() > 9 {
            return Ok(int_from_digits(self.py, negative, digits)?);
        }
        let value = digits.to_u64().unwrap_or_default() as i64;
        let value = if negative { -value } else { value };
        // SAFETY: plain constructor; `owned` takes the new reference.
        self.owned(unsafe { ffi::PyLong_FromLongLong(value) })
    }

    #[inline]
    fn string(&mut self, bytes: &[u8]) -> Result<Py<PyAny>, BuildError> {
        Ok(self.strings.get(self.py, bytes)?.unbind())
    }

    #[inline]
    fn float(&mut self, value: f64) -> Result<Py<PyAny>, BuildError> {
        // SAFETY: plain constructor; `owned` takes the new reference.
        self.owned(unsafe { ffi::PyFloat_FromDouble(value) })
    }

    fn vocab(&mut self, id: Digits<'_>, offset: u64) -> Result<Py<PyAny>, BuildError> {
        let id = id.to_u64();
        let Some(symbol) = self.vocabulary.get(id) else {
            return Err(DecodeError::new(offset, ErrorKind::UnknownVocabulary { id }).into());
        };
        if !self.pb_dialect {
            let id = id.unwrap_or_default();
            return Err(DecodeError::new(offset, ErrorKind::VocabularyNotInDialect { id }).into());
        }
        Ok(symbol.clone_ref(self.py))
    }
}

/// Decode the first expression of `data` the way Twisted's `banana.decode`
/// does (dialect `none`).
pub fn decode_first(data: &Bound<'_, PyAny>, limits: &Limits) -> PyResult<Py<PyAny>> {
    let py = data.py();
    let mut builder = PyBuilder::new(py, IncomingVocabulary::pb(py), false);
    let _pause = GcPause::new(py);
    with_bytes(data, |bytes| {
        decoder::decode_first(bytes, &mut builder, limits)
    })?
    .map_err(|error| error.into_pyerr(py))
}

/// The error for memory the allocator refuses.
pub(crate) fn out_of_memory() -> PyErr {
    pyo3::exceptions::PyMemoryError::new_err("out of memory")
}
