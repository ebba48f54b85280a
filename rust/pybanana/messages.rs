//! A Perspective Broker message, read from its bytes: the list a broker's
//! `expressionReceived` dispatches on, with the jellied parts left as the
//! bytes they arrived as ([`Encoded`]), for the broker to unjelly straight
//! from them once it knows for whom (the perspective depends on the object
//! a call is for).
//!
//! PB's messages are `[name, ...]` lists; the ones that carry jelly are
//!
//! - `[b"message" | b"cachemessage", requestID, objectID, method,
//!   answerRequired, args, kwargs]` (args and kwargs each jellied),
//! - `[b"answer" | b"error", requestID, result]` (the result jellied).
//!
//! Every other expression (the dialect offer, `version`, `decref`, ...)
//! reads as the plain s-expression.

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::banana::decoder::{self, short_header, Limits, Validate};
use crate::banana::vocabulary::PB_VOCABULARY;
use crate::banana::{LIST, STRING, VOCAB};
use crate::pybanana::decode::PyBuilder;
use crate::pybanana::encoded::Encoded;
use crate::pybanana::errors::{BuildError, Failure};
use crate::pybanana::gc::GcPause;
use crate::pybanana::vocabulary::IncomingVocabulary;

/// Which items of a message with this name and item count are jellied.
fn jellied_items(name: &[u8], count: u64) -> &'static [usize] {
    match (name, count) {
        (b"message" | b"cachemessage", 7) => &[5, 6],
        (b"answer" | b"error", 3) => &[2],
        _ => &[],
    }
}

/// The name of a message whose list header and first item start `frame`:
/// the item count and the name, if the first item is a string (or, in
/// dialect `pb`, a vocabulary symbol).
fn message_name(frame: &[u8], pb_dialect: bool) -> Option<(u64, &[u8])> {
    let limits = Limits::default();
    let (LIST, count, header) = short_header(frame, &limits)? else {
        return None;
    };
    let rest = &frame[header..];
    match short_header(rest, &limits)? {
        (STRING, length, used) => rest.get(used..used.checked_add(length as usize)?),
        (VOCAB, id @ 1.., _) if pb_dialect => PB_VOCABULARY.get(id as usize).copied(),
        _ => None,
    }
    .map(|name| (count, name))
}

/// The expression `frame` (one whole expression; the framer checked it
/// against `limits`), which is `data[range]`, as a broker reads it: a PB
/// message with its jellied items as [`Encoded`] parts of `data`, or any
/// other expression as its s-expression. `base` is the stream offset of
/// `data[0]`, for error messages.
pub(crate) fn read_message<'py>(
    py: Python<'py>,
    data: &Bound<'py, PyBytes>,
    range: std::ops::Range<usize>,
    base: u64,
    vocabulary: &IncomingVocabulary,
    pb_dialect: bool,
    limits: &Limits,
) -> PyResult<Py<PyAny>> {
    let bytes = data.as_bytes();
    let frame = &bytes[range.clone()];
    let mut builder = PyBuilder::new(py, vocabulary, pb_dialect);
    let _pause = GcPause::new(py);
    let offset_error = |error: crate::banana::DecodeError| {
        BuildError::from(crate::banana::DecodeError::new(
            error.offset + base + range.start as u64,
            error.kind,
        ))
        .into_pyerr(py)
    };
    let (count, jellied) = match message_name(frame, pb_dialect) {
        Some((count, name)) => (count as usize, jellied_items(name, count)),
        None => (0, &[][..]),
    };
    if jellied.is_empty() {
        return decoder::decode_exact(frame, &mut builder, limits).map_err(|error| {
            match error.failure() {
                Failure::Banana(error) => offset_error(error),
                Failure::Python(error) => error,
            }
        });
    }
    let (_, _, header) = short_header(frame, limits).expect("read by message_name");
    // SAFETY: a new list of `count` empty slots (or NULL and an exception);
    // each slot is filled exactly once below, before the list is seen by
    // anyone, and a failure drops the list with its empty slots, which its
    // dealloc skips.
    let list = unsafe { Bound::from_owned_ptr_or_err(py, ffi::PyList_New(count as isize))? };
    let mut pos = header;
    for index in 0..count {
        let start = pos;
        let item = if jellied.contains(&index) {
            decoder::decode_at(frame, &mut pos, &mut Validate { pb_dialect }, limits)
                .map_err(offset_error)?;
            let part = (range.start + start)..(range.start + pos);
            Bound::new(py, Encoded::new(data.clone().unbind(), part, pb_dialect))?.into_any()
        } else {
            decoder::decode_at(frame, &mut pos, &mut builder, limits)
                .map_err(|error| match error.failure() {
                    Failure::Banana(error) => offset_error(error),
                    Failure::Python(error) => error,
                })?
                .into_bound(py)
        };
        // SAFETY: slot `index` of the new list is empty; the list takes the
        // reference.
        unsafe { ffi::PyList_SET_ITEM(list.as_ptr(), index as isize, item.into_ptr()) };
    }
    Ok(list.unbind())
}
