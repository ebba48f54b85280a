//! The `pbfast._native` extension module: thin bindings over the pure core.
//! The public API is the `pbfast` package, which wraps these.

pub(crate) mod banana;
pub(crate) mod errors;
pub(crate) mod gc;

use pyo3::gc::PyVisit;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyDict, PyModule, PyString};
use pyo3::PyTraverseError;

use crate::banana::base128;
use crate::banana::decoder::Limits;
use crate::banana::vocabulary::OutgoingVocabulary as CoreVocabulary;

use self::banana::{with_bytes, EncodeSettings, IncomingVocabulary, PyBuilder};

/// Byte strings sent as VOCAB tokens, built from a `{symbol: id}` dict like
/// Twisted's `Banana.outgoingSymbols`.
#[pyclass(module = "pbfast._native", frozen)]
struct OutgoingVocabulary {
    inner: CoreVocabulary,
}

#[pymethods]
impl OutgoingVocabulary {
    #[new]
    fn new(symbols: &Bound<'_, PyDict>) -> PyResult<Self> {
        let mut entries = Vec::with_capacity(symbols.len());
        for (symbol, id) in symbols.iter() {
            entries.push((
                symbol.cast::<PyBytes>()?.as_bytes().to_vec(),
                id.extract::<u64>()?,
            ));
        }
        Ok(OutgoingVocabulary {
            inner: CoreVocabulary::new(entries),
        })
    }
}

/// Encode the s-expression `obj` to Banana bytes; `vocabulary` is given in
/// dialect `pb`.
#[pyfunction]
fn encode<'py>(
    obj: &Bound<'py, PyAny>,
    vocabulary: Option<&Bound<'py, OutgoingVocabulary>>,
    prefix_limit: usize,
    size_limit: u64,
    max_depth: usize,
) -> PyResult<Bound<'py, PyBytes>> {
    let settings = EncodeSettings {
        prefix_limit,
        size_limit,
        max_depth,
        vocabulary: vocabulary.map(|v| &v.get().inner),
    };
    banana::with_output_buffer(|buf| {
        let mut out = banana::Output::new(buf);
        banana::encode_into(obj, &settings, &mut out)?;
        out.finish(obj.py())
    })
}

fn limits(prefix: usize, size: u64, depth: usize, message: u64) -> Limits {
    Limits {
        prefix,
        size,
        depth,
        message,
    }
}

/// Decode the first expression in `data` (dialect `none`).
#[pyfunction]
fn decode(
    data: &Bound<'_, PyAny>,
    prefix_limit: usize,
    size_limit: u64,
    max_depth: usize,
    max_message_size: u64,
) -> PyResult<Py<PyAny>> {
    banana::decode_first(
        data,
        &limits(prefix_limit, size_limit, max_depth, max_message_size),
    )
}

/// The limits of `pbfast.banana`'s module-level functions, read from its
/// globals at each call (they follow `setPrefixLimit` and assignments, as
/// Twisted's do).
fn module_limits(py: Python<'_>) -> PyResult<Limits> {
    static BANANA: PyOnceLock<Py<PyModule>> = PyOnceLock::new();
    let module =
        BANANA.get_or_try_init(py, || Ok::<_, PyErr>(py.import("pbfast.banana")?.unbind()))?;
    let globals = module.bind(py).dict();
    let read = |name: &Bound<'_, PyString>| -> PyResult<u64> {
        match globals.get_item(name)? {
            Some(value) => value.extract(),
            None => Err(pyo3::exceptions::PyAttributeError::new_err(format!(
                "pbfast.banana has no {name}"
            ))),
        }
    };
    Ok(Limits {
        prefix: read(pyo3::intern!(py, "_PREFIX_LIMIT"))? as usize,
        size: read(pyo3::intern!(py, "SIZE_LIMIT"))?,
        depth: read(pyo3::intern!(py, "MAX_DEPTH"))? as usize,
        message: read(pyo3::intern!(py, "MAX_MESSAGE_SIZE"))?,
    })
}

/// Serialize `obj` to Banana bytes with jelly's semantics, in one native
/// pass and without the s-expression in between: the result equals
/// `banana.encode(jelly.jelly(obj, taster, persistentStore, invoker))`, byte
/// for byte (dialect `none`, the limits of `pbfast.banana`).
///
/// The taster, as for `jelly.jelly`, decides what may be sent; the default
/// (None) allows everything, as jelly's does. Hooks (`jellyFor`, persistent
/// stores) are called as jelly calls them; only objects that have one pay
/// for the Python call. Nesting deeper than `maxDepth` raises InsecureJelly.
#[pyfunction]
#[allow(non_snake_case)]
#[pyo3(signature = (obj, *, taster=None, persistentStore=None, invoker=None, maxDepth=1000))]
fn dumps<'py>(
    obj: &Bound<'py, PyAny>,
    taster: Option<Bound<'py, PyAny>>,
    persistentStore: Option<Py<PyAny>>,
    invoker: Option<Py<PyAny>>,
    maxDepth: usize,
) -> PyResult<Bound<'py, PyBytes>> {
    let py = obj.py();
    let refs = crate::jelly::Refs::get(py)?;
    let taster = taster.unwrap_or_else(|| refs.permissive.bind(py).clone());
    let limits = module_limits(py)?;
    let jellier =
        crate::jelly::encode::Jellier::create(py, taster, persistentStore, invoker, maxDepth)?;
    let jellier = Bound::new(py, jellier)?;
    let settings = EncodeSettings {
        prefix_limit: limits.prefix,
        size_limit: limits.size,
        max_depth: limits.depth,
        vocabulary: None,
    };
    crate::jelly::encode::dumps(&jellier, obj, settings)
}

/// The object that Banana bytes `data` (one expression, dialect `none`)
/// jelly: `jelly.unjelly(banana.decode(data), taster=jelly.globalSecurity)`,
/// read in one native pass.
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
fn loads<'py>(
    data: &Bound<'py, PyAny>,
    taster: Option<Bound<'py, PyAny>>,
    persistentLoad: Option<Py<PyAny>>,
    invoker: Option<Py<PyAny>>,
    maxDepth: usize,
) -> PyResult<Bound<'py, PyAny>> {
    let py = data.py();
    let refs = crate::jelly::Refs::get(py)?;
    let taster = taster.unwrap_or_else(|| refs.global_security.bind(py).clone());
    let limits = module_limits(py)?;
    let unjellier =
        crate::jelly::decode::Unjellier::create(py, taster, persistentLoad, invoker, maxDepth)?;
    let unjellier = Bound::new(py, unjellier)?;
    crate::jelly::load::loads(&unjellier, data, &limits).map_err(|error| bad_input(py, refs, error))
}

/// An error from reading bytes from elsewhere, as `loads` reports it: its
/// own two types as they are; anything else a value's constructor or a hook
/// raised (a date out of range, a bad decimal, undecodable UTF-8, a hook
/// refusing its state) is one more kind of bad input, InsecureJelly, with
/// the original as its cause. Out of memory stays what it is.
fn bad_input(py: Python<'_>, refs: &crate::jelly::Refs, error: PyErr) -> PyErr {
    let typed = error.is_instance(py, refs.insecure_jelly.bind(py))
        || errors::is_banana_error(py, &error)
        || !error.is_instance_of::<pyo3::exceptions::PyException>(py)
        || error.is_instance_of::<pyo3::exceptions::PyMemoryError>(py);
    if typed {
        return error;
    }
    let described = error
        .value(py)
        .repr()
        .map(|repr| repr.to_string())
        .unwrap_or_else(|_| "an error".to_string());
    let wrapped = refs.insecure(py, format!("malformed jelly expression: {described}"));
    wrapped.set_cause(py, Some(error));
    wrapped
}

/// The incremental decoder of one connection: feed it bytes as they arrive,
/// then take complete expressions with `next` until it returns None.
#[pyclass(module = "pbfast._native")]
struct Decoder {
    inner: crate::banana::Decoder<Vec<Py<PyAny>>>,
    vocabulary: IncomingVocabulary,
}

#[pymethods]
impl Decoder {
    #[new]
    fn new(vocabulary: &Bound<'_, PyDict>) -> PyResult<Self> {
        Ok(Decoder {
            inner: crate::banana::Decoder::new(),
            vocabulary: IncomingVocabulary::from_dict(vocabulary)?,
        })
    }

    /// Append received bytes.
    fn feed(&mut self, data: &Bound<'_, PyAny>) -> PyResult<()> {
        with_bytes(data, |bytes| self.inner.feed(bytes))
    }

    /// The next complete expression, or None until more bytes arrive.
    #[pyo3(signature = (pb_dialect, prefix_limit, size_limit, max_depth, max_message_size))]
    fn next(
        &mut self,
        py: Python<'_>,
        pb_dialect: bool,
        prefix_limit: usize,
        size_limit: u64,
        max_depth: usize,
        max_message_size: u64,
    ) -> PyResult<Option<Py<PyAny>>> {
        let mut builder = PyBuilder::new(py, &self.vocabulary, pb_dialect);
        let limits = limits(prefix_limit, size_limit, max_depth, max_message_size);
        let _pause = gc::GcPause::new(py);
        self.inner
            .next(&mut builder, &limits)
            .map_err(|error| error.into_pyerr(py))
    }

    /// Bytes received and not yet consumed.
    #[getter]
    fn pending<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, self.inner.pending())
    }

    /// Stream offset of the next unconsumed byte.
    #[getter]
    fn offset(&self) -> u64 {
        self.inner.offset()
    }

    /// True when no expression is partly received.
    #[getter]
    fn idle(&self) -> bool {
        self.inner.is_idle()
    }

    /// Forget all state: the next byte fed starts a new stream.
    fn reset(&mut self) {
        self.inner.reset();
    }

    /// Half-built lists and vocabulary symbols are Python objects; a custom
    /// vocabulary's symbols could refer back to the protocol that owns this
    /// decoder, so the collector must see them.
    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        for symbol in self.vocabulary.symbols() {
            visit.call(symbol)?;
        }
        for list in self.inner.open_lists() {
            for item in list {
                visit.call(item)?;
            }
        }
        Ok(())
    }

    fn __clear__(&mut self) {
        self.inner.reset();
        self.vocabulary = IncomingVocabulary::empty();
    }
}

/// The base-128 prefix of a non-negative int (Twisted's `int2b128`, returning
/// the bytes instead of writing them).
#[pyfunction]
fn int2b128<'py>(py: Python<'py>, integer: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyBytes>> {
    let mut out = Vec::new();
    if let Ok(value) = integer.extract::<u64>() {
        base128::write_prefix(&mut out, value);
    } else {
        if integer.lt(0)? {
            return Err(pyo3::exceptions::PyAssertionError::new_err(
                "can only encode positive integers",
            ));
        }
        let int = py.get_type::<pyo3::types::PyInt>();
        let bits: usize = int.call_method1("bit_length", (integer,))?.extract()?;
        let bytes = int.call_method1("to_bytes", (integer, bits.div_ceil(8), "little"))?;
        base128::write_prefix_le_bytes(&mut out, bytes.cast::<PyBytes>()?.as_bytes());
    }
    Ok(PyBytes::new(py, &out))
}

/// The int that base-128 digits stand for (Twisted's `b1282int`).
#[pyfunction]
fn b1282int(py: Python<'_>, st: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
    let (small, magnitude) = with_bytes(st, |digits| match base128::digits_to_u64(digits) {
        Some(value) => (Some(value), Vec::new()),
        None => (None, base128::digits_to_le_bytes(digits)),
    })?;
    match small {
        Some(value) => Ok(value.into_pyobject(py)?.into_any().unbind()),
        None => banana::big_int(py, false, &magnitude),
    }
}

#[pymodule]
#[pyo3(name = "_native")]
fn init(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add("__version__", env!("CARGO_PKG_VERSION"))?;
    module.add("SIZE_LIMIT", crate::banana::SIZE_LIMIT)?;
    module.add("PREFIX_LIMIT", crate::banana::PREFIX_LIMIT)?;
    module.add("MAX_DEPTH", crate::banana::MAX_DEPTH)?;
    module.add("MAX_MESSAGE_SIZE", crate::banana::MAX_MESSAGE_SIZE)?;
    let vocabulary =
        crate::banana::vocabulary::PB_VOCABULARY.map(|symbol| PyBytes::new(module.py(), symbol));
    module.add(
        "PB_VOCABULARY",
        pyo3::types::PyTuple::new(module.py(), vocabulary)?,
    )?;
    module.add_class::<OutgoingVocabulary>()?;
    module.add_class::<Decoder>()?;
    module.add("MAX_JELLY_DEPTH", crate::jelly::MAX_DEPTH)?;
    module.add_class::<crate::jelly::encode::Jellier>()?;
    module.add_class::<crate::jelly::decode::Unjellier>()?;
    module.add_function(wrap_pyfunction!(encode, module)?)?;
    module.add_function(wrap_pyfunction!(decode, module)?)?;
    module.add_function(wrap_pyfunction!(dumps, module)?)?;
    module.add_function(wrap_pyfunction!(loads, module)?)?;
    module.add_function(wrap_pyfunction!(int2b128, module)?)?;
    module.add_function(wrap_pyfunction!(b1282int, module)?)?;
    Ok(())
}
