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
        let refs = Refs::get(py)?;
        Ok(Jellier {
            policy: Taster::new(&taster, refs),
            taster: taster.unbind(),
            persistent_store: persistentStore.unwrap_or_else(|| py.None()),
            invoker: invoker.unwrap_or_else(|| py.None()),
            seen: RefCell::new(ByAddress::default()),
            encoded: RefCell::new(ByAddress::default()),
            next_id: Cell::new(1),
            depth: Cell::new(0),
            max_depth,
        })
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
        jelly(&cx, obj)
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

    /// Give `object` a reference id now (it has been met again).
    fn _cook<'py>(
        slf: &Bound<'py, Self>,
        object: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyList>> {
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

impl Jellier {
    fn start(&self, object: &Bound<'_, PyAny>) {
        self.seen.borrow_mut().insert(
            key(object),
            Seen {
                _object: object.clone().unbind(),
                preserved: None,
                dereference: None,
            },
        );
    }

    fn record<'py>(
        &self,
        object: &Bound<'py, PyAny>,
        sexp: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let py = object.py();
        let mut seen = self.seen.borrow_mut();
        let entry = seen.entry(key(object)).or_insert_with(|| Seen {
            _object: object.clone().unbind(),
            preserved: None,
            dereference: None,
        });
        if entry.dereference.is_some() {
            // Cooked while being built: the placeholder is what was embedded
            // where the object first occurs, and it gets the s-expression.
            let placeholder = entry
                .preserved
                .as_ref()
                .expect("a cooked object has a list")
                .bind(py);
            placeholder.set_item(2, sexp)?;
            return Ok(placeholder.clone());
        }
        entry.preserved = Some(sexp.clone().unbind());
        Ok(sexp.clone())
    }

    /// Twisted's `_cook`: the object's list becomes `[reference, id, <copy of
    /// what it held>]` in place, and later occurrences get the dereference.
    fn cook_object<'py>(&self, object: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyList>> {
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
        let list = match &entry.preserved {
            Some(list) => {
                let list = list.bind(py).cast::<PyList>()?;
                let copy = list.get_slice(0, list.len());
                let rewritten = [
                    reference.as_any().clone(),
                    id.into_pyobject(py)?.into_any(),
                    copy.into_any(),
                ];
                list.set_slice(0, list.len(), PyList::new(py, rewritten)?.as_any())?;
                list.clone()
            }
            None => {
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
                placeholder
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
    /// it as being built. One map lookup in the common case.
    fn reference_or_start<'py>(
        &self,
        object: &Bound<'py, PyAny>,
    ) -> PyResult<Option<Bound<'py, PyList>>> {
        {
            let mut seen = self.seen.borrow_mut();
            match seen.entry(key(object)) {
                std::collections::hash_map::Entry::Vacant(vacant) => {
                    vacant.insert(Seen {
                        _object: object.clone().unbind(),
                        preserved: None,
                        dereference: None,
                    });
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

fn jelly_decimal<'py>(
    slf: &Bound<'py, Jellier>,
    d: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    // Decimals are rare in PB traffic; Twisted's own method (which uses
    // nothing of its jellier) gives its exact results, special values
    // included.
    let refs = Refs::get(slf.py())?;
    refs.twisted_jellier
        .bind(slf.py())
        .getattr("jelly_decimal")?
        .call1((slf, d))
}

/// One traversal's view of its jellier, borrowed once at the top.
struct Cx<'a, 'py> {
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

    /// `[tag, value]`: the most common list in any s-expression, built
    /// directly.
    fn pair(&self, tag: &Py<PyBytes>, value: Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        // SAFETY: PyList_New(2) returns a list with two empty slots (or NULL
        // with an exception set, which from_owned_ptr_or_err turns into an
        // error); each slot is filled once with a new strong reference whose
        // ownership moves into the list.
        unsafe {
            let list = Bound::from_owned_ptr_or_err(self.py(), ffi::PyList_New(2))?;
            ffi::PyList_SET_ITEM(list.as_ptr(), 0, tag.clone_ref(self.py()).into_ptr());
            ffi::PyList_SET_ITEM(list.as_ptr(), 1, value.into_ptr());
            Ok(list)
        }
    }
}

fn new_list<'py>(py: Python<'py>, items: Vec<Bound<'py, PyAny>>) -> PyResult<Bound<'py, PyAny>> {
    // SAFETY: PyList_New(n) returns a list with n empty slots (or NULL with
    // an exception set, turned into an error); each slot is filled once,
    // moving one strong reference into the list.
    unsafe {
        let list =
            Bound::from_owned_ptr_or_err(py, ffi::PyList_New(items.len() as ffi::Py_ssize_t))?;
        for (index, item) in items.into_iter().enumerate() {
            ffi::PyList_SET_ITEM(list.as_ptr(), index as ffi::Py_ssize_t, item.into_ptr());
        }
        Ok(list)
    }
}

/// The s-expression for `obj`: Twisted's `_Jellier.jelly`.
fn jelly<'py>(cx: &Cx<'_, 'py>, obj: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
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
            return Ok(obj.clone());
        }
        if ty_ptr == &raw mut ffi::PyUnicode_Type {
            return jelly_str(cx, obj);
        }
        if ty_ptr == &raw mut ffi::PyList_Type
            || ty_ptr == &raw mut ffi::PyDict_Type
            || ty_ptr == &raw mut ffi::PyTuple_Type
        {
            return jelly_mutable(cx, obj);
        }
        if obj.is_none() {
            return Ok(PyList::new(py, [cx.atom(&refs.atoms.none)])?.into_any());
        }
        if ty_ptr == &raw mut ffi::PyBool_Type {
            return jelly_bool(cx, obj);
        }
    }

    let me = cx.me;
    if obj.is_instance(refs.jellyable.bind(py))? {
        if let Some(dereference) = me.reference_to(obj)? {
            return Ok(dereference.into_any());
        }
        let Some(_level) = Depth::enter(&me.depth, me.max_depth) else {
            return Err(too_deep(py, refs, me.max_depth));
        };
        return obj.call_method1(pyo3::intern!(py, "jellyFor"), (cx.slf,));
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
        return Ok(obj.clone());
    }
    if obj.is_instance(refs.method_type.bind(py))? {
        let function = obj.getattr("__func__")?;
        let owner = obj.getattr("__self__")?;
        let class = owner.getattr("__class__")?;
        let items = [
            cx.atom(&refs.atoms.method),
            function.getattr("__name__")?,
            jelly(cx, &owner)?,
            jelly(cx, &class)?,
        ];
        return Ok(PyList::new(py, items)?.into_any());
    }
    if ty.is(py.get_type::<PyString>()) {
        return jelly_str(cx, obj);
    }
    if obj.is_none() {
        return Ok(PyList::new(py, [cx.atom(&refs.atoms.none)])?.into_any());
    }
    if obj.is_instance(refs.function_type.bind(py))? {
        let name = format!(
            "{}.{}",
            obj.getattr("__module__")?.str()?,
            obj.getattr("__qualname__")?.str()?
        );
        return cx.pair(&refs.atoms.function, PyString::new(py, &name).into_any());
    }
    if obj.is_instance(refs.module_type.bind(py))? {
        return cx.pair(&refs.atoms.module, obj.getattr("__name__")?);
    }
    if ty.is(py.get_type::<PyBool>()) {
        return jelly_bool(cx, obj);
    }
    if ty.is(refs.datetime.bind(py)) {
        let value = obj.cast::<PyDateTime>()?;
        refuse_tzinfo(value.get_tzinfo())?;
        let text = format!(
            "{} {} {} {} {} {} {}",
            value.get_year(),
            value.get_month(),
            value.get_day(),
            value.get_hour(),
            value.get_minute(),
            value.get_second(),
            value.get_microsecond()
        );
        return cx.pair(
            &refs.atoms.datetime,
            PyBytes::new(py, text.as_bytes()).into_any(),
        );
    }
    if ty.is(refs.time.bind(py)) {
        let value = obj.cast::<PyTime>()?;
        refuse_tzinfo(value.get_tzinfo())?;
        let text = format!(
            "{} {} {} {}",
            value.get_hour(),
            value.get_minute(),
            value.get_second(),
            value.get_microsecond()
        );
        return cx.pair(
            &refs.atoms.time,
            PyBytes::new(py, text.as_bytes()).into_any(),
        );
    }
    if ty.is(refs.date.bind(py)) {
        let value = obj.cast::<PyDate>()?;
        let text = format!(
            "{} {} {}",
            value.get_year(),
            value.get_month(),
            value.get_day()
        );
        return cx.pair(
            &refs.atoms.date,
            PyBytes::new(py, text.as_bytes()).into_any(),
        );
    }
    if ty.is(refs.timedelta.bind(py)) {
        let value = obj.cast::<PyDelta>()?;
        let text = format!(
            "{} {} {}",
            value.get_days(),
            value.get_seconds(),
            value.get_microseconds()
        );
        return cx.pair(
            &refs.atoms.timedelta,
            PyBytes::new(py, text.as_bytes()).into_any(),
        );
    }
    if ty.is_subclass(&py.get_type::<PyType>())? {
        return cx.pair(
            &refs.atoms.class,
            PyBytes::new(py, qual(obj)?.as_bytes()).into_any(),
        );
    }
    if ty.is(refs.decimal.bind(py)) {
        return jelly_decimal(cx.slf, obj);
    }
    jelly_mutable(cx, obj)
}

fn refuse_tzinfo(tzinfo: Option<Bound<'_, pyo3::types::PyTzInfo>>) -> PyResult<()> {
    match tzinfo {
        Some(tzinfo) if tzinfo.is_truthy()? => Err(PyNotImplementedError::new_err(
            "Currently can't jelly datetime objects with tzinfo",
        )),
        _ => Ok(()),
    }
}

fn jelly_str<'py>(cx: &Cx<'_, 'py>, obj: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    // str.encode("UTF-8"), strict: a lone surrogate fails, as in Twisted.
    // SAFETY: `obj` is a str (checked by the caller).
    let encoded = cx.me.utf8(unsafe { obj.cast_unchecked::<PyString>() })?;
    cx.pair(&cx.refs.atoms.unicode, encoded.into_any())
}

fn jelly_bool<'py>(cx: &Cx<'_, 'py>, obj: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    let atoms = &cx.refs.atoms;
    let value = if obj.is_truthy()? {
        &atoms.r#true
    } else {
        &atoms.r#false
    };
    cx.pair(&atoms.boolean, cx.atom(value))
}

fn too_deep(py: Python<'_>, refs: &Refs, limit: usize) -> PyErr {
    refs.insecure(
        py,
        format!("object graph nested deeper than {limit} levels"),
    )
}

/// Lists, tuples, dicts, sets, frozensets and instances: the objects that
/// can be shared, so the ones that take part in references.
fn jelly_mutable<'py>(cx: &Cx<'_, 'py>, obj: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    let py = cx.py();
    let (me, refs) = (cx.me, cx.refs);
    if let Some(dereference) = me.reference_or_start(obj)? {
        return Ok(dereference.into_any());
    }
    let Some(_level) = Depth::enter(&me.depth, me.max_depth) else {
        return Err(too_deep(py, refs, me.max_depth));
    };
    let ty_ptr = obj.get_type_ptr();
    let sexp: Bound<'py, PyAny> = if ty_ptr == &raw mut ffi::PyList_Type {
        // SAFETY: the type was just checked.
        let list = unsafe { obj.cast_unchecked::<PyList>() };
        let mut items = Vec::with_capacity(list.len() + 1);
        items.push(cx.atom(&refs.atoms.list));
        // Indexed each time: a hook run meanwhile may change the list, and
        // iteration stops at its current end, as Python's would.
        let mut index = 0;
        while let Ok(item) = list.get_item(index) {
            items.push(jelly(cx, &item)?);
            index += 1;
        }
        new_list(py, items)?
    } else if ty_ptr == &raw mut ffi::PyTuple_Type {
        // SAFETY: the type was just checked.
        let tuple = unsafe { obj.cast_unchecked::<PyTuple>() };
        let mut items = Vec::with_capacity(tuple.len() + 1);
        items.push(cx.atom(&refs.atoms.tuple));
        for item in tuple.iter() {
            items.push(jelly(cx, &item)?);
        }
        new_list(py, items)?
    } else if ty_ptr == &raw mut ffi::PyDict_Type {
        // SAFETY: the type was just checked.
        jelly_dict(cx, unsafe { obj.cast_unchecked::<PyDict>() })?
    } else if ty_ptr == &raw mut ffi::PySet_Type || ty_ptr == &raw mut ffi::PyFrozenSet_Type {
        let atom = if ty_ptr == &raw mut ffi::PySet_Type {
            &refs.atoms.set
        } else {
            &refs.atoms.frozenset
        };
        let mut items = vec![cx.atom(atom)];
        for item in obj.try_iter()? {
            items.push(jelly(cx, &item?)?);
        }
        new_list(py, items)?
    } else {
        jelly_instance(cx, obj)?.into_any()
    };
    me.record(obj, &sexp)
}

fn jelly_dict<'py>(cx: &Cx<'_, 'py>, dict: &Bound<'py, PyDict>) -> PyResult<Bound<'py, PyAny>> {
    let py = cx.py();
    let mut items = Vec::with_capacity(dict.len() + 1);
    items.push(cx.atom(&cx.refs.atoms.dictionary));
    let size = dict.len();
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
        let pair = [jelly(cx, &key)?, jelly(cx, &value)?];
        items.push(PyList::new(py, pair)?.into_any());
        if dict.len() != size {
            return Err(pyo3::exceptions::PyRuntimeError::new_err(
                "dictionary changed size during iteration",
            ));
        }
    }
    new_list(py, items)
}

/// An instance of any other class: `[b"module.Class", <state>]`, or what the
/// persistent store says, or `unpersistable` if the taster refuses the class.
fn jelly_instance<'py>(cx: &Cx<'_, 'py>, obj: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyList>> {
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
        return PyList::new(py, [cx.atom(&refs.atoms.persistent), persistent]);
    }
    if me.policy.class_allowed(&class)? {
        let state = match obj.getattr_opt(pyo3::intern!(py, "__getstate__"))? {
            Some(getstate) => getstate.call0()?,
            None => obj.getattr(pyo3::intern!(py, "__dict__"))?,
        };
        let state = jelly(cx, &state)?;
        return PyList::new(
            py,
            [PyBytes::new(py, class_name.as_bytes()).into_any(), state],
        );
    }
    let reason = PyString::new(
        py,
        &format!("instance of class {class_name} deemed insecure"),
    );
    unpersistable(py, reason.as_any(), Some(PyList::empty(py)))
}
