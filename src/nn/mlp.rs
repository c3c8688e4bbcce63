//! A multilayer perceptron: hidden layers with an activation, a linear output layer.

use super::{Activation, Real};

/// One dense layer, `y = f(W x + b)`, with `W` held transposed.
#[derive(Debug, Clone, PartialEq)]
pub struct Dense<T> {
    pub n_in: usize,
    pub n_out: usize,
    /// `W^T`, shape `[n_in, n_out]`, row-major.
    pub weight_t: Vec<T>,
    pub bias: Vec<T>,
    /// `None` for the linear output layer.
    pub activation: Option<Activation>,
    /// Per-unit parameters of the CosmoPower activation (empty otherwise).
    pub alpha: Vec<T>,
    pub beta: Vec<T>,
}

impl<T: Real> Dense<T> {
    /// Builds a layer from a weight matrix in the usual `[n_out, n_in]` row-major layout.
    pub fn from_weight(
        weight: &[T],
        n_out: usize,
        n_in: usize,
        bias: Vec<T>,
        activation: Option<Activation>,
        alpha: Vec<T>,
        beta: Vec<T>,
    ) -> Self {
        assert_eq!(weight.len(), n_out * n_in, "weight is not [{n_out}, {n_in}]");
        assert_eq!(bias.len(), n_out, "bias is not [{n_out}]");
        let mut weight_t = vec![T::ZERO; n_in * n_out];
        for o in 0..n_out {
            for i in 0..n_in {
                weight_t[i * n_out + o] = weight[o * n_in + i];
            }
        }
        Dense { n_in, n_out, weight_t, bias, activation, alpha, beta }
    }

    /// The weight matrix back in `[n_out, n_in]` layout (what archives store).
    pub fn weight(&self) -> Vec<T> {
        let mut weight = vec![T::ZERO; self.n_in * self.n_out];
        for i in 0..self.n_in {
            for o in 0..self.n_out {
                weight[o * self.n_in + i] = self.weight_t[i * self.n_out + o];
            }
        }
        weight
    }

    fn activate(&self, pre: &[T], out: &mut [T]) {
        match self.activation {
            Some(act) => act.apply(pre, &self.alpha, &self.beta, out),
            None => out.copy_from_slice(pre),
        }
    }
}

/// Scratch buffers for evaluating one network, reused between calls so that evaluation
/// allocates nothing.
#[derive(Debug, Default, Clone)]
pub struct Workspace<T> {
    pre: Vec<T>,
    post: Vec<T>,
    deriv: Vec<T>,
    tangent_in: Vec<T>,
    tangent_out: Vec<T>,
}

/// Scratch memory of a batched forward pass: two buffers of `n * max_width` values, reused
/// between calls.
#[derive(Debug, Default, Clone)]
pub struct BatchScratch<T> {
    current: Vec<T>,
    pre: Vec<T>,
}

impl<T: Real> BatchScratch<T> {
    /// Reserves room for `n` points through `mlp`, fallibly (a batch too large for the memory
    /// gives an error, not an abort).
    pub fn try_reserve(&mut self, mlp: &Mlp<T>, n: usize) -> Result<(), std::collections::TryReserveError> {
        let len = n.saturating_mul(mlp.max_width());
        for buffer in [&mut self.current, &mut self.pre] {
            buffer.clear();
            buffer.try_reserve_exact(len)?;
        }
        Ok(())
    }
}

/// A multilayer perceptron, optionally with a linear skip connection from its input to its
/// output: `net(x) = layers(x) + S x`.
///
/// The skip carries the part of the targets that is linear in the inputs (fitted by least
/// squares before training), so that the layers only learn the small nonlinear residual.
#[derive(Debug, Clone, PartialEq)]
pub struct Mlp<T> {
    pub layers: Vec<Dense<T>>,
    /// `S` as a bias-free linear layer `[n_out, n_in]`.
    pub skip: Option<Dense<T>>,
}

impl<T: Real> Mlp<T> {
    pub fn new(layers: Vec<Dense<T>>) -> Self {
        assert!(!layers.is_empty(), "a network needs at least one layer");
        for pair in layers.windows(2) {
            assert_eq!(pair[0].n_out, pair[1].n_in, "layer sizes do not chain");
        }
        Mlp { layers, skip: None }
    }

    /// Adds the linear skip `S`, given `[n_out, n_in]` row-major.
    pub fn with_skip(mut self, weight: &[T]) -> Self {
        let (n_out, n_in) = (self.n_out(), self.n_in());
        self.skip = Some(Dense::from_weight(weight, n_out, n_in, vec![T::ZERO; n_out], None, Vec::new(), Vec::new()));
        self
    }

    pub fn n_in(&self) -> usize {
        self.layers[0].n_in
    }

    pub fn n_out(&self) -> usize {
        self.layers.last().map(|l| l.n_out).unwrap_or(0)
    }

    /// The widest layer, inputs and outputs included: [`BatchScratch`] holds two buffers of
    /// this many values per point.
    pub fn max_width(&self) -> usize {
        self.layers.iter().map(|l| l.n_out.max(l.n_in)).max().unwrap_or(0)
    }

    /// Forward pass of one point: `out = net(x)`.
    pub fn forward(&self, x: &[T], out: &mut [T], ws: &mut Workspace<T>) {
        assert_eq!(x.len(), self.n_in());
        assert_eq!(out.len(), self.n_out());
        let width = self.max_width();
        ws.pre.resize(width, T::ZERO);
        ws.post.resize(width, T::ZERO);
        ws.post[..x.len()].copy_from_slice(x);
        for layer in &self.layers {
            let pre = &mut ws.pre[..layer.n_out];
            pre.copy_from_slice(&layer.bias);
            T::gemv_t(&layer.weight_t, &ws.post[..layer.n_in], pre);
            layer.activate(pre, &mut ws.post[..layer.n_out]);
        }
        out.copy_from_slice(&ws.post[..self.n_out()]);
        if let Some(skip) = &self.skip {
            T::gemv_t(&skip.weight_t, x, out);
        }
    }

    /// Forward pass of `n` points: `x` is `[n, n_in]`, `out` is `[n, n_out]`, both row-major.
    pub fn forward_batch(&self, x: &[T], n: usize, out: &mut [T]) {
        self.forward_batch_with(x, n, out, &mut BatchScratch::default());
    }

    /// [`Mlp::forward_batch`] with its scratch memory given: once [`BatchScratch::try_reserve`]
    /// has succeeded for `n` points (or more), this allocates nothing.
    pub fn forward_batch_with(&self, x: &[T], n: usize, out: &mut [T], scratch: &mut BatchScratch<T>) {
        assert_eq!(x.len(), n * self.n_in());
        assert_eq!(out.len(), n * self.n_out());
        let width = self.max_width();
        let BatchScratch { current, pre } = scratch;
        current.clear();
        current.extend_from_slice(x);
        // No zeroing of old contents: every product overwrites its block (beta = 0).
        pre.resize(n * width, T::ZERO);
        for layer in &self.layers {
            let pre = &mut pre[..n * layer.n_out];
            T::gemm(n, layer.n_in, layer.n_out, current, &layer.weight_t, pre);
            current.resize(n * layer.n_out, T::ZERO);
            for (pre_row, post_row) in pre.chunks_exact_mut(layer.n_out).zip(current.chunks_exact_mut(layer.n_out)) {
                for (p, &b) in pre_row.iter_mut().zip(&layer.bias) {
                    *p += b;
                }
                layer.activate(pre_row, post_row);
            }
        }
        if let Some(skip) = &self.skip {
            let linear = &mut pre[..n * skip.n_out];
            T::gemm(n, skip.n_in, skip.n_out, x, &skip.weight_t, linear);
            for (c, &l) in current.iter_mut().zip(linear.iter()) {
                *c += l;
            }
        }
        out.copy_from_slice(current);
    }

    /// Forward pass of one point carrying tangents (forward-mode differentiation).
    ///
    /// `tangents` holds `p` input tangent vectors, `[p, n_in]`; on return `tangents_out` holds
    /// their images `[p, n_out]`, i.e. row `j` is `J t_j` for the network Jacobian `J`.
    pub fn forward_tangents(
        &self,
        x: &[T],
        out: &mut [T],
        tangents: &[T],
        tangents_out: &mut [T],
        ws: &mut Workspace<T>,
    ) {
        let n_in = self.n_in();
        assert_eq!(tangents.len() % n_in, 0);
        let p = tangents.len() / n_in;
        assert_eq!(tangents_out.len(), p * self.n_out());
        let width = self.max_width();
        ws.pre.resize(width, T::ZERO);
        ws.post.resize(width, T::ZERO);
        ws.deriv.resize(width, T::ZERO);
        ws.tangent_in.resize(p * width, T::ZERO);
        ws.tangent_out.resize(p * width, T::ZERO);
        ws.post[..n_in].copy_from_slice(x);
        ws.tangent_in[..p * n_in].copy_from_slice(tangents);
        for layer in &self.layers {
            let (m, k) = (layer.n_out, layer.n_in);
            let pre = &mut ws.pre[..m];
            pre.copy_from_slice(&layer.bias);
            T::gemv_t(&layer.weight_t, &ws.post[..k], pre);
            for j in 0..p {
                let t_out = &mut ws.tangent_out[j * m..(j + 1) * m];
                t_out.fill(T::ZERO);
                T::gemv_t(&layer.weight_t, &ws.tangent_in[j * k..(j + 1) * k], t_out);
            }
            layer.activate(pre, &mut ws.post[..m]);
            if let Some(act) = layer.activation {
                let d = &mut ws.deriv[..m];
                act.derivative(pre, &ws.post[..m], &layer.alpha, &layer.beta, d);
                for t_out in ws.tangent_out[..p * m].chunks_exact_mut(m) {
                    for (t, &di) in t_out.iter_mut().zip(d.iter()) {
                        *t = *t * di;
                    }
                }
            }
            std::mem::swap(&mut ws.tangent_in, &mut ws.tangent_out);
        }
        let m = self.n_out();
        out.copy_from_slice(&ws.post[..m]);
        tangents_out.copy_from_slice(&ws.tangent_in[..p * m]);
        if let Some(skip) = &self.skip {
            T::gemv_t(&skip.weight_t, x, out);
            for (t_in, t_out) in tangents.chunks_exact(n_in).zip(tangents_out.chunks_exact_mut(m)) {
                T::gemv_t(&skip.weight_t, t_in, t_out);
            }
        }
    }
}
