//! Binding of [`crate::train::train`]: float32 numpy arrays and a config dict in; the trained
//! weights (archive layout), the history and the stop reason out. The GIL is released while
//! epochs run and taken back for the per-epoch callback and the signal check (Ctrl-C).

use numpy::ndarray::Array2;
use numpy::{IntoPyArray, PyReadonlyArray2, PyUntypedArrayMethods};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyList, PyString};
use serde_json::{Map, Number, Value};

use super::arrays;
use super::errors::{to_py, ParameterError};
use crate::train::{EpochReport, StopReason, TrainConfig, TrainOutcome};

/// Trains an MLP on normalised data: `x [n, d_in]`, `y [n, d_out]`, `x_val`, `y_val` float32.
///
/// `config` keys (all optional, defaults of docs/spec.md): `widths` (hidden widths), `activation`
/// (`tanh`|`relu`|`silu`|`cosmopower`), `epochs`, `batch_size`, `lr_initial`, `lr_final`,
/// `schedule` (`constant`|`cosine`|`exponential`|`plateau`), `patience` (int or None), `seed`,
/// `threads` (0: all cores), `weight_decay`.
///
/// `callback(epoch, train_loss, val_loss, lr)` runs after every epoch; a false return value
/// (other than None) stops training (`stop == "cancelled"`); an exception it raises, or a
/// KeyboardInterrupt, stops training and is raised.
///
/// Returns `{"weights": {"0.weight": [n_out, n_in], "0.bias", "0.alpha", "0.beta", ...},
/// "best_epoch", "best_val_loss", "history": [{epoch, train_loss, val_loss, lr, seconds}],
/// "stop": "completed"|"early_stopped"|"non_finite"|"cancelled", "samples_per_second"}`.
#[pyfunction]
#[pyo3(signature = (x, y, x_val, y_val, config, callback=None))]
pub fn train_mlp<'py>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    y: &Bound<'py, PyAny>,
    x_val: &Bound<'py, PyAny>,
    y_val: &Bound<'py, PyAny>,
    config: &Bound<'py, PyDict>,
    callback: Option<Py<PyAny>>,
) -> PyResult<Bound<'py, PyDict>> {
    let config = TrainConfig::from_json(&config_json(config)?).map_err(to_py)?;
    let (x, y, x_val, y_val) = (array(x, "x")?, array(y, "y")?, array(x_val, "x_val")?, array(y_val, "y_val")?);
    let (n, n_val) = (x.shape()[0], x_val.shape()[0]);
    for (a, b, what) in [(&x, &y, "rows of x and y"), (&x_val, &y_val, "rows of x_val and y_val")] {
        if a.shape()[0] != b.shape()[0] {
            return Err(ParameterError::new_err(format!(
                "training data: the {what} differ ({} vs {})",
                a.shape()[0],
                b.shape()[0]
            )));
        }
    }
    for (a, b, what) in [(&x, &x_val, "x and x_val"), (&y, &y_val, "y and y_val")] {
        if a.shape()[1] != b.shape()[1] {
            return Err(ParameterError::new_err(format!(
                "training data: {what} have different numbers of columns ({} vs {})",
                a.shape()[1],
                b.shape()[1]
            )));
        }
    }
    let (xs, ys, xvs, yvs) = (arrays::values(&x), arrays::values(&y), arrays::values(&x_val), arrays::values(&y_val));

    let mut failure: Option<PyErr> = None;
    let outcome = py.detach(|| {
        let mut on_epoch = |r: &EpochReport| {
            Python::attach(|py| {
                let go_on = match &callback {
                    None => Ok(true),
                    Some(cb) => cb.call1(py, (r.epoch, r.train_loss, r.val_loss, r.lr)).and_then(|ret| {
                        let ret = ret.bind(py);
                        Ok(ret.is_none() || ret.is_truthy()?)
                    }),
                };
                match go_on.and_then(|go_on| py.check_signals().map(|()| go_on)) {
                    Ok(go_on) => go_on,
                    Err(e) => {
                        failure = Some(e);
                        false
                    }
                }
            })
        };
        crate::train::train(&xs, &ys, n, &xvs, &yvs, n_val, &config, &mut on_epoch)
    });
    if let Some(e) = failure {
        return Err(e);
    }
    result(py, outcome.map_err(to_py)?)
}

/// A 2-D float32 array, or a TypeError naming the argument.
fn array<'py>(obj: &Bound<'py, PyAny>, name: &str) -> PyResult<PyReadonlyArray2<'py, f32>> {
    obj.extract::<PyReadonlyArray2<'py, f32>>()
        .map_err(|_| PyTypeError::new_err(format!("{name} must be a 2-D numpy array of float32")))
}

/// The config dict as the JSON object [`TrainConfig::from_json`] reads (which checks it).
fn config_json(dict: &Bound<'_, PyDict>) -> PyResult<Value> {
    let mut object = Map::new();
    for (key, value) in dict.iter() {
        let key: String =
            key.extract().map_err(|_| ParameterError::new_err("training config: keys must be strings"))?;
        // No setting nests deeper than a list of numbers.
        object.insert(key, json(&value, 2)?);
    }
    Ok(Value::Object(object))
}

/// A Python value as JSON: None, bools, integers (numpy's too), finite floats, strings and
/// iterables (lists, tuples, numpy arrays), nested at most `depth` deep. Anything else (NaN, an
/// object, deeper nesting) becomes the string of its `repr`, which no setting accepts, so that
/// the core's error names the key, what it must be and what it got.
fn json(value: &Bound<'_, PyAny>, depth: usize) -> PyResult<Value> {
    if value.is_none() {
        return Ok(Value::Null);
    }
    if let Ok(b) = value.cast::<PyBool>() {
        return Ok(Value::Bool(b.is_true()));
    }
    if let Ok(s) = value.cast::<PyString>() {
        return Ok(Value::String(s.extract()?));
    }
    if !value.is_instance_of::<PyFloat>() {
        // Integers through `__index__` (Python's and numpy's), never a float's truncation.
        if let Ok(i) = value.extract::<i64>() {
            return Ok(i.into());
        }
        if let Ok(u) = value.extract::<u64>() {
            return Ok(u.into());
        }
    }
    if let Ok(f) = value.extract::<f64>() {
        if let Some(n) = Number::from_f64(f) {
            return Ok(Value::Number(n));
        }
    } else if depth > 0 && !value.is_instance_of::<PyDict>() && value.len().is_ok() {
        // Lists, tuples, numpy arrays: anything sized and iterable but a mapping (a sized
        // iterable ends; a generator may not).
        if let Ok(items) = value.try_iter() {
            return items.map(|item| json(&item?, depth - 1)).collect::<PyResult<Vec<_>>>().map(Value::Array);
        }
    }
    Ok(Value::String(value.repr()?.extract()?))
}

fn result<'py>(py: Python<'py>, outcome: TrainOutcome) -> PyResult<Bound<'py, PyDict>> {
    let weights = PyDict::new(py);
    for (i, layer) in outcome.mlp.layers.iter().enumerate() {
        let w = Array2::from_shape_vec((layer.n_out, layer.n_in), layer.weight()).expect("weight is [n_out, n_in]");
        weights.set_item(format!("{i}.weight"), w.into_pyarray(py))?;
        weights.set_item(format!("{i}.bias"), layer.bias.clone().into_pyarray(py))?;
        if !layer.alpha.is_empty() {
            weights.set_item(format!("{i}.alpha"), layer.alpha.clone().into_pyarray(py))?;
            weights.set_item(format!("{i}.beta"), layer.beta.clone().into_pyarray(py))?;
        }
    }
    let history = PyList::empty(py);
    for r in &outcome.history {
        let d = PyDict::new(py);
        d.set_item("epoch", r.epoch)?;
        d.set_item("train_loss", r.train_loss)?;
        d.set_item("val_loss", r.val_loss)?;
        d.set_item("lr", r.lr)?;
        d.set_item("seconds", r.seconds)?;
        history.append(d)?;
    }
    let stop = match outcome.stop {
        StopReason::Completed => "completed",
        StopReason::EarlyStopped { .. } => "early_stopped",
        StopReason::NonFinite { .. } => "non_finite",
        StopReason::Cancelled => "cancelled",
    };
    let out = PyDict::new(py);
    out.set_item("weights", weights)?;
    out.set_item("best_epoch", outcome.best_epoch)?;
    out.set_item("best_val_loss", outcome.best_val_loss)?;
    out.set_item("history", history)?;
    out.set_item("stop", stop)?;
    out.set_item("samples_per_second", outcome.samples_per_second)?;
    Ok(out)
}
