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
//! looked at every time, unless CPython can tell that its dict has not
//! changed since they were (see [`found_absent`]).

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyString, PyType};

use super::found_absent;
use crate::jelly::hooks::type_lookup;
use crate::pybanana::instance::{assigns_as_object, instance_dict, looks_up_as_object};
use crate::pybanana::watched::{lock, Cache};

/// A stretch of the broker's code the native path stands in for.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Path {
    /// A method call received, up to the method's call.
    Call = 0,
    /// An answer received.
    Answer = 1,
    /// A call sent.
    Send = 2,
    /// Bytes received: the receiving loop's own reads.
    Receive = 3,
    /// A method call answered, once the method has run.
    Reply = 4,
}

impl Path {
    const ALL: [Path; 5] = [
        Path::Call,
        Path::Answer,
        Path::Send,
        Path::Receive,
        Path::Reply,
    ];

    /// Its key in `pbfast.pb._NATIVE_PATHS`.
    fn key(self) -> &'static str {
        match self {
            Path::Call => "call",
            Path::Answer => "answer",
            Path::Send => "send",
            Path::Receive => "receive",
            Path::Reply => "reply",
        }
    }
}

/// The methods each path goes through, and what each must be.
struct Expected {
    /// Each path's, in [`Path`] order.
    paths: [Vec<(Py<PyString>, Py<PyAny>)>; 5],
}

fn expected(py: Python<'_>) -> PyResult<&'static Expected> {
    static EXPECTED: PyOnceLock<Expected> = PyOnceLock::new();
    EXPECTED.get_or_try_init(py, || {
        let pb = py.import("pbfast.pb")?;
        let table = pb.getattr("_FAST_PATH_EXPECTED")?.cast_into::<PyDict>()?;
        let entry = |name: Bound<'_, PyAny>| -> PyResult<(Py<PyString>, Py<PyAny>)> {
            let name = PyString::intern(py, name.cast_into::<PyString>()?.to_str()?);
            let method = table
                .get_item(&name)?
                .ok_or_else(|| pyo3::exceptions::PyKeyError::new_err(name.clone().unbind()))?;
            Ok((name.unbind(), method.unbind()))
        };
        let paths = pb.getattr("_NATIVE_PATHS")?;
        let names = |path: Path| -> PyResult<Vec<(Py<PyString>, Py<PyAny>)>> {
            paths
                .get_item(path.key())?
                .try_iter()?
                .map(|name| entry(name?))
                .collect()
        };
        Ok(Expected {
            paths: [
                names(Path::Call)?,
                names(Path::Answer)?,
                names(Path::Send)?,
                names(Path::Receive)?,
                names(Path::Reply)?,
            ],
        })
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

/// How many classes' answers are kept.
const KEPT_CLASSES: usize = 16;

/// Classes already looked at, most recent first: their address, the path,
/// their version tag then, and whether they keep every method of the path.
static CLASSES: Cache<Vec<(usize, Path, u32, bool)>> = Cache::new(Vec::new());

/// True if `broker` keeps every method `path` goes through, with nothing
/// of those names on the instance; its class looks attributes up as
/// `object` does (else what a lookup gives cannot be told without making
/// it), and assigns them so, with nothing of the names in [`ASSIGNED`] (so
/// that assigning those is writing the instance dict).
pub(crate) fn keeps_stock_methods(broker: &Bound<'_, PyAny>, path: Path) -> PyResult<bool> {
    let py = broker.py();
    let methods = &expected(py)?.paths[path as usize];
    let class = broker.get_type();
    if !class_keeps(&class, path, methods)? {
        return Ok(false);
    }
    // No instance dict: no attribute of its own.
    let Some(dict) = instance_dict(broker)? else {
        return Ok(true);
    };
    let bit = 1 << (path as u8);
    let known = found_absent::known(&dict);
    if known.absent & bit != 0 {
        return Ok(true);
    }
    for (name, _) in methods {
        // SAFETY: a live dict and key; -1 is an error, set.
        match unsafe { ffi::PyDict_Contains(dict.as_ptr(), name.as_ptr()) } {
            0 => {}
            1 => return Ok(false),
            _ => return Err(PyErr::fetch(py)),
        }
    }
    found_absent::found(&dict, known.tag, bit, 0);
    Ok(true)
}

/// True if `broker` keeps every method the native path stands in for.
pub(crate) fn keeps_all_stock_methods(broker: &Bound<'_, PyAny>) -> PyResult<bool> {
    for path in Path::ALL {
        if !keeps_stock_methods(broker, path)? {
            return Ok(false);
        }
    }
    Ok(true)
}

fn class_keeps(
    class: &Bound<'_, PyType>,
    path: Path,
    methods: &[(Py<PyString>, Py<PyAny>)],
) -> PyResult<bool> {
    let py = class.py();
    let address = class.as_ptr() as usize;
    let version = version_tag(class);
    if version != 0 {
        let kept = lock(py, &CLASSES);
        let found = kept
            .iter()
            .find(|&&(known, known_path, _, _)| known == address && known_path == path);
        if let Some(&(_, _, known_version, keeps)) = found {
            if known_version == version {
                return Ok(keeps);
            }
        }
    }
    let keeps = looks_up_as_object(class)
        && assigns_as_object(class)
        && methods.iter().all(|(name, method)| {
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
        let mut kept = lock(py, &CLASSES);
        kept.retain(|&(known, known_path, _, _)| !(known == address && known_path == path));
        kept.insert(0, (address, path, version, keeps));
        kept.truncate(KEPT_CLASSES);
    }
    Ok(keeps)
}

/// The class's version tag: 0 while it has none valid.
pub(crate) fn version_tag(class: &Bound<'_, PyType>) -> u32 {
    // SAFETY: reading fields of a live type object under the GIL (the
    // flags through `PyType_GetFlags`, which reads them as every build keeps
    // them, atomically where the GIL is disabled).
    unsafe {
        let ty = class.as_type_ptr();
        if ffi::PyType_GetFlags(ty) & ffi::Py_TPFLAGS_VALID_VERSION_TAG == 0 {
            return 0;
        }
        (*ty).tp_version_tag
    }
}
