//! The expressions jelly writes most, as the bytes they start with (the
//! same in dialect `pb`, where these tags are no vocabulary symbols, but for
//! `[b"None"]`): recognised by comparing words, instead of reading their
//! tokens one at a time. Each has one-digit list and string headers, so a
//! reader whose limits allow those (and the tags' length) reads a shape by
//! matching it.
//!
//! Pure: the layers above read jelly with these.
use super::words::const_word;

/// Up to 16 bytes as the two little-endian words they start, and which
/// bits of each are theirs: a match compares only those, so the bytes
/// after the shape can be anything.
pub struct Shape {
    pub first: u64,
    pub second: u64,
    first_mask: u64,
    second_mask: u64,
    /// The shape's length in bytes.
    pub len: usize,
}

impl Shape {
    const fn of(bytes: &[u8]) -> Shape {
        assert!(bytes.len() <= 16);
        Shape {
            first: const_word(bytes, 0),
            second: const_word(bytes, 8),
            first_mask: low_bytes(bytes.len()),
            second_mask: low_bytes(bytes.len().saturating_sub(8)),
            len: bytes.len(),
        }
    }

    /// True if the words `(first, second)` start with this shape.
    #[inline(always)]
    pub fn starts(&self, first: u64, second: u64) -> bool {
        first & self.first_mask == self.first && second & self.second_mask == self.second
    }
}

/// The low `count` bytes of a word.
#[inline(always)]
pub const fn low_bytes(count: usize) -> u64 {
    if count >= 8 {
        u64::MAX
    } else {
        (1 << (8 * count)) - 1
    }
}

/// `[b"None"]`, whole, as the one little-endian word it is.
pub const NONE_WORD: u64 = u64::from_le_bytes(*b"\x01\x80\x04\x82None");
/// `[b"None"]` in dialect `pb`, whole: the tag is vocabulary symbol 1.
pub const NONE_SYMBOL: Shape = Shape::of(b"\x01\x80\x01\x87");
/// `[b"dereference", `, or in dialect `pb` (symbol 3).
pub const DEREFERENCE: Shape = Shape::of(b"\x02\x80\x0b\x82dereference");
pub const DEREFERENCE_SYMBOL: Shape = Shape::of(b"\x02\x80\x03\x87");
/// `[b"unicode", ` and `[b"boolean", ` (the same length).
pub const UNICODE: Shape = Shape::of(b"\x02\x80\x07\x82unicode");
pub const BOOLEAN: Shape = Shape::of(b"\x02\x80\x07\x82boolean");
/// A boolean expression's value, `b"true"` or `b"false"`, whole.
pub const TRUE: Shape = Shape::of(b"\x04\x82true");
pub const FALSE: Shape = Shape::of(b"\x05\x82false");
/// `[[b"unicode", `: a dictionary item whose key is a str.
pub const TEXT_KEY: Shape = Shape::of(b"\x02\x80\x02\x80\x07\x82unicode");
/// The tags `dictionary`, `list`, `tuple` and `reference`, and their
/// symbols in dialect `pb`.
pub const DICTIONARY: Shape = Shape::of(b"\x0a\x82dictionary");
pub const LIST: Shape = Shape::of(b"\x04\x82list");
pub const TUPLE: Shape = Shape::of(b"\x05\x82tuple");
pub const REFERENCE: Shape = Shape::of(b"\x09\x82reference");
pub const DICTIONARY_SYMBOL: u8 = 5;
pub const LIST_SYMBOL: u8 = 8;
pub const TUPLE_SYMBOL: u8 = 11;
pub const REFERENCE_SYMBOL: u8 = 4;
/// The longest tag above: the size limit must allow it.
pub const LONGEST_TAG: u64 = 11;
const _: () = assert!(UNICODE.len == BOOLEAN.len);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::banana::encoder::{write_list_header, write_string, write_vocab};
    use crate::banana::vocabulary::PB_VOCABULARY;
    use crate::banana::SIZE_LIMIT;

    /// The two words at the start of `bytes`, zero past the end.
    fn words(bytes: &[u8]) -> (u64, u64) {
        (const_word(bytes, 0), const_word(bytes, 8))
    }

    /// Each shape against the bytes the encoder writes for what it stands
    /// for, followed by anything: matched, and its length is theirs; any
    /// one byte of it changed: not matched.
    fn check(shape: &Shape, written: &[u8]) {
        assert_eq!(shape.len, written.len());
        for tail in [&b""[..], b"\x01\x81", b"\xff\xff\xff\xff\xff\xff\xff\xff"] {
            let mut bytes = written.to_vec();
            bytes.extend_from_slice(tail);
            let (first, second) = words(&bytes);
            assert!(shape.starts(first, second), "{written:?} + {tail:?}");
            for at in 0..written.len() {
                let mut changed = bytes.clone();
                changed[at] ^= 0x10;
                let (first, second) = words(&changed);
                assert!(!shape.starts(first, second), "{changed:?}");
            }
        }
    }

    fn list(items: u64, tags: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        write_list_header(&mut out, items);
        for tag in tags {
            write_string(&mut out, tag, SIZE_LIMIT).expect("short");
        }
        out
    }

    fn symbol(name: &[u8]) -> u64 {
        PB_VOCABULARY
            .iter()
            .position(|entry| *entry == name)
            .expect("in the vocabulary") as u64
    }

    #[test]
    fn shapes_are_the_bytes_jelly_writes() {
        assert_eq!(NONE_WORD.to_le_bytes()[..], list(1, &[b"None"])[..]);
        for (shape, value) in [(&TRUE, &b"true"[..]), (&FALSE, b"false")] {
            let mut written = Vec::new();
            write_string(&mut written, value, SIZE_LIMIT).expect("short");
            check(shape, &written);
        }
        check(&DEREFERENCE, &list(2, &[b"dereference"]));
        check(&UNICODE, &list(2, &[b"unicode"]));
        check(&BOOLEAN, &list(2, &[b"boolean"]));
        let mut key = Vec::new();
        write_list_header(&mut key, 2);
        key.extend(list(2, &[b"unicode"]));
        check(&TEXT_KEY, &key);
        for (shape, tag) in [
            (&DICTIONARY, &b"dictionary"[..]),
            (&LIST, b"list"),
            (&TUPLE, b"tuple"),
            (&REFERENCE, b"reference"),
        ] {
            let mut written = Vec::new();
            write_string(&mut written, tag, SIZE_LIMIT).expect("short");
            check(shape, &written);
            assert!(tag.len() as u64 <= LONGEST_TAG);
        }
    }

    #[test]
    fn symbols_are_the_pb_dialects() {
        for (shape, name) in [
            (&NONE_SYMBOL, &b"None"[..]),
            (&DEREFERENCE_SYMBOL, b"dereference"),
        ] {
            let mut written = Vec::new();
            write_list_header(&mut written, if name == b"None" { 1 } else { 2 });
            write_vocab(&mut written, symbol(name));
            check(shape, &written);
        }
        assert_eq!(DICTIONARY_SYMBOL as u64, symbol(b"dictionary"));
        assert_eq!(LIST_SYMBOL as u64, symbol(b"list"));
        assert_eq!(TUPLE_SYMBOL as u64, symbol(b"tuple"));
        assert_eq!(REFERENCE_SYMBOL as u64, symbol(b"reference"));
    }
}
