//! The Python objects jelly works with — Twisted's registries, security
//! classes, placeholders and fallback methods, the stock methods of PB's
//! flavors, the standard library's types, and the tag byte strings — looked
//! up once per interpreter.
//!
//! Twisted's objects are read from `pbfast._twisted`, which took them when
//! pbfast was imported: by the time jelly first runs, `twisted.spread.jelly`
//! may name pbfast's own module (a drop-in), whose `_Unjellier` is not
//! Twisted's.

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyDict, PyType};

/// The Python objects jelly works with, looked up once per interpreter.
/// All are Twisted's or the standard library's own objects.
pub struct PythonObjects {
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
    /// True if `decimal` is the C implementation's (whose methods run no
    /// Python code).
    pub native_decimal: bool,
    pub named_object: Py<PyAny>,
    pub set_type: Py<PyType>,
    pub frozenset_type: Py<PyType>,
    pub flavors: Flavors,
    pub atoms: Atoms,
}

/// The stock methods of Twisted's `flavors` classes. A Copyable or
/// RemoteCopy class whose methods are still these behaves as Twisted's
/// default, which the traversal then does itself; `substitutes` maps stock
/// functions that pbfast fixes to its fixed versions (same signatures).
pub struct Flavors {
    pub copyable_jelly_for: Py<PyAny>,
    pub get_state_to_copy_for: Py<PyAny>,
    pub get_state_to_copy: Py<PyAny>,
    pub get_type_to_copy_for: Py<PyAny>,
    pub get_type_to_copy: Py<PyAny>,
    pub referenceable_jelly_for: Py<PyAny>,
    pub remote_copy_unjelly_for: Py<PyAny>,
    pub set_copyable_state: Py<PyAny>,
    pub substitutes: Py<PyDict>,
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
    pub remote: Py<PyBytes>,
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

static REFS: PyOnceLock<PythonObjects> = PyOnceLock::new();

fn get<'py, T>(module: &Bound<'py, PyModule>, name: &str) -> PyResult<Py<T>>
where
    T: pyo3::PyTypeCheck,
{
    Ok(module.getattr(name)?.cast_into::<T>()?.unbind())
}

fn any(module: &Bound<'_, PyModule>, name: &str) -> PyResult<Py<PyAny>> {
    Ok(module.getattr(name)?.unbind())
}

impl PythonObjects {
    pub fn get(py: Python<'_>) -> PyResult<&'static PythonObjects> {
        REFS.get_or_try_init(py, || PythonObjects::load(py))
    }

    fn load(py: Python<'_>) -> PyResult<PythonObjects> {
        let jelly = py.import("pbfast._twisted")?;
        let crefutil = py.import("twisted.persisted.crefutil")?;
        let types = py.import("types")?;
        let datetime = py.import("datetime")?;
        let reflect = py.import("twisted.python.reflect")?;
        let builtins = py.import("builtins")?;
        let atom = |text: &[u8]| PyBytes::new(py, text).unbind();
        Ok(PythonObjects {
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
            native_decimal: match py.import("_decimal") {
                Ok(native) => native
                    .getattr("Decimal")?
                    .is(py.import("decimal")?.getattr("Decimal")?),
                Err(_) => false,
            },
            named_object: any(&reflect, "namedObject")?,
            set_type: get(&builtins, "set")?,
            frozenset_type: get(&builtins, "frozenset")?,
            flavors: Flavors {
                copyable_jelly_for: any(&jelly, "Copyable_jellyFor")?,
                get_state_to_copy_for: any(&jelly, "Copyable_getStateToCopyFor")?,
                get_state_to_copy: any(&jelly, "Copyable_getStateToCopy")?,
                get_type_to_copy_for: any(&jelly, "Copyable_getTypeToCopyFor")?,
                get_type_to_copy: any(&jelly, "Copyable_getTypeToCopy")?,
                referenceable_jelly_for: any(&jelly, "Referenceable_jellyFor")?,
                remote_copy_unjelly_for: any(&jelly, "RemoteCopy_unjellyFor")?,
                set_copyable_state: any(&jelly, "RemoteCopy_setCopyableState")?,
                substitutes: get(&py.import("pbfast.flavors")?, "_SUBSTITUTES")?,
            },
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
                remote: atom(b"remote"),
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
