//! zelos: emulators of cosmological Boltzmann codes.
//!
//! The crate is usable on its own from Rust; the Python bindings live in [`python`] behind the
//! `python` cargo feature and only convert types.
//!
//! * [`spec`]: the YAML emulator spec, parsed and validated (what an emulator emulates).
//! * [`archive`]: the `NAME.tar.gz` container, format version 1 (manifest, hashes, safety rules).
//! * [`nn`]: dense networks: forward pass (single point and batch) and the analytic Jacobian.
//! * [`transform`]: input scaling and output transforms (standardise, PCA, log).
//! * [`model`]: the evaluation graph stored in an archive (`model.json` + `weights.safetensors`).
//! * [`emulator`]: an archive loaded for evaluation.
//! * [`region`]: trust regions (box, Mahalanobis, convex hull): which points an emulator may answer.
//! * [`router`]: several emulators at once; which one serves each output at a point, or why none.
//! * [`pointlog`]: the append-only log of points no emulator could answer.
//! * [`hub`]: emulators by name (`hub:NAME[@VERSION]`): downloaded, verified, cached; publishing.

pub mod archive;
pub mod capi;
pub mod emulator;
pub mod error;
pub mod hub;
mod keywords;
pub mod model;
pub mod nn;
pub mod pointlog;
pub mod region;
pub mod router;
pub mod spec;
pub mod tensors;
#[doc(hidden)]
pub mod testing;
pub mod train;
pub mod transform;

#[cfg(feature = "python")]
mod python;

pub use archive::{Archive, ArchiveWriter};
pub use emulator::Emulator;
pub use error::{Error, Result};
pub use spec::Spec;
