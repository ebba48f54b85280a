//! The Banana half of `pbfast._native`: `encode`, `decode`, the outgoing
//! vocabulary, the limits that follow module globals, and the base-128
//! helpers Twisted's module exports.

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyInt, PyModule, PyString};

use crate::banana::base128;
use crate::banana::decoder::{Digits, Limits};
use crate::banana::vocabulary::OutgoingVocabulary as CoreVocabulary;
use crate::jelly::hooks::type_lookup;
use crate::pybanana::bigint::{int_from_digits, int_magnitude};
use crate::pybanana::buffer::with_bytes;
use crate::pybanana::decode::decode_first;
use crate::pybanana::encode::{encode_into, EncodeSettings};
use crate::pybanana::instance::{instance_dict, looks_up_as_object};
use crate::pybanana::output::{with_output_buffer, Output};
use crate::pybanana::watched::{lock, Cache, Watched};

/// Byte strings sent as VOCAB tokens, built from a `{symbol: id}` dict like
/// Twisted's `Banana.outgoingSymbols`.
#[pyclass(module = "pbfast._native", frozen)]
pub struct OutgoingVocabulary {
    inner: CoreVocabulary,
}

#[pymethods]
impl OutgoingVocabulary {
    #[new]
    fn new(symbols: &Bound<'_, PyDict>) -> PyResult<Self> {
        let mut entries = Vec::with_capacity(symbols.len());
        for (symbol, id) in symbols.iter() {
            entries.push((
                symbol.cast::<PyBytes>()?.as_bytes().to_vec(),
                id.extract::<u64>()?,
            ));
        }
        Ok(OutgoingVocabulary {
            inner: CoreVocabulary::new(entries),
        })
    }
}

impl OutgoingVocabulary {
    /// The vocabulary itself.
    pub fn core(&self) -> &CoreVocabulary {
        &self.inner
    }
}

/// Encode the s-expression `obj` to Banana bytes; `vocabulary` is given in
/// dialect `pb`.
#[pyfunction]
pub fn encode<'py>(
    obj: &Bound<'py, PyAny>,
    vocabulary: Option<&Bound<'py, OutgoingVocabulary>>,
    prefix_limit: usize,
    size_limit: u64,
    max_depth: usize,
) -> PyResult<Bound<'py, PyBytes>> {
    let settings = EncodeSettings {
        prefix_limit,
        size_limit,
        max_depth,
        vocabulary: vocabulary.map(|v| &v.get().inner),
    };
    with_output_buffer(|buf| {
        let mut out = Output::new(buf);
        encode_into(obj, &settings, &mut out)?;
        out.finish(obj.py())
    })
}

pub(crate) fn limits(prefix: usize, size: u64, depth: usize, message: u64) -> Limits {
    Limits {
        prefix,
        size,
        depth,
        message,
    }
}

/// Decode the first expression in `data` (dialect `none`).
#[pyfunction]
pub fn decode(
    data: &Bound<'_, PyAny>,
    prefix_limit: usize,
    size_limit: u64,
    max_depth: usize,
    max_message_size: u64,
) -> PyResult<Py<PyAny>> {
    decode_first(
        data,
        &limits(prefix_limit, size_limit, max_depth, max_message_size),
    )
}

/// The base-128 prefix of a non-negative int (Twisted's `int2b128`, returning
/// the bytes instead of writing them).
#[pyfunction]
pub fn int2b128<'py>(
    py: Python<'py>,
    integer: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyBytes>> {
    let mut out = Vec::new();
    if let Ok(value) = integer.extract::<u64>() {
        base128::write_prefix(&mut out, value);
    } else {
        let (negative, magnitude) = int_magnitude(integer.cast::<PyInt>()?)?;
        if negative {
            return Err(pyo3::exceptions::PyAssertionError::new_err(
                "can only encode positive integers",
            ));
        }
        base128::write_prefix_le_bytes(&mut out, &magnitude);
    }
    Ok(PyBytes::new(py, &out))
}

/// The int that base-128 digits stand for (Twisted's `b1282int`).
#[pyfunction]
pub fn b1282int(py: Python<'_>, st: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
    with_bytes(st, |digits| match base128::digits_to_u64(digits) {
        Some(value) => Ok(value.into_pyobject(py)?.into_any().unbind()),
        None => int_from_digits(py, false, Digits(digits)),
    })?
}

/// A per-instance setting that, until an instance sets it, is a module
/// global read at the time of use: `pbfast.banana`'s limits (`sizeLimit`
/// follows `SIZE_LIMIT`, ...), pbfast's broker's `maxBrokerRefs`. The
/// module is the one the instance's class names in its attribute
/// `module_attribute` (pbfast's, or Twisted's once `pbfast.install()` has
/// patched Twisted's class), then `fallback` for a global that module lacks.
/// An instance's own value is kept in its `__dict__` under `slot`. Read on
/// every call that encodes or decodes, hence native: a Python `__get__`
/// costs several times the lookups it makes.
#[pyclass(module = "pbfast._native", frozen)]
pub struct FollowsModuleGlobal {
    name: Py<PyString>,
    slot: Py<PyString>,
    module_attribute: Py<PyString>,
    fallback: Py<PyModule>,
    /// The global last read, with the module dicts it was read from, while
    /// they are unchanged (see [`Watched`]): a module's globals change
    /// rarely, and the value is read on every message.
    last: Cache<Option<(Watched<2>, Py<PyAny>)>>,
}

#[pymethods]
impl FollowsModuleGlobal {
    #[new]
    fn new(
        name: Bound<'_, PyString>,
        slot: Bound<'_, PyString>,
        module_attribute: Bound<'_, PyString>,
        fallback: Bound<'_, PyModule>,
    ) -> Self {
        FollowsModuleGlobal {
            name: name.unbind(),
            slot: slot.unbind(),
            module_attribute: module_attribute.unbind(),
            fallback: fallback.unbind(),
            last: Cache::new(None),
        }
    }

    fn __get__<'py>(
        &self,
        instance: Option<Bound<'py, PyAny>>,
        owner: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        match (instance.filter(|instance| !instance.is_none()), owner) {
            (Some(instance), _) => self.value_of(&instance),
            (None, Some(owner)) => self.followed(&owner),
            (None, None) => Err(pyo3::exceptions::PyTypeError::new_err(
                "__get__(None, None) is invalid",
            )),
        }
    }

    fn __set__(&self, instance: &Bound<'_, PyAny>, value: &Bound<'_, PyAny>) -> PyResult<()> {
        let py = instance.py();
        match instance_dict(instance)? {
            Some(own) => own.set_item(self.slot.bind(py), value),
            None => Err(pyo3::exceptions::PyAttributeError::new_err(
                "the instance has no __dict__ to keep the setting in",
            )),
        }
    }
}

impl FollowsModuleGlobal {
    /// `instance.<attribute>`, where the attribute is this descriptor: the
    /// instance's own setting, else the module global its class follows.
    pub(crate) fn value_of<'py>(
        &self,
        instance: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let own = instance_dict(instance)?;
        if let Some(value) = self.own_value(own.as_ref())? {
            return Ok(value);
        }
        self.followed(&instance.get_type().into_any())
    }

    /// The instance's own setting, in its dict `own`.
    fn own_value<'py>(
        &self,
        own: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Option<Bound<'py, PyAny>>> {
        match own {
            Some(own) => own.get_item(self.slot.bind(own.py())),
            None => Ok(None),
        }
    }

    /// The module global `owner` follows (its `module_attribute`), or the
    /// fallback module's.
    fn followed<'py>(&self, owner: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        self.global_in(&self.module_of(owner)?)
    }

    /// The module `owner` names in its `module_attribute`.
    fn module_of<'py>(&self, owner: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyModule>> {
        let py = owner.py();
        let name = self.module_attribute.bind(py);
        // `owner.<name>`: for a class whose metaclass is `type` itself
        // (which has no attribute of that name), the first entry along the
        // MRO, when it is no descriptor; as `type`'s lookup finds it.
        let plain = owner
            .get_type()
            .is(py.get_type::<pyo3::types::PyType>())
            .then(|| owner.cast::<pyo3::types::PyType>().ok())
            .flatten()
            .and_then(|class| type_lookup(class, name))
            // SAFETY: reading a slot of a live type object under the GIL.
            .filter(|found| unsafe { (*found.get_type().as_type_ptr()).tp_descr_get.is_none() });
        let module = match plain {
            Some(module) => module,
            None => owner.getattr(name)?,
        };
        Ok(module.cast_into::<PyModule>()?)
    }

    /// The global in `module`, or in the fallback module.
    fn global_in<'py>(&self, module: &Bound<'py, PyModule>) -> PyResult<Bound<'py, PyAny>> {
        let py = module.py();
        let dicts = [module.dict(), self.fallback.bind(py).dict()];
        if let Some((watched, value)) = &*lock(py, &self.last) {
            if watched.holds([&dicts[0], &dicts[1]]) {
                return Ok(value.bind(py).clone());
            }
        }
        // Recorded before reading: a change while reading (a key's __eq__)
        // makes the next use read again.
        let watched = Watched::now([&dicts[0], &dicts[1]]);
        let value = match dicts[0].get_item(self.name.bind(py))? {
            Some(value) => value,
            None => match dicts[1].get_item(self.name.bind(py))? {
                Some(value) => value,
                None => {
                    return Err(pyo3::exceptions::PyAttributeError::new_err(format!(
                        "no module global {}",
                        self.name.bind(py)
                    )))
                }
            },
        };
        // The value let go of, if any, is let go of once the cache is not
        // in use (its release may run Python code).
        let _replaced = std::mem::replace(
            &mut *lock(py, &self.last),
            watched.map(|watched| (watched, value.clone().unbind())),
        );
        Ok(value)
    }
}

/// `[obj.<name> for name in names]`, without the descriptor call where
/// an attribute is a [`FollowsModuleGlobal`]: what `object`'s lookup does
/// with a data descriptor found on the class (it comes before the instance
/// dict) is call its `__get__`, which is [`FollowsModuleGlobal::value_of`].
/// The instance dict and the followed module are looked up once for all
/// (nothing that runs between can change them: only lookups that run no
/// code); any other attribute is looked up as usual, after which they are
/// looked up again.
pub(crate) fn settings<'py, const N: usize>(
    obj: &Bound<'py, PyAny>,
    names: [&Bound<'py, PyString>; N],
) -> PyResult<[Bound<'py, PyAny>; N]> {
    let class = obj.get_type();
    let plain = looks_up_as_object(&class);
    // The instance dict, and the last module followed (by the name of the
    // class attribute that names it), once looked up.
    let mut own: Option<Option<Bound<'py, PyDict>>> = None;
    let mut module: Option<(*mut pyo3::ffi::PyObject, Bound<'py, PyModule>)> = None;
    let mut values = Vec::with_capacity(N);
    for name in names {
        let follows = plain
            .then(|| type_lookup(&class, name))
            .flatten()
            .and_then(|found| found.cast_into_exact::<FollowsModuleGlobal>().ok());
        let Some(follows) = follows else {
            values.push(obj.getattr(name)?);
            own = None;
            module = None;
            continue;
        };
        let follows = follows.get();
        if own.is_none() {
            own = Some(instance_dict(obj)?);
        }
        if let Some(value) = follows.own_value(own.as_ref().and_then(Option::as_ref))? {
            values.push(value);
            continue;
        }
        let attribute = follows.module_attribute.as_ptr();
        let followed = match &module {
            Some((known, followed)) if *known == attribute => followed.clone(),
            _ => {
                let followed = follows.module_of(class.as_any())?;
                module = Some((attribute, followed.clone()));
                followed
            }
        };
        values.push(follows.global_in(&followed)?);
    }
    Ok(values
        .try_into()
        .unwrap_or_else(|_| unreachable!("one value per name")))
}
