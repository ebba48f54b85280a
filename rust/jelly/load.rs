//! Banana bytes straight to objects (`pbfast.loads`): unjelly driven by the
//! token stream, with no s-expression built for what it handles itself.
//!
//! The Banana decoder reports each list it opens, each item and each list
//! it closes; a list's first item is its jelly tag. This builder keeps, for
//! every open list, the [`Frame`] its tag asked for (the same frames the
//! recursive unjelly uses, so the checks, their order and the objects are the
//! same), and feeds it items as they complete: so a `[b"unicode", ...]` is a
//! str the moment its list closes, and a dictionary is filled pair by pair.
//! Where Twisted's semantics need the s-expression itself — a registered
//! class's `unjellyFor` hook, Twisted's own methods for rare tags — the items
//! are built as plain lists and handed over when the list closes.

use pyo3::prelude::*;

use crate::banana::decoder::{self, Builder, Digits, Limits};
use crate::python::banana::{with_bytes, IncomingVocabulary, PyBuilder};
use crate::python::errors::BuildError;
use crate::python::gc::GcPause;

use super::decode::{run_post_callbacks, Frame, Mode, Unjellier};
use super::Refs;

/// A completed item: an object, or a dictionary item.
pub(crate) enum Item<'py> {
    Object(Bound<'py, PyAny>),
    Pair(Bound<'py, PyAny>, Bound<'py, PyAny>),
}

/// What an open list is becoming.
pub(crate) enum Slot<'py> {
    /// A jelly expression whose tag has not come yet; `claimed` items.
    Pending {
        claimed: usize,
    },
    Frame(Frame<'py>),
    /// A list inside an item taken raw: the s-expression as it is.
    Raw(Vec<Bound<'py, PyAny>>),
    /// A dictionary's `[key, value]`: the items so far.
    Pair(Option<Bound<'py, PyAny>>, Option<Bound<'py, PyAny>>, usize),
}

pub(crate) struct LoadBuilder<'a, 'py> {
    slf: &'a Bound<'py, Unjellier>,
    me: &'a Unjellier,
    refs: &'static Refs,
    scalars: PyBuilder<'py, 'static>,
    /// For each open list, how its next item is to be taken.
    modes: Vec<Mode>,
}

impl<'a, 'py> LoadBuilder<'a, 'py> {
    pub(crate) fn new(slf: &'a Bound<'py, Unjellier>, me: &'a Unjellier) -> PyResult<Self> {
        let py = slf.py();
        Ok(LoadBuilder {
            slf,
            me,
            refs: Refs::get(py)?,
            scalars: PyBuilder {
                py,
                vocabulary: IncomingVocabulary::pb(py),
                pb_dialect: false,
            },
            modes: Vec::new(),
        })
    }

    fn object(&self, value: Py<PyAny>) -> Item<'py> {
        Item::Object(value.into_bound(self.slf.py()))
    }

    fn set_mode(&mut self, mode: Mode) {
        if let Some(last) = self.modes.last_mut() {
            *last = mode;
        }
    }
}

impl<'py> Builder for LoadBuilder<'_, 'py> {
    type Value = Item<'py>;
    type List = Slot<'py>;
    type Error = BuildError;

    fn list(&mut self, capacity: usize) -> Slot<'py> {
        match self.modes.last().copied().unwrap_or(Mode::Normal) {
            Mode::Raw => {
                self.modes.push(Mode::Raw);
                Slot::Raw(Vec::with_capacity(capacity))
            }
            Mode::Pairs => {
                self.modes.push(Mode::Normal);
                Slot::Pair(None, None, 0)
            }
            Mode::Normal => {
                self.modes.push(Mode::Normal);
                Slot::Pending { claimed: capacity }
            }
        }
    }

    fn push(&mut self, slot: &mut Slot<'py>, item: Item<'py>) -> Result<(), BuildError> {
        let refs = self.refs;
        let item = match item {
            Item::Object(object) => object,
            Item::Pair(key, value) => {
                let Slot::Frame(frame) = slot else {
                    return Err(refs
                        .insecure(key.py(), "a [key, value] pair outside a dictionary")
                        .into());
                };
                frame.push_pair(key, value, refs)?;
                return Ok(());
            }
        };
        match slot {
            Slot::Pending { claimed } => {
                let frame =
                    Frame::begin(self.slf, self.me, refs, &item, claimed.saturating_sub(1))?;
                self.set_mode(frame.mode());
                *slot = Slot::Frame(frame);
            }
            Slot::Frame(frame) => {
                frame.push(item, refs)?;
                self.set_mode(frame.mode());
            }
            Slot::Raw(items) => items.push(item),
            Slot::Pair(key, value, count) => {
                match count {
                    0 => {
                        Frame::check_key_of(&item, refs)?;
                        *key = Some(item);
                    }
                    1 => *value = Some(item),
                    _ => {}
                }
                *count += 1;
            }
        }
        Ok(())
    }

    fn finish_list(&mut self, slot: Slot<'py>) -> Result<Item<'py>, BuildError> {
        self.modes.pop();
        let py = self.slf.py();
        let refs = self.refs;
        Ok(match slot {
            Slot::Pending { .. } => {
                return Err(refs
                    .insecure(py, "jelly expression [] has 0 items, needs at least 1")
                    .into())
            }
            Slot::Frame(frame) => Item::Object(frame.finish(self.slf, refs)?),
            Slot::Raw(items) => Item::Object(pyo3::types::PyList::new(py, items)?.into_any()),
            Slot::Pair(Some(key), Some(value), 2) => Item::Pair(key, value),
            Slot::Pair(..) => {
                return Err(refs
                    .insecure(py, "dictionary items must be [key, value] pairs")
                    .into())
            }
        })
    }

    fn int(&mut self, negative: bool, digits: Digits<'_>) -> Result<Item<'py>, BuildError> {
        let value = self.scalars.int(negative, digits)?;
        Ok(self.object(value))
    }

    fn string(&mut self, bytes: &[u8]) -> Result<Item<'py>, BuildError> {
        let value = self.scalars.string(bytes)?;
        Ok(self.object(value))
    }

    fn float(&mut self, value: f64) -> Result<Item<'py>, BuildError> {
        let value = self.scalars.float(value)?;
        Ok(self.object(value))
    }

    fn vocab(&mut self, id: Digits<'_>, offset: u64) -> Result<Item<'py>, BuildError> {
        let value = self.scalars.vocab(id, offset)?;
        Ok(self.object(value))
    }
}

/// The object Banana bytes `data` (exactly one expression, dialect `none`)
/// jelly, built by `slf` in one pass; then its `postUnjelly` hooks.
pub(crate) fn loads<'py>(
    slf: &Bound<'py, Unjellier>,
    data: &Bound<'py, PyAny>,
    limits: &Limits,
) -> PyResult<Bound<'py, PyAny>> {
    let py = slf.py();
    let me = slf.borrow();
    let pause = GcPause::new(py);
    let mut builder = LoadBuilder::new(slf, &me)?;
    let item = with_bytes(data, |bytes| {
        decoder::decode_exact(bytes, &mut builder, limits)
    })?
    .map_err(|error| error.into_pyerr(py))?;
    drop(pause);
    let Item::Object(object) = item else {
        // Only a list inside a dictionary becomes a pair.
        unreachable!("a dictionary item at the top");
    };
    run_post_callbacks(slf)?;
    Ok(object)
}
