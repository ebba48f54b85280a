//! Banana encoding: token writers that append to one growing buffer.
//!
//! Twisted picks an integer's token by its range; these writers make the same
//! choice so that the bytes are identical:
//!
//! | value                  | token   |
//! |------------------------|---------|
//! | `0 ..= 2**31 - 1`      | INT     |
//! | `2**31 ..`             | LONGINT |
//! | `-2**31 ..= -1`        | NEG     |
//! | `.. -2**31 - 1`        | LONGNEG |
//!
//! and refuses magnitudes whose prefix would exceed the prefix limit
//! (magnitude `>= 2**(7 * prefix_limit)`), as Twisted's encoder does.

use std::fmt;

use super::base128::{bit_length_le, write_prefix_le_bytes};
use super::{FLOAT, INT, INT_TOKEN_BOUND, LIST, LONGINT, LONGNEG, NEG, STRING, VOCAB};

/// Why a value cannot be sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EncodeError {
    /// An integer whose prefix would exceed the prefix limit.
    IntTooLarge,
    /// A list longer than the size limit.
    ListTooLong(u64),
    /// A byte string longer than the size limit.
    StringTooLong(u64),
    /// Lists nested deeper than the depth limit (or a list containing itself).
    TooDeep(usize),
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EncodeError::IntTooLarge => write!(f, "int is too large to send"),
            EncodeError::ListTooLong(len) => write!(f, "list/tuple is too long to send ({len})"),
            EncodeError::StringTooLong(len) => {
                write!(f, "byte string is too long to send ({len})")
            }
            EncodeError::TooDeep(limit) => write!(
                f,
                "lists nested deeper than {limit} levels (or a list that contains itself) \
                 cannot be sent"
            ),
        }
    }
}

impl std::error::Error for EncodeError {}

/// True when a magnitude of `bits` significant bits fits the prefix limit.
#[inline]
pub fn magnitude_fits(bits: usize, prefix_limit: usize) -> bool {
    bits <= prefix_limit.saturating_mul(7)
}

#[inline]
pub fn write_list_header(out: &mut Vec<u8>, len: u64) {
    write_header(out, len, LIST);
}

/// A token header: the base-128 prefix of `value` and the type byte, with
/// one capacity check.
#[inline(always)]
fn write_header(out: &mut Vec<u8>, value: u64, type_byte: u8) {
    out.reserve(11);
    // SAFETY: at least 11 bytes of spare capacity (reserved above); a u64
    // has at most 10 base-128 digits, plus the type byte; every byte below
    // the new length is written before `set_len`.
    unsafe {
        let end = write_header_at(out.as_mut_ptr().add(out.len()), value, type_byte);
        out.set_len(end.offset_from(out.as_ptr()) as usize);
    }
}

/// Write the header of `value` and `type_byte` at `at`; the end of it.
///
/// # Safety
/// `at` must be valid for 11 writes.
#[inline(always)]
unsafe fn write_header_at(mut at: *mut u8, mut value: u64, type_byte: u8) -> *mut u8 {
    // SAFETY: at most 10 digits and the type byte, as the caller allows.
    unsafe {
        loop {
            *at = (value & 0x7f) as u8;
            at = at.add(1);
            value >>= 7;
            if value == 0 {
                break;
            }
        }
        *at = type_byte;
        at.add(1)
    }
}

/// Write an integer that fits an `i64`, checking it against the prefix limit.
#[inline]
pub fn write_i64(out: &mut Vec<u8>, value: i64, prefix_limit: usize) -> Result<(), EncodeError> {
    let magnitude = value.unsigned_abs();
    // Most integers have one or two digits: written without the search.
    if magnitude < 1 << 14 && prefix_limit >= 2 {
        let type_byte = if value >= 0 { INT } else { NEG };
        out.reserve(3);
        let len = out.len();
        // SAFETY: three bytes of spare capacity (reserved above); the bytes
        // below the new length are written before `set_len`.
        unsafe {
            let at = out.as_mut_ptr().add(len);
            if magnitude < 1 << 7 {
                *at = magnitude as u8;
                *at.add(1) = type_byte;
                out.set_len(len + 2);
            } else {
                *at = (magnitude & 0x7f) as u8;
                *at.add(1) = (magnitude >> 7) as u8;
                *at.add(2) = type_byte;
                out.set_len(len + 3);
            }
        }
        return Ok(());
    }
    let bits = (u64::BITS - magnitude.leading_zeros()) as usize;
    if !magnitude_fits(bits, prefix_limit) {
        return Err(EncodeError::IntTooLarge);
    }
    let type_byte = if value >= 0 {
        if magnitude < INT_TOKEN_BOUND {
            INT
        } else {
            LONGINT
        }
    } else if magnitude <= INT_TOKEN_BOUND {
        NEG
    } else {
        LONGNEG
    };
    write_header(out, magnitude, type_byte);
    Ok(())
}

/// Write an integer that fits an `i128`, checking it against the prefix
/// limit: the ints just beyond 64 bits, without a magnitude buffer.
pub fn write_i128(out: &mut Vec<u8>, value: i128, prefix_limit: usize) -> Result<(), EncodeError> {
    if let Ok(value) = i64::try_from(value) {
        return write_i64(out, value, prefix_limit);
    }
    let mut magnitude = value.unsigned_abs();
    let bits = (u128::BITS - magnitude.leading_zeros()) as usize;
    if !magnitude_fits(bits, prefix_limit) {
        return Err(EncodeError::IntTooLarge);
    }
    // 19 digits hold 133 bits; beyond i64 the token is always a long one.
    let mut token = [0u8; 20];
    let mut len = 0;
    while magnitude != 0 {
        token[len] = (magnitude & 0x7f) as u8;
        magnitude >>= 7;
        len += 1;
    }
    token[len] = if value < 0 { LONGNEG } else { LONGINT };
    out.extend_from_slice(&token[..=len]);
    Ok(())
}

/// Write an integer given as sign and little-endian base-256 magnitude (any
/// size), checking it against the prefix limit.
pub fn write_big_int(
    out: &mut Vec<u8>,
    negative: bool,
    magnitude: &[u8],
    prefix_limit: usize,
) -> Result<(), EncodeError> {
    let bits = bit_length_le(magnitude);
    if !magnitude_fits(bits, prefix_limit) {
        return Err(EncodeError::IntTooLarge);
    }
    if bits <= 63 {
        let mut word = [0u8; 8];
        let len = magnitude.len().min(8);
        word[..len].copy_from_slice(&magnitude[..len]);
        let value = u64::from_le_bytes(word) as i64;
        return write_i64(out, if negative { -value } else { value }, prefix_limit);
    }
    write_prefix_le_bytes(out, magnitude);
    out.push(if negative { LONGNEG } else { LONGINT });
    Ok(())
}

#[inline]
pub fn write_string(out: &mut Vec<u8>, bytes: &[u8], size_limit: u64) -> Result<(), EncodeError> {
    let len = bytes.len();
    if len as u64 > size_limit {
        return Err(EncodeError::StringTooLong(len as u64));
    }
    // One capacity check for the whole token: at most 10 prefix digits (a
    // u64), the type byte and the body.
    out.reserve(len + 11);
    let start = out.len();
    // SAFETY: the spare capacity holds at least `len + 11` bytes (reserved
    // above); the header takes at most 11 of them, the body `len`; every
    // byte below the new length is written before `set_len`, and `bytes`
    // cannot overlap the spare capacity (it is borrowed while `out` is
    // mutably borrowed).
    unsafe {
        let at = write_header_at(out.as_mut_ptr().add(start), len as u64, STRING);
        copy_short(bytes, at);
        let end = at.add(len);
        out.set_len(end.offset_from(out.as_ptr()) as usize);
    }
    Ok(())
}

/// The first `head_len` bytes of `head` (at most 16: tokens already
/// encoded, such as an expression's list header and tag), then the string
/// token of `bytes`, with one capacity check for all of it.
pub fn write_headed_string(
    out: &mut Vec<u8>,
    head: &[u8; 16],
    head_len: usize,
    bytes: &[u8],
    size_limit: u64,
) -> Result<(), EncodeError> {
    assert!(head_len <= head.len());
    let len = bytes.len();
    if len as u64 > size_limit {
        return Err(EncodeError::StringTooLong(len as u64));
    }
    // The whole head (16 bytes) is copied, only `head_len` of it kept; then
    // at most 11 header bytes (as in [`write_string`]) and the body.
    out.reserve(16 + 11 + len);
    let start = out.len();
    // SAFETY: the spare capacity holds at least `16 + 11 + len` bytes
    // (reserved above); the head's copy takes 16 of them, of which the
    // header overwrites any past `head_len` (at most 16), the header at most
    // 11 and the body `len`. Every byte below the new length is written
    // before `set_len`; neither `head` nor `bytes` can overlap the spare
    // capacity (they are borrowed while `out` is mutably borrowed).
    unsafe {
        let to = out.as_mut_ptr().add(start);
        std::ptr::copy_nonoverlapping(head.as_ptr(), to, 16);
        let at = write_header_at(to.add(head_len), len as u64, STRING);
        copy_short(bytes, at);
        let end = at.add(len);
        out.set_len(end.offset_from(out.as_ptr()) as usize);
    }
    Ok(())
}

/// Copy `bytes` to `to`. Strings in PB messages are mostly a few bytes:
/// those are copied with a couple of (possibly overlapping) word moves
/// instead of a call to `memcpy`.
///
/// # Safety
/// `to` must be valid for `bytes.len()` writes and not overlap `bytes`.
#[inline(always)]
unsafe fn copy_short(bytes: &[u8], to: *mut u8) {
    let len = bytes.len();
    let from = bytes.as_ptr();
    // SAFETY (each arm): the reads stay within `bytes` (the second word
    // starts at `len - WORD` >= 0) and the writes within `to[..len]`.
    unsafe {
        match len {
            0 => {}
            1..=3 => {
                *to = *from;
                *to.add(len / 2) = *from.add(len / 2);
                *to.add(len - 1) = *from.add(len - 1);
            }
            4..=7 => {
                let head = std::ptr::read_unaligned(from as *const u32);
                let tail = std::ptr::read_unaligned(from.add(len - 4) as *const u32);
                std::ptr::write_unaligned(to as *mut u32, head);
                std::ptr::write_unaligned(to.add(len - 4) as *mut u32, tail);
            }
            8..=16 => {
                let head = std::ptr::read_unaligned(from as *const u64);
                let tail = std::ptr::read_unaligned(from.add(len - 8) as *const u64);
                std::ptr::write_unaligned(to as *mut u64, head);
                std::ptr::write_unaligned(to.add(len - 8) as *mut u64, tail);
            }
            17..=32 => {
                let head = std::ptr::read_unaligned(from as *const u128);
                let tail = std::ptr::read_unaligned(from.add(len - 16) as *const u128);
                std::ptr::write_unaligned(to as *mut u128, head);
                std::ptr::write_unaligned(to.add(len - 16) as *mut u128, tail);
            }
            _ => std::ptr::copy_nonoverlapping(from, to, len),
        }
    }
}

/// The header of a string of `len` bytes; the bytes themselves must follow.
#[inline]
pub fn write_string_header(
    out: &mut Vec<u8>,
    len: u64,
    size_limit: u64,
) -> Result<(), EncodeError> {
    if len > size_limit {
        return Err(EncodeError::StringTooLong(len));
    }
    write_header(out, len, STRING);
    Ok(())
}

#[inline]
pub fn write_float(out: &mut Vec<u8>, value: f64) {
    out.push(FLOAT);
    out.extend_from_slice(&value.to_be_bytes());
}

#[inline]
pub fn write_vocab(out: &mut Vec<u8>, id: u64) {
    write_header(out, id, VOCAB);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn int(value: i64) -> Vec<u8> {
        let mut out = Vec::new();
        write_i64(&mut out, value, 64).unwrap();
        out
    }

    #[test]
    fn a_headed_string_is_its_head_then_the_string_token() {
        let head: [u8; 16] = std::array::from_fn(|index| 0xa0 + index as u8);
        for head_len in [0, 1, 11, 16] {
            for len in [0, 1, 3, 7, 8, 15, 16, 17, 32, 33, 127, 128, 20_000] {
                let body: Vec<u8> = (0..len).map(|index| index as u8).collect();
                let mut expected = b"before".to_vec();
                expected.extend_from_slice(&head[..head_len]);
                write_string(&mut expected, &body, u64::MAX).unwrap();
                let mut out = b"before".to_vec();
                write_headed_string(&mut out, &head, head_len, &body, u64::MAX).unwrap();
                assert_eq!(out, expected, "head {head_len}, body {len}");
            }
        }
        let mut out = Vec::new();
        assert_eq!(
            write_headed_string(&mut out, &head, 11, b"abc", 2),
            Err(EncodeError::StringTooLong(3))
        );
    }

    #[test]
    fn int_token_choice_matches_twisted() {
        // From Twisted's test_sizedIntegerTypes.
        let base_int = 2_147_483_647i64;
        let base_neg = -2_147_483_648i64;
        assert_eq!(int(base_int), b"\x7f\x7f\x7f\x7f\x07\x81");
        assert_eq!(int(base_int + 1), b"\x00\x00\x00\x00\x08\x85");
        assert_eq!(int(base_neg + 1), b"\x7f\x7f\x7f\x7f\x07\x83");
        assert_eq!(int(base_neg), b"\x00\x00\x00\x00\x08\x83");
        assert_eq!(int(base_neg - 1), b"\x01\x00\x00\x00\x08\x86");
        assert_eq!(int(0), b"\x00\x81");
        assert_eq!(int(-1), b"\x01\x83");
        assert_eq!(int(i64::MIN).last(), Some(&LONGNEG));
    }

    #[test]
    fn prefix_limit_bounds_magnitude() {
        let mut out = Vec::new();
        assert_eq!(write_i64(&mut out, 127, 1), Ok(()));
        assert_eq!(write_i64(&mut out, 128, 1), Err(EncodeError::IntTooLarge));
        assert_eq!(write_i64(&mut out, -128, 1), Err(EncodeError::IntTooLarge));
        // 2**448 - 1 fits 64 prefix bytes; 2**448 does not.
        let mut big = vec![0xffu8; 56];
        assert_eq!(write_big_int(&mut out, false, &big, 64), Ok(()));
        big.push(1);
        assert_eq!(
            write_big_int(&mut out, true, &big, 64),
            Err(EncodeError::IntTooLarge)
        );
    }

    #[test]
    fn token_writers_agree_with_the_plain_prefix() {
        use super::super::base128::write_prefix;
        let body: Vec<u8> = (0..20_000u32).map(|i| (i * 7 + 3) as u8).collect();
        let lengths = (0..80).chain([127, 128, 129, 16_383, 16_384, 19_999]);
        for len in lengths {
            let mut expected = vec![0xaa];
            write_prefix(&mut expected, len as u64);
            expected.push(STRING);
            expected.extend_from_slice(&body[..len]);
            let mut out = vec![0xaa];
            write_string(&mut out, &body[..len], u64::MAX).unwrap();
            assert_eq!(out, expected, "string of {len}");

            let mut expected = vec![0xaa];
            write_prefix(&mut expected, len as u64);
            expected.push(LIST);
            let mut out = vec![0xaa];
            write_list_header(&mut out, len as u64);
            assert_eq!(out, expected, "list of {len}");
        }
        let mut out = Vec::new();
        write_list_header(&mut out, u64::MAX);
        assert_eq!(out.len(), 11);
    }

    #[test]
    fn i128_writer_agrees_with_big_int_writer() {
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut values = vec![i128::MIN, i128::MAX, 0, -1, 1 << 64, -(1 << 64)];
        for _ in 0..10_000 {
            let wide = (next() as i128) << 64 | next() as i128;
            values.push(wide >> (next() % 128));
        }
        for value in values {
            for prefix_limit in [9, 10, 18, 19, 64] {
                let (mut wide, mut big) = (Vec::new(), Vec::new());
                let magnitude = value.unsigned_abs().to_le_bytes();
                assert_eq!(
                    write_i128(&mut wide, value, prefix_limit),
                    write_big_int(&mut big, value < 0, &magnitude, prefix_limit),
                    "{value} {prefix_limit}"
                );
                assert_eq!(wide, big, "{value} {prefix_limit}");
            }
        }
    }

    #[test]
    fn big_int_writer_agrees_with_i64_writer() {
        for value in [
            0i64,
            5,
            -5,
            1 << 31,
            -(1 << 31),
            (1 << 31) - 1,
            i64::MAX,
            i64::MIN + 1,
        ] {
            let mut out = Vec::new();
            let magnitude = value.unsigned_abs().to_le_bytes();
            write_big_int(&mut out, value < 0, &magnitude, 64).unwrap();
            assert_eq!(out, int(value), "{value}");
        }
    }
}
