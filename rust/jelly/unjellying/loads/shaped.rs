//! Fast paths by byte shape: the expressions jelly writes most
//! (`[b"unicode", text]` and str dictionary keys, `[b"None"]`, booleans,
//! the container tags) matched as whole words of bytes, a word at a time,
//! where the limits make matching one the same as reading it.

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict};

use super::{Reader, Result, Value};
use crate::banana::shapes;
use crate::banana::{INT, LIST, LONGINT, LONGNEG, NEG, STRING, VOCAB};
use crate::jelly::tags::Builtin;
use crate::jelly::unjellying::values::unicode;

impl<'a, 'py> Reader<'a, 'py> {
    /// The item at `start`, whose first bytes are the words `(first,
    /// second)`, if it is one of the [`shapes`] jelly writes most: a scalar
    /// with a one-digit header, or a list with one whose tag is a built-in
    /// known to need no check — `[b"None"]`, `[b"unicode", text]`,
    /// `[b"boolean", ...]`, `[b"dereference", id]`, or a `dictionary`,
    /// `list`, `tuple` or `reference` expression. One dispatch on the type
    /// byte, one on the tag's header, one comparison of the tag. `None`
    /// (nothing read) otherwise: the general way reads it, with its checks.
    #[inline(always)]
    pub(super) fn shaped(
        &mut self,
        first: u64,
        second: u64,
        start: usize,
    ) -> Option<Result<Value<'py>>> {
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

    /// The tag at the position if it is `dictionary`, `list`, `tuple` or `reference` as
    /// jelly writes it (see [`shapes`]) and known to need no check: which,
    /// and its length.
    #[inline(always)]
    pub(super) fn container_tag(&self) -> Option<(Builtin, usize)> {
        self.container_tag_at(self.pos)
    }

    /// [`Reader::container_tag`] at `at`; `reference` too.
    #[inline(always)]
    pub(super) fn container_tag_at(&self, at: usize) -> Option<(Builtin, usize)> {
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

    /// A dictionary item's header and key, `[[b"unicode", bytes], ` in the
    /// shape jelly writes (see [`shapes`]), the tag known to need no check:
    /// read here, the item's list left open. `None` (nothing read)
    /// otherwise.
    #[inline(always)]
    pub(super) fn text_pair_key(
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
    pub(super) fn text_key(&mut self) -> Option<Result<Bound<'py, PyAny>>> {
        let start = self.pos;
        let (2, list) = self.short_list(start)? else {
            return None;
        };
        let (tag, tag_length) = self.short_string(start + list)?;
        let (body, body_length) = self.short_string(start + list + tag_length)?;
        let room =
            self.lists < self.limits.depth && self.me.depth.get() < self.me.max_jelly_depth();
        if !room || !self.me.is_known(tag, Builtin::Unicode) {
            return None;
        }
        self.pos = start + list + tag_length + body_length;
        Some(self.texts.get(self.py, body))
    }
}

/// The container tag (`list`, `tuple`, `reference` or `dictionary`) whose
/// string token, as jelly writes it, starts the words `(first, second)`: told
/// by the token's length byte, then one comparison; and the token's length.
#[inline(always)]
pub(super) fn container_tag_shape(first: u64, second: u64) -> Option<(Builtin, usize)> {
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
pub(super) fn container_symbol(symbol: u8) -> Option<Builtin> {
    match symbol {
        shapes::DICTIONARY_SYMBOL => Some(Builtin::Dictionary),
        shapes::LIST_SYMBOL => Some(Builtin::List),
        shapes::TUPLE_SYMBOL => Some(Builtin::Tuple),
        shapes::REFERENCE_SYMBOL => Some(Builtin::Reference),
        _ => None,
    }
}
