//! Python strings from bytes read off the wire: `bytes` objects, and `str`s
//! from UTF-8 made directly in the representation CPython keeps them in
//! (PEP 393: one, two or four bytes a character), for the text that all but
//! the rarest messages carry: ASCII, and Latin-1 beyond it. CPython's own
//! decoder, which any other text goes to, works through a general writer,
//! and is most of what a short str costs.

use pyo3::ffi;
use pyo3::prelude::*;

/// A `bytes` object holding a copy of `bytes`.
#[inline]
pub(crate) fn bytes_object<'py>(py: Python<'py>, bytes: &[u8]) -> PyResult<Bound<'py, PyAny>> {
    // SAFETY: the constructor copies `bytes`; the new reference (or NULL
    // and an exception) is taken at once.
    unsafe {
        Bound::from_owned_ptr_or_err(
            py,
            ffi::PyBytes_FromStringAndSize(bytes.as_ptr().cast(), bytes.len() as ffi::Py_ssize_t),
        )
    }
}

/// The characters of `text` as bytes, if it is a compact ASCII str (most
/// are): then they are its UTF-8 too, read where CPython keeps them, with
/// no call and no check for surrogates.
#[inline(always)]
pub(crate) fn ascii_bytes<'a>(text: &'a Bound<'_, pyo3::types::PyString>) -> Option<&'a [u8]> {
    let pointer = text.as_ptr();
    // SAFETY: `pointer` is a live str. A compact ASCII one keeps its
    // `length` one-byte characters right after its header, where
    // `PyUnicode_DATA` points, immutable and alive as long as the str,
    // which the borrow of `text` outlives the slice by.
    unsafe {
        if ffi::PyUnicode_IS_COMPACT_ASCII(pointer) == 0 {
            return None;
        }
        Some(std::slice::from_raw_parts(
            ffi::PyUnicode_DATA(pointer).cast::<u8>(),
            ffi::PyUnicode_GET_LENGTH(pointer) as usize,
        ))
    }
}

/// The str whose UTF-8 encoding is `bytes`; invalid UTF-8 raises what
/// CPython's decoder raises (`UnicodeDecodeError`).
#[inline]
pub(crate) fn str_from_utf8<'py>(py: Python<'py>, bytes: &[u8]) -> PyResult<Bound<'py, PyAny>> {
    if bytes.is_ascii() {
        // SAFETY: a new compact str of `len` characters below 128, whose
        // one-byte-per-character data `PyUnicode_DATA` points at; filled
        // with exactly `len` ASCII bytes before anything else sees it.
        return unsafe {
            let made = ffi::PyUnicode_New(bytes.len() as ffi::Py_ssize_t, 127);
            if !made.is_null() {
                std::ptr::copy_nonoverlapping(
                    bytes.as_ptr(),
                    ffi::PyUnicode_DATA(made).cast::<u8>(),
                    bytes.len(),
                );
            }
            Bound::from_owned_ptr_or_err(py, made)
        };
    }
    if let Some(made) = latin1(py, bytes) {
        return made;
    }
    // SAFETY: CPython's decoder copies `bytes`; the new reference (or NULL
    // and an exception) is taken at once.
    unsafe {
        Bound::from_owned_ptr_or_err(
            py,
            ffi::PyUnicode_DecodeUTF8(
                bytes.as_ptr().cast(),
                bytes.len() as ffi::Py_ssize_t,
                std::ptr::null(),
            ),
        )
    }
}

/// The str `bytes` encodes if it is valid UTF-8 of characters below 256,
/// at least one of them beyond ASCII; `None` for anything else.
fn latin1<'py>(py: Python<'py>, bytes: &[u8]) -> Option<PyResult<Bound<'py, PyAny>>> {
    // Characters 128-255 are two bytes, 0xC2 or 0xC3 then a continuation
    // byte; a larger lead byte is a larger character (or invalid).
    let mut characters = 0;
    let mut index = 0;
    while index < bytes.len() {
        match bytes[index] {
            0x00..=0x7f => index += 1,
            0xc2 | 0xc3 if bytes.get(index + 1).is_some_and(|next| next & 0xc0 == 0x80) => {
                index += 2
            }
            _ => return None,
        }
        characters += 1;
    }
    // SAFETY: a new compact str of `characters` one-byte characters, of
    // which one at least is above 127 (the input is not ASCII), as
    // maxchar 255 requires; every one of them is written below, from the
    // validated input, before anything else sees it.
    Some(unsafe {
        let made = ffi::PyUnicode_New(characters as ffi::Py_ssize_t, 255);
        if !made.is_null() {
            let data = ffi::PyUnicode_DATA(made).cast::<u8>();
            let mut from = 0;
            let mut to = 0;
            while from < bytes.len() {
                let byte = bytes[from];
                if byte < 0x80 {
                    *data.add(to) = byte;
                    from += 1;
                } else {
                    *data.add(to) = (byte & 0x03) << 6 | bytes[from + 1] & 0x3f;
                    from += 2;
                }
                to += 1;
            }
        }
        Bound::from_owned_ptr_or_err(py, made)
    })
}
