//! The incremental decoder of one connection, as `pbfast.banana` feeds it:
//! complete expressions as s-expressions (a Banana protocol), or whole PB
//! messages with their jellied parts left as bytes (a broker; see
//! [`crate::pybanana::messages`]).

use pyo3::gc::PyVisit;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};
use pyo3::PyTraverseError;

use super::banana::limits;
use crate::banana::decoder::Limits;
use crate::banana::framer::{Framer, ItemEnds};
use crate::pybanana::buffer::with_bytes;
use crate::pybanana::decode::{out_of_memory, PyBuilder};
use crate::pybanana::errors::BuildError;
use crate::pybanana::gc::GcPause;
use crate::pybanana::messages::{read_items, read_message, Item};
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
        Ok(match self.next_item(py, pb_dialect, &limits)? {
            None => None,
            Some(Next::Expression(expression)) => Some(expression),
            Some(Next::Message(data, base, _)) => {
                Some(self.read(py, &data, base, pb_dialect, &limits)?)
            }
        })
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

/// What [`Decoder::next_item`] found.
pub(crate) enum Next<'py> {
    /// An expression (a Banana protocol's stream).
    Expression(Py<PyAny>),
    /// A whole PB message's bytes, the stream offset of their first byte
    /// (a broker's stream), and where its items end if the framer counted
    /// them; to be read with [`Decoder::read`] or [`read_items`].
    Message(Bound<'py, PyBytes>, u64, ItemEnds),
}

impl Decoder {
    /// True when [`Decoder::next_item`] would find nothing now, whatever
    /// the dialect and limits.
    pub(crate) fn is_drained(&self) -> bool {
        match &self.stream {
            Stream::Expressions(decoder) => decoder.is_drained(),
            Stream::Messages(framer) => framer.is_drained(),
        }
    }

    /// The next complete expression, or the bytes of the next whole
    /// message; None until more bytes arrive.
    pub(crate) fn next_item<'py>(
        &mut self,
        py: Python<'py>,
        pb_dialect: bool,
        limits: &Limits,
    ) -> PyResult<Option<Next<'py>>> {
        match &mut self.stream {
            Stream::Expressions(decoder) => {
                let mut builder = PyBuilder::new(py, &self.vocabulary, pb_dialect);
                let _pause = GcPause::new(py);
                decoder
                    .next(&mut builder, limits)
                    .map(|found| found.map(Next::Expression))
                    .map_err(|error| error.into_pyerr(py))
            }
            Stream::Messages(framer) => {
                let Some(range) = framer
                    .next(pb_dialect, limits)
                    .map_err(|error| BuildError::from(error).into_pyerr(py))?
                else {
                    return Ok(None);
                };
                let base = framer.base() + range.start as u64;
                let data = PyBytes::new(py, &framer.bytes()[range]);
                Ok(Some(Next::Message(data, base, framer.item_ends())))
            }
        }
    }

    /// A message's bytes `data` from [`Decoder::next_item`] (at stream
    /// offset `base`) as a broker reads it (see [`read_message`]).
    pub(crate) fn read(
        &self,
        py: Python<'_>,
        data: &Bound<'_, PyBytes>,
        base: u64,
        pb_dialect: bool,
        limits: &Limits,
    ) -> PyResult<Py<PyAny>> {
        let whole = 0..data.as_bytes().len();
        read_message(py, data, whole, base, &self.vocabulary, pb_dialect, limits)
    }

    /// A message's bytes `data` from [`Decoder::next_item`] (at stream
    /// offset `base`) as its items, if it carries jelly (see [`read_items`]).
    pub(crate) fn read_items<'py>(
        &self,
        py: Python<'py>,
        data: &Bound<'py, PyBytes>,
        base: u64,
        ends: ItemEnds,
        pb_dialect: bool,
        limits: &Limits,
    ) -> PyResult<Option<Vec<Item<'py>>>> {
        let whole = 0..data.as_bytes().len();
        let ends = ends.get();
        read_items(
            py,
            data,
            whole,
            base,
            ends,
            &self.vocabulary,
            pb_dialect,
            limits,
        )
    }
}
