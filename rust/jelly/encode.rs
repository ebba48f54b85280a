//! Object graph to s-expression (`jelly`), the way Twisted's `_Jellier` does
//! it, down to where reference ids go.
//!
//! Twisted gives a mutable object (list, tuple, dict, set, frozenset,
//! instance, Jellyable) a reference id only when it meets that object a second
//! time. The first occurrence, already written, is then rewritten in place to
//! `[b"reference", id, <its s-expression>]`, and every later occurrence is
//! `[b"dereference", id]`. Ids are numbered in the order of those second
//! meetings. This encoder keeps, per object met, the list it produced (or, for
//! an object still being built, nothing until a cycle needs a placeholder),
//! and rewrites that list in place the same way, so the output is the same
//! s-expression, list for list.
//!
//! The same methods (`prepare`, `preserve`, `jelly`, `unpersistable`) are what
//! `jellyFor` hooks call, so hooks and native traversal share one state.
//!
//! One traversal, two sinks ([`Sink`]): [`ListSink`] builds the Python
//! s-expression (`jelly`); [`BytesSink`] writes its Banana encoding straight
//! into one buffer (`dumps`), with no list built for anything the traversal
//! handles itself. A byte stream cannot be rewritten in place, so there an
//! object's start offset is what is kept, and a reference header met later is
//! spliced in front of it when the buffer is assembled. What a `jellyFor`
//! hook builds is a Python s-expression either way; the bytes sink encodes it
//! when the hook returns, noting where each object's list lands.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use pyo3::exceptions::PyNotImplementedError;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{
    PyBool, PyBytes, PyDate, PyDateAccess, PyDateTime, PyDelta, PyDeltaAccess, PyDict, PyFloat,
    PyInt, PyList, PyString, PyTime, PyTimeAccess, PyTuple, PyType, PyTzInfoAccess,
};

use super::{qual, Depth, Refs, Taster};
use crate::banana::encoder::{self, EncodeError};
use crate::python::banana::{self, EncodeSettings, Output};
use crate::python::errors::banana_error;

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
}

/// What the jellier knows of one mutable object it has met.
struct Seen {
    /// Holds the object alive, so its address is not reused during the call.
    _object: Py<PyAny>,
    /// The list that stands for the object: its s-expression once preserved,
    /// or the `[reference, id, ...]` placeholder made when a cycle reached it
    /// before that.
    preserved: Option<Py<PyAny>>,
    /// `[b"dereference", id]`, once the object has an id.
    dereference: Option<Py<PyList>>,
    /// Where the object's encoding starts in a [`BytesSink`]'s buffer, once
    /// written (or being written) there.
    offset: Option<usize>,
}

impl Seen {
    fn new(object: &Bound<'_, PyAny>, offset: Option<usize>) -> Self {
        Seen {
            _object: object.clone().unbind(),
            preserved: None,
            dereference: None,
            offset,
        }
    }
}

/// The state of one `jelly()` call, handed to `jellyFor` hooks as `jellier`.
#[pyclass(module = "pbfast._native", name = "Jellier", frozen, unsendable)]
pub struct Jellier {
    #[pyo3(get)]
    taster: Py<PyAny>,
    #[pyo3(get, name = "persistentStore")]
    persistent_store: Py<PyAny>,
    #[pyo3(get)]
    invoker: Py<PyAny>,
    policy: Taster,
    seen: RefCell<ByAddress<Seen>>,
    /// str object (held) to its UTF-8, for short strings.
    encoded: RefCell<ByAddress<(Py<PyAny>, Py<PyBytes>)>>,
    /// While a [`BytesSink`] runs: the s-expression lists that stand for
    /// objects (list address to object address), so that encoding a hook's
    /// result can note where they land.
    list_owners: RefCell<Option<ByAddress<usize>>>,
    /// While a [`BytesSink`] runs: reference headers to splice, as (offset,
    /// id), in the order the ids were given.
    splices: RefCell<Vec<(usize, i64)>>,
    next_id: Cell<i64>,
    depth: Cell<usize>,
    max_depth: usize,
}

fn key(object: &Bound<'_, PyAny>) -> usize {
    object.as_ptr() as usize
}

#[pymethods]
impl Jellier {
    #[new]
    #[pyo3(signature = (taster, persistentStore=None, invoker=None, max_depth=1000))]
    #[allow(non_snake_case)]
    fn new(
        py: Python<'_>,
        taster: Bound<'_, PyAny>,
        persistentStore: Option<Py<PyAny>>,
        invoker: Option<Py<PyAny>>,
        max_depth: usize,
    ) -> PyResult<Self> {
        Jellier::create(py, taster, persistentStore, invoker, max_depth)
    }

    /// The s-expression for `obj`.
    fn jelly<'py>(slf: &Bound<'py, Self>, obj: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let _pause = crate::python::gc::GcPause::new(slf.py());
        let me = slf.borrow();
        let cx = Cx {
            slf,
            me: &me,
            refs: Refs::get(slf.py())?,
        };
        jelly(&cx, &mut ListSink::default(), obj)
    }

    /// Register `object` as being jellied and return a fresh list for its
    /// s-expression (see `preserve`).
    fn prepare<'py>(slf: &Bound<'py, Self>, object: &Bound<'py, PyAny>) -> Bound<'py, PyList> {
        slf.borrow().start(object);
        PyList::empty(slf.py())
    }

    /// Record `sexp` as `object`'s s-expression and return what to embed:
    /// `sexp` itself, or the reference placeholder a cycle already made.
    fn preserve<'py>(
        slf: &Bound<'py, Self>,
        object: &Bound<'py, PyAny>,
        sexp: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        slf.borrow().record(object, sexp)
    }

    /// Give `object` a reference id now (it has been met again); the list
    /// that now stands for it, unless it was written as bytes.
    fn _cook<'py>(
        slf: &Bound<'py, Self>,
        object: &Bound<'py, PyAny>,
    ) -> PyResult<Option<Bound<'py, PyList>>> {
        slf.borrow().cook_object(object)
    }

    /// `[b"dereference", id]` if `object` was met before, else None.
    #[pyo3(name = "_checkMutable")]
    fn check_mutable<'py>(
        slf: &Bound<'py, Self>,
        object: &Bound<'py, PyAny>,
    ) -> PyResult<Option<Bound<'py, PyList>>> {
        slf.borrow().reference_to(object)
    }

    /// Append `[b"unpersistable", reason]` to `sxp` (or a new list).
    #[pyo3(signature = (reason, sxp=None))]
    fn unpersistable<'py>(
        slf: &Bound<'py, Self>,
        reason: &Bound<'py, PyAny>,
        sxp: Option<Bound<'py, PyList>>,
    ) -> PyResult<Bound<'py, PyList>> {
        unpersistable(slf.py(), reason, sxp)
    }

    fn jelly_decimal<'py>(
        slf: &Bound<'py, Self>,
        d: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        jelly_decimal(slf, d)
    }
}

impl Drop for Jellier {
    fn drop(&mut self) {
        let mut seen = std::mem::take(self.seen.get_mut());
        if seen.capacity() <= KEPT_MAP_LIMIT {
            // Dropping the entries releases the objects they hold; the
            // jellier is being deallocated by Python, which holds the GIL.
            seen.clear();
            SPARE_SEEN.with(|spare| {
                let other = spare.take();
                spare.set(if other.capacity() > seen.capacity() {
                    other
                } else {
                    seen
                });
            });
        }
    }
}

impl Jellier {
    pub(crate) fn create(
        py: Python<'_>,
        taster: Bound<'_, PyAny>,
        persistent_store: Option<Py<PyAny>>,
        invoker: Option<Py<PyAny>>,
        max_depth: usize,
    ) -> PyResult<Self> {
        let refs = Refs::get(py)?;
        Ok(Jellier {
            policy: Taster::new(&taster, refs),
            taster: taster.unbind(),
            persistent_store: persistent_store.unwrap_or_else(|| py.None()),
            invoker: invoker.unwrap_or_else(|| py.None()),
            seen: RefCell::new(SPARE_SEEN.with(Cell::take)),
            encoded: RefCell::new(ByAddress::default()),
            list_owners: RefCell::new(None),
            splices: RefCell::new(Vec::new()),
            next_id: Cell::new(1),
            depth: Cell::new(0),
            max_depth,
        })
    }

    fn start(&self, object: &Bound<'_, PyAny>) {
        self.seen
            .borrow_mut()
            .insert(key(object), Seen::new(object, None));
    }

    fn record<'py>(
        &self,
        object: &Bound<'py, PyAny>,
        sexp: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let py = object.py();
        let mut seen = self.seen.borrow_mut();
        let entry = seen
            .entry(key(object))
            .or_insert_with(|| Seen::new(object, None));
        let stands_for = match (&entry.dereference, &entry.preserved) {
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
    fn cook_object<'py>(&self, object: &Bound<'py, PyAny>) -> PyResult<Option<Bound<'py, PyList>>> {
        let py = object.py();
        let refs = Refs::get(py)?;
        let mut seen = self.seen.borrow_mut();
        let Some(entry) = seen.get_mut(&key(object)) else {
            return Err(pyo3::exceptions::PyKeyError::new_err(format!(
                "{} was not prepared",
                object.repr()?
            )));
        };
        let id = self.next_id.get();
        self.next_id.set(id + 1);
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
        let dereference = PyList::new(
            py,
            [
                refs.atoms.dereference.bind(py).clone().into_any(),
                id.into_pyobject(py)?.into_any(),
            ],
        )?;
        entry.dereference = Some(dereference.unbind());
        Ok(list)
    }

    /// For a container about to be jellied: its dereference if it was met
    /// before (giving it an id now if need be), else None after registering
    /// it as being built (starting at `offset` of a bytes sink's buffer).
    /// One map lookup in the common case.
    fn reference_or_start<'py>(
        &self,
        object: &Bound<'py, PyAny>,
        offset: Option<usize>,
    ) -> PyResult<Option<Bound<'py, PyList>>> {
        {
            let mut seen = self.seen.borrow_mut();
            match seen.entry(key(object)) {
                std::collections::hash_map::Entry::Vacant(vacant) => {
                    vacant.insert(Seen::new(object, offset));
                    return Ok(None);
                }
                std::collections::hash_map::Entry::Occupied(occupied) => {
                    if let Some(dereference) = &occupied.get().dereference {
                        return Ok(Some(dereference.bind(object.py()).clone()));
                    }
                }
            }
        }
        self.reference_to(object)
    }

    /// A list that stands for an object has just been written as bytes at
    /// `offset`: from now on a reference to the object is spliced there.
    fn list_written(&self, list: *mut ffi::PyObject, offset: usize) {
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
    fn utf8<'py>(&self, text: &Bound<'py, PyString>) -> PyResult<Bound<'py, PyBytes>> {
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

    fn reference_to<'py>(
        &self,
        object: &Bound<'py, PyAny>,
    ) -> PyResult<Option<Bound<'py, PyList>>> {
        let py = object.py();
        {
            let seen = self.seen.borrow();
            match seen.get(&key(object)) {
                None => return Ok(None),
                Some(Seen {
                    dereference: Some(dereference),
                    ..
                }) => {
                    return Ok(Some(dereference.bind(py).clone()));
                }
                Some(_) => {}
            }
        }
        self.cook_object(object)?;
        let seen = self.seen.borrow();
        let dereference = seen[&key(object)]
            .dereference
            .as_ref()
            .expect("just cooked");
        Ok(Some(dereference.bind(py).clone()))
    }
}

fn unpersistable<'py>(
    py: Python<'py>,
    reason: &Bound<'py, PyAny>,
    sxp: Option<Bound<'py, PyList>>,
) -> PyResult<Bound<'py, PyList>> {
    let refs = Refs::get(py)?;
    let sxp = sxp.unwrap_or_else(|| PyList::empty(py));
    sxp.append(refs.atoms.unpersistable.bind(py))?;
    match reason.cast::<PyString>() {
        Ok(text) => sxp.append(PyBytes::new(py, text.to_str()?.as_bytes()))?,
        Err(_) => sxp.append(reason)?,
    }
    Ok(sxp)
}

/// Twisted's `jelly_decimal`: `[b"decimal", value, exponent]`, where value
/// is the coefficient's digits as an integer, negated for a negative sign.
/// A finite Decimal's `str()` is its sign, coefficient and exponent in
/// scientific notation, read here; the special values (and anything else
/// unexpected) go to Twisted's own method, which uses nothing of its
/// jellier.
fn jelly_decimal<'py>(
    slf: &Bound<'py, Jellier>,
    d: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    let py = slf.py();
    let refs = Refs::get(py)?;
    let text = d.str()?;
    if let Some((negative, digits, exponent)) = decimal_parts(text.to_str()?) {
        let value = match digits.parse::<u128>() {
            Ok(value) => value.into_pyobject(py)?.into_any(),
            Err(_) => py.get_type::<PyInt>().call1((digits,))?,
        };
        let value = if negative { value.neg()? } else { value };
        let list = PyList::new(
            py,
            [
                refs.atoms.decimal.bind(py).clone().into_any(),
                value,
                exponent.into_pyobject(py)?.into_any(),
            ],
        )?;
        return Ok(list.into_any());
    }
    refs.twisted_jellier
        .bind(py)
        .getattr(pyo3::intern!(py, "jelly_decimal"))?
        .call1((slf, d))
}

/// Sign, coefficient digits and exponent of a finite Decimal's string form
/// (`-1.25E+7` is `(true, "125", 5)`), or `None` for anything else.
fn decimal_parts(text: &str) -> Option<(bool, String, i64)> {
    let (negative, unsigned) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (mantissa, exponent) = match unsigned.split_once(['E', 'e']) {
        Some((mantissa, exponent)) => (mantissa, exponent.parse::<i64>().ok()?),
        None => (unsigned, 0),
    };
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let all_digits = |part: &str| part.bytes().all(|byte| byte.is_ascii_digit());
    if whole.is_empty() || !all_digits(whole) || !all_digits(fraction) {
        return None;
    }
    let exponent = exponent.checked_sub(i64::try_from(fraction.len()).ok()?)?;
    Some((negative, format!("{whole}{fraction}"), exponent))
}

/// One traversal's view of its jellier, borrowed once at the top.
pub(crate) struct Cx<'a, 'py> {
    slf: &'a Bound<'py, Jellier>,
    me: &'a Jellier,
    refs: &'static Refs,
}

impl<'py> Cx<'_, 'py> {
    fn py(&self) -> Python<'py> {
        self.slf.py()
    }

    fn atom(&self, atom: &Py<PyBytes>) -> Bound<'py, PyAny> {
        atom.bind(self.py()).clone().into_any()
    }
}

/// Where a traversal puts what it makes. Every jellied value is made of
/// these calls: a value that stands for itself, `[tag, value]`, `[tag]`, a
/// container of known length, an s-expression made in Python, a
/// dereference.
pub(crate) trait Sink<'py> {
    /// One jellied value, as the sink holds it.
    type Out;
    /// A container being filled.
    type Seq;

    /// Where the next value starts in the output, for sinks that write
    /// bytes.
    fn position(&self) -> Option<usize>;
    /// bytes, int or float: the value itself.
    fn scalar(&mut self, cx: &Cx<'_, 'py>, value: &Bound<'py, PyAny>) -> PyResult<Self::Out>;
    /// `[tag, value]`, `value` being a byte string (or what stands for one).
    fn pair(
        &mut self,
        cx: &Cx<'_, 'py>,
        tag: &Py<PyBytes>,
        value: Bound<'py, PyAny>,
    ) -> PyResult<Self::Out>;
    /// `[b"unicode", <UTF-8 of text>]`.
    fn text(&mut self, cx: &Cx<'_, 'py>, text: &Bound<'py, PyString>) -> PyResult<Self::Out>;
    /// `[tag]`.
    fn single(&mut self, cx: &Cx<'_, 'py>, tag: &Py<PyBytes>) -> PyResult<Self::Out>;
    /// Start `[tag, ...]` with `items` items after the tag.
    fn open(
        &mut self,
        cx: &Cx<'_, 'py>,
        tag: Bound<'py, PyAny>,
        items: usize,
    ) -> PyResult<Self::Seq>;
    /// Before a dictionary item's key and value are jellied.
    fn open_item(&mut self, cx: &Cx<'_, 'py>) -> PyResult<()>;
    /// `[key, value]`, a dictionary item (no tag).
    fn close_item(
        &mut self,
        cx: &Cx<'_, 'py>,
        key: Self::Out,
        value: Self::Out,
    ) -> PyResult<Self::Out>;
    fn push(&mut self, seq: &mut Self::Seq, item: Self::Out);
    fn close(&mut self, cx: &Cx<'_, 'py>, seq: Self::Seq) -> PyResult<Self::Out>;
    /// `[b"dereference", id]`: a later occurrence of an object (the list is
    /// the jellier's, shared by every such occurrence).
    fn dereference(&mut self, cx: &Cx<'_, 'py>, list: Bound<'py, PyList>) -> PyResult<Self::Out>;
    /// An s-expression made in Python: a hook's result, a decimal's, a
    /// persistent id.
    fn sexp(&mut self, cx: &Cx<'_, 'py>, sexp: Bound<'py, PyAny>) -> PyResult<Self::Out>;
    /// `object` is complete and `out` is what was made for it: what stands
    /// for it where it occurs.
    fn finish_object(
        &mut self,
        cx: &Cx<'_, 'py>,
        object: &Bound<'py, PyAny>,
        out: Self::Out,
    ) -> PyResult<Self::Out>;
    /// Whether a container's items are exactly those counted when it was
    /// opened (a byte header cannot be changed); otherwise a list that grows
    /// while a hook runs is followed to its end, as Python iteration would.
    const FIXED_LENGTH: bool;
}

/// Builds the Python s-expression, as Twisted's jelly returns it.
#[derive(Default)]
pub(crate) struct ListSink<'py> {
    /// Emptied item vectors of closed containers, reused for the next ones:
    /// a traversal opens a container per str, bool and dict item.
    spare: Vec<Vec<Bound<'py, PyAny>>>,
}

impl<'py> Sink<'py> for ListSink<'py> {
    type Out = Bound<'py, PyAny>;
    type Seq = Vec<Bound<'py, PyAny>>;
    const FIXED_LENGTH: bool = false;

    fn position(&self) -> Option<usize> {
        None
    }

    fn scalar(&mut self, _cx: &Cx<'_, 'py>, value: &Bound<'py, PyAny>) -> PyResult<Self::Out> {
        Ok(value.clone())
    }

    /// The most common list in any s-expression, built directly.
    fn pair(
        &mut self,
        cx: &Cx<'_, 'py>,
        tag: &Py<PyBytes>,
        value: Bound<'py, PyAny>,
    ) -> PyResult<Self::Out> {
        let py = cx.py();
        // SAFETY: PyList_New(2) returns a list with two empty slots (or NULL
        // with an exception set, which from_owned_ptr_or_err turns into an
        // error); each slot is filled once with a new strong reference whose
        // ownership moves into the list.
        unsafe {
            let list = Bound::from_owned_ptr_or_err(py, ffi::PyList_New(2))?;
            ffi::PyList_SET_ITEM(list.as_ptr(), 0, tag.clone_ref(py).into_ptr());
            ffi::PyList_SET_ITEM(list.as_ptr(), 1, value.into_ptr());
            Ok(list)
        }
    }

    fn text(&mut self, cx: &Cx<'_, 'py>, text: &Bound<'py, PyString>) -> PyResult<Self::Out> {
        let encoded = cx.me.utf8(text)?;
        self.pair(cx, &cx.refs.atoms.unicode, encoded.into_any())
    }

    fn single(&mut self, cx: &Cx<'_, 'py>, tag: &Py<PyBytes>) -> PyResult<Self::Out> {
        Ok(PyList::new(cx.py(), [cx.atom(tag)])?.into_any())
    }

    fn open(
        &mut self,
        _cx: &Cx<'_, 'py>,
        tag: Bound<'py, PyAny>,
        items: usize,
    ) -> PyResult<Self::Seq> {
        let mut seq = self.spare.pop().unwrap_or_default();
        seq.reserve(items + 1);
        seq.push(tag);
        Ok(seq)
    }

    fn open_item(&mut self, _cx: &Cx<'_, 'py>) -> PyResult<()> {
        Ok(())
    }

    fn close_item(
        &mut self,
        cx: &Cx<'_, 'py>,
        key: Self::Out,
        value: Self::Out,
    ) -> PyResult<Self::Out> {
        Ok(PyList::new(cx.py(), [key, value])?.into_any())
    }

    fn push(&mut self, seq: &mut Self::Seq, item: Self::Out) {
        seq.push(item);
    }

    fn close(&mut self, cx: &Cx<'_, 'py>, mut seq: Self::Seq) -> PyResult<Self::Out> {
        // SAFETY: PyList_New(n) returns a list with n empty slots (or NULL
        // with an exception set, turned into an error, `seq` then dropping
        // its references as usual). Each slot gets one item's strong
        // reference; set_len(0) then forgets the items without dropping
        // them, their references now belonging to the list.
        let list = unsafe {
            let list = Bound::from_owned_ptr_or_err(
                cx.py(),
                ffi::PyList_New(seq.len() as ffi::Py_ssize_t),
            )?;
            for (index, item) in seq.iter().enumerate() {
                ffi::PyList_SET_ITEM(list.as_ptr(), index as ffi::Py_ssize_t, item.as_ptr());
            }
            seq.set_len(0);
            list
        };
        self.spare.push(seq);
        Ok(list.into_any())
    }

    fn dereference(&mut self, _cx: &Cx<'_, 'py>, list: Bound<'py, PyList>) -> PyResult<Self::Out> {
        Ok(list.into_any())
    }

    fn sexp(&mut self, _cx: &Cx<'_, 'py>, sexp: Bound<'py, PyAny>) -> PyResult<Self::Out> {
        Ok(sexp)
    }

    fn finish_object(
        &mut self,
        cx: &Cx<'_, 'py>,
        object: &Bound<'py, PyAny>,
        out: Self::Out,
    ) -> PyResult<Self::Out> {
        cx.me.record(object, &out)
    }
}

/// Writes the Banana encoding (`banana.encode(jelly(obj))`) into one
/// buffer as the traversal goes.
pub(crate) struct BytesSink<'o, 'a, 'py> {
    pub out: &'o mut Output<'a, 'py>,
    pub settings: EncodeSettings<'a>,
    /// The bytes every str's encoding starts with (`[b"unicode", ...`: a
    /// list header and the tag, or its symbol), made once.
    text_head: ([u8; 16], usize),
}

impl<'o, 'a, 'py> BytesSink<'o, 'a, 'py> {
    pub(crate) fn new(out: &'o mut Output<'a, 'py>, settings: EncodeSettings<'a>) -> Self {
        let mut head = Vec::with_capacity(16);
        encoder::write_list_header(&mut head, 2);
        match settings.vocabulary.and_then(|v| v.lookup(b"unicode")) {
            Some(symbol) => encoder::write_vocab(&mut head, symbol),
            None => encoder::write_string(&mut head, b"unicode", u64::MAX).expect("no limit"),
        }
        let mut text_head = [0u8; 16];
        text_head[..head.len()].copy_from_slice(&head);
        BytesSink {
            out,
            settings,
            text_head: (text_head, head.len()),
        }
    }
}

/// A container being written: how many items its header announced.
pub(crate) struct Counted {
    announced: usize,
    written: usize,
}

impl<'py> BytesSink<'_, '_, 'py> {
    fn write(&mut self, value: &Bound<'py, PyAny>) -> PyResult<()> {
        banana::encode_into(value, &self.settings, self.out)
    }

    /// A tag: a short byte string, or its vocabulary symbol.
    fn write_atom(&mut self, atom: &Py<PyBytes>, py: Python<'py>) -> PyResult<()> {
        // SAFETY: atoms are bytes objects, alive as long as `Refs`.
        unsafe { banana::write_bytes(py, atom.as_ptr(), &self.settings, self.out) }
    }

    fn header(&mut self, cx: &Cx<'_, 'py>, count: usize) -> PyResult<()> {
        if count as u64 > self.settings.size_limit {
            let error = EncodeError::ListTooLong(count as u64);
            return Err(banana_error(cx.py(), error.to_string()));
        }
        encoder::write_list_header(self.out.buf, count as u64);
        Ok(())
    }
}

impl<'py> Sink<'py> for BytesSink<'_, '_, 'py> {
    type Out = ();
    type Seq = Counted;
    const FIXED_LENGTH: bool = true;

    fn position(&self) -> Option<usize> {
        Some(self.out.buf.len())
    }

    fn scalar(&mut self, _cx: &Cx<'_, 'py>, value: &Bound<'py, PyAny>) -> PyResult<()> {
        let py = value.py();
        let pointer = value.as_ptr();
        let ty = value.get_type_ptr();
        // SAFETY: the writers are given objects of exactly their type.
        unsafe {
            if ty == &raw mut ffi::PyBytes_Type {
                return banana::write_bytes(py, pointer, &self.settings, self.out);
            }
            if ty == &raw mut ffi::PyLong_Type {
                return banana::write_int(py, pointer, &self.settings, self.out);
            }
            if ty == &raw mut ffi::PyFloat_Type {
                encoder::write_float(self.out.buf, ffi::PyFloat_AS_DOUBLE(pointer));
                return Ok(());
            }
        }
        self.write(value)
    }

    fn pair(
        &mut self,
        cx: &Cx<'_, 'py>,
        tag: &Py<PyBytes>,
        value: Bound<'py, PyAny>,
    ) -> PyResult<()> {
        self.header(cx, 2)?;
        self.write_atom(tag, cx.py())?;
        self.scalar(cx, &value)
    }

    /// The UTF-8 goes from the str's own buffer into the output: no bytes
    /// object is made.
    fn text(&mut self, cx: &Cx<'_, 'py>, text: &Bound<'py, PyString>) -> PyResult<()> {
        if self.settings.size_limit >= 7 {
            // Within the limits whatever the str: the head as made once.
            let (head, len) = &self.text_head;
            self.out.buf.extend_from_slice(&head[..*len]);
        } else {
            self.header(cx, 2)?;
            self.write_atom(&cx.refs.atoms.unicode, cx.py())?;
        }
        // Strict, like str.encode("UTF-8"): a lone surrogate raises
        // UnicodeEncodeError.
        let utf8 = text.to_str()?;
        encoder::write_string(self.out.buf, utf8.as_bytes(), self.settings.size_limit)
            .map_err(|error| banana_error(cx.py(), error.to_string()))
    }

    fn single(&mut self, cx: &Cx<'_, 'py>, tag: &Py<PyBytes>) -> PyResult<()> {
        self.header(cx, 1)?;
        self.write_atom(tag, cx.py())
    }

    fn open(
        &mut self,
        cx: &Cx<'_, 'py>,
        tag: Bound<'py, PyAny>,
        items: usize,
    ) -> PyResult<Counted> {
        self.header(cx, items + 1)?;
        self.scalar(cx, &tag)?;
        Ok(Counted {
            announced: items,
            written: 0,
        })
    }

    fn open_item(&mut self, cx: &Cx<'_, 'py>) -> PyResult<()> {
        self.header(cx, 2)
    }

    fn close_item(&mut self, _cx: &Cx<'_, 'py>, _key: (), _value: ()) -> PyResult<()> {
        Ok(())
    }

    fn push(&mut self, seq: &mut Counted, _item: ()) {
        seq.written += 1;
    }

    fn close(&mut self, _cx: &Cx<'_, 'py>, seq: Counted) -> PyResult<()> {
        if seq.written != seq.announced {
            return Err(pyo3::exceptions::PyRuntimeError::new_err(
                "a container changed size while it was being jellied",
            ));
        }
        Ok(())
    }

    fn dereference(&mut self, cx: &Cx<'_, 'py>, list: Bound<'py, PyList>) -> PyResult<()> {
        self.header(cx, 2)?;
        self.write_atom(&cx.refs.atoms.dereference, cx.py())?;
        self.scalar(cx, &list.get_item(1)?)
    }

    fn sexp(&mut self, _cx: &Cx<'_, 'py>, sexp: Bound<'py, PyAny>) -> PyResult<()> {
        self.write(&sexp)
    }

    fn finish_object(
        &mut self,
        _cx: &Cx<'_, 'py>,
        _object: &Bound<'py, PyAny>,
        _out: (),
    ) -> PyResult<()> {
        // Its start offset was noted when it was opened; a reference to it
        // is spliced there at assembly.
        Ok(())
    }
}

/// Banana bytes for `obj`: `banana.encode(jelly(obj, ...))` without the
/// s-expression in between.
pub fn dumps<'py>(
    slf: &Bound<'py, Jellier>,
    obj: &Bound<'py, PyAny>,
    settings: EncodeSettings<'_>,
) -> PyResult<Bound<'py, PyBytes>> {
    let py = slf.py();
    let _pause = crate::python::gc::GcPause::new(py);
    let me = slf.borrow();
    let cx = Cx {
        slf,
        me: &me,
        refs: Refs::get(py)?,
    };
    *me.list_owners.borrow_mut() = Some(ByAddress::default());
    me.splices.borrow_mut().clear();
    let vocabulary = settings.vocabulary;
    let result = banana::with_output_buffer(|buf| {
        let watch = |list: *mut ffi::PyObject, offset: usize| me.list_written(list, offset);
        let mut out = Output::new(buf);
        out.watch_lists(&watch);
        let mut sink = BytesSink::new(&mut out, settings);
        jelly(&cx, &mut sink, obj)?;
        let mut header = Vec::with_capacity(banana::HEADER_BYTES);
        for (offset, id) in me.splices.borrow().iter() {
            header.clear();
            encoder::write_list_header(&mut header, 3);
            match vocabulary.and_then(|v| v.lookup(b"reference")) {
                Some(symbol) => encoder::write_vocab(&mut header, symbol),
                None => {
                    encoder::write_string(&mut header, b"reference", u64::MAX).expect("no limit")
                }
            }
            encoder::write_i64(&mut header, *id, usize::MAX).expect("no limit");
            out.splice_header(*offset, &header);
        }
        out.finish(py)
    });
    *me.list_owners.borrow_mut() = None;
    result
}

/// The s-expression for `obj`: Twisted's `_Jellier.jelly`.
fn jelly<'py, S: Sink<'py>>(
    cx: &Cx<'_, 'py>,
    sink: &mut S,
    obj: &Bound<'py, PyAny>,
) -> PyResult<S::Out> {
    let py = cx.py();
    let refs = cx.refs;
    let ty_ptr = obj.get_type_ptr();

    // Exact built-in types cannot be Jellyable, and with a stock taster
    // every type name is allowed: straight to their encodings.
    if cx.me.policy.allows_all_type_names() {
        if ty_ptr == &raw mut ffi::PyBytes_Type
            || ty_ptr == &raw mut ffi::PyLong_Type
            || ty_ptr == &raw mut ffi::PyFloat_Type
        {
            return sink.scalar(cx, obj);
        }
        if ty_ptr == &raw mut ffi::PyUnicode_Type {
            return jelly_str(cx, sink, obj);
        }
        if ty_ptr == &raw mut ffi::PyList_Type
            || ty_ptr == &raw mut ffi::PyDict_Type
            || ty_ptr == &raw mut ffi::PyTuple_Type
            || ty_ptr == &raw mut ffi::PySet_Type
            || ty_ptr == &raw mut ffi::PyFrozenSet_Type
        {
            return jelly_mutable(cx, sink, obj);
        }
        if obj.is_none() {
            return sink.single(cx, &refs.atoms.none);
        }
        if ty_ptr == &raw mut ffi::PyBool_Type {
            return jelly_bool(cx, sink, obj);
        }
        // The date and time types and Decimal, exactly: none of the checks
        // before them in the general order below can match them.
        if let Some(result) = jelly_value_type(cx, sink, obj)? {
            return Ok(result);
        }
    }

    let me = cx.me;
    if obj.is_instance(refs.jellyable.bind(py))? {
        if let Some(dereference) = me.reference_to(obj)? {
            return sink.dereference(cx, dereference);
        }
        let Some(_level) = Depth::enter(&me.depth, me.max_depth) else {
            return Err(too_deep(py, refs, me.max_depth));
        };
        let sexp = obj.call_method1(pyo3::intern!(py, "jellyFor"), (cx.slf,))?;
        return sink.sexp(cx, sexp);
    }
    let ty = obj.get_type();
    if !me.policy.allows_all_type_names() {
        let name = PyBytes::new(py, qual(ty.as_any())?.as_bytes());
        if !me.policy.type_allowed(name.as_any(), &name)? {
            return Err(refs.insecure(
                py,
                format!("Type not allowed for object: {} {}", ty.str()?, obj.str()?),
            ));
        }
    }
    if ty.is(py.get_type::<PyBytes>())
        || ty.is(py.get_type::<PyInt>())
        || ty.is(py.get_type::<PyFloat>())
    {
        return sink.scalar(cx, obj);
    }
    if obj.is_instance(refs.method_type.bind(py))? {
        let function = obj.getattr("__func__")?;
        let owner = obj.getattr("__self__")?;
        let class = owner.getattr("__class__")?;
        let mut seq = sink.open(cx, cx.atom(&refs.atoms.method), 3)?;
        let name = sink.sexp(cx, function.getattr("__name__")?)?;
        sink.push(&mut seq, name);
        let owner = jelly(cx, sink, &owner)?;
        sink.push(&mut seq, owner);
        let class = jelly(cx, sink, &class)?;
        sink.push(&mut seq, class);
        return sink.close(cx, seq);
    }
    if ty.is(py.get_type::<PyString>()) {
        return jelly_str(cx, sink, obj);
    }
    if obj.is_none() {
        return sink.single(cx, &refs.atoms.none);
    }
    if obj.is_instance(refs.function_type.bind(py))? {
        let name = format!(
            "{}.{}",
            obj.getattr("__module__")?.str()?,
            obj.getattr("__qualname__")?.str()?
        );
        return sink.pair(
            cx,
            &refs.atoms.function,
            PyString::new(py, &name).into_any(),
        );
    }
    if obj.is_instance(refs.module_type.bind(py))? {
        return sink.pair(cx, &refs.atoms.module, obj.getattr("__name__")?);
    }
    if ty.is(py.get_type::<PyBool>()) {
        return jelly_bool(cx, sink, obj);
    }
    if let Some(result) = jelly_value_type(cx, sink, obj)? {
        return Ok(result);
    }
    if ty.is_subclass(&py.get_type::<PyType>())? {
        return sink.pair(
            cx,
            &refs.atoms.class,
            PyBytes::new(py, qual(obj)?.as_bytes()).into_any(),
        );
    }
    jelly_mutable(cx, sink, obj)
}

/// The date and time types and Decimal (exact types), or `None`.
fn jelly_value_type<'py, S: Sink<'py>>(
    cx: &Cx<'_, 'py>,
    sink: &mut S,
    obj: &Bound<'py, PyAny>,
) -> PyResult<Option<S::Out>> {
    let py = cx.py();
    let refs = cx.refs;
    let ty = obj.get_type();
    if ty.is(refs.datetime.bind(py)) {
        let value = obj.cast::<PyDateTime>()?;
        refuse_tzinfo(value.get_tzinfo())?;
        let fields = [
            value.get_year(),
            value.get_month().into(),
            value.get_day().into(),
            value.get_hour().into(),
            value.get_minute().into(),
            value.get_second().into(),
            value.get_microsecond() as i32,
        ];
        return jelly_fields(cx, sink, &refs.atoms.datetime, &fields).map(Some);
    }
    if ty.is(refs.time.bind(py)) {
        let value = obj.cast::<PyTime>()?;
        refuse_tzinfo(value.get_tzinfo())?;
        let fields = [
            value.get_hour().into(),
            value.get_minute().into(),
            value.get_second().into(),
            value.get_microsecond() as i32,
        ];
        return jelly_fields(cx, sink, &refs.atoms.time, &fields).map(Some);
    }
    if ty.is(refs.date.bind(py)) {
        let value = obj.cast::<PyDate>()?;
        let fields = [
            value.get_year(),
            value.get_month().into(),
            value.get_day().into(),
        ];
        return jelly_fields(cx, sink, &refs.atoms.date, &fields).map(Some);
    }
    if ty.is(refs.timedelta.bind(py)) {
        let value = obj.cast::<PyDelta>()?;
        let fields = [
            value.get_days(),
            value.get_seconds(),
            value.get_microseconds(),
        ];
        return jelly_fields(cx, sink, &refs.atoms.timedelta, &fields).map(Some);
    }
    if ty.is(refs.decimal.bind(py)) {
        let sexp = jelly_decimal(cx.slf, obj)?;
        return sink.sexp(cx, sexp).map(Some);
    }
    Ok(None)
}

/// `[tag, b"f1 f2 ..."]`: the date and time types, as decimal fields
/// separated by spaces.
fn jelly_fields<'py, S: Sink<'py>>(
    cx: &Cx<'_, 'py>,
    sink: &mut S,
    tag: &Py<PyBytes>,
    fields: &[i32],
) -> PyResult<S::Out> {
    let text: Vec<String> = fields.iter().map(i32::to_string).collect();
    sink.pair(
        cx,
        tag,
        PyBytes::new(cx.py(), text.join(" ").as_bytes()).into_any(),
    )
}

fn refuse_tzinfo(tzinfo: Option<Bound<'_, pyo3::types::PyTzInfo>>) -> PyResult<()> {
    match tzinfo {
        Some(tzinfo) if tzinfo.is_truthy()? => Err(PyNotImplementedError::new_err(
            "Currently can't jelly datetime objects with tzinfo",
        )),
        _ => Ok(()),
    }
}

fn jelly_str<'py, S: Sink<'py>>(
    cx: &Cx<'_, 'py>,
    sink: &mut S,
    obj: &Bound<'py, PyAny>,
) -> PyResult<S::Out> {
    // SAFETY: `obj` is a str (checked by the caller).
    sink.text(cx, unsafe { obj.cast_unchecked::<PyString>() })
}

fn jelly_bool<'py, S: Sink<'py>>(
    cx: &Cx<'_, 'py>,
    sink: &mut S,
    obj: &Bound<'py, PyAny>,
) -> PyResult<S::Out> {
    let atoms = &cx.refs.atoms;
    let value = if obj.is_truthy()? {
        &atoms.r#true
    } else {
        &atoms.r#false
    };
    sink.pair(cx, &atoms.boolean, cx.atom(value))
}

fn too_deep(py: Python<'_>, refs: &Refs, limit: usize) -> PyErr {
    refs.insecure(
        py,
        format!("object graph nested deeper than {limit} levels"),
    )
}

/// Lists, tuples, dicts, sets, frozensets and instances: the objects that
/// can be shared, so the ones that take part in references.
fn jelly_mutable<'py, S: Sink<'py>>(
    cx: &Cx<'_, 'py>,
    sink: &mut S,
    obj: &Bound<'py, PyAny>,
) -> PyResult<S::Out> {
    let py = cx.py();
    let (me, refs) = (cx.me, cx.refs);
    // An object held only by the container it is being read from (one
    // reference) and by this traversal (the other) cannot be met again:
    // Twisted would never give it an id, so it is not recorded at all.
    // SAFETY: reading the reference count of a live object.
    let unique = unsafe { ffi::Py_REFCNT(obj.as_ptr()) } <= 2;
    if !unique {
        if let Some(dereference) = me.reference_or_start(obj, sink.position())? {
            return sink.dereference(cx, dereference);
        }
    }
    let Some(_level) = Depth::enter(&me.depth, me.max_depth) else {
        return Err(too_deep(py, refs, me.max_depth));
    };
    let ty_ptr = obj.get_type_ptr();
    let out = if ty_ptr == &raw mut ffi::PyList_Type {
        // SAFETY: the type was just checked.
        let list = unsafe { obj.cast_unchecked::<PyList>() };
        let count = list.len();
        let mut seq = sink.open(cx, cx.atom(&refs.atoms.list), count)?;
        // Indexed each time: a hook run meanwhile may change the list.
        let mut index = 0;
        // Bounded by the current length each time (never by a failing
        // get_item: an IndexError per list is not free).
        loop {
            // SAFETY: `list` is an exact list, alive (held by `obj`); the index
            // is checked against its current size just before the read, and
            // the item is turned into a strong reference at once.
            let item = unsafe {
                let size = ffi::PyList_GET_SIZE(list.as_ptr()) as usize;
                if (S::FIXED_LENGTH && index == count) || index >= size {
                    break;
                }
                Bound::from_borrowed_ptr(py, ffi::PyList_GET_ITEM(list.as_ptr(), index as isize))
            };
            let item = jelly(cx, sink, &item)?;
            sink.push(&mut seq, item);
            index += 1;
        }
        sink.close(cx, seq)?
    } else if ty_ptr == &raw mut ffi::PyTuple_Type {
        // SAFETY: the type was just checked.
        let tuple = unsafe { obj.cast_unchecked::<PyTuple>() };
        let mut seq = sink.open(cx, cx.atom(&refs.atoms.tuple), tuple.len())?;
        for item in tuple.iter() {
            let item = jelly(cx, sink, &item)?;
            sink.push(&mut seq, item);
        }
        sink.close(cx, seq)?
    } else if ty_ptr == &raw mut ffi::PyDict_Type {
        // SAFETY: the type was just checked.
        jelly_dict(cx, sink, unsafe { obj.cast_unchecked::<PyDict>() })?
    } else if ty_ptr == &raw mut ffi::PySet_Type || ty_ptr == &raw mut ffi::PyFrozenSet_Type {
        let atom = if ty_ptr == &raw mut ffi::PySet_Type {
            &refs.atoms.set
        } else {
            &refs.atoms.frozenset
        };
        let mut seq = sink.open(cx, cx.atom(atom), obj.len()?)?;
        for item in obj.try_iter()? {
            let item = jelly(cx, sink, &item?)?;
            sink.push(&mut seq, item);
        }
        sink.close(cx, seq)?
    } else {
        jelly_instance(cx, sink, obj)?
    };
    if unique {
        return Ok(out);
    }
    sink.finish_object(cx, obj, out)
}

fn jelly_dict<'py, S: Sink<'py>>(
    cx: &Cx<'_, 'py>,
    sink: &mut S,
    dict: &Bound<'py, PyDict>,
) -> PyResult<S::Out> {
    let py = cx.py();
    let size = dict.len();
    let mut seq = sink.open(cx, cx.atom(&cx.refs.atoms.dictionary), size)?;
    let mut position: ffi::Py_ssize_t = 0;
    loop {
        let mut key: *mut ffi::PyObject = std::ptr::null_mut();
        let mut value: *mut ffi::PyObject = std::ptr::null_mut();
        // SAFETY: PyDict_Next reads the dict's current table and bounds-checks
        // `position`; it returns borrowed references, which are turned into
        // owned ones at once, before any Python code (a hook jellying them)
        // can run and change the dict.
        let (key, value) = unsafe {
            if ffi::PyDict_Next(dict.as_ptr(), &mut position, &mut key, &mut value) == 0 {
                break;
            }
            (
                Bound::from_borrowed_ptr(py, key),
                Bound::from_borrowed_ptr(py, value),
            )
        };
        sink.open_item(cx)?;
        let key = jelly(cx, sink, &key)?;
        let value = jelly(cx, sink, &value)?;
        let item = sink.close_item(cx, key, value)?;
        sink.push(&mut seq, item);
        if dict.len() != size {
            return Err(pyo3::exceptions::PyRuntimeError::new_err(
                "dictionary changed size during iteration",
            ));
        }
    }
    sink.close(cx, seq)
}

/// An instance of any other class: `[b"module.Class", <state>]`, or what the
/// persistent store says, or `unpersistable` if the taster refuses the class.
fn jelly_instance<'py, S: Sink<'py>>(
    cx: &Cx<'_, 'py>,
    sink: &mut S,
    obj: &Bound<'py, PyAny>,
) -> PyResult<S::Out> {
    let py = cx.py();
    let (me, refs) = (cx.me, cx.refs);
    let class = obj.getattr(pyo3::intern!(py, "__class__"))?;
    let class_name = qual(&class)?;
    let store = me.persistent_store.bind(py);
    let persistent = if store.is_truthy()? {
        store.call1((obj, cx.slf))?
    } else {
        py.None().into_bound(py)
    };
    if !persistent.is_none() {
        let mut seq = sink.open(cx, cx.atom(&refs.atoms.persistent), 1)?;
        let persistent = sink.sexp(cx, persistent)?;
        sink.push(&mut seq, persistent);
        return sink.close(cx, seq);
    }
    if me.policy.class_allowed(&class)? {
        let state = match obj.getattr_opt(pyo3::intern!(py, "__getstate__"))? {
            Some(getstate) => getstate.call0()?,
            None => obj.getattr(pyo3::intern!(py, "__dict__"))?,
        };
        let mut seq = sink.open(cx, PyBytes::new(py, class_name.as_bytes()).into_any(), 1)?;
        let state = jelly(cx, sink, &state)?;
        sink.push(&mut seq, state);
        return sink.close(cx, seq);
    }
    let reason = PyString::new(
        py,
        &format!("instance of class {class_name} deemed insecure"),
    );
    let sexp = unpersistable(py, reason.as_any(), Some(PyList::empty(py)))?;
    sink.sexp(cx, sexp.into_any())
}
