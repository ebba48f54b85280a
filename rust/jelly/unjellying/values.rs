//! The value types with a jelly form of their own, unjellied: dates,
//! times, datetimes and timedeltas (`[tag, b"f1 f2 ..."]`), Decimal
//! (`[b"decimal", value, exponent]`), and the text and boolean atoms.
//!
//! Plain forms are read natively (through the datetime C API, and the
//! Decimal's string form); anything unusual goes to the classes themselves
//! or to Twisted's own methods, so that errors are theirs.

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};

use super::unjellier::Unjellier;
use crate::jelly::python_objects::PythonObjects;
use crate::jelly::tags::Builtin;

/// `[b"unicode", data]`: the text whose UTF-8 is `data`.
#[inline]
pub(crate) fn unicode<'py>(py: Python<'py>, data: &[u8]) -> PyResult<Bound<'py, PyAny>> {
    crate::pybanana::text::str_from_utf8(py, data)
}

/// `[b"boolean", data]`: `data` is `b"true"` or `b"false"`.
#[inline]
pub(crate) fn boolean<'py>(
    py: Python<'py>,
    refs: &PythonObjects,
    data: &[u8],
) -> PyResult<Bound<'py, PyAny>> {
    match data {
        b"true" => Ok(pyo3::types::PyBool::new(py, true).to_owned().into_any()),
        b"false" => Ok(pyo3::types::PyBool::new(py, false).to_owned().into_any()),
        _ => Err(refs.insecure(py, "boolean expression must hold b'true' or b'false'")),
    }
}

/// Exponents this small are written into a decimal string as they are.
pub(crate) const PLAIN_EXPONENT: i64 = 1 << 40;

/// The Decimal `[b"decimal", value, exponent]` stands for, from the sign
/// and magnitude of an integer value that fits 128 bits and an exponent
/// below [`PLAIN_EXPONENT`]: `Decimal("<value>E<exponent>")` has the digits,
/// sign and exponent that Twisted's `Decimal((sign, digits, exponent))`
/// has (a zero value has no sign, as in Twisted, where `0 < 0` is false).
pub(crate) fn plain_decimal<'py>(
    py: Python<'py>,
    refs: &PythonObjects,
    negative: bool,
    magnitude: u128,
    exponent: i64,
) -> PyResult<Bound<'py, PyAny>> {
    let sign = if negative && magnitude != 0 { "-" } else { "" };
    refs.decimal
        .bind(py)
        .call1((format!("{sign}{magnitude}E{exponent}"),))
}

/// Twisted's `_unjelly_decimal`: `[b"decimal", value, exponent]` is the
/// Decimal with the digits and sign of the integer `value` and that
/// exponent. For plain integers, `Decimal("<value>E<exponent>")` is that
/// Decimal; anything else goes to Twisted's method itself.
pub(crate) fn decimal<'py>(
    slf: &Bound<'py, Unjellier>,
    refs: &PythonObjects,
    value: Bound<'py, PyAny>,
    exponent: Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    let py = slf.py();
    let exponent_value = exponent
        .cast_exact::<pyo3::types::PyInt>()
        .ok()
        .and_then(|exponent| exponent.extract::<i64>().ok())
        .filter(|exponent| exponent.abs() < PLAIN_EXPONENT);
    if let (Ok(value), Some(exponent)) = (value.cast_exact::<pyo3::types::PyInt>(), exponent_value)
    {
        if let Ok(value) = value.extract::<i128>() {
            return plain_decimal(py, refs, value < 0, value.unsigned_abs(), exponent);
        }
        let text = format!("{}E{exponent}", value.str()?);
        return refs.decimal.bind(py).call1((text,));
    }
    slf.borrow().forget_tags();
    slf.borrow().materialize(py, refs)?;
    let method = refs
        .twisted_unjellier
        .bind(py)
        .getattr(pyo3::intern!(py, "_unjelly_decimal"))?;
    method.call1((slf, PyList::new(py, [value, exponent])?))
}

/// The date, time, datetime or timedelta of a field of plain integers, as
/// jelly writes it, made through the datetime C API; `None` for anything
/// else (another number of fields, values beyond the C types), which the
/// classes themselves are given, as Twisted gives them. The C API checks
/// the ranges as the classes do, and raises the same errors.
pub(crate) fn plain_date_or_time<'py>(
    py: Python<'py>,
    kind: Builtin,
    field: &[u8],
) -> Option<PyResult<Bound<'py, PyAny>>> {
    use pyo3::types::{PyDate, PyDateTime, PyDelta, PyTime};
    let mut values = [0i64; 7];
    let mut count = 0;
    for part in field
        .split(|byte| byte.is_ascii_whitespace() || *byte == 0x0b)
        .filter(|part| !part.is_empty())
    {
        *values.get_mut(count)? = std::str::from_utf8(part).ok()?.parse().ok()?;
        count += 1;
    }
    let small = |index: usize| u8::try_from(values[index]).ok();
    let micro = |index: usize| u32::try_from(values[index]).ok();
    let int = |index: usize| i32::try_from(values[index]).ok();
    let made = match (kind, count) {
        (Builtin::DateTime, 7) => PyDateTime::new(
            py,
            int(0)?,
            small(1)?,
            small(2)?,
            small(3)?,
            small(4)?,
            small(5)?,
            micro(6)?,
            None,
        )
        .map(Bound::into_any),
        (Builtin::Date, 3) => PyDate::new(py, int(0)?, small(1)?, small(2)?).map(Bound::into_any),
        (Builtin::Time, 4) => {
            PyTime::new(py, small(0)?, small(1)?, small(2)?, micro(3)?, None).map(Bound::into_any)
        }
        (Builtin::TimeDelta, 3) => {
            PyDelta::new(py, int(0)?, int(1)?, int(2)?, true).map(Bound::into_any)
        }
        _ => return None,
    };
    Some(made)
}

/// `b"2024 1 2 3 4 5 6"` and the like: the integers of the space-separated
/// field, as Python's `int()` reads each.
pub(crate) fn integer_fields<'py>(
    field: &Bound<'py, PyAny>,
    refs: &PythonObjects,
) -> PyResult<Vec<Bound<'py, PyAny>>> {
    let py = field.py();
    let Ok(field) = field.cast::<PyBytes>() else {
        return Err(refs.insecure(py, "date and time fields must be bytes"));
    };
    let int = py.get_type::<pyo3::types::PyInt>();
    field
        .as_bytes()
        .split(|byte| byte.is_ascii_whitespace() || *byte == 0x0b)
        .filter(|part| !part.is_empty())
        .map(|part| {
            match std::str::from_utf8(part)
                .ok()
                .and_then(|text| text.parse::<i64>().ok())
            {
                Some(value) => Ok(value.into_pyobject(py)?.into_any()),
                // Anything plain digits do not cover (underscores, huge values,
                // garbage) is left to int() itself, errors included.
                None => int.call1((PyBytes::new(py, part),)),
            }
        })
        .collect()
}
