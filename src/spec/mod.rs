//! The emulator spec: a YAML file that completely defines an emulator (which code, which
//! version and settings, which parameters over which ranges, which outputs, the networks, their
//! training, the sampling and the trust region), parsed and validated.
//!
//! Reading goes in three steps, each with its own errors:
//! 1. YAML text to a YAML value: first the size of the text and, on the parser's events, no
//!    tags and bounded nesting (`plain_yaml.rs`); then syntax errors and repeated keys (key
//!    `line L column C` or the repeated key's path);
//! 2. the value to the `Document` form by serde, tracked by serde_path_to_error
//!    (unknown keys, wrong types, missing keys: key = dotted path);
//! 3. validation of each section, which also reads covariance files and fills in defaults that
//!    depend on other keys (a [`Spec`]).
//!
//! A [`Spec`] is self-contained: [`Spec::to_yaml_string`] writes its canonical YAML, with the
//! covariance inline and every per-network transform spelled out, and reading that back gives
//! the same `Spec`. The keys are documented in `docs/spec.md`.

mod code;
mod constraints;
mod covmat;
mod document;
mod emulator;
mod error;
mod forms;
pub mod limits;
mod outputs;
mod plain_yaml;
mod parameters;
mod reference;
mod training;
mod transforms;
mod trust;

use std::path::Path;

use serde::{Deserialize, Serialize};

pub use code::{Code, CodeSpec, Settings};
pub use covmat::read_named as read_covmat;
pub use constraints::{Constraint, LinearConstraint, MAX_CONSTRAINTS};
pub use emulator::{Activation, Layout, NetworkKind, NetworkOverride, NetworkSpec};
pub use error::SpecError;
pub use outputs::{
    NamedOutput,
    BackgroundFunction, BackgroundOutput, CmbOutput, DerivedParameter, Grid, MatterPowerOutput, Outputs, Spectrum,
    ZGrid,
};
pub use parameters::Parameter;
pub use reference::Reference;
pub use training::{Design, LearningRate, Optimizer, Sampling, Schedule, Shell, Training};
pub use transforms::{Baseline, InputTransform, LogTransform, OutputTransform, Transforms};
pub use trust::{Threshold, Trust, TrustMethod};

use document::Document;
use error::Origin;

/// A complete, validated emulator spec.
///
/// Its serde form is the canonical YAML document (the same as [`Spec::to_yaml_string`]);
/// deserializing validates, with relative covariance files resolved against the working
/// directory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(into = "Document", try_from = "Document")]
pub struct Spec {
    /// The emulator's name, `[A-Za-z0-9_.-]+`: its archive is `NAME.tar.gz`.
    pub name: String,
    pub author: String,
    /// The version of this emulator (not of the code).
    pub version: String,
    pub description: Option<String>,
    /// The Boltzmann code, its exact version and settings.
    pub code: CodeSpec,
    /// The inputs, in input order, each with its range.
    pub parameters: Vec<Parameter>,
    /// Linear inequalities that cut the parameter box (`constraints`; empty: the box).
    pub constraints: Vec<Constraint>,
    /// A reference Gaussian of the region of interest (e.g. a posterior).
    pub reference: Option<Reference>,
    pub outputs: Outputs,
    /// The network architecture (`emulator` in YAML).
    pub emulator: NetworkSpec,
    pub transforms: Transforms,
    pub training: Training,
    pub sampling: Sampling,
    pub trust: Trust,
}

impl Spec {
    /// Reads and validates a spec file; relative covariance files are resolved against the
    /// spec file's folder.
    pub fn from_path(path: &Path) -> Result<Spec, SpecError> {
        let file = path.display().to_string();
        let text = read_text(path, &file)?;
        let base_dir = path.parent().unwrap_or(Path::new(""));
        parse(&text, &Origin { file: &file, base_dir })
    }

    /// Parses and validates spec text; `origin` labels it in messages. Relative covariance
    /// files are resolved against the working directory.
    pub fn from_yaml_str(text: &str, origin: &str) -> Result<Spec, SpecError> {
        parse(text, &Origin { file: origin, base_dir: Path::new("") })
    }

    /// The canonical YAML: every section and default written out, the covariance inline (its
    /// file named in `source`). `Spec::from_yaml_str(&spec.to_yaml_string(), _)` gives `spec`.
    pub fn to_yaml_string(&self) -> String {
        yaml_serde::to_string(self).expect("a spec has only string keys and plain values, so it always serializes")
    }

    /// The parameter names, in input order.
    pub fn parameter_names(&self) -> Vec<&str> {
        self.parameters.iter().map(|p| p.name.as_str()).collect()
    }

    /// The constraints resolved against the parameter order, for region checks.
    pub fn linear_constraints(&self) -> Vec<LinearConstraint> {
        self.constraints.iter().map(|c| c.resolve(&self.parameters)).collect()
    }

    /// The output networks in their fixed order: the CMB spectra (`tt`, `te`, `ee`, `bb`,
    /// `pp`), `pk_lin`, `pk_nonlin`, `background`, `derived`; only those the outputs ask for.
    pub fn network_names(&self) -> Vec<String> {
        self.outputs.network_names()
    }
}

/// The file's text, refused unread beyond [`limits::MAX_SPEC_BYTES`].
fn read_text(path: &Path, file: &str) -> Result<String, SpecError> {
    use std::io::Read;
    let unreadable =
        |e: std::io::Error| SpecError::new(file, "(file)", format!("an unreadable file ({e})"), "a readable spec file");
    let mut bytes = Vec::new();
    // One byte past the limit tells a file over it, whatever its metadata says (a pipe, /dev/zero).
    let cap = limits::MAX_SPEC_BYTES as u64 + 1;
    std::fs::File::open(path).and_then(|f| f.take(cap).read_to_end(&mut bytes)).map_err(unreadable)?;
    check_size(bytes.len(), file)?;
    String::from_utf8(bytes).map_err(|e| {
        unreadable(std::io::Error::new(std::io::ErrorKind::InvalidData, format!("not UTF-8 text: {e}")))
    })
}

fn check_size(len: usize, file: &str) -> Result<(), SpecError> {
    if len > limits::MAX_SPEC_BYTES {
        return Err(SpecError::new(
            file,
            "(file)",
            format!("more than {} bytes", limits::MAX_SPEC_BYTES),
            limits::limit_text(&limits::MAX_SPEC_BYTES, "bytes of spec text"),
        ));
    }
    Ok(())
}

/// YAML text to a validated spec.
fn parse(text: &str, origin: &Origin) -> Result<Spec, SpecError> {
    check_size(text.len(), origin.file)?;
    plain_yaml::check(text, origin)?;
    let value: yaml_serde::Value = yaml_serde::from_str(text).map_err(|e| error::from_yaml(origin.file, &e))?;
    let document: Document = serde_path_to_error::deserialize(value)
        .map_err(|e| error::from_serde(origin.file, e.path(), &e.inner().to_string()))?;
    document.validate(origin)
}
