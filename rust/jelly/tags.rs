//! The built-in jelly tags (`list`, `dictionary`, `reference`, ...): what
//! each is called and how a tag read off the wire is recognised without a
//! Python object.

use pyo3::prelude::*;
use pyo3::types::PyBytes;

use super::python_objects::PythonObjects;
use crate::banana::words::{const_word, padded_word};

/// The built-in tags whose handling only the taster and the registries
/// could change.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Builtin {
    None,
    Unicode,
    Boolean,
    List,
    Tuple,
    Set,
    FrozenSet,
    Dictionary,
    Reference,
    Dereference,
    DateTime,
    Date,
    Time,
    TimeDelta,
    Decimal,
}

impl Builtin {
    /// Every built-in tag.
    pub(crate) const ALL: [Builtin; 15] = [
        Builtin::None,
        Builtin::Unicode,
        Builtin::Boolean,
        Builtin::List,
        Builtin::Tuple,
        Builtin::Set,
        Builtin::FrozenSet,
        Builtin::Dictionary,
        Builtin::Reference,
        Builtin::Dereference,
        Builtin::DateTime,
        Builtin::Date,
        Builtin::Time,
        Builtin::TimeDelta,
        Builtin::Decimal,
    ];

    /// The built-in tag spelled `name`. Dispatched on length and first
    /// byte, then compared as two words with the one candidate's spelling.
    #[inline]
    pub(crate) fn named(name: &[u8]) -> Option<Builtin> {
        const fn spelled(builtin: Builtin) -> (Builtin, u64, u64) {
            let name = builtin.spelling();
            (builtin, const_word(name, 0), const_word(name, 8))
        }
        const NONE: (Builtin, u64, u64) = spelled(Builtin::None);
        const UNICODE: (Builtin, u64, u64) = spelled(Builtin::Unicode);
        const BOOLEAN: (Builtin, u64, u64) = spelled(Builtin::Boolean);
        const LIST: (Builtin, u64, u64) = spelled(Builtin::List);
        const TUPLE: (Builtin, u64, u64) = spelled(Builtin::Tuple);
        const SET: (Builtin, u64, u64) = spelled(Builtin::Set);
        const FROZENSET: (Builtin, u64, u64) = spelled(Builtin::FrozenSet);
        const DICTIONARY: (Builtin, u64, u64) = spelled(Builtin::Dictionary);
        const REFERENCE: (Builtin, u64, u64) = spelled(Builtin::Reference);
        const DEREFERENCE: (Builtin, u64, u64) = spelled(Builtin::Dereference);
        const DATETIME: (Builtin, u64, u64) = spelled(Builtin::DateTime);
        const DATE: (Builtin, u64, u64) = spelled(Builtin::Date);
        const TIME: (Builtin, u64, u64) = spelled(Builtin::Time);
        const TIMEDELTA: (Builtin, u64, u64) = spelled(Builtin::TimeDelta);
        const DECIMAL: (Builtin, u64, u64) = spelled(Builtin::Decimal);
        let (builtin, low, high) = match (name.len(), *name.first()?) {
            (4, b'N') => NONE,
            (7, b'u') => UNICODE,
            (7, b'b') => BOOLEAN,
            (4, b'l') => LIST,
            (5, b't') => TUPLE,
            (3, b's') => SET,
            (9, b'f') => FROZENSET,
            (10, b'd') => DICTIONARY,
            (9, b'r') => REFERENCE,
            (11, b'd') => DEREFERENCE,
            (8, b'd') => DATETIME,
            (4, b'd') => DATE,
            (4, b't') => TIME,
            (9, b't') => TIMEDELTA,
            (7, b'd') => DECIMAL,
            _ => return None,
        };
        // Same length, so equal words are equal names.
        (padded_word(name, 0) == low && padded_word(name, 8) == high).then_some(builtin)
    }

    /// The tag's name.
    #[inline(always)]
    pub(crate) const fn spelling(self) -> &'static [u8] {
        match self {
            Builtin::None => b"None",
            Builtin::Unicode => b"unicode",
            Builtin::Boolean => b"boolean",
            Builtin::List => b"list",
            Builtin::Tuple => b"tuple",
            Builtin::Set => b"set",
            Builtin::FrozenSet => b"frozenset",
            Builtin::Dictionary => b"dictionary",
            Builtin::Reference => b"reference",
            Builtin::Dereference => b"dereference",
            Builtin::DateTime => b"datetime",
            Builtin::Date => b"date",
            Builtin::Time => b"time",
            Builtin::TimeDelta => b"timedelta",
            Builtin::Decimal => b"decimal",
        }
    }

    /// The interned tag object, for messages and for hooks that get it.
    pub(crate) fn atom(self, refs: &PythonObjects) -> &Py<PyBytes> {
        let atoms = &refs.atoms;
        match self {
            Builtin::None => &atoms.none,
            Builtin::Unicode => &atoms.unicode,
            Builtin::Boolean => &atoms.boolean,
            Builtin::List => &atoms.list,
            Builtin::Tuple => &atoms.tuple,
            Builtin::Set => &atoms.set,
            Builtin::FrozenSet => &atoms.frozenset,
            Builtin::Dictionary => &atoms.dictionary,
            Builtin::Reference => &atoms.reference,
            Builtin::Dereference => &atoms.dereference,
            Builtin::DateTime => &atoms.datetime,
            Builtin::Date => &atoms.date,
            Builtin::Time => &atoms.time,
            Builtin::TimeDelta => &atoms.timedelta,
            Builtin::Decimal => &atoms.decimal,
        }
    }

    pub(crate) fn bit(self) -> u32 {
        1 << self as u32
    }
}
