//! The Python exception hierarchy, rooted at `zelos.ZelosError`, and the mapping from
//! [`crate::Error`].

use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyMemoryError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyTuple, PyType};

use crate::Error;

create_exception!(zelos, ZelosError, PyException, "Base class of every zelos error.");
create_exception!(zelos, SpecError, ZelosError, "An emulator spec is malformed or inconsistent.");
create_exception!(zelos, ArchiveError, ZelosError, "An archive is malformed, tampered with or unsafe.");
create_exception!(zelos, ModelError, ZelosError, "An archive's evaluation graph is inconsistent.");
create_exception!(zelos, ParameterError, ZelosError, "Parameters given to an emulator are unusable.");
create_exception!(zelos, OutOfRange, ParameterError, "A parameter lies outside the emulator's training box.");

/// `zelos.OutOfMemory`: both a `ZelosError` and a `MemoryError`, so that either `except`
/// catches a batch too large for the machine. Two bases are beyond `create_exception!`, so
/// the class is made by calling `type(name, bases, namespace)`, once.
fn out_of_memory_type(py: Python<'_>) -> PyResult<&Bound<'_, PyType>> {
    static TYPE: PyOnceLock<Py<PyType>> = PyOnceLock::new();
    TYPE.get_or_try_init(py, || {
        let bases = PyTuple::new(py, [py.get_type::<ZelosError>(), py.get_type::<PyMemoryError>()])?;
        let namespace = PyDict::new(py);
        namespace.set_item("__module__", "zelos")?;
        namespace.set_item(
            "__doc__",
            "Memory for an evaluation could not be allocated (a batch too large for this machine).",
        )?;
        let class = py.get_type::<PyType>().call1(("OutOfMemory", bases, namespace))?;
        Ok(class.cast_into::<PyType>()?.unbind())
    })
    .map(|class| class.bind(py))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("OutOfMemory", out_of_memory_type(py)?)?;
    m.add("ZelosError", py.get_type::<ZelosError>())?;
    m.add("SpecError", py.get_type::<SpecError>())?;
    m.add("ArchiveError", py.get_type::<ArchiveError>())?;
    m.add("ModelError", py.get_type::<ModelError>())?;
    m.add("ParameterError", py.get_type::<ParameterError>())?;
    m.add("OutOfRange", py.get_type::<OutOfRange>())?;
    Ok(())
}

/// Converts a core error into the matching Python exception.
pub fn to_py(e: Error) -> PyErr {
    let message = e.to_string();
    match e {
        Error::Spec(_) => SpecError::new_err(message),
        Error::Archive(_) => ArchiveError::new_err(message),
        Error::Model { .. } => ModelError::new_err(message),
        Error::Parameters(_) => ParameterError::new_err(message),
        Error::OutOfRange(_) => OutOfRange::new_err(message),
        Error::Io { .. } => ZelosError::new_err(message),
        Error::OutOfMemory(_) => Python::attach(|py| match out_of_memory_type(py) {
            Ok(class) => PyErr::from_type(class.clone(), message),
            Err(_) => PyMemoryError::new_err(message),
        }),
    }
}
