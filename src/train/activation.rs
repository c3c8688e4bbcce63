//! The backward pass through a hidden layer's activation: the gradient at the layer's output
//! becomes the gradient at its pre-activation, and CosmoPower's `alpha`, `beta` get theirs.
//! (The forward pass is [`Activation::apply`], the very code inference runs.)

use super::TrainReal;
use crate::nn::Activation;

/// For `rows` points of one layer of `width` units (every buffer `[rows, width]` row-major):
/// `d <- d * f'(pre)`, and for CosmoPower `dalpha += sum_rows d * df/dalpha`,
/// `dbeta += sum_rows d * df/dbeta`. `scratch` is overwritten. Tanh reads only `post` (its
/// `pre` may be empty); the others read only `pre`.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub fn backward<T: TrainReal>(
    act: Activation,
    width: usize,
    pre: &[T],
    post: &[T],
    alpha: &[T],
    beta: &[T],
    d: &mut [T],
    dalpha: &mut [T],
    dbeta: &mut [T],
    scratch: &mut [T],
) {
    let half = T::from_f64(0.5);
    match act {
        Activation::Tanh => {
            // tanh' = 1 - tanh^2: the forward output is all it needs.
            for (g, &y) in d.iter_mut().zip(post) {
                *g = *g * (T::ONE - y * y);
            }
        }
        Activation::Relu => {
            // A select, not a branch: it vectorises, and signs of z are a coin toss.
            for (g, &x) in d.iter_mut().zip(pre) {
                *g = if x > T::ZERO { *g } else { T::ZERO };
            }
        }
        Activation::Silu => {
            // sigmoid(x) = (1 + tanh(x / 2)) / 2, with the fast vectorised tanh.
            for (t, &x) in scratch.iter_mut().zip(pre) {
                *t = half * x;
            }
            T::tanh_in_place(scratch);
            for ((g, &x), &t) in d.iter_mut().zip(pre).zip(scratch.iter()) {
                let s = half * (T::ONE + t);
                *g = *g * (s + x * s * (T::ONE - s));
            }
        }
        Activation::Cosmopower => {
            // f = (beta + s (1 - beta)) x with s = sigmoid(alpha x):
            // df/dx = beta + (1 - beta)(s + alpha x s (1 - s)), df/dalpha = (1 - beta) x^2 s (1 - s),
            // df/dbeta = (1 - s) x.
            for ((t_row, x_row), g_row) in
                scratch.chunks_exact_mut(width).zip(pre.chunks_exact(width)).zip(d.chunks_exact_mut(width))
            {
                for ((t, &x), &a) in t_row.iter_mut().zip(x_row).zip(alpha) {
                    *t = half * a * x;
                }
                T::tanh_in_place(t_row);
                for j in 0..width {
                    let (x, a, b, g) = (x_row[j], alpha[j], beta[j], g_row[j]);
                    let s = half * (T::ONE + t_row[j]);
                    let q = s * (T::ONE - s);
                    dalpha[j] += g * (T::ONE - b) * x * x * q;
                    dbeta[j] += g * (T::ONE - s) * x;
                    g_row[j] = g * (b + (T::ONE - b) * (s + a * x * q));
                }
            }
        }
    }
}
