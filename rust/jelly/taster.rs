//! How a taster (a security policy: `SecurityOptions` or anything with its
//! methods) is consulted, both ways.
//!
//! Uses [`super::refs`].

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};

use super::refs::Refs;

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

impl Taster {
    pub fn new(taster: &Bound<'_, PyAny>, refs: &Refs) -> Taster {
        let ty = taster.get_type();
        if ty.is(refs.dummy_security.bind(taster.py())) {
            return Taster::Dummy;
        }
        if ty.is(refs.security_options.bind(taster.py())) {
            let py = taster.py();
            // The instance's own attributes, as SecurityOptions.__init__ sets
            // them: read from its __dict__ (one lookup each), or through
            // getattr if they are not there.
            // SAFETY: PyObject_GenericGetDict returns a new reference to the
            // instance dict (or NULL with an exception, cleared here).
            let own = unsafe {
                Bound::from_owned_ptr_or_err(
                    py,
                    pyo3::ffi::PyObject_GenericGetDict(taster.as_ptr(), std::ptr::null_mut()),
                )
            }
            .ok()
            .and_then(|own| own.cast_into::<PyDict>().ok());
            let dict = |name: &Bound<'_, pyo3::types::PyString>| -> Option<Py<PyDict>> {
                let value = match own
                    .as_ref()
                    .and_then(|own| own.get_item(name).ok().flatten())
                {
                    Some(value) => value,
                    None => taster.getattr(name).ok()?,
                };
                Some(value.cast_into::<PyDict>().ok()?.unbind())
            };
            if let (Some(types), Some(modules), Some(classes)) = (
                dict(pyo3::intern!(py, "allowedTypes")),
                dict(pyo3::intern!(py, "allowedModules")),
                dict(pyo3::intern!(py, "allowedClasses")),
            ) {
                return Taster::Security {
                    types,
                    modules,
                    classes,
                };
            }
        }
        Taster::Custom(taster.clone().unbind())
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
}
