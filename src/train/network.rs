//! A network under training: every parameter in one flat vector, so that the optimiser, the
//! gradient sums of the workers and the best-epoch snapshot are each one loop over one slice.

use std::ops::Range;

use super::TrainReal;
use crate::nn::{Activation, Dense, Mlp};
use crate::testing::SplitMix;

/// Where one layer's parameters lie in the flat vector.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerLayout {
    pub n_in: usize,
    pub n_out: usize,
    /// `None` for the linear output layer.
    pub activation: Option<Activation>,
    /// `W^T`, `[n_in, n_out]` row-major (the layout of [`Dense::weight_t`]).
    pub weight_t: Range<usize>,
    pub bias: Range<usize>,
    /// CosmoPower's per-unit `alpha` and `beta` (empty ranges for other activations).
    pub alpha: Range<usize>,
    pub beta: Range<usize>,
}

/// The shape of a network and the position of each parameter in the flat vector: every weight
/// matrix first (the part weight decay applies to), then each layer's bias, alpha and beta.
#[derive(Debug, Clone, PartialEq)]
pub struct Layout {
    pub layers: Vec<LayerLayout>,
    /// Parameters in all: `0..n_weights` are weight matrices.
    pub n_params: usize,
    pub n_weights: usize,
}

impl Layout {
    /// `d_in -> widths... -> d_out`, `activation` on every hidden layer.
    pub fn new(d_in: usize, widths: &[usize], d_out: usize, activation: Activation) -> Self {
        let mut sizes = vec![d_in];
        sizes.extend_from_slice(widths);
        sizes.push(d_out);
        let n_layers = sizes.len() - 1;
        let mut offset = 0;
        let mut take = |len: usize| {
            offset += len;
            offset - len..offset
        };
        let weights: Vec<Range<usize>> = sizes.windows(2).map(|s| take(s[0] * s[1])).collect();
        let n_weights = weights.last().map_or(0, |r| r.end);
        let layers = weights
            .into_iter()
            .enumerate()
            .map(|(i, weight_t)| {
                let (n_in, n_out) = (sizes[i], sizes[i + 1]);
                let act = (i + 1 < n_layers).then_some(activation);
                let extra = if act.is_some_and(Activation::has_parameters) { n_out } else { 0 };
                let bias = take(n_out);
                let alpha = take(extra);
                let beta = take(extra);
                LayerLayout { n_in, n_out, activation: act, weight_t, bias, alpha, beta }
            })
            .collect();
        Layout { layers, n_params: offset, n_weights }
    }

    pub fn d_in(&self) -> usize {
        self.layers[0].n_in
    }
    pub fn d_out(&self) -> usize {
        self.layers.last().expect("a layout has at least one layer").n_out
    }
    /// The widest layer's input or output (sizes scratch buffers).
    pub fn max_width(&self) -> usize {
        self.layers.iter().map(|l| l.n_in.max(l.n_out)).max().unwrap_or(0)
    }

    /// A readable name of parameter `index`, e.g. `1.weight[3, 0]` (`[out, in]`, as archives
    /// index weights) or `0.alpha[5]`.
    pub fn parameter_name(&self, index: usize) -> String {
        for (i, l) in self.layers.iter().enumerate() {
            if l.weight_t.contains(&index) {
                let k = index - l.weight_t.start;
                return format!("{i}.weight[{}, {}]", k % l.n_out, k / l.n_out);
            }
            for (name, r) in [("bias", &l.bias), ("alpha", &l.alpha), ("beta", &l.beta)] {
                if r.contains(&index) {
                    return format!("{i}.{name}[{}]", index - r.start);
                }
            }
        }
        format!("<parameter {index} out of range>")
    }
}

/// A network's layout and its parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct Network<T> {
    pub layout: Layout,
    pub params: Vec<T>,
}

impl<T: TrainReal> Network<T> {
    /// Glorot-uniform weights (`U(-a, a)`, `a = sqrt(6 / (n_in + n_out))`), zero biases, and
    /// for CosmoPower `alpha = 1 + 0.1 N(0, 1)`, `beta = 0.1 N(0, 1)`: close to SiLU, whose
    /// gradients are well behaved, with enough noise that units differ. (CosmoPower draws both
    /// from N(0, 1); a negative alpha or a large beta at the start only slows training down.)
    pub fn init(layout: Layout, seed: u64) -> Self {
        let mut rng = SplitMix::new(seed);
        let mut params = vec![T::ZERO; layout.n_params];
        for l in &layout.layers {
            let a = (6.0 / (l.n_in + l.n_out) as f64).sqrt();
            for p in &mut params[l.weight_t.clone()] {
                *p = T::from_f64(rng.symmetric(a));
            }
            for p in &mut params[l.alpha.clone()] {
                *p = T::from_f64(1.0 + 0.1 * normal(&mut rng));
            }
            for p in &mut params[l.beta.clone()] {
                *p = T::from_f64(0.1 * normal(&mut rng));
            }
        }
        Network { layout, params }
    }

    /// The network as an inference [`Mlp`] (the type archives load into).
    pub fn to_mlp(&self) -> Mlp<T> {
        Mlp::new(
            self.layout
                .layers
                .iter()
                .map(|l| Dense {
                    n_in: l.n_in,
                    n_out: l.n_out,
                    weight_t: self.params[l.weight_t.clone()].to_vec(),
                    bias: self.params[l.bias.clone()].to_vec(),
                    activation: l.activation,
                    alpha: self.params[l.alpha.clone()].to_vec(),
                    beta: self.params[l.beta.clone()].to_vec(),
                })
                .collect(),
        )
    }

    /// The mean squared error over every output of the `n` points `x [n, d_in]`,
    /// `y [n, d_out]`, and its gradient with respect to every parameter (same layout as
    /// `params`). Single-threaded; the trainer splits batches across workers itself.
    pub fn loss_and_gradient(&self, x: &[T], y: &[T], n: usize) -> (f64, Vec<T>) {
        assert_eq!(x.len(), n * self.layout.d_in(), "x is not [n, d_in]");
        assert_eq!(y.len(), n * self.layout.d_out(), "y is not [n, d_out]");
        let mut grad = vec![T::ZERO; self.layout.n_params];
        let mut ws = super::backprop::Workspace::new(&self.layout, n);
        let rows: Vec<usize> = (0..n).collect();
        let sse = super::backprop::accumulate_gradient(&self.layout, &self.params, x, y, &rows, n, &mut grad, &mut ws);
        (sse / (n * self.layout.d_out()) as f64, grad)
    }
}

/// A standard normal draw (Box-Muller).
fn normal(rng: &mut SplitMix) -> f64 {
    let u = 1.0 - rng.uniform(); // in (0, 1]: the log is finite
    let v = rng.uniform();
    (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
}
