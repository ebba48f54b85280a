//! How deep a traversal may go: the limit on object nesting, and the native
//! stack each level needs. Both directions recurse natively once per
//! nesting level, as Twisted's jelly recurses in Python, so that hooks see
//! the same order; this module keeps that recursion bounded and on a stack
//! with room for it, whatever the thread's stack size.

use pyo3::prelude::*;

use super::python_objects::PythonObjects;

/// Default limit on object nesting, both ways. Twisted's jelly recurses in
/// Python, two or three frames a level, so it stops near 330 levels at
/// Python's default recursion limit; a peer cannot send anything deeper
/// that Twisted would accept.
pub const MAX_JELLY_DEPTH: usize = 1000;

// The constructors' signatures spell the default out (so that Python sees
// the number): keep them in step.
const _: () = assert!(MAX_JELLY_DEPTH == 1000);

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

/// The error for an object graph nested deeper than `limit`, jellied.
pub(crate) fn objects_too_deep(py: Python<'_>, refs: &PythonObjects, limit: usize) -> PyErr {
    refs.insecure(
        py,
        format!("object graph nested deeper than {limit} levels"),
    )
}

/// The error for jelly nested deeper than `limit`, unjellied.
pub(crate) fn jelly_too_deep(py: Python<'_>, refs: &PythonObjects, limit: usize) -> PyErr {
    refs.insecure(py, format!("jelly nested deeper than {limit} levels"))
}
