//! Plain Rust s-expressions, so the codec can be tested and fuzzed without
//! Python. The layers above do not use these: they build Python objects
//! directly through [`Builder`].

use super::decoder::{Builder, Digits};
use super::encoder::{self, EncodeError};
use super::error::{DecodeError, ErrorKind};
use super::vocabulary::{OutgoingVocabulary, PB_VOCABULARY};

/// An s-expression as Banana carries it.
#[derive(Debug, Clone)]
pub enum Value {
    List(Vec<Value>),
    /// Sign and little-endian base-256 magnitude without high zero bytes.
    Int {
        negative: bool,
        magnitude: Vec<u8>,
    },
    Bytes(Vec<u8>),
    Float(f64),
}

impl Value {
    pub fn int(value: i64) -> Value {
        let mut magnitude = value.unsigned_abs().to_le_bytes().to_vec();
        while magnitude.last() == Some(&0) {
            magnitude.pop();
        }
        Value::Int {
            negative: value < 0 && !magnitude.is_empty(),
            magnitude,
        }
    }
}

/// Equality as Python sees the decoded objects: `-0` is `0`, and floats are
/// compared by bits so that a NaN equals itself.
impl PartialEq for Value {
    fn eq(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::List(a), Value::List(b)) => a == b,
            (
                Value::Int {
                    negative: na,
                    magnitude: ma,
                },
                Value::Int {
                    negative: nb,
                    magnitude: mb,
                },
            ) => ma == mb && (na == nb || ma.is_empty()),
            (Value::Bytes(a), Value::Bytes(b)) => a == b,
            (Value::Float(a), Value::Float(b)) => a.to_bits() == b.to_bits(),
            _ => false,
        }
    }
}

/// Builds [`Value`]s. `pb_dialect` says whether VOCAB tokens are allowed;
/// either way their ids are checked against the `pb` vocabulary first, which
/// is the order Twisted checks them in.
#[derive(Debug, Clone, Copy, Default)]
pub struct ValueBuilder {
    pub pb_dialect: bool,
}

impl Builder for ValueBuilder {
    type Value = Value;
    type List = Vec<Value>;
    type Error = DecodeError;

    fn list(&mut self, capacity: usize) -> Vec<Value> {
        Vec::with_capacity(capacity)
    }

    fn push(&mut self, list: &mut Vec<Value>, item: Value) -> Result<(), DecodeError> {
        list.push(item);
        Ok(())
    }

    fn finish_list(&mut self, list: Vec<Value>) -> Result<Value, DecodeError> {
        Ok(Value::List(list))
    }

    fn int(&mut self, negative: bool, digits: Digits<'_>) -> Result<Value, DecodeError> {
        let magnitude = digits.to_le_bytes();
        Ok(Value::Int {
            negative: negative && !magnitude.is_empty(),
            magnitude,
        })
    }

    fn string(&mut self, bytes: &[u8]) -> Result<Value, DecodeError> {
        Ok(Value::Bytes(bytes.to_vec()))
    }

    fn float(&mut self, value: f64) -> Result<Value, DecodeError> {
        Ok(Value::Float(value))
    }

    fn vocab(&mut self, id: Digits<'_>, offset: u64) -> Result<Value, DecodeError> {
        let id = id.to_u64();
        let symbol = id
            .and_then(|id| usize::try_from(id).ok())
            .filter(|&id| id > 0)
            .and_then(|id| PB_VOCABULARY.get(id));
        let Some(symbol) = symbol else {
            return Err(DecodeError::new(
                offset,
                ErrorKind::UnknownVocabulary { id },
            ));
        };
        if !self.pb_dialect {
            let id = id.unwrap_or_default();
            return Err(DecodeError::new(
                offset,
                ErrorKind::VocabularyNotInDialect { id },
            ));
        }
        Ok(Value::Bytes(symbol.to_vec()))
    }
}

/// Encoder settings for [`encode_value`].
#[derive(Debug, Clone, Copy)]
pub struct EncodeOptions<'a> {
    pub prefix_limit: usize,
    pub size_limit: u64,
    pub max_depth: usize,
    /// The dialect's vocabulary: `Some` in dialect `pb`.
    pub vocabulary: Option<&'a OutgoingVocabulary>,
}

impl Default for EncodeOptions<'_> {
    fn default() -> Self {
        EncodeOptions {
            prefix_limit: super::PREFIX_LIMIT,
            size_limit: super::SIZE_LIMIT,
            max_depth: super::MAX_DEPTH,
            vocabulary: None,
        }
    }
}

/// Append the Banana encoding of `value`.
pub fn encode_value(
    out: &mut Vec<u8>,
    value: &Value,
    options: &EncodeOptions<'_>,
) -> Result<(), EncodeError> {
    encode_at(out, value, options, 0)
}

fn encode_at(
    out: &mut Vec<u8>,
    value: &Value,
    options: &EncodeOptions<'_>,
    depth: usize,
) -> Result<(), EncodeError> {
    match value {
        Value::List(items) => {
            if depth >= options.max_depth {
                return Err(EncodeError::TooDeep(options.max_depth));
            }
            let len = items.len() as u64;
            if len > options.size_limit {
                return Err(EncodeError::ListTooLong(len));
            }
            encoder::write_list_header(out, len);
            for item in items {
                encode_at(out, item, options, depth + 1)?;
            }
            Ok(())
        }
        Value::Int {
            negative,
            magnitude,
        } => encoder::write_big_int(out, *negative, magnitude, options.prefix_limit),
        Value::Bytes(bytes) => {
            if let Some(id) = options.vocabulary.and_then(|v| v.lookup(bytes)) {
                encoder::write_vocab(out, id);
                Ok(())
            } else {
                encoder::write_string(out, bytes, options.size_limit)
            }
        }
        Value::Float(value) => {
            encoder::write_float(out, *value);
            Ok(())
        }
    }
}
