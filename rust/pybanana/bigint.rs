//! Ints beyond 64 bits, to and from their sign and little-endian magnitude,
//! through CPython's byte-array conversions: no Python-level calls, no
//! intermediate `bytes` object.
//!
//! Banana carries such an int as a LONGINT or LONGNEG token whose base-128
//! digits are the magnitude. The token core ([`crate::banana::encoder`],
//! [`crate::banana::base128`]) converts between digits and little-endian
//! bytes; this module converts between those bytes and the `int`.
//!
//! CPython 3.13 made the conversions public (`PyLong_AsNativeBytes`,
//! `PyLong_FromNativeBytes`); 3.11 and 3.12 have them as
//! `_PyLong_AsByteArray` and `_PyLong_FromByteArray`, with
//! `_PyLong_NumBits` for the size.

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::PyInt;

use crate::banana::decoder::Digits;

#[cfg(not(Py_3_13))]
extern "C" {
    /// The number of bits of `abs(v)` (exported by CPython 3.11 and 3.12,
    /// where `pickle` sizes its LONG opcodes with it).
    fn _PyLong_NumBits(v: *mut ffi::PyObject) -> usize;
}

/// The int's value if it fits an `i128` (most long ints do).
pub fn int_as_i128(int: &Bound<'_, PyInt>) -> PyResult<Option<i128>> {
    let mut bytes = [0u8; 16];
    if !twos_complement_into(int, &mut bytes)? {
        return Ok(None);
    }
    Ok(Some(i128::from_le_bytes(bytes)))
}

/// An int's sign (`true` for negative) and the little-endian magnitude,
/// with no high zero bytes. Linear in the int's size.
pub fn int_magnitude(int: &Bound<'_, PyInt>) -> PyResult<(bool, Vec<u8>)> {
    let mut bytes = twos_complement(int)?;
    let negative = bytes.last().is_some_and(|&high| high & 0x80 != 0);
    if negative {
        negate(&mut bytes);
    }
    while bytes.last() == Some(&0) {
        bytes.pop();
    }
    Ok((negative, bytes))
}

/// The int of a sign and a Banana int token's base-128 digits (any size).
pub fn int_from_digits(py: Python<'_>, negative: bool, digits: Digits<'_>) -> PyResult<Py<PyAny>> {
    match digits.to_u128() {
        Some(magnitude) => int_from_u128(py, negative, magnitude),
        None => int_from_magnitude(py, negative, &digits.to_le_bytes()),
    }
}

/// The int of a sign and a magnitude: most long ints fit 127 bits, and
/// their two's complement is an i128's bytes, with no buffer to allocate.
pub fn int_from_u128(py: Python<'_>, negative: bool, magnitude: u128) -> PyResult<Py<PyAny>> {
    let Ok(value) = i128::try_from(magnitude) else {
        return int_from_magnitude(py, negative, &magnitude.to_le_bytes());
    };
    // The bytes that hold the value and its sign bit, no more: the
    // conversion's time is in the bytes it is given.
    let spare = (magnitude.leading_zeros() as usize).saturating_sub(1) / 8;
    let value = if negative { -value } else { value };
    made(py, from_twos_complement(&value.to_le_bytes()[..16 - spare]))
}

/// The int of a sign and a little-endian magnitude of any size.
pub fn int_from_magnitude(py: Python<'_>, negative: bool, magnitude: &[u8]) -> PyResult<Py<PyAny>> {
    // Two's complement, one byte wider than the magnitude so that its sign
    // bit is free: the conversion below makes a signed int directly.
    let mut bytes = Vec::with_capacity(magnitude.len() + 1);
    bytes.extend_from_slice(magnitude);
    bytes.push(0);
    if negative {
        negate(&mut bytes);
    }
    made(py, from_twos_complement(&bytes))
}

fn made(py: Python<'_>, int: *mut ffi::PyObject) -> PyResult<Py<PyAny>> {
    // SAFETY: the conversions return a new reference, or null with an
    // exception set.
    unsafe { Bound::from_owned_ptr_or_err(py, int) }.map(Bound::unbind)
}

/// Negate a little-endian two's-complement number in place.
fn negate(bytes: &mut [u8]) {
    let mut carry = true;
    for byte in bytes {
        let (sum, overflow) = (!*byte).overflowing_add(u8::from(carry));
        *byte = sum;
        carry = overflow;
    }
}

/// The int as little-endian two's complement (its high byte holds the
/// sign).
fn twos_complement(int: &Bound<'_, PyInt>) -> PyResult<Vec<u8>> {
    let mut bytes = vec![0u8; 16];
    while !twos_complement_into(int, &mut bytes)? {
        let wider = needed_bytes(int)?;
        bytes.resize(wider, 0);
    }
    Ok(bytes)
}

/// Write the int as little-endian two's complement filling `bytes`; `false`
/// (and nothing written) if it does not fit.
#[cfg(not(Py_3_13))]
fn twos_complement_into(int: &Bound<'_, PyInt>, bytes: &mut [u8]) -> PyResult<bool> {
    if needed_bytes(int)? > bytes.len() {
        return Ok(false);
    }
    // SAFETY: `bytes` has room for `bytes.len()` bytes, enough for the int
    // with its sign bit (checked above); the int is the `PyLongObject` the
    // function reads, held alive by the borrow.
    let status = unsafe {
        ffi::_PyLong_AsByteArray(
            int.as_ptr().cast(),
            bytes.as_mut_ptr(),
            bytes.len(),
            1, // little-endian
            1, // signed
        )
    };
    if status < 0 {
        return Err(PyErr::fetch(int.py()));
    }
    Ok(true)
}

/// How many bytes the int's two's complement takes, at most one more than
/// it needs.
#[cfg(not(Py_3_13))]
fn needed_bytes(int: &Bound<'_, PyInt>) -> PyResult<usize> {
    // SAFETY: the int is alive (the borrow holds it); `_PyLong_NumBits` only
    // reads it and cannot fail on an int.
    let bits = unsafe { _PyLong_NumBits(int.as_ptr()) };
    Ok(bits / 8 + 1)
}

#[cfg(Py_3_13)]
const LITTLE_ENDIAN: std::ffi::c_int = 1;

/// Write the int as little-endian two's complement filling `bytes`; `false`
/// if it does not fit.
#[cfg(Py_3_13)]
fn twos_complement_into(int: &Bound<'_, PyInt>, bytes: &mut [u8]) -> PyResult<bool> {
    // SAFETY: `bytes` has room for `bytes.len()` bytes, and the call writes
    // at most that many; the int is alive (the borrow holds it).
    let needed = unsafe {
        ffi::PyLong_AsNativeBytes(
            int.as_ptr(),
            bytes.as_mut_ptr().cast(),
            bytes.len() as ffi::Py_ssize_t,
            LITTLE_ENDIAN,
        )
    };
    if needed < 0 {
        return Err(PyErr::fetch(int.py()));
    }
    Ok(needed as usize <= bytes.len())
}

/// How many bytes the int's two's complement takes.
#[cfg(Py_3_13)]
fn needed_bytes(int: &Bound<'_, PyInt>) -> PyResult<usize> {
    // SAFETY: with no buffer the call only measures; the int is alive.
    let needed =
        unsafe { ffi::PyLong_AsNativeBytes(int.as_ptr(), std::ptr::null_mut(), 0, LITTLE_ENDIAN) };
    if needed < 0 {
        return Err(PyErr::fetch(int.py()));
    }
    Ok(needed as usize)
}

#[cfg(not(Py_3_13))]
fn from_twos_complement(bytes: &[u8]) -> *mut ffi::PyObject {
    // SAFETY: reads `bytes.len()` bytes of a live slice.
    unsafe { ffi::_PyLong_FromByteArray(bytes.as_ptr(), bytes.len(), 1, 1) }
}

#[cfg(Py_3_13)]
fn from_twos_complement(bytes: &[u8]) -> *mut ffi::PyObject {
    // SAFETY: reads `bytes.len()` bytes of a live slice.
    unsafe { ffi::PyLong_FromNativeBytes(bytes.as_ptr().cast(), bytes.len(), LITTLE_ENDIAN) }
}
