//! The state of one unjelly call: the reference table, the `postUnjelly`
//! hooks to run, which built-in tags are already checked, and the objects
//! registered before they are complete — Twisted's `_Unjellier`, which
//! `unjellyFor` hooks reach through the methods the bindings give the
//! [`Unjellier`] object.

use std::cell::Cell;

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList};

use crate::jelly::python_objects::PythonObjects;
use crate::jelly::spare;
use crate::jelly::tags::Builtin;
use crate::jelly::taster::Taster;

/// The state of one `unjelly()` call, handed to `unjellyFor` hooks as
/// `unjellier`.
#[pyclass(module = "pbfast._native", name = "Unjellier", frozen)]
pub struct Unjellier {
    /// What the traversal was given (see [`Unjellier::for_traversal`]):
    /// set anew only when the unjellier is taken for another traversal,
    /// with no other reference to it.
    taster: std::cell::RefCell<Py<PyAny>>,
    persistent_load: std::cell::RefCell<Py<PyAny>>,
    invoker: std::cell::RefCell<Py<PyAny>>,
    /// Reference id to object (or to its placeholder, until resolved);
    /// made when first needed (see [`Unjellier::references`]).
    references: std::cell::OnceCell<Py<PyDict>>,
    /// `postUnjelly` methods to call once the whole graph exists; made when
    /// first needed (see [`Unjellier::post_callbacks`]).
    post_callbacks: std::cell::OnceCell<Py<PyList>>,
    /// How `taster` is consulted, as its attributes were when last read:
    /// read again (see [`Unjellier::policy`]) once Python code has run.
    policy: std::cell::RefCell<Taster>,
    policy_current: Cell<bool>,
    /// Set once Python code may have run (see [`Unjellier::forget_tags`]).
    python_ran: Cell<bool>,
    /// Built-in tags (one bit per [`Builtin`]) found to be allowed by the
    /// taster and claimed by no registry, while that cannot have changed: a
    /// stock taster, and no Python code run since (a hook may register a
    /// class or allow a type). Python code having run, the next tag that is
    /// not known asks [`Taster::plain_builtins`] again, which says at once
    /// if nothing it depends on has changed.
    known_builtins: Cell<u32>,
    /// Objects made before their contents, for `reference` expressions whose
    /// value is a dictionary or a list, while they are being filled.
    building: std::cell::RefCell<Vec<Building>>,
    /// Where dictionaries hold objects being filled themselves, for all of
    /// them, in the order met: each entry's own come after its
    /// [`Building::places_from`], and are let go of from the end when it
    /// is done (one that an outer entry's place follows stays, stale, until
    /// no object is being filled).
    places: std::cell::RefCell<Vec<Place>>,
    /// While `loads` reads (`numbered_limit` > 0): what the int reference
    /// ids below the limit stand for, by id, kept here instead of in
    /// `references` (no int object, no hashing). They move to `references`
    /// ([`Unjellier::keep_in_dict`]) before any Python code that could look
    /// at it runs, and at the first id of another kind.
    numbered: std::cell::RefCell<Vec<Numbered>>,
    numbered_limit: Cell<usize>,
    pub(crate) depth: Cell<usize>,
    max_jelly_depth: Cell<usize>,
}

// SAFETY: as `Jellier`'s: every access to the unjellier's cells is made
// holding the GIL, which orders them (another thread runs only where this
// one's Python code could re-enter anyway); the module declares that it
// uses the GIL. So it may be used, and freed, on any thread, as Twisted's
// unjellier may.
unsafe impl Sync for Unjellier {}

/// A reference id: a small int as jelly writes them, kept without an int
/// object, or any other object.
pub(crate) enum RefId {
    Number(u64),
    Object(Py<PyAny>),
}

impl RefId {
    /// The id as the object Twisted's reference table has it.
    pub(crate) fn object<'py>(&self, py: Python<'py>) -> Bound<'py, PyAny> {
        match self {
            RefId::Number(number) => {
                let Ok(number) = pyo3::IntoPyObject::into_pyobject(*number, py);
                number.into_any()
            }
            RefId::Object(object) => object.bind(py).clone(),
        }
    }
}

/// What a numbered reference id stands for (see [`Unjellier::numbered`]).
#[derive(Default)]
pub(crate) struct Numbered {
    object: Option<Py<PyAny>>,
    /// 1 + the object's index among the objects being filled, while it is
    /// one (0 otherwise): a dereference learns it with the object, without
    /// searching them. The table is emptied before anything is
    /// materialized, so a marked object is never a materialized one.
    building: u32,
}

/// A dictionary or list that holds an object being filled itself, the key
/// (or index) it holds it under, and the object's index among those being
/// filled (see [`Building`]).
pub(crate) struct Place {
    building: usize,
    holder: Py<PyAny>,
    key: Py<PyAny>,
}

/// An object registered under its reference id before it is complete.
///
/// Twisted registers a referenced object only once it is complete: a
/// dereference from inside it gets a placeholder, which the dictionary (or
/// other holder) keeps until the object is done and the placeholder patches
/// it. For a dictionary or list value the object can exist at once, so
/// pbfast registers it before filling it, and a dictionary or list that
/// meets it meanwhile holds the object itself, noting where ([`Place`]);
/// when the object is done, those places are set again, as the patching
/// would set them. Nothing can tell the two apart unless Python code looks
/// in between: so before any hook or constructor runs, the state is made
/// exactly Twisted's ([`Unjellier::materialize`]): placeholders in the
/// places noted and in the reference table. Anything else that meets the
/// object meanwhile (a tuple, a set) gets the placeholder from the start.
pub(crate) struct Building {
    pub(crate) id: RefId,
    /// The entry of the numbered table marked as this one's (see
    /// [`Numbered::building`]), if any.
    marked: Option<usize>,
    pub(crate) object: Py<PyAny>,
    pub(crate) placeholder: Option<Py<PyAny>>,
    /// Its index among the objects being filled.
    index: usize,
    /// How many places were noted when it began: where dictionaries hold
    /// it itself (not a placeholder) are those after, of its index.
    places_from: usize,
    /// True if a dictionary key was given a second value meanwhile (one
    /// of the places may have lost the object).
    pub(crate) replaced: bool,
    /// True once the placeholder stands for the object everywhere.
    pub(crate) materialized: bool,
}

impl Building {
    /// The entry of `object`, registered under `id` at `index` among the
    /// objects being filled, `places_from` places noted before it.
    #[inline(always)]
    fn new(
        id: RefId,
        marked: Option<usize>,
        object: &Bound<'_, PyAny>,
        index: usize,
        places_from: usize,
    ) -> Building {
        Building {
            id,
            marked,
            object: object.clone().unbind(),
            placeholder: None,
            index,
            places_from,
            replaced: false,
            materialized: false,
        }
    }

    /// Let go of the entry's references and of its places, the GIL held
    /// (a `Py` dropped on its own asks the thread whether it is).
    #[inline]
    pub(crate) fn release(self, py: Python<'_>, me: &Unjellier) {
        let Building {
            id,
            object,
            placeholder,
            index,
            ..
        } = self;
        if let RefId::Object(id) = id {
            drop(id.into_bound(py));
        }
        drop(object.into_bound(py));
        if let Some(placeholder) = placeholder {
            drop(placeholder.into_bound(py));
        }
        me.let_go_of_places(py, index);
    }
}

impl Place {
    /// Let go of its references, the GIL held.
    fn release(self, py: Python<'_>) {
        drop(self.holder.into_bound(py));
        drop(self.key.into_bound(py));
    }
}

impl Unjellier {
    /// Python code is about to run (or ran): what was known of tags may
    /// have changed.
    #[inline]
    pub(crate) fn forget_tags(&self) {
        self.known_builtins.set(0);
        self.policy_current.set(false);
        self.python_ran.set(true);
    }

    /// True if Python code may have run since the traversal began: it has
    /// (see [`Unjellier::forget_tags`]), or the taster is one whose methods
    /// are asked, or `postUnjelly` hooks were collected. While not, all it
    /// made are built-in objects, whose release runs no Python code.
    pub(crate) fn python_may_have_run(&self) -> bool {
        self.python_ran.get()
            || self.post_callbacks.get().is_some()
            || self
                .policy
                .try_borrow()
                .map_or(true, |policy| matches!(*policy, Taster::Custom(_)))
    }

    /// How the taster is consulted now. Twisted asks the taster's methods
    /// each time, which read its attributes each time: after Python code
    /// has run (a hook may have given the taster another `allowedTypes`),
    /// they are read again: a dict lookup each (see [`Taster::new`]).
    pub(crate) fn policy(
        &self,
        py: Python<'_>,
        refs: &PythonObjects,
    ) -> std::cell::Ref<'_, Taster> {
        if !self.policy_current.get() {
            let fresh = Taster::new(self.taster.borrow().bind(py), refs);
            // Borrowed only by a caller up the stack, whose answer was
            // already read: this one reads the new policy next time.
            if let Ok(mut policy) = self.policy.try_borrow_mut() {
                let stale = std::mem::replace(&mut *policy, fresh);
                drop(policy);
                // Released once unborrowed: a finalizer may run.
                drop(stale);
                self.policy_current.set(true);
            }
        }
        self.policy.borrow()
    }

    /// The built-in tag `name` if it is known to need no check now.
    #[inline]
    pub(crate) fn known_builtin(&self, name: &[u8]) -> Option<Builtin> {
        let builtin = Builtin::named(name)?;
        (self.known_builtins.get() & builtin.bit() != 0).then_some(builtin)
    }

    /// True if the built-in tag `builtin` is known to need no check now.
    #[inline(always)]
    pub(crate) fn knows(&self, builtin: Builtin) -> bool {
        self.known_builtins.get() & builtin.bit() != 0
    }

    /// True if `name` spells the built-in tag `builtin` and that tag is
    /// known to need no check now (for readers that expect one tag).
    #[inline(always)]
    pub(crate) fn is_known(&self, name: &[u8], builtin: Builtin) -> bool {
        self.known_builtins.get() & builtin.bit() != 0 && name == builtin.spelling()
    }

    pub(crate) fn known_tag(&self, tag: &Bound<'_, PyAny>) -> Option<Builtin> {
        // Registries are looked up by the tag object: only a bytes tag is
        // known to look up the same as the name.
        let tag = tag.cast_exact::<PyBytes>().ok()?;
        self.known_builtin(tag.as_bytes())
    }

    /// The built-in tag `tag` spells, if it is one that needs no check now
    /// (see [`Unjellier::check_builtin`]).
    pub(crate) fn plain_tag(
        &self,
        py: Python<'_>,
        refs: &PythonObjects,
        tag: &Bound<'_, PyAny>,
    ) -> PyResult<Option<Builtin>> {
        let Ok(tag) = tag.cast_exact::<PyBytes>() else {
            return Ok(None);
        };
        let Some(builtin) = Builtin::named(tag.as_bytes()) else {
            return Ok(None);
        };
        Ok(self.check_builtin(py, refs, builtin)?.then_some(builtin))
    }

    /// True (and remembered, with every other built-in tag found so) if the
    /// built-in tag `builtin` needs no check now: the taster is a stock one
    /// that allows it and no registry claims it, as
    /// [`Frame::begin`](super::frame::Frame::begin) would find. False means
    /// the general way must decide.
    pub(crate) fn check_builtin(
        &self,
        py: Python<'_>,
        refs: &PythonObjects,
        builtin: Builtin,
    ) -> PyResult<bool> {
        Ok(self.learn_builtins(py, refs)? & builtin.bit() != 0)
    }

    /// Learn which built-in tags need no check now (none, with a custom
    /// taster), and return them.
    pub(crate) fn learn_builtins(&self, py: Python<'_>, refs: &PythonObjects) -> PyResult<u32> {
        let plain = self.policy(py, refs).plain_builtins(py, refs)?.unwrap_or(0);
        self.known_builtins.set(plain);
        Ok(plain)
    }

    /// `references[number] = object` for a number
    /// [`Unjellier::keeps_number`], `object` registered before it is
    /// complete (see [`Building`]) and marked so in the table.
    #[inline(always)]
    pub(crate) fn start_numbered_building(
        &self,
        number: usize,
        object: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let index = self.building.borrow().len();
        let marker = u32::try_from(index + 1).unwrap_or(0);
        self.set_numbered_as(number, object, marker)?;
        let places_from = self.places.borrow().len();
        let id = RefId::Number(number as u64);
        let marked = (marker != 0).then_some(number);
        let entry = Building::new(id, marked, object, index, places_from);
        self.building.borrow_mut().push(entry);
        Ok(())
    }

    /// Register `object` under `id` before it is complete (see [`Building`]).
    pub(crate) fn start_building(&self, id: RefId, object: &Bound<'_, PyAny>) {
        let places_from = self.places.borrow().len();
        let mut building = self.building.borrow_mut();
        let index = building.len();
        let number = match &id {
            RefId::Number(number) => usize::try_from(*number).ok(),
            RefId::Object(id) => self.number(id.bind(object.py())),
        };
        let marked = number.filter(|number| {
            let mut table = self.numbered.borrow_mut();
            let index = u32::try_from(building.len() + 1).ok();
            match (table.get_mut(*number), index) {
                (Some(entry), Some(index))
                    if entry
                        .object
                        .as_ref()
                        .is_some_and(|known| known.as_ptr() == object.as_ptr()) =>
                {
                    entry.building = index;
                    true
                }
                _ => false,
            }
        });
        building.push(Building::new(id, marked, object, index, places_from));
    }

    /// The dictionaries and keys where `entry` (just finished) is held
    /// itself.
    pub(crate) fn places_of<'py>(
        &self,
        py: Python<'py>,
        entry: &Building,
    ) -> Vec<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
        let places = self.places.borrow();
        places
            .get(entry.places_from..)
            .unwrap_or(&[])
            .iter()
            .filter(|place| place.building == entry.index)
            .map(|place| (place.holder.bind(py).clone(), place.key.bind(py).clone()))
            .collect()
    }

    /// Let go of the places at the end of the list that are of the object
    /// being filled at `index` (just finished) or of any finished inside
    /// it; of all of them once no object is being filled. Each is let go of
    /// with nothing borrowed (a finalizer may run).
    #[inline(always)]
    fn let_go_of_places(&self, py: Python<'_>, index: usize) {
        {
            let mut places = self.places.borrow_mut();
            while let Some(place) = places.last() {
                let (holder, key) = (place.holder.as_ptr(), place.key.as_ptr());
                // SAFETY: both are live objects (the place holds them).
                let shared = unsafe { ffi::Py_REFCNT(holder) > 1 && ffi::Py_REFCNT(key) > 1 };
                if place.building < index || !shared {
                    break;
                }
                if let Some(place) = places.pop() {
                    // SAFETY: the place's own references, given up: each
                    // object is held elsewhere too, so none is freed and no
                    // finalizer runs while the list is borrowed.
                    unsafe {
                        ffi::Py_DECREF(place.holder.into_ptr());
                        ffi::Py_DECREF(place.key.into_ptr());
                    }
                }
            }
        }
        self.let_go_of_other_places(py, index);
    }

    /// [`Unjellier::let_go_of_places`] for the places whose dictionary or
    /// key nothing else holds.
    fn let_go_of_other_places(&self, py: Python<'_>, index: usize) {
        loop {
            let place = {
                let mut places = self.places.borrow_mut();
                match places.last() {
                    Some(place) if place.building >= index => places.pop(),
                    _ => None,
                }
            };
            match place {
                Some(place) => place.release(py),
                None => break,
            }
        }
        if index == 0 && !self.places.borrow().is_empty() {
            let stale = std::mem::take(&mut *self.places.borrow_mut());
            for place in stale {
                place.release(py);
            }
        }
    }

    /// The object last given to [`Unjellier::start_building`] is complete:
    /// its entry, with the places that hold it (to be let go of with
    /// [`Building::release`], once nothing is borrowed).
    #[inline]
    pub(crate) fn finish_building(&self) -> Option<Building> {
        let entry = self.building.borrow_mut().pop()?;
        if let Some(number) = entry.marked {
            if let Some(known) = self.numbered.borrow_mut().get_mut(number) {
                known.building = 0;
            }
        }
        Some(entry)
    }

    /// The object last given to [`Unjellier::start_building`] (or
    /// [`Unjellier::start_numbered_building`]) could not be filled: its entry
    /// is forgotten, for a hook that goes on using this unjellier.
    pub(crate) fn abandon_building(&self, py: Python<'_>) {
        if let Some(entry) = self.finish_building() {
            entry.release(py, self);
        }
    }

    /// The object last given to [`Unjellier::start_numbered_building`] is
    /// complete. If it was never materialized, no dictionary key was given a
    /// second value meanwhile (the places that hold it still do) and no
    /// placeholder was made for it, nothing is left to do: its entry is let
    /// go of here (`None`). Otherwise the entry, for
    /// [`finish_reference_entry`](super::references::finish_reference_entry).
    #[inline(always)]
    pub(crate) fn finish_plain_building(&self, py: Python<'_>) -> Option<Building> {
        let entry = self.finish_building()?;
        if entry.materialized || entry.replaced || entry.placeholder.is_some() {
            return Some(entry);
        }
        entry.release(py, self);
        None
    }

    /// Where `object` is among the objects being filled and not yet
    /// materialized, if it is one.
    #[inline]
    pub(crate) fn building_index(&self, object: &Bound<'_, PyAny>) -> Option<usize> {
        let building = self.building.borrow();
        if building.is_empty() {
            return None;
        }
        building
            .iter()
            .rposition(|entry| !entry.materialized && entry.object.as_ptr() == object.as_ptr())
    }

    /// Keep int reference ids below `limit` natively (see
    /// [`Unjellier::numbered`]).
    pub(crate) fn keep_numbers(&self, limit: usize) {
        self.numbered_limit.set(limit);
    }

    /// `id` as an index of the native table, if it is kept there.
    #[inline]
    fn number(&self, id: &Bound<'_, PyAny>) -> Option<usize> {
        let limit = self.numbered_limit.get();
        if limit == 0 {
            return None;
        }
        let number = id
            .cast_exact::<pyo3::types::PyInt>()
            .ok()?
            .extract::<i64>()
            .ok()?;
        usize::try_from(number)
            .ok()
            .filter(|number| *number < limit)
    }

    /// What the numbered id `number` stands for, if the native table is in
    /// use and has it (`None` also when the table is not in use), and its
    /// index among the objects being filled if it is one.
    #[inline(always)]
    pub(crate) fn numbered<'py>(
        &self,
        py: Python<'py>,
        number: u64,
    ) -> Option<(Bound<'py, PyAny>, Option<usize>)> {
        if number >= self.numbered_limit.get() as u64 {
            return None;
        }
        let table = self.numbered.borrow();
        let entry = table.get(number as usize)?;
        let object = entry.object.as_ref()?.bind(py).clone();
        Some((object, (entry.building as usize).checked_sub(1)))
    }

    /// True if the numbered id `number` stands for nothing yet, or for
    /// None ([`Unjellier::numbered`] without taking a reference).
    #[inline(always)]
    pub(crate) fn numbered_free(&self, py: Python<'_>, number: u64) -> bool {
        if number >= self.numbered_limit.get() as u64 {
            return true;
        }
        match self.numbered.borrow().get(number as usize) {
            Some(Numbered {
                object: Some(object),
                ..
            }) => object.is_none(py),
            _ => true,
        }
    }

    /// `references.get(id)`, wherever it is kept.
    pub(crate) fn reference_get<'py>(
        &self,
        py: Python<'py>,
        id: &Bound<'py, PyAny>,
    ) -> PyResult<Option<Bound<'py, PyAny>>> {
        if self.numbered_limit.get() > 0 {
            match self.number(id) {
                Some(number) => return Ok(self.numbered(py, number as u64).map(|known| known.0)),
                None => self.keep_in_dict(py)?,
            }
        }
        self.references(py).get_item(id)
    }

    /// `references[id] = object`, wherever it is kept.
    pub(crate) fn reference_set(
        &self,
        py: Python<'_>,
        id: &Bound<'_, PyAny>,
        object: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        if self.numbered_limit.get() > 0 {
            match self.number(id) {
                Some(number) => return self.set_numbered(number, object),
                None => self.keep_in_dict(py)?,
            }
        }
        self.references(py).set_item(id, object)
    }

    /// True if reference id `number` is kept in the native table.
    #[inline]
    pub(crate) fn keeps_number(&self, number: u64) -> bool {
        number < self.numbered_limit.get() as u64
    }

    /// `references[number] = object`, for a number [`Unjellier::keeps_number`].
    pub(crate) fn set_numbered(&self, number: usize, object: &Bound<'_, PyAny>) -> PyResult<()> {
        self.set_numbered_as(number, object, 0)
    }

    /// [`Unjellier::set_numbered`], the entry's [`Numbered::building`] given.
    #[inline(always)]
    fn set_numbered_as(
        &self,
        number: usize,
        object: &Bound<'_, PyAny>,
        building: u32,
    ) -> PyResult<()> {
        {
            let mut table = self.numbered.borrow_mut();
            if table.len() == number && table.len() < table.capacity() {
                // The next id, as jelly numbers them.
                table.push(Numbered {
                    object: Some(object.clone().unbind()),
                    building,
                });
                return Ok(());
            }
        }
        self.set_numbered_anywhere(number, object, building)
    }

    /// [`Unjellier::set_numbered_as`] for an id that is not the next, or
    /// for a table that must grow.
    #[inline(never)]
    fn set_numbered_anywhere(
        &self,
        number: usize,
        object: &Bound<'_, PyAny>,
        building: u32,
    ) -> PyResult<()> {
        let replaced = {
            let mut table = self.numbered.borrow_mut();
            let entry = Numbered {
                object: Some(object.clone().unbind()),
                building,
            };
            if table.len() <= number {
                let more = number + 1 - table.len();
                if table.try_reserve(more).is_err() {
                    return Err(pyo3::exceptions::PyMemoryError::new_err("out of memory"));
                }
                table.resize_with(number + 1, Numbered::default);
            }
            // A new object for the id: whatever was being filled under it
            // is no longer what the id stands for.
            std::mem::replace(&mut table[number], entry)
        };
        // Released only once the table is not borrowed: a finalizer may run.
        drop(replaced);
        Ok(())
    }

    /// Move the natively kept references into `references`, which holds
    /// every reference from then on.
    pub(crate) fn keep_in_dict(&self, py: Python<'_>) -> PyResult<()> {
        if self.numbered_limit.replace(0) == 0 {
            return Ok(());
        }
        let table = std::mem::take(&mut *self.numbered.borrow_mut());
        let references = self.references(py);
        for (number, entry) in table.into_iter().enumerate() {
            if let Some(object) = entry.object {
                references.set_item(number, object)?;
            }
        }
        Ok(())
    }

    /// A dictionary key being filled was given a second value.
    pub(crate) fn key_replaced(&self) {
        for entry in self.building.borrow_mut().iter_mut() {
            entry.replaced = true;
        }
    }

    /// `holder[key]` (a dictionary's key or a list's index) holds the
    /// object being filled at `index` itself.
    #[inline]
    pub(crate) fn hold(&self, index: usize, holder: &Bound<'_, PyAny>, key: &Bound<'_, PyAny>) {
        self.places.borrow_mut().push(Place {
            building: index,
            holder: holder.clone().unbind(),
            key: key.clone().unbind(),
        });
    }

    /// Twisted's placeholder for the object being filled at `index`: what
    /// a dereference gives anything but a dictionary or list meanwhile.
    pub(crate) fn placeholder<'py>(
        &self,
        py: Python<'py>,
        refs: &PythonObjects,
        index: usize,
    ) -> PyResult<Bound<'py, PyAny>> {
        let id = {
            let building = self.building.borrow();
            let entry = building
                .get(index)
                .ok_or_else(|| pyo3::exceptions::PyRuntimeError::new_err("no such reference"))?;
            if let Some(placeholder) = &entry.placeholder {
                return Ok(placeholder.bind(py).clone());
            }
            entry.id.object(py)
        };
        self.forget_tags();
        let placeholder = refs.dereference.bind(py).call1((id,))?;
        if let Some(entry) = self.building.borrow_mut().get_mut(index) {
            entry.placeholder = Some(placeholder.clone().unbind());
        }
        Ok(placeholder)
    }

    /// Python code that may look at what is being built is about to run:
    /// make the objects being filled look as Twisted would have them — a
    /// placeholder in the reference table and in every place that holds the
    /// object, each place a dependant of the placeholder.
    pub(crate) fn materialize(&self, py: Python<'_>, refs: &PythonObjects) -> PyResult<()> {
        self.keep_in_dict(py)?;
        let mut index = 0;
        while index < self.building.borrow().len() {
            if self.building.borrow()[index].materialized {
                index += 1;
                continue;
            }
            let placeholder = self.placeholder(py, refs, index)?;
            let Some(id) = self.building.borrow_mut().get_mut(index).map(|entry| {
                entry.materialized = true;
                entry.id.object(py)
            }) else {
                break;
            };
            index += 1;
            self.references(py).set_item(id, &placeholder)?;
        }
        // Every place noted is of an object materialized just now (those
        // materialized before are not held so), or stale: the list is done
        // with.
        let places = std::mem::take(&mut *self.places.borrow_mut());
        for (position, place) in places.into_iter().enumerate() {
            let placeholder = self
                .building
                .borrow()
                .get(place.building)
                .filter(|entry| entry.places_from <= position)
                .and_then(|entry| entry.placeholder.as_ref().map(|known| known.clone_ref(py)));
            let Some(placeholder) = placeholder else {
                place.release(py);
                continue;
            };
            let placeholder = placeholder.into_bound(py);
            let Place { holder, key, .. } = place;
            holder.bind(py).set_item(&key, &placeholder)?;
            placeholder.call_method1(pyo3::intern!(py, "addDependant"), (holder, key))?;
        }
        Ok(())
    }

    /// `references`: reference id to object (or to its placeholder, until
    /// resolved). A message that needs none (most small ones) makes none.
    pub(crate) fn references<'py>(&self, py: Python<'py>) -> &Bound<'py, PyDict> {
        self.references
            .get_or_init(|| PyDict::new(py).unbind())
            .bind(py)
    }

    /// `postCallbacks`: the `postUnjelly` methods to call once the whole
    /// graph exists, in order.
    pub(crate) fn post_callbacks<'py>(&self, py: Python<'py>) -> &Bound<'py, PyList> {
        self.post_callbacks
            .get_or_init(|| PyList::empty(py).unbind())
            .bind(py)
    }

    pub(crate) fn create(
        py: Python<'_>,
        taster: Bound<'_, PyAny>,
        persistent_load: Option<Py<PyAny>>,
        invoker: Option<Py<PyAny>>,
        max_jelly_depth: usize,
    ) -> PyResult<Self> {
        let refs = PythonObjects::get(py)?;
        Ok(Unjellier {
            policy: std::cell::RefCell::new(Taster::new(&taster, refs)),
            policy_current: Cell::new(true),
            python_ran: Cell::new(false),
            taster: std::cell::RefCell::new(taster.unbind()),
            persistent_load: std::cell::RefCell::new(persistent_load.unwrap_or_else(|| py.None())),
            invoker: std::cell::RefCell::new(invoker.unwrap_or_else(|| py.None())),
            references: std::cell::OnceCell::new(),
            post_callbacks: std::cell::OnceCell::new(),
            known_builtins: Cell::new(0),
            building: std::cell::RefCell::new(Vec::new()),
            places: std::cell::RefCell::new(Vec::new()),
            numbered: std::cell::RefCell::new(Vec::new()),
            numbered_limit: Cell::new(0),
            depth: Cell::new(0),
            max_jelly_depth: Cell::new(max_jelly_depth),
        })
    }

    /// An unjellier for one traversal a native entry point makes: the
    /// spare one, given what this traversal is given, if there is one; else
    /// a new one. Hand it back with [`Unjellier::done`].
    pub(crate) fn for_traversal<'py>(
        py: Python<'py>,
        taster: Bound<'py, PyAny>,
        invoker: Py<PyAny>,
        max_jelly_depth: usize,
        policy: Option<Taster>,
    ) -> PyResult<Bound<'py, Unjellier>> {
        let spare = spare::take(&SPARE_UNJELLIER);
        let Some(spare) = spare else {
            let made = Unjellier::create(py, taster, None, Some(invoker), max_jelly_depth)?;
            return Bound::new(py, made);
        };
        let unjellier = spare.into_bound(py);
        let me = unjellier.get();
        // Nothing else holds the spare (see `done`), and it holds nothing
        // of a traversal: it is as new once given this one's settings.
        let policy = match policy {
            Some(policy) => policy,
            None => Taster::new(&taster, PythonObjects::get(py)?),
        };
        *me.policy.borrow_mut() = policy;
        me.policy_current.set(true);
        me.python_ran.set(false);
        me.known_builtins.set(0);
        *me.taster.borrow_mut() = taster.unbind();
        *me.invoker.borrow_mut() = invoker;
        me.max_jelly_depth.set(max_jelly_depth);
        Ok(unjellier)
    }

    /// The policy read from the taster, taken (the unjellier keeps one that
    /// holds nothing) while it is still current, for a next traversal with
    /// the same taster where no Python code has run since it was read.
    pub(crate) fn take_policy(&self) -> Option<Taster> {
        if !self.policy_current.get() {
            return None;
        }
        let mut policy = self.policy.try_borrow_mut().ok()?;
        Some(std::mem::replace(&mut *policy, Taster::Dummy))
    }

    /// The traversal `unjellier` (from [`Unjellier::for_traversal`]) was
    /// for is over: kept, emptied, as the thread's spare where it may be
    /// (see [`spare`]), and if it made neither the reference table nor the
    /// `postUnjelly` list (which stay once made).
    pub(crate) fn done(unjellier: Bound<'_, Unjellier>) {
        let py = unjellier.py();
        if !spare::held_once(&unjellier) {
            return;
        }
        let me = unjellier.get();
        fn emptied<T>(cell: &std::cell::RefCell<Vec<T>>) -> bool {
            cell.try_borrow_mut().is_ok_and(|mut items| {
                items.clear();
                true
            })
        }
        let kept = me.depth.get() == 0
            && me.references.get().is_none()
            && me.post_callbacks.get().is_none()
            && emptied(&me.building)
            && emptied(&me.places)
            && emptied(&me.numbered)
            && spare::let_go(
                py,
                [&me.taster, &me.persistent_load, &me.invoker],
                &me.policy,
            );
        if kept {
            me.numbered_limit.set(0);
            spare::keep(&SPARE_UNJELLIER, unjellier);
        }
    }

    /// The invoker (a broker, or None) it was given.
    pub(crate) fn invoker<'py>(&self, py: Python<'py>) -> Bound<'py, PyAny> {
        self.invoker.borrow().bind(py).clone()
    }

    /// The taster (security policy) it was given.
    pub(crate) fn taster<'py>(&self, py: Python<'py>) -> Bound<'py, PyAny> {
        self.taster.borrow().bind(py).clone()
    }

    /// The `persistentLoad` it was given.
    pub(crate) fn persistent_load<'py>(&self, py: Python<'py>) -> Bound<'py, PyAny> {
        self.persistent_load.borrow().bind(py).clone()
    }

    /// The deepest it may go.
    pub(crate) fn max_jelly_depth(&self) -> usize {
        self.max_jelly_depth.get()
    }
}

thread_local! {
    /// The unjellier the last native traversal on this thread was done with,
    /// emptied, for the next to take (see [`Unjellier::for_traversal`]). A
    /// thread that ends lets go of it without the interpreter: PyO3 then
    /// releases it the next time one is attached.
    static SPARE_UNJELLIER: std::cell::Cell<Option<Py<Unjellier>>> = const { std::cell::Cell::new(None) };
}

/// Every `postUnjelly` hook collected, in order (hooks added meanwhile
/// included), now that the whole graph exists.
pub(crate) fn run_post_callbacks(slf: &Bound<'_, Unjellier>) -> PyResult<()> {
    let py = slf.py();
    let Some(callbacks) = slf.borrow().post_callbacks.get().map(|c| c.clone_ref(py)) else {
        return Ok(());
    };
    let callbacks = callbacks.into_bound(py);
    let mut index = 0;
    while index < callbacks.len() {
        callbacks.get_item(index)?.call0()?;
        index += 1;
    }
    Ok(())
}

/// Twisted's `_maybePostUnjelly`: `unjellied`'s `postUnjelly`, if it has
/// one, to be called once the whole graph exists. Looked up as Twisted
/// does, `hasattr` then the attribute (a `__getattr__` sees both).
pub(crate) fn maybe_post_unjelly<'py>(
    slf: &Bound<'py, Unjellier>,
    unjellied: Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    let py = slf.py();
    let name = pyo3::intern!(py, "postUnjelly");
    if unjellied.hasattr(name)? {
        let hook = unjellied.getattr(name)?;
        slf.borrow().post_callbacks(py).append(hook)?;
    }
    Ok(unjellied)
}
