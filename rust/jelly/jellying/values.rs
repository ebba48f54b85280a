//! The value types with a jelly form of their own, jellied: dates, times,
//! datetimes and timedeltas (`[tag, b"f1 f2 ..."]`) and Decimal
//! (`[b"decimal", value, exponent]`).
//!
//! Plain forms are made natively (through the datetime C API, and the
//! Decimal's string form); anything unusual goes to Twisted's own methods,
//! so that errors are theirs.

use pyo3::exceptions::PyNotImplementedError;
use pyo3::prelude::*;
use pyo3::types::{
    PyBytes, PyDate, PyDateAccess, PyDateTime, PyDelta, PyDeltaAccess, PyInt, PyList, PyTime,
    PyTimeAccess, PyTzInfoAccess,
};

use super::context::Cx;
use super::jellier::Jellier;
use super::sinks::Sink;
use crate::jelly::python_objects::PythonObjects;

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
            cx.python_may_run(sink.skips());
        }
        let sexp = match finite_decimal(py, refs, obj)? {
            Some(sexp) => sexp,
            None => {
                cx.python_may_run(sink.skips());
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
    cx.python_may_run(sink.skips());
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
    match finite_decimal(py, PythonObjects::get(py)?, d)? {
        Some(sexp) => Ok(sexp),
        None => twisted_jelly_decimal(slf, d),
    }
}

/// [`jelly_decimal`] of a finite Decimal, read from its `str()`; `None`
/// for anything else.
fn finite_decimal<'py>(
    py: Python<'py>,
    refs: &PythonObjects,
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
    PythonObjects::get(py)?
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
