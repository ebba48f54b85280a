//! The incremental decoder of one connection, as `pbfast.banana` feeds it:
//! complete expressions as s-expressions (a Banana protocol), or whole PB
//! messages with their jellied parts left as bytes (a broker; see
//! [`crate::pybanana::messages`]).

use pyo3::gc::PyVisit;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};
use pyo3::PyTraverseError;

use super::banana::limits;
use crate::banana::framer::Framer;
use crate::pybanana::buffer::with_bytes;
use crate::pybanana::decode::{out_of_memory, PyBuilder};
use crate::pybanana::errors::BuildError;
use crate::pybanana::gc::GcPause;
use crate::pybanana::messages::read_message;
use crate::pybanana::vocabulary::IncomingVocabulary;

/// What a connection's bytes are read as.
enum Stream {
    /// Expressions, built as their tokens arrive.
    Expressions(crate::banana::Decoder<Vec<Py<PyAny>>>),
    /// Whole PB messages, read once all their bytes are here.
    Messages(Framer),
}

/// The incremental decoder of one connection: feed it bytes as they arrive,
/// then take complete expressions (or messages) with `next` until it
/// returns None.
#[pyclass(module = "pbfast._native")]
pub struct Decoder {
    stream: Stream,
    vocabulary: IncomingVocabulary,
}

#[pymethods]
impl Decoder {
    #[new]
    #[pyo3(signature = (vocabulary, messages=false))]
    fn new(vocabulary: &Bound<'_, PyDict>, messages: bool) -> PyResult<Self> {
        let stream = if messages {
            Stream::Messages(Framer::new())
        } else {
            Stream::Expressions(crate::banana::Decoder::new())
        };
        Ok(Decoder {
            stream,
            vocabulary: IncomingVocabulary::from_dict(vocabulary)?,
        })
    }

    /// Append received bytes.
    pub(crate) fn feed(&mut self, data: &Bound<'_, PyAny>) -> PyResult<()> {
        with_bytes(data, |bytes| match &mut self.stream {
            Stream::Expressions(decoder) => decoder.feed(bytes),
            Stream::Messages(framer) => framer.feed(bytes),
        })?
        .map_err(|_| out_of_memory())
    }

    /// The next complete expression (or message), or None until more bytes
    /// arrive.
    #[pyo3(signature = (pb_dialect, prefix_limit, size_limit, max_depth, max_message_size))]
    pub(crate) fn next(
        &mut self,
        py: Python<'_>,
        pb_dialect: bool,
        prefix_limit: usize,
        size_limit: u64,
        max_depth: usize,
        max_message_size: u64,
    ) -> PyResult<Option<Py<PyAny>>> {
        let limits = limits(prefix_limit, size_limit, max_depth, max_message_size);
        match &mut self.stream {
            Stream::Expressions(decoder) => {
                let mut builder = PyBuilder::new(py, &self.vocabulary, pb_dialect);
                let _pause = GcPause::new(py);
                decoder
                    .next(&mut builder, &limits)
                    .map_err(|error| error.into_pyerr(py))
            }
            Stream::Messages(framer) => {
                let Some(range) = framer
                    .next(pb_dialect, &limits)
                    .map_err(|error| BuildError::from(error).into_pyerr(py))?
                else {
                    return Ok(None);
                };
                let base = framer.base() + range.start as u64;
                let data = PyBytes::new(py, &framer.bytes()[range]);
                let whole = 0..data.as_bytes().len();
                let vocabulary = &self.vocabulary;
                read_message(py, &data, whole, base, vocabulary, pb_dialect, &limits).map(Some)
            }
        }
    }

    /// Bytes received and not yet delivered.
    #[getter]
    fn pending<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(
            py,
            match &self.stream {
                Stream::Expressions(decoder) => decoder.pending(),
                Stream::Messages(framer) => framer.pending(),
            },
        )
    }

    /// Stream offset of the first byte not delivered.
    #[getter]
    fn offset(&self) -> u64 {
        match &self.stream {
            Stream::Expressions(decoder) => decoder.offset(),
            Stream::Messages(framer) => framer.offset(),
        }
    }

    /// True when no expression is partly received.
    #[getter]
    fn idle(&self) -> bool {
        match &self.stream {
            Stream::Expressions(decoder) => decoder.is_idle(),
            Stream::Messages(framer) => framer.is_idle(),
        }
    }

    /// Forget all state: the next byte fed starts a new stream.
    fn reset(&mut self) {
        match &mut self.stream {
            Stream::Expressions(decoder) => decoder.reset(),
            Stream::Messages(framer) => framer.reset(),
        }
    }

    /// Half-built lists and vocabulary symbols are Python objects; a custom
    /// vocabulary's symbols could refer back to the protocol that owns this
    /// decoder, so the collector must see them.
    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        for symbol in self.vocabulary.symbols() {
            visit.call(symbol)?;
        }
        if let Stream::Expressions(decoder) = &self.stream {
            for list in decoder.open_lists() {
                for item in list {
                    visit.call(item)?;
                }
            }
        }
        Ok(())
    }

    fn __clear__(&mut self) {
        self.reset();
        self.vocabulary = IncomingVocabulary::empty();
    }
}
