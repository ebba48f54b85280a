//! Reading short byte strings a word at a time.

/// Bytes `start..start + 8` of `bytes` as a little-endian word, zero past
/// the end. Read with whole-word loads where the slice allows (a padded
/// copy would make the CPU wait for byte stores to reach word loads).
#[inline(always)]
pub fn padded_word(bytes: &[u8], start: usize) -> u64 {
    let len = bytes.len();
    if start >= len {
        return 0;
    }
    let left = len - start;
    if let Some(word) = bytes.get(start..start + 8) {
        return u64::from_le_bytes(word.try_into().expect("8 bytes"));
    }
    if len >= 8 {
        // The last eight bytes, less the ones before `start`.
        let last = u64::from_le_bytes(bytes[len - 8..].try_into().expect("8 bytes"));
        return last >> (8 * (8 - left));
    }
    // Fewer than eight bytes in all: two loads that overlap (or meet)
    // cover them, their shared bytes equal.
    let rest = &bytes[start..];
    let u32_at = |at: usize| u32::from_le_bytes(rest[at..at + 4].try_into().expect("4 bytes"));
    let u16_at = |at: usize| u16::from_le_bytes(rest[at..at + 2].try_into().expect("2 bytes"));
    match left {
        4.. => u32_at(0) as u64 | (u32_at(left - 4) as u64) << (8 * (left - 4)),
        2.. => u16_at(0) as u64 | (u16_at(left - 2) as u64) << (8 * (left - 2)),
        _ => rest[0] as u64,
    }
}

/// Bytes `start..start + 8` of `bytes` as a little-endian word, zero past
/// its end: [`padded_word`] for constants.
pub const fn const_word(bytes: &[u8], start: usize) -> u64 {
    let mut word = 0u64;
    let mut index = 0;
    while index < 8 {
        if start + index < bytes.len() {
            word |= (bytes[start + index] as u64) << (8 * index);
        }
        index += 1;
    }
    word
}

#[cfg(test)]
mod tests {
    use super::padded_word;

    #[test]
    fn padded_words_are_the_bytes_zero_padded() {
        let data: Vec<u8> = (1..=40).collect();
        for len in 0..=24 {
            let bytes = &data[..len];
            let mut padded = [0u8; 24];
            padded[..len].copy_from_slice(bytes);
            for index in 0..3 {
                let expected =
                    u64::from_le_bytes(padded[index * 8..index * 8 + 8].try_into().unwrap());
                assert_eq!(padded_word(bytes, index * 8), expected, "{len} {index}");
            }
        }
    }
}
