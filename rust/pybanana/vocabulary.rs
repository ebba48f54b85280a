//! Incoming vocabulary: the byte strings VOCAB tokens stand for, as the
//! Python objects a decoder hands out.

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyDict};

use crate::banana::vocabulary::PB_VOCABULARY;

/// Symbol ids above this are not kept in an incoming vocabulary table (the
/// `pb` dialect's go up to 31).
const MAX_SYMBOL_ID: u64 = 1 << 16;

/// Symbols by id, for VOCAB tokens. Twisted looks an id up in the
/// vocabulary before it checks the dialect, so the table is consulted in
/// every dialect and unknown ids fail the same way everywhere.
pub struct IncomingVocabulary {
    symbols: Vec<Option<Py<PyAny>>>,
}

impl IncomingVocabulary {
    /// From a `{id: symbol}` dict like Twisted's `Banana.incomingVocabulary`.
    pub fn from_dict(dict: &Bound<'_, PyDict>) -> PyResult<Self> {
        let mut symbols: Vec<Option<Py<PyAny>>> = Vec::new();
        for (id, symbol) in dict.iter() {
            let Ok(id) = id.extract::<u64>() else {
                continue;
            };
            if id > MAX_SYMBOL_ID {
                continue;
            }
            let id = id as usize;
            if symbols.len() <= id {
                symbols.resize_with(id + 1, || None);
            }
            symbols[id] = Some(symbol.unbind());
        }
        Ok(IncomingVocabulary { symbols })
    }

    pub fn empty() -> Self {
        IncomingVocabulary {
            symbols: Vec::new(),
        }
    }

    /// The `pb` dialect's table, built once per interpreter.
    pub fn pb(py: Python<'_>) -> &'static IncomingVocabulary {
        static PB: PyOnceLock<IncomingVocabulary> = PyOnceLock::new();
        PB.get_or_init(py, || IncomingVocabulary {
            symbols: PB_VOCABULARY
                .iter()
                .enumerate()
                .map(|(id, symbol)| (id > 0).then(|| PyBytes::new(py, symbol).into_any().unbind()))
                .collect(),
        })
    }

    /// The symbol objects, for the garbage collector.
    pub fn symbols(&self) -> impl Iterator<Item = &Py<PyAny>> {
        self.symbols.iter().flatten()
    }

    pub(crate) fn get(&self, id: Option<u64>) -> Option<&Py<PyAny>> {
        self.symbols.get(usize::try_from(id?).ok()?)?.as_ref()
    }
}
