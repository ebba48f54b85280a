//! Where the jelly traversal puts what it makes: [`list::ListSink`] builds
//! the Python s-expression (`jelly.jelly`); [`bytes::BytesSink`] writes its
//! Banana encoding straight into one buffer (`dumps`, the broker), with no
//! list built for anything the traversal handles itself.

pub mod bytes;
pub mod list;

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString};

use super::context::Cx;
use super::jellier::Skips;

/// Where a traversal puts what it makes. Every jellied value is made of
/// these calls: a value that stands for itself, `[tag, value]`, `[tag]`, a
/// container of known length, an s-expression made in Python, a
/// dereference.
pub(crate) trait Sink<'py> {
    /// One jellied value, as the sink holds it.
    type Out;
    /// A container being filled.
    type Seq;

    /// Where the next value starts in the output, for sinks that write
    /// bytes.
    fn position(&self) -> Option<usize>;
    /// bytes, int or float: the value itself.
    fn scalar(&mut self, cx: &Cx<'_, 'py>, value: &Bound<'py, PyAny>) -> PyResult<Self::Out>;
    /// `[tag, value]`, `value` being a byte string (or what stands for one).
    fn pair(
        &mut self,
        cx: &Cx<'_, 'py>,
        tag: &Py<PyBytes>,
        value: Bound<'py, PyAny>,
    ) -> PyResult<Self::Out>;
    /// `[b"unicode", <UTF-8 of text>]`.
    fn text(&mut self, cx: &Cx<'_, 'py>, text: &Bound<'py, PyString>) -> PyResult<Self::Out>;
    /// `[b"boolean", b"true"]`, or `b"false"`.
    fn boolean(&mut self, cx: &Cx<'_, 'py>, value: bool) -> PyResult<Self::Out> {
        let atoms = &cx.refs.atoms;
        let atom = if value { &atoms.r#true } else { &atoms.r#false };
        self.pair(cx, &atoms.boolean, cx.atom(atom))
    }
    /// [`Sink::text`] for a dictionary key: keys repeat, so a sink may
    /// write one met before again as it wrote it.
    fn key_text(&mut self, cx: &Cx<'_, 'py>, text: &Bound<'py, PyString>) -> PyResult<Self::Out> {
        self.text(cx, text)
    }
    /// `[tag]`.
    fn single(&mut self, cx: &Cx<'_, 'py>, tag: &Py<PyBytes>) -> PyResult<Self::Out>;
    /// `[b"None"]`.
    fn none(&mut self, cx: &Cx<'_, 'py>) -> PyResult<Self::Out> {
        self.single(cx, &cx.refs.atoms.none)
    }
    /// Start `[tag, ...]` with `items` items after the tag.
    fn open(
        &mut self,
        cx: &Cx<'_, 'py>,
        tag: Bound<'py, PyAny>,
        items: usize,
    ) -> PyResult<Self::Seq>;
    /// Before a dictionary item's key and value are jellied.
    fn open_item(&mut self, cx: &Cx<'_, 'py>) -> PyResult<()>;
    /// `[key, value]`, a dictionary item (no tag).
    fn close_item(
        &mut self,
        cx: &Cx<'_, 'py>,
        key: Self::Out,
        value: Self::Out,
    ) -> PyResult<Self::Out>;
    fn push(&mut self, seq: &mut Self::Seq, item: Self::Out);
    fn close(&mut self, cx: &Cx<'_, 'py>, seq: Self::Seq) -> PyResult<Self::Out>;
    /// `[b"dereference", id]`: a later occurrence of `object`, whose
    /// reference id is `id`.
    fn dereference(
        &mut self,
        cx: &Cx<'_, 'py>,
        object: &Bound<'py, PyAny>,
        id: i64,
    ) -> PyResult<Self::Out>;
    /// An s-expression made in Python: a hook's result, a decimal's, a
    /// persistent id.
    fn sexp(&mut self, cx: &Cx<'_, 'py>, sexp: Bound<'py, PyAny>) -> PyResult<Self::Out>;
    /// `object` is complete and `out` is what was made for it: what stands
    /// for it where it occurs.
    fn finish_object(
        &mut self,
        cx: &Cx<'_, 'py>,
        object: &Bound<'py, PyAny>,
        out: Self::Out,
    ) -> PyResult<Self::Out>;
    /// The objects this traversal skipped (see `Jellier::may_skip`).
    fn skips(&mut self) -> &mut Skips;
    /// What is kept of what was made for an object skipped: the
    /// s-expression that a later reference rewrites in place, for a sink
    /// that makes one.
    fn kept(out: &Self::Out) -> Option<Py<PyAny>>;
    /// Whether a container's items are exactly those counted when it was
    /// opened (a byte header cannot be changed); otherwise a list that grows
    /// while a hook runs is followed to its end, as Python iteration would.
    const FIXED_LENGTH: bool;
}
