//! pbfast: a native codec for Twisted's Perspective Broker.
//!
//! Four layers, each using only the ones above it in this list:
//!
//! 1. [`banana`]: the pure token core — no Python types, so `cargo test` and
//!    the fuzzers reach all of it;
//! 2. `pybanana`: Banana on Python objects — s-expressions to bytes and
//!    back, the output buffer, string caches, GC pause, buffer access, error
//!    conversion;
//! 3. `jelly`: the traversal — jelly, unjelly, dumps, loads;
//! 4. `bindings`: what Python sees — functions, the native classes'
//!    methods, argument handling.
//!
//! Layers 2 to 4 need Python and are built with the `python` feature, which
//! maturin turns on; this file then also declares the `pbfast._native`
//! module, and nothing imports it.

pub mod banana;

#[cfg(feature = "python")]
mod bindings;
#[cfg(feature = "python")]
mod jelly;
#[cfg(feature = "python")]
mod pybanana;

#[cfg(feature = "python")]
use pyo3::prelude::*;

#[cfg(feature = "python")]
// The jellier's and unjellier's state is ordered by the GIL (see their
// `Sync`): a free-threaded interpreter keeps the GIL on for this module.
#[pymodule(gil_used = true)]
#[pyo3(name = "_native")]
fn init(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add("__version__", env!("CARGO_PKG_VERSION"))?;
    module.add("SIZE_LIMIT", banana::SIZE_LIMIT)?;
    module.add("PREFIX_LIMIT", banana::PREFIX_LIMIT)?;
    module.add("MAX_DEPTH", banana::MAX_DEPTH)?;
    module.add("MAX_MESSAGE_SIZE", banana::MAX_MESSAGE_SIZE)?;
    let vocabulary = banana::vocabulary::PB_VOCABULARY
        .map(|symbol| pyo3::types::PyBytes::new(module.py(), symbol));
    module.add(
        "PB_VOCABULARY",
        pyo3::types::PyTuple::new(module.py(), vocabulary)?,
    )?;
    module.add_class::<bindings::banana::OutgoingVocabulary>()?;
    module.add_class::<bindings::decoder::Decoder>()?;
    module.add_class::<bindings::banana::FollowsModuleGlobal>()?;
    module.add_function(wrap_pyfunction!(bindings::banana::encode, module)?)?;
    module.add_function(wrap_pyfunction!(bindings::banana::decode, module)?)?;
    module.add_function(wrap_pyfunction!(bindings::banana::int2b128, module)?)?;
    module.add_function(wrap_pyfunction!(bindings::banana::b1282int, module)?)?;
    module.add("MAX_JELLY_DEPTH", jelly::MAX_DEPTH)?;
    module.add_class::<jelly::jellier::Jellier>()?;
    module.add_class::<jelly::unjellier::Unjellier>()?;
    module.add_function(wrap_pyfunction!(bindings::jelly::jelly_object, module)?)?;
    module.add_function(wrap_pyfunction!(bindings::jelly::dumps, module)?)?;
    module.add_function(wrap_pyfunction!(bindings::jelly::loads, module)?)?;
    module.add_class::<pybanana::encoded::Encoded>()?;
    module.add_function(wrap_pyfunction!(bindings::jelly::serialize, module)?)?;
    module.add_function(wrap_pyfunction!(bindings::jelly::unserialize, module)?)?;
    Ok(())
}
