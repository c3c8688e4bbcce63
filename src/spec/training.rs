//! `training` (how the networks are fitted) and `sampling` (where the code is run to make the
//! training and test sets).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::error::{Origin, SpecError};
use crate::keywords::keywords;
use super::limits::{self, MAX_BATCH_SIZE, MAX_EPOCHS, MAX_POINTS};

keywords! {
    /// The optimizer.
    pub enum Optimizer {
        Adam = "adam",
    }
}

keywords! {
    /// How the learning rate goes from `initial` to `final`.
    pub enum Schedule {
        /// `initial` throughout (`final` unused).
        Constant = "constant",
        /// Cosine decay from `initial` to `final` over the epochs.
        Cosine = "cosine",
        /// Geometric decay from `initial` to `final` over the epochs.
        Exponential = "exponential",
        /// Divided by 10 after 10 epochs without validation improvement, never below `final`.
        Plateau = "plateau",
    }
}

keywords! {
    /// How training points are placed.
    pub enum Design {
        /// A Latin hypercube filling the parameter box.
        LatinHypercube = "latin_hypercube",
        /// Uniform inside the ellipsoid `sigmas` standard deviations around `reference`,
        /// within the parameter box.
        Ellipsoid = "ellipsoid",
        /// A scrambled Sobol sequence in the parameter box (and its `constraints`):
        /// space-filling, and prefix-stable, so a generation stopped early keeps an exact
        /// design of its own size.
        Sobol = "sobol",
        /// Points read from `file` (one point a line, parameter order; e.g. an MCMC chain).
        File = "file",
    }
}

/// The `training` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    default,
    deny_unknown_fields,
    expecting = "a mapping with keys `optimizer`, `learning_rate`, `epochs`, `batch_size`, `seed`, `validation_fraction`, `patience`"
)]
pub struct Training {
    pub optimizer: Optimizer,
    pub learning_rate: LearningRate,
    /// The most epochs trained (>= 1).
    pub epochs: usize,
    /// Points per optimizer step (>= 1).
    pub batch_size: usize,
    /// Seed of weight initialisation, the shuffling and the validation split.
    pub seed: u64,
    /// The share of training points held back to monitor training, in (0, 0.5].
    pub validation_fraction: f64,
    /// Stop after this many epochs without validation improvement (`None`: never stop early).
    pub patience: Option<usize>,
}

/// `training.learning_rate`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, expecting = "a mapping with keys `initial`, `final`, `schedule`")]
pub struct LearningRate {
    pub initial: f64,
    /// `final` in YAML.
    pub r#final: f64,
    pub schedule: Schedule,
}

impl Default for Training {
    fn default() -> Self {
        Training {
            optimizer: Optimizer::Adam,
            learning_rate: LearningRate::default(),
            epochs: 1000,
            batch_size: 256,
            seed: 1,
            validation_fraction: 0.1,
            patience: Some(100),
        }
    }
}

impl Default for LearningRate {
    fn default() -> Self {
        LearningRate { initial: 1e-3, r#final: 1e-5, schedule: Schedule::Cosine }
    }
}

impl Training {
    pub(crate) fn validate(&self, origin: &Origin) -> Result<(), SpecError> {
        let rate = &self.learning_rate;
        for (key, x) in
            [("training.learning_rate.initial", rate.initial), ("training.learning_rate.final", rate.r#final)]
        {
            if !(x > 0.0 && x.is_finite()) {
                return Err(origin.error(key, format!("{x:?}"), "a finite learning rate > 0"));
            }
        }
        if rate.r#final > rate.initial {
            return Err(origin.error(
                "training.learning_rate.final",
                format!("{:?}, above initial ({:?})", rate.r#final, rate.initial),
                "a final learning rate <= initial",
            ));
        }
        at_least_one(self.epochs, "training.epochs", origin)?;
        limits::at_most(self.epochs, MAX_EPOCHS, "training.epochs", "epochs", origin)?;
        at_least_one(self.batch_size, "training.batch_size", origin)?;
        limits::at_most(self.batch_size, MAX_BATCH_SIZE, "training.batch_size", "points per batch", origin)?;
        let f = self.validation_fraction;
        if !(f > 0.0 && f <= 0.5) {
            return Err(origin.error("training.validation_fraction", format!("{f:?}"), "a fraction in (0, 0.5]"));
        }
        if let Some(p) = self.patience {
            at_least_one(p, "training.patience", origin)?;
            limits::at_most(p, MAX_EPOCHS, "training.patience", "epochs (or null: never stop early)", origin)?;
        }
        Ok(())
    }
}

/// The `sampling` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(from = "SamplingDoc")]
pub struct Sampling {
    pub design: Design,
    /// Training points (>= 1).
    pub points: usize,
    /// Held-out points for the accuracy report (>= 1; default: a tenth of `points`, rounded up).
    pub test_points: usize,
    /// Seed of the design and of the test points.
    pub seed: u64,
    /// `ellipsoid` only: the ellipsoid's size in standard deviations (default 5).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sigmas: Option<f64>,
    /// `ellipsoid` only: a sparse outer shell of points (none by default).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shell: Option<Shell>,
    /// `file` only: the file of points, relative to the spec file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// This many more points of the same design at which only the background is computed
    /// (CAMB's background alone costs about 0.04 s a point against 1.3 s for the CMB): they
    /// train the `background` network only, beside the design's points (none by default).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub background_points: Option<usize>,
}

/// `sampling.shell`: points drawn uniformly inside a larger ellipsoid of `sigmas` standard
/// deviations, beside the design's own. A Metropolis chain proposes far beyond where its
/// accepted points lie (holding 99% of Cobaya's proposals takes about 9.5 of the posterior's own
/// sigma in 7 parameters): the shell keeps those proposals, nearly all rejected, off the code, at
/// a fraction of the points a dense ellipsoid that large would take. Either a `fraction` of the
/// design's points lies in the shell, or `points` more are added after them (the design's own
/// points are then exactly those without a shell: a shell added to a finished build reuses every
/// point computed).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a mapping with keys `sigmas` and `fraction` or `points`")]
pub struct Shell {
    /// The outer ellipsoid's size in standard deviations (> the design's `sigmas`).
    pub sigmas: f64,
    /// The share of the points drawn in the outer ellipsoid (0 < fraction < 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fraction: Option<f64>,
    /// Or: this many points more, in the outer ellipsoid (the held-out points get as many more
    /// in proportion).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub points: Option<usize>,
}

/// The section as written: `test_points` and `sigmas` have defaults that depend on other keys.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(
    default,
    deny_unknown_fields,
    expecting = "a mapping with keys `design`, `points`, `test_points`, `seed`, `sigmas`, `shell`, `file`, \
                 `background_points`"
)]
struct SamplingDoc {
    design: Design,
    points: usize,
    test_points: Option<usize>,
    seed: u64,
    sigmas: Option<f64>,
    shell: Option<Shell>,
    file: Option<String>,
    background_points: Option<usize>,
}

/// The ellipsoid's default size, in standard deviations.
const DEFAULT_SIGMAS: f64 = 5.0;

impl Default for SamplingDoc {
    fn default() -> Self {
        SamplingDoc {
            design: Design::LatinHypercube,
            points: 2000,
            test_points: None,
            seed: 2,
            sigmas: None,
            shell: None,
            file: None,
            background_points: None,
        }
    }
}

impl From<SamplingDoc> for Sampling {
    fn from(doc: SamplingDoc) -> Self {
        let sigmas = match doc.design {
            Design::Ellipsoid => doc.sigmas.or(Some(DEFAULT_SIGMAS)),
            _ => doc.sigmas,
        };
        Sampling {
            design: doc.design,
            points: doc.points,
            test_points: doc.test_points.unwrap_or(doc.points.div_ceil(10)),
            seed: doc.seed,
            sigmas,
            shell: doc.shell,
            file: doc.file,
            background_points: doc.background_points,
        }
    }
}

impl Default for Sampling {
    fn default() -> Self {
        SamplingDoc::default().into()
    }
}

impl Sampling {
    /// The points file resolved against the folder of the spec file.
    pub fn file_path(&self, spec_dir: &Path) -> Option<PathBuf> {
        self.file.as_ref().map(|f| spec_dir.join(f))
    }

    /// Counts >= 1; `sigmas` and `file` exactly where their design needs them.
    pub(crate) fn validate(&self, has_reference: bool, origin: &Origin) -> Result<(), SpecError> {
        at_least_one(self.points, "sampling.points", origin)?;
        limits::at_most(self.points, MAX_POINTS, "sampling.points", "training points", origin)?;
        at_least_one(self.test_points, "sampling.test_points", origin)?;
        limits::at_most(self.test_points, MAX_POINTS, "sampling.test_points", "test points", origin)?;
        match (self.design, self.sigmas) {
            (Design::Ellipsoid, Some(s)) if !(s > 0.0 && s.is_finite()) => {
                return Err(origin.error(
                    "sampling.sigmas",
                    format!("{s:?}"),
                    "a finite number of standard deviations > 0",
                ));
            }
            (Design::Ellipsoid, _) | (_, None) => {}
            (design, Some(_)) => return Err(only_for("sigmas", Design::Ellipsoid, design, origin)),
        }
        if let Some(shell) = self.shell {
            if self.design != Design::Ellipsoid {
                return Err(only_for("shell", Design::Ellipsoid, self.design, origin));
            }
            let inner = self.sigmas.unwrap_or(DEFAULT_SIGMAS);
            if !(shell.sigmas.is_finite() && shell.sigmas > inner) {
                return Err(origin.error(
                    "sampling.shell.sigmas",
                    format!("{:?}", shell.sigmas),
                    format!("a finite number of standard deviations larger than `sampling.sigmas` ({inner})"),
                ));
            }
            match (shell.fraction, shell.points) {
                (Some(f), None) if !(f > 0.0 && f < 1.0) => {
                    return Err(origin.error(
                        "sampling.shell.fraction",
                        format!("{f:?}"),
                        "the share of the points drawn in the shell, between 0 and 1 (exclusive)",
                    ));
                }
                (Some(_), None) => {}
                (None, Some(n)) => {
                    at_least_one(n, "sampling.shell.points", origin)?;
                    limits::at_most(self.points + n, MAX_POINTS, "sampling.shell.points", "training points", origin)?;
                }
                (fraction, _) => {
                    return Err(origin.error(
                        "sampling.shell",
                        if fraction.is_some() { "both `fraction` and `points`" } else { "neither `fraction` nor `points`" },
                        "one of `fraction` (the share of the design's points in the shell) or `points` (points added)",
                    ));
                }
            }
        }
        if let Some(n) = self.background_points {
            if self.design == Design::File {
                return Err(origin.error(
                    "sampling.background_points",
                    "a count with design `file`",
                    "no `background_points` (a file of points cannot be drawn further), or another design",
                ));
            }
            at_least_one(n, "sampling.background_points", origin)?;
            limits::at_most(n, MAX_POINTS, "sampling.background_points", "background points", origin)?;
        }
        if self.design == Design::Ellipsoid && !has_reference {
            return Err(origin.error(
                "sampling.design",
                "`ellipsoid` without a `reference` section",
                "a `reference` (center and covariance) to build the ellipsoid from, or another design",
            ));
        }
        match (self.design, &self.file) {
            (Design::File, None) => Err(origin.error(
                "sampling.file",
                "nothing (the key is missing)",
                "the file of points that design `file` reads",
            )),
            (Design::File, Some(f)) if f.trim().is_empty() => {
                Err(origin.error("sampling.file", "an empty file name", "the file of points that design `file` reads"))
            }
            (Design::File, _) | (_, None) => Ok(()),
            (design, Some(_)) => Err(only_for("file", Design::File, design, origin)),
        }
    }
}

/// A key that only one design uses, given with another.
fn only_for(key: &str, needs: Design, design: Design, origin: &Origin) -> SpecError {
    origin.error(
        format!("sampling.{key}"),
        format!("`{key}` with design `{design}`"),
        format!("`{key}` only with design `{needs}` (remove it)"),
    )
}

fn at_least_one(n: usize, key: &str, origin: &Origin) -> Result<(), SpecError> {
    if n == 0 {
        return Err(origin.error(key, "0", "an integer >= 1"));
    }
    Ok(())
}
