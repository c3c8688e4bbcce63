//! Bindings of [`crate::spec`].

use std::path::PathBuf;

use pyo3::prelude::*;

use super::errors::to_py;
use crate::Spec;

/// Parses and validates a spec file; returns its canonical, self-contained YAML.
#[pyfunction]
pub fn load_spec(path: PathBuf) -> PyResult<String> {
    let spec = Spec::from_path(&path).map_err(|e| to_py(e.into()))?;
    Ok(spec.to_yaml_string())
}

/// Parses and validates spec text (`origin` names it in errors); returns the spec as JSON.
#[pyfunction]
pub fn parse_spec(text: &str, origin: &str) -> PyResult<String> {
    let spec = Spec::from_yaml_str(text, origin).map_err(|e| to_py(e.into()))?;
    Ok(serde_json::to_string(&spec).expect("a spec always serialises"))
}

/// `(names, matrix)`: the covariance of those of `names` a `.covmat` file holds, by name or a
/// known equivalent (CosmoMC's `theta`, Cobaya's `theta_MC_100`: 100 θ_MC), in their own units.
#[pyfunction]
pub fn read_covmat(path: PathBuf, names: Vec<String>) -> PyResult<(Vec<String>, Vec<Vec<f64>>)> {
    crate::spec::read_covmat(&path, &names).map_err(|e| to_py(e.into()))
}
