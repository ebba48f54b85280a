//! S-expression to object graph (`unjelly`), the way Twisted's `_Unjellier`
//! does it.
//!
//! For each list, in this order: the taster must allow its tag; a class or
//! factory registered for the tag unjellies it; a built-in tag (`list`,
//! `dictionary`, `reference`, ...) is handled here; any other tag names a
//! class, which the taster must allow by module and by class.
//!
//! Shared and cyclic structures use Twisted's own forward-reference objects
//! (`twisted.persisted.crefutil`): a `dereference` to an id not yet seen
//! yields a `_Dereference` placeholder, and containers register themselves
//! as its dependants so that resolving it patches them. Everything a tree
//! without forward references needs is done natively; the placeholders
//! appear only where a cycle needs them.
//!
//! Malformed expressions (missing items, wrong types where a tag needs a
//! byte string, unknown booleans) raise `InsecureJelly` saying what is wrong.

use std::cell::Cell;

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyFrozenSet, PyList, PySet, PyString, PyTuple};

use super::{Depth, Refs, Taster};
use crate::banana::words::padded_word;

/// The state of one `unjelly()` call, handed to `unjellyFor` hooks as
/// `unjellier`.
#[pyclass(module = "pbfast._native", name = "Unjellier", frozen, unsendable)]
pub struct Unjellier {
    #[pyo3(get)]
    taster: Py<PyAny>,
    #[pyo3(get, name = "persistentLoad")]
    persistent_load: Py<PyAny>,
    #[pyo3(get)]
    invoker: Py<PyAny>,
    /// Reference id to object (or to its placeholder, until resolved).
    #[pyo3(get)]
    pub(crate) references: Py<PyDict>,
    /// `postUnjelly` methods to call once the whole graph exists.
    #[pyo3(get, name = "postCallbacks")]
    post_callbacks: Py<PyList>,
    policy: Taster,
    /// Built-in tags (one bit per [`Builtin`]) already found to be allowed
    /// by the taster and claimed by no registry, while that cannot have
    /// changed: a stock taster, and no Python code run since (a hook may
    /// register a class or allow a type). A message checks each built-in tag
    /// once instead of once per expression.
    known_builtins: Cell<u32>,
    /// Objects made before their contents, for `reference` expressions whose
    /// value is a dictionary or a list, while they are being filled.
    building: std::cell::RefCell<Vec<Building>>,
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

/// An object registered under its reference id before it is complete.
///
/// Twisted registers a referenced object only once it is complete: a
/// dereference from inside it gets a placeholder, which the dictionary (or
/// other holder) keeps until the object is done and the placeholder patches
/// it. For a dictionary or list value the object can exist at once, so
/// pbfast registers it before filling it, and a dictionary that meets it
/// meanwhile holds the object itself, noting where ([`Building::holdings`]);
/// when the object is done, those places are set again, as the patching
/// would set them. Nothing can tell the two apart unless Python code looks
/// in between: so before any hook or constructor runs, the state is made
/// exactly Twisted's ([`Unjellier::materialize`]): placeholders in the
/// places noted and in the reference table. Anything but a dictionary that
/// meets the object meanwhile gets the placeholder from the start.
pub(crate) struct Building {
    id: Py<PyAny>,
    object: Py<PyAny>,
    placeholder: Option<Py<PyAny>>,
    /// Dictionaries and keys that hold the object itself.
    holdings: Vec<(Py<PyDict>, Py<PyAny>)>,
    /// True if a dictionary key was given a second value meanwhile (one
    /// of the holdings may have lost the object).
    replaced: bool,
    /// True once the placeholder stands for the object everywhere.
    materialized: bool,
}

/// The built-in tags whose handling only the taster and the registries
/// could change.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Builtin {
    None,
    Unicode,
    Boolean,
    List,
    Tuple,
    Set,
    FrozenSet,
    Dictionary,
    Reference,
    Dereference,
    DateTime,
    Date,
    Time,
    TimeDelta,
    Decimal,
}

impl Builtin {
    /// The built-in tag spelled `name`. Dispatched on length and first
    /// byte, then compared as two words with the one candidate's spelling.
    #[inline]
    pub(crate) fn named(name: &[u8]) -> Option<Builtin> {
        const fn spelled(builtin: Builtin) -> (Builtin, u64, u64) {
            let name = builtin.spelling();
            (builtin, const_word(name, 0), const_word(name, 8))
        }
        const NONE: (Builtin, u64, u64) = spelled(Builtin::None);
        const UNICODE: (Builtin, u64, u64) = spelled(Builtin::Unicode);
        const BOOLEAN: (Builtin, u64, u64) = spelled(Builtin::Boolean);
        const LIST: (Builtin, u64, u64) = spelled(Builtin::List);
        const TUPLE: (Builtin, u64, u64) = spelled(Builtin::Tuple);
        const SET: (Builtin, u64, u64) = spelled(Builtin::Set);
        const FROZENSET: (Builtin, u64, u64) = spelled(Builtin::FrozenSet);
        const DICTIONARY: (Builtin, u64, u64) = spelled(Builtin::Dictionary);
        const REFERENCE: (Builtin, u64, u64) = spelled(Builtin::Reference);
        const DEREFERENCE: (Builtin, u64, u64) = spelled(Builtin::Dereference);
        const DATETIME: (Builtin, u64, u64) = spelled(Builtin::DateTime);
        const DATE: (Builtin, u64, u64) = spelled(Builtin::Date);
        const TIME: (Builtin, u64, u64) = spelled(Builtin::Time);
        const TIMEDELTA: (Builtin, u64, u64) = spelled(Builtin::TimeDelta);
        const DECIMAL: (Builtin, u64, u64) = spelled(Builtin::Decimal);
        let (builtin, low, high) = match (name.len(), *name.first()?) {
            (4, b'N') => NONE,
            (7, b'u') => UNICODE,
            (7, b'b') => BOOLEAN,
            (4, b'l') => LIST,
            (5, b't') => TUPLE,
            (3, b's') => SET,
            (9, b'f') => FROZENSET,
            (10, b'd') => DICTIONARY,
            (9, b'r') => REFERENCE,
            (11, b'd') => DEREFERENCE,
            (8, b'd') => DATETIME,
            (4, b'd') => DATE,
            (4, b't') => TIME,
            (9, b't') => TIMEDELTA,
            (7, b'd') => DECIMAL,
            _ => return None,
        };
        // Same length, so equal words are equal names.
        (padded_word(name, 0) == low && padded_word(name, 8) == high).then_some(builtin)
    }

    /// The tag's name.
    #[inline(always)]
    pub(crate) const fn spelling(self) -> &'static [u8] {
        match self {
            Builtin::None => b"None",
            Builtin::Unicode => b"unicode",
            Builtin::Boolean => b"boolean",
            Builtin::List => b"list",
            Builtin::Tuple => b"tuple",
            Builtin::Set => b"set",
            Builtin::FrozenSet => b"frozenset",
            Builtin::Dictionary => b"dictionary",
            Builtin::Reference => b"reference",
            Builtin::Dereference => b"dereference",
            Builtin::DateTime => b"datetime",
            Builtin::Date => b"date",
            Builtin::Time => b"time",
            Builtin::TimeDelta => b"timedelta",
            Builtin::Decimal => b"decimal",
        }
    }

    /// The interned tag object, for messages and for hooks that get it.
    pub(crate) fn atom(self, refs: &Refs) -> &Py<PyBytes> {
        let atoms = &refs.atoms;
        match self {
            Builtin::None => &atoms.none,
            Builtin::Unicode => &atoms.unicode,
            Builtin::Boolean => &atoms.boolean,
            Builtin::List => &atoms.list,
            Builtin::Tuple => &atoms.tuple,
            Builtin::Set => &atoms.set,
            Builtin::FrozenSet => &atoms.frozenset,
            Builtin::Dictionary => &atoms.dictionary,
            Builtin::Reference => &atoms.reference,
            Builtin::Dereference => &atoms.dereference,
            Builtin::DateTime => &atoms.datetime,
            Builtin::Date => &atoms.date,
            Builtin::Time => &atoms.time,
            Builtin::TimeDelta => &atoms.timedelta,
            Builtin::Decimal => &atoms.decimal,
        }
    }

    fn bit(self) -> u32 {
        1 << self as u32
    }
}

#[pymethods]
impl Unjellier {
    #[new]
    #[pyo3(signature = (taster, persistentLoad=None, invoker=None, max_depth=1000))]
    #[allow(non_snake_case)]
    fn new(
        py: Python<'_>,
        taster: Bound<'_, PyAny>,
        persistentLoad: Option<Py<PyAny>>,
        invoker: Option<Py<PyAny>>,
        max_depth: usize,
    ) -> PyResult<Self> {
        Unjellier::create(py, taster, persistentLoad, invoker, max_depth)
    }

    /// The object for `obj`, then every `postUnjelly` hook, in order.
    #[pyo3(name = "unjellyFull")]
    pub(crate) fn unjelly_full<'py>(
        slf: &Bound<'py, Self>,
        obj: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let pause = crate::python::gc::GcPause::new(slf.py());
        let result = unjelly(slf, obj)?;
        // The hooks are application code: they run with the collector as
        // the application has it.
        drop(pause);
        run_post_callbacks(slf)?;
        Ok(result)
    }

    /// The object for the s-expression `obj`.
    fn unjelly<'py>(
        slf: &Bound<'py, Self>,
        obj: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let _pause = crate::python::gc::GcPause::new(slf.py());
        unjelly(slf, obj)
    }

    /// `obj[loc] = unjelly(jel)`, registering `obj` as a dependant if the
    /// result is still a placeholder.
    #[pyo3(name = "unjellyInto")]
    fn unjelly_into<'py>(
        slf: &Bound<'py, Self>,
        obj: &Bound<'py, PyAny>,
        loc: &Bound<'py, PyAny>,
        jel: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let value = unjelly(slf, jel)?;
        if is_not_known(&value, Refs::get(slf.py())?)? {
            value.call_method1(pyo3::intern!(slf.py(), "addDependant"), (obj, loc))?;
        }
        obj.set_item(loc, &value)?;
        Ok(value)
    }

    #[pyo3(name = "_maybePostUnjelly")]
    fn maybe_post_unjelly<'py>(
        slf: &Bound<'py, Self>,
        unjellied: Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        maybe_post_unjelly(slf, unjellied)
    }

    #[pyo3(name = "_genericUnjelly")]
    fn generic_unjelly<'py>(
        slf: &Bound<'py, Self>,
        cls: &Bound<'py, PyAny>,
        state: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        generic_unjelly(slf, cls, state)
    }
}

impl Unjellier {
    /// Python code is about to run (or ran): what was known of tags may
    /// have changed.
    #[inline]
    pub(crate) fn forget_tags(&self) {
        self.known_builtins.set(0);
    }

    /// The built-in tag `name` if it is known to need no check now.
    #[inline]
    pub(crate) fn known_builtin(&self, name: &[u8]) -> Option<Builtin> {
        let builtin = Builtin::named(name)?;
        (self.known_builtins.get() & builtin.bit() != 0).then_some(builtin)
    }

    /// True if `name` spells the built-in tag `builtin` and that tag is
    /// known to need no check now (for readers that expect one tag).
    #[inline(always)]
    pub(crate) fn is_known(&self, name: &[u8], builtin: Builtin) -> bool {
        self.known_builtins.get() & builtin.bit() != 0 && name == builtin.spelling()
    }

    fn known_tag(&self, tag: &Bound<'_, PyAny>) -> Option<Builtin> {
        // Registries are looked up by the tag object: only a bytes tag is
        // known to look up the same as the name.
        let tag = tag.cast_exact::<PyBytes>().ok()?;
        self.known_builtin(tag.as_bytes())
    }

    /// Check the built-in tag `builtin` as [`Frame::begin`] would, with a
    /// stock taster: true (and remembered) if the taster allows it and no
    /// registry claims it. False means the general way must decide.
    pub(crate) fn check_builtin(
        &self,
        py: Python<'_>,
        refs: &Refs,
        builtin: Builtin,
    ) -> PyResult<bool> {
        if !self.remembers_tags() {
            return Ok(false);
        }
        let tag = builtin.atom(refs).bind(py);
        let plain = self.policy.type_allowed(tag, tag)?
            && !refs.unjellyable_registry.bind(py).contains(tag)?
            && !refs.factory_registry.bind(py).contains(tag)?;
        if plain {
            self.known_builtins
                .set(self.known_builtins.get() | builtin.bit());
        }
        Ok(plain)
    }

    /// True if checked built-in tags are remembered (a stock taster).
    pub(crate) fn remembers_tags(&self) -> bool {
        self.policy.allows_all_type_names()
    }

    fn remember_tag(&self, tag: &Bound<'_, PyAny>, builtin: Builtin) {
        if self.policy.allows_all_type_names() && tag.cast_exact::<PyBytes>().is_ok() {
            self.known_builtins
                .set(self.known_builtins.get() | builtin.bit());
        }
    }

    /// Register `object` under `id` before it is complete (see [`Building`]).
    pub(crate) fn start_building(&self, id: &Bound<'_, PyAny>, object: &Bound<'_, PyAny>) {
        self.building.borrow_mut().push(Building {
            id: id.clone().unbind(),
            object: object.clone().unbind(),
            placeholder: None,
            holdings: Vec::new(),
            replaced: false,
            materialized: false,
        });
    }

    /// The object last given to [`Unjellier::start_building`] is complete.
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
        self.references.bind(py).get_item(id)
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
                Some(number) => {
                    let replaced = {
                        let mut table = self.numbered.borrow_mut();
                        if table.len() <= number {
                            table.resize_with(number + 1, || None);
                        }
                        table[number].replace(object.clone().unbind())
                    };
                    // Released only once the table is not borrowed: a
                    // finalizer may run.
                    drop(replaced);
                    return Ok(());
                }
                None => self.keep_in_dict(py)?,
            }
        }
        self.references.bind(py).set_item(id, object)
    }

    /// Move the natively kept references into `references`, which holds
    /// every reference from then on.
    pub(crate) fn keep_in_dict(&self, py: Python<'_>) -> PyResult<()> {
        if self.numbered_limit.replace(0) == 0 {
            return Ok(());
        }
        let table = std::mem::take(&mut *self.numbered.borrow_mut());
        let references = self.references.bind(py);
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
            entry
                .holdings
                .push((dict.clone().unbind(), key.clone().unbind()));
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
            entry.id.clone_ref(py)
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
            let Some((id, holdings)) = self.building.borrow_mut().get_mut(index).map(|entry| {
                entry.materialized = true;
                (entry.id.clone_ref(py), std::mem::take(&mut entry.holdings))
            }) else {
                break;
            };
            index += 1;
            self.references.bind(py).set_item(id, &placeholder)?;
            for (dict, key) in holdings {
                dict.bind(py).set_item(&key, &placeholder)?;
                placeholder.call_method1(pyo3::intern!(py, "addDependant"), (dict, key))?;
            }
        }
        Ok(())
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
            policy: Taster::new(&taster, refs),
            taster: taster.unbind(),
            persistent_load: persistent_load.unwrap_or_else(|| py.None()),
            invoker: invoker.unwrap_or_else(|| py.None()),
            references: PyDict::new(py).unbind(),
            post_callbacks: PyList::empty(py).unbind(),
            known_builtins: Cell::new(0),
            building: std::cell::RefCell::new(Vec::new()),
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
    let callbacks = slf.borrow().post_callbacks.clone_ref(py).into_bound(py);
    let mut index = 0;
    while index < callbacks.len() {
        callbacks.get_item(index)?.call0()?;
        index += 1;
    }
    Ok(())
}

fn maybe_post_unjelly<'py>(
    slf: &Bound<'py, Unjellier>,
    unjellied: Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    if let Some(hook) = unjellied.getattr_opt(pyo3::intern!(slf.py(), "postUnjelly"))? {
        slf.borrow().post_callbacks.bind(slf.py()).append(hook)?;
    }
    Ok(unjellied)
}

fn generic_unjelly<'py>(
    slf: &Bound<'py, Unjellier>,
    cls: &Bound<'py, PyAny>,
    state: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    let py = slf.py();
    let refs = Refs::get(py)?;
    let state = unjelly(slf, state)?;
    let instance = refs.new_instance.bind(py).call1((cls, state))?;
    maybe_post_unjelly(slf, instance)
}

/// True if `value` is one of Twisted's forward-reference placeholders.
#[inline]
pub(crate) fn is_not_known(value: &Bound<'_, PyAny>, refs: &Refs) -> PyResult<bool> {
    let ty = value.get_type_ptr();
    let plain = ty == &raw mut ffi::PyBytes_Type
        || ty == &raw mut ffi::PyLong_Type
        || ty == &raw mut ffi::PyUnicode_Type
        || ty == &raw mut ffi::PyList_Type
        || ty == &raw mut ffi::PyDict_Type
        || ty == &raw mut ffi::PyTuple_Type
        || ty == &raw mut ffi::PyFloat_Type
        || ty == &raw mut ffi::PyBool_Type;
    if plain || value.is_none() {
        return Ok(false);
    }
    value.is_instance(refs.not_known.bind(value.py()))
}

/// Item `index` of a jelly expression, or InsecureJelly naming what is
/// missing.
fn item<'py>(
    expression: &Bound<'py, PyList>,
    index: usize,
    refs: &Refs,
) -> PyResult<Bound<'py, PyAny>> {
    expression.get_item(index).map_err(|_| {
        let tag = expression
            .get_item(0)
            .ok()
            .and_then(|tag| tag.repr().ok().map(|r| r.to_string()))
            .unwrap_or_else(|| "?".to_string());
        missing(expression.py(), refs, &tag, expression.len(), index + 1)
    })
}

fn missing(py: Python<'_>, refs: &Refs, tag: &str, has: usize, needs: usize) -> PyErr {
    refs.insecure(
        py,
        format!("jelly expression {tag} has {has} items, needs at least {needs}"),
    )
}

/// Twisted's `_Unjellier.unjelly`.
pub fn unjelly<'py>(
    slf: &Bound<'py, Unjellier>,
    obj: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    let Ok(expression) = obj.cast_exact::<PyList>() else {
        return Ok(obj.clone());
    };
    let py = obj.py();
    let me = slf.borrow();
    let refs = Refs::get(py)?;
    let Some(_level) = Depth::enter(&me.depth, me.max_depth) else {
        return Err(too_deep(py, refs, me.max_depth));
    };
    let tag = item(expression, 0, refs)?;
    let mut frame = Frame::begin(slf, &me, refs, &tag, expression.len() - 1)?;
    if let Frame::Raw { .. } = frame {
        // Hooks get the expression itself.
        return frame.finish_expression(slf, refs, expression);
    }
    let mut index = 1;
    // Bounded by the current length each time (a hook may change the list),
    // never by a failing get_item: an IndexError per list is not free.
    while index < expression.len() {
        let child = expression.get_item(index)?;
        match frame.mode() {
            Mode::Pairs => {
                let (key, value) = unpack_pair(&child, refs)?;
                let key = unjelly(slf, &key)?;
                Frame::check_key_of(&key, refs)?;
                let value = unjelly(slf, &value)?;
                frame.push_pair(key, value, refs)?;
            }
            Mode::Normal => {
                let value = unjelly(slf, &child)?;
                frame.push(value, refs)?;
            }
            Mode::Raw => frame.push(child, refs)?,
        }
        index += 1;
    }
    frame.finish(slf, refs)
}

pub(crate) fn too_deep(py: Python<'_>, refs: &Refs, limit: usize) -> PyErr {
    refs.insecure(py, format!("jelly nested deeper than {limit} levels"))
}

/// `for k, v in lst` unpacks any two-item iterable: a `[key, value]` list
/// as jelly writes it, but also what Twisted would unpack.
pub(crate) fn unpack_pair<'py>(
    pair: &Bound<'py, PyAny>,
    refs: &Refs,
) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
    if let Ok(list) = pair.cast_exact::<PyList>() {
        if list.len() == 2 {
            return Ok((list.get_item(0)?, list.get_item(1)?));
        }
    }
    let items = pair
        .try_iter()
        .and_then(|items| items.collect::<PyResult<Vec<_>>>())
        .ok()
        .filter(|items| items.len() == 2)
        .ok_or_else(|| refs.insecure(pair.py(), "dictionary items must be [key, value] pairs"))?;
    let mut items = items.into_iter();
    Ok((items.next().expect("two"), items.next().expect("two")))
}

/// How the items after a tag are to be taken.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Unjellied, then given to the frame.
    Normal,
    /// As s-expressions: a hook or Twisted's method unjellies them.
    Raw,
    /// `[key, value]` pairs of a dictionary, both unjellied.
    Pairs,
}

#[derive(Clone, Copy)]
pub(crate) enum Sequence {
    List,
    Tuple,
    Set,
    FrozenSet,
}

/// Bytes `start..start + 8` of `name` as a little-endian word, zero past
/// its end: [`padded_word`] for constants.
const fn const_word(name: &[u8], start: usize) -> u64 {
    let mut word = 0u64;
    let mut index = 0;
    while index < 8 {
        if start + index < name.len() {
            word |= (name[start + index] as u64) << (8 * index);
        }
        index += 1;
    }
    word
}

/// Tags whose items are unjellied first and then make the object.
pub(crate) enum Finish<'py> {
    None,
    Unicode,
    Boolean,
    DateTime,
    Date,
    Time,
    TimeDelta,
    Decimal,
    Reference,
    Dereference,
    Factory(Bound<'py, PyAny>),
    Instance(Bound<'py, PyAny>),
}

/// Tags whose items stay s-expressions for Python code to unjellify.
pub(crate) enum RawAction<'py> {
    /// A class registered with setUnjellyableForClass.
    Registered(Bound<'py, PyAny>),
    /// Twisted's own `_unjelly_<name>` method, needing `arity` items.
    Twisted(&'static str, usize),
}

/// One jelly expression being made into an object: what its tag asked for,
/// and the items so far. The recursive unjelly and the fused loads both go
/// tag, items, finish through this.
pub(crate) enum Frame<'py> {
    Sequence {
        kind: Sequence,
        items: Vec<Bound<'py, PyAny>>,
        /// Twisted's holder list, made at the first forward reference: it and
        /// every later placeholder register with it, so that resolving them
        /// patches it.
        holder: Option<Bound<'py, PyList>>,
        count: usize,
    },
    Dictionary(Bound<'py, PyDict>),
    Items {
        tag: Bound<'py, PyAny>,
        finish: Finish<'py>,
        /// These tags use at most their first two items (Twisted ignores
        /// the rest): kept inline, the rest only counted.
        first: Option<Bound<'py, PyAny>>,
        second: Option<Bound<'py, PyAny>>,
        count: usize,
    },
    Raw {
        tag: Bound<'py, PyAny>,
        action: RawAction<'py>,
        items: Vec<Bound<'py, PyAny>>,
    },
}

impl<'py> Frame<'py> {
    /// Check `tag` against the taster and the registries and decide what
    /// the expression is, before any of its items is looked at (the order of
    /// Twisted's checks).
    /// `size_hint` is how many items the expression says it has.
    pub(crate) fn begin(
        slf: &Bound<'py, Unjellier>,
        me: &Unjellier,
        refs: &Refs,
        tag: &Bound<'py, PyAny>,
        size_hint: usize,
    ) -> PyResult<Frame<'py>> {
        let py = slf.py();
        if let Some(builtin) = me.known_tag(tag) {
            return Ok(Frame::builtin(py, tag, builtin, size_hint));
        }
        let tag_bytes = if let Ok(bytes) = tag.cast::<PyBytes>() {
            bytes.clone()
        } else if let Ok(text) = tag.cast::<PyString>() {
            // Twisted's tasters and tag lookup accept a str tag as its UTF-8.
            PyBytes::new(py, text.to_str()?.as_bytes())
        } else {
            return Err(refs.insecure(py, format!("jelly type must be bytes, not {}", tag.repr()?)));
        };
        if !me.policy.type_allowed(tag, &tag_bytes)? {
            return Err(refs.insecure_object(tag));
        }
        let raw = |action| Frame::Raw {
            tag: tag.clone(),
            action,
            items: Vec::new(),
        };
        let items = |finish| Frame::Items {
            tag: tag.clone(),
            finish,
            first: None,
            second: None,
            count: 0,
        };
        if let Some(class) = refs.unjellyable_registry.bind(py).get_item(tag)? {
            return Ok(raw(RawAction::Registered(class)));
        }
        if let Some(factory) = refs.factory_registry.bind(py).get_item(tag)? {
            return Ok(items(Finish::Factory(factory)));
        }
        let name = tag_bytes.as_bytes();
        if !name.is_ascii() {
            return Err(refs.insecure(py, format!("jelly type {} is not ASCII", tag.repr()?)));
        }
        if let Some(builtin) = Builtin::named(name) {
            me.remember_tag(tag, builtin);
            return Ok(Frame::builtin(py, tag, builtin, size_hint));
        }
        Ok(match name {
            // Rare in traffic, and needing Python's import machinery or
            // warnings anyway: Twisted's own methods, given this unjellier
            // (they use only its public methods and attributes).
            b"module" => raw(RawAction::Twisted("module", 1)),
            b"class" => raw(RawAction::Twisted("class", 1)),
            b"function" => raw(RawAction::Twisted("function", 1)),
            b"persistent" => raw(RawAction::Twisted("persistent", 1)),
            b"instance" => raw(RawAction::Twisted("instance", 2)),
            b"unpersistable" => raw(RawAction::Twisted("unpersistable", 1)),
            b"method" => raw(RawAction::Twisted("method", 3)),
            _ => {
                // An instance of the class the tag names: the taster must
                // allow its module and the class.
                let text = String::from_utf8_lossy(name).into_owned();
                let module = text.rsplit_once('.').map_or("", |(module, _)| module);
                if !me.policy.module_allowed(py, module)? {
                    return Err(
                        refs.insecure(py, format!("Module {module} not allowed (in type {text})."))
                    );
                }
                me.forget_tags();
                let class = refs.named_object.bind(py).call1((&text,))?;
                if !me.policy.class_allowed(&class)? {
                    return Err(refs.insecure(py, format!("Class {text} not allowed.")));
                }
                items(Finish::Instance(class))
            }
        })
    }

    pub(crate) fn builtin(
        py: Python<'py>,
        tag: &Bound<'py, PyAny>,
        builtin: Builtin,
        size_hint: usize,
    ) -> Frame<'py> {
        let items = |finish| Frame::Items {
            tag: tag.clone(),
            finish,
            first: None,
            second: None,
            count: 0,
        };
        let sequence = |kind| Frame::Sequence {
            kind,
            items: Vec::with_capacity(size_hint),
            holder: None,
            count: 0,
        };
        match builtin {
            Builtin::None => items(Finish::None),
            Builtin::Unicode => items(Finish::Unicode),
            Builtin::Boolean => items(Finish::Boolean),
            Builtin::List => sequence(Sequence::List),
            Builtin::Tuple => sequence(Sequence::Tuple),
            Builtin::Set => sequence(Sequence::Set),
            Builtin::FrozenSet => sequence(Sequence::FrozenSet),
            Builtin::Dictionary => Frame::Dictionary(PyDict::new(py)),
            Builtin::Reference => items(Finish::Reference),
            Builtin::Dereference => items(Finish::Dereference),
            Builtin::DateTime => items(Finish::DateTime),
            Builtin::Date => items(Finish::Date),
            Builtin::Time => items(Finish::Time),
            Builtin::TimeDelta => items(Finish::TimeDelta),
            Builtin::Decimal => items(Finish::Decimal),
        }
    }

    /// How the next item is to be taken. Twisted's methods for these tags
    /// unjelly exactly the items they use and read the others as they are
    /// (an id, a field of digits), so the same items are unjellied here.
    pub(crate) fn mode(&self) -> Mode {
        match self {
            Frame::Raw { .. } => Mode::Raw,
            Frame::Dictionary(_) => Mode::Pairs,
            Frame::Sequence { .. } => Mode::Normal,
            Frame::Items { finish, count, .. } => match (finish, count) {
                (Finish::Reference, 1) => Mode::Normal,
                (Finish::Factory(_) | Finish::Instance(_), 0) => Mode::Normal,
                _ => Mode::Raw,
            },
        }
    }

    /// The next item, taken as [`Frame::mode`] says.
    pub(crate) fn push(&mut self, value: Bound<'py, PyAny>, refs: &Refs) -> PyResult<()> {
        match self {
            Frame::Sequence {
                items,
                holder,
                count,
                ..
            } => {
                let index = *count;
                *count += 1;
                let unknown = is_not_known(&value, refs)?;
                match holder {
                    None if !unknown => {
                        items.push(value);
                        return Ok(());
                    }
                    None => {
                        let mut all = std::mem::take(items);
                        all.push(value.clone());
                        *holder = Some(PyList::new(value.py(), all)?);
                    }
                    Some(list) => list.append(&value)?,
                }
                if unknown {
                    let holder = holder.as_ref().expect("made above");
                    value
                        .call_method1(pyo3::intern!(value.py(), "addDependant"), (holder, index))?;
                }
                Ok(())
            }
            Frame::Items {
                first,
                second,
                count,
                ..
            } => {
                match count {
                    0 => *first = Some(value),
                    1 => *second = Some(value),
                    _ => {}
                }
                *count += 1;
                Ok(())
            }
            Frame::Raw { items, .. } => {
                items.push(value);
                Ok(())
            }
            Frame::Dictionary(_) => {
                let (key, value) = unpack_pair(&value, refs)?;
                Frame::check_key_of(&key, refs)?;
                self.push_pair(key, value, refs)
            }
        }
    }

    /// A dictionary key, as soon as it is unjellied: it is hashed when stored,
    /// which a placeholder cannot be (Twisted fails there with an
    /// AssertionError).
    pub(crate) fn check_key_of(key: &Bound<'py, PyAny>, refs: &Refs) -> PyResult<()> {
        if is_not_known(key, refs)? {
            return Err(refs.insecure(key.py(), "a dictionary key cannot be a forward reference"));
        }
        Ok(())
    }

    /// A dictionary item. A value that is a forward reference is patched in
    /// when it resolves (Twisted routes this through a _DictKeyAndValue,
    /// which, the key being known, does the same).
    pub(crate) fn push_pair(
        &mut self,
        key: Bound<'py, PyAny>,
        value: Bound<'py, PyAny>,
        refs: &Refs,
    ) -> PyResult<()> {
        let Frame::Dictionary(dict) = self else {
            return Err(refs.insecure(key.py(), "a [key, value] pair outside a dictionary"));
        };
        if is_not_known(&value, refs)? {
            value.call_method1(pyo3::intern!(key.py(), "addDependant"), (&*dict, &key))?;
        }
        dict.set_item(key, value)
    }

    /// A dictionary item whose value is known not to be a placeholder.
    #[inline]
    pub(crate) fn push_plain_pair(
        &mut self,
        key: Bound<'py, PyAny>,
        value: Bound<'py, PyAny>,
        refs: &Refs,
    ) -> PyResult<()> {
        let Frame::Dictionary(dict) = self else {
            return Err(refs.insecure(key.py(), "a [key, value] pair outside a dictionary"));
        };
        dict.set_item(key, value)
    }

    /// The object, from a raw frame's own expression (hooks get the list
    /// they were written as).
    pub(crate) fn finish_expression(
        self,
        slf: &Bound<'py, Unjellier>,
        refs: &Refs,
        expression: &Bound<'py, PyList>,
    ) -> PyResult<Bound<'py, PyAny>> {
        match self {
            Frame::Raw { action, .. } => finish_raw(slf, refs, action, expression),
            other => other.finish(slf, refs),
        }
    }

    /// The object the expression stands for.
    pub(crate) fn finish(
        self,
        slf: &Bound<'py, Unjellier>,
        refs: &Refs,
    ) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        match self {
            Frame::Sequence {
                kind,
                items,
                holder,
                ..
            } => match (kind, holder) {
                (Sequence::List, Some(list)) => Ok(list.into_any()),
                (Sequence::List, None) => Ok(PyList::new(py, items)?.into_any()),
                (Sequence::Tuple, Some(list)) => refs.tuple_container.bind(py).call1((list,)),
                (Sequence::Tuple, None) => Ok(PyTuple::new(py, items)?.into_any()),
                (Sequence::Set, Some(list)) => refs
                    .container
                    .bind(py)
                    .call1((list, refs.set_type.bind(py))),
                (Sequence::Set, None) => Ok(PySet::new(py, items)?.into_any()),
                (Sequence::FrozenSet, Some(list)) => refs
                    .container
                    .bind(py)
                    .call1((list, refs.frozenset_type.bind(py))),
                (Sequence::FrozenSet, None) => Ok(PyFrozenSet::new(py, items)?.into_any()),
            },
            Frame::Dictionary(dict) => Ok(dict.into_any()),
            Frame::Raw { tag, action, items } => {
                let mut expression = vec![tag];
                expression.extend(items);
                finish_raw(slf, refs, action, &PyList::new(py, expression)?)
            }
            Frame::Items {
                tag,
                finish,
                first,
                second,
                count,
            } => finish_items(slf, refs, &tag, finish, first, second, count),
        }
    }
}

/// A hook's or Twisted's method's turn: they unjelly the items themselves.
fn finish_raw<'py>(
    slf: &Bound<'py, Unjellier>,
    refs: &Refs,
    action: RawAction<'py>,
    expression: &Bound<'py, PyList>,
) -> PyResult<Bound<'py, PyAny>> {
    let py = slf.py();
    let me = slf.borrow();
    me.forget_tags();
    me.materialize(py, refs)?;
    drop(me);
    match action {
        RawAction::Registered(class) => {
            // Every registered class's encoding has its state after the tag;
            // hooks index it without checking.
            item(expression, 1, refs)?;
            let blank = refs.create_blank.bind(py).call1((&class,))?;
            let method = blank
                .getattr_opt(pyo3::intern!(py, "unjellyFor"))?
                .unwrap_or(class);
            let result = method.call1((slf, expression))?;
            maybe_post_unjelly(slf, result)
        }
        RawAction::Twisted(name, arity) => {
            // Twisted's methods index the items they use, and nothing else:
            // without a persistentLoad, `persistent` reads none.
            let needs_none =
                name == "persistent" && !slf.borrow().persistent_load.bind(py).is_truthy()?;
            if !needs_none {
                item(expression, arity, refs)?;
            }
            let rest = expression.get_slice(1, expression.len());
            let method = refs
                .twisted_unjellier
                .bind(py)
                .getattr(format!("_unjelly_{name}").as_str())?;
            method.call1((slf, rest))
        }
    }
}

/// `[b"unicode", data]`: the text whose UTF-8 is `data`.
#[inline]
pub(crate) fn unicode<'py>(py: Python<'py>, data: &[u8]) -> PyResult<Bound<'py, PyAny>> {
    Ok(PyString::from_bytes(py, data)?.into_any())
}

/// `[b"boolean", data]`: `data` is `b"true"` or `b"false"`.
#[inline]
pub(crate) fn boolean<'py>(
    py: Python<'py>,
    refs: &Refs,
    data: &[u8],
) -> PyResult<Bound<'py, PyAny>> {
    match data {
        b"true" => Ok(pyo3::types::PyBool::new(py, true).to_owned().into_any()),
        b"false" => Ok(pyo3::types::PyBool::new(py, false).to_owned().into_any()),
        _ => Err(refs.insecure(py, "boolean expression must hold b'true' or b'false'")),
    }
}

#[allow(clippy::too_many_arguments)]
fn finish_items<'py>(
    slf: &Bound<'py, Unjellier>,
    refs: &Refs,
    tag: &Bound<'py, PyAny>,
    finish: Finish<'py>,
    first: Option<Bound<'py, PyAny>>,
    second: Option<Bound<'py, PyAny>>,
    count: usize,
) -> PyResult<Bound<'py, PyAny>> {
    let py = slf.py();
    let missing_items = |needs: usize| {
        let tag = tag.repr().map(|r| r.to_string()).unwrap_or_default();
        missing(py, refs, &tag, count + 1, needs + 1)
    };
    if let Finish::None = finish {
        return Ok(py.None().into_bound(py));
    }
    let Some(first) = first else {
        return Err(missing_items(1));
    };
    match finish {
        Finish::None => unreachable!("handled above"),
        Finish::Unicode => match first.cast::<PyBytes>() {
            Ok(data) => unicode(py, data.as_bytes()),
            Err(_) => Err(refs.insecure(py, "unicode expression must hold bytes")),
        },
        Finish::Boolean => match first.cast::<PyBytes>() {
            Ok(data) => boolean(py, refs, data.as_bytes()),
            Err(_) => boolean(py, refs, b""),
        },
        Finish::DateTime | Finish::Date | Finish::Time | Finish::TimeDelta => {
            let kind = match finish {
                Finish::DateTime => Builtin::DateTime,
                Finish::Date => Builtin::Date,
                Finish::Time => Builtin::Time,
                _ => Builtin::TimeDelta,
            };
            if let Ok(field) = first.cast::<PyBytes>() {
                if let Some(made) = plain_date_or_time(py, kind, field.as_bytes()) {
                    return made;
                }
            }
            let fields = integer_fields(&first, refs)?;
            let class = match finish {
                Finish::DateTime => &refs.datetime,
                Finish::Date => &refs.date,
                Finish::Time => &refs.time,
                _ => {
                    if fields.len() != 3 {
                        return Err(refs.insecure(py, "timedelta expression must hold 3 fields"));
                    }
                    &refs.timedelta
                }
            };
            class.bind(py).call1(PyTuple::new(py, fields)?)
        }
        Finish::Decimal => {
            let Some(exponent) = second else {
                return Err(missing_items(2));
            };
            decimal(slf, refs, first, exponent)
        }
        Finish::Reference => {
            let Some(value) = second else {
                return Err(missing_items(2));
            };
            resolve_reference(slf, refs, &first, value)
        }
        Finish::Dereference => dereference(slf, refs, &first),
        Finish::Factory(factory) => {
            slf.borrow().forget_tags();
            slf.borrow().materialize(py, refs)?;
            let made = factory.call1((&first,))?;
            maybe_post_unjelly(slf, made)
        }
        Finish::Instance(class) => {
            slf.borrow().forget_tags();
            slf.borrow().materialize(py, refs)?;
            let instance = refs.new_instance.bind(py).call1((&class, &first))?;
            maybe_post_unjelly(slf, instance)
        }
    }
}

/// Exponents this small are written into a decimal string as they are.
pub(crate) const PLAIN_EXPONENT: i64 = 1 << 40;

/// The Decimal `[b"decimal", value, exponent]` stands for, from the sign
/// and magnitude of an integer value that fits 128 bits and an exponent
/// below [`PLAIN_EXPONENT`]: `Decimal("<value>E<exponent>")` has the digits,
/// sign and exponent that Twisted's `Decimal((sign, digits, exponent))`
/// has (a zero value has no sign, as in Twisted, where `0 < 0` is false).
pub(crate) fn plain_decimal<'py>(
    py: Python<'py>,
    refs: &Refs,
    negative: bool,
    magnitude: u128,
    exponent: i64,
) -> PyResult<Bound<'py, PyAny>> {
    let sign = if negative && magnitude != 0 { "-" } else { "" };
    refs.decimal
        .bind(py)
        .call1((format!("{sign}{magnitude}E{exponent}"),))
}

/// Twisted's `_unjelly_decimal`: `[b"decimal", value, exponent]` is the
/// Decimal with the digits and sign of the integer `value` and that
/// exponent. For plain integers, `Decimal("<value>E<exponent>")` is that
/// Decimal; anything else goes to Twisted's method itself.
fn decimal<'py>(
    slf: &Bound<'py, Unjellier>,
    refs: &Refs,
    value: Bound<'py, PyAny>,
    exponent: Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    let py = slf.py();
    let exponent_value = exponent
        .cast_exact::<pyo3::types::PyInt>()
        .ok()
        .and_then(|exponent| exponent.extract::<i64>().ok())
        .filter(|exponent| exponent.abs() < PLAIN_EXPONENT);
    if let (Ok(value), Some(exponent)) = (value.cast_exact::<pyo3::types::PyInt>(), exponent_value)
    {
        if let Ok(value) = value.extract::<i128>() {
            return plain_decimal(py, refs, value < 0, value.unsigned_abs(), exponent);
        }
        let text = format!("{}E{exponent}", value.str()?);
        return refs.decimal.bind(py).call1((text,));
    }
    slf.borrow().forget_tags();
    slf.borrow().materialize(py, refs)?;
    let method = refs
        .twisted_unjellier
        .bind(py)
        .getattr(pyo3::intern!(py, "_unjelly_decimal"))?;
    method.call1((slf, PyList::new(py, [value, exponent])?))
}

/// The date, time, datetime or timedelta of a field of plain integers, as
/// jelly writes it, made through the datetime C API; `None` for anything
/// else (another number of fields, values beyond the C types), which the
/// classes themselves are given, as Twisted gives them. The C API checks
/// the ranges as the classes do, and raises the same errors.
pub(crate) fn plain_date_or_time<'py>(
    py: Python<'py>,
    kind: Builtin,
    field: &[u8],
) -> Option<PyResult<Bound<'py, PyAny>>> {
    use pyo3::types::{PyDate, PyDateTime, PyDelta, PyTime};
    let mut values = [0i64; 7];
    let mut count = 0;
    for part in field
        .split(|byte| byte.is_ascii_whitespace() || *byte == 0x0b)
        .filter(|part| !part.is_empty())
    {
        *values.get_mut(count)? = std::str::from_utf8(part).ok()?.parse().ok()?;
        count += 1;
    }
    let small = |index: usize| u8::try_from(values[index]).ok();
    let micro = |index: usize| u32::try_from(values[index]).ok();
    let int = |index: usize| i32::try_from(values[index]).ok();
    let made = match (kind, count) {
        (Builtin::DateTime, 7) => PyDateTime::new(
            py,
            int(0)?,
            small(1)?,
            small(2)?,
            small(3)?,
            small(4)?,
            small(5)?,
            micro(6)?,
            None,
        )
        .map(Bound::into_any),
        (Builtin::Date, 3) => PyDate::new(py, int(0)?, small(1)?, small(2)?).map(Bound::into_any),
        (Builtin::Time, 4) => {
            PyTime::new(py, small(0)?, small(1)?, small(2)?, micro(3)?, None).map(Bound::into_any)
        }
        (Builtin::TimeDelta, 3) => {
            PyDelta::new(py, int(0)?, int(1)?, int(2)?, true).map(Bound::into_any)
        }
        _ => return None,
    };
    Some(made)
}

/// `b"2024 1 2 3 4 5 6"` and the like: the integers of the space-separated
/// field, as Python's `int()` reads each.
fn integer_fields<'py>(field: &Bound<'py, PyAny>, refs: &Refs) -> PyResult<Vec<Bound<'py, PyAny>>> {
    let py = field.py();
    let Ok(field) = field.cast::<PyBytes>() else {
        return Err(refs.insecure(py, "date and time fields must be bytes"));
    };
    let int = py.get_type::<pyo3::types::PyInt>();
    field
        .as_bytes()
        .split(|byte| byte.is_ascii_whitespace() || *byte == 0x0b)
        .filter(|part| !part.is_empty())
        .map(|part| {
            match std::str::from_utf8(part)
                .ok()
                .and_then(|text| text.parse::<i64>().ok())
            {
                Some(value) => Ok(value.into_pyobject(py)?.into_any()),
                // Anything plain digits do not cover (underscores, huge values,
                // garbage) is left to int() itself, errors included.
                None => int.call1((PyBytes::new(py, part),)),
            }
        })
        .collect()
}

/// `[b"reference", id, value]` with `value` made: it becomes what `id`
/// stands for, and placeholders waiting for it are resolved.
pub(crate) fn resolve_reference<'py>(
    slf: &Bound<'py, Unjellier>,
    refs: &Refs,
    id: &Bound<'py, PyAny>,
    value: Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    let py = slf.py();
    let me = slf.borrow();
    let known = me
        .reference_get(py, id)
        .map_err(|_| refs.insecure(py, "reference id must be hashable"))?;
    match known {
        Some(known) if !known.is_none() => {
            if !is_not_known(&known, refs)? {
                return Err(refs.insecure(
                    py,
                    format!("Multiple references with same ID {}", id.repr()?),
                ));
            }
            me.forget_tags();
            known.call_method1(pyo3::intern!(py, "resolveDependants"), (&value,))?;
        }
        _ => {}
    }
    me.reference_set(py, id, &value)?;
    Ok(value)
}

/// The end of a `reference` whose object was registered before it was
/// filled (see [`Building`]): the places that hold it are set again (if a
/// key was given a second value meanwhile: otherwise they still hold it) and
/// the placeholder handed out for it meanwhile is resolved, as Twisted's
/// patching does. Once materialized, it is Twisted's own resolution.
pub(crate) fn finish_early_reference<'py>(
    slf: &Bound<'py, Unjellier>,
    refs: &Refs,
    id: &Bound<'py, PyAny>,
    object: Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    let py = slf.py();
    let me = slf.borrow();
    let Some(entry) = me.finish_building() else {
        return resolve_reference(slf, refs, id, object);
    };
    if entry.materialized {
        return resolve_reference(slf, refs, id, object);
    }
    // Not materialized: no hook has run since the object was registered,
    // so the reference table still holds it.
    if entry.replaced {
        for (dict, key) in entry.holdings {
            dict.bind(py).set_item(key, &object)?;
        }
    }
    if let Some(placeholder) = entry.placeholder {
        me.forget_tags();
        placeholder.call_method1(py, pyo3::intern!(py, "resolveDependants"), (&object,))?;
    }
    Ok(object)
}

/// `[b"dereference", id]`: the object, or a placeholder until it is made.
/// An object still being filled (see [`Building`]) comes with its index
/// there: a dictionary or a list may hold it as it is, anything else gets
/// the placeholder ([`Unjellier::placeholder`]).
pub(crate) fn dereference_building<'py>(
    slf: &Bound<'py, Unjellier>,
    refs: &Refs,
    id: &Bound<'py, PyAny>,
) -> PyResult<(Bound<'py, PyAny>, Option<usize>)> {
    let py = slf.py();
    let me = slf.borrow();
    let known = me
        .reference_get(py, id)
        .map_err(|_| refs.insecure(py, "reference id must be hashable"))?;
    if let Some(known) = known {
        if !known.is_none() {
            let building = me.building_index(&known);
            return Ok((known, building));
        }
    }
    me.forget_tags();
    let placeholder = refs.dereference.bind(py).call1((id,))?;
    me.reference_set(py, id, &placeholder)?;
    Ok((placeholder, None))
}

/// `[b"dereference", id]` for anything but a dictionary or a list.
fn dereference<'py>(
    slf: &Bound<'py, Unjellier>,
    refs: &Refs,
    id: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    match dereference_building(slf, refs, id)? {
        (object, None) => Ok(object),
        (_, Some(index)) => slf.borrow().placeholder(slf.py(), refs, index),
    }
}
