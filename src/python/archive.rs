//! Bindings of [`crate::archive`] and of [`crate::emulator::EmulatorArchive`].

use std::collections::BTreeMap;
use std::path::PathBuf;

use numpy::{PyReadonlyArrayDyn, PyUntypedArrayMethods};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};

use super::errors::{to_py, SpecError};
use crate::archive::Archive;
use crate::emulator::EmulatorArchive;
use crate::model::ModelDescription;
use crate::tensors::{Tensor, TensorSet};
use crate::{Error, Spec};

/// Writes an emulator archive from its parts; the contents are checked to load before the
/// file is (atomically) written. Returns the archive's sha256.
#[pyfunction]
#[pyo3(signature = (path, spec_yaml, model_json, weights, region, report_json, report_md, extra=None))]
#[allow(clippy::too_many_arguments)]
pub fn write_emulator_archive(
    py: Python<'_>,
    path: PathBuf,
    spec_yaml: &str,
    model_json: &str,
    weights: &Bound<'_, PyDict>,
    region: &Bound<'_, PyDict>,
    report_json: &str,
    report_md: String,
    extra: Option<BTreeMap<String, Vec<u8>>>,
) -> PyResult<String> {
    let spec = Spec::from_yaml_str(spec_yaml, "spec").map_err(|e| to_py(e.into()))?;
    let model: ModelDescription = serde_json::from_str(model_json)
        .map_err(|e| to_py(Error::model(path.display().to_string(), format!("model.json: {e}"))))?;
    let report = serde_json::from_str(report_json).map_err(|e| SpecError::new_err(format!("report.json: {e}")))?;
    let contents = EmulatorArchive {
        spec,
        model,
        weights: tensor_set(weights)?,
        region: tensor_set(region)?,
        report,
        report_md,
        extra: extra.unwrap_or_default().into_iter().collect(),
    };
    py.detach(|| contents.write(&path)).map_err(to_py)
}

/// Reads and verifies an archive; returns `{member name: bytes}`.
#[pyfunction]
pub fn read_archive_members<'py>(py: Python<'py>, path: PathBuf) -> PyResult<Bound<'py, PyDict>> {
    let archive = py.detach(|| Archive::read(&path)).map_err(|e| to_py(e.into()))?;
    let dict = PyDict::new(py);
    for name in archive.member_names() {
        dict.set_item(name, PyBytes::new(py, archive.member(name).unwrap_or_default()))?;
    }
    Ok(dict)
}

/// Reads and verifies an archive, then writes its members below `directory`.
#[pyfunction]
pub fn extract_archive(py: Python<'_>, path: PathBuf, directory: PathBuf) -> PyResult<()> {
    py.detach(|| -> crate::Result<()> { Ok(Archive::read(&path)?.extract_to(&directory)?) }).map_err(to_py)
}

/// `{name: float32 or float64 numpy array}` -> [`TensorSet`].
fn tensor_set(dict: &Bound<'_, PyDict>) -> PyResult<TensorSet> {
    let mut set = TensorSet::new();
    for (key, value) in dict.iter() {
        let name: String = key.extract()?;
        let tensor = if let Ok(a) = value.extract::<PyReadonlyArrayDyn<'_, f64>>() {
            Tensor::f64(a.shape().to_vec(), a.as_array().iter().copied().collect())
        } else if let Ok(a) = value.extract::<PyReadonlyArrayDyn<'_, f32>>() {
            Tensor::f32(a.shape().to_vec(), a.as_array().iter().copied().collect())
        } else {
            return Err(PyTypeError::new_err(format!("tensor `{name}`: expected a float32 or float64 numpy array")));
        };
        set.insert(name, tensor);
    }
    Ok(set)
}
