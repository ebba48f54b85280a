//! Banana bytes straight to objects (`pbfast.loads`): unjelly reading the
//! token stream itself, with no s-expression built for what it handles.
//!
//! The [`Reader`] walks the bytes once, recursing per jelly expression the
//! way Twisted's unjelly recurses per list. Each concern adds its own
//! `impl Reader`:
//!
//! - [`tokens`]: peeks at tokens and scalars, and reading them;
//! - [`budget`]: slots reserved for announced items, bounded by the bytes
//!   left, and the room left in the limits;
//! - [`dispatch`]: the general way: a list's first item is its jelly tag; a
//!   built-in tag known to need no check (the taster allows it, no registry
//!   claims it: see [`crate::jelly::taster::Taster::plain_builtins`], asked
//!   again whenever Python code has run) is recognised from its bytes,
//!   without a Python object; any other tag goes through
//!   [`super::frame::Frame::begin`], the same checks in the same order as
//!   the recursive unjelly, and the items are read as the frame asks:
//!   unjellied, as `[key, value]` pairs, or raw;
//! - [`shaped`]: the expressions jelly writes most (`[b"unicode", text]`
//!   and str dictionary keys, `[b"None"]`, booleans, dereferences, the
//!   container tags) matched as whole byte shapes, a word at a time;
//! - [`containers`]: lists, tuples and dictionaries filled;
//! - [`early`]: `[b"reference", id, [b"dictionary", ...]]` (or `list`)
//!   registers the container before filling it, so that the dereferences of
//!   a cycle back to it find it at once instead of going through a
//!   placeholder.
//!
//! Twisted decodes all the bytes before it unjellies anything; so when an
//! expression is refused here, the rest of the bytes are checked, and
//! malformed bytes are reported instead, as `BananaError`.

mod budget;
mod containers;
mod dispatch;
mod early;
mod shaped;
mod tokens;

use pyo3::ffi;
use pyo3::prelude::*;

use crate::banana::decoder::{self, Limits, Validate};
use crate::banana::error::{DecodeError, ErrorKind};
use crate::banana::shapes;
use crate::pybanana::buffer::with_bytes;
use crate::pybanana::decode::PyBuilder;
use crate::pybanana::encoded::Encoded;
use crate::pybanana::errors::{decode_error, BuildError, Failure};
use crate::pybanana::gc::GcPause;
use crate::pybanana::string_cache::StringCache;
use crate::pybanana::vocabulary::IncomingVocabulary;

use super::unjellier::{run_post_callbacks, Unjellier};
use crate::jelly::depth::Stack;
use crate::jelly::errors::bad_input;
use crate::jelly::python_objects::PythonObjects;

type Result<T> = std::result::Result<T, BuildError>;

/// What an item read to.
enum Value<'py> {
    /// An object that cannot be a forward-reference placeholder (a scalar,
    /// a str, a dict, a list, ...): holders skip the check.
    Plain(Bound<'py, PyAny>),
    /// Anything else (it may be a placeholder).
    Ready(Bound<'py, PyAny>),
    /// A dictionary or list still being filled, reached by a dereference,
    /// and its index among the objects being filled.
    Building(Bound<'py, PyAny>, usize),
}

/// One pass over the bytes of one expression: the position, the limits
/// and budgets, the caches, and the unjellier it fills.
struct Reader<'a, 'py> {
    py: Python<'py>,
    slf: &'a Bound<'py, Unjellier>,
    me: &'a Unjellier,
    refs: &'static PythonObjects,
    input: &'a [u8],
    /// `input.len() - 15`, or 0: a position below it has 16 bytes from it
    /// (see [`Reader::words_at`]).
    words_end: usize,
    /// `input.len() - 7`, or 0: the same for 8 bytes ([`Reader::short_word`]).
    word_end: usize,
    pos: usize,
    limits: Limits,
    scalars: PyBuilder<'py, 'static>,
    /// True in dialect `pb`: tags may be VOCAB tokens.
    pb_dialect: bool,
    /// Banana lists open around the position.
    lists: usize,
    /// Slots reserved for the items of open containers and not yet filled,
    /// all together (see [`Reader::room`]).
    reserved: usize,
    /// Open containers holding reservations.
    reserving: usize,
    /// Recent short strs (dict keys, short values), shared with equal ones.
    texts: StringCache,
    /// True if the limits allow [`shapes`] (one-digit prefixes, the tags'
    /// length), so that matching one is reading it.
    shapes: bool,
    stack: &'a Stack,
}

/// The object Banana bytes `data` (exactly one expression, dialect `none`)
/// jelly, read by `slf` in one pass; then its `postUnjelly` hooks. Errors
/// are `BananaError` or `InsecureJelly` (see [`bad_input`]).
pub(crate) fn loads<'py>(
    slf: &Bound<'py, Unjellier>,
    data: &Bound<'py, PyAny>,
    limits: &Limits,
) -> PyResult<Bound<'py, PyAny>> {
    let py = slf.py();
    let refs = PythonObjects::get(py)?;
    // `data` that is no bytes-like object is the caller's error, raised as
    // it is (a TypeError), not bad input.
    with_bytes(data, |input| {
        read_input(slf, input, false, limits).map_err(|error| bad_input(py, refs, error))
    })?
}

/// What a broker received (or serialized) stands for: the expression
/// `encoded`, read by `slf` as [`loads`] reads bytes; then its
/// `postUnjelly` hooks. Errors as [`loads`]'.
pub(crate) fn unserialize<'py>(
    slf: &Bound<'py, Unjellier>,
    encoded: &Encoded,
) -> PyResult<Bound<'py, PyAny>> {
    let py = slf.py();
    let refs = PythonObjects::get(py)?;
    // Checked against the connection's limits already (see `Encoded`).
    let limits = Limits {
        prefix: usize::MAX,
        size: u64::MAX,
        depth: usize::MAX,
        message: u64::MAX,
    };
    read_input(slf, encoded.bytes(py), encoded.pb_dialect(), &limits)
        .map_err(|error| bad_input(py, refs, error))
}

/// The object `input` (exactly one expression, in dialect `pb` if
/// `pb_dialect`, else `none`) jellies, read by `slf` in one pass; then its
/// `postUnjelly` hooks.
fn read_input<'py>(
    slf: &Bound<'py, Unjellier>,
    input: &[u8],
    pb_dialect: bool,
    limits: &Limits,
) -> PyResult<Bound<'py, PyAny>> {
    let py = slf.py();
    let refs = PythonObjects::get(py)?;
    let me = slf.borrow();
    let object = {
        if input.len() as u64 > limits.message {
            let kind = ErrorKind::MessageTooLarge {
                limit: limits.message,
            };
            return Err(BuildError::from(DecodeError::new(0, kind)).into_pyerr(py));
        }
        let stack = Stack::new();
        let mut reader = Reader {
            py,
            slf,
            me: &me,
            refs,
            input,
            words_end: input.len().saturating_sub(15),
            word_end: input.len().saturating_sub(7),
            pos: 0,
            limits: *limits,
            scalars: PyBuilder::new(py, IncomingVocabulary::pb(py), pb_dialect),
            pb_dialect,
            lists: 0,
            reserved: 0,
            reserving: 0,
            texts: StringCache::texts(),
            shapes: limits.prefix >= 1 && limits.size >= shapes::LONGEST_TAG,
            stack: &stack,
        };
        // Jelly's ids count from 1, one per reference of at least 15 bytes:
        // a table of an eighth of the bytes' length holds them all, and
        // bounds what a hostile id can make it allocate.
        me.keep_numbers(input.len() / 8);
        // What is known of the built-in tags from the start, for the shapes
        // read without entering an expression.
        me.learn_builtins(py, refs)?;
        let pause = GcPause::new(py);
        let result = reader.object().and_then(|object| {
            if reader.pos == input.len() {
                return Ok(object);
            }
            let count = (input.len() - reader.pos) as u64;
            let kind = ErrorKind::TrailingBytes { count };
            Err(DecodeError::new(reader.pos as u64, kind).into())
        });
        drop(pause);
        result.map_err(|error| match error.failure() {
            Failure::Banana(error) => decode_error(py, &error),
            Failure::Python(error) => {
                match decoder::decode_exact(input, &mut Validate { pb_dialect }, limits) {
                    Err(malformed) => decode_error(py, &malformed),
                    Ok(()) => error,
                }
            }
        })
    }?;
    // A hook that kept the unjellier (any hook that ran has moved the
    // references already; this is insurance) sees every reference in
    // `references`. Nothing else can see the unjellier.
    // (Counted once `me`, which holds a reference, is given back.)
    drop(me);
    // SAFETY: reading the reference count of a live object.
    if unsafe { ffi::Py_REFCNT(slf.as_ptr()) } > 1 {
        slf.borrow().keep_in_dict(py)?;
    }
    run_post_callbacks(slf)?;
    Ok(object)
}
