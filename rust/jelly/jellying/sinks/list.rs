//! The sink that builds Python s-expressions, as Twisted's `jelly`
//! returns them, list for list.

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyString};

use super::Sink;
use crate::jelly::jellying::context::Cx;
use crate::jelly::jellying::jellier::Skips;

/// Builds the Python s-expression, as Twisted's jelly returns it.
pub(crate) struct ListSink<'py> {
    /// Emptied item vectors of closed containers, reused for the next ones:
    /// a traversal opens a container per str, bool and dict item.
    spare: Vec<Vec<Bound<'py, PyAny>>>,
    skips: Skips,
}

impl ListSink<'_> {
    pub(crate) fn new() -> Self {
        ListSink {
            spare: Vec::new(),
            skips: Skips::new(),
        }
    }
}

impl<'py> Sink<'py> for ListSink<'py> {
    type Out = Bound<'py, PyAny>;
    type Seq = Vec<Bound<'py, PyAny>>;
    const FIXED_LENGTH: bool = false;

    fn position(&self) -> Option<usize> {
        None
    }

    fn scalar(&mut self, _cx: &Cx<'_, 'py>, value: &Bound<'py, PyAny>) -> PyResult<Self::Out> {
        Ok(value.clone())
    }

    /// The most common list in any s-expression, built directly.
    fn pair(
        &mut self,
        cx: &Cx<'_, 'py>,
        tag: &Py<PyBytes>,
        value: Bound<'py, PyAny>,
    ) -> PyResult<Self::Out> {
        let py = cx.py();
        // SAFETY: PyList_New(2) returns a list with two empty slots (or NULL
        // with an exception set, which from_owned_ptr_or_err turns into an
        // error); each slot is filled once with a new strong reference whose
        // ownership moves into the list.
        unsafe {
            let list = Bound::from_owned_ptr_or_err(py, ffi::PyList_New(2))?;
            ffi::PyList_SET_ITEM(list.as_ptr(), 0, tag.clone_ref(py).into_ptr());
            ffi::PyList_SET_ITEM(list.as_ptr(), 1, value.into_ptr());
            Ok(list)
        }
    }

    fn text(&mut self, cx: &Cx<'_, 'py>, text: &Bound<'py, PyString>) -> PyResult<Self::Out> {
        let encoded = cx.me.utf8(text)?;
        self.pair(cx, &cx.refs.atoms.unicode, encoded.into_any())
    }

    fn single(&mut self, cx: &Cx<'_, 'py>, tag: &Py<PyBytes>) -> PyResult<Self::Out> {
        Ok(PyList::new(cx.py(), [cx.atom(tag)])?.into_any())
    }

    fn open(
        &mut self,
        _cx: &Cx<'_, 'py>,
        tag: Bound<'py, PyAny>,
        items: usize,
    ) -> PyResult<Self::Seq> {
        let mut seq = self.spare.pop().unwrap_or_default();
        seq.reserve(items + 1);
        seq.push(tag);
        Ok(seq)
    }

    fn open_item(&mut self, _cx: &Cx<'_, 'py>) -> PyResult<()> {
        Ok(())
    }

    fn close_item(
        &mut self,
        cx: &Cx<'_, 'py>,
        key: Self::Out,
        value: Self::Out,
    ) -> PyResult<Self::Out> {
        Ok(PyList::new(cx.py(), [key, value])?.into_any())
    }

    fn push(&mut self, seq: &mut Self::Seq, item: Self::Out) {
        seq.push(item);
    }

    fn close(&mut self, cx: &Cx<'_, 'py>, mut seq: Self::Seq) -> PyResult<Self::Out> {
        // SAFETY: PyList_New(n) returns a list with n empty slots (or NULL
        // with an exception set, turned into an error, `seq` then dropping
        // its references as usual). Each slot gets one item's strong
        // reference; set_len(0) then forgets the items without dropping
        // them, their references now belonging to the list.
        let list = unsafe {
            let list = Bound::from_owned_ptr_or_err(
                cx.py(),
                ffi::PyList_New(seq.len() as ffi::Py_ssize_t),
            )?;
            for (index, item) in seq.iter().enumerate() {
                ffi::PyList_SET_ITEM(list.as_ptr(), index as ffi::Py_ssize_t, item.as_ptr());
            }
            seq.set_len(0);
            list
        };
        self.spare.push(seq);
        Ok(list.into_any())
    }

    fn dereference(
        &mut self,
        cx: &Cx<'_, 'py>,
        object: &Bound<'py, PyAny>,
        id: i64,
    ) -> PyResult<Self::Out> {
        // The jellier's list, shared by every occurrence, as Twisted's.
        Ok(cx.me.dereference_list(object, id)?.into_any())
    }

    fn sexp(&mut self, _cx: &Cx<'_, 'py>, sexp: Bound<'py, PyAny>) -> PyResult<Self::Out> {
        Ok(sexp)
    }

    fn skips(&mut self) -> &mut Skips {
        &mut self.skips
    }

    fn kept(out: &Self::Out) -> Option<Py<PyAny>> {
        Some(out.clone().unbind())
    }

    fn finish_object(
        &mut self,
        cx: &Cx<'_, 'py>,
        object: &Bound<'py, PyAny>,
        out: Self::Out,
    ) -> PyResult<Self::Out> {
        cx.me.record(object, &out)
    }
}
