//! The jelly half of `pbfast._native`: the methods hooks call on the
//! `Jellier` and `Unjellier` they are handed, and `dumps`/`loads` with their
//! keyword arguments and defaults.

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyDict, PyList, PyModule, PyString};

use super::banana::OutgoingVocabulary;
use crate::banana::decoder::Limits;
use crate::jelly::depth::MAX_JELLY_DEPTH;
use crate::jelly::errors::bad_input;
use crate::jelly::jellying::jellier::{self, Jellier, Skips};
use crate::jelly::jellying::{dumps as fused_dumps, traversal, values};
use crate::jelly::python_objects::PythonObjects;
use crate::jelly::unjellying::unjellier::{self, Unjellier};
use crate::jelly::unjellying::{loads as fused_loads, unjelly};
use crate::pybanana::encode::EncodeSettings;
use crate::pybanana::encoded::Encoded;
use crate::pybanana::gc::GcPause;
use crate::pybanana::watched::{lock, Cache, Watched};

#[pymethods]
impl Jellier {
    #[new]
    #[pyo3(signature = (taster, persistentStore=None, invoker=None, max_jelly_depth=1000))]
    #[allow(non_snake_case)]
    fn new(
        py: Python<'_>,
        taster: Bound<'_, PyAny>,
        persistentStore: Option<Py<PyAny>>,
        invoker: Option<Py<PyAny>>,
        max_jelly_depth: usize,
    ) -> PyResult<Self> {
        // Python holds this one: it can be used again after any Python code.
        Jellier::create(py, taster, persistentStore, invoker, max_jelly_depth, false)
    }

    /// The taster (security policy) it was given.
    #[getter(taster)]
    fn py_taster<'py>(&self, py: Python<'py>) -> Bound<'py, PyAny> {
        self.taster(py)
    }

    /// The `persistentStore` it was given.
    #[getter(persistentStore)]
    fn py_persistent_store<'py>(&self, py: Python<'py>) -> Bound<'py, PyAny> {
        self.persistent_store(py)
    }

    /// The invoker (a broker, or None) it was given.
    #[getter(invoker)]
    fn py_invoker<'py>(&self, py: Python<'py>) -> Bound<'py, PyAny> {
        self.invoker(py)
    }

    /// The s-expression for `obj`.
    fn jelly<'py>(slf: &Bound<'py, Self>, obj: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        // Python code is calling, so it could have run meanwhile (see
        // `Jellier::observe`): no other traversal of this jellier has
        // skipped anything it has not entered already.
        slf.borrow().observe(slf.py(), &mut Skips::new());
        traversal::jelly_to_sexp(slf, obj)
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
        jellier::unpersistable(slf.py(), reason, sxp)
    }

    fn jelly_decimal<'py>(
        slf: &Bound<'py, Self>,
        d: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        values::jelly_decimal(slf, d)
    }
}

#[pymethods]
impl Unjellier {
    #[new]
    #[pyo3(signature = (taster, persistentLoad=None, invoker=None, max_jelly_depth=1000))]
    #[allow(non_snake_case)]
    fn new(
        py: Python<'_>,
        taster: Bound<'_, PyAny>,
        persistentLoad: Option<Py<PyAny>>,
        invoker: Option<Py<PyAny>>,
        max_jelly_depth: usize,
    ) -> PyResult<Self> {
        Unjellier::create(py, taster, persistentLoad, invoker, max_jelly_depth)
    }

    /// The taster (security policy) it was given.
    #[getter(taster)]
    fn py_taster<'py>(&self, py: Python<'py>) -> Bound<'py, PyAny> {
        self.taster(py)
    }

    /// The `persistentLoad` it was given.
    #[getter(persistentLoad)]
    fn py_persistent_load<'py>(&self, py: Python<'py>) -> Bound<'py, PyAny> {
        self.persistent_load(py)
    }

    /// The invoker (a broker, or None) it was given.
    #[getter(invoker)]
    fn py_invoker<'py>(&self, py: Python<'py>) -> Bound<'py, PyAny> {
        self.invoker(py)
    }

    /// The object for `obj`, then every `postUnjelly` hook, in order.
    #[pyo3(name = "unjellyFull")]
    fn unjelly_full<'py>(
        slf: &Bound<'py, Self>,
        obj: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        unjelly::unjelly_full(slf, obj)
    }

    /// The object for the s-expression `obj`.
    fn unjelly<'py>(
        slf: &Bound<'py, Self>,
        obj: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        let refs = PythonObjects::get(py)?;
        let _pause = GcPause::new(py);
        // What the codec itself rejects is typed here too: a hook that
        // unjellies its state passes that on (see `bad_input`).
        unjelly::unjelly(slf, obj).map_err(|error| bad_input(py, refs, error))
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
        unjelly::unjelly_into(slf, obj, loc, jel)
    }

    /// Reference id to object (or to its placeholder, until resolved).
    #[getter(references)]
    fn py_references<'py>(&self, py: Python<'py>) -> Bound<'py, PyDict> {
        self.references(py).clone()
    }

    /// The `postUnjelly` methods to call once the whole graph exists.
    #[getter(postCallbacks)]
    fn py_post_callbacks<'py>(&self, py: Python<'py>) -> Bound<'py, PyList> {
        self.post_callbacks(py).clone()
    }

    #[pyo3(name = "_maybePostUnjelly")]
    fn maybe_post_unjelly<'py>(
        slf: &Bound<'py, Self>,
        unjellied: Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        unjellier::maybe_post_unjelly(slf, unjellied)
    }

    #[pyo3(name = "_genericUnjelly")]
    fn generic_unjelly<'py>(
        slf: &Bound<'py, Self>,
        cls: &Bound<'py, PyAny>,
        state: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        let refs = PythonObjects::get(py)?;
        unjelly::generic_unjelly(slf, cls, state).map_err(|error| bad_input(py, refs, error))
    }
}

/// The limits of `pbfast.banana`'s module-level functions, as its globals
/// have them at each call (they follow `setPrefixLimit` and assignments,
/// as Twisted's do): read again only once the globals have changed.
fn module_limits(py: Python<'_>) -> PyResult<Limits> {
    static BANANA: PyOnceLock<Py<PyModule>> = PyOnceLock::new();
    static READ: Cache<Option<(Watched<1>, Limits)>> = Cache::new(None);
    let module =
        BANANA.get_or_try_init(py, || Ok::<_, PyErr>(py.import("pbfast.banana")?.unbind()))?;
    let globals = module.bind(py).dict();
    if let Some((watched, limits)) = *lock(py, &READ) {
        if watched.holds([&globals]) {
            return Ok(limits);
        }
    }
    // Recorded before reading: a change while reading (a global's __int__)
    // makes the next call read again.
    let watched = Watched::now([&globals]);
    let read = |name: &Bound<'_, PyString>| -> PyResult<u64> {
        match globals.get_item(name)? {
            Some(value) => value.extract(),
            None => Err(pyo3::exceptions::PyAttributeError::new_err(format!(
                "pbfast.banana has no {name}"
            ))),
        }
    };
    let limits = Limits {
        prefix: read(pyo3::intern!(py, "_PREFIX_LIMIT"))? as usize,
        size: read(pyo3::intern!(py, "SIZE_LIMIT"))?,
        depth: read(pyo3::intern!(py, "MAX_DEPTH"))? as usize,
        message: read(pyo3::intern!(py, "MAX_MESSAGE_SIZE"))?,
    };
    *lock(py, &READ) = watched.map(|watched| (watched, limits));
    Ok(limits)
}

/// `jelly.jelly(object, taster, persistentStore, invoker)`: the
/// s-expression for `object`, from a jellier no Python code holds until a
/// hook is handed it.
#[pyfunction]
#[allow(non_snake_case)]
#[pyo3(name = "jelly", signature = (object, taster, persistentStore=None, invoker=None))]
pub fn jelly_object<'py>(
    object: &Bound<'py, PyAny>,
    taster: Bound<'py, PyAny>,
    persistentStore: Option<Py<PyAny>>,
    invoker: Option<Py<PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    let py = object.py();
    let jellier = Jellier::create(py, taster, persistentStore, invoker, MAX_JELLY_DEPTH, true)?;
    traversal::jelly_to_sexp(&Bound::new(py, jellier)?, object)
}

/// Serialize `obj` to Banana bytes with jelly's semantics, in one native
/// pass and without the s-expression in between: the result equals
/// `banana.encode(jelly.jelly(obj, taster, persistentStore, invoker))`, byte
/// for byte (dialect `none`, the limits of `pbfast.banana`).
///
/// The taster, as for `jelly.jelly`, decides what may be sent; the default
/// (None) allows everything, as jelly's does. Hooks (`jellyFor`, persistent
/// stores) are called as jelly calls them; only objects that have one pay
/// for the Python call. Objects nested deeper than `maxDepth` (jelly's limit,
/// `jelly.MAX_DEPTH` by default) raise InsecureJelly.
#[pyfunction]
#[allow(non_snake_case)]
#[pyo3(signature = (obj, *, taster=None, persistentStore=None, invoker=None, maxDepth=1000))]
pub fn dumps<'py>(
    obj: &Bound<'py, PyAny>,
    taster: Option<Bound<'py, PyAny>>,
    persistentStore: Option<Py<PyAny>>,
    invoker: Option<Py<PyAny>>,
    maxDepth: usize,
) -> PyResult<Bound<'py, PyBytes>> {
    let py = obj.py();
    let refs = PythonObjects::get(py)?;
    let taster = taster.unwrap_or_else(|| refs.permissive.bind(py).clone());
    let limits = module_limits(py)?;
    let jellier = Jellier::create(py, taster, persistentStore, invoker, maxDepth, true)?;
    let jellier = Bound::new(py, jellier)?;
    let settings = EncodeSettings {
        prefix_limit: limits.prefix,
        size_limit: limits.size,
        max_depth: limits.depth,
        vocabulary: None,
    };
    fused_dumps::dumps(&jellier, obj, settings)
}

/// Deserialize Banana bytes `data` (one expression, dialect `none`) to the
/// object they jelly, in one native pass: what
/// `jelly.unjelly(banana.decode(data), taster=jelly.globalSecurity)` gives.
///
/// Secure by default: the default taster (None) is `jelly.globalSecurity`,
/// which allows the basic types and the classes registered with
/// `setUnjellyableForClass`, nothing else; allowing more must be asked for
/// (another taster, or `jelly.DummySecurityOptions()` for everything). Any
/// input ends in an object, `banana.BananaError` (malformed, truncated or
/// over-limit bytes, trailing bytes) or `jelly.InsecureJelly` (a refused
/// type, nesting deeper than `maxDepth`, or an expression that does not
/// make a valid object); nothing is kept between calls.
#[pyfunction]
#[allow(non_snake_case)]
#[pyo3(signature = (data, *, taster=None, persistentLoad=None, invoker=None, maxDepth=1000))]
pub fn loads<'py>(
    data: &Bound<'py, PyAny>,
    taster: Option<Bound<'py, PyAny>>,
    persistentLoad: Option<Py<PyAny>>,
    invoker: Option<Py<PyAny>>,
    maxDepth: usize,
) -> PyResult<Bound<'py, PyAny>> {
    let py = data.py();
    let refs = PythonObjects::get(py)?;
    let taster = taster.unwrap_or_else(|| refs.global_security.bind(py).clone());
    let limits = module_limits(py)?;
    let unjellier = Unjellier::create(py, taster, persistentLoad, invoker, maxDepth)?;
    let unjellier = Bound::new(py, unjellier)?;
    fused_loads::loads(&unjellier, data, &limits)
}

/// A broker's `serialize`: `obj` jellied with `taster`, `invoker` (the
/// broker) and `persistentStore`, straight to Banana bytes in the dialect
/// of `vocabulary` (`pb`'s, or None for `none`), as an `Encoded` the broker
/// sends as part of a message.
#[pyfunction]
#[allow(non_snake_case, clippy::too_many_arguments)]
#[pyo3(signature = (obj, taster, invoker, vocabulary, prefix_limit, size_limit, max_depth, persistentStore=None, max_jelly_depth=1000))]
pub fn serialize<'py>(
    obj: &Bound<'py, PyAny>,
    taster: Bound<'py, PyAny>,
    invoker: Py<PyAny>,
    vocabulary: Option<&Bound<'py, OutgoingVocabulary>>,
    prefix_limit: usize,
    size_limit: u64,
    max_depth: usize,
    persistentStore: Option<Py<PyAny>>,
    max_jelly_depth: usize,
) -> PyResult<Bound<'py, Encoded>> {
    let py = obj.py();
    let jellier = Jellier::create(
        py,
        taster,
        persistentStore,
        Some(invoker),
        max_jelly_depth,
        true,
    )?;
    let jellier = Bound::new(py, jellier)?;
    let settings = EncodeSettings {
        prefix_limit,
        size_limit,
        max_depth,
        vocabulary: vocabulary.map(|v| v.get().core()),
    };
    let encoded = fused_dumps::serialize(&jellier, obj, settings)?;
    Bound::new(py, encoded)
}

/// A broker's `unserialize` of what it received as `Encoded`: the object,
/// unjellied with `taster` and `invoker` (the broker) straight from the
/// bytes. The bytes were checked against the connection's limits as they
/// arrived (or made by `serialize`); nesting is bounded by `max_jelly_depth`.
/// Errors are what Twisted's `unjelly` would raise.
#[pyfunction]
#[allow(non_snake_case)]
#[pyo3(signature = (encoded, taster, invoker, persistentLoad=None, max_jelly_depth=1000))]
pub fn unserialize<'py>(
    encoded: &Bound<'py, Encoded>,
    taster: Bound<'py, PyAny>,
    invoker: Py<PyAny>,
    persistentLoad: Option<Py<PyAny>>,
    max_jelly_depth: usize,
) -> PyResult<Bound<'py, PyAny>> {
    let py = encoded.py();
    let unjellier = Unjellier::create(py, taster, persistentLoad, Some(invoker), max_jelly_depth)?;
    let unjellier = Bound::new(py, unjellier)?;
    fused_loads::unserialize(&unjellier, encoded.get())
}

#[pymethods]
impl Encoded {
    /// The expression as its s-expression (lists, bytes, ints, floats).
    #[pyo3(name = "sexp")]
    fn py_sexp<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.sexp(py)
    }

    /// True if it is in dialect `pb` (VOCAB tokens of the `pb` vocabulary).
    #[getter(pb_dialect)]
    fn py_pb_dialect(&self) -> bool {
        self.pb_dialect()
    }

    fn __bytes__<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, self.bytes(py))
    }

    // Read as the list it encodes, for code written against Twisted, where
    // a broker's serialized arguments and answers are s-expressions.

    fn __len__(&self, py: Python<'_>) -> PyResult<usize> {
        self.sexp(py)?.len()
    }

    fn __getitem__<'py>(
        &self,
        py: Python<'py>,
        index: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.sexp(py)?.get_item(index)
    }

    fn __iter__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        Ok(self.sexp(py)?.try_iter()?.into_any())
    }

    fn __eq__<'py>(&self, py: Python<'py>, other: &Bound<'py, PyAny>) -> PyResult<bool> {
        if let Ok(other) = other.cast::<Encoded>() {
            return Ok(self.bytes(py) == other.get().bytes(py)
                && self.pb_dialect() == other.get().pb_dialect());
        }
        self.sexp(py)?.eq(other)
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!("Encoded({})", self.sexp(py)?.repr()?))
    }
}
