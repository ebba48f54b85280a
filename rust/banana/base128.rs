//! Base-128 prefixes: the numbers in front of every Banana token.
//!
//! A prefix is written least significant digit first, seven bits a byte, every
//! byte with its high bit clear (the first byte with the high bit set is the
//! token's type byte). Zero is written as one `0x00` byte. Readers accept
//! redundant high zero digits (`05 00 00` is 5), as Twisted's do.

/// Append the base-128 prefix of `value` (Twisted's `int2b128`).
#[inline]
pub fn write_prefix(out: &mut Vec<u8>, mut value: u64) {
    if value < 0x80 {
        out.push(value as u8);
        return;
    }
    while value != 0 {
        out.push((value & 0x7f) as u8);
        value >>= 7;
    }
}

/// Append the base-128 prefix of a magnitude given as little-endian base-256
/// bytes (any length; high zero bytes are ignored).
pub fn write_prefix_le_bytes(out: &mut Vec<u8>, magnitude: &[u8]) {
    let bits = bit_length_le(magnitude);
    if bits == 0 {
        out.push(0);
        return;
    }
    let digits = bits.div_ceil(7);
    for index in 0..digits {
        let bit = index * 7;
        let byte = bit / 8;
        let shift = bit % 8;
        let low = magnitude[byte] as u16;
        let high = magnitude.get(byte + 1).copied().unwrap_or(0) as u16;
        out.push((((high << 8 | low) >> shift) & 0x7f) as u8);
    }
}

/// Number of significant bits in a little-endian base-256 magnitude.
pub fn bit_length_le(magnitude: &[u8]) -> usize {
    match magnitude.iter().rposition(|&b| b != 0) {
        None => 0,
        Some(top) => top * 8 + (8 - magnitude[top].leading_zeros() as usize),
    }
}

/// The value of base-128 digits (least significant first), if it fits a `u64`.
/// Digits may be any byte value (Twisted's `b1282int` weighs a byte `n` as
/// `n * 128**i` even when `n >= 128`).
pub fn digits_to_u64(digits: &[u8]) -> Option<u64> {
    let mut value: u64 = 0;
    for &digit in digits.iter().rev() {
        value = value.checked_mul(128)?.checked_add(digit as u64)?;
    }
    Some(value)
}

/// The value of base-128 digits as a little-endian base-256 magnitude with no
/// high zero bytes (empty for zero). Linear in the number of digits.
pub fn digits_to_le_bytes(digits: &[u8]) -> Vec<u8> {
    let low = pack7(digits.iter().map(|&d| d & 0x7f), 0);
    if digits.iter().all(|&d| d < 0x80) {
        return low;
    }
    // A digit of 128..=255 is (d & 0x7f) + 128 * (d >> 7): the carries form a
    // second base-128 number of 0/1 digits, one place higher.
    let carries = pack7(digits.iter().map(|&d| d >> 7), 1);
    add_le(&low, &carries)
}

/// Pack 7-bit digits (least significant first, each `< 128`), shifted up by
/// `offset` digit places, into little-endian bytes with no high zero bytes.
fn pack7(digits: impl Iterator<Item = u8>, offset: usize) -> Vec<u8> {
    let mut out = vec![0u8; offset * 7 / 8];
    let mut acc: u32 = 0;
    let mut acc_bits = 0u32;
    let lead = (offset * 7 % 8) as u32;
    acc_bits += lead;
    for digit in digits {
        acc |= (digit as u32) << acc_bits;
        acc_bits += 7;
        while acc_bits >= 8 {
            out.push(acc as u8);
            acc >>= 8;
            acc_bits -= 8;
        }
    }
    if acc_bits > 0 {
        out.push(acc as u8);
    }
    trim(&mut out);
    out
}

fn add_le(a: &[u8], b: &[u8]) -> Vec<u8> {
    let len = a.len().max(b.len());
    let mut out = Vec::with_capacity(len + 1);
    let mut carry = 0u16;
    for index in 0..len {
        let sum = a.get(index).copied().unwrap_or(0) as u16
            + b.get(index).copied().unwrap_or(0) as u16
            + carry;
        out.push(sum as u8);
        carry = sum >> 8;
    }
    if carry != 0 {
        out.push(carry as u8);
    }
    trim(&mut out);
    out
}

fn trim(bytes: &mut Vec<u8>) {
    while bytes.last() == Some(&0) {
        bytes.pop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prefix(value: u64) -> Vec<u8> {
        let mut out = Vec::new();
        write_prefix(&mut out, value);
        out
    }

    #[test]
    fn prefixes_match_twisted_int2b128() {
        assert_eq!(prefix(0), [0]);
        assert_eq!(prefix(1), [1]);
        assert_eq!(prefix(127), [127]);
        assert_eq!(prefix(128), [0, 1]);
        assert_eq!(prefix(2_147_483_647), [0x7f, 0x7f, 0x7f, 0x7f, 0x07]);
        assert_eq!(prefix(u64::MAX).len(), 10);
    }

    #[test]
    fn u64_round_trips() {
        for value in [
            0u64,
            1,
            127,
            128,
            300,
            1 << 31,
            (1 << 63) - 1,
            1 << 63,
            u64::MAX,
        ] {
            assert_eq!(digits_to_u64(&prefix(value)), Some(value));
            let mut from_bytes = Vec::new();
            write_prefix_le_bytes(&mut from_bytes, &value.to_le_bytes());
            assert_eq!(from_bytes, prefix(value), "{value}");
            let mut expect = value.to_le_bytes().to_vec();
            trim(&mut expect);
            assert_eq!(digits_to_le_bytes(&prefix(value)), expect);
        }
    }

    #[test]
    fn overflow_is_none_not_wrap() {
        let mut digits = vec![0x7f; 10];
        assert_eq!(digits_to_u64(&digits), None);
        digits.truncate(9);
        assert_eq!(digits_to_u64(&digits), Some((1 << 63) - 1));
        // High zero digits do not count.
        assert_eq!(
            digits_to_u64(&[5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
            Some(5)
        );
    }

    #[test]
    fn big_magnitudes() {
        // 2**448 - 1: 64 digits of 0x7f, 56 bytes of 0xff.
        let digits = vec![0x7f; 64];
        assert_eq!(digits_to_le_bytes(&digits), vec![0xff; 56]);
        let mut out = Vec::new();
        write_prefix_le_bytes(&mut out, &[0xff; 56]);
        assert_eq!(out, digits);
        assert_eq!(bit_length_le(&[0xff; 56]), 448);
        assert_eq!(bit_length_le(&[0, 0, 0]), 0);
        let mut zero = Vec::new();
        write_prefix_le_bytes(&mut zero, &[]);
        assert_eq!(zero, [0]);
    }

    #[test]
    fn digits_with_high_bit_weigh_whole_byte() {
        // Twisted: b1282int(b"\xff") == 255, b1282int(b"\xff\xff") == 255 + 255 * 128.
        assert_eq!(
            digits_to_le_bytes(&[0xff]),
            255u64.to_le_bytes()[..1].to_vec()
        );
        let expect = (255u64 + 255 * 128).to_le_bytes();
        assert_eq!(digits_to_le_bytes(&[0xff, 0xff]), expect[..2].to_vec());
        assert_eq!(digits_to_u64(&[0xff, 0xff]), Some(255 + 255 * 128));
        let many = [0xffu8; 40];
        let mut expect = 0u128;
        for _ in 0..18 {
            expect = expect * 128 + 255;
        }
        let mut got = digits_to_le_bytes(&many[..18]);
        got.resize(16, 0);
        assert_eq!(u128::from_le_bytes(got.try_into().unwrap()), expect);
    }
}
