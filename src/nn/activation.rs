//! Activation functions of hidden layers, their values and their derivatives.

use super::Real;
use crate::keywords::keywords;

keywords! {
    /// The activation of a hidden layer (output layers are linear): the one type the spec
    /// (`emulator.activation`, re-exported as `spec::Activation`), archives (`model.json`) and the
    /// trainer share. Spelled in lowercase everywhere (`tanh`, `relu`, `silu`, `cosmopower`).
    pub enum Activation {
        Tanh = "tanh",
        Relu = "relu",
        /// `x * sigmoid(x)`.
        Silu = "silu",
        /// CosmoPower's `(beta + sigmoid(alpha x) (1 - beta)) x`, with trained `alpha`, `beta` per unit.
        Cosmopower = "cosmopower",
    }
}

impl Activation {
    /// The keyword (the same as [`Activation::as_str`]).
    pub fn name(self) -> &'static str {
        self.as_str()
    }

    /// Whether the layer carries trained `alpha` and `beta` vectors.
    pub fn has_parameters(self) -> bool {
        self == Activation::Cosmopower
    }

    /// `out = f(pre)`. `alpha` and `beta` are used only by [`Activation::Cosmopower`].
    pub fn apply<T: Real>(self, pre: &[T], alpha: &[T], beta: &[T], out: &mut [T]) {
        let half = T::from_f64(0.5);
        match self {
            Activation::Tanh => {
                out.copy_from_slice(pre);
                T::tanh_in_place(out);
            }
            Activation::Relu => {
                for (o, &x) in out.iter_mut().zip(pre) {
                    *o = x.max(T::ZERO);
                }
            }
            Activation::Silu => {
                // sigmoid(x) = (1 + tanh(x / 2)) / 2 reuses the fast tanh.
                half_tanh(pre, None, out);
                for (o, &x) in out.iter_mut().zip(pre) {
                    *o = x * half * (T::ONE + *o);
                }
            }
            Activation::Cosmopower => {
                half_tanh(pre, Some(alpha), out);
                for (i, o) in out.iter_mut().enumerate() {
                    let s = half * (T::ONE + *o);
                    *o = (beta[i] + s * (T::ONE - beta[i])) * pre[i];
                }
            }
        }
    }

    /// `out = f'(pre)`, given `post = f(pre)` (tanh's derivative needs only `post`).
    pub fn derivative<T: Real>(self, pre: &[T], post: &[T], alpha: &[T], beta: &[T], out: &mut [T]) {
        let half = T::from_f64(0.5);
        match self {
            Activation::Tanh => {
                for (d, &y) in out.iter_mut().zip(post) {
                    *d = T::ONE - y * y;
                }
            }
            Activation::Relu => {
                for (d, &x) in out.iter_mut().zip(pre) {
                    *d = if x > T::ZERO { T::ONE } else { T::ZERO };
                }
            }
            Activation::Silu => {
                half_tanh(pre, None, out);
                for (d, &x) in out.iter_mut().zip(pre) {
                    let s = half * (T::ONE + *d);
                    *d = s + x * s * (T::ONE - s);
                }
            }
            Activation::Cosmopower => {
                half_tanh(pre, Some(alpha), out);
                for (i, d) in out.iter_mut().enumerate() {
                    let s = half * (T::ONE + *d);
                    let ax = alpha[i] * pre[i];
                    *d = beta[i] + (T::ONE - beta[i]) * (s + ax * s * (T::ONE - s));
                }
            }
        }
    }
}

/// `out = tanh(scale * pre / 2)`, with `scale` = 1 or a per-unit vector.
fn half_tanh<T: Real>(pre: &[T], scale: Option<&[T]>, out: &mut [T]) {
    let half = T::from_f64(0.5);
    match scale {
        Some(a) => {
            for ((o, &x), &ai) in out.iter_mut().zip(pre).zip(a) {
                *o = half * ai * x;
            }
        }
        None => {
            for (o, &x) in out.iter_mut().zip(pre) {
                *o = half * x;
            }
        }
    }
    T::tanh_in_place(out);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_derivative(act: Activation) {
        let pre: Vec<f64> = (-40..=40).map(|i| i as f64 * 0.1 + 0.013).collect();
        let alpha: Vec<f64> = pre.iter().map(|x| 0.7 + 0.1 * x.sin()).collect();
        let beta: Vec<f64> = pre.iter().map(|x| 0.2 + 0.1 * x.cos()).collect();
        let n = pre.len();
        let (mut post, mut d) = (vec![0.0; n], vec![0.0; n]);
        act.apply(&pre, &alpha, &beta, &mut post);
        act.derivative(&pre, &post, &alpha, &beta, &mut d);
        let h = 1e-6;
        let plus: Vec<f64> = pre.iter().map(|x| x + h).collect();
        let minus: Vec<f64> = pre.iter().map(|x| x - h).collect();
        let (mut fp, mut fm) = (vec![0.0; n], vec![0.0; n]);
        act.apply(&plus, &alpha, &beta, &mut fp);
        act.apply(&minus, &alpha, &beta, &mut fm);
        for i in 0..n {
            let numeric = (fp[i] - fm[i]) / (2.0 * h);
            assert!((numeric - d[i]).abs() < 1e-7, "{act:?} at {}: {numeric} vs {}", pre[i], d[i]);
        }
    }

    #[test]
    fn derivatives_match_finite_differences() {
        for act in [Activation::Tanh, Activation::Relu, Activation::Silu, Activation::Cosmopower] {
            check_derivative(act);
        }
    }
}
