//! How a taster (a security policy: `SecurityOptions` or anything with its
//! methods) is consulted, both ways.

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};

use super::python_objects::PythonObjects;
use super::tags::Builtin;
use crate::pybanana::instance::instance_dict;
use crate::pybanana::watched::{instance_dict_tag, lock, Cache, Watched};

/// How a taster (a security policy) is consulted. Twisted's two stock
/// classes are read directly, which is exactly what their methods do;
/// anything else, subclasses included, is asked through its methods.
pub enum Taster {
    /// `DummySecurityOptions`: everything is allowed.
    Dummy,
    /// `SecurityOptions`: its three dicts.
    Security {
        types: Py<PyDict>,
        modules: Py<PyDict>,
        classes: Py<PyDict>,
    },
    /// Any other object with the taster methods.
    Custom(Py<PyAny>),
}

/// The built-in tags that need no check (see [`Taster::plain_builtins`]),
/// kept while the dicts they were worked out from are unchanged: under
/// `DummySecurityOptions` (the two registries), and under the last few
/// `allowedTypes` (with the registries).
struct PlainBuiltins {
    dummy: Option<(Watched<2>, u32)>,
    security: Vec<(Watched<3>, u32)>,
}
static PLAIN_BUILTINS: Cache<PlainBuiltins> = Cache::new(PlainBuiltins {
    dummy: None,
    security: Vec::new(),
});
/// The last `SecurityOptions` whose three dicts were read from its instance
/// dict: that dict's address and tag then, and the three dicts' addresses
/// (see [`Taster::security`]).
static LAST_SECURITY: Cache<(usize, u64, [usize; 3])> = Cache::new((0, 0, [0; 3]));

/// `allowedTypes` dicts whose answers are kept at once.
const SECURITY_KEPT: usize = 4;

impl Taster {
    pub fn new(taster: &Bound<'_, PyAny>, refs: &PythonObjects) -> Taster {
        let ty = taster.get_type();
        if ty.is(refs.dummy_security.bind(taster.py())) {
            return Taster::Dummy;
        }
        if ty.is(refs.security_options.bind(taster.py())) {
            if let Some(security) = Taster::security(taster) {
                return security;
            }
        }
        Taster::Custom(taster.clone().unbind())
    }

    /// A `SecurityOptions`' three dicts, as its attributes are now.
    ///
    /// Read from its instance dict (a lookup each), where `SecurityOptions`
    /// keeps them, or through getattr if they are not there. What was read
    /// from the instance dict is kept with the dict's tag, where CPython
    /// gives one that tells every change to the instance's attributes
    /// (see [`instance_dict_tag`]): while the dict is unchanged, it still
    /// holds the same three dicts.
    fn security(taster: &Bound<'_, PyAny>) -> Option<Taster> {
        let py = taster.py();
        // An error getting it (out of memory) leaves getattr to meet it.
        let own = instance_dict(taster).ok().flatten();
        let tag = own.as_ref().and_then(instance_dict_tag);
        if let (Some(own), Some(tag)) = (&own, tag) {
            let (known, known_tag, dicts) = *lock(py, &LAST_SECURITY);
            if known == own.as_ptr() as usize && known_tag == tag {
                // SAFETY: the three were dicts (checked when kept), held by
                // the instance dict, which has not changed since (its tag
                // is never given to another state): they are alive. Each
                // is taken as a new reference at once.
                let [types, modules, classes] = dicts.map(|dict| unsafe {
                    Bound::from_borrowed_ptr(py, dict as *mut pyo3::ffi::PyObject)
                        .cast_into_unchecked::<PyDict>()
                        .unbind()
                });
                return Some(Taster::Security {
                    types,
                    modules,
                    classes,
                });
            }
        }
        let mut all_own = true;
        let mut dict = |name: &Bound<'_, pyo3::types::PyString>| -> Option<Py<PyDict>> {
            let found = own.as_ref().and_then(|own| {
                // SAFETY: a borrowed reference (or NULL, with or without an
                // exception, cleared) from a dict the caller holds, taken
                // as a new reference at once.
                unsafe {
                    let item = pyo3::ffi::PyDict_GetItemWithError(own.as_ptr(), name.as_ptr());
                    if item.is_null() {
                        pyo3::ffi::PyErr_Clear();
                        return None;
                    }
                    Some(Bound::from_borrowed_ptr(py, item))
                }
            });
            let value = match found {
                Some(value) => value,
                None => {
                    all_own = false;
                    taster.getattr(name).ok()?
                }
            };
            Some(value.cast_into::<PyDict>().ok()?.unbind())
        };
        let types = dict(pyo3::intern!(py, "allowedTypes"))?;
        let modules = dict(pyo3::intern!(py, "allowedModules"))?;
        let classes = dict(pyo3::intern!(py, "allowedClasses"))?;
        // Kept if all three were the instance dict's, and it is still at the
        // tag it had before they were read (a lookup may run a key's
        // `__eq__`, which may change it).
        if let (true, Some(own), Some(tag)) = (all_own, &own, tag) {
            if instance_dict_tag(own) == Some(tag) {
                let address = |dict: &Py<PyDict>| dict.as_ptr() as usize;
                *lock(py, &LAST_SECURITY) = (
                    own.as_ptr() as usize,
                    tag,
                    [address(&types), address(&modules), address(&classes)],
                );
            }
        }
        Some(Taster::Security {
            types,
            modules,
            classes,
        })
    }

    /// `isTypeAllowed(name)`; `name_bytes` is `name` as bytes.
    pub fn type_allowed(
        &self,
        name: &Bound<'_, PyAny>,
        name_bytes: &Bound<'_, PyBytes>,
    ) -> PyResult<bool> {
        match self {
            Taster::Dummy => Ok(true),
            Taster::Security { types, .. } => Ok(types.bind(name.py()).contains(name_bytes)?
                || name_bytes.as_bytes().contains(&b'.')),
            Taster::Custom(taster) => taster
                .bind(name.py())
                .call_method1(pyo3::intern!(name.py(), "isTypeAllowed"), (name,))?
                .is_truthy(),
        }
    }

    /// `isModuleAllowed(name)`.
    pub fn module_allowed(&self, py: Python<'_>, name: &str) -> PyResult<bool> {
        match self {
            Taster::Dummy => Ok(true),
            Taster::Security { modules, .. } => {
                modules.bind(py).contains(PyBytes::new(py, name.as_bytes()))
            }
            Taster::Custom(taster) => taster
                .bind(py)
                .call_method1(pyo3::intern!(py, "isModuleAllowed"), (name,))?
                .is_truthy(),
        }
    }

    /// `isClassAllowed(klass)`.
    pub fn class_allowed(&self, class: &Bound<'_, PyAny>) -> PyResult<bool> {
        match self {
            Taster::Dummy => Ok(true),
            Taster::Security { classes, .. } => classes.bind(class.py()).contains(class),
            Taster::Custom(taster) => taster
                .bind(class.py())
                .call_method1(pyo3::intern!(class.py(), "isClassAllowed"), (class,))?
                .is_truthy(),
        }
    }

    /// True when `isTypeAllowed` is known to allow every jellied type name
    /// (`module.Qualname` always has a dot, which `SecurityOptions` allows).
    pub fn allows_all_type_names(&self) -> bool {
        !matches!(self, Taster::Custom(_))
    }

    /// The built-in tags (one bit per [`Builtin`]) that need no check under
    /// this policy now: allowed by it, and claimed by neither registry.
    /// `None` for a custom taster, whose answers can change unseen.
    ///
    /// Worked out again only when the policy's `allowedTypes` or a registry
    /// has changed in any way since (see [`Watched`]), so that it stays
    /// exact when they change between calls or during one (a hook may
    /// register a class or allow a type).
    pub(crate) fn plain_builtins(
        &self,
        py: Python<'_>,
        refs: &PythonObjects,
    ) -> PyResult<Option<u32>> {
        let registry = refs.unjellyable_registry.bind(py);
        let factories = refs.factory_registry.bind(py);
        let types = match self {
            Taster::Custom(_) => return Ok(None),
            Taster::Dummy => None,
            Taster::Security { types, .. } => Some(types.bind(py)),
        };
        {
            let kept = lock(py, &PLAIN_BUILTINS);
            let found = match types {
                None => kept
                    .dummy
                    .filter(|(watched, _)| watched.holds([registry, factories]))
                    .map(|(_, plain)| plain),
                Some(types) => kept
                    .security
                    .iter()
                    .find(|(watched, _)| watched.holds([types, registry, factories]))
                    .map(|(_, plain)| *plain),
            };
            if found.is_some() {
                return Ok(found);
            }
        }
        // Recorded before asking: a change meanwhile (a key's __eq__ may run
        // Python code) makes the next check work it out again.
        enum Recorded {
            Dummy(Option<Watched<2>>),
            Security(Option<Watched<3>>),
        }
        let recorded = match types {
            None => Recorded::Dummy(Watched::now([registry, factories])),
            Some(types) => Recorded::Security(Watched::now([types, registry, factories])),
        };
        let mut plain = 0;
        for builtin in Builtin::ALL {
            let tag = builtin.atom(refs).bind(py);
            let allowed = match types {
                None => true,
                Some(types) => types.contains(tag)?,
            };
            if allowed && !registry.contains(tag)? && !factories.contains(tag)? {
                plain |= builtin.bit();
            }
        }
        let mut kept = lock(py, &PLAIN_BUILTINS);
        match recorded {
            Recorded::Dummy(watched) => kept.dummy = watched.map(|watched| (watched, plain)),
            Recorded::Security(Some(watched)) => {
                if kept.security.len() == SECURITY_KEPT {
                    kept.security.remove(0);
                }
                kept.security.push((watched, plain));
            }
            Recorded::Security(None) => {}
        }
        Ok(Some(plain))
    }
}
