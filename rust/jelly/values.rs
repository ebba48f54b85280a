//! The value types with a jelly form of their own, both ways: dates,
//! times, datetimes and timedeltas (`[tag, b"f1 f2 ..."]`), Decimal
//! (`[b"decimal", value, exponent]`), and the text and boolean atoms.
//!
//! Plain forms are made and read natively (through the datetime C API, and
//! the Decimal's string form); anything unusual goes to the classes
//! themselves or to Twisted's own methods, so that errors are theirs.
//!
//! Uses [`super::refs`], the traversal's sink and context, and the
//! unjellier (for Twisted's fallback methods).

use pyo3::exceptions::PyNotImplementedError;
use pyo3::prelude::*;
use pyo3::types::{
    PyBytes, PyDate, PyDateAccess, PyDateTime, PyDelta, PyDeltaAccess, PyInt, PyList, PyTime,
    PyTimeAccess, PyTzInfoAccess,
};

use super::jellier::Jellier;
use super::jelly::Cx;
use super::refs::Refs;
use super::sinks::Sink;
use super::tags::Builtin;
use super::unjellier::Unjellier;

/// The date and time types and Decimal (exact types), or `None`.
pub(crate) fn jelly_value_type<'py, S: Sink<'py>>(
    cx: &Cx<'_, 'py>,
    sink: &mut S,
    obj: &Bound<'py, PyAny>,
) -> PyResult<Option<S::Out>> {
    let py = cx.py();
    let refs = cx.refs;
    let ty = obj.get_type();
    if ty.is(refs.datetime.bind(py)) {
        let value = obj.cast::<PyDateTime>()?;
        refuse_tzinfo(cx, sink, value.get_tzinfo())?;
        let fields = [
            value.get_year(),
            value.get_month().into(),
            value.get_day().into(),
            value.get_hour().into(),
            value.get_minute().into(),
            value.get_second().into(),
            value.get_microsecond() as i32,
        ];
        return jelly_fields(cx, sink, &refs.atoms.datetime, &fields).map(Some);
    }
    if ty.is(refs.time.bind(py)) {
        let value = obj.cast::<PyTime>()?;
        refuse_tzinfo(cx, sink, value.get_tzinfo())?;
        let fields = [
            value.get_hour().into(),
            value.get_minute().into(),
            value.get_second().into(),
            value.get_microsecond() as i32,
        ];
        return jelly_fields(cx, sink, &refs.atoms.time, &fields).map(Some);
    }
    if ty.is(refs.date.bind(py)) {
        let value = obj.cast::<PyDate>()?;
        let fields = [
            value.get_year(),
            value.get_month().into(),
            value.get_day().into(),
        ];
        return jelly_fields(cx, sink, &refs.atoms.date, &fields).map(Some);
    }
    if ty.is(refs.timedelta.bind(py)) {
        let value = obj.cast::<PyDelta>()?;
        let fields = [
            value.get_days(),
            value.get_seconds(),
            value.get_microseconds(),
        ];
        return jelly_fields(cx, sink, &refs.atoms.timedelta, &fields).map(Some);
    }
    if ty.is(refs.decimal.bind(py)) {
        // The C implementation's `str()` runs no Python code; the pure
        // Python one's does.
        if !refs.native_decimal {
            cx.python_may_run(sink);
        }
        let sexp = match finite_decimal(py, refs, obj)? {
            Some(sexp) => sexp,
            None => {
                cx.python_may_run(sink);
                twisted_jelly_decimal(cx.slf, obj)?
            }
        };
        return sink.sexp(cx, sexp).map(Some);
    }
    Ok(None)
}

/// `[tag, b"f1 f2 ..."]`: the date and time types, as decimal fields
/// separated by spaces.
fn jelly_fields<'py, S: Sink<'py>>(
    cx: &Cx<'_, 'py>,
    sink: &mut S,
    tag: &Py<PyBytes>,
    fields: &[i32],
) -> PyResult<S::Out> {
    let text: Vec<String> = fields.iter().map(i32::to_string).collect();
    sink.pair(
        cx,
        tag,
        PyBytes::new(cx.py(), text.join(" ").as_bytes()).into_any(),
    )
}

/// Twisted's `if obj.tzinfo: raise NotImplementedError(...)` (a tzinfo's
/// truth may be its own Python code).
fn refuse_tzinfo<'py, S: Sink<'py>>(
    cx: &Cx<'_, 'py>,
    sink: &mut S,
    tzinfo: Option<Bound<'py, pyo3::types::PyTzInfo>>,
) -> PyResult<()> {
    let Some(tzinfo) = tzinfo else {
        return Ok(());
    };
    cx.python_may_run(sink);
    if tzinfo.is_truthy()? {
        return Err(PyNotImplementedError::new_err(
            "Currently can't jelly datetime objects with tzinfo",
        ));
    }
    Ok(())
}

/// Twisted's `jelly_decimal`: `[b"decimal", value, exponent]`, where value
/// is the coefficient's digits as an integer, negated for a negative sign.
/// A finite Decimal's `str()` is its sign, coefficient and exponent in
/// scientific notation, read here; the special values (and anything else
/// unexpected) go to Twisted's own method, which uses nothing of its
/// jellier.
pub(crate) fn jelly_decimal<'py>(
    slf: &Bound<'py, Jellier>,
    d: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    let py = slf.py();
    match finite_decimal(py, Refs::get(py)?, d)? {
        Some(sexp) => Ok(sexp),
        None => twisted_jelly_decimal(slf, d),
    }
}

/// [`jelly_decimal`] of a finite Decimal, read from its `str()`; `None`
/// for anything else.
fn finite_decimal<'py>(
    py: Python<'py>,
    refs: &Refs,
    d: &Bound<'py, PyAny>,
) -> PyResult<Option<Bound<'py, PyAny>>> {
    let text = d.str()?;
    if let Some((negative, digits, exponent)) = decimal_parts(text.to_str()?) {
        let value = match digits.parse::<u128>() {
            Ok(value) => value.into_pyobject(py)?.into_any(),
            Err(_) => py.get_type::<PyInt>().call1((digits,))?,
        };
        let value = if negative { value.neg()? } else { value };
        let list = PyList::new(
            py,
            [
                refs.atoms.decimal.bind(py).clone().into_any(),
                value,
                exponent.into_pyobject(py)?.into_any(),
            ],
        )?;
        return Ok(Some(list.into_any()));
    }
    Ok(None)
}

/// Twisted's own `jelly_decimal`, which uses nothing of its jellier.
fn twisted_jelly_decimal<'py>(
    slf: &Bound<'py, Jellier>,
    d: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    let py = slf.py();
    Refs::get(py)?
        .twisted_jellier
        .bind(py)
        .getattr(pyo3::intern!(py, "jelly_decimal"))?
        .call1((slf, d))
}

/// Sign, coefficient digits and exponent of a finite Decimal's string form
/// (`-1.25E+7` is `(true, "125", 5)`), or `None` for anything else.
fn decimal_parts(text: &str) -> Option<(bool, String, i64)> {
    let (negative, unsigned) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (mantissa, exponent) = match unsigned.split_once(['E', 'e']) {
        Some((mantissa, exponent)) => (mantissa, exponent.parse::<i64>().ok()?),
        None => (unsigned, 0),
    };
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let all_digits = |part: &str| part.bytes().all(|byte| byte.is_ascii_digit());
    if whole.is_empty() || !all_digits(whole) || !all_digits(fraction) {
        return None;
    }
    let exponent = exponent.checked_sub(i64::try_from(fraction.len()).ok()?)?;
    Some((negative, format!("{whole}{fraction}"), exponent))
}

/// `[b"unicode", data]`: the text whose UTF-8 is `data`.
#[inline]
pub(crate) fn unicode<'py>(py: Python<'py>, data: &[u8]) -> PyResult<Bound<'py, PyAny>> {
    crate::pybanana::text::str_from_utf8(py, data)
}

/// `[b"boolean", data]`: `data` is `b"true"` or `b"false"`.
#[inline]
pub(crate) fn boolean<'py>(
    py: Python<'py>,
    refs: &Refs,
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
    refs: &Refs,
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
    refs: &Refs,
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
    refs: &Refs,
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
