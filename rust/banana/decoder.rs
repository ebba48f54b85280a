//! Banana decoding: tokens to values, one-shot or incrementally.
//!
//! The decoder never recurses: open lists live on an explicit stack, so nesting
//! costs heap, bounded by [`Limits::depth`], never native stack. What the
//! values are is up to a [`Builder`]: the layers above build Python objects,
//! [`super::value::ValueBuilder`] builds plain Rust values for tests and fuzzing.
//!
//! Incremental decoding ([`Decoder`]) keeps the unconsumed bytes of the stream
//! and the partly built lists. A token is consumed as soon as it is complete, so
//! every byte is parsed once, however the stream is chunked: decoding is linear
//! in the bytes received even when they arrive one at a time.

use std::collections::TryReserveError;

use super::base128;
use super::error::{DecodeError, ErrorKind};
use super::words::padded_word;
use super::{FLOAT, INT, LIST, LONGINT, LONGNEG, NEG, STRING, VOCAB};

/// Per-decoder limits. The defaults are Twisted's (prefix, size) and pbfast's
/// (depth, message size).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest prefix, in bytes (Twisted's `prefixLimit`).
    pub prefix: usize,
    /// Most items in a list and most bytes in a string (Twisted's `SIZE_LIMIT`).
    pub size: u64,
    /// Deepest list nesting; a top-level list is at depth 1.
    pub depth: usize,
    /// Most bytes in one top-level expression.
    pub message: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            prefix: super::PREFIX_LIMIT,
            size: super::SIZE_LIMIT,
            depth: super::MAX_DEPTH,
            message: super::MAX_MESSAGE_SIZE,
        }
    }
}

/// The base-128 digits of a prefix, least significant first, each `< 128`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Digits<'a>(pub &'a [u8]);

impl Digits<'_> {
    /// The value, if it fits a `u64`.
    #[inline]
    pub fn to_u64(self) -> Option<u64> {
        if self.0.len() <= 9 {
            // 9 digits are 63 bits: no overflow possible.
            let mut value = 0u64;
            for &digit in self.0.iter().rev() {
                value = value << 7 | digit as u64;
            }
            Some(value)
        } else {
            base128::digits_to_u64(self.0)
        }
    }

    /// The value, if it fits a `u128`.
    pub fn to_u128(self) -> Option<u128> {
        if self.0.len() <= 18 && self.0.iter().all(|&digit| digit < 0x80) {
            // 18 digits are 126 bits: packed eight at a time, no overflow.
            let mut value = 0u128;
            for group in 0..self.0.len().div_ceil(8) {
                let word = padded_word(self.0, 8 * group);
                value |= (pack_digits(word) as u128) << (56 * group);
            }
            return Some(value);
        }
        let mut value: u128 = 0;
        for &digit in self.0.iter().rev() {
            value = value.checked_mul(128)?.checked_add(digit as u128)?;
        }
        Some(value)
    }

    /// The value as a little-endian base-256 magnitude, no high zero bytes.
    pub fn to_le_bytes(self) -> Vec<u8> {
        base128::digits_to_le_bytes(self.0)
    }
}

/// Makes values out of tokens. The decoder calls it once per token and once
/// per completed list, in stream order.
pub trait Builder {
    type Value;
    /// A list being filled.
    type List;
    type Error: From<DecodeError>;

    /// Start a list. `capacity` is the claimed item count, capped by what the
    /// bytes at hand could hold, so a lying header cannot make it allocate.
    fn list(&mut self, capacity: usize) -> Self::List;
    fn push(&mut self, list: &mut Self::List, item: Self::Value) -> Result<(), Self::Error>;
    fn finish_list(&mut self, list: Self::List) -> Result<Self::Value, Self::Error>;
    /// An INT/LONGINT (`negative == false`) or NEG/LONGNEG token.
    fn int(&mut self, negative: bool, digits: Digits<'_>) -> Result<Self::Value, Self::Error>;
    fn string(&mut self, bytes: &[u8]) -> Result<Self::Value, Self::Error>;
    fn float(&mut self, value: f64) -> Result<Self::Value, Self::Error>;
    /// A VOCAB token at `offset`: the builder knows the dialect and vocabulary.
    fn vocab(&mut self, id: Digits<'_>, offset: u64) -> Result<Self::Value, Self::Error>;
}

/// One complete token.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Token<'a> {
    List(u64),
    /// INT or LONGINT.
    Int(Digits<'a>),
    /// NEG or LONGNEG (the digits are the magnitude). Two variants rather
    /// than a sign field: a one-byte field in the token makes the compiler
    /// copy tokens with overlapping partial moves, which stall the CPU's
    /// store forwarding on the hottest path of every decode.
    Neg(Digits<'a>),
    String(&'a [u8]),
    Float(f64),
    Vocab(Digits<'a>),
}

/// What [`scan_token`] found at the start of its input.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Scan<'a> {
    /// A token, and how many bytes it took.
    Token(Token<'a>, usize),
    /// Not all of the token is here yet. `length` is its full length when
    /// the header already tells (a string or a float).
    Incomplete {
        length: Option<u64>,
        what: &'static str,
    },
}

/// Read one token from the start of `input`, checking the prefix and size
/// limits as soon as the header is complete (before any body arrives).
#[inline(always)]
pub fn scan_token<'a>(input: &'a [u8], limits: &Limits) -> Result<Scan<'a>, ErrorKind> {
    // Most tokens have a prefix of at most two digits and are complete:
    // read those without the general search. Anything else, errors and
    // incomplete tokens included, takes the general way.
    if let Some((type_byte, value, header)) = short_header(input, limits) {
        if let Some(scan) = short_token(input, type_byte, value, header, limits) {
            return Ok(scan);
        }
    }
    scan_token_general(input, limits)
}

/// The header of a token whose prefix has at most nine digits (a `u64`;
/// two, near the end of the input), within the prefix limit: its type byte
/// (not checked), the prefix's value and the header's length. Readers that
/// dispatch on the type byte themselves use it for the common case and
/// [`scan_token`] for the rest.
#[inline(always)]
pub fn short_header(input: &[u8], limits: &Limits) -> Option<(u8, u64, usize)> {
    // Most prefixes have two digits or fewer.
    match *input {
        [first, ..] if first & 0x80 != 0 => return Some((first, 0, 1)),
        [first, second, ..] if second & 0x80 != 0 && limits.prefix >= 1 => {
            return Some((second, first as u64, 2))
        }
        [first, second, third, ..] if third & 0x80 != 0 && limits.prefix >= 2 => {
            return Some((third, first as u64 | (second as u64) << 7, 3))
        }
        _ => {}
    }
    let word = if let Some(first) = input.get(..16) {
        u128::from_le_bytes(first.try_into().ok()?)
    } else if let Some(first) = input.get(..8) {
        u64::from_le_bytes(first.try_into().ok()?) as u128
    } else {
        return short_header_near_end(input, limits);
    };
    let high = word & 0x8080_8080_8080_8080_8080_8080_8080_8080;
    // The type byte is the first with its high bit set.
    let at = (high.trailing_zeros() / 8) as usize;
    if high == 0 || at > limits.prefix || at > 9 {
        return None;
    }
    // The digits (seven bits a byte, least significant first) packed into
    // one number: pairs of digits, then fours, then eights, by shifts.
    let digits = word & ((1u128 << (8 * at)) - 1);
    let low = pack_digits(digits as u64);
    let ninth = (digits >> 64) as u64 & 0x7f;
    Some((input[at], low | ninth << 56, at + 1))
}

/// Eight base-128 digits (one a byte, least significant first, each below
/// 128) packed into the 56-bit number they stand for: pairs of digits, then
/// fours, then eights, by shifts.
#[inline(always)]
fn pack_digits(word: u64) -> u64 {
    let word = (word & 0x007f_007f_007f_007f) | (word & 0x7f00_7f00_7f00_7f00) >> 1;
    let word = (word & 0x0000_3fff_0000_3fff) | (word & 0x3fff_0000_3fff_0000) >> 2;
    (word & 0x0000_0000_0fff_ffff) | (word & 0x0fff_ffff_0000_0000) >> 4
}

/// The header of a token whose prefix has up to 18 digits (126 bits: the
/// long ints just beyond 64 bits) as `(type byte, value, header length)`,
/// read a word at a time. `None` for a longer prefix or one over the limit.
#[inline]
pub fn long_header(input: &[u8], limits: &Limits) -> Option<(u8, u128, usize)> {
    let mut value = 0u128;
    for group in 0..3 {
        let word = padded_word(input, 8 * group);
        let high = word & 0x8080_8080_8080_8080;
        let digits = if high == 0 {
            8
        } else {
            high.trailing_zeros() / 8
        } as usize;
        let mask = u64::MAX.checked_shr(64 - 8 * digits as u32).unwrap_or(0);
        value |= (pack_digits(word & mask) as u128) << (56 * group);
        if high != 0 {
            let at = 8 * group + digits;
            return (at <= 18 && at <= limits.prefix).then(|| (input[at], value, at + 1));
        }
    }
    None
}

#[inline(always)]
fn short_header_near_end(input: &[u8], limits: &Limits) -> Option<(u8, u64, usize)> {
    match *input {
        [first, ..] if first & 0x80 != 0 => Some((first, 0, 1)),
        [first, second, ..] if second & 0x80 != 0 && limits.prefix >= 1 => {
            Some((second, first as u64, 2))
        }
        [first, second, third, ..] if third & 0x80 != 0 && limits.prefix >= 2 => {
            Some((third, first as u64 | (second as u64) << 7, 3))
        }
        _ => None,
    }
}

/// The complete, valid token with the header [`short_header`] found;
/// `None` for anything that needs the general path's checks and messages.
#[inline(always)]
fn short_token<'a>(
    input: &'a [u8],
    type_byte: u8,
    value: u64,
    header: usize,
    limits: &Limits,
) -> Option<Scan<'a>> {
    let digits = Digits(&input[..header - 1]);
    let token = match type_byte {
        LIST if value <= limits.size => Token::List(value),
        STRING if value <= limits.size => {
            let end = header.checked_add(value as usize)?;
            return Some(Scan::Token(Token::String(input.get(header..end)?), end));
        }
        INT | LONGINT => Token::Int(digits),
        NEG | LONGNEG => Token::Neg(digits),
        FLOAT => {
            return Some(Scan::Token(
                Token::Float(float_body(input, header)?),
                header + 8,
            ));
        }
        VOCAB => Token::Vocab(digits),
        _ => return None,
    };
    Some(Scan::Token(token, header))
}

/// The float whose 8 big-endian bytes start at `input[at]`, if all are there.
#[inline(always)]
pub fn float_body(input: &[u8], at: usize) -> Option<f64> {
    let bits: [u8; 8] = input.get(at..at.checked_add(8)?)?.try_into().ok()?;
    Some(f64::from_be_bytes(bits))
}

/// [`scan_token`] for any input: the prefix searched for up to the limit.
pub(crate) fn scan_token_general<'a>(
    input: &'a [u8],
    limits: &Limits,
) -> Result<Scan<'a>, ErrorKind> {
    // The prefix ends at the first byte with its high bit set: the type byte.
    let window = &input[..input.len().min(limits.prefix.saturating_add(1))];
    let Some(prefix_len) = window.iter().position(|&byte| byte & 0x80 != 0) else {
        if window.len() > limits.prefix {
            return Err(ErrorKind::PrefixTooLong {
                limit: limits.prefix,
            });
        }
        return Ok(Scan::Incomplete {
            length: None,
            what: "token prefix",
        });
    };
    let digits = Digits(&input[..prefix_len]);
    let header = prefix_len + 1;
    let token = match input[prefix_len] {
        LIST => {
            let claimed = digits.to_u64();
            match claimed {
                Some(count) if count <= limits.size => Token::List(count),
                _ => {
                    return Err(ErrorKind::ListTooLong {
                        claimed,
                        limit: limits.size,
                    })
                }
            }
        }
        STRING => {
            let claimed = digits.to_u64();
            let length = match claimed {
                Some(length) if length <= limits.size => length,
                _ => {
                    return Err(ErrorKind::StringTooLong {
                        claimed,
                        limit: limits.size,
                    })
                }
            };
            // length <= size limit, which fits memory: the cast cannot truncate
            // anything a buffer could hold, and the comparison is in u64.
            let end = header as u64 + length;
            if (input.len() as u64) < end {
                return Ok(Scan::Incomplete {
                    length: Some(end),
                    what: "string",
                });
            }
            let end = end as usize;
            return Ok(Scan::Token(Token::String(&input[header..end]), end));
        }
        INT | LONGINT => Token::Int(digits),
        NEG | LONGNEG => Token::Neg(digits),
        FLOAT => {
            // The prefix of a float is read and ignored, as Twisted does.
            let end = header + 8;
            let Some(body) = input.get(header..end) else {
                return Ok(Scan::Incomplete {
                    length: Some(end as u64),
                    what: "float",
                });
            };
            let mut bits = [0u8; 8];
            bits.copy_from_slice(body);
            return Ok(Scan::Token(Token::Float(f64::from_be_bytes(bits)), end));
        }
        VOCAB => Token::Vocab(digits),
        other => return Err(ErrorKind::InvalidTypeByte(other)),
    };
    Ok(Scan::Token(token, header))
}

pub(crate) struct Frame<L> {
    remaining: u64,
    /// Room reserved for items of this list and not yet filled.
    reserved: u64,
    items: L,
}

/// The parse position inside one stream: open lists and where the current
/// top-level expression started.
pub(crate) struct ParseState<L> {
    pub(crate) stack: Vec<Frame<L>>,
    message_start: u64,
    /// Room reserved and not yet filled, all open lists together.
    reserved: u64,
}

impl<L> ParseState<L> {
    pub(crate) fn new() -> Self {
        ParseState {
            stack: Vec::new(),
            message_start: 0,
            reserved: 0,
        }
    }
}

/// Parse tokens from `input[*pos..]` until one top-level expression is
/// complete (`Ok(Some)`) or the input runs out (`Ok(None)`, with `*pos` at
/// the first byte of the incomplete token). `base` is the stream offset of
/// `input[0]`, for error messages and the message size limit.
pub(crate) fn parse<B: Builder>(
    input: &[u8],
    pos: &mut usize,
    base: u64,
    state: &mut ParseState<B::List>,
    builder: &mut B,
    limits: &Limits,
) -> Result<Option<B::Value>, B::Error> {
    loop {
        let start = *pos;
        let offset = base + start as u64;
        if state.stack.is_empty() {
            state.message_start = offset;
        }
        let rest = &input[start..];
        if rest.is_empty() {
            return Ok(None);
        }
        let scan = scan_token(rest, limits).map_err(|kind| DecodeError::new(offset, kind))?;
        let (token, used) = match scan {
            Scan::Token(token, used) => (token, used),
            Scan::Incomplete { length, .. } => {
                // Refuse to buffer a message that is already too large, and a
                // string that would make it so, before its bytes arrive.
                let known = length.unwrap_or(0).max(rest.len() as u64);
                check_message_size(offset - state.message_start + known, state, limits)?;
                return Ok(None);
            }
        };
        check_message_size(offset + used as u64 - state.message_start, state, limits)?;
        *pos = start + used;
        let mut value = match token {
            Token::List(count) => {
                if state.stack.len() >= limits.depth {
                    return Err(DecodeError::new(
                        offset,
                        ErrorKind::TooDeep {
                            limit: limits.depth,
                        },
                    )
                    .into());
                }
                if count == 0 {
                    let empty = builder.list(0);
                    builder.finish_list(empty)?
                } else {
                    // Every item takes at least one byte: never reserve more
                    // than the bytes at hand could hold -- all open lists
                    // together (nested headers each claiming much must not
                    // each reserve for the same bytes).
                    let room = ((input.len() - *pos) as u64).saturating_sub(state.reserved);
                    let capacity = count.min(room);
                    state.reserved += capacity;
                    let items = builder.list(capacity as usize);
                    state.stack.push(Frame {
                        remaining: count,
                        reserved: capacity,
                        items,
                    });
                    continue;
                }
            }
            Token::Int(digits) => builder.int(false, digits)?,
            Token::Neg(digits) => builder.int(true, digits)?,
            Token::String(bytes) => builder.string(bytes)?,
            Token::Float(value) => builder.float(value)?,
            Token::Vocab(id) => builder.vocab(id, offset)?,
        };
        // Hand the value to its list; a list that is now full is itself a
        // value for the list above it.
        loop {
            let Some(frame) = state.stack.last_mut() else {
                return Ok(Some(value));
            };
            builder.push(&mut frame.items, value)?;
            frame.remaining -= 1;
            if frame.reserved > 0 {
                frame.reserved -= 1;
                state.reserved -= 1;
            }
            if frame.remaining > 0 {
                break;
            }
            let frame = state.stack.pop().expect("the frame just pushed to");
            state.reserved -= frame.reserved;
            value = builder.finish_list(frame.items)?;
        }
    }
}

fn check_message_size<L>(
    size: u64,
    state: &ParseState<L>,
    limits: &Limits,
) -> Result<(), DecodeError> {
    if size > limits.message {
        return Err(DecodeError::new(
            state.message_start,
            ErrorKind::MessageTooLarge {
                limit: limits.message,
            },
        ));
    }
    Ok(())
}

/// Decode `input` the way Twisted's `banana.decode` does: every complete
/// expression is decoded (so a malformed one anywhere is an error), the first
/// is returned, and trailing bytes that do not complete an expression are
/// ignored. Input holding no complete expression is [`ErrorKind::Truncated`].
pub fn decode_first<B: Builder>(
    input: &[u8],
    builder: &mut B,
    limits: &Limits,
) -> Result<B::Value, B::Error> {
    let mut state = ParseState::new();
    let mut pos = 0;
    let first = parse_first(input, &mut pos, &mut state, builder, limits)?;
    while parse(input, &mut pos, 0, &mut state, builder, limits)?.is_some() {}
    Ok(first)
}

/// Decode `input`, which must hold exactly one complete expression.
pub fn decode_exact<B: Builder>(
    input: &[u8],
    builder: &mut B,
    limits: &Limits,
) -> Result<B::Value, B::Error> {
    let mut state = ParseState::new();
    let mut pos = 0;
    let value = parse_first(input, &mut pos, &mut state, builder, limits)?;
    if pos != input.len() {
        return Err(DecodeError::new(
            pos as u64,
            ErrorKind::TrailingBytes {
                count: (input.len() - pos) as u64,
            },
        )
        .into());
    }
    Ok(value)
}

/// Decode the one expression that starts at `input[*pos]`, leaving `*pos`
/// just after it; the input ending first is [`ErrorKind::Truncated`].
/// Offsets in errors count from `input[0]`. For readers that take most of
/// an input their own way and hand parts of it to a builder.
pub fn decode_at<B: Builder>(
    input: &[u8],
    pos: &mut usize,
    builder: &mut B,
    limits: &Limits,
) -> Result<B::Value, B::Error> {
    let mut state = ParseState::new();
    parse_first(input, pos, &mut state, builder, limits)
}

/// Where the expression that starts at `pos` in `input` ends, for bytes a
/// parse has already checked (a framer's whole expression, with these
/// `limits`): its tokens are stepped over, counting the items still to
/// come, with nothing built and nothing checked again. `None` where the
/// bytes are not such an expression after all (the caller then parses them,
/// which says what is wrong).
pub fn skip_checked(input: &[u8], pos: usize, limits: &Limits) -> Option<usize> {
    let mut pos = pos;
    // Items still to read: the expression itself, then each list's items.
    let mut remaining: u64 = 1;
    while remaining > 0 {
        let Ok(Scan::Token(token, used)) = scan_token(input.get(pos..)?, limits) else {
            return None;
        };
        pos += used;
        remaining -= 1;
        if let Token::List(count) = token {
            remaining = remaining.checked_add(count)?;
        }
    }
    Some(pos)
}

/// A [`Builder`] that builds nothing: decoding with it checks that bytes are
/// well-formed Banana within the limits, and says where they are not.
/// VOCAB tokens are refused as in dialect `none`, or, in dialect `pb`,
/// accepted when their id is one of the `pb` vocabulary's.
#[derive(Debug, Clone, Copy, Default)]
pub struct Validate {
    /// True in dialect `pb`.
    pub pb_dialect: bool,
}

impl Builder for Validate {
    type Value = ();
    type List = ();
    type Error = DecodeError;

    fn list(&mut self, _capacity: usize) {}
    fn push(&mut self, _list: &mut (), _item: ()) -> Result<(), DecodeError> {
        Ok(())
    }
    fn finish_list(&mut self, _list: ()) -> Result<(), DecodeError> {
        Ok(())
    }
    fn int(&mut self, _negative: bool, _digits: Digits<'_>) -> Result<(), DecodeError> {
        Ok(())
    }
    fn string(&mut self, _bytes: &[u8]) -> Result<(), DecodeError> {
        Ok(())
    }
    fn float(&mut self, _value: f64) -> Result<(), DecodeError> {
        Ok(())
    }
    fn vocab(&mut self, id: Digits<'_>, offset: u64) -> Result<(), DecodeError> {
        let id = id.to_u64();
        let known =
            id.is_some_and(|id| id > 0 && (id as usize) < super::vocabulary::PB_VOCABULARY.len());
        let kind = match id {
            Some(_) if known && self.pb_dialect => return Ok(()),
            Some(id) if known => ErrorKind::VocabularyNotInDialect { id },
            _ => ErrorKind::UnknownVocabulary { id },
        };
        Err(DecodeError::new(offset, kind))
    }
}

/// The first complete expression of a whole input; none is [`ErrorKind::Truncated`].
fn parse_first<B: Builder>(
    input: &[u8],
    pos: &mut usize,
    state: &mut ParseState<B::List>,
    builder: &mut B,
    limits: &Limits,
) -> Result<B::Value, B::Error> {
    match parse(input, pos, 0, state, builder, limits)? {
        Some(value) => Ok(value),
        None => Err(truncated(input, *pos, state).into()),
    }
}

fn truncated<L>(input: &[u8], pos: usize, state: &ParseState<L>) -> DecodeError {
    let what = if pos < input.len() {
        match scan_token(
            &input[pos..],
            &Limits {
                prefix: usize::MAX - 1,
                ..Limits::default()
            },
        ) {
            Ok(Scan::Incomplete { what, .. }) => what,
            _ => "token",
        }
    } else if state.stack.is_empty() {
        "expression"
    } else {
        "list"
    };
    let offset = if pos < input.len() || state.stack.is_empty() {
        pos as u64
    } else {
        state.message_start
    };
    DecodeError::new(offset, ErrorKind::Truncated { what })
}

/// An incremental decoder for one byte stream (one connection).
///
/// Feed it bytes as they arrive and ask for complete expressions; between the
/// two, it holds only the bytes of the one incomplete token and the lists
/// opened so far. After an error the stream is out of step for good: every
/// later call fails too (Twisted's decoder likewise keeps failing on the bad
/// token at the head of its buffer).
pub struct Decoder<L> {
    buffer: Vec<u8>,
    /// First unconsumed byte of `buffer`.
    pos: usize,
    /// Stream offset of `buffer[0]`.
    base: u64,
    state: ParseState<L>,
    failed_at: Option<u64>,
}

impl<L> Default for Decoder<L> {
    fn default() -> Self {
        Self::new()
    }
}

impl<L> Decoder<L> {
    pub fn new() -> Self {
        Decoder {
            buffer: Vec::new(),
            pos: 0,
            base: 0,
            state: ParseState::new(),
            failed_at: None,
        }
    }

    /// Append bytes received from the stream. After an error they are
    /// dropped: nothing can decode them, and keeping them would let a peer
    /// that goes on sending grow the buffer without bound. Memory the
    /// allocator refuses is an error, not an abort (nothing is kept).
    pub fn feed(&mut self, data: &[u8]) -> Result<(), TryReserveError> {
        if self.failed_at.is_some() {
            return Ok(());
        }
        // Drop consumed bytes once they are at least half the buffer: the
        // bytes moved are never more than those dropped, so the copying is
        // linear in the stream overall.
        if self.pos > 0 && self.pos * 2 >= self.buffer.len() {
            self.buffer.drain(..self.pos);
            self.base += self.pos as u64;
            self.pos = 0;
        }
        self.buffer.try_reserve(data.len())?;
        self.buffer.extend_from_slice(data);
        Ok(())
    }

    /// The next complete top-level expression, or `None` until more bytes
    /// arrive.
    pub fn next<B: Builder<List = L>>(
        &mut self,
        builder: &mut B,
        limits: &Limits,
    ) -> Result<Option<B::Value>, B::Error> {
        if let Some(offset) = self.failed_at {
            return Err(DecodeError::new(offset, ErrorKind::AfterError).into());
        }
        let result = parse(
            &self.buffer,
            &mut self.pos,
            self.base,
            &mut self.state,
            builder,
            limits,
        );
        if result.is_err() {
            self.failed_at = Some(self.base + self.pos as u64);
            self.state = ParseState::new();
            self.buffer = Vec::new();
            self.base += self.pos as u64;
            self.pos = 0;
        }
        result
    }

    /// The lists opened and not yet complete, outermost first.
    pub fn open_lists(&self) -> impl Iterator<Item = &L> {
        self.state.stack.iter().map(|frame| &frame.items)
    }

    /// Bytes received and not yet consumed (the start of an incomplete token).
    pub fn pending(&self) -> &[u8] {
        &self.buffer[self.pos..]
    }

    /// True when `next` would find nothing now, whatever the dialect and
    /// limits: no byte past what was consumed, and no error kept.
    pub fn is_drained(&self) -> bool {
        self.failed_at.is_none() && self.pos == self.buffer.len()
    }

    /// True when no expression is partly decoded.
    pub fn is_idle(&self) -> bool {
        self.state.stack.is_empty() && self.pos == self.buffer.len()
    }

    /// Stream offset of the next unconsumed byte.
    pub fn offset(&self) -> u64 {
        self.base + self.pos as u64
    }

    /// Forget everything: the next byte fed starts a new stream.
    pub fn reset(&mut self) {
        *self = Decoder::new();
    }
}
