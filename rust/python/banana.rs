//! Banana over Python objects: the encoder walks s-expressions made of Python
//! lists, tuples, bytes, ints and floats; the decoder builds them.
//!
//! Both dispatch on exact type pointers first and touch the objects through
//! CPython's macros, so the common case runs no Python code at all; subclasses
//! take a slower path with Twisted's `isinstance` order.

use pyo3::buffer::PyBuffer;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyDict, PyString};

use crate::banana::decoder::{self, Builder, Digits, Limits};
use crate::banana::encoder::{self, EncodeError};
use crate::banana::error::{DecodeError, ErrorKind};
use crate::banana::vocabulary::{OutgoingVocabulary, PB_VOCABULARY};
use crate::banana::words::padded_word;

use super::errors::{banana_error, encode_error, BuildError};

/// Symbol ids above this are not kept in an incoming vocabulary table (the
/// `pb` dialect's go up to 31).
const MAX_SYMBOL_ID: u64 = 1 << 16;

// ---------------------------------------------------------------------------
// Encoding

/// What an encoder needs besides the object.
pub struct EncodeSettings<'a> {
    pub prefix_limit: usize,
    pub size_limit: u64,
    pub max_depth: usize,
    /// `Some` in dialect `pb`: byte strings in it travel as VOCAB tokens.
    pub vocabulary: Option<&'a OutgoingVocabulary>,
}

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
const BLOB_SIZE: usize = 16 * 1024;

/// The longest header spliced in: a reference's is a list header, the tag
/// `reference` (or its symbol) and an id, well under this.
pub const HEADER_BYTES: usize = 40;

/// Bytes that go into the output at an offset of the buffer, after what is
/// there: large byte strings (copied once, straight from their object) and
/// reference headers (spliced in front of an encoding already written).
enum Piece<'py> {
    /// A bytes object, held so that it stays alive (and, being bytes,
    /// unchanged) until assembly, whatever Python code runs meanwhile.
    Blob(Bound<'py, PyAny>),
    /// Up to [`HEADER_BYTES`] bytes, inline (one per reference: no
    /// allocation each).
    Header([u8; HEADER_BYTES], u8),
}

impl Piece<'_> {
    fn bytes(&self) -> &[u8] {
        match self {
            // SAFETY: a blob is a live bytes object held by the piece; its
            // buffer is immutable and lives as long as the object.
            Piece::Blob(blob) => unsafe {
                std::slice::from_raw_parts(
                    ffi::PyBytes_AS_STRING(blob.as_ptr()) as *const u8,
                    ffi::Py_SIZE(blob.as_ptr()) as usize,
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
    list_watch: Option<ListWatch<'a>>,
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

    fn splice_blob(&mut self, blob: Bound<'py, PyAny>, len: usize) {
        self.pieces.push((self.buf.len(), 0, Piece::Blob(blob)));
        self.piece_bytes += len;
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

/// A list or tuple being written.
struct Sequence<'py> {
    /// Holds the container alive while its items are read by index.
    container: Bound<'py, PyAny>,
    is_list: bool,
    /// Items announced in the header; exactly these many are written.
    count: isize,
    next: isize,
}

/// Append the Banana encoding of the s-expression `root` to `out`.
pub fn encode_into<'py>(
    root: &Bound<'py, PyAny>,
    settings: &EncodeSettings<'_>,
    out: &mut Output<'_, 'py>,
) -> PyResult<()> {
    let py = root.py();
    let mut stack: Vec<Sequence<'py>> = Vec::new();
    // `item` is borrowed: from `root`, or from a container on the stack,
    // which holds a strong reference to it for as long as it is read here.
    let mut item = root.as_ptr();
    loop {
        // SAFETY: `item` is a live object (see above); the type checks and
        // field reads are CPython's own macros on an object of that type.
        unsafe {
            let ty = ffi::Py_TYPE(item);
            if ty == &raw mut ffi::PyBytes_Type {
                write_bytes(py, item, settings, out)?;
            } else if ty == &raw mut ffi::PyLong_Type || ty == &raw mut ffi::PyBool_Type {
                write_int(py, item, settings, out)?;
            } else if ty == &raw mut ffi::PyList_Type || ty == &raw mut ffi::PyTuple_Type {
                let sequence = Bound::from_borrowed_ptr(py, item);
                open_sequence(sequence, settings, &mut stack, out)?;
            } else if ty == &raw mut ffi::PyFloat_Type {
                encoder::write_float(out.buf, ffi::PyFloat_AS_DOUBLE(item));
            } else {
                let object = Bound::from_borrowed_ptr(py, item);
                encode_subclass(&object, settings, &mut stack, out)?;
            }
        }
        // Move to the next item of the innermost unfinished sequence.
        loop {
            let Some(top) = stack.last_mut() else {
                return Ok(());
            };
            if top.next < top.count {
                item = top.item(top.next)?;
                top.next += 1;
                break;
            }
            stack.pop();
        }
    }
}

impl Sequence<'_> {
    fn item(&self, index: isize) -> PyResult<*mut ffi::PyObject> {
        let container = self.container.as_ptr();
        // SAFETY: `container` is an exact list or tuple (see `open_sequence`),
        // kept alive by `self`; the index is checked against its current size,
        // which Python code run for a subclass item elsewhere may have changed.
        unsafe {
            if self.is_list {
                if index >= ffi::PyList_GET_SIZE(container) {
                    return Err(pyo3::exceptions::PyRuntimeError::new_err(
                        "list changed size while it was being encoded",
                    ));
                }
                Ok(ffi::PyList_GET_ITEM(container, index))
            } else {
                Ok(ffi::PyTuple_GET_ITEM(container, index))
            }
        }
    }
}

/// Write a list header and push the sequence. `sequence` is an exact list or
/// tuple.
fn open_sequence<'py>(
    sequence: Bound<'py, PyAny>,
    settings: &EncodeSettings<'_>,
    stack: &mut Vec<Sequence<'py>>,
    out: &mut Output<'_, 'py>,
) -> PyResult<()> {
    let py = sequence.py();
    if stack.len() >= settings.max_depth {
        let error = EncodeError::TooDeep(settings.max_depth);
        return Err(encode_error(py, &error, &sequence));
    }
    let pointer = sequence.as_ptr();
    // SAFETY: the caller checked that `sequence` is an exact list or tuple.
    let (is_list, count) = unsafe {
        if ffi::PyList_CheckExact(pointer) != 0 {
            (true, ffi::PyList_GET_SIZE(pointer))
        } else {
            (false, ffi::PyTuple_GET_SIZE(pointer))
        }
    };
    if count as u64 > settings.size_limit {
        let error = EncodeError::ListTooLong(count as u64);
        return Err(encode_error(py, &error, &sequence));
    }
    if is_list {
        if let Some(watch) = out.list_watch {
            watch(pointer, out.buf.len());
        }
    }
    encoder::write_list_header(out.buf, count as u64);
    if count > 0 {
        stack.push(Sequence {
            container: sequence,
            is_list,
            count,
            next: 0,
        });
    }
    Ok(())
}

/// The slow path: subclasses of the supported types, in the order of
/// Twisted's `isinstance` checks, and the error for everything else.
fn encode_subclass<'py>(
    object: &Bound<'py, PyAny>,
    settings: &EncodeSettings<'_>,
    stack: &mut Vec<Sequence<'py>>,
    out: &mut Output<'_, 'py>,
) -> PyResult<()> {
    let py = object.py();
    let pointer = object.as_ptr();
    // SAFETY: `object` is alive; the checks only read its type's flags.
    let (is_sequence, is_int, is_float, is_bytes) = unsafe {
        (
            ffi::PyList_Check(pointer) != 0 || ffi::PyTuple_Check(pointer) != 0,
            ffi::PyLong_Check(pointer) != 0,
            ffi::PyFloat_Check(pointer) != 0,
            ffi::PyBytes_Check(pointer) != 0,
        )
    };
    if is_sequence {
        // A subclass may override iteration: take its items as Python
        // iterates them, into a plain list that nothing else can change.
        // SAFETY: PySequence_List returns a new reference or NULL with an
        // exception set, which from_owned_ptr_or_err turns into Err.
        let items = unsafe { Bound::from_owned_ptr_or_err(py, ffi::PySequence_List(pointer))? };
        return open_sequence(items, settings, stack, out);
    }
    // SAFETY (all three): the object passed the matching subtype check.
    if is_int {
        return unsafe { write_int(py, pointer, settings, out) };
    }
    if is_float {
        encoder::write_float(out.buf, unsafe { ffi::PyFloat_AS_DOUBLE(pointer) });
        return Ok(());
    }
    if is_bytes {
        return unsafe { write_bytes(py, pointer, settings, out) };
    }
    let type_name = py
        .import("twisted.python.reflect")?
        .getattr("fullyQualifiedName")?
        .call1((object.get_type(),))?;
    Err(banana_error(
        py,
        format!("Banana cannot send {type_name} objects: {}", object.repr()?),
    ))
}

/// # Safety
/// `item` must be a live `bytes` object (or subclass instance).
#[inline]
pub(crate) unsafe fn write_bytes<'py>(
    py: Python<'py>,
    item: *mut ffi::PyObject,
    settings: &EncodeSettings<'_>,
    out: &mut Output<'_, 'py>,
) -> PyResult<()> {
    let data = ffi::PyBytes_AS_STRING(item) as *const u8;
    let len = ffi::Py_SIZE(item) as usize;
    // The bytes object owns this memory and is immutable; `item` outlives the
    // slice, which is dropped before this function returns.
    let bytes = std::slice::from_raw_parts(data, len);
    if let Some(id) = settings.vocabulary.and_then(|v| v.lookup(bytes)) {
        encoder::write_vocab(out.buf, id);
        return Ok(());
    }
    if len < BLOB_SIZE {
        return encoder::write_string(out.buf, bytes, settings.size_limit)
            .map_err(|error| encode_error(py, &error, &Bound::from_borrowed_ptr(py, item)));
    }
    encoder::write_string_header(out.buf, len as u64, settings.size_limit)
        .map_err(|error| encode_error(py, &error, &Bound::from_borrowed_ptr(py, item)))?;
    out.splice_blob(Bound::from_borrowed_ptr(py, item), len);
    Ok(())
}

/// # Safety
/// `item` must be a live `int` object (or subclass instance).
#[inline]
pub(crate) unsafe fn write_int<'py>(
    py: Python<'py>,
    item: *mut ffi::PyObject,
    settings: &EncodeSettings<'_>,
    out: &mut Output<'_, 'py>,
) -> PyResult<()> {
    let mut overflow = 0;
    let value = ffi::PyLong_AsLongLongAndOverflow(item, &mut overflow);
    if overflow != 0 {
        let object = Bound::from_borrowed_ptr(py, item);
        return write_big_int(&object, overflow < 0, settings, out);
    }
    encoder::write_i64(out.buf, value, settings.prefix_limit)
        .map_err(|error| encode_error(py, &error, &Bound::from_borrowed_ptr(py, item)))
}

/// Integers beyond 64 bits: rare, so Python's own methods do the conversion.
#[cold]
fn write_big_int<'py>(
    object: &Bound<'py, PyAny>,
    negative: bool,
    settings: &EncodeSettings<'_>,
    out: &mut Output<'_, 'py>,
) -> PyResult<()> {
    let py = object.py();
    let int = py.get_type::<pyo3::types::PyInt>();
    let magnitude = if negative {
        object.neg()?
    } else {
        object.clone()
    };
    let bits: usize = int.call_method1("bit_length", (&magnitude,))?.extract()?;
    if !encoder::magnitude_fits(bits, settings.prefix_limit) {
        return Err(encode_error(py, &EncodeError::IntTooLarge, object));
    }
    let bytes = int.call_method1("to_bytes", (&magnitude, bits.div_ceil(8), "little"))?;
    let bytes = bytes.cast_into::<PyBytes>()?;
    encoder::write_big_int(out.buf, negative, bytes.as_bytes(), settings.prefix_limit)
        .map_err(|error| encode_error(py, &error, object))
}

// ---------------------------------------------------------------------------
// Decoding

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

    fn get(&self, id: Option<u64>) -> Option<&Py<PyAny>> {
        self.symbols.get(usize::try_from(id?).ok()?)?.as_ref()
    }
}

/// Strings up to this many bytes are shared with equal recent ones.
const RECENT_BYTES: usize = 24;
/// Slots of each cache of recent strings (a power of two).
const RECENT_SLOTS: usize = 512;

struct RecentEntry {
    /// The bytes as zero-padded little-endian words, and their length.
    words: [u64; RECENT_BYTES / 8],
    len: usize,
    object: Py<PyAny>,
}

type RecentSlots = Vec<Option<RecentEntry>>;

thread_local! {
    static RECENT_TEXTS: std::cell::Cell<RecentSlots> = const { std::cell::Cell::new(Vec::new()) };
    static RECENT_BYTES_OBJECTS: std::cell::Cell<RecentSlots> =
        const { std::cell::Cell::new(Vec::new()) };
}

/// Recently decoded short strings, by a hash of their bytes: jelly tags
/// and dict keys repeat all through a message (a thousand records with the
/// same field names) and from one message to the next. Strings and bytes
/// are immutable, so sharing one object between equal ones changes nothing
/// but the allocations, and the shared object keeps its hash for every dict
/// (or registry lookup) it goes into.
///
/// One cache of each kind per thread; a decode takes it for its duration
/// (so that each string costs no thread-local lookup) and gives it back
/// when dropped. A decode nested in a hook gets an empty one.
pub(crate) struct Recent {
    slots: RecentSlots,
    /// Text (dict keys) or bytes.
    text: bool,
}

impl Recent {
    fn take(text: bool) -> Recent {
        let store = if text {
            &RECENT_TEXTS
        } else {
            &RECENT_BYTES_OBJECTS
        };
        let mut slots = store.with(|cache| cache.take());
        if slots.is_empty() {
            slots.resize_with(RECENT_SLOTS, || None);
        }
        Recent { slots, text }
    }

    /// This thread's cache of text dict keys.
    pub(crate) fn texts() -> Recent {
        Recent::take(true)
    }

    /// This thread's cache of byte strings.
    pub(crate) fn bytes() -> Recent {
        Recent::take(false)
    }

    /// The str whose UTF-8 is `bytes` (or the bytes object, for a cache of
    /// bytes), shared with the equal one decoded last if it is short.
    #[inline]
    pub(crate) fn get<'py>(
        &mut self,
        py: Python<'py>,
        bytes: &[u8],
    ) -> PyResult<Bound<'py, PyAny>> {
        if bytes.len() > RECENT_BYTES {
            return self.make(py, bytes);
        }
        let words = [
            padded_word(bytes, 0),
            padded_word(bytes, 8),
            padded_word(bytes, 16),
        ];
        let mixed =
            (words[0] ^ words[1].rotate_left(21) ^ words[2].rotate_left(42) ^ bytes.len() as u64)
                .wrapping_mul(0x9e37_79b9_7f4a_7c15);
        let index = (mixed >> 40) as usize & (RECENT_SLOTS - 1);
        if let Some(entry) = &self.slots[index] {
            if entry.len == bytes.len() && entry.words == words {
                return Ok(entry.object.bind(py).clone());
            }
        }
        let object = self.make(py, bytes)?;
        self.slots[index] = Some(RecentEntry {
            words,
            len: bytes.len(),
            object: object.clone().unbind(),
        });
        Ok(object)
    }

    #[inline]
    fn make<'py>(&self, py: Python<'py>, bytes: &[u8]) -> PyResult<Bound<'py, PyAny>> {
        if self.text {
            return Ok(PyString::from_bytes(py, bytes)?.into_any());
        }
        // SAFETY: the constructor copies `bytes`; the new reference (or
        // NULL and an exception) is taken at once.
        unsafe {
            Bound::from_owned_ptr_or_err(
                py,
                ffi::PyBytes_FromStringAndSize(
                    bytes.as_ptr().cast(),
                    bytes.len() as ffi::Py_ssize_t,
                ),
            )
        }
    }
}

impl Drop for Recent {
    fn drop(&mut self) {
        let slots = std::mem::take(&mut self.slots);
        let store = if self.text {
            &RECENT_TEXTS
        } else {
            &RECENT_BYTES_OBJECTS
        };
        store.with(|cache| {
            let spare = cache.take();
            cache.set(if spare.is_empty() { slots } else { spare });
        });
    }
}

/// Builds Python s-expressions: `list`, `bytes`, `int`, `float`.
pub struct PyBuilder<'py, 'v> {
    pub py: Python<'py>,
    pub vocabulary: &'v IncomingVocabulary,
    pub pb_dialect: bool,
    /// Short byte strings (tags, keys) shared with equal recent ones.
    pub strings: Recent,
}

impl<'py, 'v> PyBuilder<'py, 'v> {
    pub fn new(py: Python<'py>, vocabulary: &'v IncomingVocabulary, pb_dialect: bool) -> Self {
        PyBuilder {
            py,
            vocabulary,
            pb_dialect,
            strings: Recent::bytes(),
        }
    }
}

impl PyBuilder<'_, '_> {
    /// Wrap a new reference from the C API, or fetch the error it set.
    #[inline]
    fn owned(&self, pointer: *mut ffi::PyObject) -> Result<Py<PyAny>, BuildError> {
        // SAFETY: `pointer` is a new reference just returned by the C API, or
        // NULL with an exception set.
        unsafe { Ok(Bound::from_owned_ptr_or_err(self.py, pointer)?.unbind()) }
    }
}

impl Builder for PyBuilder<'_, '_> {
    type Value = Py<PyAny>;
    type List = Vec<Py<PyAny>>;
    type Error = BuildError;

    #[inline]
    fn list(&mut self, capacity: usize) -> Self::List {
        Vec::with_capacity(capacity)
    }

    #[inline]
    fn push(&mut self, list: &mut Self::List, item: Py<PyAny>) -> Result<(), BuildError> {
        list.push(item);
        Ok(())
    }

    fn finish_list(&mut self, items: Self::List) -> Result<Py<PyAny>, BuildError> {
        // SAFETY: PyList_New(n) returns a list with n NULL slots (or NULL and
        // an exception); each slot is filled exactly once with a reference
        // whose ownership moves into the list (into_ptr).
        unsafe {
            let list = ffi::PyList_New(items.len() as ffi::Py_ssize_t);
            if list.is_null() {
                return Err(PyErr::fetch(self.py).into());
            }
            for (index, item) in items.into_iter().enumerate() {
                ffi::PyList_SET_ITEM(list, index as ffi::Py_ssize_t, item.into_ptr());
            }
            self.owned(list)
        }
    }

    #[inline]
    fn int(&mut self, negative: bool, digits: Digits<'_>) -> Result<Py<PyAny>, BuildError> {
        // SAFETY: plain constructors; `owned` takes the new reference.
        match digits.to_u64() {
            Some(value) if !negative => {
                self.owned(unsafe { ffi::PyLong_FromUnsignedLongLong(value) })
            }
            Some(value) if value <= i64::MAX as u64 => {
                self.owned(unsafe { ffi::PyLong_FromLongLong(-(value as i64)) })
            }
            _ => Ok(big_int(self.py, negative, &digits.to_le_bytes())?),
        }
    }

    #[inline]
    fn string(&mut self, bytes: &[u8]) -> Result<Py<PyAny>, BuildError> {
        Ok(self.strings.get(self.py, bytes)?.unbind())
    }

    #[inline]
    fn float(&mut self, value: f64) -> Result<Py<PyAny>, BuildError> {
        // SAFETY: plain constructor; `owned` takes the new reference.
        self.owned(unsafe { ffi::PyFloat_FromDouble(value) })
    }

    fn vocab(&mut self, id: Digits<'_>, offset: u64) -> Result<Py<PyAny>, BuildError> {
        let id = id.to_u64();
        let Some(symbol) = self.vocabulary.get(id) else {
            return Err(DecodeError::new(offset, ErrorKind::UnknownVocabulary { id }).into());
        };
        if !self.pb_dialect {
            let id = id.unwrap_or_default();
            return Err(DecodeError::new(offset, ErrorKind::VocabularyNotInDialect { id }).into());
        }
        Ok(symbol.clone_ref(self.py))
    }
}

/// An int from sign and little-endian magnitude of any size.
#[cold]
pub fn big_int(py: Python<'_>, negative: bool, magnitude: &[u8]) -> PyResult<Py<PyAny>> {
    let int = py.get_type::<pyo3::types::PyInt>();
    let value = int.call_method1("from_bytes", (PyBytes::new(py, magnitude), "little"))?;
    Ok(if negative { value.neg()? } else { value }.unbind())
}

/// Run `f` on the bytes of a bytes-like object, without a copy for `bytes`.
pub fn with_bytes<R>(data: &Bound<'_, PyAny>, f: impl FnOnce(&[u8]) -> R) -> PyResult<R> {
    if let Ok(bytes) = data.cast::<PyBytes>() {
        return Ok(f(bytes.as_bytes()));
    }
    let buffer = PyBuffer::<u8>::get(data)?;
    Ok(f(&buffer.to_vec(data.py())?))
}

/// Decode the first expression of `data` the way Twisted's `banana.decode`
/// does (dialect `none`).
pub fn decode_first(data: &Bound<'_, PyAny>, limits: &Limits) -> PyResult<Py<PyAny>> {
    let py = data.py();
    let mut builder = PyBuilder::new(py, IncomingVocabulary::pb(py), false);
    let _pause = super::gc::GcPause::new(py);
    with_bytes(data, |bytes| {
        decoder::decode_first(bytes, &mut builder, limits)
    })?
    .map_err(|error| error.into_pyerr(py))
}
