//! What can be wrong with a Banana byte stream.

use std::fmt;

/// A malformed or over-limit token. `offset` is where the offending token
/// starts, counted in bytes from the start of the stream (or of the buffer
/// given to a one-shot decode).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    pub offset: u64,
    pub kind: ErrorKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorKind {
    /// More prefix bytes than the prefix limit, with no type byte in sight.
    PrefixTooLong { limit: usize },
    /// A list header claiming more items than the size limit.
    ListTooLong { claimed: Option<u64>, limit: u64 },
    /// A string header claiming more bytes than the size limit.
    StringTooLong { claimed: Option<u64>, limit: u64 },
    /// A type byte that is none of the eight token types.
    InvalidTypeByte(u8),
    /// A VOCAB token whose id the vocabulary does not have.
    UnknownVocabulary { id: Option<u64> },
    /// A VOCAB token on a connection whose dialect has no vocabulary.
    VocabularyNotInDialect { id: u64 },
    /// Lists nested deeper than the depth limit.
    TooDeep { limit: usize },
    /// One top-level expression larger than the message size limit.
    MessageTooLarge { limit: u64 },
    /// The input ended inside an expression.
    Truncated { what: &'static str },
    /// Bytes after the one expression the input was to hold.
    TrailingBytes { count: u64 },
    /// A call on a stream that already failed at `offset`.
    AfterError,
}

impl DecodeError {
    pub fn new(offset: u64, kind: ErrorKind) -> Self {
        DecodeError { offset, kind }
    }
}

impl ErrorKind {
    /// The limit the stream went past, for the errors that are about one.
    pub fn limit(&self) -> Option<u64> {
        match *self {
            ErrorKind::PrefixTooLong { limit } | ErrorKind::TooDeep { limit } => Some(limit as u64),
            ErrorKind::ListTooLong { limit, .. }
            | ErrorKind::StringTooLong { limit, .. }
            | ErrorKind::MessageTooLarge { limit } => Some(limit),
            _ => None,
        }
    }
}

fn claimed(value: &Option<u64>) -> String {
    match value {
        Some(value) => value.to_string(),
        None => "more than 2**64".to_string(),
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = self.offset;
        match &self.kind {
            ErrorKind::PrefixTooLong { limit } => write!(
                f,
                "Security precaution: more than {limit} bytes of prefix (token at offset {at})"
            ),
            ErrorKind::ListTooLong { claimed: n, limit } => write!(
                f,
                "Security precaution: List too long ({} items claimed, limit {limit}, \
                 at offset {at})",
                claimed(n)
            ),
            ErrorKind::StringTooLong { claimed: n, limit } => write!(
                f,
                "Security precaution: String too long ({} bytes claimed, limit {limit}, \
                 at offset {at})",
                claimed(n)
            ),
            ErrorKind::InvalidTypeByte(byte) => {
                write!(f, "Invalid Type Byte 0x{byte:02x} at offset {at}")
            }
            ErrorKind::UnknownVocabulary { id } => write!(
                f,
                "Unknown vocabulary symbol {} at offset {at}",
                claimed(id)
            ),
            ErrorKind::VocabularyNotInDialect { id } => write!(
                f,
                "Vocabulary symbol {id} at offset {at}, but the dialect has no vocabulary"
            ),
            ErrorKind::TooDeep { limit } => write!(
                f,
                "Security precaution: lists nested deeper than {limit} levels at offset {at}"
            ),
            ErrorKind::MessageTooLarge { limit } => write!(
                f,
                "Security precaution: message larger than {limit} bytes \
                 (expression starting at offset {at})"
            ),
            ErrorKind::Truncated { what } => {
                write!(f, "Truncated input: {what} at offset {at} is incomplete")
            }
            ErrorKind::TrailingBytes { count } => {
                write!(
                    f,
                    "{count} bytes after the end of the expression at offset {at}"
                )
            }
            ErrorKind::AfterError => write!(
                f,
                "the stream is out of step since the bad token at offset {at}; \
                 nothing after it can be decoded"
            ),
        }
    }
}

impl std::error::Error for DecodeError {}
