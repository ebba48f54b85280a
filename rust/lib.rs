//! pbfast: a native codec for Twisted's Perspective Broker.
//!
//! [`banana`] is the pure token core (no Python types: `cargo test` and the
//! fuzzers reach it). With the `python` feature, which maturin turns on, the
//! crate is also the `pbfast._native` extension module: `jelly` (object
//! graphs to s-expressions, on the CPython API) and `python` (the bindings).

pub mod banana;

#[cfg(feature = "python")]
mod jelly;
#[cfg(feature = "python")]
mod python;
