//! Bindings of [`crate::pointlog`]: the point log's writer and reader (numpy arrays in and
//! out; the GIL released while waiting for the writer).

use std::path::PathBuf;

use numpy::ndarray::ArrayD;
use numpy::{IntoPyArray, PyReadonlyArray1, PyReadonlyArrayDyn};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use super::errors::to_py;
use crate::pointlog::{read_point_log as read, NamedArray, PointLog, PointLogOptions, PointRecord};

#[pyclass(name = "PointLog", module = "zelos._zelos", frozen)]
pub struct PyPointLog {
    inner: PointLog,
}

#[pymethods]
impl PyPointLog {
    /// Opens this process's log file in `dir` (`points.{host}.{pid}.jsonl`).
    #[new]
    #[pyo3(signature = (dir, sync=false, file_name=None))]
    fn new(py: Python<'_>, dir: PathBuf, sync: bool, file_name: Option<String>) -> PyResult<Self> {
        let inner = py.detach(|| PointLog::open_with(&dir, PointLogOptions { sync, file_name })).map_err(to_py)?;
        Ok(PyPointLog { inner })
    }

    #[getter]
    fn path(&self) -> PathBuf {
        self.inner.path().to_path_buf()
    }
    #[getter]
    fn acknowledged(&self) -> u64 {
        self.inner.acknowledged()
    }
    #[getter]
    fn logged(&self) -> u64 {
        self.inner.logged()
    }

    /// Hands one record to the writer; returns its sequence number.
    #[pyo3(signature = (names, values, reason, detail="", distance=None, nearest=None, outputs=Vec::new()))]
    #[allow(clippy::too_many_arguments)]
    fn log(
        &self,
        names: Vec<String>,
        values: PyReadonlyArray1<'_, f64>,
        reason: &str,
        detail: &str,
        distance: Option<f64>,
        nearest: Option<String>,
        outputs: Vec<(String, PyReadonlyArrayDyn<'_, f64>)>,
    ) -> PyResult<u64> {
        let values = values.as_array().to_vec();
        if values.len() != names.len() {
            return Err(pyo3::exceptions::PyValueError::new_err(format!("{} names but {} values", names.len(), values.len())));
        }
        let outputs = outputs
            .into_iter()
            .map(|(name, a)| {
                let a = a.as_array();
                NamedArray { name, shape: a.shape().to_vec(), values: a.iter().copied().collect() }
            })
            .collect();
        let record = PointRecord {
            parameters: names.into_iter().zip(values).collect(),
            reason: reason.to_string(),
            detail: detail.to_string(),
            distance,
            nearest,
            outputs,
        };
        self.inner.log(record).map_err(to_py)
    }

    /// Blocks until record `seq` is written.
    fn wait(&self, py: Python<'_>, seq: u64) -> PyResult<()> {
        let inner = &self.inner;
        py.detach(|| inner.wait(seq)).map_err(to_py)
    }

    /// Blocks until every record logged so far is written.
    fn flush(&self, py: Python<'_>) -> PyResult<()> {
        let inner = &self.inner;
        py.detach(|| inner.flush()).map_err(to_py)
    }

    /// Writes what is queued and stops the writer; `log` fails afterwards.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        let inner = &self.inner;
        py.detach(|| inner.close()).map_err(to_py)
    }
}

/// Reads a log directory (or one file): `{"points": [...], "files": [...], "torn": n}`, each
/// point a dict with `host, pid, seq, time, reason, detail, distance, nearest, parameters`
/// (`[(name, value)]`) and `outputs` (name -> array).
#[pyfunction]
pub fn read_point_log<'py>(py: Python<'py>, dir: PathBuf) -> PyResult<Bound<'py, PyDict>> {
    let contents = py.detach(|| read(&dir)).map_err(to_py)?;
    let points = contents
        .points
        .into_iter()
        .map(|p| {
            let d = PyDict::new(py);
            d.set_item("host", p.host)?;
            d.set_item("pid", p.pid)?;
            d.set_item("seq", p.seq)?;
            d.set_item("time", p.time)?;
            d.set_item("reason", p.record.reason)?;
            d.set_item("detail", p.record.detail)?;
            d.set_item("distance", p.record.distance)?;
            d.set_item("nearest", p.record.nearest)?;
            d.set_item("parameters", p.record.parameters)?;
            let outputs = PyDict::new(py);
            for o in p.record.outputs {
                let a = ArrayD::from_shape_vec(o.shape, o.values).expect("shape matches length");
                outputs.set_item(o.name, a.into_pyarray(py))?;
            }
            d.set_item("outputs", outputs)?;
            Ok(d)
        })
        .collect::<PyResult<Vec<_>>>()?;
    let out = PyDict::new(py);
    out.set_item("points", points)?;
    out.set_item("files", contents.files)?;
    out.set_item("torn", contents.torn)?;
    Ok(out)
}
