//! The bindings: what Python sees of the native module, and nothing else —
//! `#[pyfunction]`s, the `#[pymethods]` of the native classes, and
//! argument handling (defaults, the limits read from `pbfast.banana`).
//! Each function here hands its work to a layer below.

pub mod banana;
pub mod broker;
pub mod decoder;
pub mod jelly;
