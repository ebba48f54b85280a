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
mod broker;
#[cfg(feature = "python")]
mod jelly;
#[cfg(feature = "python")]
mod pybanana;

/// `pbfast._native`, every name it exports listed once: the limits, the
/// banana functions and classes, the jelly functions and classes. The
/// bindings hold what each does; the layers below them, how.
#[cfg(feature = "python")]
// The jellier's and unjellier's state is ordered by the GIL (see their
// `Sync`): a free-threaded interpreter keeps the GIL on for this module.
#[pyo3::pymodule(gil_used = true)]
mod _native {
    use pyo3::prelude::*;

    #[pymodule_export]
    const SIZE_LIMIT: u64 = crate::banana::SIZE_LIMIT;
    #[pymodule_export]
    const PREFIX_LIMIT: usize = crate::banana::PREFIX_LIMIT;
    #[pymodule_export]
    const MAX_DEPTH: usize = crate::banana::MAX_DEPTH;
    #[pymodule_export]
    const MAX_MESSAGE_SIZE: u64 = crate::banana::MAX_MESSAGE_SIZE;
    #[pymodule_export]
    const MAX_JELLY_DEPTH: usize = crate::jelly::depth::MAX_JELLY_DEPTH;

    #[pymodule_export]
    use crate::bindings::banana::{
        b1282int, decode, encode, int2b128, FollowsModuleGlobal, OutgoingVocabulary,
    };
    #[pymodule_export]
    use crate::bindings::decoder::Decoder;

    #[pymodule_export]
    use crate::bindings::broker::{
        as_method, data_received, receive_messages, send_message, takes_native_path,
    };

    #[pymodule_export]
    use crate::bindings::jelly::{dumps, jelly_object, loads, serialize, unserialize};
    #[pymodule_export]
    use crate::jelly::jellying::jellier::Jellier;
    #[pymodule_export]
    use crate::jelly::unjellying::unjellier::Unjellier;
    #[pymodule_export]
    use crate::pybanana::encoded::Encoded;

    /// A Rust panic carrying `message`, for the tests: it must reach Python
    /// as PyO3's `PanicException` from every build of the module, the
    /// portable wheels (linked by zig, with its own unwinder) included.
    #[pyfunction]
    fn panic_for_tests(message: &str) {
        panic!("{message}");
    }

    /// What is not a constant expression: the version, and the `pb`
    /// dialect's vocabulary as bytes.
    #[pymodule_init]
    fn init(module: &Bound<'_, PyModule>) -> PyResult<()> {
        module.add("__version__", env!("CARGO_PKG_VERSION"))?;
        let vocabulary = crate::banana::vocabulary::PB_VOCABULARY
            .map(|symbol| pyo3::types::PyBytes::new(module.py(), symbol));
        module.add(
            "PB_VOCABULARY",
            pyo3::types::PyTuple::new(module.py(), vocabulary)?,
        )
    }
}
