//! Jellying: objects out. One traversal, Twisted's `_Jellier.jelly`, writes
//! either a Python s-expression or Banana bytes, through a sink.
//!
//! - [`jellier`]: the state of one call (objects met, reference ids), which
//!   `jellyFor` hooks are handed;
//! - [`context`]: the traversal's borrowed view of that state;
//! - [`traversal`]: the walk itself, object by object;
//! - [`values`]: dates, times and Decimal, jellied;
//! - [`sinks`]: where the walk writes: Python lists or Banana bytes;
//! - [`dumps`]: objects straight to Banana bytes (`pbfast.dumps`, a broker's
//!   `serialize`).

pub mod context;
pub mod dumps;
pub mod jellier;
pub mod sinks;
pub mod traversal;
pub mod values;
