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
    references: Py<PyDict>,
    /// `postUnjelly` methods to call once the whole graph exists.
    #[pyo3(get, name = "postCallbacks")]
    post_callbacks: Py<PyList>,
    policy: Taster,
    depth: Cell<usize>,
    max_depth: usize,
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
        let callbacks = slf
            .borrow()
            .post_callbacks
            .clone_ref(slf.py())
            .into_bound(slf.py());
        let mut index = 0;
        while let Ok(callback) = callbacks.get_item(index) {
            callback.call0()?;
            index += 1;
        }
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
            value.call_method1("addDependant", (obj, loc))?;
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
            depth: Cell::new(0),
            max_depth,
        })
    }
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
fn is_not_known(value: &Bound<'_, PyAny>, refs: &Refs) -> PyResult<bool> {
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
            .map(|tag| tag.repr().map(|r| r.to_string()));
        let tag = match tag {
            Ok(Ok(tag)) => tag,
            _ => "?".to_string(),
        };
        refs.insecure(
            expression.py(),
            format!(
                "jelly expression {tag} has {} items, needs at least {}",
                expression.len(),
                index + 1
            ),
        )
    })
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
        return Err(refs.insecure(
            py,
            format!("jelly nested deeper than {} levels", me.max_depth),
        ));
    };
    let tag = item(expression, 0, refs)?;
    let tag_bytes = if let Ok(bytes) = tag.cast::<PyBytes>() {
        bytes.clone()
    } else if let Ok(text) = tag.cast::<PyString>() {
        // Twisted's tasters and tag lookup accept a str tag as its UTF-8.
        PyBytes::new(py, text.to_str()?.as_bytes())
    } else {
        return Err(refs.insecure(py, format!("jelly type must be bytes, not {}", tag.repr()?)));
    };
    if !me.policy.type_allowed(&tag, &tag_bytes)? {
        return Err(refs.insecure_object(&tag));
    }
    if let Some(class) = refs.unjellyable_registry.bind(py).get_item(&tag)? {
        // Every registered class's encoding has its state after the tag;
        // hooks index it without checking.
        item(expression, 1, refs)?;
        let blank = refs.create_blank.bind(py).call1((&class,))?;
        let method = blank
            .getattr_opt(pyo3::intern!(py, "unjellyFor"))?
            .unwrap_or(class);
        let result = method.call1((slf, expression))?;
        return maybe_post_unjelly(slf, result);
    }
    if let Some(factory) = refs.factory_registry.bind(py).get_item(&tag)? {
        let state = unjelly(slf, &item(expression, 1, refs)?)?;
        return maybe_post_unjelly(slf, factory.call1((state,))?);
    }
    let name = tag_bytes.as_bytes();
    if !name.is_ascii() {
        return Err(refs.insecure(py, format!("jelly type {} is not ASCII", tag.repr()?)));
    }
    match name {
        b"None" => Ok(py.None().into_bound(py)),
        b"unicode" => {
            let data = item(expression, 1, refs)?;
            let Ok(data) = data.cast::<PyBytes>() else {
                return Err(refs.insecure(py, "unicode expression must hold bytes"));
            };
            Ok(PyString::from_bytes(py, data.as_bytes())?.into_any())
        }
        b"boolean" => match item(expression, 1, refs)?
            .cast::<PyBytes>()
            .map(|b| b.as_bytes())
        {
            Ok(b"true") => Ok(pyo3::types::PyBool::new(py, true).to_owned().into_any()),
            Ok(b"false") => Ok(pyo3::types::PyBool::new(py, false).to_owned().into_any()),
            _ => Err(refs.insecure(py, "boolean expression must hold b'true' or b'false'")),
        },
        b"list" | b"tuple" | b"set" | b"frozenset" => unjelly_sequence(slf, expression, name, refs),
        b"dictionary" => unjelly_dictionary(slf, expression, refs),
        b"reference" => unjelly_reference(slf, expression, refs),
        b"dereference" => unjelly_dereference(slf, expression, refs),
        b"datetime" => {
            let fields = integer_fields(expression, refs)?;
            refs.datetime.bind(py).call1(PyTuple::new(py, fields)?)
        }
        b"date" => {
            let fields = integer_fields(expression, refs)?;
            refs.date.bind(py).call1(PyTuple::new(py, fields)?)
        }
        b"time" => {
            let fields = integer_fields(expression, refs)?;
            refs.time.bind(py).call1(PyTuple::new(py, fields)?)
        }
        b"timedelta" => {
            let fields = integer_fields(expression, refs)?;
            if fields.len() != 3 {
                return Err(refs.insecure(py, "timedelta expression must hold 3 fields"));
            }
            refs.timedelta.bind(py).call1(PyTuple::new(py, fields)?)
        }
        b"decimal" => delegate(slf, expression, "decimal", 2, refs),
        b"module" => delegate(slf, expression, "module", 1, refs),
        b"class" => delegate(slf, expression, "class", 1, refs),
        b"function" => delegate(slf, expression, "function", 1, refs),
        b"persistent" => delegate(slf, expression, "persistent", 1, refs),
        b"instance" => delegate(slf, expression, "instance", 2, refs),
        b"unpersistable" => delegate(slf, expression, "unpersistable", 1, refs),
        b"method" => delegate(slf, expression, "method", 3, refs),
        _ => unjelly_instance(slf, expression, &tag, refs),
    }
}

/// Tags that are rare in traffic and need Python's import machinery or
/// warnings anyway are handled by Twisted's own methods, given this
/// unjellier (they use only its public methods and attributes).
fn delegate<'py>(
    slf: &Bound<'py, Unjellier>,
    expression: &Bound<'py, PyList>,
    name: &str,
    arity: usize,
    refs: &Refs,
) -> PyResult<Bound<'py, PyAny>> {
    let py = slf.py();
    item(expression, arity, refs)?;
    let rest = expression.get_slice(1, expression.len());
    let method = refs
        .twisted_unjellier
        .bind(py)
        .getattr(format!("_unjelly_{name}").as_str())?;
    method.call1((slf, rest))
}

/// An instance of a class named by the tag: the taster must allow its module
/// and the class.
fn unjelly_instance<'py>(
    slf: &Bound<'py, Unjellier>,
    expression: &Bound<'py, PyList>,
    tag: &Bound<'py, PyAny>,
    refs: &Refs,
) -> PyResult<Bound<'py, PyAny>> {
    let py = slf.py();
    let me = slf.borrow();
    let text = match tag.cast::<PyBytes>() {
        Ok(bytes) => String::from_utf8_lossy(bytes.as_bytes()).into_owned(),
        Err(_) => tag.str()?.to_string(),
    };
    let module = text.rsplit_once('.').map_or("", |(module, _)| module);
    if !me.policy.module_allowed(py, module)? {
        return Err(refs.insecure(py, format!("Module {module} not allowed (in type {text}).")));
    }
    let class = refs.named_object.bind(py).call1((&text,))?;
    if !me.policy.class_allowed(&class)? {
        return Err(refs.insecure(py, format!("Class {text} not allowed.")));
    }
    generic_unjelly(slf, &class, &item(expression, 1, refs)?)
}

/// `[b"datetime", b"2024 1 2 3 4 5 6"]` and the like: the integers of the
/// space-separated field, as Python's `int()` reads each.
fn integer_fields<'py>(
    expression: &Bound<'py, PyList>,
    refs: &Refs,
) -> PyResult<Vec<Bound<'py, PyAny>>> {
    let py = expression.py();
    let field = item(expression, 1, refs)?;
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

/// `list`, `tuple`, `set`, `frozenset`. Items are collected natively; the
/// first forward reference makes Twisted's holder list, which it and every
/// later placeholder register with, so that resolving them patches it.
fn unjelly_sequence<'py>(
    slf: &Bound<'py, Unjellier>,
    expression: &Bound<'py, PyList>,
    kind: &[u8],
    refs: &Refs,
) -> PyResult<Bound<'py, PyAny>> {
    let py = slf.py();
    let count = expression.len().saturating_sub(1);
    let mut items: Vec<Bound<'py, PyAny>> = Vec::with_capacity(count);
    let mut holder: Option<Bound<'py, PyList>> = None;
    for index in 0..count {
        let value = unjelly(slf, &item(expression, index + 1, refs)?)?;
        let unknown = is_not_known(&value, refs)?;
        match &holder {
            None if !unknown => {
                items.push(value);
                continue;
            }
            None => {
                // Twisted's holder: the items so far, this one, and the
                // indices standing in for the rest.
                let rest = (index + 1..count).map(|i| i.into_pyobject(py).map(|i| i.into_any()));
                let mut all = std::mem::take(&mut items);
                all.push(value.clone());
                for placeholder in rest {
                    all.push(placeholder?);
                }
                holder = Some(PyList::new(py, all)?);
            }
            Some(list) => list.set_item(index, &value)?,
        }
        if unknown {
            value.call_method1(
                "addDependant",
                (holder.as_ref().expect("made above"), index),
            )?;
        }
    }
    match (kind, holder) {
        (b"list", Some(list)) => Ok(list.into_any()),
        (b"list", None) => Ok(PyList::new(py, items)?.into_any()),
        (b"tuple", Some(list)) => refs.tuple_container.bind(py).call1((list,)),
        (b"tuple", None) => Ok(PyTuple::new(py, items)?.into_any()),
        (b"set", Some(list)) => refs
            .container
            .bind(py)
            .call1((list, refs.set_type.bind(py))),
        (b"set", None) => Ok(PySet::new(py, items)?.into_any()),
        (_, Some(list)) => refs
            .container
            .bind(py)
            .call1((list, refs.frozenset_type.bind(py))),
        (_, None) => Ok(PyFrozenSet::new(py, items)?.into_any()),
    }
}

/// `[b"dictionary", [k, v], ...]`: pairs are stored as they complete; a value
/// that is a forward reference is patched in when it resolves.
fn unjelly_dictionary<'py>(
    slf: &Bound<'py, Unjellier>,
    expression: &Bound<'py, PyList>,
    refs: &Refs,
) -> PyResult<Bound<'py, PyAny>> {
    let py = slf.py();
    let dict = PyDict::new(py);
    for index in 1..expression.len() {
        let pair = item(expression, index, refs)?;
        let (key, value) = match pair.cast_exact::<PyList>() {
            Ok(list) if list.len() == 2 => (list.get_item(0)?, list.get_item(1)?),
            // `for k, v in lst` unpacks any two-item iterable.
            _ => {
                let unpacked = pair
                    .try_iter()
                    .and_then(|items| items.collect::<PyResult<Vec<_>>>())
                    .ok()
                    .filter(|items| items.len() == 2)
                    .ok_or_else(|| {
                        refs.insecure(py, "dictionary items must be [key, value] pairs")
                    })?;
                let mut unpacked = unpacked.into_iter();
                (unpacked.next().expect("two"), unpacked.next().expect("two"))
            }
        };
        let key = unjelly(slf, &key)?;
        if is_not_known(&key, refs)? {
            // A key must be hashed when it is stored; a placeholder cannot be
            // (Twisted fails here with an AssertionError).
            return Err(refs.insecure(py, "a dictionary key cannot be a forward reference"));
        }
        let value = unjelly(slf, &value)?;
        if is_not_known(&value, refs)? {
            // Twisted routes this through a _DictKeyAndValue, which, the key
            // being known, stores the placeholder now and the object when it
            // resolves: registering the dict itself under the key does the
            // same without the go-between.
            value.call_method1(pyo3::intern!(py, "addDependant"), (&dict, &key))?;
        }
        dict.set_item(key, value)?;
    }
    Ok(dict.into_any())
}

fn unjelly_reference<'py>(
    slf: &Bound<'py, Unjellier>,
    expression: &Bound<'py, PyList>,
    refs: &Refs,
) -> PyResult<Bound<'py, PyAny>> {
    let py = slf.py();
    let id = item(expression, 1, refs)?;
    let value = unjelly(slf, &item(expression, 2, refs)?)?;
    let references = slf.borrow().references.clone_ref(py).into_bound(py);
    let known = references
        .get_item(&id)
        .map_err(|_| refs.insecure(py, "reference id must be hashable"))?;
    match known {
        Some(known) if !known.is_none() => {
            if !is_not_known(&known, refs)? {
                return Err(refs.insecure(
                    py,
                    format!("Multiple references with same ID {}", id.repr()?),
                ));
            }
            known.call_method1("resolveDependants", (&value,))?;
        }
        _ => {}
    }
    references.set_item(&id, &value)?;
    Ok(value)
}

fn unjelly_dereference<'py>(
    slf: &Bound<'py, Unjellier>,
    expression: &Bound<'py, PyList>,
    refs: &Refs,
) -> PyResult<Bound<'py, PyAny>> {
    let py = slf.py();
    let id = item(expression, 1, refs)?;
    let references = slf.borrow().references.clone_ref(py).into_bound(py);
    let known = references
        .get_item(&id)
        .map_err(|_| refs.insecure(py, "reference id must be hashable"))?;
    if let Some(known) = known {
        if !known.is_none() {
            return Ok(known);
        }
    }
    let placeholder = refs.dereference.bind(py).call1((&id,))?;
    references.set_item(&id, &placeholder)?;
    Ok(placeholder)
}
