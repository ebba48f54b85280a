//! The bytes of a bytes-like object (`bytes`, `bytearray`, `memoryview`,
//! anything with the buffer protocol), for the decoders.

use pyo3::buffer::PyBuffer;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

/// Run `f` on the bytes of a bytes-like object, without a copy for `bytes`.
pub fn with_bytes<R>(data: &Bound<'_, PyAny>, f: impl FnOnce(&[u8]) -> R) -> PyResult<R> {
    if let Ok(bytes) = data.cast::<PyBytes>() {
        return Ok(f(bytes.as_bytes()));
    }
    let buffer = PyBuffer::<u8>::get(data)?;
    Ok(f(&buffer.to_vec(data.py())?))
}
