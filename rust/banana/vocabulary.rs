//! The `pb` dialect's vocabulary: byte strings that travel as one VOCAB token
//! (a symbol id) instead of a STRING token. Jelly's type tags and PB's message
//! names are all in it, which is what makes the `pb` dialect compact.

/// Symbol ids `1..=31` of the `pb` dialect; index 0 is unused.
pub const PB_VOCABULARY: [&[u8]; 32] = [
    b"",
    // Jelly data types
    b"None",
    b"class",
    b"dereference",
    b"reference",
    b"dictionary",
    b"function",
    b"instance",
    b"list",
    b"module",
    b"persistent",
    b"tuple",
    b"unpersistable",
    // PB data types
    b"copy",
    b"cache",
    b"cached",
    b"remote",
    b"local",
    b"lcache",
    // PB protocol messages
    b"version",
    b"login",
    b"password",
    b"challenge",
    b"logged_in",
    b"not_logged_in",
    b"cachemessage",
    b"message",
    b"answer",
    b"error",
    b"decref",
    b"decache",
    b"uncache",
];

/// The byte strings an encoder sends as VOCAB tokens, with their ids.
#[derive(Debug, Clone, Default)]
pub struct OutgoingVocabulary {
    /// Symbols bucketed by length: most strings an encoder sees are not
    /// symbols, and their length alone rejects them.
    by_length: Vec<Vec<(Box<[u8]>, u64)>>,
    /// True if this is exactly the `pb` dialect's vocabulary.
    is_pb: bool,
}

impl OutgoingVocabulary {
    pub fn new(entries: impl IntoIterator<Item = (Vec<u8>, u64)>) -> Self {
        let mut by_length: Vec<Vec<(Box<[u8]>, u64)>> = Vec::new();
        let mut count = 0;
        for (symbol, id) in entries {
            if by_length.len() <= symbol.len() {
                by_length.resize_with(symbol.len() + 1, Vec::new);
            }
            by_length[symbol.len()].push((symbol.into_boxed_slice(), id));
            count += 1;
        }
        let mut vocabulary = OutgoingVocabulary {
            by_length,
            is_pb: false,
        };
        vocabulary.is_pb = count == PB_VOCABULARY.len() - 1
            && PB_VOCABULARY
                .iter()
                .enumerate()
                .skip(1)
                .all(|(id, symbol)| vocabulary.lookup(symbol) == Some(id as u64));
        vocabulary
    }

    /// True if this is exactly the `pb` dialect's vocabulary (so that
    /// bytes encoded with it read back with the `pb` dialect's table).
    pub fn is_pb(&self) -> bool {
        self.is_pb
    }

    /// The `pb` dialect's vocabulary.
    pub fn pb() -> Self {
        Self::new(
            PB_VOCABULARY
                .iter()
                .enumerate()
                .skip(1)
                .map(|(id, symbol)| (symbol.to_vec(), id as u64)),
        )
    }

    /// The symbol id of `bytes`, if it is in the vocabulary.
    #[inline]
    pub fn lookup(&self, bytes: &[u8]) -> Option<u64> {
        self.by_length
            .get(bytes.len())?
            .iter()
            .find(|(symbol, _)| same(symbol, bytes))
            .map(|&(_, id)| id)
    }
}

/// True if `a` and `b`, of the same length, hold the same bytes. Up to 16
/// bytes (every symbol of the pb vocabulary) they are compared as two
/// overlapping words each, without a call to memcmp for each candidate.
#[inline(always)]
fn same(a: &[u8], b: &[u8]) -> bool {
    debug_assert_eq!(a.len(), b.len());
    let n = a.len();
    let u64_at = |s: &[u8], at: usize| u64::from_le_bytes(s[at..at + 8].try_into().expect("8"));
    let u32_at = |s: &[u8], at: usize| u32::from_le_bytes(s[at..at + 4].try_into().expect("4"));
    match n {
        0..=3 => a.iter().zip(b).all(|(x, y)| x == y),
        4..=7 => u32_at(a, 0) == u32_at(b, 0) && u32_at(a, n - 4) == u32_at(b, n - 4),
        8..=16 => u64_at(a, 0) == u64_at(b, 0) && u64_at(a, n - 8) == u64_at(b, n - 8),
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_compares_every_byte() {
        for n in 0..=24usize {
            let a: Vec<u8> = (0..n as u8).collect();
            assert!(same(&a, &a.clone()));
            for i in 0..n {
                let mut b = a.clone();
                b[i] ^= 0x80;
                assert!(!same(&a, &b), "length {n}, byte {i}");
            }
        }
    }

    #[test]
    fn pb_ids_match_twisted() {
        let vocabulary = OutgoingVocabulary::pb();
        assert_eq!(vocabulary.lookup(b"None"), Some(1));
        assert_eq!(vocabulary.lookup(b"remote"), Some(16));
        assert_eq!(vocabulary.lookup(b"uncache"), Some(31));
        assert_eq!(vocabulary.lookup(b"not_logged_in"), Some(24));
        assert_eq!(vocabulary.lookup(b"unicode"), None);
        assert_eq!(vocabulary.lookup(b""), None);
        assert!(vocabulary.is_pb());
        assert!(!OutgoingVocabulary::new([(b"None".to_vec(), 1)]).is_pb());
        assert_eq!(
            vocabulary.lookup(b"a much longer string than any symbol"),
            None
        );
    }
}
