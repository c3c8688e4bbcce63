//! The gradient of the squared error over a set of points: a batched forward pass that keeps
//! every layer's values, then the backward pass, three GEMMs per layer.
//!
//! Points are processed in blocks of at most [`Workspace::rows`]: the block's activations stay
//! in cache, and the GEMMs stay small enough that matrixmultiply does not start its own threads
//! on top of the trainer's (it does for `m k + k n >= 2^15`).

use super::gemm::{matmul, matmul_nt, matmul_tn_acc};
use super::layout::Layout;
use super::simd::vectorized;
use super::{activation, TrainReal};
use crate::nn::Activation;

/// Scratch buffers of one worker: each layer's pre-activations and outputs for a block of
/// points, the gradient being propagated and its successor.
#[derive(Debug, Clone)]
pub struct Workspace<T> {
    rows: usize,
    /// `acts[0]` the block's inputs, `acts[l + 1]` the output of layer `l`.
    acts: Vec<Vec<T>>,
    /// Pre-activations of hidden layers (empty for tanh layers and the output layer, whose
    /// backward pass needs only their outputs).
    pres: Vec<Vec<T>>,
    targets: Vec<T>,
    delta: Vec<T>,
    delta_next: Vec<T>,
    scratch: Vec<T>,
}

impl<T: TrainReal> Workspace<T> {
    /// Buffers for blocks of up to `rows` points.
    pub fn new(layout: &Layout, rows: usize) -> Self {
        let rows = rows.max(1);
        let mut acts = vec![vec![T::ZERO; rows * layout.d_in()]];
        let mut pres = Vec::new();
        for l in &layout.layers {
            acts.push(vec![T::ZERO; rows * l.n_out]);
            let keeps_z = l.activation.is_some_and(|a| a != Activation::Tanh);
            pres.push(vec![T::ZERO; if keeps_z { rows * l.n_out } else { 0 }]);
        }
        let wide = rows * layout.max_width();
        Workspace {
            rows,
            acts,
            pres,
            targets: vec![T::ZERO; rows * layout.d_out()],
            delta: vec![T::ZERO; wide],
            delta_next: vec![T::ZERO; wide],
            scratch: vec![T::ZERO; wide],
        }
    }

    /// The most points in one block.
    pub fn rows(&self) -> usize {
        self.rows
    }
}

/// Adds to `grad` the gradient of `sum (net(x_i) - y_i)^2 / (batch * d_out)` over the points
/// `rows` (indices into `x [., d_in]`, `y [., d_out]`), i.e. this set's share of the mean
/// squared error of a mini-batch of `batch` points. Returns the (unscaled) sum of squared
/// errors of these points, accumulated in f64.
#[allow(clippy::too_many_arguments)]
pub fn accumulate_gradient<T: TrainReal>(
    layout: &Layout,
    params: &[T],
    x: &[T],
    y: &[T],
    rows: &[usize],
    batch: usize,
    grad: &mut [T],
    ws: &mut Workspace<T>,
) -> f64 {
    let scale = T::from_f64(2.0 / (batch * layout.d_out()) as f64);
    let mut sse = 0.0;
    for block in rows.chunks(ws.rows) {
        sse += vectorized(|| {
            gather(x, layout.d_in(), block, &mut ws.acts[0]);
            gather(y, layout.d_out(), block, &mut ws.targets);
            forward(layout, params, block.len(), ws);
            let sse = output_gradient(layout.d_out(), block.len(), scale, ws);
            backward(layout, params, block.len(), grad, ws);
            sse
        });
    }
    sse
}

/// The sum of squared errors of the network over points `rows` of `x [., d_in]`,
/// `y [., d_out]`: the batched forward pass alone, accumulated in f64.
pub fn sum_squared_errors<T: TrainReal>(
    layout: &Layout,
    params: &[T],
    x: &[T],
    y: &[T],
    rows: std::ops::Range<usize>,
    ws: &mut Workspace<T>,
) -> f64 {
    let (d_in, d_out) = (layout.d_in(), layout.d_out());
    let mut sse = 0.0;
    for start in rows.clone().step_by(ws.rows) {
        let r = ws.rows.min(rows.end - start);
        sse += vectorized(|| {
            ws.acts[0][..r * d_in].copy_from_slice(&x[start * d_in..(start + r) * d_in]);
            ws.targets[..r * d_out].copy_from_slice(&y[start * d_out..(start + r) * d_out]);
            forward(layout, params, r, ws);
            // The output gradient's scale is irrelevant here: only the sum is used.
            output_gradient(d_out, r, T::ONE, ws)
        });
    }
    sse
}

/// Copies rows `indices` of `src [., width]` to the start of `dst`.
#[inline(always)]
fn gather<T: Copy>(src: &[T], width: usize, indices: &[usize], dst: &mut [T]) {
    for (d, &i) in dst.chunks_exact_mut(width).zip(indices) {
        d.copy_from_slice(&src[i * width..(i + 1) * width]);
    }
}

/// Fills `acts` (and `pres`) for the first `r` points of the block.
#[inline(always)]
fn forward<T: TrainReal>(layout: &Layout, params: &[T], r: usize, ws: &mut Workspace<T>) {
    for (l, layer) in layout.layers.iter().enumerate() {
        let (n_in, n_out) = (layer.n_in, layer.n_out);
        let (done, rest) = ws.acts.split_at_mut(l + 1);
        let input = &done[l][..r * n_in];
        let output = &mut rest[0][..r * n_out];
        let bias = &params[layer.bias.clone()];
        // Hidden layers keep z = x W^T + b apart from f(z), except tanh, whose derivative needs
        // only f(z): it is applied in place. The output layer's z is its output.
        let z = match layer.activation {
            Some(Activation::Tanh) | None => &mut *output,
            Some(_) => &mut ws.pres[l][..r * n_out],
        };
        matmul(r, n_in, n_out, input, &params[layer.weight_t.clone()], z);
        for row in z.chunks_exact_mut(n_out) {
            for (v, &b) in row.iter_mut().zip(bias) {
                *v += b;
            }
        }
        if let Some(act) = layer.activation {
            if act == Activation::Tanh {
                // What `Activation::apply` computes, without copying z first.
                T::tanh_in_place(output);
                continue;
            }
            let z = &ws.pres[l][..r * n_out];
            if act.has_parameters() {
                // Per-unit alpha, beta: one row at a time.
                let (alpha, beta) = (&params[layer.alpha.clone()], &params[layer.beta.clone()]);
                for (zr, or) in z.chunks_exact(n_out).zip(output.chunks_exact_mut(n_out)) {
                    act.apply(zr, alpha, beta, or);
                }
            } else {
                act.apply(z, &[], &[], output);
            }
        }
    }
}

/// `delta = scale (out - y)`, the gradient at the network's output; returns `sum (out - y)^2`.
#[inline(always)]
fn output_gradient<T: TrainReal>(d_out: usize, r: usize, scale: T, ws: &mut Workspace<T>) -> f64 {
    let out = &ws.acts[ws.acts.len() - 1][..r * d_out];
    let rows =
        ws.delta[..r * d_out].chunks_exact_mut(d_out).zip(out.chunks_exact(d_out)).zip(ws.targets.chunks_exact(d_out));
    let mut sse = 0.0;
    for ((delta, out), target) in rows {
        // Eight partial sums per row (vectorisable), added up in f64 row by row.
        let mut acc = [T::ZERO; 8];
        let mut lanes = delta.chunks_exact_mut(8).zip(out.chunks_exact(8)).zip(target.chunks_exact(8));
        for ((d, o), t) in &mut lanes {
            for l in 0..8 {
                let e = o[l] - t[l];
                acc[l] += e * e;
                d[l] = scale * e;
            }
        }
        let done = d_out / 8 * 8;
        for j in done..d_out {
            let e = out[j] - target[j];
            acc[0] += e * e;
            delta[j] = scale * e;
        }
        sse += acc.iter().map(|a| a.to_f64()).sum::<f64>();
    }
    sse
}

/// Propagates `delta` from the output back to the first layer, adding each parameter's share
/// to `grad`.
#[inline(always)]
fn backward<T: TrainReal>(layout: &Layout, params: &[T], r: usize, grad: &mut [T], ws: &mut Workspace<T>) {
    for (l, layer) in layout.layers.iter().enumerate().rev() {
        let (n_in, n_out) = (layer.n_in, layer.n_out);
        let delta = &mut ws.delta[..r * n_out];
        // Through the activation: delta becomes the gradient at the pre-activation z.
        if let Some(act) = layer.activation {
            let (dalpha, rest) = grad[layer.alpha.start..].split_at_mut(layer.alpha.len());
            let dbeta = &mut rest[layer.beta.start - layer.alpha.end..][..layer.beta.len()];
            activation::backward(
                act,
                n_out,
                &ws.pres[l][..ws.pres[l].len().min(r * n_out)],
                &ws.acts[l + 1][..r * n_out],
                &params[layer.alpha.clone()],
                &params[layer.beta.clone()],
                delta,
                dalpha,
                dbeta,
                &mut ws.scratch[..r * n_out],
            );
        }
        // dW^T += x^T delta, db += column sums of delta.
        matmul_tn_acc(n_in, r, n_out, &ws.acts[l][..r * n_in], delta, &mut grad[layer.weight_t.clone()]);
        let dbias = &mut grad[layer.bias.clone()];
        for row in delta.chunks_exact(n_out) {
            for (g, &d) in dbias.iter_mut().zip(row) {
                *g += d;
            }
        }
        // The gradient at this layer's input (not needed for the network's input).
        if l > 0 {
            matmul_nt(r, n_out, n_in, delta, &params[layer.weight_t.clone()], &mut ws.delta_next[..r * n_in]);
            std::mem::swap(&mut ws.delta, &mut ws.delta_next);
        }
    }
}
