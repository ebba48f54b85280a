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

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};

use crate::banana::decoder::{self, short_header, Builder, Limits, Scan, Token, Validate};
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

/// An item of a message read by [`read_items`].
pub(crate) enum Item<'py> {
    /// An item that is not jellied, as its s-expression.
    Object(Bound<'py, PyAny>),
    /// A jellied item, as the bytes it arrived as.
    Jellied(Encoded),
}

impl<'py> Item<'py> {
    /// The item as the message list holds it: a jellied one as an
    /// [`Encoded`] object.
    pub(crate) fn into_object(self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        match self {
            Item::Object(object) => Ok(object),
            Item::Jellied(encoded) => Ok(Bound::new(py, encoded)?.into_any()),
        }
    }

    /// The item if it is not jellied.
    pub(crate) fn object(&self) -> Option<&Bound<'py, PyAny>> {
        match self {
            Item::Object(object) => Some(object),
            Item::Jellied(_) => None,
        }
    }
}

/// The items of the expression `data[range]` (one whole expression; the
/// framer checked it against `limits`) if it is a PB message that carries
/// jelly (see the module's comment), its jellied items left as bytes;
/// `None` for any other expression. `base` is the stream offset of
/// `data[0]`, for error messages; `ends`, where the framer counted them,
/// where the items end (offsets in the expression).
#[allow(clippy::too_many_arguments)]
pub(crate) fn read_items<'py>(
    py: Python<'py>,
    data: &Bound<'py, PyBytes>,
    range: std::ops::Range<usize>,
    base: u64,
    ends: Option<&[usize]>,
    vocabulary: &IncomingVocabulary,
    pb_dialect: bool,
    limits: &Limits,
) -> PyResult<Option<Vec<Item<'py>>>> {
    let bytes = data.as_bytes();
    let frame = &bytes[range.clone()];
    let Some((count, name)) = message_name(frame, pb_dialect) else {
        return Ok(None);
    };
    let jellied = jellied_items(name, count);
    if jellied.is_empty() {
        return Ok(None);
    }
    let mut builder = PyBuilder::new(py, vocabulary, pb_dialect);
    let _pause = GcPause::new(py);
    let offset_error = |error: crate::banana::DecodeError| {
        BuildError::from(crate::banana::DecodeError::new(
            error.offset + base + range.start as u64,
            error.kind,
        ))
        .into_pyerr(py)
    };
    let (_, _, header) = short_header(frame, limits).expect("read by message_name");
    let mut items = Vec::with_capacity(count as usize);
    let mut pos = header;
    for index in 0..count as usize {
        let start = pos;
        let item = if jellied.contains(&index) {
            // Checked by the framer, with these limits, as part of the whole:
            // where it ends is where the framer counted, or is found by
            // stepping over its tokens.
            let counted = ends.filter(|ends| ends.len() == count as usize);
            match counted
                .map(|ends| ends[index])
                .or_else(|| decoder::skip_checked(frame, pos, limits))
            {
                Some(end) => pos = end,
                None => {
                    decoder::decode_at(frame, &mut pos, &mut Validate { pb_dialect }, limits)
                        .map_err(offset_error)?;
                }
            }
            let part = (range.start + start)..(range.start + pos);
            Item::Jellied(Encoded::new(data.clone().unbind(), part, pb_dialect))
        } else {
            // A scalar straight from its token, as the parse hands it to
            // the builder; a list by the parse.
            let object = match decoder::scan_token(&frame[pos..], limits) {
                Ok(Scan::Token(token, used)) if !matches!(token, Token::List(_)) => {
                    let at = pos as u64;
                    pos += used;
                    match token {
                        Token::Int(digits) => builder.int(false, digits),
                        Token::Neg(digits) => builder.int(true, digits),
                        Token::String(bytes) => builder.string(bytes),
                        Token::Float(value) => builder.float(value),
                        Token::Vocab(id) => builder.vocab(id, at),
                        Token::List(_) => unreachable!("lists go to the parse"),
                    }
                }
                _ => decoder::decode_at(frame, &mut pos, &mut builder, limits),
            }
            .map_err(|error| match error.failure() {
                Failure::Banana(error) => offset_error(error),
                Failure::Python(error) => error,
            })?;
            Item::Object(object.into_bound(py))
        };
        items.push(item);
    }
    Ok(Some(items))
}

/// The list of a message's items, as a broker's `expressionReceived`
/// takes it.
pub(crate) fn message_list<'py>(
    py: Python<'py>,
    items: Vec<Item<'py>>,
) -> PyResult<Bound<'py, PyList>> {
    let objects = items
        .into_iter()
        .map(|item| item.into_object(py))
        .collect::<PyResult<Vec<_>>>()?;
    PyList::new(py, objects)
}

/// The expression `data[range]` (one whole expression; the framer checked
/// it against `limits`) as a broker reads it: a PB message with its jellied
/// items as [`Encoded`] parts of `data` (see [`read_items`]), or any other
/// expression as its s-expression. `base` is the stream offset of
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
    if let Some(items) = read_items(
        py,
        data,
        range.clone(),
        base,
        None,
        vocabulary,
        pb_dialect,
        limits,
    )? {
        return Ok(message_list(py, items)?.into_any().unbind());
    }
    let frame = &data.as_bytes()[range.clone()];
    let mut builder = PyBuilder::new(py, vocabulary, pb_dialect);
    let _pause = GcPause::new(py);
    decoder::decode_exact(frame, &mut builder, limits).map_err(|error| match error.failure() {
        Failure::Banana(error) => BuildError::from(crate::banana::DecodeError::new(
            error.offset + base + range.start as u64,
            error.kind,
        ))
        .into_pyerr(py),
        Failure::Python(error) => error,
    })
}
