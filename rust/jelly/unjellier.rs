//! The state of one unjelly call: the reference table, the `postUnjelly`
//! hooks to run, which built-in tags are already checked, and the objects
//! registered before they are complete — Twisted's `_Unjellier`, which
//! `unjellyFor` hooks reach through the methods the bindings give the
//! [`Unjellier`] object.
//!
//! Uses [`super::refs`], [`super::taster`], [`super::tags`].

use std::cell::Cell;

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList};

use super::refs::Refs;
use super::tags::Builtin;
use super::taster::Taster;

/// The state of one `unjelly()` call, handed to `unjellyFor` hooks as
/// `unjellier`.
#[pyclass(module = "pbfast._native", name = "Unjellier", frozen, unsendable)]
pub struct Unjellier {
    #[pyo3(get)]
    taster: Py<PyAny>,
    #[pyo3(get, name = "persistentLoad")]
    pub(crate) persistent_load: Py<PyAny>,
    #[pyo3(get)]
    pub(crate) invoker: Py<PyAny>,
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
    /// Emptied lists of [`Building::places`], kept for the next entries
    /// (a message with many references allocates none per reference).
    spare_places: std::cell::RefCell<Vec<Vec<Place>>>,
    /// While `loads` reads (`numbered_limit` > 0): what the int reference
    /// ids below the limit stand for, by id, kept here instead of in
    /// `references` (no int object, no hashing). They move to `references`
    /// ([`Unjellier::keep_in_dict`]) before any Python code that could look
    /// at it runs, and at the first id of another kind.
    numbered: std::cell::RefCell<Vec<Option<Py<PyAny>>>>,
    numbered_limit: Cell<usize>,
    pub(crate) depth: Cell<usize>,
    pub(crate) max_depth: usize,
}

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

/// A dictionary that holds an object being filled itself, and the key it
/// holds it under (see [`Building`]).
pub(crate) struct Place {
    pub(crate) dict: Py<PyDict>,
    pub(crate) key: Py<PyAny>,
}

/// An object registered under its reference id before it is complete.
///
/// Twisted registers a referenced object only once it is complete: a
/// dereference from inside it gets a placeholder, which the dictionary (or
/// other holder) keeps until the object is done and the placeholder patches
/// it. For a dictionary or list value the object can exist at once, so
/// pbfast registers it before filling it, and a dictionary that meets it
/// meanwhile holds the object itself, noting where ([`Place`]);
/// when the object is done, those places are set again, as the patching
/// would set them. Nothing can tell the two apart unless Python code looks
/// in between: so before any hook or constructor runs, the state is made
/// exactly Twisted's ([`Unjellier::materialize`]): placeholders in the
/// places noted and in the reference table. Anything but a dictionary that
/// meets the object meanwhile gets the placeholder from the start.
pub(crate) struct Building {
    pub(crate) id: RefId,
    pub(crate) object: Py<PyAny>,
    pub(crate) placeholder: Option<Py<PyAny>>,
    /// Where dictionaries hold the object itself (not a placeholder).
    pub(crate) places: Vec<Place>,
    /// True if a dictionary key was given a second value meanwhile (one
    /// of the places may have lost the object).
    pub(crate) replaced: bool,
    /// True once the placeholder stands for the object everywhere.
    pub(crate) materialized: bool,
}

impl Building {
    /// Let go of the entry's references, the GIL held (a `Py` dropped on
    /// its own asks the thread whether it is); its emptied list of places
    /// goes back to `me`'s spares.
    pub(crate) fn release(self, py: Python<'_>, me: &Unjellier) {
        let Building {
            id,
            object,
            placeholder,
            mut places,
            ..
        } = self;
        if let RefId::Object(id) = id {
            drop(id.into_bound(py));
        }
        drop(object.into_bound(py));
        if let Some(placeholder) = placeholder {
            drop(placeholder.into_bound(py));
        }
        if places.capacity() == 0 {
            // Never held anywhere: nothing to keep.
            return;
        }
        for Place { dict, key } in places.drain(..) {
            drop(dict.into_bound(py));
            drop(key.into_bound(py));
        }
        me.spare_places.borrow_mut().push(places);
    }
}

impl Unjellier {
    /// Python code is about to run (or ran): what was known of tags may
    /// have changed.
    #[inline]
    pub(crate) fn forget_tags(&self) {
        self.known_builtins.set(0);
        self.policy_current.set(false);
    }

    /// How the taster is consulted now. Twisted asks the taster's methods
    /// each time, which read its attributes each time: after Python code
    /// has run (a hook may have given the taster another `allowedTypes`),
    /// they are read again: a dict lookup each (see [`Taster::new`]).
    pub(crate) fn policy(&self, py: Python<'_>, refs: &Refs) -> std::cell::Ref<'_, Taster> {
        if !self.policy_current.get() {
            let fresh = Taster::new(self.taster.bind(py), refs);
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
        refs: &Refs,
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
        refs: &Refs,
        builtin: Builtin,
    ) -> PyResult<bool> {
        Ok(self.learn_builtins(py, refs)? & builtin.bit() != 0)
    }

    /// Learn which built-in tags need no check now (none, with a custom
    /// taster), and return them.
    pub(crate) fn learn_builtins(&self, py: Python<'_>, refs: &Refs) -> PyResult<u32> {
        let plain = self.policy(py, refs).plain_builtins(py, refs)?.unwrap_or(0);
        self.known_builtins.set(plain);
        Ok(plain)
    }

    /// Register `object` under `id` before it is complete (see [`Building`]).
    pub(crate) fn start_building(&self, id: RefId, object: &Bound<'_, PyAny>) {
        let places = self.spare_places.borrow_mut().pop().unwrap_or_default();
        self.building.borrow_mut().push(Building {
            id,
            object: object.clone().unbind(),
            placeholder: None,
            places,
            replaced: false,
            materialized: false,
        });
    }

    /// The object last given to [`Unjellier::start_building`] is complete:
    /// its entry, with the places that hold it (to be let go of with
    /// [`Building::release`], once nothing is borrowed).
    pub(crate) fn finish_building(&self) -> Option<Building> {
        self.building.borrow_mut().pop()
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
    /// use and has it (`None` also when the table is not in use).
    #[inline]
    pub(crate) fn numbered<'py>(&self, py: Python<'py>, number: u64) -> Option<Bound<'py, PyAny>> {
        if number >= self.numbered_limit.get() as u64 {
            return None;
        }
        let table = self.numbered.borrow();
        Some(table.get(number as usize)?.as_ref()?.bind(py).clone())
    }

    /// True if the numbered id `number` stands for nothing yet, or for
    /// None ([`Unjellier::numbered`] without taking a reference).
    #[inline]
    pub(crate) fn numbered_free(&self, py: Python<'_>, number: u64) -> bool {
        if number >= self.numbered_limit.get() as u64 {
            return true;
        }
        match self.numbered.borrow().get(number as usize) {
            Some(Some(object)) => object.is_none(py),
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
                Some(number) => return Ok(self.numbered(py, number as u64)),
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
        let replaced = {
            let mut table = self.numbered.borrow_mut();
            if table.len() == number && table.len() < table.capacity() {
                // The next id, as jelly numbers them.
                table.push(Some(object.clone().unbind()));
                return Ok(());
            }
            if table.len() <= number {
                let more = number + 1 - table.len();
                if table.try_reserve(more).is_err() {
                    return Err(pyo3::exceptions::PyMemoryError::new_err("out of memory"));
                }
                table.resize_with(number + 1, || None);
            }
            table[number].replace(object.clone().unbind())
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
        for (number, object) in table.into_iter().enumerate() {
            if let Some(object) = object {
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

    /// `dict[key]` holds the object being filled at `index` itself.
    pub(crate) fn hold(&self, index: usize, dict: &Bound<'_, PyDict>, key: &Bound<'_, PyAny>) {
        if let Some(entry) = self.building.borrow_mut().get_mut(index) {
            entry.places.push(Place {
                dict: dict.clone().unbind(),
                key: key.clone().unbind(),
            });
        }
    }

    /// Twisted's placeholder for the object being filled at `index`: what
    /// a dereference gives anything but a dictionary meanwhile.
    pub(crate) fn placeholder<'py>(
        &self,
        py: Python<'py>,
        refs: &Refs,
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
    pub(crate) fn materialize(&self, py: Python<'_>, refs: &Refs) -> PyResult<()> {
        self.keep_in_dict(py)?;
        let mut index = 0;
        while index < self.building.borrow().len() {
            if self.building.borrow()[index].materialized {
                index += 1;
                continue;
            }
            let placeholder = self.placeholder(py, refs, index)?;
            let Some((id, places)) = self.building.borrow_mut().get_mut(index).map(|entry| {
                entry.materialized = true;
                (entry.id.object(py), std::mem::take(&mut entry.places))
            }) else {
                break;
            };
            index += 1;
            self.references(py).set_item(id, &placeholder)?;
            for Place { dict, key } in places {
                dict.bind(py).set_item(&key, &placeholder)?;
                placeholder.call_method1(pyo3::intern!(py, "addDependant"), (dict, key))?;
            }
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
        max_depth: usize,
    ) -> PyResult<Self> {
        let refs = Refs::get(py)?;
        Ok(Unjellier {
            policy: std::cell::RefCell::new(Taster::new(&taster, refs)),
            policy_current: Cell::new(true),
            taster: taster.unbind(),
            persistent_load: persistent_load.unwrap_or_else(|| py.None()),
            invoker: invoker.unwrap_or_else(|| py.None()),
            references: std::cell::OnceCell::new(),
            post_callbacks: std::cell::OnceCell::new(),
            known_builtins: Cell::new(0),
            building: std::cell::RefCell::new(Vec::new()),
            spare_places: std::cell::RefCell::new(Vec::new()),
            numbered: std::cell::RefCell::new(Vec::new()),
            numbered_limit: Cell::new(0),
            depth: Cell::new(0),
            max_depth,
        })
    }
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

pub(crate) fn maybe_post_unjelly<'py>(
    slf: &Bound<'py, Unjellier>,
    unjellied: Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    if let Some(hook) = unjellied.getattr_opt(pyo3::intern!(slf.py(), "postUnjelly"))? {
        slf.borrow().post_callbacks(slf.py()).append(hook)?;
    }
    Ok(unjellied)
}

pub(crate) fn generic_unjelly<'py>(
    slf: &Bound<'py, Unjellier>,
    cls: &Bound<'py, PyAny>,
    state: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    let py = slf.py();
    let refs = Refs::get(py)?;
    let state = super::unjelly::unjelly(slf, state)?;
    let instance = refs.new_instance.bind(py).call1((cls, state))?;
    maybe_post_unjelly(slf, instance)
}
