//! Training dense networks (the `fit` step of `zelos build`): mean squared error, Adam,
//! shuffled mini-batches split across threads, a learning-rate schedule, early stopping on a
//! validation set, and the weights of the best validation epoch as the result.
//!
//! The data arrive normalised (standardised inputs, standardised or PCA-projected targets);
//! the result is an [`Mlp<f32>`](crate::nn::Mlp) whose forward pass is the one archives run.
//!
//! * [`config`]: [`TrainConfig`], [`Schedule`] and their checks; [`data`]: the input checks.
//! * [`layout`]: where each parameter lies in the flat vector; [`network`]: the parameters, initialisation.
//! * [`backprop`] (with [`activation`] and [`gemm`]): the gradient of the loss.
//! * [`adam`], [`schedule`]: the optimiser and the learning rate.
//! * `parallel`: one epoch on several threads; [`trainer`]: the loop around epochs.
//! * [`rng`]: the seeded generator of initial weights and shuffling.

pub mod activation;
pub mod adam;
pub mod backprop;
pub mod config;
pub mod data;
pub mod gemm;
pub mod layout;
pub mod network;
mod parallel;
pub mod rng;
pub mod schedule;
mod simd;
pub mod trainer;

pub use config::{Schedule, TrainConfig};
pub use gemm::TrainReal;
pub use layout::Layout;
pub use network::Network;
pub use schedule::LrScheduler;
pub use trainer::{train, EpochReport, StopReason, TrainOutcome};
