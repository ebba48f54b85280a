//! One jelly traversal's view of its jellier ([`Cx`]), borrowed once at the
//! top of the call and handed to every level and to the sink: the jellier's
//! state, the Python objects used, the stack, and the root's address.

use pyo3::prelude::*;
use pyo3::types::PyBytes;

use super::jellier::{Jellier, Skips};
use crate::jelly::depth::Stack;
use crate::jelly::python_objects::PythonObjects;

/// One traversal's view of its jellier, borrowed once at the top.
pub(crate) struct Cx<'a, 'py> {
    pub(crate) slf: &'a Bound<'py, Jellier>,
    pub(crate) me: &'a Jellier,
    pub(crate) refs: &'static PythonObjects,
    pub(crate) stack: Stack,
    /// The address of the object the traversal began with (see
    /// `Jellier::may_skip`).
    pub(crate) root: usize,
}

impl<'py> Cx<'_, 'py> {
    pub(crate) fn py(&self) -> Python<'py> {
        self.slf.py()
    }

    /// Python code may run next (see [`Jellier::observe`]): called before
    /// anything that can run it, with the skips the traversal's sink keeps.
    #[inline(always)]
    pub(crate) fn python_may_run(&self, skips: &mut Skips) {
        self.stop_skipping(skips);
    }

    /// The objects skipped so far are entered among the objects met, and
    /// nothing is skipped any more (see [`Jellier::observe`]).
    #[inline(always)]
    pub(crate) fn stop_skipping(&self, skips: &mut Skips) {
        if self.me.is_unobserved() {
            self.me.observe(self.py(), skips);
        }
    }

    pub(crate) fn atom(&self, atom: &Py<PyBytes>) -> Bound<'py, PyAny> {
        atom.bind(self.py()).clone().into_any()
    }
}
