//! Referenced containers registered before they are filled:
//! `[b"reference", id, [b"dictionary" or b"list", ...]]` makes the
//! container and registers it under `id` first, so that a cycle's
//! dereferences back to it find it at once instead of going through a
//! placeholder (see [`crate::jelly::unjellying::unjellier::Building`] for why the outcome is the same).

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyInt, PyList};

use super::containers::is_exact_container;
use super::shaped::{container_symbol, container_tag_shape};
use super::{Reader, Result, Value};
use crate::banana::{INT, LIST, NEG, STRING, VOCAB};
use crate::jelly::tags::Builtin;
use crate::jelly::unjellying::references::{
    finish_early_reference, finish_reference_entry, is_not_known, resolve_reference,
};
use crate::jelly::unjellying::unjellier::RefId;

impl<'a, 'py> Reader<'a, 'py> {
    /// `[b"reference", id, [b"dictionary" or b"list", ...]]` at `start` as
    /// jelly writes it, its tag read up to `body`: an int id of one or two
    /// digits that the native table keeps and is free, then a dictionary or
    /// list expression in shape, within the limits. The container is made
    /// and registered before it is filled ([`Reader::numbered_early`]).
    /// `None` (nothing read) otherwise: [`Reader::reference`] reads it.
    #[inline]
    pub(super) fn shaped_reference(
        &mut self,
        start: usize,
        body: usize,
    ) -> Option<Result<Value<'py>>> {
        let (INT, number, used) = self.header_at(body)? else {
            return None;
        };
        let value = body + used;
        let (count, header, builtin @ (Builtin::Dictionary | Builtin::List), tag) =
            self.container_expression_at(value)?
        else {
            return None;
        };
        if !self.me.keeps_number(number)
            || !self.room_for(2)
            || !self.me.numbered_free(self.py, number)
        {
            return None;
        }
        let early = (builtin, value, count, value + header + tag);
        if self.stack.has_room() {
            return Some(self.numbered_reference(start, number as usize, early));
        }
        let stack = self.stack;
        Some(stack.grow(|| self.numbered_reference(start, number as usize, early)))
    }

    /// The level of [`Reader::shaped_reference`]: the `reference` list at
    /// `start` and the `dictionary` or `list` one at `at` of `count` items
    /// (the tag included) opened, the items from `items` read.
    #[inline(always)]
    fn numbered_reference(
        &mut self,
        start: usize,
        number: usize,
        (builtin, at, count, items): (Builtin, usize, u64, usize),
    ) -> Result<Value<'py>> {
        let (_reference, _) = self.open(3, start)?;
        let filled = self.open(count, at).and_then(|(_container, rest)| {
            self.pos = items;
            self.numbered_early(number, builtin, rest)
        });
        self.lists -= 1;
        filled
    }

    /// A dictionary or list of `rest` items, registered under reference id
    /// `number` of the native table before it is filled (see
    /// [`Building`](crate::jelly::unjellying::unjellier::Building)); its list is
    /// open.
    fn numbered_early(
        &mut self,
        number: usize,
        builtin: Builtin,
        rest: usize,
    ) -> Result<Value<'py>> {
        let py = self.py;
        let early = Early::new(py, builtin);
        self.me.start_numbered_building(number, early.object())?;
        let filled = self.fill_early(&early, rest);
        self.lists -= 1;
        if let Err(error) = filled {
            self.me.abandon_building(py);
            return Err(error);
        }
        let object = early.into_object();
        Ok(Value::Plain(match self.me.finish_plain_building(py) {
            None => object,
            Some(entry) => finish_reference_entry(self.slf, self.me, self.refs, object, entry)?,
        }))
    }

    /// The `rest` items of a dictionary or list registered before it is
    /// filled.
    fn fill_early(&mut self, early: &Early<'py>, rest: usize) -> Result<Value<'py>> {
        match early {
            Early::Dictionary(dict) => self.fill_dict(dict.clone(), rest),
            Early::List(list) => {
                let slots = self.capacity(rest);
                self.reserving(slots, |this| this.fill_early_list(list, rest, slots))
            }
        }
    }

    /// What the id at `at` stands for, if it is a small int found in the
    /// native table (see `Unjellier::numbered`: no int object, no hash),
    /// and the id's length.
    #[inline(always)]
    pub(super) fn numbered_at(&self, at: usize) -> Option<(Value<'py>, usize)> {
        let (type_byte @ (INT | NEG), number, used) = self.header_at(at)? else {
            return None;
        };
        // -0 is 0; any other negative id is not in the table.
        let number = if type_byte == NEG && number != 0 {
            u64::MAX
        } else {
            number
        };
        let value = match self.me.numbered(self.py, number)? {
            (object, Some(index)) => Value::Building(object, index),
            // What references stand for most, which no placeholder is.
            (object, None) if is_exact_container(&object) => Value::Plain(object),
            (object, None) => Value::Ready(object),
        };
        Some((value, used))
    }

    /// `[b"reference", id, value]`, the tag read.
    pub(super) fn reference(&mut self) -> Result<Value<'py>> {
        // A small int id, as jelly writes them, kept in the native table:
        // no int object is made for it unless it is needed.
        let start = self.pos;
        let id = match self.header_at(start) {
            Some((INT, number, used)) if self.me.keeps_number(number) => {
                self.pos += used;
                RefId::Number(number)
            }
            _ => RefId::Object(self.raw()?.unbind()),
        };
        let id = match self.early_reference(id)? {
            Ok(value) => return Ok(Value::Plain(value)),
            Err(id) => id.object(self.py),
        };
        let value = self.object()?;
        Ok(Value::Ready(resolve_reference(
            self.slf, self.refs, &id, value,
        )?))
    }

    /// The expression at `at`, if it is a container's as jelly writes one
    /// (see [`crate::banana::shapes`]: a one-digit item count, a tag known to need no
    /// check): its item count, list header length, tag and tag length.
    #[inline(always)]
    fn container_expression_at(&self, at: usize) -> Option<(u64, usize, Builtin, usize)> {
        if !self.shapes {
            return None;
        }
        let (first, second) = self.words_at(at);
        let count = first & 0xff;
        if count == 0 || count >= 0x80 || (first >> 8) as u8 != LIST {
            return None;
        }
        let (builtin, tag) = match ((first >> 16) as u16).to_le_bytes() {
            [_, STRING] => container_tag_shape(first >> 16 | second << 48, second >> 16)?,
            [symbol, VOCAB] if self.pb_dialect => (container_symbol(symbol)?, 2),
            _ => return None,
        };
        self.me.knows(builtin).then_some((count, 2, builtin, tag))
    }

    /// [`Reader::container_expression_at`] for a dictionary or list
    /// expression in any other form: read token by token, the tag checked
    /// if needed.
    fn checked_container_expression_at(
        &self,
        at: usize,
    ) -> Result<Option<(u64, usize, Builtin, usize)>> {
        let Some((count @ 1.., header)) = self.short_list(at) else {
            return Ok(None);
        };
        if let Some((builtin, tag)) = self.container_tag_at(at + header) {
            return Ok(Some((count, header, builtin, tag)));
        }
        let Some((name, tag)) = self.short_tag(at + header) else {
            return Ok(None);
        };
        let Some(builtin @ (Builtin::Dictionary | Builtin::List)) = Builtin::named(name) else {
            return Ok(None);
        };
        if !self.me.knows(builtin) && !self.me.check_builtin(self.py, self.refs, builtin)? {
            return Ok(None);
        }
        Ok(Some((count, header, builtin, tag)))
    }

    /// The `rest` items of a referenced list, registered before it is
    /// filled, appended as they come. An object being filled (this list
    /// too, met in itself) is held as it is, its place noted, as a
    /// dictionary holds it; a forward reference is patched in when known,
    /// as Twisted's `_unjelly_list` has it.
    pub(super) fn fill_early_list(
        &mut self,
        list: &Bound<'py, PyList>,
        rest: usize,
        slots: usize,
    ) -> Result<Value<'py>> {
        for index in 0..rest {
            let item = match self.item()? {
                Value::Plain(item) => item,
                Value::Ready(item) => {
                    if is_not_known(&item, self.refs)? {
                        let key = PyInt::new(self.py, index).into_any();
                        self.patch_later(list.as_any(), &key, &item)?;
                    }
                    item
                }
                Value::Building(item, building) => {
                    let key = PyInt::new(self.py, index).into_any();
                    self.me.hold(building, list, &key);
                    item
                }
            };
            if index < slots {
                self.filled();
            }
            list.append(item)?;
        }
        Ok(Value::Plain(list.clone().into_any()))
    }

    /// A referenced dictionary or list, registered under `id` before it is
    /// filled; `Err(id)` (nothing read) for any other value, or an id
    /// already in use (where Twisted's checks apply).
    fn early_reference(
        &mut self,
        id: RefId,
    ) -> Result<std::result::Result<Bound<'py, PyAny>, RefId>> {
        let start = self.pos;
        let found = match self.container_expression_at(start) {
            Some(found) => Some(found),
            None => self.checked_container_expression_at(start)?,
        };
        let Some((count, header, builtin @ (Builtin::Dictionary | Builtin::List), tag)) = found
        else {
            return Ok(Err(id));
        };
        let py = self.py;
        // Free if unused, or used by None (Twisted's `references.get` says
        // None for both).
        let free = match &id {
            RefId::Number(number) => self.me.numbered_free(py, *number),
            RefId::Object(object) => match self.me.reference_get(py, object.bind(py)) {
                Ok(known) => known.is_none_or(|known| known.is_none()),
                Err(_) => false,
            },
        };
        if !free {
            return Ok(Err(id));
        }
        self.pos = start + header;
        let (_level, rest) = self.open(count, start)?;
        self.pos += tag;
        let early = Early::new(py, builtin);
        let object = early.object().clone();
        match id {
            RefId::Number(number) => self.me.start_numbered_building(number as usize, &object)?,
            RefId::Object(ref object_id) => {
                self.me.reference_set(py, object_id.bind(py), &object)?;
                self.me.start_building(id, &object);
            }
        }
        let filled = self.fill_early(&early, rest);
        self.lists -= 1;
        if let Err(error) = filled {
            self.me.abandon_building(py);
            return Err(error);
        }
        Ok(Ok(finish_early_reference(
            self.slf, self.me, self.refs, object,
        )?))
    }
}

/// A referenced dictionary or list, which exists from the start: a
/// dictionary is filled in place, a list appended to as its items come.
pub(super) enum Early<'py> {
    Dictionary(Bound<'py, PyDict>),
    List(Bound<'py, PyList>),
}

impl<'py> Early<'py> {
    /// An empty one for `builtin`, a `dictionary` or `list` tag.
    pub(super) fn new(py: Python<'py>, builtin: Builtin) -> Self {
        match builtin {
            Builtin::Dictionary => Early::Dictionary(PyDict::new(py)),
            _ => Early::List(PyList::empty(py)),
        }
    }

    pub(super) fn object(&self) -> &Bound<'py, PyAny> {
        match self {
            Early::Dictionary(dict) => dict.as_any(),
            Early::List(list) => list.as_any(),
        }
    }

    pub(super) fn into_object(self) -> Bound<'py, PyAny> {
        match self {
            Early::Dictionary(dict) => dict.into_any(),
            Early::List(list) => list.into_any(),
        }
    }
}
