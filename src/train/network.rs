//! A network under training: every parameter in one flat vector, so that the optimiser, the
//! gradient sums of the workers and the best-epoch snapshot are each one loop over one slice.

use super::backprop;
use super::rng::SplitMix;
use super::TrainReal;
use crate::nn::{Dense, Mlp};

// Where the layout used to live; kept so that `train::network::Layout` still names it.
pub use super::layout::{LayerLayout, Layout};

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
                *p = T::from_f64(1.0 + 0.1 * rng.normal());
            }
            for p in &mut params[l.beta.clone()] {
                *p = T::from_f64(0.1 * rng.normal());
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
        let mut ws = backprop::Workspace::new(&self.layout, n);
        let rows: Vec<usize> = (0..n).collect();
        let sse = backprop::accumulate_gradient(&self.layout, &self.params, x, y, &rows, n, &mut grad, &mut ws);
        (sse / (n * self.layout.d_out()) as f64, grad)
    }
}
