//! The state of one jelly call: every mutable object met, the list (or byte
//! offset) that stands for it, and the reference ids given at second
//! meetings — Twisted's `_Jellier` bookkeeping, which `jellyFor` hooks
//! reach through the methods the bindings give the [`Jellier`] object.
//!
//! Twisted gives a mutable object (list, tuple, dict, set, frozenset,
//! instance, Jellyable) a reference id only when it meets that object a
//! second time. The first occurrence, already written, is then rewritten in
//! place to `[b"reference", id, <its s-expression>]`, and every later
//! occurrence is `[b"dereference", id]`. Ids are numbered in the order of
//! those second meetings. The jellier keeps, per object met, the list it
//! produced (or, for an object still being built, nothing until a cycle
//! needs a placeholder), and rewrites that list in place the same way; for
//! bytes, it keeps where the object's encoding starts, and the reference
//! header is spliced in there when the output is assembled. An object that
//! cannot be met again is not entered at all (see [`Jellier::may_skip`]).

use crate::pybanana::errors::describe;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyString};

use crate::jelly::python_objects::PythonObjects;
use crate::jelly::spare;
use crate::jelly::taster::Taster;

/// Hashes object addresses: they are unique while the objects live (the
/// jellier holds them), so one multiply spreads them well enough.
#[derive(Default)]
struct AddressHasher(u64);

impl Hasher for AddressHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = (self.0 ^ byte as u64).wrapping_mul(0x100_0000_01b3);
        }
    }

    fn write_usize(&mut self, address: usize) {
        self.0 = ((address as u64) >> 4).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// Strings up to this many characters have their UTF-8 cached per call.
const SHORT_STR: usize = 64;

type ByAddress<V> = HashMap<usize, V, BuildHasherDefault<AddressHasher>>;

/// Maps bigger than this are not kept for the next jellier.
const KEPT_MAP_LIMIT: usize = 1 << 16;

thread_local! {
    /// The emptied `seen` map of the last jellier on this thread: the next
    /// one starts with its capacity instead of growing (and rehashing, and
    /// page-faulting) a new one from nothing.
    static SPARE_SEEN: Cell<ByAddress<Seen>> = Cell::new(ByAddress::default());
    /// The same for the emptied `skipped` list.
    static SPARE_SKIPPED: Cell<Vec<Skipped>> = const { Cell::new(Vec::new()) };
}

/// What the jellier knows of one mutable object it has met.
struct Seen {
    /// Holds the object alive, so its address is not reused during the call.
    _object: Py<PyAny>,
    /// The list that stands for the object: its s-expression once preserved,
    /// or the `[reference, id, ...]` placeholder made when a cycle reached it
    /// before that.
    preserved: Option<Py<PyAny>>,
    /// The object's reference id, once it has one.
    id: Option<i64>,
    /// `[b"dereference", id]`, one list for every occurrence, once an
    /// s-expression needs it.
    dereference: Option<Py<PyList>>,
    /// Where the object's encoding starts in a [`BytesSink`](super::sinks::bytes::BytesSink)'s buffer, once
    /// written (or being written) there.
    offset: Option<usize>,
}

impl Seen {
    fn new(object: &Bound<'_, PyAny>, offset: Option<usize>) -> Self {
        Seen {
            _object: object.clone().unbind(),
            preserved: None,
            id: None,
            dereference: None,
            offset,
        }
    }
}

/// An object met while [`Jellier::unobserved`] and held by its container
/// alone, left out of `seen` (see [`Jellier::may_skip`]).
#[derive(Clone, Copy)]
struct Skipped {
    /// Its address: not held (nothing can free it while no Python code
    /// runs, see [`Jellier::may_skip`]).
    address: usize,
    /// Where its encoding starts in a bytes sink's buffer, or
    /// [`NO_OFFSET`].
    offset: usize,
}

/// [`Skipped::offset`] of an object not written as bytes.
const NO_OFFSET: usize = usize::MAX;

/// The objects one traversal skipped (see [`Jellier::may_skip`]), in the
/// order met, until [`Jellier::observe`] enters them among the objects met:
/// kept by the traversal's sink, which every level has at hand.
pub(crate) struct Skips {
    skipped: Vec<Skipped>,
    /// The s-expressions a list sink made for them, by their index in
    /// `skipped`.
    sexps: Vec<(usize, Py<PyAny>)>,
}

impl Skips {
    /// An empty list, with the room the last one on this thread had.
    pub(crate) fn new() -> Skips {
        Skips {
            skipped: SPARE_SKIPPED.with(Cell::take),
            sexps: Vec::new(),
        }
    }

    /// Note `object`, which [`Jellier::may_skip`] allowed to skip, as
    /// being jellied (its encoding starting at `offset` of a bytes sink's
    /// buffer): its slot, for [`Skips::made`].
    #[inline(always)]
    pub(crate) fn skip(&mut self, object: &Bound<'_, PyAny>, offset: Option<usize>) -> usize {
        self.skipped.push(Skipped {
            address: key(object),
            offset: offset.unwrap_or(NO_OFFSET),
        });
        self.skipped.len() - 1
    }

    /// True if the first object skipped is the one at `address`.
    #[inline]
    pub(crate) fn starts_with(&self, address: usize) -> bool {
        self.skipped
            .first()
            .is_some_and(|first| first.address == address)
    }

    /// The object skipped in `slot` is done, and a list sink made `sexp`
    /// for it.
    pub(crate) fn made(&mut self, slot: usize, sexp: Py<PyAny>) {
        self.sexps.push((slot, sexp));
    }
}

impl Drop for Skips {
    fn drop(&mut self) {
        let mut skipped = std::mem::take(&mut self.skipped);
        skipped.clear();
        keep_spare(&SPARE_SKIPPED, skipped, Vec::capacity);
    }
}

/// Keep `emptied` as the thread's spare, for the next jellier to start
/// with its room: unless it is bigger than [`KEPT_MAP_LIMIT`], or the spare
/// kept has more room.
fn keep_spare<T: Default>(
    spare: &'static std::thread::LocalKey<Cell<T>>,
    emptied: T,
    capacity: fn(&T) -> usize,
) {
    if capacity(&emptied) > KEPT_MAP_LIMIT {
        return;
    }
    spare.with(|spare| {
        let other = spare.take();
        spare.set(if capacity(&other) > capacity(&emptied) {
            other
        } else {
            emptied
        });
    });
}

/// The state of one `jelly()` call, handed to `jellyFor` hooks as `jellier`.
#[pyclass(module = "pbfast._native", name = "Jellier", frozen)]
pub struct Jellier {
    /// What the traversal was given (see [`Jellier::for_traversal`]):
    /// set anew only when the jellier is taken for another traversal, with
    /// no other reference to it.
    taster: RefCell<Py<PyAny>>,
    persistent_store: RefCell<Py<PyAny>>,
    invoker: RefCell<Py<PyAny>>,
    policy: RefCell<Taster>,
    seen: RefCell<ByAddress<Seen>>,
    /// str object (held) to its UTF-8, for short strings.
    encoded: RefCell<ByAddress<(Py<PyAny>, Py<PyBytes>)>>,
    /// While a [`BytesSink`](super::sinks::bytes::BytesSink) runs: the s-expression lists that stand for
    /// objects (list address to object address), so that encoding a hook's
    /// result can note where they land.
    list_owners: RefCell<Option<ByAddress<usize>>>,
    /// While a [`BytesSink`](super::sinks::bytes::BytesSink) runs: reference headers to splice, as (offset,
    /// id), in the order the ids were given.
    splices: RefCell<Vec<(usize, i64)>>,
    next_id: Cell<i64>,
    /// True while no Python code has run since the traversal began, and
    /// none can reach the jellier: it was made by a native entry point
    /// (`dumps`, `jelly`, a broker's `serialize`), and is handed to Python
    /// only after [`Jellier::observe`]. See [`Jellier::may_skip`].
    unobserved: Cell<bool>,
    pub(crate) depth: Cell<usize>,
    max_jelly_depth: Cell<usize>,
}

// SAFETY: every access to the jellier's cells is made holding the GIL
// (through a `Python` token or a bound object), which one thread holds at
// a time, and whose taking and giving back order what each thread sees: no
// two threads touch a cell at once. Another thread can run only inside a
// call into Python, where this thread's own Python code could re-enter
// just the same; a `RefCell` borrowed there is seen borrowed by either, as
// the traversal already allows for. The module declares that it uses the
// GIL (`gil_used`), so a free-threaded interpreter enables it for it. So
// the jellier may be used, and freed, on any thread, as Twisted's may.
unsafe impl Sync for Jellier {}

fn key(object: &Bound<'_, PyAny>) -> usize {
    object.as_ptr() as usize
}

impl Drop for Jellier {
    fn drop(&mut self) {
        let mut seen = std::mem::take(self.seen.get_mut());
        // Dropping the entries releases the objects they hold; the jellier
        // is being deallocated by Python, which holds the GIL.
        seen.clear();
        keep_spare(&SPARE_SEEN, seen, ByAddress::capacity);
    }
}

thread_local! {
    /// The jellier the last native traversal on this thread was done with,
    /// emptied, for the next to take (see [`Jellier::for_traversal`]). A
    /// thread that ends lets go of it without the interpreter: PyO3 then
    /// releases it the next time one is attached.
    static SPARE_JELLIER: std::cell::Cell<Option<Py<Jellier>>> = const { std::cell::Cell::new(None) };
}

impl Jellier {
    pub(crate) fn create(
        py: Python<'_>,
        taster: Bound<'_, PyAny>,
        persistent_store: Option<Py<PyAny>>,
        invoker: Option<Py<PyAny>>,
        max_jelly_depth: usize,
        unobserved: bool,
    ) -> PyResult<Self> {
        let refs = PythonObjects::get(py)?;
        Ok(Jellier {
            policy: RefCell::new(Taster::new(&taster, refs)),
            taster: RefCell::new(taster.unbind()),
            persistent_store: RefCell::new(persistent_store.unwrap_or_else(|| py.None())),
            invoker: RefCell::new(invoker.unwrap_or_else(|| py.None())),
            seen: RefCell::new(SPARE_SEEN.with(Cell::take)),
            encoded: RefCell::new(ByAddress::default()),
            list_owners: RefCell::new(None),
            splices: RefCell::new(Vec::new()),
            next_id: Cell::new(1),
            unobserved: Cell::new(unobserved),
            depth: Cell::new(0),
            max_jelly_depth: Cell::new(max_jelly_depth),
        })
    }

    /// A jellier for one traversal a native entry point makes (unobserved,
    /// see [`Jellier::may_skip`]): the spare one, given what this
    /// traversal is given, if there is one; else a new one. Hand it back
    /// with [`Jellier::done`].
    pub(crate) fn for_traversal<'py>(
        py: Python<'py>,
        taster: Bound<'py, PyAny>,
        invoker: Py<PyAny>,
        max_jelly_depth: usize,
        policy: Option<Taster>,
    ) -> PyResult<Bound<'py, Jellier>> {
        let spare = spare::take(&SPARE_JELLIER);
        let Some(spare) = spare else {
            let made = Jellier::create(py, taster, None, Some(invoker), max_jelly_depth, true)?;
            return Bound::new(py, made);
        };
        let jellier = spare.into_bound(py);
        let me = jellier.get();
        // Nothing else holds the spare (see `done`), and it holds nothing
        // of a traversal: it is as new once given this one's settings.
        let policy = match policy {
            Some(policy) => policy,
            None => Taster::new(&taster, PythonObjects::get(py)?),
        };
        *me.policy.borrow_mut() = policy;
        *me.taster.borrow_mut() = taster.unbind();
        *me.invoker.borrow_mut() = invoker;
        me.max_jelly_depth.set(max_jelly_depth);
        me.unobserved.set(true);
        Ok(jellier)
    }

    /// The policy read from the taster for this traversal, taken (the
    /// jellier keeps one that holds nothing), for a next traversal with the
    /// same taster where no Python code has run since it was read.
    pub(crate) fn take_policy(&self) -> Option<Taster> {
        let mut policy = self.policy.try_borrow_mut().ok()?;
        Some(std::mem::replace(&mut *policy, Taster::Dummy))
    }

    /// The traversal `jellier` (from [`Jellier::for_traversal`]) was for is
    /// over: kept, emptied, as the thread's spare where it may be (see
    /// [`spare`]).
    pub(crate) fn done(jellier: Bound<'_, Jellier>) {
        let py = jellier.py();
        if !spare::held_once(&jellier) {
            return;
        }
        let me = jellier.get();
        let emptied = me.depth.get() == 0
            && me
                .list_owners
                .try_borrow()
                .is_ok_and(|owners| owners.is_none())
            && me.seen.try_borrow_mut().is_ok_and(|mut seen| {
                let seen = &mut *seen;
                // Too big a map is not kept (clearing is by its room).
                if seen.capacity() > KEPT_MAP_LIMIT {
                    *seen = ByAddress::default();
                } else {
                    seen.clear();
                }
                true
            })
            && me.encoded.try_borrow_mut().is_ok_and(|mut encoded| {
                *encoded = ByAddress::default();
                true
            })
            && me.splices.try_borrow_mut().is_ok_and(|mut splices| {
                splices.clear();
                true
            })
            && spare::let_go(
                py,
                [&me.taster, &me.persistent_store, &me.invoker],
                &me.policy,
            );
        if emptied {
            me.next_id.set(1);
            spare::keep(&SPARE_JELLIER, jellier);
        }
    }

    /// The taster (security policy) it was given.
    pub(crate) fn taster<'py>(&self, py: Python<'py>) -> Bound<'py, PyAny> {
        self.taster.borrow().bind(py).clone()
    }

    /// The `persistentStore` it was given.
    pub(crate) fn persistent_store<'py>(&self, py: Python<'py>) -> Bound<'py, PyAny> {
        self.persistent_store.borrow().bind(py).clone()
    }

    /// The invoker (a broker, or None) it was given.
    pub(crate) fn invoker<'py>(&self, py: Python<'py>) -> Bound<'py, PyAny> {
        self.invoker.borrow().bind(py).clone()
    }

    /// How its taster is consulted.
    pub(crate) fn policy(&self) -> std::cell::Ref<'_, Taster> {
        self.policy.borrow()
    }

    /// The deepest it may go.
    pub(crate) fn max_jelly_depth(&self) -> usize {
        self.max_jelly_depth.get()
    }

    /// True if `object`, just read from a container, need not be entered
    /// in `seen`: Twisted gives an object a reference id only when it is
    /// met a second time, and this one cannot be.
    ///
    /// Its reference count is at most 2: one the container it was read
    /// from holds, one the traversal holds (it holds every object it reads
    /// from a container). So that slot is the only way to it. While no
    /// Python code has run ([`Jellier::unobserved`]), no container has
    /// changed and nothing else can have taken a reference to it; reaching
    /// that slot again means meeting its container again, which is then
    /// either a dereference (a container entered in `seen`) or impossible
    /// by the same argument (one skipped too), up to the root. (An object
    /// that holds itself is counted once more.) The root, which the
    /// traversal is handed, is held by its caller: whatever else holds it
    /// is either outside the graph (nothing the traversal reaches) or in a
    /// cycle back to it, and the traversal tells the root met again by its
    /// address (and enters the objects skipped then). Once Python code may
    /// run, anything can reach anything (a hook's result, a global, a weak
    /// reference, a bound method's `__self__`): the objects skipped so far
    /// are entered in `seen` ([`Jellier::observe`]) and nothing is skipped
    /// any more. Immortal objects (3.12+) have huge counts: they are
    /// entered.
    #[inline(always)]
    pub(crate) fn may_skip(&self, object: &Bound<'_, PyAny>) -> bool {
        // SAFETY: reading the reference count of a live object.
        self.unobserved.get() && unsafe { ffi::Py_REFCNT(object.as_ptr()) } <= 2
    }

    /// True while no Python code has run since the traversal began.
    #[inline(always)]
    pub(crate) fn is_unobserved(&self) -> bool {
        self.unobserved.get()
    }

    /// Python code may run from now on (a hook, a method of the object
    /// being jellied, a custom taster, or Python code holding the jellier):
    /// the objects `skips` holds are entered in `seen` as any other, and
    /// nothing is skipped any more.
    #[cold]
    #[inline(never)]
    pub(crate) fn observe(&self, py: Python<'_>, skips: &mut Skips) {
        if !self.unobserved.replace(false) {
            return;
        }
        let mut seen = self.seen.borrow_mut();
        for entry in &skips.skipped {
            // SAFETY: no Python code has run since the object was met (this
            // runs before any may), so it is alive, held by the container
            // it was read from (see `may_skip`); it is held from now on.
            let object =
                unsafe { Bound::from_borrowed_ptr(py, entry.address as *mut ffi::PyObject) };
            let offset = (entry.offset != NO_OFFSET).then_some(entry.offset);
            seen.insert(entry.address, Seen::new(&object, offset));
        }
        for (slot, sexp) in std::mem::take(&mut skips.sexps) {
            if let Some(entry) = seen.get_mut(&skips.skipped[slot].address) {
                entry.preserved = Some(sexp);
            }
        }
        skips.skipped.clear();
    }

    pub(crate) fn start(&self, object: &Bound<'_, PyAny>) {
        self.seen
            .borrow_mut()
            .insert(key(object), Seen::new(object, None));
    }

    pub(crate) fn record<'py>(
        &self,
        object: &Bound<'py, PyAny>,
        sexp: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let py = object.py();
        let mut seen = self.seen.borrow_mut();
        let entry = seen
            .entry(key(object))
            .or_insert_with(|| Seen::new(object, None));
        let stands_for = match (entry.id, &entry.preserved) {
            // Cooked while being built: the placeholder is what was embedded
            // where the object first occurs, and it gets the s-expression.
            (Some(_), Some(placeholder)) => {
                let placeholder = placeholder.bind(py).clone();
                placeholder.set_item(2, sexp)?;
                placeholder
            }
            _ => {
                entry.preserved = Some(sexp.clone().unbind());
                sexp.clone()
            }
        };
        if let Some(owners) = self.list_owners.borrow_mut().as_mut() {
            owners.insert(stands_for.as_ptr() as usize, key(object));
        }
        Ok(stands_for)
    }

    /// Twisted's `_cook`: the object gets the next id; the list that stands
    /// for it becomes `[reference, id, <copy of what it held>]` in place, or,
    /// if it was written as bytes, the reference header is spliced in front
    /// of it; later occurrences get the dereference.
    pub(crate) fn cook_object<'py>(
        &self,
        object: &Bound<'py, PyAny>,
    ) -> PyResult<Option<Bound<'py, PyList>>> {
        let mut seen = self.seen.borrow_mut();
        let Some(entry) = seen.get_mut(&key(object)) else {
            return Err(pyo3::exceptions::PyKeyError::new_err(format!(
                "{} was not prepared",
                describe(object)
            )));
        };
        Ok(self.cook(object.py(), entry)?.1)
    }

    /// [`Jellier::cook_object`] of the object `entry` is for: its id, and
    /// the list that now stands for it unless it was written as bytes.
    fn cook<'py>(
        &self,
        py: Python<'py>,
        entry: &mut Seen,
    ) -> PyResult<(i64, Option<Bound<'py, PyList>>)> {
        let refs = PythonObjects::get(py)?;
        let id = self.next_id.get();
        self.next_id.set(id + 1);
        entry.id = Some(id);
        entry.dereference = None;
        let reference = refs.atoms.reference.bind(py);
        let list = match (entry.offset, &entry.preserved) {
            (Some(offset), _) => {
                self.splices.borrow_mut().push((offset, id));
                None
            }
            (None, Some(list)) => {
                let list = list.bind(py).cast::<PyList>()?;
                let copy = list.get_slice(0, list.len());
                let rewritten = [
                    reference.as_any().clone(),
                    id.into_pyobject(py)?.into_any(),
                    copy.into_any(),
                ];
                list.set_slice(0, list.len(), PyList::new(py, rewritten)?.as_any())?;
                Some(list.clone())
            }
            (None, None) => {
                let empty = PyList::empty(py);
                let placeholder = PyList::new(
                    py,
                    [
                        reference.as_any().clone(),
                        id.into_pyobject(py)?.into_any(),
                        empty.into_any(),
                    ],
                )?;
                entry.preserved = Some(placeholder.clone().into_any().unbind());
                Some(placeholder)
            }
        };
        Ok((id, list))
    }

    /// For a container about to be jellied: its reference id if it was met
    /// before (giving it one now if need be), else None after registering
    /// it as being built (starting at `offset` of a bytes sink's buffer).
    /// One map lookup.
    pub(crate) fn reference_or_start(
        &self,
        object: &Bound<'_, PyAny>,
        offset: Option<usize>,
    ) -> PyResult<Option<i64>> {
        let mut seen = self.seen.borrow_mut();
        match seen.entry(key(object)) {
            std::collections::hash_map::Entry::Vacant(vacant) => {
                vacant.insert(Seen::new(object, offset));
                Ok(None)
            }
            std::collections::hash_map::Entry::Occupied(mut occupied) => match occupied.get().id {
                Some(id) => Ok(Some(id)),
                None => Ok(Some(self.cook(object.py(), occupied.get_mut())?.0)),
            },
        }
    }

    /// The reference id of `object` if it was met before (giving it one now
    /// if need be), else None.
    pub(crate) fn reference_id(&self, object: &Bound<'_, PyAny>) -> PyResult<Option<i64>> {
        let mut seen = self.seen.borrow_mut();
        match seen.get_mut(&key(object)) {
            None => Ok(None),
            Some(Seen { id: Some(id), .. }) => Ok(Some(*id)),
            Some(entry) => Ok(Some(self.cook(object.py(), entry)?.0)),
        }
    }

    /// `[b"dereference", id]` for `object`, whose id is `id`: one list for
    /// all its occurrences, as Twisted's `_checkMutable` gives.
    pub(crate) fn dereference_list<'py>(
        &self,
        object: &Bound<'py, PyAny>,
        id: i64,
    ) -> PyResult<Bound<'py, PyList>> {
        let py = object.py();
        if let Some(Seen {
            dereference: Some(list),
            ..
        }) = self.seen.borrow().get(&key(object))
        {
            return Ok(list.bind(py).clone());
        }
        let refs = PythonObjects::get(py)?;
        let list = PyList::new(
            py,
            [
                refs.atoms.dereference.bind(py).clone().into_any(),
                id.into_pyobject(py)?.into_any(),
            ],
        )?;
        if let Some(entry) = self.seen.borrow_mut().get_mut(&key(object)) {
            entry.dereference = Some(list.clone().unbind());
        }
        Ok(list)
    }

    /// `[b"dereference", id]` if `object` was met before, else None
    /// (Twisted's `_checkMutable`).
    pub(crate) fn reference_to<'py>(
        &self,
        object: &Bound<'py, PyAny>,
    ) -> PyResult<Option<Bound<'py, PyList>>> {
        match self.reference_id(object)? {
            Some(id) => Ok(Some(self.dereference_list(object, id)?)),
            None => Ok(None),
        }
    }

    /// A bytes sink starts writing: note where the lists that stand for
    /// objects land, and forget earlier splices.
    pub(crate) fn start_bytes(&self) {
        *self.list_owners.borrow_mut() = Some(ByAddress::default());
        self.splices.borrow_mut().clear();
    }

    /// The reference headers to splice into the bytes written, as (offset,
    /// id), in the order the ids were given.
    pub(crate) fn take_splices(&self) -> Vec<(usize, i64)> {
        std::mem::take(&mut *self.splices.borrow_mut())
    }

    /// The bytes sink is done (or failed).
    pub(crate) fn end_bytes(&self) {
        *self.list_owners.borrow_mut() = None;
    }

    /// A list that stands for an object has just been written as bytes at
    /// `offset`: from now on a reference to the object is spliced there.
    pub(crate) fn list_written(&self, list: *mut ffi::PyObject, offset: usize) {
        let owner = match self.list_owners.borrow().as_ref() {
            Some(owners) => owners.get(&(list as usize)).copied(),
            None => None,
        };
        if let Some(owner) = owner {
            if let Some(entry) = self.seen.borrow_mut().get_mut(&owner) {
                if entry.offset.is_none() {
                    entry.offset = Some(offset);
                }
            }
        }
    }

    /// The UTF-8 of a str. A short str that is referenced from elsewhere too
    /// (dict keys shared by a thousand records, interned names) is likely to
    /// come again, so its bytes are made once per call and shared: bytes are
    /// immutable, so that changes nothing but the allocations. A str held
    /// only by its container (most values) is encoded without the lookup.
    pub(crate) fn utf8<'py>(&self, text: &Bound<'py, PyString>) -> PyResult<Bound<'py, PyBytes>> {
        // SAFETY: reading the reference count of a live object.
        let shared = unsafe { ffi::Py_REFCNT(text.as_ptr()) } > 2;
        if !shared || text.len()? > SHORT_STR {
            return text.encode_utf8();
        }
        if let Some((_, bytes)) = self.encoded.borrow().get(&key(text.as_any())) {
            return Ok(bytes.bind(text.py()).clone());
        }
        let bytes = text.encode_utf8()?;
        self.encoded.borrow_mut().insert(
            key(text.as_any()),
            (text.clone().into_any().unbind(), bytes.clone().unbind()),
        );
        Ok(bytes)
    }
}

pub(crate) fn unpersistable<'py>(
    py: Python<'py>,
    reason: &Bound<'py, PyAny>,
    sxp: Option<Bound<'py, PyList>>,
) -> PyResult<Bound<'py, PyList>> {
    let refs = PythonObjects::get(py)?;
    let sxp = sxp.unwrap_or_else(|| PyList::empty(py));
    sxp.append(refs.atoms.unpersistable.bind(py))?;
    match reason.cast::<PyString>() {
        Ok(text) => sxp.append(PyBytes::new(py, text.to_str()?.as_bytes()))?,
        Err(_) => sxp.append(reason)?,
    }
    Ok(sxp)
}
