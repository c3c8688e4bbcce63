//! Dense networks: the forward pass for one point and for a batch, and the analytic Jacobian.
//!
//! Weights are held transposed (`[n_in, n_out]`, row-major) so that a single-point layer is a
//! sum of scaled weight rows (axpy), which vectorises without horizontal reductions; the same
//! layout is the `B` operand of a row-major GEMM for batches.

mod activation;
pub(crate) mod kernel;
mod mlp;
mod real;

pub use activation::Activation;
pub use kernel::{exp_in_place, pow10_in_place};
pub use mlp::{BatchScratch, Dense, Mlp, Workspace};
pub use real::Real;
