//! Jelly: Python object graphs to s-expressions and Banana bytes, and back,
//! natively. This is the traversal layer.
//!
//! The registry, the security policy and the hooks stay Python and are
//! Twisted's own objects (`unjellyableRegistry`, `SecurityOptions`,
//! `Jellyable.jellyFor`, `Unjellyable.unjellyFor`, ...): this layer reads
//! them at the time of use and never keeps a copy. What it does natively is
//! the traversal: type dispatch, containers, shared and cyclic references.
//!
//! Jellying (objects out):
//! - [`jellier`]: the state of one call (objects met, reference ids), which
//!   `jellyFor` hooks are handed;
//! - [`jelly`]: the traversal, Twisted's `_Jellier.jelly`, writing to a sink;
//! - [`sinks`]: where it writes: Python s-expressions or Banana bytes;
//! - [`dumps`]: objects straight to Banana bytes (`pbfast.dumps`).
//!
//! Unjellying (objects in):
//! - [`unjellier`]: the state of one call (references, objects being
//!   filled, tags already checked), which `unjellyFor` hooks are handed;
//! - [`tags`]: the built-in tags; [`frame`]: one expression's tag, items and
//!   the object they make, shared by both readers below;
//! - [`references`]: `reference` and `dereference`, cycles and placeholders;
//! - [`unjelly`]: s-expressions to objects (`jelly.unjelly`);
//! - [`loads`]: Banana bytes straight to objects (`pbfast.loads`).
//!
//! Both ways: [`values`] (dates, times, Decimal, text, booleans), [`refs`]
//! (the Twisted and standard-library objects used), [`taster`] (how a
//! security policy is consulted), [`hooks`] (how a hook is found on an
//! object), [`names`] (the names jelly writes and checks, by Twisted's
//! expressions).
//!
//! Uses [`crate::banana`] and [`crate::pybanana`]; nothing of the bindings.
//! Both directions recurse natively once per nesting level, bounded by a
//! depth limit.

pub mod dumps;
pub mod frame;
pub mod hooks;
pub mod jellier;
#[allow(clippy::module_inception)]
pub mod jelly;
pub mod loads;
pub mod messages;
pub mod names;
pub mod references;
pub mod refs;
pub mod sinks;
pub mod tags;
pub mod taster;
pub mod unjellier;
pub mod unjelly;
pub mod values;

use pyo3::prelude::*;

/// Default limit on object nesting, both ways. Twisted's jelly recurses in
/// Python, two or three frames a level, so it stops near 330 levels at
/// Python's default recursion limit; a peer cannot send anything deeper
/// that Twisted would accept.
pub const MAX_DEPTH: usize = 1000;

// The constructors' signatures spell the default out (so that Python sees
// the number): keep them in step.
const _: () = assert!(MAX_DEPTH == 1000);

/// Native stack kept free at each level of the traversal: enough for the
/// deepest a level and the Python code it may call (a hook) go before the
/// next level's check.
const RED_ZONE: usize = 128 * 1024;
/// The stack segment taken from the heap when less than [`RED_ZONE`] is left.
const STACK_SEGMENT: usize = 2 * 1024 * 1024;

/// Run `f`, one level of a traversal that recurses natively per nesting
/// level, on a stack with room for it: the thread's own while enough of it
/// is left, else a segment from the heap. Threads may have small stacks
/// (128 KiB on musl, 512 KiB on macOS, what `threading.stack_size` set),
/// and input the depth limits allow still has to fit; recursing per level
/// keeps the traversal as Twisted's is (hooks see the same order).
#[inline(always)]
pub(crate) fn with_stack<R>(f: impl FnOnce() -> R) -> R {
    stacker::maybe_grow(RED_ZONE, STACK_SEGMENT, f)
}

/// [`with_stack`] for a traversal that goes through many levels in one
/// call: where the stack in use has [`RED_ZONE`] left is worked out once
/// per stack, so that a level compares the stack's position with it
/// instead of asking the thread how much stack it has (a thread-local read
/// and a call, per level).
pub(crate) struct Stack {
    /// The lowest address a level may start at on the stack in use with
    /// [`RED_ZONE`] still below it; `usize::MAX` until known (every level
    /// asks), 0 where the thread's stack cannot be known (as [`with_stack`],
    /// no level grows it then).
    floor: std::cell::Cell<usize>,
}

impl Stack {
    pub(crate) const fn new() -> Stack {
        Stack {
            floor: std::cell::Cell::new(usize::MAX),
        }
    }

    /// Run `f` as [`with_stack`] does.
    #[inline(always)]
    pub(crate) fn level<R>(&self, f: impl FnOnce() -> R) -> R {
        if self.has_room() {
            return f();
        }
        self.grow(f)
    }

    /// True if a level may run here on the stack in use: where it is not,
    /// [`Stack::grow`] runs it. (What [`Stack::level`] asks first, for a
    /// caller that runs the level inline then, not through a closure.)
    #[inline(always)]
    pub(crate) fn has_room(&self) -> bool {
        position() > self.floor.get()
    }

    /// Run `f`, one level, on a stack with room for it (see
    /// [`Stack::level`]).
    #[cold]
    #[inline(never)]
    pub(crate) fn grow<R>(&self, f: impl FnOnce() -> R) -> R {
        // Stacks that grow down only (all this builds for): elsewhere,
        // every level asks.
        if psm::StackDirection::new() != psm::StackDirection::Descending {
            return with_stack(f);
        }
        match stacker::remaining_stack() {
            None => {
                self.floor.set(0);
                f()
            }
            Some(left) if left > RED_ZONE => {
                self.floor.set(position() - (left - RED_ZONE));
                f()
            }
            Some(_) => {
                let outer = self.floor.get();
                let result = stacker::grow(STACK_SEGMENT, || {
                    // The segment's own floor, for the levels inside it.
                    let left = stacker::remaining_stack().unwrap_or(0);
                    self.floor
                        .set(position().saturating_sub(left.saturating_sub(RED_ZONE)));
                    f()
                });
                self.floor.set(outer);
                result
            }
        }
    }
}

/// Where on the stack the caller is (an address in its frame).
#[inline(always)]
fn position() -> usize {
    let marker = 0u8;
    std::hint::black_box(&marker) as *const u8 as usize
}

/// An error from making objects out of bytes or s-expressions from
/// elsewhere, as `loads`, `unjelly` and a broker's `unserialize` report it:
/// their own two types as they are; what application code raised (a hook,
/// a class's constructor, a taster's method: see
/// `pbfast._errors.raisedByApplication`) as it is, as Twisted delivers it;
/// anything else a value's constructor or Twisted's own code raised (a date
/// out of range, a bad decimal, undecodable UTF-8, an unhashable key, a
/// state that cannot be an instance dict) is one more kind of bad input,
/// `pbfast._errors.malformed` of it: an `InsecureJelly` that is also the
/// class raised, with the original as its cause. Out of memory, and what
/// is not an `Exception`, stay what they are.
pub(crate) fn bad_input(py: Python<'_>, refs: &refs::Refs, error: PyErr) -> PyErr {
    let typed = error.is_instance(py, refs.insecure_jelly.bind(py))
        || crate::pybanana::errors::is_banana_error(py, &error)
        || !error.is_instance_of::<pyo3::exceptions::PyException>(py)
        || error.is_instance_of::<pyo3::exceptions::PyMemoryError>(py);
    if typed {
        return error;
    }
    static BY_APPLICATION: pyo3::sync::PyOnceLock<Py<PyAny>> = pyo3::sync::PyOnceLock::new();
    let by_application = BY_APPLICATION
        .import(py, "pbfast._errors", "raisedByApplication")
        .and_then(|check| {
            // The traceback as PyO3 holds it (the exception's own
            // `__traceback__` is not set yet on every version).
            check
                .call1((error.value(py), error.traceback(py)))?
                .is_truthy()
        });
    match by_application {
        Ok(true) => error,
        Ok(false) => malformed(py, error),
        Err(failed) => failed,
    }
}

/// `pbfast._errors.malformed` of `error`: an `InsecureJelly` that is also
/// `error`'s class, saying the expression is malformed, with `error` as its
/// cause.
pub(crate) fn malformed(py: Python<'_>, error: PyErr) -> PyErr {
    static MALFORMED: pyo3::sync::PyOnceLock<Py<PyAny>> = pyo3::sync::PyOnceLock::new();
    let malformed = match MALFORMED.import(py, "pbfast._errors", "malformed") {
        Ok(malformed) => malformed,
        Err(import_error) => return import_error,
    };
    match malformed.call1((error.value(py),)) {
        Ok(wrapped) => PyErr::from_value(wrapped),
        Err(failed) => failed,
    }
}

/// Counts nesting; the guard gives the level back when dropped.
pub struct Depth<'a> {
    cell: &'a std::cell::Cell<usize>,
}

impl<'a> Depth<'a> {
    /// Enter one level, or `None` past `limit`.
    pub fn enter(cell: &'a std::cell::Cell<usize>, limit: usize) -> Option<Depth<'a>> {
        let level = cell.get();
        if level >= limit {
            return None;
        }
        cell.set(level + 1);
        Some(Depth { cell })
    }
}

impl Drop for Depth<'_> {
    fn drop(&mut self) {
        self.cell.set(self.cell.get() - 1);
    }
}
