//! Structured values: encoding then decoding gives the value back, in both
//! dialects and any chunking.
#![no_main]

use libfuzzer_sys::arbitrary::{self, Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use pbfast::banana::decoder::{Decoder, Limits};
use pbfast::banana::value::{encode_value, EncodeOptions, Value, ValueBuilder};
use pbfast::banana::vocabulary::{OutgoingVocabulary, PB_VOCABULARY};

#[derive(Debug)]
struct Input {
    values: Vec<Value>,
    pb_dialect: bool,
    chunk: usize,
}

fn value(u: &mut Unstructured<'_>, depth: usize) -> arbitrary::Result<Value> {
    Ok(match u.int_in_range(0..=if depth > 6 { 4 } else { 5 })? {
        0 => Value::int(i64::arbitrary(u)?),
        1 => {
            let mut magnitude: Vec<u8> = (0..u.int_in_range(0..=56)?)
                .map(|_| u8::arbitrary(u))
                .collect::<arbitrary::Result<_>>()?;
            while magnitude.last() == Some(&0) {
                magnitude.pop();
            }
            let negative = bool::arbitrary(u)? && !magnitude.is_empty();
            Value::Int { negative, magnitude }
        }
        2 => Value::Float(f64::arbitrary(u)?),
        3 => Value::Bytes(Vec::<u8>::arbitrary(u)?),
        4 => Value::Bytes(PB_VOCABULARY[u.int_in_range(1..=31)?].to_vec()),
        _ => Value::List(
            (0..u.int_in_range(0..=8)?)
                .map(|_| value(u, depth + 1))
                .collect::<arbitrary::Result<_>>()?,
        ),
    })
}

impl<'a> Arbitrary<'a> for Input {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        let count = u.int_in_range(1..=4)?;
        let values = (0..count).map(|_| value(u, 0)).collect::<arbitrary::Result<_>>()?;
        Ok(Input { values, pb_dialect: bool::arbitrary(u)?, chunk: u.int_in_range(1..=64)? })
    }
}

fuzz_target!(|input: Input| {
    let vocabulary = OutgoingVocabulary::pb();
    let options = EncodeOptions {
        vocabulary: input.pb_dialect.then_some(&vocabulary),
        ..EncodeOptions::default()
    };
    let mut stream = Vec::new();
    for value in &input.values {
        encode_value(&mut stream, value, &options).unwrap();
    }
    let mut decoder = Decoder::new();
    let mut builder = ValueBuilder { pb_dialect: input.pb_dialect };
    let mut decoded = Vec::new();
    for piece in stream.chunks(input.chunk) {
        decoder.feed(piece).unwrap();
        while let Some(value) = decoder.next(&mut builder, &Limits::default()).unwrap() {
            decoded.push(value);
        }
    }
    assert_eq!(decoded, input.values);
    assert!(decoder.is_idle());
});
