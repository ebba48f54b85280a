//! The sink that writes Banana bytes as the traversal goes: what
//! `banana.encode(jelly(obj))` would give, without the s-expression.
//!
//! A byte stream cannot be rewritten in place, so an object's start offset
//! is what the jellier keeps, and a reference header met later is spliced in
//! front of it when the output is assembled. What a `jellyFor` hook builds
//! is a Python s-expression either way; it is encoded when the hook returns,
//! noting where each object's list lands.

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString};

use super::Sink;
use crate::banana::encoder::{self, EncodeError};
use crate::jelly::jellying::context::Cx;
use crate::jelly::jellying::jellier::Skips;
use crate::pybanana::encode::{self as banana, EncodeSettings};
use crate::pybanana::errors::banana_error;
use crate::pybanana::output::Output;
use crate::pybanana::text::ascii_bytes;

/// Writes the Banana encoding (`banana.encode(jelly(obj))`) into one
/// buffer as the traversal goes.
pub(crate) struct BytesSink<'o, 'a, 'py> {
    pub out: &'o mut Output<'a, 'py>,
    pub settings: EncodeSettings<'a>,
    /// The bytes every str's encoding starts with (`[b"unicode", ...`: a
    /// list header and the tag, or its symbol), made once.
    text_head: ([u8; 16], usize),
    /// Dictionary keys written, and once there have been a few, the last
    /// ones by address with the bytes they were written as.
    keys_written: usize,
    keys: Option<Box<[WrittenKey<'py>]>>,
    /// `[b"boolean", b"false"]` and `[b"boolean", b"true"]` as written the
    /// first time (they are the same every time).
    booleans: [Option<Written>; 2],
    /// `[b"None"]` as written the first time.
    none: Option<Written>,
    /// The start of `[b"dereference", id]` (header and tag) as written the
    /// first time.
    dereference_head: Option<Written>,
    /// The first error of encoding what was jellied (a string or list over
    /// the size limit, an int beyond the prefix limit, what a hook made
    /// that Banana cannot send), raised once the traversal is done
    /// ([`BytesSink::finish`]): Twisted's `banana.encode(jelly(obj))` meets
    /// it only after `jelly` has run to the end, so an error of jellying met
    /// later is the one raised, and every hook runs as it would there.
    failure: Option<PyErr>,
    skips: Skips,
}

/// The longest encoding [`Written`] keeps (a key's, a boolean's, None's,
/// a dereference's start).
const WRITTEN_BYTES: usize = 32;

/// An encoding as first written, to be written again as it is.
struct Written {
    len: usize,
    bytes: [u8; WRITTEN_BYTES],
}

impl Written {
    /// `written`, if it is short enough to keep.
    fn of(written: &[u8]) -> Option<Written> {
        let mut bytes = [0; WRITTEN_BYTES];
        bytes.get_mut(..written.len())?.copy_from_slice(written);
        Some(Written {
            len: written.len(),
            bytes,
        })
    }

    /// The bytes appended to `buf`, in one fixed-size copy.
    #[inline(always)]
    fn write_to(&self, buf: &mut Vec<u8>) {
        buf.reserve(WRITTEN_BYTES);
        // SAFETY: `WRITTEN_BYTES` bytes are reserved past the length; the
        // first `len` (at most `WRITTEN_BYTES`) of them, which the copy
        // initializes, become part of it.
        unsafe {
            std::ptr::copy_nonoverlapping(
                self.bytes.as_ptr(),
                buf.as_mut_ptr().add(buf.len()),
                WRITTEN_BYTES,
            );
            buf.set_len(buf.len() + self.len);
        }
    }
}

/// Slots of [`BytesSink`]'s written keys (a power of two).
const KEY_SLOTS: usize = 64;
/// Keys written before the slots are made (a small message has no use
/// for them).
const KEYS_BEFORE_SLOTS: usize = 16;

/// A dictionary key as written: the str held (so that no other object
/// takes its address while it is here; a str is immutable, so the same
/// object is written the same way), and the bytes.
struct WrittenKey<'py> {
    address: usize,
    text: Option<Bound<'py, PyString>>,
    written: Written,
}

/// Which slot a key's address goes in.
#[inline(always)]
fn key_slot(address: usize) -> usize {
    (address >> 4 ^ address >> 11) & (KEY_SLOTS - 1)
}

impl<'o, 'a, 'py> BytesSink<'o, 'a, 'py> {
    pub(crate) fn new(out: &'o mut Output<'a, 'py>, settings: EncodeSettings<'a>) -> Self {
        // Written where the output goes next, kept, and taken back (no
        // buffer of its own to allocate): the header and the tag as
        // written, 16 bytes at most.
        let mark = out.buf.len();
        encoder::write_list_header(out.buf, 2);
        match settings.vocabulary.and_then(|v| v.lookup(b"unicode")) {
            Some(symbol) => encoder::write_vocab(out.buf, symbol),
            None => encoder::write_string(out.buf, b"unicode", u64::MAX).expect("no limit"),
        }
        let mut text_head = [0u8; 16];
        let length = out.buf.len() - mark;
        text_head[..length].copy_from_slice(&out.buf[mark..]);
        out.buf.truncate(mark);
        BytesSink {
            out,
            settings,
            text_head: (text_head, length),
            keys_written: 0,
            keys: None,
            booleans: [None, None],
            none: None,
            dereference_head: None,
            failure: None,
            skips: Skips::new(),
        }
    }

    /// The traversal is done: the first encoding error, if there was one.
    pub(crate) fn finish(&mut self) -> PyResult<()> {
        match self.failure.take() {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }
}

/// A container being written: how many items its header announced.
pub(crate) struct Counted {
    announced: usize,
    written: usize,
}

impl<'py> BytesSink<'_, '_, 'py> {
    /// Note an encoding error (see [`BytesSink::failure`]); the traversal
    /// goes on, the output being of no more use.
    #[cold]
    #[inline(never)]
    fn failed(&mut self, error: PyErr) {
        if self.failure.is_none() {
            self.failure = Some(error);
        }
    }

    /// Note the error of `written`, if any.
    #[inline(always)]
    fn written(&mut self, written: PyResult<()>) {
        if let Err(error) = written {
            self.failed(error);
        }
    }

    /// `[b"unicode", ` written token by token, for limits so small that
    /// they may refuse it.
    #[cold]
    #[inline(never)]
    fn text_head(&mut self, cx: &Cx<'_, 'py>) {
        self.header(cx, 2);
        self.write_atom(&cx.refs.atoms.unicode, cx.py());
    }

    fn write(&mut self, value: &Bound<'py, PyAny>) {
        let written = banana::encode_into(value, &self.settings, self.out);
        self.written(written);
    }

    /// A tag: a short byte string, or its vocabulary symbol.
    fn write_atom(&mut self, atom: &Py<PyBytes>, py: Python<'py>) {
        // SAFETY: atoms are bytes objects, alive as long as `PythonObjects`.
        let written = unsafe { banana::write_bytes(py, atom.as_ptr(), &self.settings, self.out) };
        self.written(written);
    }

    #[inline(always)]
    fn header(&mut self, cx: &Cx<'_, 'py>, count: usize) {
        if count as u64 > self.settings.size_limit {
            let error = EncodeError::ListTooLong(count as u64);
            self.failed(banana_error(cx.py(), error.to_string()));
        }
        encoder::write_list_header(self.out.buf, count as u64);
    }
}

impl<'py> Sink<'py> for BytesSink<'_, '_, 'py> {
    type Out = ();
    type Seq = Counted;
    const FIXED_LENGTH: bool = true;

    fn position(&self) -> Option<usize> {
        Some(self.out.buf.len())
    }

    // Inlined into the traversal's dispatch: what most items of a
    // container are.
    #[inline(always)]
    fn scalar(&mut self, _cx: &Cx<'_, 'py>, value: &Bound<'py, PyAny>) -> PyResult<()> {
        let py = value.py();
        let pointer = value.as_ptr();
        let ty = value.get_type_ptr();
        // SAFETY: the writers are given objects of exactly their type.
        let written = unsafe {
            if ty == &raw mut ffi::PyBytes_Type {
                banana::write_bytes(py, pointer, &self.settings, self.out)
            } else if ty == &raw mut ffi::PyLong_Type {
                banana::write_int(py, pointer, &self.settings, self.out)
            } else if ty == &raw mut ffi::PyFloat_Type {
                encoder::write_float(self.out.buf, ffi::PyFloat_AS_DOUBLE(pointer));
                Ok(())
            } else {
                banana::encode_into(value, &self.settings, self.out)
            }
        };
        self.written(written);
        Ok(())
    }

    fn pair(
        &mut self,
        cx: &Cx<'_, 'py>,
        tag: &Py<PyBytes>,
        value: Bound<'py, PyAny>,
    ) -> PyResult<()> {
        self.header(cx, 2);
        self.write_atom(tag, cx.py());
        self.scalar(cx, &value)
    }

    /// The UTF-8 goes from the str's own buffer into the output: no bytes
    /// object is made.
    fn text(&mut self, cx: &Cx<'_, 'py>, text: &Bound<'py, PyString>) -> PyResult<()> {
        let within_limits = self.settings.size_limit >= 7;
        if !within_limits {
            self.text_head(cx);
        }
        // Strict, like str.encode("UTF-8"): a lone surrogate raises
        // UnicodeEncodeError (ASCII has none).
        let utf8 = match ascii_bytes(text) {
            Some(ascii) => ascii,
            None => text.to_str()?.as_bytes(),
        };
        let written = if within_limits {
            // Within the limits whatever the str: the head as made once,
            // written with the string.
            let (head, len) = &self.text_head;
            encoder::write_headed_string(self.out.buf, head, *len, utf8, self.settings.size_limit)
        } else {
            encoder::write_string(self.out.buf, utf8, self.settings.size_limit)
        };
        if let Err(error) = written {
            self.failed(banana_error(cx.py(), error.to_string()));
        }
        Ok(())
    }

    fn boolean(&mut self, cx: &Cx<'_, 'py>, value: bool) -> PyResult<()> {
        if let Some(written) = &self.booleans[value as usize] {
            written.write_to(self.out.buf);
            return Ok(());
        }
        let start = self.out.buf.len();
        let atoms = &cx.refs.atoms;
        let atom = if value { &atoms.r#true } else { &atoms.r#false };
        self.pair(cx, &atoms.boolean, cx.atom(atom))?;
        self.booleans[value as usize] = Written::of(&self.out.buf[start..]);
        Ok(())
    }

    fn none(&mut self, cx: &Cx<'_, 'py>) -> PyResult<()> {
        if let Some(written) = &self.none {
            written.write_to(self.out.buf);
            return Ok(());
        }
        let start = self.out.buf.len();
        self.single(cx, &cx.refs.atoms.none)?;
        self.none = Written::of(&self.out.buf[start..]);
        Ok(())
    }

    fn key_text(&mut self, cx: &Cx<'_, 'py>, text: &Bound<'py, PyString>) -> PyResult<()> {
        let address = text.as_ptr() as usize;
        let slot = key_slot(address);
        if let Some(keys) = &self.keys {
            let key = &keys[slot];
            if key.address == address {
                key.written.write_to(self.out.buf);
                return Ok(());
            }
        }
        let start = self.out.buf.len();
        self.text(cx, text)?;
        self.keys_written += 1;
        if self.keys_written < KEYS_BEFORE_SLOTS {
            return Ok(());
        }
        let Some(written) = Written::of(&self.out.buf[start..]) else {
            return Ok(());
        };
        let keys = self.keys.get_or_insert_with(|| {
            (0..KEY_SLOTS)
                .map(|_| WrittenKey {
                    address: 0,
                    text: None,
                    written: Written {
                        len: 0,
                        bytes: [0; WRITTEN_BYTES],
                    },
                })
                .collect()
        });
        let key = &mut keys[slot];
        key.written = written;
        key.address = address;
        key.text = Some(text.clone());
        Ok(())
    }

    fn single(&mut self, cx: &Cx<'_, 'py>, tag: &Py<PyBytes>) -> PyResult<()> {
        self.header(cx, 1);
        self.write_atom(tag, cx.py());
        Ok(())
    }

    fn open(
        &mut self,
        cx: &Cx<'_, 'py>,
        tag: Bound<'py, PyAny>,
        items: usize,
    ) -> PyResult<Counted> {
        self.header(cx, items + 1);
        self.scalar(cx, &tag)?;
        Ok(Counted {
            announced: items,
            written: 0,
        })
    }

    fn open_item(&mut self, cx: &Cx<'_, 'py>) -> PyResult<()> {
        self.header(cx, 2);
        Ok(())
    }

    fn close_item(&mut self, _cx: &Cx<'_, 'py>, _key: (), _value: ()) -> PyResult<()> {
        Ok(())
    }

    fn push(&mut self, seq: &mut Counted, _item: ()) {
        seq.written += 1;
    }

    fn close(&mut self, _cx: &Cx<'_, 'py>, seq: Counted) -> PyResult<()> {
        if seq.written != seq.announced {
            return Err(pyo3::exceptions::PyRuntimeError::new_err(
                "a container changed size while it was being jellied",
            ));
        }
        Ok(())
    }

    fn dereference(
        &mut self,
        cx: &Cx<'_, 'py>,
        _object: &Bound<'py, PyAny>,
        id: i64,
    ) -> PyResult<()> {
        match &self.dereference_head {
            Some(head) => head.write_to(self.out.buf),
            None => {
                let start = self.out.buf.len();
                self.header(cx, 2);
                self.write_atom(&cx.refs.atoms.dereference, cx.py());
                self.dereference_head = Written::of(&self.out.buf[start..]);
            }
        }
        if let Err(error) = encoder::write_i64(self.out.buf, id, self.settings.prefix_limit) {
            self.failed(banana_error(cx.py(), error.to_string()));
        }
        Ok(())
    }

    fn sexp(&mut self, _cx: &Cx<'_, 'py>, sexp: Bound<'py, PyAny>) -> PyResult<()> {
        self.write(&sexp);
        Ok(())
    }

    fn skips(&mut self) -> &mut Skips {
        &mut self.skips
    }

    fn kept(_out: &()) -> Option<Py<PyAny>> {
        // A reference is spliced in at the offset noted when it began.
        None
    }

    fn finish_object(
        &mut self,
        _cx: &Cx<'_, 'py>,
        _object: &Bound<'py, PyAny>,
        _out: (),
    ) -> PyResult<()> {
        // Its start offset was noted when it was opened; a reference to it
        // is spliced there at assembly.
        Ok(())
    }
}
