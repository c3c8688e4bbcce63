//! The shape of a network under training and where each of its parameters lies in the flat
//! parameter vector (what [`super::network`], [`super::backprop`] and the workers share).

use std::ops::Range;

use crate::nn::Activation;

/// Where one layer's parameters lie in the flat vector.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerLayout {
    pub n_in: usize,
    pub n_out: usize,
    /// `None` for the linear output layer.
    pub activation: Option<Activation>,
    /// `W^T`, `[n_in, n_out]` row-major (the layout of [`crate::nn::Dense::weight_t`]).
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
