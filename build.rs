//! The target Python's version as cfgs (`Py_3_12`, ...) when the bindings
//! are built: the C API for watching dicts differs between versions.

fn main() {
    #[cfg(feature = "python")]
    {
        pyo3_build_config::use_pyo3_cfgs();
        pyo3_build_config::print_expected_cfgs();
    }
    #[cfg(not(feature = "python"))]
    println!("cargo::rustc-check-cfg=cfg(Py_3_12)");
}
