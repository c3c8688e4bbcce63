//! Upper limits on every size a spec sets, so that a spec that cannot be built is refused when
//! it is read (naming the key, the value and the limit) instead of aborting `zelos build` on an
//! allocation of exabytes.
//!
//! Each limit is about ten times the largest value a real emulator uses (shown beside it); the
//! table in `docs/spec.md` (section Limits) lists the same numbers.

use super::error::{Origin, SpecError};

/// The spec text, in bytes. Real specs are a few kB; an inline 30 x 30 covariance adds 30 kB.
pub const MAX_SPEC_BYTES: usize = 4 << 20;
/// A covariance file (`reference.covariance.file`), in bytes. Planck's are 30 kB; a 200 x 200
/// covariance is under 1 MB.
pub const MAX_COVMAT_BYTES: usize = 16 << 20;
/// Nesting of lists and mappings in the YAML. Real specs nest 5 deep (the covariance rows).
pub const MAX_NESTING: usize = 32;
/// Parameters (network inputs). Real emulators take 3 to 12.
pub const MAX_PARAMETERS: usize = 200;
/// `emulator.hidden_layers`. Real networks have 3 to 8.
pub const MAX_HIDDEN_LAYERS: usize = 64;
/// `emulator.width`. Real networks use 64 to 1024 neurons per layer.
pub const MAX_WIDTH: usize = 8192;
/// `outputs.cmb.lmax`. Real CMB emulators stop at 2508 to 5000.
pub const MAX_LMAX: u32 = 50_000;
/// `outputs.matter_power.k.n`. Real P(k) emulators use 200 to 500 wavenumbers.
pub const MAX_K_POINTS: usize = 5_000;
/// Redshifts of a grid (`z.n`, or the length of a `z` list). Real grids have 1 to 200.
pub const MAX_Z_POINTS: usize = 2_000;
/// Values one network predicts (n_k x n_z for P(k)). Real networks predict at most ~50 000.
pub const MAX_NETWORK_OUTPUTS: usize = 500_000;
/// Weights of one network (every layer, the linear baseline included). The largest real
/// networks (4 x 1024 onto 2507 outputs) have about 6 million.
pub const MAX_NETWORK_WEIGHTS: u64 = 100_000_000;
/// `transforms.outputs.*.pca`. Real emulators keep 20 to 512 components.
pub const MAX_PCA_COMPONENTS: usize = 5_000;
/// `training.epochs` and `training.patience`. Real trainings run 1000 to 10 000 epochs.
pub const MAX_EPOCHS: usize = 100_000;
/// `training.batch_size`. Real batches hold 32 to 4096 points.
pub const MAX_BATCH_SIZE: usize = 65_536;
/// `sampling.points` and `sampling.test_points`. Real training sets hold 400 to 500 000 points.
pub const MAX_POINTS: usize = 5_000_000;

/// `n` must not exceed `max`; `what` says what is counted ("neurons per hidden layer").
pub(crate) fn at_most<N: PartialOrd + std::fmt::Display>(
    n: N,
    max: N,
    key: &str,
    what: &str,
    origin: &Origin,
) -> Result<(), SpecError> {
    if n > max {
        return Err(origin.error(key, n.to_string(), limit_text(&max, what)));
    }
    Ok(())
}

/// "at most MAX WHAT (zelos's limit; see docs/spec.md, Limits)".
pub(crate) fn limit_text(max: &dyn std::fmt::Display, what: &str) -> String {
    format!("at most {max} {what} (zelos's limit; see docs/spec.md, Limits)")
}
