//! Unjellying: objects in. The recursive unjelly reads s-expressions, the
//! fused `loads` reads Banana bytes; both check each tag and make each
//! object through the same [`frame::Frame`].
//!
//! - [`unjellier`]: the state of one call (references, objects being
//!   filled, tags already checked, `postUnjelly` hooks), which
//!   `unjellyFor` hooks are handed;
//! - [`references`]: `reference` and `dereference`, cycles and placeholders;
//! - [`values`]: dates, times, Decimal, text and booleans, unjellied;
//! - [`frame`]: one expression's tag, items and the object they make;
//! - [`unjelly`]: s-expressions to objects (`jelly.unjelly`);
//! - [`loads`]: Banana bytes straight to objects (`pbfast.loads`, a broker's
//!   `unserialize`).

pub mod frame;
pub mod loads;
pub mod references;
pub mod unjellier;
pub mod unjelly;
pub mod values;
