//! Reading tokens: peeks at a position (a short string, a tag, a list
//! header, an integer, whole words of bytes) that consume nothing, and the
//! next token or scalar consumed.

use pyo3::ffi;
use pyo3::prelude::*;

use super::{Reader, Result};
use crate::banana::decoder::{float_body, long_header, scan_token, short_header, Scan, Token};
use crate::banana::error::{DecodeError, ErrorKind};
use crate::banana::shapes;
use crate::banana::vocabulary::PB_VOCABULARY;
use crate::banana::words::padded_word;
use crate::banana::{FLOAT, INT, LIST, LONGINT, LONGNEG, NEG, STRING, VOCAB};
use crate::pybanana::bigint::int_from_u128;
use crate::pybanana::errors::BuildError;
use crate::pybanana::text::bytes_object;

impl<'a, 'py> Reader<'a, 'py> {
    /// The token at `at` and its length, if one is complete and valid there.
    #[inline]
    pub(super) fn peek(&self, at: usize) -> Option<(Token<'a>, usize)> {
        match scan_token(&self.input[at..], &self.limits) {
            Ok(Scan::Token(token, used)) => Some((token, used)),
            _ => None,
        }
    }

    /// The string token at `at` with a short header, if complete and valid:
    /// its bytes and the token's length. (A string that this misses is
    /// still read correctly, the general way.)
    #[inline(always)]
    pub(super) fn short_string(&self, at: usize) -> Option<(&'a [u8], usize)> {
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
    pub(super) fn short_tag(&self, at: usize) -> Option<(&'a [u8], usize)> {
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
    pub(super) fn short_list(&self, at: usize) -> Option<(u64, usize)> {
        match short_header(&self.input[at..], &self.limits)? {
            (LIST, count, header) if count <= self.limits.size => Some((count, header)),
            _ => None,
        }
    }

    /// The integer token at `at`, if one is there and its magnitude fits
    /// 128 bits: sign, magnitude and the token's length.
    pub(super) fn integer(&self, at: usize) -> Option<((bool, u128), usize)> {
        match self.peek(at)? {
            (Token::Int(digits), used) => Some(((false, digits.to_u128()?), used)),
            (Token::Neg(digits), used) => Some(((true, digits.to_u128()?), used)),
            _ => None,
        }
    }

    /// Wrap a new reference from the C API, or fetch the error it set.
    #[inline(always)]
    pub(super) fn owned(&self, pointer: *mut ffi::PyObject) -> Result<Bound<'py, PyAny>> {
        // SAFETY: `pointer` is a new reference just returned by the C API,
        // or NULL with an exception set.
        Ok(unsafe { Bound::from_owned_ptr_or_err(self.py, pointer)? })
    }

    /// The next token, consumed.
    #[inline]
    pub(super) fn token(&mut self) -> Result<Token<'a>> {
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

    pub(super) fn scalar(&mut self, token: Token<'_>, start: usize) -> Result<Bound<'py, PyAny>> {
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
    pub(super) fn short_scalar(&mut self) -> Option<Result<Bound<'py, PyAny>>> {
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
    pub(super) fn words_at(&self, at: usize) -> (u64, u64) {
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

    /// The `len` bytes at `at`, if at most 8, as the little-endian word
    /// they make (zero past them), read in one load where 8 bytes are left.
    #[inline(always)]
    pub(super) fn short_word(&self, at: usize, len: usize) -> Option<u64> {
        if len > 8 || at >= self.word_end {
            return None;
        }
        // SAFETY: `at < input.len() - 7`, so `at + 8 <= input.len()`.
        let word = unsafe { self.input.get_unchecked(at..at + 8) };
        Some(u64::from_le_bytes(word.try_into().expect("8 bytes")) & shapes::low_bytes(len))
    }

    /// The token header at `at` if it has at most 9 digits (as
    /// [`short_header`]): its type byte, number and length. One or two
    /// digits, as most have, are read from one word.
    #[inline(always)]
    pub(super) fn header_at(&self, at: usize) -> Option<(u8, u64, usize)> {
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
}
