//! Banana bytes straight to objects (`pbfast.loads`): unjelly reading the
//! token stream itself, with no s-expression built for what it handles.
//!
//! The reader walks the bytes once, recursing per jelly expression the way
//! Twisted's unjelly recurses per list. A list's first item is its jelly tag:
//! a built-in tag known to need no check (the taster allows it, no registry
//! claims it: see [`super::taster::Taster::plain_builtins`], asked again
//! whenever Python code has run) is recognised from its bytes, without a
//! Python object; any other tag goes through [`Frame::begin`], the same
//! checks in the same order as the recursive unjelly. The expressions jelly
//! writes most (`[b"unicode", text]` and str dictionary keys, `[b"None"]`,
//! booleans, dereferences, the container tags) are matched as whole byte
//! [`shapes`], a word at a time. The items are then read as the tag's [`Frame`] asks: unjellied,
//! as `[key, value]` pairs, or raw — as the s-expressions they are, for the
//! hooks and Twisted's own methods that take them so.
//!
//! `[b"reference", id, [b"dictionary", ...]]` (or `list`) registers the
//! dictionary before filling it, so that the dereferences of a cycle back to
//! it find it at once instead of going through a placeholder (see
//! [`super::unjellier::Building`] for why the outcome is the same).
//!
//! Twisted decodes all the bytes before it unjellies anything; so when an
//! expression is refused here, the rest of the bytes are checked, and
//! malformed bytes are reported instead, as `BananaError`.
//!
//! Uses [`crate::banana`]'s token scanner, [`crate::pybanana`]'s builder,
//! caches and errors, and the unjellier, frames and references.

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyInt, PyList, PyTuple};

use crate::banana::decoder::{
    self, float_body, long_header, scan_token, short_header, Limits, Scan, Token, Validate,
};
use crate::banana::error::{DecodeError, ErrorKind};
use crate::banana::shapes;
use crate::banana::vocabulary::PB_VOCABULARY;
use crate::banana::words::padded_word;
use crate::banana::{FLOAT, INT, LIST, LONGINT, LONGNEG, NEG, STRING, VOCAB};
use crate::pybanana::bigint::int_from_u128;
use crate::pybanana::buffer::with_bytes;
use crate::pybanana::decode::PyBuilder;
use crate::pybanana::encoded::Encoded;
use crate::pybanana::errors::{decode_error, BuildError, Failure};
use crate::pybanana::gc::GcPause;
use crate::pybanana::recent::Recent;
use crate::pybanana::text::bytes_object;
use crate::pybanana::vocabulary::IncomingVocabulary;

use super::frame::{forward_reference_key, Frame, Mode, Sequence};
use super::references::{
    dereference_building, finish_early_reference, finish_reference_entry, is_not_known,
    resolve_reference,
};
use super::refs::Refs;
use super::tags::Builtin;
use super::unjellier::{run_post_callbacks, RefId, Unjellier};
use super::unjelly::too_deep;
use super::values::{boolean, plain_date_or_time, plain_decimal, unicode, PLAIN_EXPONENT};
use super::{bad_input, Depth, Stack};

type Result<T> = std::result::Result<T, BuildError>;

/// What an item read to.
enum Value<'py> {
    /// An object that cannot be a forward-reference placeholder (a scalar,
    /// a str, a dict, a list, ...): holders skip the check.
    Plain(Bound<'py, PyAny>),
    /// Anything else (it may be a placeholder).
    Ready(Bound<'py, PyAny>),
    /// A dictionary or list still being filled, reached by a dereference,
    /// and its index among the objects being filled.
    Building(Bound<'py, PyAny>, usize),
}

/// A new container kept out of the garbage collector's lists while its
/// slots are being filled, and put back exactly once ([`Untracked::track`]),
/// or never if it is dropped unfinished (its dealloc does not mind).
struct Untracked {
    object: *mut ffi::PyObject,
    tracked: std::cell::Cell<bool>,
}

impl Untracked {
    fn new(object: &Bound<'_, PyAny>) -> Untracked {
        // SAFETY: `object` is a new GC container (a list, or a tuple of at
        // least one item: never a shared singleton) that the caller holds;
        // untracking an object only takes it off the collector's lists.
        unsafe { ffi::PyObject_GC_UnTrack(object.as_ptr().cast()) };
        Untracked {
            object: object.as_ptr(),
            tracked: std::cell::Cell::new(false),
        }
    }

    /// Give the container back to the collector (once; later calls do
    /// nothing). It must still be alive: the caller holds it.
    fn track(&self) {
        if !self.tracked.replace(true) {
            // SAFETY: the object is alive (held by the caller) and untracked
            // (by `new`, and tracked nowhere else), so tracking it once is
            // what PyObject_GC_Track requires.
            unsafe { ffi::PyObject_GC_Track(self.object.cast()) };
        }
    }
}

struct Reader<'a, 'py> {
    py: Python<'py>,
    slf: &'a Bound<'py, Unjellier>,
    me: &'a Unjellier,
    refs: &'static Refs,
    input: &'a [u8],
    /// `input.len() - 15`, or 0: a position below it has 16 bytes from it
    /// (see [`Reader::words_at`]).
    words_end: usize,
    /// `input.len() - 7`, or 0: the same for 8 bytes ([`Reader::short_word`]).
    word_end: usize,
    pos: usize,
    limits: Limits,
    scalars: PyBuilder<'py, 'static>,
    /// True in dialect `pb`: tags may be VOCAB tokens.
    pb_dialect: bool,
    /// Banana lists open around the position.
    lists: usize,
    /// Slots reserved for the items of open containers and not yet filled,
    /// all together (see [`Reader::room`]).
    reserved: usize,
    /// Open containers holding reservations.
    reserving: usize,
    /// Recent short strs (dict keys, short values), shared with equal ones.
    texts: Recent,
    /// True if the limits allow [`shapes`] (one-digit prefixes, the tags'
    /// length), so that matching one is reading it.
    shapes: bool,
    stack: &'a Stack,
}

impl<'a, 'py> Reader<'a, 'py> {
    /// The token at `at` and its length, if one is complete and valid there.
    #[inline]
    fn peek(&self, at: usize) -> Option<(Token<'a>, usize)> {
        match scan_token(&self.input[at..], &self.limits) {
            Ok(Scan::Token(token, used)) => Some((token, used)),
            _ => None,
        }
    }

    /// The string token at `at` with a short header, if complete and valid:
    /// its bytes and the token's length. (A string that this misses is
    /// still read correctly, the general way.)
    #[inline(always)]
    fn short_string(&self, at: usize) -> Option<(&'a [u8], usize)> {
        let input = &self.input[at..];
        match short_header(input, &self.limits)? {
            (STRING, length, header) if length <= self.limits.size => {
                let end = header + length as usize;
                Some((input.get(header..end)?, end))
            }
            _ => None,
        }
    }

    /// The tag at `at`, if it is a string token with a short header or, in
    /// dialect `pb`, a vocabulary symbol: its name and the token's length.
    #[inline(always)]
    fn short_tag(&self, at: usize) -> Option<(&'a [u8], usize)> {
        if let Some(found) = self.short_string(at) {
            return Some(found);
        }
        if !self.pb_dialect {
            return None;
        }
        match short_header(&self.input[at..], &self.limits)? {
            (VOCAB, id @ 1.., used) => Some((*PB_VOCABULARY.get(id as usize)?, used)),
            _ => None,
        }
    }

    /// The list header at `at`, if short and valid: item count and length.
    #[inline(always)]
    fn short_list(&self, at: usize) -> Option<(u64, usize)> {
        match short_header(&self.input[at..], &self.limits)? {
            (LIST, count, header) if count <= self.limits.size => Some((count, header)),
            _ => None,
        }
    }

    /// The integer token at `at`, if one is there and its magnitude fits
    /// 128 bits: sign, magnitude and the token's length.
    fn integer(&self, at: usize) -> Option<((bool, u128), usize)> {
        match self.peek(at)? {
            (Token::Int(digits), used) => Some(((false, digits.to_u128()?), used)),
            (Token::Neg(digits), used) => Some(((true, digits.to_u128()?), used)),
            _ => None,
        }
    }

    /// Wrap a new reference from the C API, or fetch the error it set.
    #[inline(always)]
    fn owned(&self, pointer: *mut ffi::PyObject) -> Result<Bound<'py, PyAny>> {
        // SAFETY: `pointer` is a new reference just returned by the C API,
        // or NULL with an exception set.
        Ok(unsafe { Bound::from_owned_ptr_or_err(self.py, pointer)? })
    }

    /// The next token, consumed.
    #[inline]
    fn token(&mut self) -> Result<Token<'a>> {
        let start = self.pos;
        match scan_token(&self.input[start..], &self.limits) {
            Ok(Scan::Token(token, used)) => {
                self.pos = start + used;
                Ok(token)
            }
            Ok(Scan::Incomplete { what, .. }) => {
                let what = match (start == self.input.len(), self.lists) {
                    (true, 0) => "expression",
                    (true, _) => "list",
                    (false, _) => what,
                };
                Err(DecodeError::new(start as u64, ErrorKind::Truncated { what }).into())
            }
            Err(kind) => Err(DecodeError::new(start as u64, kind).into()),
        }
    }

    fn scalar(&mut self, token: Token<'_>, start: usize) -> Result<Bound<'py, PyAny>> {
        use crate::banana::decoder::Builder;
        let value = match token {
            Token::Int(digits) => self.scalars.int(false, digits)?,
            Token::Neg(digits) => self.scalars.int(true, digits)?,
            Token::String(bytes) => self.scalars.string(bytes)?,
            Token::Float(value) => self.scalars.float(value)?,
            Token::Vocab(id) => self.scalars.vocab(id, start as u64)?,
            Token::List(_) => unreachable!("lists are expressions"),
        };
        Ok(value.into_bound(self.py))
    }

    /// How many more items the bytes left can hold beyond those the open
    /// containers made to size (lists, tuples, frames) still expect: each
    /// item takes a byte at least, and each such container's current item
    /// is the one being read (counted in its reservation and read now).
    /// Reserving no more than this keeps what nested containers reserve,
    /// all together, within the bytes received.
    fn room(&self) -> usize {
        (self.input.len() - self.pos + self.reserving).saturating_sub(self.reserved)
    }

    /// Items announced, capped by the [`Reader::room`] left.
    fn capacity(&self, items: usize) -> usize {
        items.min(self.room())
    }

    /// Run `fill` for a container of `slots` reserved slots; `fill` calls
    /// [`Reader::filled`] for each of the first `slots` items it reads.
    fn reserving<T>(
        &mut self,
        slots: usize,
        fill: impl FnOnce(&mut Self) -> Result<T>,
    ) -> Result<T> {
        let mark = self.reserved;
        self.reserved += slots;
        self.reserving += 1;
        let result = fill(self);
        self.reserved = mark;
        self.reserving -= 1;
        result
    }

    /// One reserved slot filled.
    #[inline(always)]
    fn filled(&mut self) {
        self.reserved -= 1;
    }

    /// The next item if it is an int of more digits than a short header
    /// holds, up to 126 bits (Banana's long ints just beyond 64 bits), made
    /// from its digits directly. `None` (nothing read) for anything else:
    /// the general way reads that, with its checks.
    #[inline(never)]
    fn long_int(&mut self) -> Option<Result<Bound<'py, PyAny>>> {
        let (type_byte, magnitude, header) = long_header(&self.input[self.pos..], &self.limits)?;
        let negative = match type_byte {
            INT | LONGINT => false,
            NEG | LONGNEG => true,
            _ => return None,
        };
        self.pos += header;
        let made = int_from_u128(self.py, negative, magnitude);
        Some(made.map(|int| int.into_bound(self.py)).map_err(Into::into))
    }

    /// The next item if it is a scalar with a short header (most are):
    /// read here, returned in registers. `None` (nothing read) otherwise.
    #[inline(always)]
    fn short_scalar(&mut self) -> Option<Result<Bound<'py, PyAny>>> {
        let start = self.pos;
        let input = &self.input[start..];
        let Some((type_byte, prefix, header)) = short_header(input, &self.limits) else {
            return self.long_int();
        };
        // SAFETY (constructors below): plain C API constructors; `owned`
        // takes the new reference. A short prefix is below 2**63, so the
        // casts are exact.
        let made = match type_byte {
            INT | LONGINT => {
                self.pos += header;
                self.owned(unsafe { ffi::PyLong_FromLongLong(prefix as i64) })
            }
            NEG | LONGNEG => {
                self.pos += header;
                self.owned(unsafe { ffi::PyLong_FromLongLong(-(prefix as i64)) })
            }
            FLOAT => {
                let value = float_body(input, header)?;
                self.pos += header + 8;
                self.owned(unsafe { ffi::PyFloat_FromDouble(value) })
            }
            STRING => {
                // A byte string here is a value, not a tag (tags are read
                // as shapes or by the general way): made as it is, without
                // the cache of recent strings that tags repeat through.
                let (bytes, used) = self.short_string(start)?;
                self.pos += used;
                bytes_object(self.py, bytes).map_err(BuildError::from)
            }
            _ => return None,
        };
        Some(made)
    }

    /// Bytes `at..at + 16` as two little-endian words, zero past the end.
    #[inline(always)]
    fn words_at(&self, at: usize) -> (u64, u64) {
        if at < self.words_end {
            // SAFETY: `at < input.len() - 15`, so `at + 16 <= input.len()`.
            let bytes = unsafe { self.input.get_unchecked(at..at + 16) };
            let (low, high) = bytes.split_at(8);
            return (
                u64::from_le_bytes(low.try_into().expect("8 bytes")),
                u64::from_le_bytes(high.try_into().expect("8 bytes")),
            );
        }
        let input = self.input.get(at..).unwrap_or(&[]);
        (padded_word(input, 0), padded_word(input, 8))
    }

    /// Room for one more expression inside the open ones, in both limits'
    /// terms (past them, the general way reports it).
    #[inline(always)]
    fn room_for(&self, levels: usize) -> bool {
        self.lists + levels <= self.limits.depth
            && self.me.depth.get() + levels <= self.me.max_depth
    }

    /// The next item, unjellied. Its first two words say at once what
    /// most items are (see [`Reader::shaped`]); the rest take the general
    /// way ([`Reader::short_scalar`], then [`Reader::value`]).
    #[inline(always)]
    fn item(&mut self) -> Result<Value<'py>> {
        if self.shapes {
            let start = self.pos;
            let (first, second) = self.words_at(start);
            if let Some(value) = self.shaped(first, second, start) {
                return value;
            }
        }
        if let Some(scalar) = self.short_scalar() {
            return Ok(Value::Plain(scalar?));
        }
        self.value()
    }

    /// The item at `start`, whose first bytes are the words `(first,
    /// second)`, if it is one of the [`shapes`] jelly writes most: a scalar
    /// with a one-digit header, or a list with one whose tag is a built-in
    /// known to need no check — `[b"None"]`, `[b"unicode", text]`,
    /// `[b"boolean", ...]`, `[b"dereference", id]`, or a `dictionary`,
    /// `list`, `tuple` or `reference` expression. One dispatch on the type
    /// byte, one on the tag's header, one comparison of the tag. `None`
    /// (nothing read) otherwise: the general way reads it, with its checks.
    #[inline(always)]
    fn shaped(&mut self, first: u64, second: u64, start: usize) -> Option<Result<Value<'py>>> {
        // `[b"None"]` is one word, compared first: it fills whole columns.
        if first == shapes::NONE_WORD && self.me.knows(Builtin::None) && self.room_for(1) {
            self.pos = start + 8;
            return Some(Ok(Value::Plain(self.py.None().into_bound(self.py))));
        }
        // SAFETY (constructors below): plain C API constructors; `owned`
        // takes the new reference. Two digits are below 2**14.
        let (type_byte, number, header) = match first & 0x80_8080 {
            // One digit, then the type byte.
            0x8000 | 0x80_8000 => ((first >> 8) as u8, first & 0x7f, 2),
            // Two digits (an int up to 16383), if the limits allow them.
            0x80_0000 if self.limits.prefix >= 2 => {
                ((first >> 16) as u8, first & 0x7f | (first >> 1) & 0x3f80, 3)
            }
            _ => return None,
        };
        match type_byte {
            INT | LONGINT => {
                self.pos = start + header;
                let made = self.owned(unsafe { ffi::PyLong_FromLongLong(number as i64) });
                Some(made.map(Value::Plain))
            }
            NEG | LONGNEG => {
                self.pos = start + header;
                let made = self.owned(unsafe { ffi::PyLong_FromLongLong(-(number as i64)) });
                Some(made.map(Value::Plain))
            }
            LIST if header == 2 && number > 0 => self.shaped_expression(first, second, start),
            _ => None,
        }
    }

    /// [`Reader::shaped`] for a list of one-digit item count.
    #[inline(always)]
    fn shaped_expression(
        &mut self,
        first: u64,
        second: u64,
        start: usize,
    ) -> Option<Result<Value<'py>>> {
        let count = first & 0x7f;
        // The tag's header (a one-digit string length, or in dialect `pb` a
        // symbol) says which tag it can be; one comparison says if it is.
        let tag_header = (first >> 16) as u16;
        let (builtin, tag_end) = match tag_header.to_le_bytes() {
            [7, STRING] if shapes::UNICODE.starts(first, second) => {
                (Builtin::Unicode, shapes::UNICODE.len)
            }
            [7, STRING] if shapes::BOOLEAN.starts(first, second) => {
                (Builtin::Boolean, shapes::BOOLEAN.len)
            }
            [11, STRING] if shapes::DEREFERENCE.starts(first, second) => {
                (Builtin::Dereference, shapes::DEREFERENCE.len)
            }
            [_, STRING] => {
                let (builtin, used) =
                    container_tag_shape(first >> 16 | second << 48, second >> 16)?;
                (builtin, 2 + used)
            }
            [symbol, VOCAB] if self.pb_dialect => {
                if shapes::NONE_SYMBOL.starts(first, second) {
                    (Builtin::None, shapes::NONE_SYMBOL.len)
                } else if shapes::DEREFERENCE_SYMBOL.starts(first, second) {
                    (Builtin::Dereference, shapes::DEREFERENCE_SYMBOL.len)
                } else {
                    (container_symbol(symbol)?, 4)
                }
            }
            _ => return None,
        };
        if !self.me.knows(builtin) || !self.room_for(1) {
            return None;
        }
        let body = start + tag_end;
        match builtin {
            Builtin::None => {
                self.pos = body;
                Some(Ok(Value::Plain(self.py.None().into_bound(self.py))))
            }
            Builtin::Boolean => {
                // Its value as jelly writes it, compared whole; anything
                // else the general way, with its checks.
                let (first, second) = self.words_at(body);
                let (value, len) = if shapes::TRUE.starts(first, second) {
                    (true, shapes::TRUE.len)
                } else if shapes::FALSE.starts(first, second) {
                    (false, shapes::FALSE.len)
                } else {
                    return None;
                };
                self.pos = body + len;
                Some(Ok(Value::Plain(
                    PyBool::new(self.py, value).to_owned().into_any(),
                )))
            }
            Builtin::Unicode => {
                let (bytes, used) = self.short_string(body)?;
                self.pos = body + used;
                Some(
                    self.short_text(bytes, self.pos - bytes.len())
                        .map(Value::Plain),
                )
            }
            Builtin::Dereference => {
                let (value, used) = self.numbered_at(body)?;
                self.pos = body + used;
                Some(Ok(value))
            }
            Builtin::Reference if count == 3 => match self.shaped_reference(start, body) {
                Some(value) => Some(value),
                None => Some(self.shaped_container(builtin, count, start, body)),
            },
            _ => Some(self.shaped_container(builtin, count, start, body)),
        }
    }

    /// `[b"reference", id, [b"dictionary" or b"list", ...]]` at `start` as
    /// jelly writes it, its tag read up to `body`: an int id of one or two
    /// digits that the native table keeps and is free, then a dictionary or
    /// list expression in shape, within the limits. The container is made
    /// and registered before it is filled ([`Reader::numbered_early`]).
    /// `None` (nothing read) otherwise: [`Reader::reference`] reads it.
    #[inline]
    fn shaped_reference(&mut self, start: usize, body: usize) -> Option<Result<Value<'py>>> {
        let (INT, number, used) = self.header_at(body)? else {
            return None;
        };
        let value = body + used;
        let (count, header, builtin @ (Builtin::Dictionary | Builtin::List), tag) =
            self.container_expression_at(value)?
        else {
            return None;
        };
        if !self.me.keeps_number(number)
            || !self.room_for(2)
            || !self.me.numbered_free(self.py, number)
        {
            return None;
        }
        let early = (builtin, value, count, value + header + tag);
        if self.stack.has_room() {
            return Some(self.numbered_reference(start, number as usize, early));
        }
        let stack = self.stack;
        Some(stack.grow(|| self.numbered_reference(start, number as usize, early)))
    }

    /// The level of [`Reader::shaped_reference`]: the `reference` list at
    /// `start` and the `dictionary` or `list` one at `at` of `count` items
    /// (the tag included) opened, the items from `items` read.
    #[inline(always)]
    fn numbered_reference(
        &mut self,
        start: usize,
        number: usize,
        (builtin, at, count, items): (Builtin, usize, u64, usize),
    ) -> Result<Value<'py>> {
        let (_reference, _) = self.open(3, start)?;
        let filled = self.open(count, at).and_then(|(_container, rest)| {
            self.pos = items;
            self.numbered_early(number, builtin, rest)
        });
        self.lists -= 1;
        filled
    }

    /// A dictionary or list of `rest` items, registered under reference id
    /// `number` of the native table before it is filled (see
    /// [`Building`](super::unjellier::Building)); its list is open.
    fn numbered_early(
        &mut self,
        number: usize,
        builtin: Builtin,
        rest: usize,
    ) -> Result<Value<'py>> {
        let py = self.py;
        let early = Early::new(py, builtin);
        self.me.start_numbered_building(number, early.object())?;
        let filled = self.fill_early(&early, rest);
        self.lists -= 1;
        if let Err(error) = filled {
            self.me.abandon_building(py);
            return Err(error);
        }
        let object = early.into_object();
        Ok(Value::Plain(match self.me.finish_plain_building(py) {
            None => object,
            Some(entry) => finish_reference_entry(self.slf, self.me, self.refs, object, entry)?,
        }))
    }

    /// The `rest` items of a dictionary or list registered before it is
    /// filled.
    fn fill_early(&mut self, early: &Early<'py>, rest: usize) -> Result<Value<'py>> {
        match early {
            Early::Dictionary(dict) => self.fill_dict(dict.clone(), rest),
            Early::List(list) => {
                let slots = self.capacity(rest);
                self.reserving(slots, |this| this.fill_early_list(list, rest, slots))
            }
        }
    }

    /// A `dictionary`, `list`, `tuple` or `reference` expression of
    /// `count` items (the tag included) at `start`, its items at `body`.
    fn shaped_container(
        &mut self,
        builtin: Builtin,
        count: u64,
        start: usize,
        body: usize,
    ) -> Result<Value<'py>> {
        if self.stack.has_room() {
            return self.shaped_container_level(builtin, count, start, body);
        }
        let stack = self.stack;
        stack.grow(|| self.shaped_container_level(builtin, count, start, body))
    }

    /// The level of [`Reader::shaped_container`].
    #[inline(always)]
    fn shaped_container_level(
        &mut self,
        builtin: Builtin,
        count: u64,
        start: usize,
        body: usize,
    ) -> Result<Value<'py>> {
        let (_level, rest) = self.open(count, start)?;
        self.pos = body;
        // The containers straight to their fill (as [`Reader::builtin`]
        // would send them).
        let value = match builtin {
            Builtin::Dictionary => self.fill_dict(PyDict::new(self.py), rest),
            Builtin::List => self.fill_list(rest),
            Builtin::Tuple => self.fill_tuple(rest),
            Builtin::Reference if rest == 2 => self.reference(),
            _ => self.builtin(builtin, rest),
        };
        self.lists -= 1;
        value
    }

    /// A str value, its UTF-8 `bytes` read at `at`. One of at most 8
    /// bytes (a word, a name, a state: the values that repeat, as in a
    /// thousand records tagged `"alpha"`) is shared with the equal one read
    /// last, as keys are: read as one word, what follows it masked off.
    /// Longer ones are made as they are (they repeat less, and would pay
    /// for the cache for nothing).
    #[inline(always)]
    fn short_text(&mut self, bytes: &[u8], at: usize) -> Result<Bound<'py, PyAny>> {
        if let Some(word) = self.short_word(at, bytes.len()) {
            return self.texts.get_short(self.py, bytes, word);
        }
        Ok(unicode(self.py, bytes)?)
    }

    /// The `len` bytes at `at`, if at most 8, as the little-endian word
    /// they make (zero past them), read in one load where 8 bytes are left.
    #[inline(always)]
    fn short_word(&self, at: usize, len: usize) -> Option<u64> {
        if len > 8 || at >= self.word_end {
            return None;
        }
        // SAFETY: `at < input.len() - 7`, so `at + 8 <= input.len()`.
        let word = unsafe { self.input.get_unchecked(at..at + 8) };
        Some(u64::from_le_bytes(word.try_into().expect("8 bytes")) & shapes::low_bytes(len))
    }

    /// The next item, unjellied, the general way: what
    /// [`Reader::item`] does not read from its shape.
    fn value(&mut self) -> Result<Value<'py>> {
        let start = self.pos;
        if let Some((count, header)) = self.short_list(start) {
            self.pos += header;
            return self.expression(count, start);
        }
        match self.token()? {
            Token::List(count) => self.expression(count, start),
            scalar => Ok(Value::Plain(self.scalar(scalar, start)?)),
        }
    }

    /// The next item, unjellied, for anything but a dictionary or a list.
    fn object(&mut self) -> Result<Bound<'py, PyAny>> {
        Ok(self.checked_object()?.0)
    }

    /// The next item, unjellied, for anything but a dictionary or a list,
    /// and whether it is a forward-reference placeholder.
    #[inline(always)]
    fn checked_object(&mut self) -> Result<(Bound<'py, PyAny>, bool)> {
        Ok(match self.item()? {
            Value::Plain(object) => (object, false),
            Value::Ready(object) => {
                let unknown = is_not_known(&object, self.refs)?;
                (object, unknown)
            }
            Value::Building(_, index) => (self.me.placeholder(self.py, self.refs, index)?, true),
        })
    }

    /// The next item as the s-expression it is.
    fn raw(&mut self) -> Result<Bound<'py, PyAny>> {
        let start = self.pos;
        if self.short_list(start).is_none() {
            if let Some((token, used)) = self.peek(start) {
                if !matches!(token, Token::List(_)) {
                    self.pos += used;
                    return self.scalar(token, start);
                }
            }
        }
        let limits = Limits {
            depth: self.limits.depth.saturating_sub(self.lists),
            ..self.limits
        };
        let value = decoder::decode_at(self.input, &mut self.pos, &mut self.scalars, &limits)?;
        Ok(value.into_bound(self.py))
    }

    /// Enter a list of `count` items that is a jelly expression: the depth
    /// limits, and the tag that every expression needs.
    #[inline(always)]
    fn open(&mut self, count: u64, start: usize) -> Result<(Depth<'a>, usize)> {
        if self.lists >= self.limits.depth {
            let limit = self.limits.depth;
            return Err(DecodeError::new(start as u64, ErrorKind::TooDeep { limit }).into());
        }
        let Some(level) = Depth::enter(&self.me.depth, self.me.max_depth) else {
            return Err(too_deep(self.py, self.refs, self.me.max_depth).into());
        };
        if count == 0 {
            let message = "jelly expression [] has 0 items, needs at least 1";
            return Err(self.refs.insecure(self.py, message).into());
        }
        self.lists += 1;
        Ok((level, (count - 1) as usize))
    }

    /// A list of `count` items, the list header just read at `start`.
    fn expression(&mut self, count: u64, start: usize) -> Result<Value<'py>> {
        let stack = self.stack;
        stack.level(|| {
            let (_level, rest) = self.open(count, start)?;
            let value = self.tagged(rest);
            self.lists -= 1;
            value
        })
    }

    /// The tag at the position if it is `dictionary`, `list`, `tuple` or `reference` as
    /// jelly writes it (see [`shapes`]) and known to need no check: which,
    /// and its length.
    #[inline(always)]
    fn container_tag(&self) -> Option<(Builtin, usize)> {
        self.container_tag_at(self.pos)
    }

    /// [`Reader::container_tag`] at `at`; `reference` too.
    #[inline(always)]
    fn container_tag_at(&self, at: usize) -> Option<(Builtin, usize)> {
        if !self.shapes {
            return None;
        }
        let (first, second) = self.words_at(at);
        let (builtin, used) = if self.pb_dialect && (first >> 8) as u8 == VOCAB {
            (container_symbol(first as u8)?, 2)
        } else {
            container_tag_shape(first, second)?
        };
        self.me.knows(builtin).then_some((builtin, used))
    }

    /// The tag and `rest` items of an expression.
    fn tagged(&mut self, rest: usize) -> Result<Value<'py>> {
        if let Some((builtin, used)) = self.container_tag() {
            self.pos += used;
            return self.builtin(builtin, rest);
        }
        if let Some((name, used)) = self.short_tag(self.pos) {
            if let Some(builtin) = self.me.known_builtin(name) {
                self.pos += used;
                return self.builtin(builtin, rest);
            }
            if let Some(builtin) = Builtin::named(name) {
                if self.me.check_builtin(self.py, self.refs, builtin)? {
                    self.pos += used;
                    return self.builtin(builtin, rest);
                }
            }
        }
        // The tag as Twisted's unjelly sees it: the s-expression item.
        let tag = self.raw()?;
        let frame = Frame::begin(self.slf, self.me, self.refs, &tag, self.capacity(rest))?;
        self.fill(frame, rest)
    }

    /// An expression with a built-in tag known to need no check.
    fn builtin(&mut self, builtin: Builtin, rest: usize) -> Result<Value<'py>> {
        let py = self.py;
        let refs = self.refs;
        // The shapes jelly writes, read straight off the tokens; anything
        // else takes the general way below, with its checks and messages.
        match (builtin, rest) {
            (Builtin::None, 0) => return Ok(Value::Plain(py.None().into_bound(py))),
            (Builtin::Unicode, 1) => {
                if let Some((bytes, used)) = self.short_string(self.pos) {
                    self.pos += used;
                    return Ok(Value::Plain(unicode(py, bytes)?));
                }
            }
            (Builtin::Boolean, 1) => {
                if let Some((bytes, used)) = self.short_string(self.pos) {
                    self.pos += used;
                    return Ok(Value::Plain(boolean(py, refs, bytes)?));
                }
            }
            (Builtin::Dereference, 1) => {
                if let Some((value, used)) = self.numbered_at(self.pos) {
                    self.pos += used;
                    return Ok(value);
                }
                let id = self.raw()?;
                return Ok(match dereference_building(self.slf, refs, &id)? {
                    (object, Some(index)) => Value::Building(object, index),
                    (object, None) => Value::Ready(object),
                });
            }
            (Builtin::Reference, 2) => return self.reference(),
            (Builtin::List, _) => return self.fill_list(rest),
            (Builtin::Dictionary, _) => return self.fill_dict(PyDict::new(py), rest),
            (Builtin::Tuple, _) => return self.fill_tuple(rest),
            (Builtin::DateTime | Builtin::Date | Builtin::Time | Builtin::TimeDelta, 1) => {
                if let Some((field, used)) = self.short_string(self.pos) {
                    if let Some(made) = plain_date_or_time(py, builtin, field) {
                        self.pos += used;
                        return Ok(Value::Plain(made?));
                    }
                }
            }
            (Builtin::Decimal, 2) => {
                let start = self.pos;
                if let Some(((negative, magnitude), value)) = self.integer(start) {
                    if let Some(((exponent_negative, exponent), used)) = self.integer(start + value)
                    {
                        let exponent = i64::try_from(exponent)
                            .ok()
                            .filter(|exponent| *exponent < PLAIN_EXPONENT);
                        if let Some(exponent) = exponent {
                            self.pos = start + value + used;
                            let exponent = if exponent_negative {
                                -exponent
                            } else {
                                exponent
                            };
                            let made = plain_decimal(py, refs, negative, magnitude, exponent)?;
                            return Ok(Value::Plain(made));
                        }
                    }
                }
            }
            _ => {}
        }
        let tag = builtin.atom(refs).bind(py).clone().into_any();
        let frame = Frame::builtin(py, &tag, builtin, self.capacity(rest));
        self.fill(frame, rest)
    }

    /// The `rest` items of an expression, taken as `frame` asks, and the
    /// object they make.
    fn fill(&mut self, frame: Frame<'py>, rest: usize) -> Result<Value<'py>> {
        if let Frame::Dictionary(dict) = frame {
            return self.fill_dict(dict, rest);
        }
        // The frame's size hint was this capacity (no byte read since).
        let slots = self.capacity(rest);
        self.reserving(slots, |this| this.fill_frame(frame, rest, slots))
    }

    /// `[b"dictionary", ...]`: `rest` items set in `dict`. A dictionary
    /// reserves nothing: it is not made to size, so its items hold no
    /// memory before they are read (see [`Reader::room`]).
    fn fill_dict(&mut self, dict: Bound<'py, PyDict>, rest: usize) -> Result<Value<'py>> {
        // The same at each item: the open lists are the same.
        let pair_room = self.pair_room();
        for _ in 0..rest {
            // A key met twice replaces its value: if that value was an
            // object being filled, held as it is, the places holding it
            // must be set again when it is done (as Twisted's placeholder
            // patches them).
            let before = dict.len();
            let start = self.pos;
            match self.text_pair_key(start, pair_room) {
                Some(key) => self.dict_value(&dict, key?)?,
                None => self.pair_item(&dict, start)?,
            }
            if dict.len() == before {
                self.me.key_replaced();
            }
        }
        Ok(Value::Plain(dict.into_any()))
    }

    fn fill_frame(
        &mut self,
        mut frame: Frame<'py>,
        rest: usize,
        slots: usize,
    ) -> Result<Value<'py>> {
        let refs = self.refs;
        if let Frame::Sequence { .. } = frame {
            for index in 0..rest {
                let item = self.object()?;
                frame.push(item, refs)?;
                if index < slots {
                    self.filled();
                }
            }
            return Ok(Value::Ready(frame.finish(self.slf, refs)?));
        }
        // Pairs are a dictionary's, which [`Reader::fill`] fills itself.
        for index in 0..rest {
            let item = match frame.mode() {
                Mode::Raw => self.raw()?,
                Mode::Normal | Mode::Pairs => self.object()?,
            };
            frame.push(item, refs)?;
            if index < slots {
                self.filled();
            }
        }
        Ok(Value::Ready(frame.finish(self.slf, refs)?))
    }

    /// `rest` items need at least `rest` bytes, beyond those the open
    /// containers still expect ([`Reader::room`]): fewer left is truncated
    /// input, whatever the items are (checked before anything is sized by
    /// `rest`).
    fn check_room(&self, rest: usize) -> Result<()> {
        if rest > self.room() {
            let what = "list";
            return Err(
                DecodeError::new(self.input.len() as u64, ErrorKind::Truncated { what }).into(),
            );
        }
        Ok(())
    }

    /// `[b"list", ...]`: the items go straight into the list, which is also
    /// where Twisted's `_unjelly_list` has forward references patched.
    fn fill_list(&mut self, rest: usize) -> Result<Value<'py>> {
        self.check_room(rest)?;
        self.reserving(rest, |this| this.fill_list_slots(rest))
    }

    fn fill_list_slots(&mut self, rest: usize) -> Result<Value<'py>> {
        let py = self.py;
        // SAFETY: a new list of `rest` empty (NULL) slots, or NULL and an
        // exception.
        let list = self.owned(unsafe { ffi::PyList_New(rest as ffi::Py_ssize_t) })?;
        // Until every slot is filled, nothing may reach the list: not even
        // the collector's list of objects (gc.get_objects() in a hook).
        let untracked = Untracked::new(&list);
        // Once a placeholder or a place noted holds the list, Python code
        // may see it: from then on no slot is left empty.
        let mut exposed = false;
        for index in 0..rest {
            let (item, held) = match self.item()? {
                Value::Plain(item) => (item, None),
                Value::Ready(item) => {
                    let unknown = is_not_known(&item, self.refs)?;
                    (item, unknown.then_some(Held::ByPlaceholder))
                }
                Value::Building(item, building) => (item, Some(Held::ByPlace(building))),
            };
            self.filled();
            if exposed {
                // SAFETY: `list` is an exact list of `rest` slots.
                unsafe { list.cast_unchecked::<PyList>() }.set_item(index, &item)?;
            } else {
                // SAFETY: slot `index` of the new list is empty and is
                // filled once, here; the list takes the new reference.
                unsafe {
                    ffi::PyList_SET_ITEM(
                        list.as_ptr(),
                        index as ffi::Py_ssize_t,
                        item.clone().into_ptr(),
                    )
                };
            }
            let Some(held) = held else {
                continue;
            };
            if !exposed {
                for later in index + 1..rest {
                    // SAFETY: as above, for the slots not filled yet.
                    unsafe {
                        ffi::PyList_SET_ITEM(
                            list.as_ptr(),
                            later as ffi::Py_ssize_t,
                            py.None().into_ptr(),
                        )
                    };
                }
                exposed = true;
                untracked.track();
            }
            let key = PyInt::new(py, index).into_any();
            match held {
                // An object being filled is held as it is, as a dictionary
                // holds it (see [`Reader::fill_early_list`]).
                Held::ByPlace(building) => self.me.hold(building, &list, &key),
                Held::ByPlaceholder => self.patch_later(&list, &key, &item)?,
            }
        }
        untracked.track();
        Ok(Value::Plain(list))
    }

    /// `[b"tuple", ...]`: the items go straight into the tuple, unless one
    /// is a forward reference; from there on, Twisted's way (a holder list,
    /// then its `_Tuple` placeholder).
    fn fill_tuple(&mut self, rest: usize) -> Result<Value<'py>> {
        if rest == 0 {
            // The shared empty tuple: nothing to fill, and not ours to
            // take off the collector's lists.
            return Ok(Value::Plain(PyTuple::empty(self.py).into_any()));
        }
        self.check_room(rest)?;
        self.reserving(rest, |this| this.fill_tuple_slots(rest))
    }

    fn fill_tuple_slots(&mut self, rest: usize) -> Result<Value<'py>> {
        let refs = self.refs;
        // SAFETY: a new tuple of `rest` empty (NULL) slots, or NULL and an
        // exception. It is never seen by Python code until every slot is
        // filled; if it is dropped before, dealloc skips the empty ones.
        let tuple = self.owned(unsafe { ffi::PyTuple_New(rest as ffi::Py_ssize_t) })?;
        let untracked = Untracked::new(&tuple);
        for index in 0..rest {
            let (item, unknown) = self.checked_object()?;
            self.filled();
            if unknown {
                let mut done = Vec::with_capacity(index + 1);
                for earlier in 0..index {
                    // SAFETY: slots below `index` are filled.
                    done.push(
                        unsafe {
                            tuple
                                .cast_unchecked::<PyTuple>()
                                .get_borrowed_item_unchecked(earlier)
                        }
                        .to_owned(),
                    );
                }
                let mut frame = Frame::Sequence {
                    kind: Sequence::Tuple,
                    items: done,
                    holder: None,
                    count: index,
                };
                frame.push(item, refs)?;
                for _ in index + 1..rest {
                    let item = self.object()?;
                    self.filled();
                    frame.push(item, refs)?;
                }
                return Ok(Value::Ready(frame.finish(self.slf, refs)?));
            }
            // SAFETY: slot `index` of the new tuple is empty and is filled
            // once, here; the tuple takes the reference.
            unsafe {
                ffi::PyTuple_SET_ITEM(tuple.as_ptr(), index as ffi::Py_ssize_t, item.into_ptr())
            };
        }
        untracked.track();
        Ok(Value::Plain(tuple))
    }

    /// One item of `dict` that is not as [`Reader::text_pair_key`] reads
    /// it: a `[key, value]` list, both unjellied, or whatever Twisted makes
    /// of anything else there.
    fn pair_item(&mut self, dict: &Bound<'py, PyDict>, start: usize) -> Result<()> {
        let refs = self.refs;
        let key = match self.text_pair_key(start, self.pair_room()) {
            Some(key) => key?,
            None => {
                let Some((2, used)) = self.short_list(start) else {
                    // Not a pair as jelly writes one: Twisted unpacks the
                    // item as it is, and so does the frame (or fails as
                    // Twisted would).
                    let item = self.raw()?;
                    return Ok(Frame::Dictionary(dict.clone()).push(item, refs)?);
                };
                if self.lists >= self.limits.depth {
                    let limit = self.limits.depth;
                    return Err(DecodeError::new(start as u64, ErrorKind::TooDeep { limit }).into());
                }
                self.pos += used;
                self.lists += 1;
                match self.text_key() {
                    Some(key) => key?,
                    None => {
                        let key = self.object()?;
                        if is_not_known(&key, refs)? {
                            // The value is unjellied first, as Twisted does:
                            // an error of its own comes first.
                            self.item()?;
                            return Err(forward_reference_key(self.py).into());
                        }
                        key
                    }
                }
            }
        };
        self.dict_value(dict, key)
    }

    /// The value of an item of `dict` whose key was just read (the item's
    /// list open), and the item set in `dict`. A value that is a forward
    /// reference is patched in when it resolves (Twisted routes this through
    /// a _DictKeyAndValue, which, the key being known, does the same).
    #[inline(always)]
    fn dict_value(&mut self, dict: &Bound<'py, PyDict>, key: Bound<'py, PyAny>) -> Result<()> {
        let value = match self.item()? {
            Value::Plain(value) => value,
            Value::Ready(value) => {
                self.patch_when_known(dict.as_any(), &key, &value)?;
                value
            }
            Value::Building(value, index) => {
                self.me.hold(index, dict.as_any(), &key);
                value
            }
        };
        self.lists -= 1;
        // SAFETY: `dict`, `key` and `value` are live objects; PyDict_SetItem
        // takes references of its own (ours are dropped after).
        if unsafe { ffi::PyDict_SetItem(dict.as_ptr(), key.as_ptr(), value.as_ptr()) } < 0 {
            return Err(PyErr::fetch(self.py).into());
        }
        Ok(())
    }

    /// True if a dictionary item's list and its key's fit in the limits
    /// and [`shapes`] apply: [`Reader::text_pair_key`] may read it.
    #[inline(always)]
    fn pair_room(&self) -> bool {
        self.shapes && self.room_for(2)
    }

    /// `holder[key]` (a dictionary's key or a list's index) is to be
    /// `value`: if it is a forward reference, the placeholder patches it in
    /// when it resolves. Out of line: the items of most dictionaries need
    /// no check.
    #[inline(never)]
    fn patch_when_known(
        &self,
        holder: &Bound<'py, PyAny>,
        key: &Bound<'py, PyAny>,
        value: &Bound<'py, PyAny>,
    ) -> Result<()> {
        if is_not_known(value, self.refs)? {
            self.patch_later(holder, key, value)?;
        }
        Ok(())
    }

    /// `holder[key]` holds `placeholder`, which patches it when it
    /// resolves.
    fn patch_later(
        &self,
        holder: &Bound<'py, PyAny>,
        key: &Bound<'py, PyAny>,
        placeholder: &Bound<'py, PyAny>,
    ) -> Result<()> {
        self.me.forget_tags();
        placeholder.call_method1(pyo3::intern!(self.py, "addDependant"), (holder, key))?;
        Ok(())
    }

    /// A dictionary item's header and key, `[[b"unicode", bytes], ` in the
    /// shape jelly writes (see [`shapes`]), the tag known to need no check:
    /// read here, the item's list left open. `None` (nothing read)
    /// otherwise.
    #[inline(always)]
    fn text_pair_key(
        &mut self,
        start: usize,
        pair_room: bool,
    ) -> Option<Result<Bound<'py, PyAny>>> {
        // `pair_room`: [`Reader::pair_room`], as it is at `start`.
        if !pair_room || !self.me.knows(Builtin::Unicode) {
            return None;
        }
        let (first, second) = self.words_at(start);
        if !shapes::TEXT_KEY.starts(first, second) {
            return None;
        }
        // The key's own header, most often one digit and the type byte,
        // already in the second word.
        let length = (second >> 40) as u8 as usize;
        if length < 0x80 && (second >> 48) as u8 == STRING && length as u64 <= self.limits.size {
            let at = start + shapes::TEXT_KEY.len + 2;
            // A short key (most are) read as one word, what follows it
            // masked off.
            if let Some(word) = self.short_word(at, length) {
                // SAFETY: `short_word` found 8 bytes at `at`, and `length`
                // is at most 8.
                let body = unsafe { self.input.get_unchecked(at..at + length) };
                self.pos = at + length;
                self.lists += 1;
                return Some(self.texts.get_short(self.py, body, word));
            }
            let body = self.input.get(at..at + length)?;
            self.pos = at + length;
            self.lists += 1;
            return Some(self.texts.get(self.py, body));
        }
        let (body, used) = self.short_string(start + shapes::TEXT_KEY.len)?;
        self.pos = start + shapes::TEXT_KEY.len + used;
        self.lists += 1;
        Some(self.texts.get(self.py, body))
    }

    /// A dict key that is `[b"unicode", bytes]` as jelly writes it, read
    /// straight off the tokens (keys repeat: the str is shared with equal
    /// ones); `None` (nothing read) for any other key.
    #[inline]
    fn text_key(&mut self) -> Option<Result<Bound<'py, PyAny>>> {
        let start = self.pos;
        let (2, list) = self.short_list(start)? else {
            return None;
        };
        let (tag, tag_length) = self.short_string(start + list)?;
        let (body, body_length) = self.short_string(start + list + tag_length)?;
        let room = self.lists < self.limits.depth && self.me.depth.get() < self.me.max_depth;
        if !room || !self.me.is_known(tag, Builtin::Unicode) {
            return None;
        }
        self.pos = start + list + tag_length + body_length;
        Some(self.texts.get(self.py, body))
    }

    /// The token header at `at` if it has at most 9 digits (as
    /// [`short_header`]): its type byte, number and length. One or two
    /// digits, as most have, are read from one word.
    #[inline(always)]
    fn header_at(&self, at: usize) -> Option<(u8, u64, usize)> {
        if at < self.word_end {
            // SAFETY: `at < input.len() - 7`, so `at + 8 <= input.len()`.
            let bytes = unsafe { self.input.get_unchecked(at..at + 8) };
            let word = u64::from_le_bytes(bytes.try_into().expect("8 bytes"));
            match word & 0x80_8080 {
                0x8000 | 0x80_8000 if self.limits.prefix >= 1 => {
                    return Some(((word >> 8) as u8, word & 0x7f, 2));
                }
                0x80_0000 if self.limits.prefix >= 2 => {
                    let number = word & 0x7f | (word >> 1) & 0x3f80;
                    return Some(((word >> 16) as u8, number, 3));
                }
                _ => {}
            }
        }
        short_header(self.input.get(at..)?, &self.limits)
    }

    /// What the id at `at` stands for, if it is a small int found in the
    /// native table (see `Unjellier::numbered`: no int object, no hash),
    /// and the id's length.
    #[inline(always)]
    fn numbered_at(&self, at: usize) -> Option<(Value<'py>, usize)> {
        let (type_byte @ (INT | NEG), number, used) = self.header_at(at)? else {
            return None;
        };
        // -0 is 0; any other negative id is not in the table.
        let number = if type_byte == NEG && number != 0 {
            u64::MAX
        } else {
            number
        };
        let value = match self.me.numbered(self.py, number)? {
            (object, Some(index)) => Value::Building(object, index),
            // What references stand for most, which no placeholder is.
            (object, None) if is_exact_container(&object) => Value::Plain(object),
            (object, None) => Value::Ready(object),
        };
        Some((value, used))
    }

    /// `[b"reference", id, value]`, the tag read.
    fn reference(&mut self) -> Result<Value<'py>> {
        // A small int id, as jelly writes them, kept in the native table:
        // no int object is made for it unless it is needed.
        let start = self.pos;
        let id = match self.header_at(start) {
            Some((INT, number, used)) if self.me.keeps_number(number) => {
                self.pos += used;
                RefId::Number(number)
            }
            _ => RefId::Object(self.raw()?.unbind()),
        };
        let id = match self.early_reference(id)? {
            Ok(value) => return Ok(Value::Plain(value)),
            Err(id) => id.object(self.py),
        };
        let value = self.object()?;
        Ok(Value::Ready(resolve_reference(
            self.slf, self.refs, &id, value,
        )?))
    }

    /// The expression at `at`, if it is a container's as jelly writes one
    /// (see [`shapes`]: a one-digit item count, a tag known to need no
    /// check): its item count, list header length, tag and tag length.
    #[inline(always)]
    fn container_expression_at(&self, at: usize) -> Option<(u64, usize, Builtin, usize)> {
        if !self.shapes {
            return None;
        }
        let (first, second) = self.words_at(at);
        let count = first & 0xff;
        if count == 0 || count >= 0x80 || (first >> 8) as u8 != LIST {
            return None;
        }
        let (builtin, tag) = match ((first >> 16) as u16).to_le_bytes() {
            [_, STRING] => container_tag_shape(first >> 16 | second << 48, second >> 16)?,
            [symbol, VOCAB] if self.pb_dialect => (container_symbol(symbol)?, 2),
            _ => return None,
        };
        self.me.knows(builtin).then_some((count, 2, builtin, tag))
    }

    /// [`Reader::container_expression_at`] for a dictionary or list
    /// expression in any other form: read token by token, the tag checked
    /// if needed.
    fn checked_container_expression_at(
        &self,
        at: usize,
    ) -> Result<Option<(u64, usize, Builtin, usize)>> {
        let Some((count @ 1.., header)) = self.short_list(at) else {
            return Ok(None);
        };
        if let Some((builtin, tag)) = self.container_tag_at(at + header) {
            return Ok(Some((count, header, builtin, tag)));
        }
        let Some((name, tag)) = self.short_tag(at + header) else {
            return Ok(None);
        };
        let Some(builtin @ (Builtin::Dictionary | Builtin::List)) = Builtin::named(name) else {
            return Ok(None);
        };
        if !self.me.knows(builtin) && !self.me.check_builtin(self.py, self.refs, builtin)? {
            return Ok(None);
        }
        Ok(Some((count, header, builtin, tag)))
    }

    /// The `rest` items of a referenced list, registered before it is
    /// filled, appended as they come. An object being filled (this list
    /// too, met in itself) is held as it is, its place noted, as a
    /// dictionary holds it; a forward reference is patched in when known,
    /// as Twisted's `_unjelly_list` has it.
    fn fill_early_list(
        &mut self,
        list: &Bound<'py, PyList>,
        rest: usize,
        slots: usize,
    ) -> Result<Value<'py>> {
        for index in 0..rest {
            let item = match self.item()? {
                Value::Plain(item) => item,
                Value::Ready(item) => {
                    if is_not_known(&item, self.refs)? {
                        let key = PyInt::new(self.py, index).into_any();
                        self.patch_later(list.as_any(), &key, &item)?;
                    }
                    item
                }
                Value::Building(item, building) => {
                    let key = PyInt::new(self.py, index).into_any();
                    self.me.hold(building, list, &key);
                    item
                }
            };
            if index < slots {
                self.filled();
            }
            list.append(item)?;
        }
        Ok(Value::Plain(list.clone().into_any()))
    }

    /// A referenced dictionary or list, registered under `id` before it is
    /// filled; `Err(id)` (nothing read) for any other value, or an id
    /// already in use (where Twisted's checks apply).
    fn early_reference(
        &mut self,
        id: RefId,
    ) -> Result<std::result::Result<Bound<'py, PyAny>, RefId>> {
        let start = self.pos;
        let found = match self.container_expression_at(start) {
            Some(found) => Some(found),
            None => self.checked_container_expression_at(start)?,
        };
        let Some((count, header, builtin @ (Builtin::Dictionary | Builtin::List), tag)) = found
        else {
            return Ok(Err(id));
        };
        let py = self.py;
        // Free if unused, or used by None (Twisted's `references.get` says
        // None for both).
        let free = match &id {
            RefId::Number(number) => self.me.numbered_free(py, *number),
            RefId::Object(object) => match self.me.reference_get(py, object.bind(py)) {
                Ok(known) => known.is_none_or(|known| known.is_none()),
                Err(_) => false,
            },
        };
        if !free {
            return Ok(Err(id));
        }
        self.pos = start + header;
        let (_level, rest) = self.open(count, start)?;
        self.pos += tag;
        let early = Early::new(py, builtin);
        let object = early.object().clone();
        match id {
            RefId::Number(number) => self.me.start_numbered_building(number as usize, &object)?,
            RefId::Object(ref object_id) => {
                self.me.reference_set(py, object_id.bind(py), &object)?;
                self.me.start_building(id, &object);
            }
        }
        let filled = self.fill_early(&early, rest);
        self.lists -= 1;
        if let Err(error) = filled {
            self.me.abandon_building(py);
            return Err(error);
        }
        Ok(Ok(finish_early_reference(
            self.slf, self.me, self.refs, object,
        )?))
    }
}

/// True for an exact dict, list or tuple.
#[inline(always)]
fn is_exact_container(object: &Bound<'_, PyAny>) -> bool {
    let ty = object.get_type_ptr();
    ty == &raw mut ffi::PyDict_Type
        || ty == &raw mut ffi::PyList_Type
        || ty == &raw mut ffi::PyTuple_Type
}

/// How a list slot holds what is not known yet.
enum Held {
    /// Twisted's placeholder, which patches the slot when it resolves.
    ByPlaceholder,
    /// The object being filled at this index, itself, its place noted.
    ByPlace(usize),
}

/// A referenced dictionary or list, which exists from the start: a
/// dictionary is filled in place, a list appended to as its items come.
enum Early<'py> {
    Dictionary(Bound<'py, PyDict>),
    List(Bound<'py, PyList>),
}

impl<'py> Early<'py> {
    /// An empty one for `builtin`, a `dictionary` or `list` tag.
    fn new(py: Python<'py>, builtin: Builtin) -> Self {
        match builtin {
            Builtin::Dictionary => Early::Dictionary(PyDict::new(py)),
            _ => Early::List(PyList::empty(py)),
        }
    }

    fn object(&self) -> &Bound<'py, PyAny> {
        match self {
            Early::Dictionary(dict) => dict.as_any(),
            Early::List(list) => list.as_any(),
        }
    }

    fn into_object(self) -> Bound<'py, PyAny> {
        match self {
            Early::Dictionary(dict) => dict.into_any(),
            Early::List(list) => list.into_any(),
        }
    }
}

/// The container tag (`list`, `tuple`, `reference` or `dictionary`) whose
/// string token, as jelly writes it, starts the words `(first, second)`: told
/// by the token's length byte, then one comparison; and the token's length.
#[inline(always)]
fn container_tag_shape(first: u64, second: u64) -> Option<(Builtin, usize)> {
    let (builtin, tag) = match (first as u16).to_le_bytes() {
        [4, STRING] => (Builtin::List, &shapes::LIST),
        [5, STRING] => (Builtin::Tuple, &shapes::TUPLE),
        [9, STRING] => (Builtin::Reference, &shapes::REFERENCE),
        [10, STRING] => (Builtin::Dictionary, &shapes::DICTIONARY),
        _ => return None,
    };
    tag.starts(first, second).then_some((builtin, tag.len))
}

/// The container tag that vocabulary symbol `symbol` (a one-digit id)
/// stands for in dialect `pb`, if it is one.
#[inline(always)]
fn container_symbol(symbol: u8) -> Option<Builtin> {
    match symbol {
        shapes::DICTIONARY_SYMBOL => Some(Builtin::Dictionary),
        shapes::LIST_SYMBOL => Some(Builtin::List),
        shapes::TUPLE_SYMBOL => Some(Builtin::Tuple),
        shapes::REFERENCE_SYMBOL => Some(Builtin::Reference),
        _ => None,
    }
}

/// The object Banana bytes `data` (exactly one expression, dialect `none`)
/// jelly, read by `slf` in one pass; then its `postUnjelly` hooks. Errors
/// are `BananaError` or `InsecureJelly` (see [`bad_input`]).
pub(crate) fn loads<'py>(
    slf: &Bound<'py, Unjellier>,
    data: &Bound<'py, PyAny>,
    limits: &Limits,
) -> PyResult<Bound<'py, PyAny>> {
    let py = slf.py();
    let refs = Refs::get(py)?;
    // `data` that is no bytes-like object is the caller's error, raised as
    // it is (a TypeError), not bad input.
    with_bytes(data, |input| {
        read_input(slf, input, false, limits).map_err(|error| bad_input(py, refs, error))
    })?
}

/// What a broker received (or serialized) stands for: the expression
/// `encoded`, read by `slf` as [`loads`] reads bytes; then its
/// `postUnjelly` hooks. Errors as [`loads`]'.
pub(crate) fn unserialize<'py>(
    slf: &Bound<'py, Unjellier>,
    encoded: &Encoded,
) -> PyResult<Bound<'py, PyAny>> {
    let py = slf.py();
    let refs = Refs::get(py)?;
    // Checked against the connection's limits already (see `Encoded`).
    let limits = Limits {
        prefix: usize::MAX,
        size: u64::MAX,
        depth: usize::MAX,
        message: u64::MAX,
    };
    read_input(slf, encoded.bytes(py), encoded.pb_dialect(), &limits)
        .map_err(|error| bad_input(py, refs, error))
}

/// The object `input` (exactly one expression, in dialect `pb` if
/// `pb_dialect`, else `none`) jellies, read by `slf` in one pass; then its
/// `postUnjelly` hooks.
fn read_input<'py>(
    slf: &Bound<'py, Unjellier>,
    input: &[u8],
    pb_dialect: bool,
    limits: &Limits,
) -> PyResult<Bound<'py, PyAny>> {
    let py = slf.py();
    let refs = Refs::get(py)?;
    let me = slf.borrow();
    let object = {
        if input.len() as u64 > limits.message {
            let kind = ErrorKind::MessageTooLarge {
                limit: limits.message,
            };
            return Err(BuildError::from(DecodeError::new(0, kind)).into_pyerr(py));
        }
        let stack = Stack::new();
        let mut reader = Reader {
            py,
            slf,
            me: &me,
            refs,
            input,
            words_end: input.len().saturating_sub(15),
            word_end: input.len().saturating_sub(7),
            pos: 0,
            limits: *limits,
            scalars: PyBuilder::new(py, IncomingVocabulary::pb(py), pb_dialect),
            pb_dialect,
            lists: 0,
            reserved: 0,
            reserving: 0,
            texts: Recent::texts(),
            shapes: limits.prefix >= 1 && limits.size >= shapes::LONGEST_TAG,
            stack: &stack,
        };
        // Jelly's ids count from 1, one per reference of at least 15 bytes:
        // a table of an eighth of the bytes' length holds them all, and
        // bounds what a hostile id can make it allocate.
        me.keep_numbers(input.len() / 8);
        // What is known of the built-in tags from the start, for the shapes
        // read without entering an expression.
        me.learn_builtins(py, refs)?;
        let pause = GcPause::new(py);
        let result = reader.object().and_then(|object| {
            if reader.pos == input.len() {
                return Ok(object);
            }
            let count = (input.len() - reader.pos) as u64;
            let kind = ErrorKind::TrailingBytes { count };
            Err(DecodeError::new(reader.pos as u64, kind).into())
        });
        drop(pause);
        result.map_err(|error| match error.failure() {
            Failure::Banana(error) => decode_error(py, &error),
            Failure::Python(error) => {
                match decoder::decode_exact(input, &mut Validate { pb_dialect }, limits) {
                    Err(malformed) => decode_error(py, &malformed),
                    Ok(()) => error,
                }
            }
        })
    }?;
    // A hook that kept the unjellier (any hook that ran has moved the
    // references already; this is insurance) sees every reference in
    // `references`. Nothing else can see the unjellier.
    // (Counted once `me`, which holds a reference, is given back.)
    drop(me);
    // SAFETY: reading the reference count of a live object.
    if unsafe { ffi::Py_REFCNT(slf.as_ptr()) } > 1 {
        slf.borrow().keep_in_dict(py)?;
    }
    run_post_callbacks(slf)?;
    Ok(object)
}
