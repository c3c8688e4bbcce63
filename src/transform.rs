//! Input scaling and output transforms.
//!
//! Networks see scaled inputs, `x_n = (x - shift) / scale`, and produce a vector that a chain of
//! output steps turns into physical outputs: un-standardising (`affine`), PCA reconstruction
//! (`linear`) and un-logging (`pow10`, `exp`). Each step also maps tangent vectors, which gives
//! the analytic Jacobian through the whole chain.
//!
//! A batch goes through each step at once, as a `[rows, n]` matrix: the PCA reconstruction is
//! then one matrix product, and the elementwise steps run over the whole block.

use crate::nn::{exp_in_place, pow10_in_place, Real};

/// `x_n = (x - shift) / scale`, per parameter, in f64 (parameters such as `ombh2` need it).
#[derive(Debug, Clone, PartialEq)]
pub struct InputScaling {
    pub shift: Vec<f64>,
    pub scale: Vec<f64>,
}

impl InputScaling {
    pub fn len(&self) -> usize {
        self.shift.len()
    }

    pub fn is_empty(&self) -> bool {
        self.shift.is_empty()
    }

    pub fn apply<T: Real>(&self, x: &[f64], out: &mut [T]) {
        for (i, o) in out.iter_mut().enumerate() {
            *o = T::from_f64((x[i] - self.shift[i]) / self.scale[i]);
        }
    }

    /// The tangents of the scaled input along each parameter: row `j` is `d x_n / d x_j`.
    pub fn tangent_seeds<T: Real>(&self) -> Vec<T> {
        let p = self.len();
        let mut seeds = vec![T::ZERO; p * p];
        for j in 0..p {
            seeds[j * p + j] = T::from_f64(1.0 / self.scale[j]);
        }
        seeds
    }
}

/// One step of an output transform.
#[derive(Debug, Clone, PartialEq)]
pub enum OutputStep<T> {
    /// `y = x * scale + shift` (un-standardise).
    Affine { scale: Vec<T>, shift: Vec<T> },
    /// `y = x^T M + bias` with `M` `[n_in, n_out]` row-major (PCA reconstruction: rows of `M`
    /// are the components).
    Linear { matrix: Vec<T>, bias: Vec<T>, n_in: usize, n_out: usize },
    /// `y = 10^x`.
    Pow10,
    /// `y = e^x`.
    Exp,
}

impl<T: Real> OutputStep<T> {
    /// The length of the output for an input of length `n_in`.
    pub fn output_len(&self, n_in: usize) -> usize {
        match self {
            OutputStep::Linear { n_out, .. } => *n_out,
            _ => n_in,
        }
    }

    /// Applies the step to `x`, writing `y` (resized as needed).
    pub fn apply(&self, x: &[T], y: &mut Vec<T>) {
        match self {
            OutputStep::Affine { scale, shift } => {
                y.clear();
                y.extend(x.iter().zip(scale).zip(shift).map(|((&v, &s), &m)| v * s + m));
            }
            OutputStep::Linear { matrix, bias, .. } => {
                y.clear();
                y.extend_from_slice(bias);
                T::gemv_t(matrix, x, y);
            }
            OutputStep::Pow10 => {
                y.clear();
                y.extend_from_slice(x);
                pow10_in_place(y);
            }
            OutputStep::Exp => {
                y.clear();
                y.extend_from_slice(x);
                exp_in_place(y);
            }
        }
    }

    /// Applies the step to `rows` points, `x` `[rows, n_in]` row-major: in place for the
    /// elementwise steps (returns `false`), into `y` `[rows, n_out]` (resized as needed) for
    /// `linear` (returns `true`). The values are those of [`OutputStep::apply`] on each row (the
    /// same to rounding: `linear` is a matrix product here, a sum of scaled rows there).
    pub fn apply_batch(&self, x: &mut [T], rows: usize, y: &mut Vec<T>) -> bool {
        match self {
            OutputStep::Affine { scale, shift } => {
                for row in x.chunks_exact_mut(scale.len()) {
                    for ((v, &s), &m) in row.iter_mut().zip(scale).zip(shift) {
                        *v = *v * s + m;
                    }
                }
                false
            }
            OutputStep::Linear { matrix, bias, n_in, n_out } => {
                // The product overwrites `y` (beta = 0): no zeroing of old contents.
                y.resize(rows * n_out, T::ZERO);
                T::gemm(rows, *n_in, *n_out, x, matrix, y);
                for row in y.chunks_exact_mut(*n_out) {
                    for (v, &b) in row.iter_mut().zip(bias) {
                        *v += b;
                    }
                }
                true
            }
            OutputStep::Pow10 => {
                pow10_in_place(x);
                false
            }
            OutputStep::Exp => {
                exp_in_place(x);
                false
            }
        }
    }

    /// Maps the tangent `t` (taken at the step's input) to the output; `y` is the step's output.
    pub fn apply_tangent(&self, y: &[T], t: &[T], out: &mut [T]) {
        match self {
            OutputStep::Affine { scale, .. } => {
                for ((o, &v), &s) in out.iter_mut().zip(t).zip(scale) {
                    *o = v * s;
                }
            }
            OutputStep::Linear { matrix, .. } => {
                out.fill(T::ZERO);
                T::gemv_t(matrix, t, out);
            }
            OutputStep::Pow10 => {
                let ln10 = T::from_f64(std::f64::consts::LN_10);
                for ((o, &v), &yi) in out.iter_mut().zip(t).zip(y) {
                    *o = v * yi * ln10;
                }
            }
            OutputStep::Exp => {
                for ((o, &v), &yi) in out.iter_mut().zip(t).zip(y) {
                    *o = v * yi;
                }
            }
        }
    }
}

/// A chain of output steps.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct OutputTransform<T> {
    pub steps: Vec<OutputStep<T>>,
}

impl<T: Real> OutputTransform<T> {
    pub fn output_len(&self, n_in: usize) -> usize {
        self.steps.iter().fold(n_in, |n, s| s.output_len(n))
    }

    /// Applies every step to `x` in place (the vector is resized where a step changes length).
    pub fn apply(&self, x: &mut Vec<T>, scratch: &mut Vec<T>) {
        for step in &self.steps {
            step.apply(x, scratch);
            std::mem::swap(x, scratch);
        }
    }

    /// The longest vector along the chain for an input of length `n_in` (sizes scratch buffers).
    pub fn max_len(&self, n_in: usize) -> usize {
        let mut n = n_in;
        let mut widest = n;
        for step in &self.steps {
            n = step.output_len(n);
            widest = widest.max(n);
        }
        widest
    }

    /// Applies every step to `rows` points `x` `[rows, n]` in place (resized where a step
    /// changes length); see [`OutputStep::apply_batch`].
    pub fn apply_batch(&self, x: &mut Vec<T>, rows: usize, scratch: &mut Vec<T>) {
        for step in &self.steps {
            if step.apply_batch(x, rows, scratch) {
                std::mem::swap(x, scratch);
            }
        }
    }

    /// Applies every step to `x` and to `p` tangents `[p, len(x)]`, in place.
    pub fn apply_with_tangents(&self, x: &mut Vec<T>, tangents: &mut Vec<T>, p: usize, scratch: &mut Vec<T>) {
        let mut t_next = Vec::new();
        for step in &self.steps {
            step.apply(x, scratch);
            std::mem::swap(x, scratch);
            let (n_in, n_out) = (scratch.len(), x.len());
            t_next.clear();
            t_next.resize(p * n_out, T::ZERO);
            for j in 0..p {
                step.apply_tangent(x, &tangents[j * n_in..(j + 1) * n_in], &mut t_next[j * n_out..(j + 1) * n_out]);
            }
            std::mem::swap(tangents, &mut t_next);
        }
    }
}
