//! A traversal's state object (a `Jellier`, an `Unjellier`) kept for the
//! next traversal on the same thread once its own is over, instead of a new
//! one each time: what a broker's every message would otherwise allocate
//! and free.
//!
//! One is kept only when nothing but the traversal's caller holds it: the
//! classes are not tracked by the garbage collector and take no weak
//! references, so a reference count of one is the caller's reference, and
//! no Python code can reach it. It is emptied first, so that a kept one
//! holds no other object alive.

use std::cell::{Cell, RefCell};
use std::thread::LocalKey;

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::PyClass;

use super::taster::Taster;

/// A thread's spare, if it has one.
pub(crate) type SpareSlot<T> = LocalKey<Cell<Option<Py<T>>>>;

/// The thread's spare in `slot`, taken out of it.
pub(crate) fn take<T: PyClass>(slot: &'static SpareSlot<T>) -> Option<Py<T>> {
    slot.with(Cell::take)
}

/// True if nothing but the caller holds `object`.
pub(crate) fn held_once<T: PyClass>(object: &Bound<'_, T>) -> bool {
    // SAFETY: reading the reference count of a live object.
    unsafe { ffi::Py_REFCNT(object.as_ptr()) == 1 }
}

/// What a traversal was given let go of: each of `given` (the taster, the
/// persistence hook, the invoker) set to None and the policy to one that
/// holds nothing. False if one was borrowed (it is then not kept).
pub(crate) fn let_go(
    py: Python<'_>,
    given: [&RefCell<Py<PyAny>>; 3],
    policy: &RefCell<Taster>,
) -> bool {
    given.iter().all(|slot| {
        slot.try_borrow_mut().is_ok_and(|mut held| {
            *held = py.None();
            true
        })
    }) && policy.try_borrow_mut().is_ok_and(|mut policy| {
        *policy = Taster::Dummy;
        true
    })
}

/// Keep `object`, emptied, as the thread's spare in `slot`, if nothing
/// else holds it still (letting go of what it held may have run Python
/// code, a finalizer, which cannot have reached it) and the thread has none
/// (such code may have left one of its own).
pub(crate) fn keep<T: PyClass>(slot: &'static SpareSlot<T>, object: Bound<'_, T>) {
    if held_once(&object) {
        slot.with(|spare| {
            let kept = spare.take();
            spare.set(Some(kept.unwrap_or_else(|| object.unbind())));
        });
    }
}
