//! Which brokers the native call path may serve: those whose methods on the
//! way of a message are the ones pbfast's broker has (pbfast's own where it
//! has one, else Twisted's), found where Python's attribute lookup finds
//! them, so that doing what those methods do is doing what the broker would.
//!
//! The methods and what each must be come from `pbfast.pb`
//! (`_FAST_PATH_EXPECTED`, made when it is imported, before `install()` can
//! patch Twisted's class). A class's answer is kept with the class's version
//! tag, which CPython changes whenever the class or one of its bases is
//! changed (an attribute set or deleted); an instance's own attributes are
//! looked at every time.

use std::collections::HashMap;
use std::sync::Mutex;

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyString, PyType};

use crate::jelly::hooks::type_lookup;
use crate::pybanana::instance::{assigns_as_object, instance_dict, looks_up_as_object};

/// The methods on the way of a message, and what each must be.
struct Expected {
    methods: Vec<(Py<PyString>, Py<PyAny>)>,
}

fn expected(py: Python<'_>) -> PyResult<&'static Expected> {
    static EXPECTED: PyOnceLock<Expected> = PyOnceLock::new();
    EXPECTED.get_or_try_init(py, || {
        let table = py
            .import("pbfast.pb")?
            .getattr("_FAST_PATH_EXPECTED")?
            .cast_into::<PyDict>()?;
        let mut methods = Vec::with_capacity(table.len());
        for (name, method) in table.iter() {
            let name = name.cast_into::<PyString>()?;
            methods.push((
                PyString::intern(py, name.to_str()?).unbind(),
                method.unbind(),
            ));
        }
        Ok(Expected { methods })
    })
}

/// The broker attributes the native call path assigns, as Twisted's
/// `serialize` and `unserialize` do: a class that keeps the stock methods
/// has nothing of these names, so that assigning them is writing the
/// instance dict.
pub(crate) const ASSIGNED: [&str; 5] = [
    "serializingPerspective",
    "jellyMethod",
    "jellyArgs",
    "jellyKw",
    "unserializingPerspective",
];

/// Classes already looked at: their address, their version tag then, and
/// whether they keep every method.
static CLASSES: Mutex<Option<HashMap<usize, (u32, bool)>>> = Mutex::new(None);

/// True if `broker`'s class keeps every method on the way of a message,
/// with nothing of those names on the instance; the class looks attributes
/// up as `object` does (else what a lookup gives cannot be told without
/// making it), and assigns them so, with nothing of the names in
/// [`ASSIGNED`] (so that assigning those is writing the instance dict).
pub(crate) fn keeps_stock_methods(broker: &Bound<'_, PyAny>) -> PyResult<bool> {
    let py = broker.py();
    let expected = expected(py)?;
    let class = broker.get_type();
    if !class_keeps(&class, expected)? {
        return Ok(false);
    }
    // No instance dict: no attribute of its own.
    let Some(dict) = instance_dict(broker)? else {
        return Ok(true);
    };
    for (name, _) in &expected.methods {
        // SAFETY: a live dict and key; -1 is an error, set.
        match unsafe { ffi::PyDict_Contains(dict.as_ptr(), name.as_ptr()) } {
            0 => {}
            1 => return Ok(false),
            _ => return Err(PyErr::fetch(py)),
        }
    }
    Ok(true)
}

/// True if `broker` keeps the one method `name` (one of those on the way
/// of a message): its class looks attributes up as `object` does and has
/// the method expected there, and the instance has nothing of that name.
/// What lets a caller do what the method does without calling it.
pub(crate) fn keeps_method(
    broker: &Bound<'_, PyAny>,
    name: &Bound<'_, PyString>,
) -> PyResult<bool> {
    let py = broker.py();
    let class = broker.get_type();
    let Some((_, method)) = expected(py)?
        .methods
        .iter()
        // Both interned: the same object for the same name.
        .find(|(known, _)| known.bind(py).is(name))
    else {
        return Ok(false);
    };
    if !looks_up_as_object(&class)
        || !type_lookup(&class, name).is_some_and(|found| found.is(method))
    {
        return Ok(false);
    }
    match instance_dict(broker)? {
        None => Ok(true),
        Some(dict) => Ok(!dict.contains(name)?),
    }
}

fn class_keeps(class: &Bound<'_, PyType>, expected: &Expected) -> PyResult<bool> {
    let py = class.py();
    let address = class.as_ptr() as usize;
    let version = version_tag(class);
    if version != 0 {
        let guard = crate::pybanana::watched::lock(&CLASSES);
        if let Some(&(known, keeps)) = guard.as_ref().and_then(|known| known.get(&address)) {
            if known == version {
                return Ok(keeps);
            }
        }
    }
    let keeps = looks_up_as_object(class)
        && assigns_as_object(class)
        && expected.methods.iter().all(|(name, method)| {
            type_lookup(class, name.bind(py)).is_some_and(|found| found.is(method))
        })
        && ASSIGNED
            .iter()
            .all(|name| type_lookup(class, &PyString::intern(py, name)).is_none());
    // The lookups gave the class a version tag if it had none; a tag is
    // never given twice, so the answer kept is found again only while the
    // class is unchanged. A class that cannot get one (0) is asked again.
    let version = version_tag(class);
    if version != 0 {
        crate::pybanana::watched::lock(&CLASSES)
            .get_or_insert_with(HashMap::new)
            .insert(address, (version, keeps));
    }
    Ok(keeps)
}

/// The class's version tag: 0 while it has none valid.
fn version_tag(class: &Bound<'_, PyType>) -> u32 {
    // SAFETY: reading a field of a live type object under the GIL.
    unsafe {
        let ty = class.as_type_ptr();
        if (*ty).tp_flags & ffi::Py_TPFLAGS_VALID_VERSION_TAG == 0 {
            return 0;
        }
        (*ty).tp_version_tag
    }
}
