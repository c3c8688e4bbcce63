//! Bindings of [`crate::router`]: the router (numpy in and out, the GIL released while it
//! routes and evaluates).

use std::sync::Arc;

use numpy::ndarray::ArrayD;
use numpy::{IntoPyArray, PyReadonlyArray1};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use super::arrays;
use super::emulator::PyEmulator;
use super::errors::to_py;
use super::region::PyTrustRegion;
use crate::router::{Accuracy, Covering, Entry, Fallback, Route, Router};

#[pyclass(name = "Router", module = "zelos._zelos", frozen)]
pub struct PyRouter {
    inner: Arc<Router>,
}

/// `(kind, detail, nearest, distance, parameter)`.
pub type FallbackTuple = (String, String, Option<String>, Option<f64>, Option<String>);

fn fallback_tuple(f: &Fallback) -> FallbackTuple {
    let parameter = match f {
        Fallback::ParameterNotEmulated { name, .. } | Fallback::MissingParameter { name, .. } | Fallback::NonFiniteInput { name } => {
            Some(name.clone())
        }
        _ => None,
    };
    let (nearest, distance) = match f.nearest() {
        Some((k, d)) => (Some(k.to_string()), Some(d)),
        None => (None, None),
    };
    (f.kind().to_string(), f.to_string(), nearest, distance, parameter)
}

#[pymethods]
impl PyRouter {
    #[new]
    fn new() -> Self {
        PyRouter { inner: Arc::new(Router::new()) }
    }

    /// Adds or swaps `key`. `region` overrides the one the spec asks for; `fixed` (name ->
    /// value) the parameters held fixed (default: the spec's numeric `code.settings`);
    /// `accuracy` the ranking, as a maximum relative error (default: the report's validated
    /// likelihood |Δχ²| p99, else its `summary.max_relative_error`; docs/trust-regions.md). Returns the
    /// sha256 of the emulator it replaced, if any.
    /// With `keep_rank`, a swap keeps the rank of the emulator it replaces
    /// (`Router::swap_keeping_rank`).
    #[pyo3(signature = (key, emulator, region=None, fixed=None, accuracy=None, keep_rank=false))]
    #[allow(clippy::too_many_arguments)]
    fn insert(
        &self,
        py: Python<'_>,
        key: String,
        emulator: &PyEmulator,
        region: Option<&PyTrustRegion>,
        fixed: Option<Vec<(String, f64)>>,
        accuracy: Option<f64>,
        keep_rank: bool,
    ) -> PyResult<Option<String>> {
        let e = emulator.core().clone();
        let region = region.map(|r| (*r.inner).clone());
        let inner = &self.inner;
        py.detach(|| {
            let mut entry = match region {
                Some(r) => Entry::with_region(key, e, r),
                None => Entry::new(key, e)?,
            };
            if let Some(f) = fixed {
                entry = entry.with_fixed(f);
            }
            if accuracy.is_some() {
                entry = entry.with_accuracy(accuracy.map(Accuracy::MaxRelativeError));
            }
            let replaced = if keep_rank { inner.swap_keeping_rank(entry) } else { inner.insert_entry(entry) };
            Ok(replaced.map(|old| old.emulator().sha256().to_string()))
        })
        .map_err(to_py)
    }

    /// Removes `key`; returns whether it was there.
    fn remove(&self, key: &str) -> bool {
        self.inner.remove(key).is_some()
    }

    /// Keys in rank order (best validated accuracy first).
    fn keys(&self) -> Vec<String> {
        self.inner.keys()
    }

    #[getter]
    fn generation(&self) -> u64 {
        self.inner.snapshot().generation()
    }

    /// `{key, name, sha256, accuracy, accuracy_statistic, parameters, outputs, fixed, methods,
    /// skipped}` per entry, in rank order.
    fn entries<'py>(&self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyDict>>> {
        let table = self.inner.snapshot();
        table
            .entries()
            .iter()
            .map(|e| {
                let d = PyDict::new(py);
                d.set_item("key", e.key())?;
                d.set_item("name", e.emulator().name())?;
                d.set_item("sha256", e.emulator().sha256())?;
                d.set_item("accuracy", e.accuracy().map(|a| a.value()))?;
                d.set_item("accuracy_statistic", e.accuracy().map(|a| a.statistic()))?;
                d.set_item("parameters", e.parameters().to_vec())?;
                d.set_item("outputs", e.outputs().to_vec())?;
                d.set_item("fixed", e.fixed().to_vec())?;
                d.set_item("methods", e.region().methods().iter().map(|m| m.as_str()).collect::<Vec<_>>())?;
                d.set_item("skipped", e.region().skipped())?;
                Ok(d)
            })
            .collect()
    }

    /// Every fallback kind the router gives (`Fallback::KINDS`).
    #[classattr]
    #[allow(non_snake_case)]
    fn FALLBACK_KINDS() -> Vec<&'static str> {
        Fallback::KINDS.to_vec()
    }

    /// -> `[(output, key or None, fallback tuple or None)]` in the order asked; `covering`:
    /// output -> the keys that may serve it (`Router::route_covering`).
    #[allow(clippy::type_complexity)]
    #[pyo3(signature = (names, values, wanted, covering=None))]
    fn route(
        &self,
        py: Python<'_>,
        names: Vec<String>,
        values: PyReadonlyArray1<'_, f64>,
        wanted: Vec<String>,
        covering: Option<Covering>,
    ) -> PyResult<Vec<(String, Option<String>, Option<FallbackTuple>)>> {
        let values = arrays::values(&values);
        let inner = &self.inner;
        let routing = py.detach(|| inner.route_covering(&names, &values, &wanted, covering.as_ref())).map_err(to_py)?;
        Ok(routing
            .outputs
            .iter()
            .map(|(o, r)| match r {
                Route::Served(e) => (o.clone(), Some(e.key().to_string()), None),
                Route::Fallback(f) => (o.clone(), None, Some(fallback_tuple(f))),
            })
            .collect())
    }

    /// -> (`{output: array}` for served outputs, `{output: key}`, `[(output, fallback tuple)]`);
    /// `covering` as for `route`.
    #[allow(clippy::type_complexity)]
    #[pyo3(signature = (names, values, wanted, covering=None))]
    fn evaluate<'py>(
        &self,
        py: Python<'py>,
        names: Vec<String>,
        values: PyReadonlyArray1<'py, f64>,
        wanted: Vec<String>,
        covering: Option<Covering>,
    ) -> PyResult<(Bound<'py, PyDict>, Bound<'py, PyDict>, Vec<(String, FallbackTuple)>)> {
        let values = arrays::values(&values);
        let inner = &self.inner;
        let ev = py.detach(|| inner.evaluate_covering(&names, &values, &wanted, covering.as_ref())).map_err(to_py)?;
        let out = PyDict::new(py);
        for (name, shape, v) in ev.values {
            let a = ArrayD::from_shape_vec(shape, v).expect("output shape matches its length");
            out.set_item(name, a.into_pyarray(py))?;
        }
        let keys = PyDict::new(py);
        let mut fallbacks = Vec::new();
        for (o, r) in &ev.routing.outputs {
            match r {
                Route::Served(e) => keys.set_item(o, e.key())?,
                Route::Fallback(f) => fallbacks.push((o.clone(), fallback_tuple(f))),
            }
        }
        Ok((out, keys, fallbacks))
    }
}
