//! Bindings of [`crate::region`]: trust regions and their decisions (numpy in, the GIL
//! released while deciding).

use std::sync::Arc;

use numpy::{IntoPyArray, PyArray1, PyReadonlyArray1, PyReadonlyArray2, PyUntypedArrayMethods};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use super::arrays;
use super::emulator::PyEmulator;
use super::errors::to_py;
use crate::region::{Decision, RegionData, TrustRegion};
use crate::spec::{Threshold, TrustMethod};

#[pyclass(name = "TrustRegion", module = "zelos._zelos", frozen)]
pub struct PyTrustRegion {
    pub(crate) inner: Arc<TrustRegion>,
}

/// One method's verdict: `(method, inside, distance, threshold, note)`.
pub type CheckTuple = (String, bool, f64, f64, Option<String>);

#[pyclass(name = "Decision", module = "zelos._zelos", frozen, get_all)]
pub struct PyDecision {
    inside: bool,
    distance: f64,
    threshold: f64,
    method: Option<String>,
    excess: f64,
    reason: String,
    checks: Vec<CheckTuple>,
}

impl From<Decision> for PyDecision {
    fn from(d: Decision) -> Self {
        PyDecision {
            inside: d.inside,
            distance: d.distance(),
            threshold: d.threshold(),
            method: d.method().map(|m| m.as_str().to_string()),
            excess: d.excess(),
            reason: d.reason(),
            checks: d.checks.into_iter().map(|c| (c.method.as_str().to_string(), c.inside, c.distance, c.threshold, c.note)).collect(),
        }
    }
}

#[pymethods]
impl PyDecision {
    fn __repr__(&self) -> String {
        format!("Decision(inside={}, distance={}, reason={:?})", if self.inside { "True" } else { "False" }, self.distance, self.reason)
    }
}

#[pymethods]
impl PyTrustRegion {
    /// A region from its parts: `methods` (`box`, `mahalanobis`, `hull`; all must accept),
    /// exactly one of `chi2_quantile` / `pico` for Mahalanobis (default chi2 0.999).
    #[new]
    #[pyo3(signature = (parameters, methods, lower, upper, mean=None, covariance=None, points=None, chi2_quantile=None, pico=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        parameters: Vec<String>,
        methods: Vec<String>,
        lower: PyReadonlyArray1<'_, f64>,
        upper: PyReadonlyArray1<'_, f64>,
        mean: Option<PyReadonlyArray1<'_, f64>>,
        covariance: Option<PyReadonlyArray2<'_, f64>>,
        points: Option<PyReadonlyArray2<'_, f64>>,
        chi2_quantile: Option<f64>,
        pico: Option<f64>,
    ) -> PyResult<Self> {
        let methods = methods
            .iter()
            .map(|m| {
                TrustMethod::ALL.iter().copied().find(|t| t.as_str() == m).ok_or_else(|| {
                    PyValueError::new_err(format!("unknown trust method `{m}`; expected box, mahalanobis or hull"))
                })
            })
            .collect::<PyResult<Vec<_>>>()?;
        let threshold = match (chi2_quantile, pico) {
            (Some(q), None) => Threshold::Chi2Quantile(q),
            (None, Some(f)) => Threshold::Pico(f),
            (None, None) => Threshold::Chi2Quantile(0.999),
            _ => return Err(PyValueError::new_err("give at most one of `chi2_quantile`, `pico`")),
        };
        if let Threshold::Chi2Quantile(q) = threshold {
            if !(q > 0.0 && q < 1.0) {
                return Err(PyValueError::new_err(format!("chi2_quantile = {q}; expected a quantile in (0, 1)")));
            }
        }
        if let Threshold::Pico(f) = threshold {
            if !(f > 0.0 && f <= 1.0) {
                return Err(PyValueError::new_err(format!("pico = {f}; expected a fraction in (0, 1]")));
            }
        }
        if let Some(c) = &covariance {
            if c.shape() != [parameters.len(), parameters.len()] {
                return Err(PyValueError::new_err(format!("covariance has shape {:?}; expected {1} x {1}", c.shape(), parameters.len())));
            }
        }
        if let Some(p) = &points {
            if p.shape()[1] != parameters.len() {
                return Err(PyValueError::new_err(format!("points have shape {:?}; expected (n, {})", p.shape(), parameters.len())));
            }
        }
        let data = RegionData {
            lower: arrays::values(&lower).into_owned(),
            upper: arrays::values(&upper).into_owned(),
            mean: mean.as_ref().map(|a| arrays::values(a).into_owned()),
            covariance: covariance.as_ref().map(|a| arrays::values(a).into_owned()),
            points: points.as_ref().map(|a| arrays::values(a).into_owned()),
            constraints: Vec::new(),
        };
        let region = py.detach(|| TrustRegion::new(parameters, &methods, threshold, data, "TrustRegion")).map_err(to_py)?;
        Ok(PyTrustRegion { inner: Arc::new(region) })
    }

    /// The region an emulator's spec asks for, from its archive.
    #[staticmethod]
    fn from_emulator(py: Python<'_>, emulator: &PyEmulator) -> PyResult<Self> {
        let e = emulator.core().clone();
        let region = py.detach(|| TrustRegion::from_emulator(&e)).map_err(to_py)?;
        Ok(PyTrustRegion { inner: Arc::new(region) })
    }

    #[getter]
    fn parameters(&self) -> Vec<String> {
        self.inner.parameters().to_vec()
    }
    /// The methods checked (those whose data the archive holds).
    #[getter]
    fn methods(&self) -> Vec<String> {
        self.inner.methods().iter().map(|m| m.as_str().to_string()).collect()
    }
    /// Notes on methods requested but skipped for lack of data.
    #[getter]
    fn skipped(&self) -> Vec<String> {
        self.inner.skipped()
    }
    #[getter]
    fn mahalanobis_threshold(&self) -> Option<f64> {
        self.inner.mahalanobis().map(|m| m.threshold())
    }

    /// One point (parameter order) -> Decision. Wrong length or non-finite: ParameterError.
    fn decide(&self, py: Python<'_>, x: PyReadonlyArray1<'_, f64>) -> PyResult<PyDecision> {
        let x = arrays::values(&x);
        let inner = &self.inner;
        Ok(py.detach(|| inner.decide(&x)).map_err(to_py)?.into())
    }

    fn contains(&self, py: Python<'_>, x: PyReadonlyArray1<'_, f64>) -> PyResult<bool> {
        let x = arrays::values(&x);
        let inner = &self.inner;
        py.detach(|| inner.contains(&x)).map_err(to_py)
    }

    /// `[n, p]` -> (inside `[n]` bool, excess `[n]`: 0 inside, how far beyond otherwise).
    #[allow(clippy::type_complexity)]
    fn decide_batch<'py>(&self, py: Python<'py>, x: PyReadonlyArray2<'py, f64>) -> PyResult<(Bound<'py, PyArray1<bool>>, Bound<'py, PyArray1<f64>>)> {
        let p = self.inner.parameters().len();
        if x.shape()[1] != p {
            return Err(PyValueError::new_err(format!("points have shape {:?}; expected (n, {p})", x.shape())));
        }
        let flat = arrays::values(&x);
        let inner = &self.inner;
        let (inside, excess): (Vec<bool>, Vec<f64>) = py
            .detach(|| {
                flat.chunks_exact(p)
                    .map(|row| inner.decide(row).map(|d| (d.inside, d.excess())))
                    .collect::<crate::Result<Vec<_>>>()
            })
            .map_err(to_py)?
            .into_iter()
            .unzip();
        Ok((inside.into_pyarray(py), excess.into_pyarray(py)))
    }
}
