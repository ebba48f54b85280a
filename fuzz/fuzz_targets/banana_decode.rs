//! Any bytes: the one-shot and the incremental decoder never panic, agree
//! with each other however the input is chunked, and whatever they decode
//! encodes back to bytes that decode to the same value; the framer (a
//! broker's) hands out the same expressions, whole.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pbfast::banana::decoder::{decode_exact, decode_first, Decoder, Limits};
use pbfast::banana::framer::Framer;
use pbfast::banana::value::{encode_value, EncodeOptions, ValueBuilder};

fuzz_target!(|data: &[u8]| {
    let Some((&control, input)) = data.split_first() else {
        return;
    };
    let limits = Limits { depth: 64, message: 1 << 16, ..Limits::default() };
    let pb_dialect = control & 1 == 1;
    let chunk = 1 + (control >> 1) as usize;

    let mut builder = ValueBuilder { pb_dialect };
    let one_shot = decode_first(input, &mut builder, &limits);

    let mut decoder = Decoder::new();
    let mut incremental = Vec::new();
    let mut failed = false;
    for piece in input.chunks(chunk) {
        decoder.feed(piece).unwrap();
        loop {
            match decoder.next(&mut builder, &limits) {
                Ok(Some(value)) => incremental.push(value),
                Ok(None) => break,
                Err(_) => {
                    failed = true;
                    break;
                }
            }
        }
        if failed {
            break;
        }
    }

    let mut framer = Framer::new();
    let mut framed = Vec::new();
    'feeding: for piece in input.chunks(chunk) {
        framer.feed(piece).unwrap();
        loop {
            match framer.next(pb_dialect, &limits) {
                Ok(Some(range)) => framed.push(framer.bytes()[range].to_vec()),
                Ok(None) => break,
                Err(_) => break 'feeding,
            }
        }
    }
    assert!(framed.len() <= incremental.len() + 1);
    for (bytes, value) in framed.iter().zip(&incremental) {
        assert_eq!(&decode_exact(bytes, &mut builder, &limits).unwrap(), value);
    }

    match one_shot {
        Ok(first) => {
            assert!(!failed, "the incremental decoder failed where the one-shot did not");
            assert_eq!(incremental.first(), Some(&first));
            let mut encoded = Vec::new();
            encode_value(&mut encoded, &first, &EncodeOptions::default()).unwrap();
            let again = decode_first(&encoded, &mut ValueBuilder { pb_dialect: false }, &limits);
            assert_eq!(again.unwrap(), first);
        }
        Err(_) => assert!(failed || incremental.is_empty()),
    }
});
