//! Finding whole top-level expressions in a byte stream without decoding
//! them: what a PB broker needs, which reads each message straight from its
//! bytes once it is complete.
//!
//! The framer scans each token once as bytes arrive, however they are
//! chunked (linear in the stream), checks it against the limits as soon as
//! its header is complete, and keeps the bytes of the expression under way
//! until it is whole; then hands out where they are. It holds no values:
//! memory is the bytes of one incomplete expression, which the message size
//! limit bounds.

use std::collections::TryReserveError;
use std::ops::Range;

use super::decoder::{
    parse, scan_token, short_header, Builder, Limits, ParseState, Scan, Token, Validate,
};
use super::error::{DecodeError, ErrorKind};
use super::vocabulary::PB_VOCABULARY;
use super::{INT, LIST, LONGINT, LONGNEG, NEG, STRING, VOCAB};

/// The whole expressions of one byte stream (one connection).
///
/// After an error the stream is out of step for good: every later call
/// fails too, and bytes fed are dropped.
#[derive(Default)]
pub struct Framer {
    buffer: Vec<u8>,
    /// Where the expression under way starts in `buffer`.
    start: usize,
    /// First byte of `buffer` not yet scanned.
    pos: usize,
    /// Stream offset of `buffer[0]`.
    base: u64,
    state: Option<ParseState<()>>,
    failed_at: Option<u64>,
    /// Where the items of the last expression handed out end, when it is a
    /// list whose items were all counted (see [`Framer::item_ends`]).
    item_ends: ItemEnds,
}

/// Where the items of a top-level list end (offsets from the expression's
/// start), for lists of up to [`ItemEnds::MOST`] items.
#[derive(Default, Clone, Copy, Debug, PartialEq, Eq)]
pub struct ItemEnds {
    ends: [usize; ItemEnds::MOST],
    /// How many were counted; `None` when they were not (more items than
    /// room, not a list, or found by the parse).
    count: Option<usize>,
}

impl ItemEnds {
    /// The most items whose ends are kept.
    pub const MOST: usize = 8;

    /// The ends of the items, in order, if they were counted.
    pub fn get(&self) -> Option<&[usize]> {
        self.count.map(|count| &self.ends[..count])
    }

    fn push(&mut self, end: usize) {
        if let Some(count) = self.count {
            if count < Self::MOST {
                self.ends[count] = end;
                self.count = Some(count + 1);
            } else {
                self.count = None;
            }
        }
    }
}

impl Framer {
    pub fn new() -> Self {
        Framer::default()
    }

    /// Append bytes received from the stream. Memory the allocator refuses
    /// is an error, not an abort (nothing is kept).
    pub fn feed(&mut self, data: &[u8]) -> Result<(), TryReserveError> {
        if self.failed_at.is_some() {
            return Ok(());
        }
        // Drop the bytes of expressions already handed out once they are at
        // least half the buffer: the bytes moved are never more than those
        // dropped, so the copying is linear in the stream overall.
        if self.start > 0 && self.start * 2 >= self.buffer.len() {
            self.buffer.drain(..self.start);
            self.base += self.start as u64;
            self.pos -= self.start;
            self.start = 0;
        }
        self.buffer.try_reserve(data.len())?;
        self.buffer.extend_from_slice(data);
        Ok(())
    }

    /// Where the next complete top-level expression is in [`Framer::bytes`],
    /// or `None` until more bytes arrive. The range stays valid until the
    /// next call of `feed` or `next`. `pb_dialect` says whether VOCAB tokens
    /// may occur (their ids are the pb vocabulary's).
    pub fn next(
        &mut self,
        pb_dialect: bool,
        limits: &Limits,
    ) -> Result<Option<Range<usize>>, DecodeError> {
        if let Some(offset) = self.failed_at {
            return Err(DecodeError::new(offset, ErrorKind::AfterError));
        }
        self.item_ends = ItemEnds::default();
        let state = self.state.get_or_insert_with(ParseState::new);
        if state.stack.is_empty() {
            self.start = self.pos;
            // The common case: all of the next expression is here, and
            // fine. Anything else is left to the parse, from its start.
            let mut ends = ItemEnds::default();
            if let Some(end) =
                whole_expression(&self.buffer[self.pos..], pb_dialect, limits, &mut ends)
            {
                self.item_ends = ends;
                self.pos += end;
                let expression = self.start..self.pos;
                self.start = self.pos;
                return Ok(Some(expression));
            }
        }
        let mut validate = Validate { pb_dialect };
        match parse(
            &self.buffer,
            &mut self.pos,
            self.base,
            state,
            &mut validate,
            limits,
        ) {
            Ok(Some(())) => {
                let expression = self.start..self.pos;
                self.start = self.pos;
                Ok(Some(expression))
            }
            Ok(None) => Ok(None),
            Err(error) => {
                self.failed_at = Some(self.base + self.pos as u64);
                self.state = None;
                self.buffer = Vec::new();
                self.base += self.pos as u64;
                self.pos = 0;
                self.start = 0;
                Err(error)
            }
        }
    }

    /// Where the items of the expression [`Framer::next`] last handed out
    /// end, as offsets from its start, when it is a list whose items were
    /// counted on the way (not always: see [`ItemEnds`]).
    pub fn item_ends(&self) -> ItemEnds {
        self.item_ends
    }

    /// The buffered bytes, which the ranges of [`Framer::next`] index.
    pub fn bytes(&self) -> &[u8] {
        &self.buffer
    }

    /// Stream offset of `bytes()[0]`.
    pub fn base(&self) -> u64 {
        self.base
    }

    /// The bytes of the expression under way (received, not yet whole).
    pub fn pending(&self) -> &[u8] {
        &self.buffer[self.start..]
    }

    /// True when `next` would find nothing now, whatever the dialect and
    /// limits: no byte past what was consumed, and no error kept.
    pub fn is_drained(&self) -> bool {
        self.failed_at.is_none() && self.pos == self.buffer.len()
    }

    /// True when no expression is partly received.
    pub fn is_idle(&self) -> bool {
        self.start == self.buffer.len()
    }

    /// Stream offset of the first byte not handed out.
    pub fn offset(&self) -> u64 {
        self.base + self.start as u64
    }

    /// Forget everything: the next byte fed starts a new stream.
    pub fn reset(&mut self) {
        *self = Framer::new();
    }
}

/// Lists a [`whole_expression`] may have open at once; deeper ones are
/// left to the parse.
const OPEN_LISTS: usize = 64;

/// The length of the expression at the start of `input` if all of it is
/// there and the parse (with [`Validate`] and these `limits`, from a
/// message's start) would accept it as it is: the same checks, made in one
/// pass that keeps only how many items each open list still wants.
/// `None` otherwise -- not all of it here, something wrong, or lists nested
/// deeper than [`OPEN_LISTS`] -- and the parse then does what it does.
/// The ends of the top-level list's items are noted in `ends`.
pub(super) fn whole_expression(
    input: &[u8],
    pb_dialect: bool,
    limits: &Limits,
    ends: &mut ItemEnds,
) -> Option<usize> {
    let mut open = [0u64; OPEN_LISTS];
    let mut depth = 0;
    let mut pos = 0;
    loop {
        let rest = input.get(pos..)?;
        // The common tokens read straight from their header (what
        // `scan_token` reads them as); anything else as it reads it.
        let quick = short_header(rest, limits).and_then(|(type_byte, value, header)| {
            match type_byte {
                LIST if value <= limits.size => Some((Some(value), header)),
                STRING if value <= limits.size => {
                    let end = header.checked_add(value as usize)?;
                    (end <= rest.len()).then_some((None, end))
                }
                INT | NEG | LONGINT | LONGNEG => Some((None, header)),
                // A symbol of the pb vocabulary, in its dialect (as
                // `Validate` has it): else the general way says why not.
                VOCAB if pb_dialect && value > 0 && (value as usize) < PB_VOCABULARY.len() => {
                    Some((None, header))
                }
                _ => None,
            }
        });
        let (list, used) = match quick {
            Some(read) => read,
            None => {
                let Ok(Scan::Token(token, used)) = scan_token(rest, limits) else {
                    return None;
                };
                match token {
                    Token::List(count) => (Some(count), used),
                    Token::Vocab(id) => {
                        Validate { pb_dialect }.vocab(id, 0).ok()?;
                        (None, used)
                    }
                    _ => (None, used),
                }
            }
        };
        pos += used;
        if pos as u64 > limits.message {
            return None;
        }
        if let Some(count) = list {
            if depth >= limits.depth || depth >= OPEN_LISTS {
                return None;
            }
            if count > 0 {
                if depth == 0 {
                    ends.count = Some(0);
                }
                open[depth] = count;
                depth += 1;
                continue;
            }
        }
        // A value is complete: it fills a slot of the innermost open list,
        // which may complete that list in turn.
        loop {
            if depth == 0 {
                return Some(pos);
            }
            if depth == 1 {
                // An item of the top-level list ends here.
                ends.push(pos);
            }
            open[depth - 1] -= 1;
            if open[depth - 1] > 0 {
                break;
            }
            depth -= 1;
        }
    }
}
