//! Jelly: Python object graphs to s-expressions and Banana bytes, and back,
//! natively. This is the traversal layer.
//!
//! The registry, the security policy and the hooks stay Python and are
//! Twisted's own objects (`unjellyableRegistry`, `SecurityOptions`,
//! `Jellyable.jellyFor`, `Unjellyable.unjellyFor`, ...): this layer reads
//! them at the time of use and never keeps a copy. What it does natively is
//! the traversal: type dispatch, containers, shared and cyclic references.
//!
//! - [`jellying`]: objects out, to s-expressions (`jelly.jelly`) or bytes
//!   (`dumps`, a broker's `serialize`);
//! - [`unjellying`]: objects in, from s-expressions (`jelly.unjelly`) or
//!   bytes (`loads`, a broker's `unserialize`).
//!
//! What both directions share, each used by the two and using neither:
//! [`python_objects`] (the Twisted and standard-library objects used,
//! looked up once), [`tags`] (the built-in tags), [`taster`] (how a
//! security policy is consulted), [`hooks`] (how a hook is found on an
//! object), [`names`] (the names jelly writes and checks, by Twisted's
//! expressions), [`depth`] (the nesting limit and the stack each level
//! needs), [`errors`] (how errors from input are typed), [`spare`] (a
//! traversal's state object kept for the next).

pub mod depth;
pub mod errors;
pub mod hooks;
pub mod jellying;
pub mod names;
pub mod python_objects;
pub mod spare;
pub mod tags;
pub mod taster;
pub mod unjellying;
