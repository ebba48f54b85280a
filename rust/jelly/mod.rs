//! Jelly: Python object graphs to s-expressions and back, natively.
//!
//! The registry, the security policy and the hooks stay Python and are
//! Twisted's own objects (`unjellyableRegistry`, `SecurityOptions`,
//! `Jellyable.jellyFor`, `Unjellyable.unjellyFor`, ...): this module reads
//! them at the time of use and never keeps a copy. What moves into Rust is the
//! traversal: type dispatch, containers, shared and cyclic references.
//!
//! Both directions recurse natively once per nesting level, bounded by a
//! depth limit well below what the native stack could take.

pub mod decode;
pub mod encode;
pub mod load;

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyDict, PyType};

/// Default limit on object nesting, both ways. Twisted's jelly recurses in
/// Python, two or three frames a level, so it stops near 330 levels at
/// Python's default recursion limit; a peer cannot send anything deeper
/// that Twisted would accept.
pub const MAX_DEPTH: usize = 1000;
// The constructors' signatures spell the default out (so that Python sees
// the number): keep them in step.
const _: () = assert!(MAX_DEPTH == 1000);

/// The Python objects jelly works with, looked up once per interpreter.
/// All are Twisted's or the standard library's own objects.
pub struct Refs {
    pub jellyable: Py<PyType>,
    pub insecure_jelly: Py<PyType>,
    pub dummy_security: Py<PyType>,
    pub security_options: Py<PyType>,
    /// `globalSecurity`, the default taster of `loads`.
    pub global_security: Py<PyAny>,
    /// A `DummySecurityOptions()`, the default taster of `dumps`.
    pub permissive: Py<PyAny>,
    pub unjellyable_registry: Py<PyDict>,
    pub factory_registry: Py<PyDict>,
    pub create_blank: Py<PyAny>,
    pub new_instance: Py<PyAny>,
    pub twisted_jellier: Py<PyType>,
    pub twisted_unjellier: Py<PyType>,
    pub not_known: Py<PyType>,
    pub tuple_container: Py<PyAny>,
    pub container: Py<PyAny>,
    pub dereference: Py<PyAny>,
    pub method_type: Py<PyType>,
    pub function_type: Py<PyType>,
    pub module_type: Py<PyType>,
    pub datetime: Py<PyType>,
    pub date: Py<PyType>,
    pub time: Py<PyType>,
    pub timedelta: Py<PyType>,
    pub decimal: Py<PyType>,
    pub named_object: Py<PyAny>,
    pub set_type: Py<PyType>,
    pub frozenset_type: Py<PyType>,
    pub atoms: Atoms,
}

/// Interned tag byte strings.
pub struct Atoms {
    pub none: Py<PyBytes>,
    pub unicode: Py<PyBytes>,
    pub boolean: Py<PyBytes>,
    pub r#true: Py<PyBytes>,
    pub r#false: Py<PyBytes>,
    pub list: Py<PyBytes>,
    pub tuple: Py<PyBytes>,
    pub dictionary: Py<PyBytes>,
    pub set: Py<PyBytes>,
    pub frozenset: Py<PyBytes>,
    pub reference: Py<PyBytes>,
    pub dereference: Py<PyBytes>,
    pub persistent: Py<PyBytes>,
    pub unpersistable: Py<PyBytes>,
    pub class: Py<PyBytes>,
    pub module: Py<PyBytes>,
    pub function: Py<PyBytes>,
    pub method: Py<PyBytes>,
    pub datetime: Py<PyBytes>,
    pub date: Py<PyBytes>,
    pub time: Py<PyBytes>,
    pub timedelta: Py<PyBytes>,
    pub decimal: Py<PyBytes>,
}

static REFS: PyOnceLock<Refs> = PyOnceLock::new();

fn get<'py, T>(module: &Bound<'py, PyModule>, name: &str) -> PyResult<Py<T>>
where
    T: pyo3::PyTypeCheck,
{
    Ok(module.getattr(name)?.cast_into::<T>()?.unbind())
}

fn any(module: &Bound<'_, PyModule>, name: &str) -> PyResult<Py<PyAny>> {
    Ok(module.getattr(name)?.unbind())
}

impl Refs {
    pub fn get(py: Python<'_>) -> PyResult<&'static Refs> {
        REFS.get_or_try_init(py, || Refs::load(py))
    }

    fn load(py: Python<'_>) -> PyResult<Refs> {
        let jelly = py.import("twisted.spread.jelly")?;
        let crefutil = py.import("twisted.persisted.crefutil")?;
        let types = py.import("types")?;
        let datetime = py.import("datetime")?;
        let reflect = py.import("twisted.python.reflect")?;
        let builtins = py.import("builtins")?;
        let atom = |text: &[u8]| PyBytes::new(py, text).unbind();
        Ok(Refs {
            jellyable: get(&jelly, "Jellyable")?,
            insecure_jelly: get(&jelly, "InsecureJelly")?,
            dummy_security: get(&jelly, "DummySecurityOptions")?,
            security_options: get(&jelly, "SecurityOptions")?,
            global_security: any(&jelly, "globalSecurity")?,
            permissive: jelly.getattr("DummySecurityOptions")?.call0()?.unbind(),
            unjellyable_registry: get(&jelly, "unjellyableRegistry")?,
            factory_registry: get(&jelly, "unjellyableFactoryRegistry")?,
            create_blank: any(&jelly, "_createBlank")?,
            new_instance: any(&jelly, "_newInstance")?,
            twisted_jellier: get(&jelly, "_Jellier")?,
            twisted_unjellier: get(&jelly, "_Unjellier")?,
            not_known: get(&crefutil, "NotKnown")?,
            tuple_container: any(&crefutil, "_Tuple")?,
            container: any(&crefutil, "_Container")?,
            dereference: any(&crefutil, "_Dereference")?,
            method_type: get(&types, "MethodType")?,
            function_type: get(&types, "FunctionType")?,
            module_type: get(&types, "ModuleType")?,
            datetime: get(&datetime, "datetime")?,
            date: get(&datetime, "date")?,
            time: get(&datetime, "time")?,
            timedelta: get(&datetime, "timedelta")?,
            decimal: get(&py.import("decimal")?, "Decimal")?,
            named_object: any(&reflect, "namedObject")?,
            set_type: get(&builtins, "set")?,
            frozenset_type: get(&builtins, "frozenset")?,
            atoms: Atoms {
                none: atom(b"None"),
                unicode: atom(b"unicode"),
                boolean: atom(b"boolean"),
                r#true: atom(b"true"),
                r#false: atom(b"false"),
                list: atom(b"list"),
                tuple: atom(b"tuple"),
                dictionary: atom(b"dictionary"),
                set: atom(b"set"),
                frozenset: atom(b"frozenset"),
                reference: atom(b"reference"),
                dereference: atom(b"dereference"),
                persistent: atom(b"persistent"),
                unpersistable: atom(b"unpersistable"),
                class: atom(b"class"),
                module: atom(b"module"),
                function: atom(b"function"),
                method: atom(b"method"),
                datetime: atom(b"datetime"),
                date: atom(b"date"),
                time: atom(b"time"),
                timedelta: atom(b"timedelta"),
                decimal: atom(b"decimal"),
            },
        })
    }

    /// `InsecureJelly(message)`.
    pub fn insecure(&self, py: Python<'_>, message: impl Into<String>) -> PyErr {
        PyErr::from_type(self.insecure_jelly.bind(py).clone(), (message.into(),))
    }

    /// `InsecureJelly(object)`, for the cases where Twisted raises it with the
    /// offending object (a type tag) as its argument.
    pub fn insecure_object(&self, object: &Bound<'_, PyAny>) -> PyErr {
        PyErr::from_type(
            self.insecure_jelly.bind(object.py()).clone(),
            (object.clone().unbind(),),
        )
    }
}

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

/// Counts nesting; the guard gives the level back when dropped.
pub struct Depth<'a> {
    cell: &'a std::cell::Cell<usize>,
}

impl<'a> Depth<'a> {
    /// Enter one level, or `None` past `limit`.
    pub fn enter(cell: &'a std::cell::Cell<usize>, limit: usize) -> Option<Depth<'a>> {
        let level = cell.get();
        if level >= limit {
            return None;
        }
        cell.set(level + 1);
        Some(Depth { cell })
    }
}

impl Drop for Depth<'_> {
    fn drop(&mut self) {
        self.cell.set(self.cell.get() - 1);
    }
}

/// `qual(cls)`: `module.Qualname`, as Twisted's `reflect.qual` builds it.
pub fn qual(class: &Bound<'_, PyAny>) -> PyResult<String> {
    let module = class.getattr(pyo3::intern!(class.py(), "__module__"))?;
    let name = class.getattr(pyo3::intern!(class.py(), "__qualname__"))?;
    Ok(format!("{}.{}", module.str()?, name.str()?))
}
