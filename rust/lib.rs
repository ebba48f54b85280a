//! pbfast: a native codec for Twisted's Perspective Broker.
//!
//! [`banana`] is the pure token core (no Python types: `cargo test` and the
//! fuzzers reach it). With the `python` feature, which maturin turns on, the
//! crate is also the `pbfast._native` extension module.

pub mod banana;

#[cfg(feature = "python")]
mod python;
