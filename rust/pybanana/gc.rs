//! Pausing Python's cyclic garbage collector while a structure is built.
//!
//! Building a large s-expression or object graph allocates many container
//! objects, and every few hundred of them the collector walks all the young
//! ones looking for unreachable cycles — everything being built is reachable,
//! so it finds nothing, and the walks cost as much as the building. The
//! collector is paused for the duration of one top-level call and resumed
//! after it, so the objects are examined once, at the next collection,
//! instead of over and over.

use pyo3::ffi;
use pyo3::Python;

/// Pauses the collector until dropped, unless it was already paused (by the
/// application, or by an enclosing call: nested pauses leave it to the
/// outermost).
pub struct GcPause {
    was_enabled: bool,
}

impl GcPause {
    pub fn new(_py: Python<'_>) -> Self {
        // SAFETY: the caller holds the GIL (`_py`); PyGC_Disable only flips
        // the interpreter's flag and returns its previous value.
        let was_enabled = unsafe { ffi::PyGC_Disable() } != 0;
        GcPause { was_enabled }
    }
}

impl Drop for GcPause {
    fn drop(&mut self) {
        if self.was_enabled {
            // SAFETY: dropped on the thread that made the pause, which holds
            // the GIL for as long as the `Python` token it was given lives.
            unsafe {
                ffi::PyGC_Enable();
            }
        }
    }
}
