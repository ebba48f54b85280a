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
//! security policy is consulted).
//!
//! Uses [`crate::banana`] and [`crate::pybanana`]; nothing of the bindings.
//! Both directions recurse natively once per nesting level, bounded by a
//! depth limit.

pub mod dumps;
pub mod frame;
pub mod jellier;
#[allow(clippy::module_inception)]
pub mod jelly;
pub mod loads;
pub mod messages;
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

/// `qual(cls)`: `module.Qualname`, as Twisted's `reflect.qual` builds it.
pub fn qual(class: &Bound<'_, PyAny>) -> PyResult<String> {
    let module = class.getattr(pyo3::intern!(class.py(), "__module__"))?;
    let name = class.getattr(pyo3::intern!(class.py(), "__qualname__"))?;
    Ok(format!("{}.{}", module.str()?, name.str()?))
}
