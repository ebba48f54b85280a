//! Decoder and encoder tests on plain Rust values.

use super::decoder::{
    decode_exact, decode_first, long_header, scan_token, scan_token_general, short_header, Decoder,
    Digits, Limits, ParseState, Validate,
};
use super::error::{DecodeError, ErrorKind};
use super::framer::Framer;
use super::value::{encode_value, EncodeOptions, Value, ValueBuilder};
use super::vocabulary::OutgoingVocabulary;

fn bytes(b: &[u8]) -> Value {
    Value::Bytes(b.to_vec())
}

fn encode(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    encode_value(&mut out, value, &EncodeOptions::default()).unwrap();
    out
}

fn decode(input: &[u8]) -> Result<Value, DecodeError> {
    decode_first(input, &mut ValueBuilder::default(), &Limits::default())
}

fn decode_with(input: &[u8], limits: Limits) -> Result<Value, DecodeError> {
    decode_first(input, &mut ValueBuilder::default(), &limits)
}

/// Feed `input` in chunks of the given sizes (cycled) and collect every
/// expression.
fn decode_chunked(input: &[u8], sizes: &[usize], builder: &mut ValueBuilder) -> Vec<Value> {
    let mut decoder = Decoder::new();
    let limits = Limits::default();
    let mut out = Vec::new();
    let mut rest = input;
    let mut turn = 0;
    while !rest.is_empty() {
        let size = sizes[turn % sizes.len()].clamp(1, rest.len());
        turn += 1;
        decoder.feed(&rest[..size]).unwrap();
        rest = &rest[size..];
        while let Some(value) = decoder.next(builder, &limits).unwrap() {
            out.push(value);
        }
    }
    assert!(decoder.is_idle());
    out
}

fn sample() -> Value {
    Value::List(vec![
        Value::int(1),
        Value::int(2),
        Value::List(vec![Value::int(3), Value::int(4)]),
        Value::List(vec![Value::Float(30.5), Value::Float(40.2)]),
        Value::int(5),
        Value::List(vec![
            bytes(b"six"),
            bytes(b"seven"),
            Value::List(vec![bytes(b"eight")]),
        ]),
        Value::List(vec![]),
        Value::int(i64::MAX),
        Value::int(i64::MIN),
        Value::int(-2_147_483_648),
        Value::Int {
            negative: false,
            magnitude: vec![0xff; 56],
        },
        Value::Float(f64::NEG_INFINITY),
        Value::Float(-0.0),
        bytes(&[7u8; 300]),
        bytes(b""),
    ])
}

#[test]
fn round_trip() {
    let value = sample();
    assert_eq!(decode(&encode(&value)).unwrap(), value);
}

#[test]
fn every_chunking_gives_the_same_expressions() {
    let one = encode(&sample());
    let mut stream = one.clone();
    stream.extend_from_slice(&encode(&bytes(b"second")));
    stream.extend_from_slice(&encode(&Value::int(-7)));
    let expect = vec![sample(), bytes(b"second"), Value::int(-7)];
    for sizes in [
        vec![1],
        vec![2],
        vec![3, 1, 7],
        vec![64],
        vec![stream.len()],
    ] {
        assert_eq!(
            decode_chunked(&stream, &sizes, &mut ValueBuilder::default()),
            expect
        );
    }
    for split in 0..stream.len() {
        let got = decode_chunked(
            &stream,
            &[split.max(1), stream.len()],
            &mut Default::default(),
        );
        assert_eq!(got, expect, "split at {split}");
    }
}

#[test]
fn vocabulary_in_pb_dialect() {
    let vocabulary = OutgoingVocabulary::pb();
    let options = EncodeOptions {
        vocabulary: Some(&vocabulary),
        ..Default::default()
    };
    let value = Value::List(vec![bytes(b"remote"), bytes(b"remotely"), bytes(b"None")]);
    let mut out = Vec::new();
    encode_value(&mut out, &value, &options).unwrap();
    assert_eq!(out, b"\x03\x80\x10\x87\x08\x82remotely\x01\x87");
    let mut pb = ValueBuilder { pb_dialect: true };
    assert_eq!(
        decode_first(&out, &mut pb, &Limits::default()).unwrap(),
        value
    );
    // Without the dialect, a known symbol is refused, and an unknown id is
    // reported as such first, as Twisted does.
    assert_eq!(
        decode(b"\x10\x87").unwrap_err().kind,
        ErrorKind::VocabularyNotInDialect { id: 16 }
    );
    let unknown = decode_first(b"\x7a\x87", &mut pb, &Limits::default()).unwrap_err();
    assert_eq!(unknown.kind, ErrorKind::UnknownVocabulary { id: Some(122) });
    assert_eq!(
        decode(b"\x00\x87").unwrap_err().kind,
        ErrorKind::UnknownVocabulary { id: Some(0) }
    );
}

#[test]
fn oversized_headers_are_refused_before_their_bodies() {
    // From Twisted's test_oversizedList / test_oversizedString / test_crashString.
    let list = decode(b"\x02\x01\x01\x01\x01\x80").unwrap_err();
    assert!(matches!(list.kind, ErrorKind::ListTooLong { .. }), "{list}");
    let string = decode(b"\x02\x01\x01\x01\x01\x82").unwrap_err();
    assert!(matches!(string.kind, ErrorKind::StringTooLong { .. }));
    assert!(decode(b"\x00\x00\x00\x00\x04\x80").is_err());
    // A claimed length beyond u64 is too long, not a wrapped small number.
    let huge = decode(&[&[0x7f; 20][..], b"\x80"].concat()).unwrap_err();
    assert_eq!(
        huge.kind,
        ErrorKind::ListTooLong {
            claimed: None,
            limit: 640 * 1024
        }
    );
    // Exactly at the limit is fine.
    let mut at_limit = Vec::new();
    super::base128::write_prefix(&mut at_limit, 640 * 1024);
    at_limit.push(super::STRING);
    at_limit.resize(at_limit.len() + 640 * 1024, b'x');
    assert!(decode(&at_limit).is_ok());
}

#[test]
fn prefix_limit() {
    // Twisted's test_statelessDecode: 65 bytes of prefix.
    let input = [&[0x7f; 65][..], b"\x85"].concat();
    assert_eq!(
        decode(&input).unwrap_err().kind,
        ErrorKind::PrefixTooLong { limit: 64 }
    );
    // 64 bytes of prefix is allowed, even for a huge INT.
    let input = [&[0x7f; 64][..], b"\x81"].concat();
    assert!(decode(&input).is_ok());
    // Without a type byte yet, 64 bytes wait and 65 fail.
    let mut decoder = Decoder::new();
    decoder.feed(&[0; 64]).unwrap();
    let limits = Limits::default();
    assert_eq!(
        decoder.next(&mut ValueBuilder::default(), &limits).unwrap(),
        None
    );
    decoder.feed(&[0]).unwrap();
    assert!(decoder.next(&mut ValueBuilder::default(), &limits).is_err());
    // Redundant high zero digits are fine within the limit.
    assert_eq!(
        decode(b"\x05\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x81").unwrap(),
        Value::int(5)
    );
    let tight = Limits {
        prefix: 2,
        ..Limits::default()
    };
    assert!(decode_with(b"\x05\x00\x81", tight).is_ok());
    assert!(decode_with(b"\x05\x00\x00\x81", tight).is_err());
}

#[test]
fn errors_say_where() {
    let err = decode(b"\x02\x80\x01\x81\x05\x99").unwrap_err();
    assert_eq!(err, DecodeError::new(4, ErrorKind::InvalidTypeByte(0x99)));
    assert!(err.to_string().contains("offset 4"), "{err}");
    let err = decode(b"\x01\x80\x84\x00\x00").unwrap_err();
    assert_eq!(
        err,
        DecodeError::new(2, ErrorKind::Truncated { what: "float" })
    );
    let err = decode(b"").unwrap_err();
    assert_eq!(err.kind, ErrorKind::Truncated { what: "expression" });
    let err = decode(b"\x03\x80\x01\x81").unwrap_err();
    assert_eq!(
        err,
        DecodeError::new(0, ErrorKind::Truncated { what: "list" })
    );
    let err = decode(b"\x05\x82abc").unwrap_err();
    assert_eq!(err.kind, ErrorKind::Truncated { what: "string" });
}

#[test]
fn first_expression_wins_but_the_rest_must_be_valid() {
    assert_eq!(decode(b"\x01\x81\x02\x81").unwrap(), Value::int(1));
    assert_eq!(decode(b"\x01\x81\x05\x82ab").unwrap(), Value::int(1));
    assert!(decode(b"\x01\x81\x01\xff").is_err());
    let exact = decode_exact(
        b"\x01\x81\x02\x81",
        &mut ValueBuilder::default(),
        &Limits::default(),
    );
    assert_eq!(
        exact.unwrap_err().kind,
        ErrorKind::TrailingBytes { count: 2 }
    );
}

#[test]
fn depth_limit() {
    let deep = |levels: usize| {
        let mut input = b"\x01\x80".repeat(levels - 1);
        input.extend_from_slice(b"\x00\x80");
        input
    };
    let limits = Limits {
        depth: 50,
        ..Limits::default()
    };
    assert!(decode_with(&deep(50), limits).is_ok());
    let err = decode_with(&deep(51), limits).unwrap_err();
    assert_eq!(err, DecodeError::new(100, ErrorKind::TooDeep { limit: 50 }));
    // The default is deep, and costs no native stack.
    assert!(decode(&deep(super::MAX_DEPTH)).is_ok());
    assert!(decode(&deep(super::MAX_DEPTH + 1)).is_err());
    // The encoder has the same limit.
    let mut value = Value::List(vec![]);
    for _ in 0..60 {
        value = Value::List(vec![value]);
    }
    let options = EncodeOptions {
        max_depth: 50,
        ..Default::default()
    };
    assert!(encode_value(&mut Vec::new(), &value, &options).is_err());
}

#[test]
fn message_size_limit() {
    let limits = Limits {
        message: 100,
        ..Limits::default()
    };
    let value = Value::List(vec![bytes(&[1; 40]), bytes(&[2; 40])]);
    assert!(decode_with(&encode(&value), limits).is_ok());
    let value = Value::List(vec![bytes(&[1; 60]), bytes(&[2; 60])]);
    let err = decode_with(&encode(&value), limits).unwrap_err();
    assert_eq!(
        err,
        DecodeError::new(0, ErrorKind::MessageTooLarge { limit: 100 })
    );
    // The claim alone is enough: the decoder does not wait for 1000 bytes.
    let mut decoder = Decoder::new();
    decoder.feed(b"\x01\x81\x68\x07\x82").unwrap();
    assert_eq!(
        decoder.next(&mut ValueBuilder::default(), &limits).unwrap(),
        Some(Value::int(1))
    );
    let err = decoder
        .next(&mut ValueBuilder::default(), &limits)
        .unwrap_err();
    assert_eq!(
        err,
        DecodeError::new(2, ErrorKind::MessageTooLarge { limit: 100 })
    );
    // And the stream stays failed, keeping nothing of what arrives.
    decoder.feed(&[0; 4096]).unwrap();
    assert!(decoder.pending().is_empty());
    let again = decoder
        .next(&mut ValueBuilder::default(), &limits)
        .unwrap_err();
    assert_eq!(again, DecodeError::new(2, ErrorKind::AfterError));
}

#[test]
fn lying_list_header_does_not_allocate() {
    // Claims 640K items, holds one: capacity is capped by the bytes present.
    let mut input = Vec::new();
    super::base128::write_prefix(&mut input, 640 * 1024);
    input.push(super::LIST);
    input.extend_from_slice(b"\x01\x81");
    let err = decode(&input).unwrap_err();
    assert_eq!(err.kind, ErrorKind::Truncated { what: "list" });
}

/// A small deterministic generator, so this test needs no extra crates.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// Up to 23 bytes, a quarter of them type bytes: mostly broken
    /// tokens, with some whole ones among them.
    fn token_soup(&mut self) -> Vec<u8> {
        let len = self.below(24) as usize;
        (0..len)
            .map(|_| match self.below(4) {
                0 => 0x80 + self.below(9) as u8,
                _ => self.next() as u8,
            })
            .collect()
    }

    fn value(&mut self, depth: usize) -> Value {
        match self.below(if depth > 4 { 5 } else { 6 }) {
            0 => Value::int(self.next() as i64 >> self.below(64)),
            1 => {
                let len = self.below(20) as usize;
                let magnitude: Vec<u8> = (0..len).map(|_| self.next() as u8).collect();
                Value::Int {
                    negative: self.below(2) == 0,
                    magnitude,
                }
            }
            .normalized(),
            2 => Value::Float(f64::from_bits(self.next())),
            3 => bytes(
                &(0..self.below(40))
                    .map(|_| self.next() as u8)
                    .collect::<Vec<_>>(),
            ),
            4 => bytes(super::vocabulary::PB_VOCABULARY[self.below(32) as usize]),
            _ => Value::List((0..self.below(6)).map(|_| self.value(depth + 1)).collect()),
        }
    }
}

impl Value {
    fn normalized(self) -> Value {
        match self {
            Value::Int {
                negative,
                mut magnitude,
            } => {
                while magnitude.last() == Some(&0) {
                    magnitude.pop();
                }
                Value::Int {
                    negative: negative && !magnitude.is_empty(),
                    magnitude,
                }
            }
            other => other,
        }
    }
}

#[test]
fn random_values_round_trip_in_random_chunks() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let vocabulary = OutgoingVocabulary::pb();
    for round in 0..500 {
        let values: Vec<Value> = (0..1 + rng.below(4)).map(|_| rng.value(0)).collect();
        let pb = round % 2 == 0;
        let options = EncodeOptions {
            vocabulary: if pb { Some(&vocabulary) } else { None },
            ..Default::default()
        };
        let mut stream = Vec::new();
        for value in &values {
            encode_value(&mut stream, value, &options).unwrap();
        }
        let sizes: Vec<usize> = (0..5).map(|_| 1 + rng.below(16) as usize).collect();
        let mut builder = ValueBuilder { pb_dialect: pb };
        assert_eq!(
            decode_chunked(&stream, &sizes, &mut builder),
            values,
            "round {round}"
        );
    }
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = Rng(12345);
    let limits = Limits {
        depth: 8,
        message: 4096,
        ..Limits::default()
    };
    for _ in 0..20_000 {
        let input = rng.token_soup();
        let _ = decode_first(&input, &mut ValueBuilder { pb_dialect: true }, &limits);
        let mut decoder = Decoder::new();
        for chunk in input.chunks(3) {
            decoder.feed(chunk).unwrap();
            while let Ok(Some(_)) = decoder.next(&mut ValueBuilder::default(), &limits) {}
        }
    }
}

#[test]
fn short_token_path_agrees_with_the_general_one() {
    let mut rng = Rng(0x5eed);
    for _ in 0..200_000 {
        let len = rng.below(24) as usize;
        let input: Vec<u8> = (0..len)
            .map(|_| match rng.below(4) {
                0 => 0x80 + rng.below(9) as u8,
                1 => rng.below(4) as u8,
                2 => rng.below(128) as u8,
                _ => rng.next() as u8,
            })
            .collect();
        let limits = Limits {
            prefix: rng.below(10) as usize,
            size: rng.below(12),
            ..Limits::default()
        };
        // Compared as text: a NaN float token is not equal to itself.
        assert_eq!(
            format!("{:?}", scan_token(&input, &limits)),
            format!("{:?}", scan_token_general(&input, &limits)),
            "{input:?} {limits:?}"
        );
    }
}

/// A token header as the protocol defines it: `value`'s base-128 digits,
/// least significant first (one, 0, for zero), then `type_byte`.
fn digits_then(value: u64, type_byte: u8) -> Vec<u8> {
    let mut header = Vec::new();
    let mut rest = value;
    loop {
        header.push((rest & 0x7f) as u8);
        rest >>= 7;
        if rest == 0 {
            break;
        }
    }
    header.push(type_byte);
    header
}

#[test]
fn headers_are_written_digit_by_digit_at_every_length() {
    let mut rng = Rng(0x4ead);
    for round in 0..50_000u64 {
        let value = match round {
            0..=63 => 1u64 << round,
            64..=127 => (1u64 << (round - 64)) - 1,
            _ => rng.next() >> rng.below(64),
        };
        let expected = digits_then(value, crate::banana::LIST);
        let mut out = vec![0xee; rng.below(5) as usize];
        let before = out.len();
        super::encoder::write_list_header(&mut out, value);
        assert_eq!(&out[before..], &expected[..], "{value}");
    }
}

#[test]
fn integers_are_written_as_twisted_writes_them() {
    use crate::banana::{INT, INT_TOKEN_BOUND, LONGINT, LONGNEG, NEG};
    let mut rng = Rng(0x1e64);
    let values = (-20_000i64..20_000)
        .chain((0..20_000).map(|_| rng.next() as i64 >> rng.below(64)))
        .chain([
            i64::MIN,
            i64::MAX,
            1 << 31,
            -(1 << 31),
            (1 << 31) - 1,
            -(1 << 31) - 1,
        ]);
    for value in values {
        let magnitude = value.unsigned_abs();
        let type_byte = match (value >= 0, magnitude) {
            (true, m) if m < INT_TOKEN_BOUND => INT,
            (true, _) => LONGINT,
            (false, m) if m <= INT_TOKEN_BOUND => NEG,
            (false, _) => LONGNEG,
        };
        let expected = digits_then(magnitude, type_byte);
        for prefix_limit in [1, 2, 3, 64] {
            let mut out = Vec::new();
            let written = super::encoder::write_i64(&mut out, value, prefix_limit);
            if expected.len() - 1 <= prefix_limit {
                assert!(written.is_ok(), "{value} {prefix_limit}");
                assert_eq!(out, expected, "{value} {prefix_limit}");
            } else {
                assert!(written.is_err(), "{value} {prefix_limit}");
            }
        }
    }
}

#[test]
fn short_headers_read_every_prefix_length_as_digits_do() {
    let mut rng = Rng(0x0dd5);
    for _ in 0..100_000 {
        let digits: Vec<u8> = (0..rng.below(12)).map(|_| rng.below(128) as u8).collect();
        let mut input = digits.clone();
        input.push(0x80 + rng.below(8) as u8);
        input.extend((0..rng.below(10)).map(|_| rng.next() as u8));
        let limits = Limits {
            prefix: rng.below(12) as usize,
            ..Limits::default()
        };
        let expected = (digits.len() <= limits.prefix && digits.len() <= 9).then(|| {
            let value = digits
                .iter()
                .rev()
                .fold(0u64, |value, &digit| value << 7 | digit as u64);
            (input[digits.len()], value, digits.len() + 1)
        });
        let found = short_header(&input, &limits);
        // Near the end of the input, longer prefixes may be left to the
        // general way; never misread.
        if input.len() < 16 && digits.len() > 2 && found.is_none() {
            continue;
        }
        assert_eq!(found, expected, "{input:?} {limits:?}");
    }
}

#[test]
fn long_headers_read_every_prefix_length_as_digits_do() {
    let mut rng = Rng(0x10e6);
    for _ in 0..100_000 {
        let digits: Vec<u8> = (0..rng.below(22)).map(|_| rng.below(128) as u8).collect();
        let mut input = digits.clone();
        input.push(0x80 + rng.below(8) as u8);
        input.extend((0..rng.below(10)).map(|_| rng.next() as u8));
        let limits = Limits {
            prefix: rng.below(24) as usize,
            ..Limits::default()
        };
        let expected = (digits.len() <= limits.prefix && digits.len() <= 18).then(|| {
            let value = Digits(&digits).to_u128().expect("126 bits");
            (input[digits.len()], value, digits.len() + 1)
        });
        assert_eq!(
            long_header(&input, &limits),
            expected,
            "{input:?} {limits:?}"
        );
        // The word-at-a-time packing agrees with digit-by-digit arithmetic.
        let slow = digits.iter().rev().try_fold(0u128, |value, &digit| {
            value.checked_mul(128)?.checked_add(digit as u128)
        });
        assert_eq!(Digits(&digits).to_u128(), slow, "{digits:?}");
    }
}

/// Feed `input` to a framer in chunks of the given sizes (cycled) and
/// collect the bytes of every whole expression.
fn frame_chunked(input: &[u8], sizes: &[usize], pb: bool) -> Vec<Vec<u8>> {
    let mut framer = Framer::new();
    let limits = Limits::default();
    let mut out = Vec::new();
    let mut rest = input;
    let mut turn = 0;
    while !rest.is_empty() {
        let size = sizes[turn % sizes.len()].clamp(1, rest.len());
        turn += 1;
        framer.feed(&rest[..size]).unwrap();
        rest = &rest[size..];
        while let Some(range) = framer.next(pb, &limits).unwrap() {
            out.push(framer.bytes()[range].to_vec());
        }
    }
    assert!(framer.is_idle());
    out
}

#[test]
fn framer_hands_out_each_expression_whole_however_chunked() {
    let mut rng = Rng(0x5eed);
    let vocabulary = OutgoingVocabulary::pb();
    for round in 0..300 {
        let values: Vec<Value> = (0..1 + rng.below(5)).map(|_| rng.value(0)).collect();
        let pb = round % 2 == 0;
        let options = EncodeOptions {
            vocabulary: if pb { Some(&vocabulary) } else { None },
            ..Default::default()
        };
        let encoded: Vec<Vec<u8>> = values
            .iter()
            .map(|value| {
                let mut out = Vec::new();
                encode_value(&mut out, value, &options).unwrap();
                out
            })
            .collect();
        let stream = encoded.concat();
        let sizes: Vec<usize> = (0..4).map(|_| 1 + rng.below(9) as usize).collect();
        assert_eq!(frame_chunked(&stream, &sizes, pb), encoded, "round {round}");
        assert_eq!(frame_chunked(&stream, &[1], pb), encoded, "round {round}");
    }
}

#[test]
fn framer_checks_limits_and_stays_failed() {
    let limits = Limits {
        message: 100,
        depth: 3,
        ..Limits::default()
    };
    // A claim past the message limit fails before its bytes arrive.
    let mut framer = Framer::new();
    framer.feed(b"\x01\x81\x68\x07\x82").unwrap();
    assert_eq!(framer.next(false, &limits).unwrap(), Some(0..2));
    let error = framer.next(false, &limits).unwrap_err();
    assert_eq!(
        error,
        DecodeError::new(2, ErrorKind::MessageTooLarge { limit: 100 })
    );
    framer.feed(&[0; 4096]).unwrap();
    assert!(framer.pending().is_empty());
    assert_eq!(
        framer.next(false, &limits).unwrap_err(),
        DecodeError::new(2, ErrorKind::AfterError)
    );
    // Nesting past the depth limit.
    let mut framer = Framer::new();
    framer.feed(b"\x01\x80\x01\x80\x01\x80\x01\x80").unwrap();
    assert_eq!(
        framer.next(false, &limits).unwrap_err().kind,
        ErrorKind::TooDeep { limit: 3 }
    );
    // VOCAB only in dialect pb, and only the vocabulary's ids.
    let mut framer = Framer::new();
    framer.feed(b"\x10\x87").unwrap();
    assert_eq!(framer.next(true, &limits).unwrap(), Some(0..2));
    let mut framer = Framer::new();
    framer.feed(b"\x10\x87").unwrap();
    assert_eq!(
        framer.next(false, &limits).unwrap_err().kind,
        ErrorKind::VocabularyNotInDialect { id: 16 }
    );
    let mut framer = Framer::new();
    framer.feed(b"\x7a\x87").unwrap();
    assert_eq!(
        framer.next(true, &limits).unwrap_err().kind,
        ErrorKind::UnknownVocabulary { id: Some(122) }
    );
}

#[test]
fn framer_keeps_only_the_expression_under_way() {
    let mut framer = Framer::new();
    let limits = Limits::default();
    let one = encode(&Value::List(vec![bytes(&[7; 1000])]));
    for _ in 0..100 {
        framer.feed(&one).unwrap();
        assert!(framer.next(false, &limits).unwrap().is_some());
    }
    // Bytes already handed out are dropped as new ones come.
    assert!(framer.bytes().len() <= 2 * one.len());
    assert_eq!(framer.offset(), 100 * one.len() as u64);
    framer.feed(&one[..10]).unwrap();
    assert_eq!(framer.next(false, &limits).unwrap(), None);
    assert_eq!(framer.pending(), &one[..10]);
    assert!(!framer.is_idle());
}

#[test]
fn framer_survives_random_bytes() {
    let mut rng = Rng(777);
    let limits = Limits {
        depth: 8,
        message: 4096,
        ..Limits::default()
    };
    for _ in 0..20_000 {
        let input = rng.token_soup();
        let mut framer = Framer::new();
        let mut whole = Vec::new();
        for chunk in input.chunks(1 + rng.below(4) as usize) {
            framer.feed(chunk).unwrap();
            while let Ok(Some(range)) = framer.next(true, &limits) {
                whole.push(framer.bytes()[range].to_vec());
            }
        }
        // What the framer hands out, a one-shot decode reads whole.
        for expression in whole {
            let decoded =
                decode_exact(&expression, &mut ValueBuilder { pb_dialect: true }, &limits);
            assert!(decoded.is_ok(), "{expression:?}");
        }
    }
}

/// A builder that records the room it is asked to reserve.
#[derive(Default)]
struct Reserving {
    reserved: u64,
}

impl super::decoder::Builder for Reserving {
    type Value = ();
    type List = ();
    type Error = DecodeError;

    fn list(&mut self, capacity: usize) {
        self.reserved += capacity as u64;
    }
    fn push(&mut self, _list: &mut (), _item: ()) -> Result<(), DecodeError> {
        Ok(())
    }
    fn finish_list(&mut self, _list: ()) -> Result<(), DecodeError> {
        Ok(())
    }
    fn int(&mut self, _: bool, _: super::decoder::Digits<'_>) -> Result<(), DecodeError> {
        Ok(())
    }
    fn string(&mut self, _bytes: &[u8]) -> Result<(), DecodeError> {
        Ok(())
    }
    fn float(&mut self, _value: f64) -> Result<(), DecodeError> {
        Ok(())
    }
    fn vocab(&mut self, _: super::decoder::Digits<'_>, _: u64) -> Result<(), DecodeError> {
        Ok(())
    }
}

#[test]
fn nested_claims_reserve_no_more_than_the_bytes_in_all() {
    // Lists nested k deep, each claiming 640 Ki items, followed by the bytes
    // of one small item: each reservation alone is bounded by the bytes
    // left, and so is their sum.
    let claim = {
        let mut header = Vec::new();
        super::base128::write_prefix(&mut header, 640 * 1024);
        header.push(super::LIST);
        header
    };
    for k in [1usize, 10, 1000, 9000] {
        let mut input = claim.repeat(k);
        input.extend_from_slice(&[0x01, super::INT]);
        input.extend(std::iter::repeat_n(0u8, 64));
        let mut builder = Reserving::default();
        let error = decode_first(&input, &mut builder, &Limits::default()).unwrap_err();
        assert!(
            matches!(
                error.kind,
                ErrorKind::Truncated { .. } | ErrorKind::TooDeep { .. }
            ),
            "{error:?}"
        );
        assert!(
            builder.reserved <= input.len() as u64,
            "k = {k}: reserved {} for {} bytes",
            builder.reserved,
            input.len()
        );
    }
}

/// The framer's one-pass check of a whole expression accepts exactly what
/// the parse accepts, and ends where it ends: over valid messages, their
/// truncations and corruptions, both dialects and tight limits; and
/// `skip_checked` steps over what both accepted to the same end.
#[test]
fn framer_fast_path_accepts_what_the_parse_accepts() {
    let mut rng = Rng(0xfa57);
    let vocabulary = OutgoingVocabulary::pb();
    let mut taken = 0;
    let mut counted_lists = 0;
    for round in 0..4000 {
        let pb = round % 2 == 0;
        let options = EncodeOptions {
            vocabulary: if pb { Some(&vocabulary) } else { None },
            ..Default::default()
        };
        let mut input = Vec::new();
        encode_value(&mut input, &rng.value(0), &options).unwrap();
        match rng.below(4) {
            0 => {}
            1 => input.truncate(rng.below(input.len() as u64 + 1) as usize),
            2 => {
                let at = rng.below(input.len() as u64) as usize;
                input[at] = rng.below(256) as u8;
            }
            _ => input.push(rng.below(256) as u8),
        }
        let limits = if rng.below(2) == 0 {
            Limits::default()
        } else {
            Limits {
                prefix: 1 + rng.below(4) as usize,
                size: rng.below(40),
                depth: rng.below(5) as usize,
                message: rng.below(80),
            }
        };
        let mut pos = 0;
        let mut state = ParseState::new();
        let parsed = super::decoder::parse(
            &input,
            &mut pos,
            0,
            &mut state,
            &mut Validate { pb_dialect: pb },
            &limits,
        );
        let mut ends = super::framer::ItemEnds::default();
        let fast = super::framer::whole_expression(&input, pb, &limits, &mut ends);
        match (&parsed, fast) {
            (Ok(Some(())), Some(end)) => {
                assert_eq!(end, pos, "round {round}: {input:?} {limits:?}");
                // What the broker steps over once the framer has checked it.
                let skipped = super::decoder::skip_checked(&input, 0, &limits);
                assert_eq!(skipped, Some(pos), "round {round}: {input:?}");
                // The items' ends, where counted, are where stepping over
                // each item from the list's header ends.
                if let Some(counted) = ends.get() {
                    let (_, count, header) = short_header(&input, &limits).unwrap();
                    let mut at = header;
                    let mut stepped = Vec::new();
                    for _ in 0..count {
                        at = super::decoder::skip_checked(&input, at, &limits).unwrap();
                        stepped.push(at);
                    }
                    assert_eq!(counted, &stepped[..], "round {round}: {input:?}");
                    counted_lists += 1;
                }
                taken += 1;
            }
            (Ok(Some(())), None) => panic!("round {round}: fast path missed {input:?} {limits:?}"),
            (_, Some(_)) => {
                panic!("round {round}: fast path took {input:?} {limits:?}: {parsed:?}")
            }
            (_, None) => {}
        }
    }
    assert!(taken > 1000, "only {taken} taken");
    assert!(counted_lists > 100, "only {counted_lists} lists counted");
}

#[test]
fn drained_means_nothing_more_to_take() {
    // Expressions in chunks of each size: a stream that says it is drained
    // gives nothing (nor an error) when asked; one fed bytes is not
    // drained; all taken at the end of whole expressions, it is.
    let stream = b"\x01\x80\x03\x82abc\x05\x81\x02\x80\x01\x81\x02\x82xy";
    let limits = Limits::default();
    for size in 1..=stream.len() {
        let mut framer = Framer::new();
        let mut decoder = Decoder::new();
        let mut builder = ValueBuilder::default();
        for chunk in stream.chunks(size) {
            framer.feed(chunk).unwrap();
            decoder.feed(chunk).unwrap();
            assert!(!framer.is_drained() && !decoder.is_drained());
            while framer.next(false, &limits).unwrap().is_some() {}
            while decoder.next(&mut builder, &limits).unwrap().is_some() {}
            if framer.is_drained() {
                assert_eq!(framer.next(false, &limits).unwrap(), None);
            }
            if decoder.is_drained() {
                assert!(decoder.next(&mut builder, &limits).unwrap().is_none());
            }
        }
        assert!(framer.is_drained() && decoder.is_drained());
    }
    // A failed stream is never drained: asking gives its error again.
    let mut framer = Framer::new();
    framer.feed(b"\x10\x87").unwrap();
    assert!(framer.next(false, &limits).is_err());
    assert!(!framer.is_drained());
    let mut decoder = Decoder::new();
    decoder.feed(b"\x10\x87").unwrap();
    assert!(decoder.next(&mut ValueBuilder::default(), &limits).is_err());
    assert!(!decoder.is_drained());
}
