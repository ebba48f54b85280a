//! Filling the containers: a list's or tuple's items go straight into its
//! slots (kept from the garbage collector while filled), a dictionary's
//! pairs into the dictionary; an item not known yet (a forward reference)
//! is patched in when it resolves.

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyInt, PyList, PyTuple};

use super::{Reader, Result, Value};
use crate::banana::error::{DecodeError, ErrorKind};
use crate::jelly::unjellying::frame::{forward_reference_key, Frame, Sequence};
use crate::jelly::unjellying::references::is_not_known;

impl<'a, 'py> Reader<'a, 'py> {
    /// `[b"dictionary", ...]`: `rest` items set in `dict`. A dictionary
    /// reserves nothing: it is not made to size, so its items hold no
    /// memory before they are read (see [`Reader::room`]).
    pub(super) fn fill_dict(
        &mut self,
        dict: Bound<'py, PyDict>,
        rest: usize,
    ) -> Result<Value<'py>> {
        // The same at each item: the open lists are the same.
        let pair_room = self.pair_room();
        for _ in 0..rest {
            // A key met twice replaces its value: if that value was an
            // object being filled, held as it is, the places holding it
            // must be set again when it is done (as Twisted's placeholder
            // patches them).
            let before = dict.len();
            let start = self.pos;
            match self.text_pair_key(start, pair_room) {
                Some(key) => self.dict_value(&dict, key?)?,
                None => self.pair_item(&dict, start)?,
            }
            if dict.len() == before {
                self.me.key_replaced();
            }
        }
        Ok(Value::Plain(dict.into_any()))
    }

    /// `[b"list", ...]`: the items go straight into the list, which is also
    /// where Twisted's `_unjelly_list` has forward references patched.
    pub(super) fn fill_list(&mut self, rest: usize) -> Result<Value<'py>> {
        self.check_room(rest)?;
        self.reserving(rest, |this| this.fill_list_slots(rest))
    }

    fn fill_list_slots(&mut self, rest: usize) -> Result<Value<'py>> {
        let py = self.py;
        // SAFETY: a new list of `rest` empty (NULL) slots, or NULL and an
        // exception.
        let list = self.owned(unsafe { ffi::PyList_New(rest as ffi::Py_ssize_t) })?;
        // Until every slot is filled, nothing may reach the list: not even
        // the collector's list of objects (gc.get_objects() in a hook).
        let untracked = Untracked::new(&list);
        // Once a placeholder or a place noted holds the list, Python code
        // may see it: from then on no slot is left empty.
        let mut exposed = false;
        for index in 0..rest {
            let (item, held) = match self.item()? {
                Value::Plain(item) => (item, None),
                Value::Ready(item) => {
                    let unknown = is_not_known(&item, self.refs)?;
                    (item, unknown.then_some(Held::ByPlaceholder))
                }
                Value::Building(item, building) => (item, Some(Held::ByPlace(building))),
            };
            self.filled();
            if exposed {
                // SAFETY: `list` is an exact list of `rest` slots.
                unsafe { list.cast_unchecked::<PyList>() }.set_item(index, &item)?;
            } else {
                // SAFETY: slot `index` of the new list is empty and is
                // filled once, here; the list takes the new reference.
                unsafe {
                    ffi::PyList_SET_ITEM(
                        list.as_ptr(),
                        index as ffi::Py_ssize_t,
                        item.clone().into_ptr(),
                    )
                };
            }
            let Some(held) = held else {
                continue;
            };
            if !exposed {
                for later in index + 1..rest {
                    // SAFETY: as above, for the slots not filled yet.
                    unsafe {
                        ffi::PyList_SET_ITEM(
                            list.as_ptr(),
                            later as ffi::Py_ssize_t,
                            py.None().into_ptr(),
                        )
                    };
                }
                exposed = true;
                untracked.track();
            }
            let key = PyInt::new(py, index).into_any();
            match held {
                // An object being filled is held as it is, as a dictionary
                // holds it (see [`Reader::fill_early_list`]).
                Held::ByPlace(building) => self.me.hold(building, &list, &key),
                Held::ByPlaceholder => self.patch_later(&list, &key, &item)?,
            }
        }
        untracked.track();
        Ok(Value::Plain(list))
    }

    /// `[b"tuple", ...]`: the items go straight into the tuple, unless one
    /// is a forward reference; from there on, Twisted's way (a holder list,
    /// then its `_Tuple` placeholder).
    pub(super) fn fill_tuple(&mut self, rest: usize) -> Result<Value<'py>> {
        if rest == 0 {
            // The shared empty tuple: nothing to fill, and not ours to
            // take off the collector's lists.
            return Ok(Value::Plain(PyTuple::empty(self.py).into_any()));
        }
        self.check_room(rest)?;
        self.reserving(rest, |this| this.fill_tuple_slots(rest))
    }

    fn fill_tuple_slots(&mut self, rest: usize) -> Result<Value<'py>> {
        let refs = self.refs;
        // SAFETY: a new tuple of `rest` empty (NULL) slots, or NULL and an
        // exception. It is never seen by Python code until every slot is
        // filled; if it is dropped before, dealloc skips the empty ones.
        let tuple = self.owned(unsafe { ffi::PyTuple_New(rest as ffi::Py_ssize_t) })?;
        let untracked = Untracked::new(&tuple);
        for index in 0..rest {
            let (item, unknown) = self.checked_object()?;
            self.filled();
            if unknown {
                let mut done = Vec::with_capacity(index + 1);
                for earlier in 0..index {
                    // SAFETY: slots below `index` are filled.
                    done.push(
                        unsafe {
                            tuple
                                .cast_unchecked::<PyTuple>()
                                .get_borrowed_item_unchecked(earlier)
                        }
                        .to_owned(),
                    );
                }
                let mut frame = Frame::Sequence {
                    kind: Sequence::Tuple,
                    items: done,
                    holder: None,
                    count: index,
                };
                frame.push(item, refs)?;
                for _ in index + 1..rest {
                    let item = self.object()?;
                    self.filled();
                    frame.push(item, refs)?;
                }
                return Ok(Value::Ready(frame.finish(self.slf, refs)?));
            }
            // SAFETY: slot `index` of the new tuple is empty and is filled
            // once, here; the tuple takes the reference.
            unsafe {
                ffi::PyTuple_SET_ITEM(tuple.as_ptr(), index as ffi::Py_ssize_t, item.into_ptr())
            };
        }
        untracked.track();
        Ok(Value::Plain(tuple))
    }

    /// One item of `dict` that is not as [`Reader::text_pair_key`] reads
    /// it: a `[key, value]` list, both unjellied, or whatever Twisted makes
    /// of anything else there.
    fn pair_item(&mut self, dict: &Bound<'py, PyDict>, start: usize) -> Result<()> {
        let refs = self.refs;
        let key = match self.text_pair_key(start, self.pair_room()) {
            Some(key) => key?,
            None => {
                let Some((2, used)) = self.short_list(start) else {
                    // Not a pair as jelly writes one: Twisted unpacks the
                    // item as it is, and so does the frame (or fails as
                    // Twisted would).
                    let item = self.raw()?;
                    return Ok(Frame::Dictionary(dict.clone()).push(item, refs)?);
                };
                if self.lists >= self.limits.depth {
                    let limit = self.limits.depth;
                    return Err(DecodeError::new(start as u64, ErrorKind::TooDeep { limit }).into());
                }
                self.pos += used;
                self.lists += 1;
                match self.text_key() {
                    Some(key) => key?,
                    None => {
                        let key = self.object()?;
                        if is_not_known(&key, refs)? {
                            // The value is unjellied first, as Twisted does:
                            // an error of its own comes first.
                            self.item()?;
                            return Err(forward_reference_key(self.py).into());
                        }
                        key
                    }
                }
            }
        };
        self.dict_value(dict, key)
    }

    /// The value of an item of `dict` whose key was just read (the item's
    /// list open), and the item set in `dict`. A value that is a forward
    /// reference is patched in when it resolves (Twisted routes this through
    /// a _DictKeyAndValue, which, the key being known, does the same).
    #[inline(always)]
    fn dict_value(&mut self, dict: &Bound<'py, PyDict>, key: Bound<'py, PyAny>) -> Result<()> {
        let value = match self.item()? {
            Value::Plain(value) => value,
            Value::Ready(value) => {
                self.patch_when_known(dict.as_any(), &key, &value)?;
                value
            }
            Value::Building(value, index) => {
                self.me.hold(index, dict.as_any(), &key);
                value
            }
        };
        self.lists -= 1;
        // SAFETY: `dict`, `key` and `value` are live objects; PyDict_SetItem
        // takes references of its own (ours are dropped after).
        if unsafe { ffi::PyDict_SetItem(dict.as_ptr(), key.as_ptr(), value.as_ptr()) } < 0 {
            return Err(PyErr::fetch(self.py).into());
        }
        Ok(())
    }

    /// `holder[key]` (a dictionary's key or a list's index) is to be
    /// `value`: if it is a forward reference, the placeholder patches it in
    /// when it resolves. Out of line: the items of most dictionaries need
    /// no check.
    #[inline(never)]
    fn patch_when_known(
        &self,
        holder: &Bound<'py, PyAny>,
        key: &Bound<'py, PyAny>,
        value: &Bound<'py, PyAny>,
    ) -> Result<()> {
        if is_not_known(value, self.refs)? {
            self.patch_later(holder, key, value)?;
        }
        Ok(())
    }

    /// `holder[key]` holds `placeholder`, which patches it when it
    /// resolves.
    pub(super) fn patch_later(
        &self,
        holder: &Bound<'py, PyAny>,
        key: &Bound<'py, PyAny>,
        placeholder: &Bound<'py, PyAny>,
    ) -> Result<()> {
        self.me.forget_tags();
        placeholder.call_method1(pyo3::intern!(self.py, "addDependant"), (holder, key))?;
        Ok(())
    }
}

/// A new container kept out of the garbage collector's lists while its
/// slots are being filled, and put back exactly once ([`Untracked::track`]),
/// or never if it is dropped unfinished (its dealloc does not mind).
pub(super) struct Untracked {
    object: *mut ffi::PyObject,
    tracked: std::cell::Cell<bool>,
}

impl Untracked {
    pub(super) fn new(object: &Bound<'_, PyAny>) -> Untracked {
        // SAFETY: `object` is a new GC container (a list, or a tuple of at
        // least one item: never a shared singleton) that the caller holds;
        // untracking an object only takes it off the collector's lists.
        unsafe { ffi::PyObject_GC_UnTrack(object.as_ptr().cast()) };
        Untracked {
            object: object.as_ptr(),
            tracked: std::cell::Cell::new(false),
        }
    }

    /// Give the container back to the collector (once; later calls do
    /// nothing). It must still be alive: the caller holds it.
    pub(super) fn track(&self) {
        if !self.tracked.replace(true) {
            // SAFETY: the object is alive (held by the caller) and untracked
            // (by `new`, and tracked nowhere else), so tracking it once is
            // what PyObject_GC_Track requires.
            unsafe { ffi::PyObject_GC_Track(self.object.cast()) };
        }
    }
}

/// How a list slot holds what is not known yet.
pub(super) enum Held {
    /// Twisted's placeholder, which patches the slot when it resolves.
    ByPlaceholder,
    /// The object being filled at this index, itself, its place noted.
    ByPlace(usize),
}

/// True for an exact dict, list or tuple.
#[inline(always)]
pub(super) fn is_exact_container(object: &Bound<'_, PyAny>) -> bool {
    let ty = object.get_type_ptr();
    ty == &raw mut ffi::PyDict_Type
        || ty == &raw mut ffi::PyList_Type
        || ty == &raw mut ffi::PyTuple_Type
}
