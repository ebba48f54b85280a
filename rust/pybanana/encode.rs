//! S-expression to Banana bytes (`banana.encode`): walks Python lists and
//! tuples of bytes, ints and floats, writing each token into an [`Output`].
//!
//! Exact types are dispatched on their type pointers and read through
//! CPython's macros, so the common case runs no Python code; subclasses take
//! a slower path in the order of Twisted's `isinstance` checks. Nesting is an
//! explicit stack, not native recursion. The jelly traversal's bytes sink
//! writes its scalars with [`write_bytes`] and [`write_int`].

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::PyInt;

use crate::banana::encoder::{self, EncodeError};
use crate::banana::vocabulary::OutgoingVocabulary;

use super::bigint::{int_as_i128, int_magnitude};
use super::encoded::Encoded;
use super::errors::{banana_error, describe, encode_error};
use super::output::{Output, BLOB_SIZE};

/// What an encoder needs besides the object.
pub struct EncodeSettings<'a> {
    pub prefix_limit: usize,
    pub size_limit: u64,
    pub max_depth: usize,
    /// `Some` in dialect `pb`: byte strings in it travel as VOCAB tokens.
    pub vocabulary: Option<&'a OutgoingVocabulary>,
}

/// A list or tuple being written.
struct Sequence<'py> {
    /// Holds the container alive while its items are read by index.
    container: Bound<'py, PyAny>,
    is_list: bool,
    /// Items announced in the header; exactly these many are written.
    count: isize,
    next: isize,
}

/// Append the Banana encoding of the s-expression `root` to `out`.
pub fn encode_into<'py>(
    root: &Bound<'py, PyAny>,
    settings: &EncodeSettings<'_>,
    out: &mut Output<'_, 'py>,
) -> PyResult<()> {
    let py = root.py();
    let mut stack: Vec<Sequence<'py>> = Vec::new();
    // `item` is borrowed: from `root`, or from a container on the stack,
    // which holds a strong reference to it for as long as it is read here.
    let mut item = root.as_ptr();
    loop {
        // SAFETY: `item` is a live object (see above); the type checks and
        // field reads are CPython's own macros on an object of that type.
        unsafe {
            let ty = ffi::Py_TYPE(item);
            if ty == &raw mut ffi::PyBytes_Type {
                write_bytes(py, item, settings, out)?;
            } else if ty == &raw mut ffi::PyLong_Type || ty == &raw mut ffi::PyBool_Type {
                write_int(py, item, settings, out)?;
            } else if ty == &raw mut ffi::PyList_Type || ty == &raw mut ffi::PyTuple_Type {
                let sequence = Bound::from_borrowed_ptr(py, item);
                open_sequence(sequence, settings, &mut stack, out)?;
            } else if ty == &raw mut ffi::PyFloat_Type {
                encoder::write_float(out.buf, ffi::PyFloat_AS_DOUBLE(item));
            } else {
                let object = Bound::from_borrowed_ptr(py, item);
                encode_subclass(&object, settings, &mut stack, out)?;
            }
        }
        // Move to the next item of the innermost unfinished sequence.
        loop {
            let Some(top) = stack.last_mut() else {
                return Ok(());
            };
            if top.next < top.count {
                item = top.item(top.next)?;
                top.next += 1;
                break;
            }
            stack.pop();
        }
    }
}

impl Sequence<'_> {
    fn item(&self, index: isize) -> PyResult<*mut ffi::PyObject> {
        let container = self.container.as_ptr();
        // SAFETY: `container` is an exact list or tuple (see `open_sequence`),
        // kept alive by `self`; the index is checked against its current size,
        // which Python code run for a subclass item elsewhere may have changed.
        unsafe {
            if self.is_list {
                if index >= ffi::PyList_GET_SIZE(container) {
                    return Err(pyo3::exceptions::PyRuntimeError::new_err(
                        "list changed size while it was being encoded",
                    ));
                }
                Ok(ffi::PyList_GET_ITEM(container, index))
            } else {
                Ok(ffi::PyTuple_GET_ITEM(container, index))
            }
        }
    }
}

/// Write a list header and push the sequence. `sequence` is an exact list or
/// tuple.
fn open_sequence<'py>(
    sequence: Bound<'py, PyAny>,
    settings: &EncodeSettings<'_>,
    stack: &mut Vec<Sequence<'py>>,
    out: &mut Output<'_, 'py>,
) -> PyResult<()> {
    let py = sequence.py();
    if stack.len() >= settings.max_depth {
        let error = EncodeError::TooDeep(settings.max_depth);
        return Err(encode_error(py, &error, &sequence));
    }
    let pointer = sequence.as_ptr();
    // SAFETY: the caller checked that `sequence` is an exact list or tuple.
    let (is_list, count) = unsafe {
        if ffi::PyList_CheckExact(pointer) != 0 {
            (true, ffi::PyList_GET_SIZE(pointer))
        } else {
            (false, ffi::PyTuple_GET_SIZE(pointer))
        }
    };
    if count as u64 > settings.size_limit {
        let error = EncodeError::ListTooLong(count as u64);
        return Err(encode_error(py, &error, &sequence));
    }
    if is_list {
        if let Some(watch) = out.list_watch {
            watch(pointer, out.buf.len());
        }
    }
    encoder::write_list_header(out.buf, count as u64);
    if count > 0 {
        stack.push(Sequence {
            container: sequence,
            is_list,
            count,
            next: 0,
        });
    }
    Ok(())
}

/// The slow path: subclasses of the supported types, in the order of
/// Twisted's `isinstance` checks, and the error for everything else.
fn encode_subclass<'py>(
    object: &Bound<'py, PyAny>,
    settings: &EncodeSettings<'_>,
    stack: &mut Vec<Sequence<'py>>,
    out: &mut Output<'_, 'py>,
) -> PyResult<()> {
    let py = object.py();
    if let Ok(encoded) = object.cast_exact::<Encoded>() {
        return write_encoded(py, encoded.get(), settings, out);
    }
    let pointer = object.as_ptr();
    // SAFETY: `object` is alive; the checks only read its type's flags.
    let (is_sequence, is_int, is_float, is_bytes) = unsafe {
        (
            ffi::PyList_Check(pointer) != 0 || ffi::PyTuple_Check(pointer) != 0,
            ffi::PyLong_Check(pointer) != 0,
            ffi::PyFloat_Check(pointer) != 0,
            ffi::PyBytes_Check(pointer) != 0,
        )
    };
    if is_sequence {
        // A subclass may override iteration: take its items as Python
        // iterates them, into a plain list that nothing else can change.
        // SAFETY: PySequence_List returns a new reference or NULL with an
        // exception set, which from_owned_ptr_or_err turns into Err.
        let items = unsafe { Bound::from_owned_ptr_or_err(py, ffi::PySequence_List(pointer))? };
        return open_sequence(items, settings, stack, out);
    }
    // SAFETY (all three): the object passed the matching subtype check.
    if is_int {
        return unsafe { write_int(py, pointer, settings, out) };
    }
    if is_float {
        encoder::write_float(out.buf, unsafe { ffi::PyFloat_AS_DOUBLE(pointer) });
        return Ok(());
    }
    if is_bytes {
        return unsafe { write_bytes(py, pointer, settings, out) };
    }
    let type_name = py
        .import("twisted.python.reflect")?
        .getattr("fullyQualifiedName")?
        .call1((object.get_type(),))?;
    Err(banana_error(
        py,
        format!(
            "Banana cannot send {type_name} objects: {}",
            describe(object)
        ),
    ))
}

/// An expression already encoded: its bytes as they are if they were
/// written in this dialect, else written again from its s-expression.
pub(crate) fn write_encoded<'py>(
    py: Python<'py>,
    encoded: &Encoded,
    settings: &EncodeSettings<'_>,
    out: &mut Output<'_, 'py>,
) -> PyResult<()> {
    let pb_dialect = settings.vocabulary.is_some_and(|v| v.is_pb());
    if encoded.pb_dialect() == pb_dialect && settings.vocabulary.is_some() == pb_dialect {
        let (data, range) = encoded.data(py);
        out.splice_bytes(data, range);
        return Ok(());
    }
    let sexp = encoded.sexp(py)?;
    encode_into(&sexp, settings, out)
}

/// # Safety
/// `item` must be a live `bytes` object (or subclass instance).
#[inline]
pub(crate) unsafe fn write_bytes<'py>(
    py: Python<'py>,
    item: *mut ffi::PyObject,
    settings: &EncodeSettings<'_>,
    out: &mut Output<'_, 'py>,
) -> PyResult<()> {
    let data = ffi::PyBytes_AS_STRING(item) as *const u8;
    let len = ffi::Py_SIZE(item) as usize;
    // The bytes object owns this memory and is immutable; `item` outlives the
    // slice, which is dropped before this function returns.
    let bytes = std::slice::from_raw_parts(data, len);
    if let Some(id) = settings.vocabulary.and_then(|v| v.lookup(bytes)) {
        encoder::write_vocab(out.buf, id);
        return Ok(());
    }
    if len < BLOB_SIZE {
        return encoder::write_string(out.buf, bytes, settings.size_limit)
            .map_err(|error| encode_error(py, &error, &Bound::from_borrowed_ptr(py, item)));
    }
    encoder::write_string_header(out.buf, len as u64, settings.size_limit)
        .map_err(|error| encode_error(py, &error, &Bound::from_borrowed_ptr(py, item)))?;
    out.splice_blob(
        Bound::from_borrowed_ptr(py, item).cast_into_unchecked(),
        len,
    );
    Ok(())
}

/// # Safety
/// `item` must be a live `int` object (or subclass instance).
#[inline]
pub(crate) unsafe fn write_int<'py>(
    py: Python<'py>,
    item: *mut ffi::PyObject,
    settings: &EncodeSettings<'_>,
    out: &mut Output<'_, 'py>,
) -> PyResult<()> {
    let mut overflow = 0;
    let value = ffi::PyLong_AsLongLongAndOverflow(item, &mut overflow);
    if overflow != 0 {
        let object = Bound::from_borrowed_ptr(py, item);
        return write_big_int(&object, settings, out);
    }
    encoder::write_i64(out.buf, value, settings.prefix_limit)
        .map_err(|error| encode_error(py, &error, &Bound::from_borrowed_ptr(py, item)))
}

/// Integers beyond 64 bits: their magnitude through CPython's byte-array
/// conversion, then the token core's writer, which checks the prefix limit.
#[inline(never)]
fn write_big_int<'py>(
    object: &Bound<'py, PyAny>,
    settings: &EncodeSettings<'_>,
    out: &mut Output<'_, 'py>,
) -> PyResult<()> {
    let py = object.py();
    // SAFETY: the caller's object is an int (or an instance of a subclass).
    let int = unsafe { object.cast_unchecked::<PyInt>() };
    let written = match int_as_i128(int)? {
        Some(value) => encoder::write_i128(out.buf, value, settings.prefix_limit),
        None => {
            let (negative, magnitude) = int_magnitude(int)?;
            encoder::write_big_int(out.buf, negative, &magnitude, settings.prefix_limit)
        }
    };
    written.map_err(|error| encode_error(py, &error, object))
}
