//! The `pbfast._native` extension module: thin bindings over the pure core.
//! The public API is the `pbfast` package, which wraps these.

pub(crate) mod banana;
pub(crate) mod errors;
pub(crate) mod gc;

use pyo3::gc::PyVisit;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};
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

/// Jelly `obj` and Banana-encode the result in one pass, without building
/// the s-expression: `banana.encode(jelly.jelly(obj, ...))`, byte for byte.
#[pyfunction]
#[allow(clippy::too_many_arguments)]
#[pyo3(signature = (obj, taster, persistent_store, invoker, vocabulary, prefix_limit, size_limit, max_depth))]
fn dumps<'py>(
    obj: &Bound<'py, PyAny>,
    taster: Bound<'py, PyAny>,
    persistent_store: Option<Py<PyAny>>,
    invoker: Option<Py<PyAny>>,
    vocabulary: Option<&Bound<'py, OutgoingVocabulary>>,
    prefix_limit: usize,
    size_limit: u64,
    max_depth: usize,
) -> PyResult<Bound<'py, PyBytes>> {
    let py = obj.py();
    let jellier = crate::jelly::encode::Jellier::create(
        py,
        taster,
        persistent_store,
        invoker,
        crate::jelly::MAX_DEPTH,
    )?;
    let jellier = Bound::new(py, jellier)?;
    let settings = EncodeSettings {
        prefix_limit,
        size_limit,
        max_depth,
        vocabulary: vocabulary.map(|v| &v.get().inner),
    };
    crate::jelly::encode::dumps(&jellier, obj, settings)
}

/// The object Banana bytes `data` (exactly one expression) jelly, built in
/// one pass with no s-expression in between.
#[pyfunction]
#[allow(clippy::too_many_arguments)]
#[pyo3(signature = (data, taster, persistent_load, invoker, prefix_limit, size_limit, max_depth, max_message_size))]
fn loads<'py>(
    data: &Bound<'py, PyAny>,
    taster: Bound<'py, PyAny>,
    persistent_load: Option<Py<PyAny>>,
    invoker: Option<Py<PyAny>>,
    prefix_limit: usize,
    size_limit: u64,
    max_depth: usize,
    max_message_size: u64,
) -> PyResult<Bound<'py, PyAny>> {
    let py = data.py();
    let limits = limits(prefix_limit, size_limit, max_depth, max_message_size);
    let unjellier = crate::jelly::decode::Unjellier::create(
        py,
        taster,
        persistent_load,
        invoker,
        crate::jelly::MAX_DEPTH,
    )?;
    let unjellier = Bound::new(py, unjellier)?;
    crate::jelly::load::loads(&unjellier, data, &limits)
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
        let mut builder = PyBuilder {
            py,
            vocabulary: &self.vocabulary,
            pb_dialect,
        };
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
