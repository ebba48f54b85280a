//! S-expression to object graph (`jelly.unjelly`), the way Twisted's
//! `_Unjellier.unjelly` does it: for each list, its tag decides (through a
//! [`Frame`]) how its items are taken and what they make.

use pyo3::prelude::*;
use pyo3::types::PyList;

use super::frame::{item, unpack_pair, Frame, Mode};
use super::references::is_not_known;
use super::unjellier::{maybe_post_unjelly, run_post_callbacks, Unjellier};
use crate::jelly::depth::{jelly_too_deep, with_stack, Depth};
use crate::jelly::errors::bad_input;
use crate::jelly::python_objects::PythonObjects;
use crate::pybanana::gc::GcPause;

/// `unjellier.unjellyFull(obj)`: the object for `obj`, then every
/// `postUnjelly` hook, in order.
pub(crate) fn unjelly_full<'py>(
    slf: &Bound<'py, Unjellier>,
    obj: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    let py = slf.py();
    let refs = PythonObjects::get(py)?;
    let pause = GcPause::new(py);
    let result = unjelly(slf, obj).map_err(|error| bad_input(py, refs, error));
    // The hooks are application code: they run with the collector as the
    // application has it.
    drop(pause);
    let result = result?;
    run_post_callbacks(slf)?;
    Ok(result)
}

/// `obj[loc] = unjelly(jel)`, registering `obj` as a dependant if the
/// result is still a placeholder.
pub(crate) fn unjelly_into<'py>(
    slf: &Bound<'py, Unjellier>,
    obj: &Bound<'py, PyAny>,
    loc: &Bound<'py, PyAny>,
    jel: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    let py = slf.py();
    let refs = PythonObjects::get(py)?;
    let value = unjelly(slf, jel).map_err(|error| bad_input(py, refs, error))?;
    if is_not_known(&value, refs)? {
        value.call_method1(pyo3::intern!(py, "addDependant"), (obj, loc))?;
    }
    obj.set_item(loc, &value)?;
    Ok(value)
}

/// Twisted's `_Unjellier.unjelly`.
pub fn unjelly<'py>(
    slf: &Bound<'py, Unjellier>,
    obj: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    let Ok(expression) = obj.cast_exact::<PyList>() else {
        return Ok(obj.clone());
    };
    with_stack(|| unjelly_expression(slf, expression))
}

/// [`unjelly`] of a list: a jelly expression.
fn unjelly_expression<'py>(
    slf: &Bound<'py, Unjellier>,
    expression: &Bound<'py, PyList>,
) -> PyResult<Bound<'py, PyAny>> {
    let obj = expression.as_any();
    let py = obj.py();
    let me = slf.borrow();
    let refs = PythonObjects::get(py)?;
    let Some(_level) = Depth::enter(&me.depth, me.max_jelly_depth()) else {
        return Err(jelly_too_deep(py, refs, me.max_jelly_depth()));
    };
    let tag = item(expression, 0, refs)?;
    let mut frame = Frame::begin(slf, &me, refs, &tag, expression.len() - 1)?;
    if let Frame::Raw { .. } = frame {
        // Hooks get the expression itself.
        return frame.finish_expression(slf, refs, expression);
    }
    let mut index = 1;
    // Bounded by the current length each time (a hook may change the list),
    // never by a failing get_item: an IndexError per list is not free.
    while index < expression.len() {
        let child = expression.get_item(index)?;
        match frame.mode() {
            Mode::Pairs => {
                let (key, value) = unpack_pair(&child, refs)?;
                let key = unjelly(slf, &key)?;
                let value = unjelly(slf, &value)?;
                Frame::check_key_of(&key, refs)?;
                frame.push_pair(key, value, refs)?;
            }
            Mode::Normal => {
                let value = unjelly(slf, &child)?;
                frame.push(value, refs)?;
            }
            Mode::Raw => frame.push(child, refs)?,
        }
        index += 1;
    }
    frame.finish(slf, refs)
}

/// Twisted's `_genericUnjelly`: an instance of `cls` with the unjellied
/// `state`, through `_newInstance` (`__setstate__`, or the instance dict).
pub(crate) fn generic_unjelly<'py>(
    slf: &Bound<'py, Unjellier>,
    cls: &Bound<'py, PyAny>,
    state: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    let py = slf.py();
    let refs = PythonObjects::get(py)?;
    let state = unjelly(slf, state)?;
    let instance = refs.new_instance.bind(py).call1((cls, state))?;
    maybe_post_unjelly(slf, instance)
}
