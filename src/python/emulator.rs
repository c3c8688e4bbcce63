//! Bindings of [`crate::emulator::Emulator`]: numpy in, numpy out, the GIL released while the
//! networks run.

use std::path::PathBuf;
use std::sync::Arc;

use numpy::ndarray::Array2;
use numpy::{IntoPyArray, PyArray1, PyArray2, PyReadonlyArray1, PyReadonlyArray2, PyUntypedArrayMethods};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use super::arrays;
use super::errors::to_py;
use crate::Emulator;

/// `(flat outputs, Jacobian [n_outputs, n_params])`.
type ValuesAndJacobian<'py> = (Bound<'py, PyArray1<f64>>, Bound<'py, PyArray2<f64>>);

#[pyclass(name = "Emulator", module = "zelos._zelos", frozen)]
pub struct PyEmulator {
    inner: Arc<Emulator>,
}

impl PyEmulator {
    /// The core emulator, for the other bindings (the router).
    pub(crate) fn core(&self) -> &Arc<Emulator> {
        &self.inner
    }
}

/// Loads and verifies an archive.
#[pyfunction]
pub fn load_emulator(py: Python<'_>, path: PathBuf) -> PyResult<PyEmulator> {
    let emulator = py.detach(|| Emulator::load(&path)).map_err(to_py)?;
    Ok(PyEmulator { inner: Arc::new(emulator) })
}

#[pymethods]
impl PyEmulator {
    #[getter]
    fn name(&self) -> &str {
        self.inner.name()
    }
    #[getter]
    fn origin(&self) -> &str {
        self.inner.origin()
    }
    #[getter]
    fn sha256(&self) -> &str {
        self.inner.sha256()
    }
    #[getter]
    fn parameters(&self) -> Vec<String> {
        self.inner.parameters().to_vec()
    }
    #[getter]
    fn n_outputs(&self) -> usize {
        self.inner.n_outputs()
    }
    #[getter]
    fn dtype(&self) -> &'static str {
        self.inner.model().dtype()
    }
    /// `[(name, offset, shape, axes)]` of the flat output vector.
    #[getter]
    fn layout(&self) -> Vec<(String, usize, Vec<usize>, Vec<String>)> {
        self.inner.outputs().iter().map(|o| (o.name.clone(), o.offset, o.shape.clone(), o.axes.clone())).collect()
    }
    #[getter]
    fn grids<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let dict = PyDict::new(py);
        for (axis, values) in self.inner.model().grids() {
            dict.set_item(axis, values.clone().into_pyarray(py))?;
        }
        Ok(dict)
    }
    /// `(lower, upper)` of the training box.
    #[getter]
    fn bounds<'py>(&self, py: Python<'py>) -> (Bound<'py, PyArray1<f64>>, Bound<'py, PyArray1<f64>>) {
        let (lo, hi) = self.inner.bounds();
        (lo.to_vec().into_pyarray(py), hi.to_vec().into_pyarray(py))
    }
    /// `[(name, value)]`: the parameters the spec's `code.settings` hold fixed
    /// (`CodeSpec::fixed_parameters`: numeric settings, not varied parameters).
    #[getter]
    fn fixed_settings(&self) -> Vec<(String, f64)> {
        self.inner.spec().code.fixed_parameters(self.inner.parameters())
    }
    #[getter]
    fn spec_yaml(&self) -> &str {
        self.inner.spec_yaml()
    }
    #[getter]
    fn spec_json(&self) -> String {
        serde_json::to_string(self.inner.spec()).expect("a spec always serialises")
    }
    #[getter]
    fn report_json(&self) -> String {
        self.inner.report().to_string()
    }
    /// `(likelihood, p99)`: the likelihood of `zelos validate` with the largest 99th percentile
    /// of |Δχ²| (what the router ranks by), or None when the report states none.
    #[getter]
    fn worst_validated_likelihood(&self) -> Option<(String, f64)> {
        crate::router::worst_likelihood(self.inner.report())
    }
    #[getter]
    fn report_markdown(&self) -> &str {
        self.inner.report_markdown()
    }
    #[getter]
    fn region_tensors<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let dict = PyDict::new(py);
        for (name, t) in &self.inner.region().tensors {
            let values: Vec<f64> = t.to_vec();
            let array = numpy::ndarray::ArrayD::from_shape_vec(t.shape.clone(), values)
                .expect("tensor shape matches its length");
            dict.set_item(name, array.into_pyarray(py))?;
        }
        Ok(dict)
    }

    /// Raises `ParameterError` (wrong length, non-finite) or `OutOfRange` (outside the box).
    fn check_point(&self, x: PyReadonlyArray1<'_, f64>) -> PyResult<()> {
        self.inner.check_point(&arrays::values(&x)).map_err(to_py)
    }

    /// One point (parameter order) -> the flat output vector. With `check`, the point is first
    /// checked as by `check_point` (non-finite: `ParameterError`; outside the box: `OutOfRange`).
    /// With `networks`, only those networks run; the other outputs are NaN.
    #[pyo3(signature = (x, check=false, networks=None))]
    fn eval<'py>(
        &self,
        py: Python<'py>,
        x: PyReadonlyArray1<'py, f64>,
        check: bool,
        networks: Option<Vec<String>>,
    ) -> PyResult<Bound<'py, PyArray1<f64>>> {
        let x = arrays::values(&x);
        if check {
            self.inner.check_point(&x).map_err(to_py)?;
        }
        let inner = &self.inner;
        let out = match networks {
            None => py.detach(|| inner.eval(&x)),
            Some(names) => py.detach(|| inner.eval_networks(&x, &names)),
        }
        .map_err(to_py)?;
        Ok(out.into_pyarray(py))
    }

    /// `[n, n_params]` -> `[n, n_outputs]`. A C-contiguous float64 input is read in place; any
    /// other layout (Fortran order, strided views) is copied in row order first.
    /// Any batch is safe: memory that cannot be allocated raises `zelos.OutOfMemory` (a
    /// `ZelosError` and a `MemoryError`) naming the batch size and the bytes, never an abort.
    fn eval_batch<'py>(&self, py: Python<'py>, x: PyReadonlyArray2<'py, f64>) -> PyResult<Bound<'py, PyArray2<f64>>> {
        let n = x.shape()[0];
        let flat = arrays::try_values(&x).map_err(|_| {
            to_py(crate::Error::OutOfMemory(format!(
                "{}: a batch of {n} points: {} bytes for a contiguous copy of the input could not be allocated",
                self.inner.name(),
                x.len() as u128 * 8
            )))
        })?;
        let inner = &self.inner;
        let out = py.detach(|| inner.eval_batch(&flat, n)).map_err(to_py)?;
        let array = Array2::from_shape_vec((n, self.inner.n_outputs()), out).expect("eval_batch returns n x n_outputs");
        Ok(array.into_pyarray(py))
    }

    /// One point -> (flat outputs, Jacobian `[n_outputs, n_params]`).
    fn jacobian<'py>(
        &self,
        py: Python<'py>,
        x: PyReadonlyArray1<'py, f64>,
    ) -> PyResult<ValuesAndJacobian<'py>> {
        let x = arrays::values(&x);
        let p = x.len();
        let inner = &self.inner;
        let (out, jac) = py.detach(|| inner.jacobian(&x)).map_err(to_py)?;
        let jac = Array2::from_shape_vec((out.len(), p), jac).expect("jacobian is n_outputs x n_params");
        Ok((out.into_pyarray(py), jac.into_pyarray(py)))
    }
}
