//! The evaluation graph of an archive: `model.json` (structure) + `weights.safetensors` (values).
//!
//! A model maps the parameters, in the spec's order, to one flat output vector made of named
//! outputs (`cl_tt`, `pk_lin`, `H0`, ...). It is evaluated by one or more networks side by side,
//! each with its own output transform; the layout table says where each named output sits.
//! `docs/model.md` specifies the format.

use std::cell::RefCell;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::nn::{Activation, BatchScratch, Dense, Mlp, Real, Workspace};
use crate::tensors::TensorSet;
use crate::transform::{InputScaling, OutputStep, OutputTransform};

/// The version of `model.json` this code reads and writes.
pub const MODEL_FORMAT: u32 = 1;

/// `model.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelDescription {
    pub model_format: u32,
    /// Input order: the spec's parameters.
    pub parameters: Vec<String>,
    pub input: InputDescription,
    pub networks: Vec<NetworkDescription>,
    /// Axis name -> name of a 1-D F64 tensor holding its values (`ell`, `k`, `z_pk`, `z_bg`).
    #[serde(default)]
    pub grids: BTreeMap<String, String>,
}

/// Names of the input-scaling tensors: `x_n = (x - shift) / scale`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputDescription {
    pub shift: String,
    pub scale: String,
}

/// One network: tensors `{name}.{i}.weight` `[n_out, n_in]`, `{name}.{i}.bias` `[n_out]` and,
/// for the CosmoPower activation, `{name}.{i}.alpha`, `{name}.{i}.beta` `[n_out]` on hidden layers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkDescription {
    pub name: String,
    pub activation: Activation,
    /// Number of dense layers, the linear output layer included.
    pub layers: usize,
    /// Name of an `[n_out, n_params]` tensor `S`: the network computes `layers(x_n) + S x_n`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skip: Option<String>,
    #[serde(default)]
    pub output_transform: Vec<StepDescription>,
    /// The named outputs this network produces, consecutive in its transformed output.
    pub outputs: Vec<OutputDescription>,
}

/// One output step, naming its tensors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase", deny_unknown_fields)]
pub enum StepDescription {
    Affine { scale: String, shift: String },
    Linear { matrix: String, bias: Option<String> },
    Pow10,
    Exp,
}

/// A named output: a block of the flat output vector with a shape and named axes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputDescription {
    pub name: String,
    /// `[]` for a scalar.
    #[serde(default)]
    pub shape: Vec<usize>,
    /// One grid name per dimension of `shape` (e.g. `["z_pk", "k"]`).
    #[serde(default)]
    pub axes: Vec<String>,
}

/// Where a named output sits in the flat output vector.
#[derive(Debug, Clone, PartialEq)]
pub struct OutputInfo {
    pub name: String,
    pub offset: usize,
    pub shape: Vec<usize>,
    pub axes: Vec<String>,
}

impl OutputInfo {
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

struct Network<T> {
    mlp: Mlp<T>,
    transform: OutputTransform<T>,
    /// Where this network's outputs start in the flat output vector, and how many it gives.
    offset: usize,
    len: usize,
}

impl<T: Real> Network<T> {
    /// The longest vector from the network's raw output to its transformed outputs.
    fn max_len(&self) -> usize {
        self.transform.max_len(self.mlp.n_out())
    }
}

enum Networks {
    F32(Vec<Network<f32>>),
    F64(Vec<Network<f64>>),
}

/// A loaded evaluation graph.
pub struct Model {
    description: ModelDescription,
    input: InputScaling,
    networks: Networks,
    layout: Vec<OutputInfo>,
    grids: BTreeMap<String, Vec<f64>>,
    n_outputs: usize,
}

thread_local! {
    // Per-thread scratch so that `Model` stays `Sync` and evaluation allocates nothing in steady state.
    static SCRATCH_F32: RefCell<Scratch<f32>> = RefCell::new(Scratch::default());
    static SCRATCH_F64: RefCell<Scratch<f64>> = RefCell::new(Scratch::default());
}

#[derive(Default)]
struct Scratch<T> {
    ws: Workspace<T>,
    x: Vec<T>,
    y: Vec<T>,
    tmp: Vec<T>,
    seeds: Vec<T>,
    tangents: Vec<T>,
}

trait WithScratch: Real {
    fn with_scratch<R>(f: impl FnOnce(&mut Scratch<Self>) -> R) -> R;
}

impl WithScratch for f32 {
    fn with_scratch<R>(f: impl FnOnce(&mut Scratch<f32>) -> R) -> R {
        SCRATCH_F32.with(|s| f(&mut s.borrow_mut()))
    }
}

impl WithScratch for f64 {
    fn with_scratch<R>(f: impl FnOnce(&mut Scratch<f64>) -> R) -> R {
        SCRATCH_F64.with(|s| f(&mut s.borrow_mut()))
    }
}

impl Model {
    /// Loads a model from the bytes of `model.json` and `weights.safetensors`; `origin` names
    /// the archive in errors.
    pub fn from_bytes(model_json: &[u8], weights: &[u8], origin: &str) -> Result<Model> {
        let description: ModelDescription = serde_json::from_slice(model_json)
            .map_err(|e| Error::model(origin, format!("model.json: {e}")))?;
        let tensors = TensorSet::from_safetensors(weights, &format!("{origin}: weights.safetensors"))?;
        Model::new(description, &tensors, origin)
    }

    /// Builds a model from its description and tensors, checking every name and shape.
    pub fn new(description: ModelDescription, tensors: &TensorSet, origin: &str) -> Result<Model> {
        if description.model_format != MODEL_FORMAT {
            return Err(Error::model(
                origin,
                format!(
                    "model.json has model_format {}; this zelos reads {MODEL_FORMAT} (upgrade zelos)",
                    description.model_format
                ),
            ));
        }
        if description.networks.is_empty() {
            return Err(Error::model(origin, "model.json lists no networks"));
        }
        let p = description.parameters.len();
        let input = InputScaling {
            shift: tensors.get_as(&description.input.shift, &[p], origin)?,
            scale: tensors.get_as(&description.input.scale, &[p], origin)?,
        };
        if let Some(j) = input.scale.iter().position(|s| !(s.is_finite() && *s != 0.0)) {
            return Err(Error::model(origin, format!("input scale of `{}` is zero or not finite", description.parameters[j])));
        }
        let mut grids = BTreeMap::new();
        for (axis, tensor) in &description.grids {
            let t = tensors.get(tensor, origin)?;
            if t.shape.len() != 1 {
                return Err(Error::model(origin, format!("grid `{axis}` (tensor `{tensor}`) is not 1-D")));
            }
            grids.insert(axis.clone(), t.to_vec::<f64>());
        }
        let layout = build_layout(&description, &grids, origin)?;
        let n_outputs = layout.iter().map(OutputInfo::len).sum();
        let first_weight = format!("{}.0.weight", description.networks[0].name);
        let networks = match tensors.get(&first_weight, origin)?.dtype() {
            "F32" => Networks::F32(load_networks(&description, tensors, &layout, origin)?),
            _ => Networks::F64(load_networks(&description, tensors, &layout, origin)?),
        };
        Ok(Model { description, input, networks, layout, grids, n_outputs })
    }

    pub fn description(&self) -> &ModelDescription {
        &self.description
    }

    pub fn parameters(&self) -> &[String] {
        &self.description.parameters
    }

    pub fn outputs(&self) -> &[OutputInfo] {
        &self.layout
    }

    pub fn output(&self, name: &str) -> Option<&OutputInfo> {
        self.layout.iter().find(|o| o.name == name)
    }

    /// Length of the flat output vector.
    pub fn n_outputs(&self) -> usize {
        self.n_outputs
    }

    pub fn grid(&self, axis: &str) -> Option<&[f64]> {
        self.grids.get(axis).map(Vec::as_slice)
    }

    pub fn grids(&self) -> &BTreeMap<String, Vec<f64>> {
        &self.grids
    }

    /// `"F32"` or `"F64"`: the float type the networks run in.
    pub fn dtype(&self) -> &'static str {
        match self.networks {
            Networks::F32(_) => "F32",
            Networks::F64(_) => "F64",
        }
    }

    /// Evaluates one point: `x` in parameter order, `out` of length [`Model::n_outputs`].
    pub fn eval(&self, x: &[f64], out: &mut [f64]) {
        assert_eq!(x.len(), self.parameters().len(), "one value per parameter");
        assert_eq!(out.len(), self.n_outputs, "output buffer length");
        match &self.networks {
            Networks::F32(nets) => eval_point(&self.input, nets, x, out),
            Networks::F64(nets) => eval_point(&self.input, nets, x, out),
        }
    }

    /// As [`Model::eval`], through the networks named in `networks` only: their outputs are
    /// written, the rest of `out` is left as it is. A P(k) emulator holding linear and
    /// non-linear networks then pays for the one asked for. `Err` names an unknown network.
    pub fn eval_networks<S: AsRef<str>>(&self, x: &[f64], networks: &[S], out: &mut [f64]) -> Result<()> {
        assert_eq!(x.len(), self.parameters().len(), "one value per parameter");
        assert_eq!(out.len(), self.n_outputs, "output buffer length");
        let names: Vec<&str> = self.description.networks.iter().map(|n| n.name.as_str()).collect();
        let mut selected = vec![false; names.len()];
        for wanted in networks {
            let wanted = wanted.as_ref();
            let i = names.iter().position(|n| *n == wanted).ok_or_else(|| {
                Error::Parameters(format!("no network `{wanted}` (the networks: {})", names.join(", ")))
            })?;
            selected[i] = true;
        }
        match &self.networks {
            Networks::F32(nets) => eval_point_selected(&self.input, nets, x, out, Some(&selected)),
            Networks::F64(nets) => eval_point_selected(&self.input, nets, x, out, Some(&selected)),
        }
        Ok(())
    }

    /// Evaluates `n` points: `x` is `[n, n_params]`, `out` is `[n, n_outputs]`, row-major.
    ///
    /// The points are shared out among [`batch_threads`] threads (consecutive rows each, at
    /// least [`BATCH_MIN_ROWS_PER_THREAD`] a thread); each thread takes its rows through the
    /// networks in chunks whose scratch memory stays near [`BATCH_SCRATCH_BYTES`] in all,
    /// whatever `n`. That memory is allocated fallibly, so the only error is
    /// [`Error::OutOfMemory`].
    pub fn eval_batch(&self, x: &[f64], n: usize, out: &mut [f64]) -> Result<()> {
        self.eval_batch_threads(x, n, out, batch_threads())
    }

    /// [`Model::eval_batch`] on at most `threads` threads (1: on the caller's thread). A row's
    /// values do not depend on how the rows are shared out: every share takes the matrix
    /// products, whose result for a row does not depend on the other rows.
    pub fn eval_batch_threads(&self, x: &[f64], n: usize, out: &mut [f64], threads: usize) -> Result<()> {
        let workers = threads.min(n / BATCH_MIN_ROWS_PER_THREAD).max(1);
        let rows = match &self.networks {
            Networks::F32(nets) => chunk_rows(&self.input, nets),
            Networks::F64(nets) => chunk_rows(&self.input, nets),
        };
        let rows = (rows / workers).max(1); // the scratch budget is for all threads together
        if workers == 1 {
            return self.eval_batch_chunked(x, n, out, rows);
        }
        let (p, m) = (self.parameters().len(), self.n_outputs);
        assert_eq!(Some(x.len()), n.checked_mul(p), "x is [n, n_params]");
        assert_eq!(Some(out.len()), n.checked_mul(m), "out is [n, n_outputs]");
        let share = n.div_ceil(workers);
        std::thread::scope(|s| {
            let handles: Vec<_> = x
                .chunks(share * p)
                .zip(out.chunks_mut(share * m))
                .map(|(xs, os)| s.spawn(move || self.eval_batch_chunked(xs, xs.len() / p, os, rows)))
                .collect();
            let mut result = Ok(());
            for handle in handles {
                let done = handle.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic));
                result = result.and(done);
            }
            result
        })
    }

    /// [`Model::eval_batch`] `rows` points at a time (at least one).
    pub fn eval_batch_chunked(&self, x: &[f64], n: usize, out: &mut [f64], rows: usize) -> Result<()> {
        assert_eq!(Some(x.len()), n.checked_mul(self.parameters().len()), "x is [n, n_params]");
        assert_eq!(Some(out.len()), n.checked_mul(self.n_outputs), "out is [n, n_outputs]");
        match &self.networks {
            Networks::F32(nets) => eval_batch(&self.input, nets, x, n, self.n_outputs, out, rows),
            Networks::F64(nets) => eval_batch(&self.input, nets, x, n, self.n_outputs, out, rows),
        }
    }

    /// Evaluates one point and the Jacobian `jac[i, j] = d out_i / d x_j`, `[n_outputs, n_params]`.
    pub fn jacobian(&self, x: &[f64], out: &mut [f64], jac: &mut [f64]) {
        let p = self.parameters().len();
        assert_eq!(x.len(), p, "one value per parameter");
        assert_eq!(out.len(), self.n_outputs, "output buffer length");
        assert_eq!(jac.len(), self.n_outputs * p, "jacobian buffer is [n_outputs, n_params]");
        match &self.networks {
            Networks::F32(nets) => jacobian_point(&self.input, nets, x, out, jac),
            Networks::F64(nets) => jacobian_point(&self.input, nets, x, out, jac),
        }
    }
}

fn eval_point<T: WithScratch>(input: &InputScaling, nets: &[Network<T>], x: &[f64], out: &mut [f64]) {
    eval_point_selected(input, nets, x, out, None)
}

/// One point through the networks `selected` marks (all of them for `None`).
fn eval_point_selected<T: WithScratch>(
    input: &InputScaling,
    nets: &[Network<T>],
    x: &[f64],
    out: &mut [f64],
    selected: Option<&[bool]>,
) {
    T::with_scratch(|s| {
        s.x.resize(x.len(), T::ZERO);
        input.apply(x, &mut s.x);
        for (i, net) in nets.iter().enumerate() {
            if selected.is_some_and(|keep| !keep[i]) {
                continue;
            }
            s.y.resize(net.mlp.n_out(), T::ZERO);
            net.mlp.forward(&s.x, &mut s.y, &mut s.ws);
            net.transform.apply(&mut s.y, &mut s.tmp);
            for (o, v) in out[net.offset..net.offset + net.len].iter_mut().zip(&s.y) {
                *o = v.to_f64();
            }
        }
    })
}

/// Fewest points a batch gives a thread of its own: below this a thread's start (tens of
/// microseconds) is no longer small beside its share of the work.
pub const BATCH_MIN_ROWS_PER_THREAD: usize = 32;

/// The threads [`Model::eval_batch`] shares a batch among: `ZELOS_NUM_THREADS` if set to a
/// positive integer, else the machine's available parallelism (read once per process). Set it
/// to 1 where processes already fill the cores (MPI chains, a pool of workers).
pub fn batch_threads() -> usize {
    static THREADS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *THREADS.get_or_init(|| {
        std::env::var("ZELOS_NUM_THREADS")
            .ok()
            .and_then(|v| v.trim().parse::<usize>().ok())
            .filter(|&t| t > 0)
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |t| t.get()))
    })
}

/// The scratch memory a batch evaluation aims for, whatever the number of points: points go
/// through the networks this many bytes' worth at a time (thousands of points for a CMB
/// emulator, plenty for the matrix products to run at full speed).
pub const BATCH_SCRATCH_BYTES: usize = 64 << 20;

/// Points per chunk so that the scratch of [`eval_batch`] stays near [`BATCH_SCRATCH_BYTES`].
fn chunk_rows<T: Real>(input: &InputScaling, nets: &[Network<T>]) -> usize {
    let widest = |f: fn(&Network<T>) -> usize| nets.iter().map(f).max().unwrap_or(0);
    // Per point: scaled inputs, two buffers of one network's outputs along its output
    // transform, two layer buffers.
    let values = input.len() + 2 * widest(Network::max_len) + 2 * widest(|n| n.mlp.max_width());
    (BATCH_SCRATCH_BYTES / (values.max(1) * std::mem::size_of::<T>())).max(1)
}

/// A batch of fewer points goes point by point through the single-point path: matrix products
/// would pack every weight matrix for a handful of rows (for the CMB emulator, 1.5 ms for one
/// point against 0.5 ms through [`Model::eval`], on a loaded machine), and the results are then
/// exactly those of [`Model::eval`]. (Chunks of a larger batch always take the matrix products,
/// whose values for a row do not depend on how many rows come with it.)
pub const BATCH_MIN_ROWS: usize = 4;

/// An empty vector with room for `len` values, or [`Error::OutOfMemory`].
fn try_buffer<T>(len: usize, what: &str) -> Result<Vec<T>> {
    let mut buffer = Vec::new();
    buffer.try_reserve_exact(len).map_err(|_| {
        let bytes = (len as u128) * std::mem::size_of::<T>() as u128;
        Error::OutOfMemory(format!("{what}: {bytes} bytes of scratch memory could not be allocated"))
    })?;
    Ok(buffer)
}

fn eval_batch<T: WithScratch>(
    input: &InputScaling,
    nets: &[Network<T>],
    x: &[f64],
    n: usize,
    width: usize,
    out: &mut [f64],
    rows: usize,
) -> Result<()> {
    let p = input.len();
    if n < BATCH_MIN_ROWS {
        for (xrow, orow) in x.chunks_exact(p).zip(out.chunks_exact_mut(width)).take(n) {
            eval_point(input, nets, xrow, orow);
        }
        return Ok(());
    }
    let rows = rows.clamp(1, n);
    let what = format!("a batch of {n} points in chunks of {rows}");
    // All scratch up front and fallibly, for one chunk; the loop below then allocates nothing.
    let max_len = nets.iter().map(Network::max_len).max().unwrap_or(0);
    let mut xn: Vec<T> = try_buffer(rows.saturating_mul(p), &what)?;
    let mut y: Vec<T> = try_buffer(rows.saturating_mul(max_len), &what)?;
    let mut tmp: Vec<T> = try_buffer(rows.saturating_mul(max_len), &what)?;
    let mut scratch = BatchScratch::default();
    for net in nets {
        scratch.try_reserve(&net.mlp, rows).map_err(|_| {
            let bytes = 2 * rows as u128 * net.mlp.max_width() as u128 * std::mem::size_of::<T>() as u128;
            Error::OutOfMemory(format!("{what}: {bytes} bytes of scratch memory could not be allocated"))
        })?;
    }
    for start in (0..n).step_by(rows) {
        let count = rows.min(n - start);
        let out = &mut out[start * width..(start + count) * width];
        xn.clear();
        xn.resize(count * p, T::ZERO);
        for (row, xrow) in xn.chunks_exact_mut(p).zip(x[start * p..(start + count) * p].chunks_exact(p)) {
            input.apply(xrow, row);
        }
        for net in nets {
            let m = net.mlp.n_out();
            // Overwritten whole (no zeroing of old contents needed).
            y.resize(count * m, T::ZERO);
            net.mlp.forward_batch_with(&xn, count, &mut y, &mut scratch);
            // The output transform on the whole block: PCA as one matrix product.
            net.transform.apply_batch(&mut y, count, &mut tmp);
            for (yrow, orow) in y.chunks_exact(net.len).zip(out.chunks_exact_mut(width)) {
                for (o, v) in orow[net.offset..net.offset + net.len].iter_mut().zip(yrow) {
                    *o = v.to_f64();
                }
            }
        }
    }
    Ok(())
}

fn jacobian_point<T: WithScratch>(input: &InputScaling, nets: &[Network<T>], x: &[f64], out: &mut [f64], jac: &mut [f64]) {
    let p = input.len();
    T::with_scratch(|s| {
        s.x.resize(p, T::ZERO);
        input.apply(x, &mut s.x);
        s.seeds = input.tangent_seeds();
        for net in nets {
            let m = net.mlp.n_out();
            s.y.resize(m, T::ZERO);
            s.tangents.resize(p * m, T::ZERO);
            net.mlp.forward_tangents(&s.x, &mut s.y, &s.seeds, &mut s.tangents, &mut s.ws);
            net.transform.apply_with_tangents(&mut s.y, &mut s.tangents, p, &mut s.tmp);
            for (k, v) in s.y.iter().enumerate() {
                let i = net.offset + k;
                out[i] = v.to_f64();
                for j in 0..p {
                    jac[i * p + j] = s.tangents[j * net.len + k].to_f64();
                }
            }
        }
    })
}

/// The flat output layout: networks in order, each network's outputs consecutively.
fn build_layout(d: &ModelDescription, grids: &BTreeMap<String, Vec<f64>>, origin: &str) -> Result<Vec<OutputInfo>> {
    let mut layout: Vec<OutputInfo> = Vec::new();
    let mut offset = 0;
    for net in &d.networks {
        if net.outputs.is_empty() {
            return Err(Error::model(origin, format!("network `{}` lists no outputs", net.name)));
        }
        for o in &net.outputs {
            if layout.iter().any(|l| l.name == o.name) {
                return Err(Error::model(origin, format!("output `{}` is produced twice", o.name)));
            }
            if o.axes.len() != o.shape.len() {
                return Err(Error::model(origin, format!("output `{}` has {} axes for shape {:?}", o.name, o.axes.len(), o.shape)));
            }
            for (axis, &len) in o.axes.iter().zip(&o.shape) {
                match grids.get(axis) {
                    Some(g) if g.len() == len => {}
                    Some(g) => {
                        return Err(Error::model(origin, format!("output `{}`: grid `{axis}` has {} values; the output has {len}", o.name, g.len())))
                    }
                    None => return Err(Error::model(origin, format!("output `{}`: grid `{axis}` is not in model.json `grids`", o.name))),
                }
            }
            let info = OutputInfo { name: o.name.clone(), offset, shape: o.shape.clone(), axes: o.axes.clone() };
            offset += info.len();
            layout.push(info);
        }
    }
    Ok(layout)
}

fn load_networks<T: Real>(d: &ModelDescription, tensors: &TensorSet, layout: &[OutputInfo], origin: &str) -> Result<Vec<Network<T>>> {
    let mut nets = Vec::new();
    let mut offset = 0;
    for nd in &d.networks {
        let mlp = load_mlp::<T>(nd, d.parameters.len(), tensors, origin)?;
        let transform = load_transform::<T>(nd, mlp.n_out(), tensors, origin)?;
        let len: usize = layout.iter().filter(|o| nd.outputs.iter().any(|n| n.name == o.name)).map(OutputInfo::len).sum();
        let produced = transform.output_len(mlp.n_out());
        if produced != len {
            return Err(Error::model(
                origin,
                format!("network `{}` produces {produced} values; its outputs need {len}", nd.name),
            ));
        }
        nets.push(Network { mlp, transform, offset, len });
        offset += len;
    }
    Ok(nets)
}

fn load_mlp<T: Real>(nd: &NetworkDescription, n_params: usize, tensors: &TensorSet, origin: &str) -> Result<Mlp<T>> {
    if nd.layers == 0 {
        return Err(Error::model(origin, format!("network `{}` has 0 layers", nd.name)));
    }
    // Grown as the tensors are found, never reserved from `layers`: model.json is untrusted, and
    // `"layers": 1e11` must be a missing tensor, not an allocation of terabytes.
    let mut layers = Vec::new();
    let mut n_in = n_params;
    for i in 0..nd.layers {
        let wname = format!("{}.{i}.weight", nd.name);
        let w = tensors.get(&wname, origin)?;
        if w.shape.len() != 2 || w.shape[1] != n_in {
            return Err(Error::model(origin, format!("tensor `{wname}` has shape {:?}; expected [n_out, {n_in}]", w.shape)));
        }
        let n_out = w.shape[0];
        let weight: Vec<T> = w.to_vec();
        let bias = tensors.get_as(&format!("{}.{i}.bias", nd.name), &[n_out], origin)?;
        let hidden = i + 1 < nd.layers;
        let activation = hidden.then_some(nd.activation);
        let (alpha, beta) = if hidden && nd.activation.has_parameters() {
            (
                tensors.get_as(&format!("{}.{i}.alpha", nd.name), &[n_out], origin)?,
                tensors.get_as(&format!("{}.{i}.beta", nd.name), &[n_out], origin)?,
            )
        } else {
            (Vec::new(), Vec::new())
        };
        layers.push(Dense::from_weight(&weight, n_out, n_in, bias, activation, alpha, beta));
        n_in = n_out;
    }
    let mlp = Mlp::new(layers);
    match &nd.skip {
        None => Ok(mlp),
        Some(name) => {
            let skip = tensors.get_as(name, &[mlp.n_out(), n_params], origin)?;
            Ok(mlp.with_skip(&skip))
        }
    }
}

fn load_transform<T: Real>(nd: &NetworkDescription, n_net: usize, tensors: &TensorSet, origin: &str) -> Result<OutputTransform<T>> {
    let mut steps = Vec::new();
    let mut n = n_net;
    for step in &nd.output_transform {
        let s = match step {
            StepDescription::Affine { scale, shift } => OutputStep::Affine {
                scale: tensors.get_as(scale, &[n], origin)?,
                shift: tensors.get_as(shift, &[n], origin)?,
            },
            StepDescription::Linear { matrix, bias } => {
                let m = tensors.get(matrix, origin)?;
                if m.shape.len() != 2 || m.shape[0] != n {
                    return Err(Error::model(origin, format!("tensor `{matrix}` has shape {:?}; expected [{n}, n_out]", m.shape)));
                }
                let n_out = m.shape[1];
                let bias = match bias {
                    Some(b) => tensors.get_as(b, &[n_out], origin)?,
                    None => vec![T::ZERO; n_out],
                };
                OutputStep::Linear { matrix: m.to_vec(), bias, n_in: n, n_out }
            }
            StepDescription::Pow10 => OutputStep::Pow10,
            StepDescription::Exp => OutputStep::Exp,
        };
        n = s.output_len(n);
        steps.push(s);
    }
    Ok(OutputTransform { steps })
}
