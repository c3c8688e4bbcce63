//! Binding of [`crate::train::train`]: float32 numpy arrays and a config dict in; the trained
//! weights (archive layout), the history and the stop reason out. The GIL is released while
//! epochs run and taken back for the per-epoch callback and the signal check (Ctrl-C).

use std::borrow::Cow;

use numpy::ndarray::Array2;
use numpy::{IntoPyArray, PyReadonlyArray2, PyUntypedArrayMethods};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use super::errors::{to_py, ParameterError};
use crate::nn::Activation;
use crate::train::{EpochReport, Schedule, StopReason, TrainConfig, TrainOutcome};

const CONFIG_KEYS: [&str; 11] = [
    "widths",
    "activation",
    "epochs",
    "batch_size",
    "lr_initial",
    "lr_final",
    "schedule",
    "patience",
    "seed",
    "threads",
    "weight_decay",
];

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
    let config = parse_config(config)?;
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
    let (xs, ys, xvs, yvs) = (flat(&x), flat(&y), flat(&x_val), flat(&y_val));

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

/// The array's values in row-major order, without a copy when it is C-contiguous (`as_slice`
/// alone would also take a Fortran-ordered array's column-major memory as rows).
fn flat<'a>(a: &'a PyReadonlyArray2<'_, f32>) -> Cow<'a, [f32]> {
    match a.as_slice() {
        Ok(s) if a.is_c_contiguous() => Cow::Borrowed(s),
        _ => Cow::Owned(a.as_array().iter().copied().collect()),
    }
}

fn parse_config(dict: &Bound<'_, PyDict>) -> PyResult<TrainConfig> {
    let mut c = TrainConfig::default();
    for (key, value) in dict.iter() {
        let key: String =
            key.extract().map_err(|_| ParameterError::new_err("training config: keys must be strings"))?;
        let bad = |what: &str| ParameterError::new_err(format!("training config: '{key}' must be {what}, got {value}"));
        match key.as_str() {
            "widths" => c.widths = value.extract().map_err(|_| bad("a list of positive integers"))?,
            "activation" => {
                let name: String = value.extract().map_err(|_| bad("a string"))?;
                c.activation = [Activation::Tanh, Activation::Relu, Activation::Silu, Activation::Cosmopower]
                    .into_iter()
                    .find(|a| a.name() == name)
                    .ok_or_else(|| bad("one of 'tanh', 'relu', 'silu', 'cosmopower'"))?;
            }
            "schedule" => {
                let name: String = value.extract().map_err(|_| bad("a string"))?;
                c.schedule = Schedule::from_name(&name)
                    .ok_or_else(|| bad("one of 'constant', 'cosine', 'exponential', 'plateau'"))?;
            }
            "epochs" => c.epochs = value.extract().map_err(|_| bad("a non-negative integer"))?,
            "batch_size" => c.batch_size = value.extract().map_err(|_| bad("a non-negative integer"))?,
            "lr_initial" => c.lr_initial = value.extract().map_err(|_| bad("a number"))?,
            "lr_final" => c.lr_final = value.extract().map_err(|_| bad("a number"))?,
            "patience" => c.patience = value.extract().map_err(|_| bad("a non-negative integer or None"))?,
            "seed" => c.seed = value.extract().map_err(|_| bad("a non-negative integer"))?,
            "threads" => c.threads = value.extract().map_err(|_| bad("a non-negative integer"))?,
            "weight_decay" => c.weight_decay = value.extract().map_err(|_| bad("a number"))?,
            _ => {
                return Err(ParameterError::new_err(format!(
                    "training config: unknown key '{key}' (allowed: {})",
                    CONFIG_KEYS.join(", ")
                )))
            }
        }
    }
    Ok(c)
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
