//! Banana on Python objects: the layer between the pure token core
//! ([`crate::banana`]) and the jelly traversal ([`crate::jelly`]).
//!
//! It makes Python s-expressions from Banana tokens and Banana bytes from
//! Python s-expressions, and holds the CPython plumbing the layers above
//! share:
//!
//! - [`output`]: the growing output buffer, and the pieces spliced into it
//!   when it is assembled into one `bytes` object;
//! - [`bigint`]: ints beyond 64 bits to and from their magnitude's bytes;
//! - [`encode`]: s-expressions (lists, tuples, bytes, ints, floats) to bytes;
//! - [`decode`]: tokens to Python s-expressions ([`decode::PyBuilder`]);
//! - [`encoded`]: an expression already encoded, carried as one object;
//! - [`messages`]: a PB message read from its bytes, its jellied parts left
//!   encoded;
//! - [`vocabulary`]: incoming vocabulary symbols as Python objects;
//! - [`text`]: `str`s made from UTF-8 directly;
//! - [`string_cache`]: caches of recently decoded short strings;
//! - [`buffer`]: the bytes of any bytes-like object;
//! - [`instance`]: an object's own attributes, and classes that keep them
//!   as `object` does;
//! - [`watched`]: knowing cheaply that Python dicts have not changed;
//! - [`gc`]: pausing the cyclic collector while a structure is built;
//! - [`errors`]: codec errors as the Python exceptions users catch.

pub mod bigint;
pub mod buffer;
pub mod decode;
pub mod encode;
pub mod encoded;
pub mod errors;
pub mod gc;
pub mod instance;
pub mod messages;
pub mod output;
pub mod string_cache;
pub mod text;
pub mod vocabulary;
pub mod watched;
