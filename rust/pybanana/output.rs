//! The encoders' output: one growing byte buffer, reused from call to call
//! on a thread, plus pieces inserted between its bytes when it is assembled
//! into the final `bytes` object — large byte strings (copied once, from
//! their own object) and reference headers (spliced in front of an encoding
//! already written, which a byte stream cannot rewrite).

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

/// Output buffers kept above this size are not kept for the next call.
const KEPT_BUFFER_LIMIT: usize = 8 << 20;

thread_local! {
    /// The encode buffer of the last call on this thread, kept so that the
    /// next call does not grow a new one from nothing (and page-fault its
    /// memory in again).
    static OUTPUT_BUFFER: std::cell::Cell<Vec<u8>> = const { std::cell::Cell::new(Vec::new()) };
}

/// Run `f` with an empty output buffer, reusing this thread's spare one. The
/// buffer is taken out of its slot for the call, so a nested call (Python
/// code run by a hook that encodes again) simply starts a fresh one.
pub fn with_output_buffer<R>(f: impl FnOnce(&mut Vec<u8>) -> R) -> R {
    let mut out = OUTPUT_BUFFER.with(|slot| slot.take());
    out.clear();
    let result = f(&mut out);
    if out.capacity() <= KEPT_BUFFER_LIMIT {
        OUTPUT_BUFFER.with(|slot| {
            let spare = slot.take();
            slot.set(if spare.capacity() > out.capacity() {
                spare
            } else {
                out
            });
        });
    }
    result
}

/// Byte strings at least this long are not copied into the output buffer:
/// the final assembly copies them from the bytes object straight into the
/// result, so each of their bytes is copied once.
pub const BLOB_SIZE: usize = 16 * 1024;

/// The longest header spliced in: a reference's is a list header, the tag
/// `reference` (or its symbol) and an id, well under this.
pub const HEADER_BYTES: usize = 40;

/// Bytes that go into the output at an offset of the buffer, after what is
/// there: large byte strings (copied once, straight from their object) and
/// reference headers (spliced in front of an encoding already written).
enum Piece<'py> {
    /// Bytes `start..start + len` of a bytes object, held so that it stays
    /// alive (and, being bytes, unchanged) until assembly, whatever Python
    /// code runs meanwhile.
    Blob(Bound<'py, PyAny>, usize, usize),
    /// Up to [`HEADER_BYTES`] bytes, inline (one per reference: no
    /// allocation each).
    Header([u8; HEADER_BYTES], u8),
}

impl Piece<'_> {
    fn bytes(&self) -> &[u8] {
        match self {
            // SAFETY: a blob is a live bytes object held by the piece; its
            // buffer is immutable and lives as long as the object, and the
            // range was checked against its size when the piece was made.
            Piece::Blob(blob, start, len) => unsafe {
                std::slice::from_raw_parts(
                    (ffi::PyBytes_AS_STRING(blob.as_ptr()) as *const u8).add(*start),
                    *len,
                )
            },
            Piece::Header(bytes, len) => &bytes[..*len as usize],
        }
    }
}

/// Called with each Python list the encoder starts writing and the buffer
/// offset where its encoding begins.
pub type ListWatch<'a> = &'a dyn Fn(*mut ffi::PyObject, usize);

/// The encoder's output: a growing buffer, plus pieces to insert between
/// its bytes at assembly.
pub struct Output<'a, 'py> {
    pub buf: &'a mut Vec<u8>,
    /// (offset in `buf`, order, piece). At one offset, blobs come first (a
    /// blob is the body of the string whose header ends there; what starts
    /// there comes after it), then headers, the one added last first (it
    /// wraps the ones added before).
    pieces: Vec<(usize, u64, Piece<'py>)>,
    piece_bytes: usize,
    headers: u64,
    pub(crate) list_watch: Option<ListWatch<'a>>,
}

impl<'a, 'py> Output<'a, 'py> {
    pub fn new(buf: &'a mut Vec<u8>) -> Self {
        Output {
            buf,
            pieces: Vec::new(),
            piece_bytes: 0,
            headers: 0,
            list_watch: None,
        }
    }

    /// Report every list written from now on to `watch`.
    pub fn watch_lists(&mut self, watch: ListWatch<'a>) {
        self.list_watch = Some(watch);
    }

    /// Insert all of the bytes object `blob` (`len` bytes) here, after
    /// what the buffer holds now.
    pub(crate) fn splice_blob(&mut self, blob: Bound<'py, PyBytes>, len: usize) {
        self.splice_bytes(blob, 0..len);
    }

    /// Insert bytes `range` of the bytes object `data` here, after what the
    /// buffer holds now: copied into the buffer if short, at assembly if
    /// long (then once, straight from `data`).
    pub(crate) fn splice_bytes(
        &mut self,
        data: Bound<'py, PyBytes>,
        range: std::ops::Range<usize>,
    ) {
        let bytes = &data.as_bytes()[range.clone()];
        if bytes.len() < BLOB_SIZE {
            self.buf.extend_from_slice(bytes);
            return;
        }
        self.piece_bytes += bytes.len();
        let piece = Piece::Blob(data.into_any(), range.start, range.len());
        self.pieces.push((self.buf.len(), 0, piece));
    }

    /// Insert `header` at `offset` of the buffer, in front of what was
    /// written there.
    /// Insert `header` (at most [`HEADER_BYTES`] bytes) before the encoding
    /// that starts at `offset`.
    pub fn splice_header(&mut self, offset: usize, header: &[u8]) {
        let mut bytes = [0u8; HEADER_BYTES];
        bytes[..header.len()].copy_from_slice(header);
        self.headers += 1;
        self.piece_bytes += header.len();
        self.pieces.push((
            offset,
            u64::MAX - self.headers,
            Piece::Header(bytes, header.len() as u8),
        ));
    }

    /// The encoding as one `bytes` object, built in a single pass.
    pub fn finish(mut self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        if self.pieces.is_empty() {
            return Ok(PyBytes::new(py, self.buf));
        }
        // Blobs are pushed in offset order; headers come in any order.
        if self.headers > 0 {
            self.pieces
                .sort_by_key(|&(offset, order, _)| (offset, order));
        }
        let total = self.buf.len() + self.piece_bytes;
        // SAFETY: PyBytes_FromStringAndSize(NULL, n) returns a new bytes
        // object with n writable bytes not yet shared with anyone (or NULL
        // with an exception set). The buffer's segments and the pieces are
        // written in order and add up to exactly `total` bytes.
        unsafe {
            let result = Bound::from_owned_ptr_or_err(
                py,
                ffi::PyBytes_FromStringAndSize(std::ptr::null(), total as ffi::Py_ssize_t),
            )?;
            let mut dest = ffi::PyBytes_AS_STRING(result.as_ptr()) as *mut u8;
            let mut copy = |bytes: &[u8]| {
                std::ptr::copy_nonoverlapping(bytes.as_ptr(), dest, bytes.len());
                dest = dest.add(bytes.len());
            };
            let mut copied = 0;
            for (offset, _, piece) in &self.pieces {
                copy(&self.buf[copied..*offset]);
                copied = *offset;
                copy(piece.bytes());
            }
            copy(&self.buf[copied..]);
            Ok(result.cast_into_unchecked())
        }
    }
}
