//! Objects straight to Banana bytes (`pbfast.dumps`): the jelly traversal
//! into a bytes sink, then the reference headers the jellier gave out
//! spliced in, in one final assembly.

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use super::context::Cx;
use super::jellier::Jellier;
use super::sinks::bytes::BytesSink;
use super::traversal::jelly;
use crate::banana::encoder;
use crate::jelly::depth::Stack;
use crate::jelly::python_objects::PythonObjects;
use crate::pybanana::encode::EncodeSettings;
use crate::pybanana::encoded::Encoded;
use crate::pybanana::gc::GcPause;
use crate::pybanana::output::{self, with_output_buffer, Output};

/// Banana bytes for `obj`: `banana.encode(jelly(obj, ...))` without the
/// s-expression in between.
pub fn dumps<'py>(
    slf: &Bound<'py, Jellier>,
    obj: &Bound<'py, PyAny>,
    settings: EncodeSettings<'_>,
) -> PyResult<Bound<'py, PyBytes>> {
    let py = slf.py();
    let _pause = GcPause::new(py);
    let me = slf.borrow();
    let cx = Cx {
        slf,
        me: &me,
        refs: PythonObjects::get(py)?,
        stack: Stack::new(),
        root: obj.as_ptr() as usize,
    };
    me.start_bytes();
    let vocabulary = settings.vocabulary;
    let result = with_output_buffer(|buf| {
        let watch = |list: *mut ffi::PyObject, offset: usize| me.list_written(list, offset);
        let mut out = Output::new(buf);
        out.watch_lists(&watch);
        let mut sink = BytesSink::new(&mut out, settings);
        jelly(&cx, &mut sink, obj)?;
        sink.finish()?;
        let splices = me.take_splices();
        let mut header = Vec::with_capacity(if splices.is_empty() {
            0
        } else {
            output::HEADER_BYTES
        });
        for (offset, id) in splices {
            header.clear();
            encoder::write_list_header(&mut header, 3);
            match vocabulary.and_then(|v| v.lookup(b"reference")) {
                Some(symbol) => encoder::write_vocab(&mut header, symbol),
                None => {
                    encoder::write_string(&mut header, b"reference", u64::MAX).expect("no limit")
                }
            }
            encoder::write_i64(&mut header, id, usize::MAX).expect("no limit");
            out.splice_header(offset, &header);
        }
        out.finish(py)
    });
    me.end_bytes();
    result
}

/// A broker's `serialize`: `obj` jellied by `slf` (whose invoker is the
/// broker) straight to Banana bytes, kept as an [`Encoded`] for the message
/// that carries it. In dialect `pb` only with the `pb` vocabulary itself:
/// bytes in any other vocabulary are written in dialect `none`, and the
/// encoder writes them again in the connection's when it sends them.
pub fn serialize<'py>(
    slf: &Bound<'py, Jellier>,
    obj: &Bound<'py, PyAny>,
    mut settings: EncodeSettings<'_>,
) -> PyResult<Encoded> {
    let pb_dialect = settings.vocabulary.is_some_and(|v| v.is_pb());
    if !pb_dialect {
        settings.vocabulary = None;
    }
    let bytes = dumps(slf, obj, settings)?;
    let whole = 0..bytes.as_bytes().len();
    Ok(Encoded::new(bytes.unbind(), whole, pb_dialect))
}
