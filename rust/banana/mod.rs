//! The Banana token stream: the byte format under Twisted's Perspective Broker.
//!
//! Banana carries s-expressions: lists, byte strings, integers and floats. Each
//! token is a *prefix* (a number written in base 128, least significant digit
//! first, every byte with its high bit clear) followed by one *type byte* (high
//! bit set) that says what the prefix means:
//!
//! | type byte | token    | prefix is                     | then            |
//! |-----------|----------|-------------------------------|-----------------|
//! | `0x80`    | LIST     | the number of items           | the items       |
//! | `0x81`    | INT      | the value, `0..2**31`         |                 |
//! | `0x82`    | STRING   | the length in bytes           | the bytes       |
//! | `0x83`    | NEG      | minus the value               |                 |
//! | `0x84`    | FLOAT    | ignored                       | 8 bytes, IEEE double, big-endian |
//! | `0x85`    | LONGINT  | the value, beyond 32 bits     |                 |
//! | `0x86`    | LONGNEG  | minus the value               |                 |
//! | `0x87`    | VOCAB    | a symbol id of the dialect    |                 |
//!
//! This module is the pure core, the lowest layer: no Python types and no
//! other module of the crate, so `cargo test` and the fuzzers reach every
//! line of it. The layer above (Banana on Python objects) builds Python
//! objects through the [`decoder::Builder`] trait and walks Python objects to
//! call the [`encoder`] functions.

pub mod base128;
pub mod decoder;
pub mod encoder;
pub mod error;
pub mod framer;
pub mod shapes;
pub mod value;
pub mod vocabulary;
pub mod words;

pub use decoder::{Builder, Decoder, Digits, Limits};
pub use error::DecodeError;

/// Type byte of a list header; the prefix is the item count.
pub const LIST: u8 = 0x80;
/// Type byte of a non-negative integer below 2**31.
pub const INT: u8 = 0x81;
/// Type byte of a byte string; the prefix is its length.
pub const STRING: u8 = 0x82;
/// Type byte of a negative integer down to -2**31; the prefix is its magnitude.
pub const NEG: u8 = 0x83;
/// Type byte of a float: eight big-endian IEEE 754 bytes follow.
pub const FLOAT: u8 = 0x84;
/// Type byte of an integer above 2**31 - 1.
pub const LONGINT: u8 = 0x85;
/// Type byte of an integer below -2**31; the prefix is its magnitude.
pub const LONGNEG: u8 = 0x86;
/// Type byte of a vocabulary symbol (dialect `pb`); the prefix is its id.
pub const VOCAB: u8 = 0x87;

/// Twisted's limit on list and string lengths (`banana.SIZE_LIMIT`).
pub const SIZE_LIMIT: u64 = 640 * 1024;
/// Twisted's default limit on the length of a prefix, in bytes.
pub const PREFIX_LIMIT: usize = 64;
/// Default limit on list nesting. Twisted's encoder (and jelly on top of it)
/// recurses once per level, so no Twisted peer at Python's default recursion
/// limit (1000) can produce anything near this; the limit exists so that a
/// hostile peer cannot make a decoder build an arbitrarily deep structure that
/// every recursive consumer downstream would then choke on.
pub const MAX_DEPTH: usize = 10_000;
/// Default limit on the size of one top-level expression on the wire. Twisted
/// has none (only per-list and per-string limits, which multiply); 64 MiB is a
/// hundred times the largest single string Twisted will send.
pub const MAX_MESSAGE_SIZE: u64 = 64 * 1024 * 1024;
/// The first integer that no longer fits an INT token (2**31).
pub const INT_TOKEN_BOUND: u64 = 1 << 31;

#[cfg(test)]
mod tests;
