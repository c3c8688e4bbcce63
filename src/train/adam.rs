//! Adam (Kingma & Ba), with bias correction and optional decoupled weight decay (AdamW), in
//! the form PyTorch uses so that the two trainers take the same steps.

use super::TrainReal;

pub const BETA1: f64 = 0.9;
pub const BETA2: f64 = 0.999;
pub const EPSILON: f64 = 1e-8;

/// The moment estimates, one per parameter.
#[derive(Debug, Clone)]
pub struct Adam<T> {
    pub m: Vec<T>,
    pub v: Vec<T>,
    /// Steps taken so far.
    pub steps: u64,
}

/// The constants of step number `t` (1-based), shared by every slice of the parameters.
#[derive(Debug, Clone, Copy)]
pub struct AdamStep<T> {
    b1: T,
    b2: T,
    one_minus_b1: T,
    one_minus_b2: T,
    /// `lr / (1 - beta1^t)`.
    step_size: T,
    /// `1 / sqrt(1 - beta2^t)`.
    inv_sqrt_bc2: T,
    eps: T,
    /// `1 - lr * weight_decay`, the factor weights shrink by before the step.
    decay: T,
}

impl<T: TrainReal> AdamStep<T> {
    pub fn new(t: u64, lr: f64, weight_decay: f64) -> Self {
        let t = t.max(1) as i32;
        AdamStep {
            b1: T::from_f64(BETA1),
            b2: T::from_f64(BETA2),
            one_minus_b1: T::from_f64(1.0 - BETA1),
            one_minus_b2: T::from_f64(1.0 - BETA2),
            step_size: T::from_f64(lr / (1.0 - BETA1.powi(t))),
            inv_sqrt_bc2: T::from_f64(1.0 / (1.0 - BETA2.powi(t)).sqrt()),
            eps: T::from_f64(EPSILON),
            decay: T::from_f64(1.0 - lr * weight_decay),
        }
    }

    /// Updates `params` from `grad`, with moments `m`, `v` (all the same length);
    /// `weight_decay`: whether these parameters are weights that decay.
    #[inline(always)]
    pub fn apply(&self, params: &mut [T], grad: &[T], m: &mut [T], v: &mut [T], weight_decay: bool) {
        let n = params.len();
        assert!(grad.len() == n && m.len() == n && v.len() == n);
        let decay = if weight_decay { self.decay } else { T::ONE };
        for i in 0..n {
            let g = grad[i];
            let mi = self.b1 * m[i] + self.one_minus_b1 * g;
            let vi = self.b2 * v[i] + self.one_minus_b2 * g * g;
            m[i] = mi;
            v[i] = vi;
            let denom = vi.sqrt() * self.inv_sqrt_bc2 + self.eps;
            params[i] = params[i] * decay - self.step_size * mi / denom;
        }
    }
}

impl<T: TrainReal> Adam<T> {
    pub fn new(n_params: usize) -> Self {
        Adam { m: vec![T::ZERO; n_params], v: vec![T::ZERO; n_params], steps: 0 }
    }
}
