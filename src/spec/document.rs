//! The spec as written in YAML ([`Document`]) and its validation into a [`Spec`].
//!
//! A `Document` mirrors the YAML text: the reference by file or matrix, transforms with a
//! `default` entry. Validation resolves those into the self-contained [`Spec`]; converting a
//! `Spec` back gives its canonical `Document` (the reference inline, every transform spelled out).

use serde::{Deserialize, Serialize};

use super::code::CodeSpec;
use super::constraints::{self, Constraint};
use super::emulator::NetworkSpec;
use super::error::{Origin, SpecError};
use super::forms::strict_string;
use super::outputs::{BackgroundFunction, Outputs};
use super::parameters::{self, Parameter};
use super::reference::ReferenceDoc;
use super::training::{Sampling, Training};
use super::transforms::TransformsDoc;
use super::trust::Trust;
use super::Spec;

/// The whole spec as written. Field order is the order of the canonical YAML.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a spec: a mapping with keys `name`, `author`, `version`, `code`, `parameters`, `outputs`, ..."
)]
pub struct Document {
    name: String,
    author: String,
    #[serde(deserialize_with = "strict_string::deserialize")]
    version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    code: CodeSpec,
    #[serde(with = "parameters::as_map")]
    parameters: Vec<Parameter>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    constraints: Vec<Constraint>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    reference: Option<ReferenceDoc>,
    outputs: Outputs,
    #[serde(default)]
    emulator: NetworkSpec,
    #[serde(default)]
    transforms: TransformsDoc,
    #[serde(default)]
    training: Training,
    #[serde(default)]
    sampling: Sampling,
    #[serde(default)]
    trust: Trust,
}

impl Document {
    /// Checks every rule and resolves the reference and the transforms. Sections are checked
    /// in the order of the YAML, so the first error reported is the first in the file.
    pub(crate) fn validate(self, origin: &Origin) -> Result<Spec, SpecError> {
        check_name(&self.name, origin)?;
        check_filled(&self.author, "author", "the author's name", origin)?;
        check_spec_version(&self.version, origin)?;
        parameters::validate(&self.parameters, origin)?;
        constraints::validate(&self.constraints, &self.parameters, origin)?;
        let names: Vec<&str> = self.parameters.iter().map(|p| p.name.as_str()).collect();
        self.code.validate(&names, origin)?;
        let reference = self.reference.map(|r| r.resolve(&self.parameters, origin)).transpose()?;
        self.outputs.validate(origin)?;
        let networks = self.outputs.network_names();
        self.emulator.validate(&networks, origin)?;
        let transforms = self.transforms.resolve(&self.outputs, origin)?;
        self.emulator.check_weights(self.parameters.len(), &self.outputs.networks(), &transforms, origin)?;
        self.training.validate(origin)?;
        self.sampling.validate(reference.is_some(), origin)?;
        check_background_points(&self.sampling, &self.outputs, origin)?;
        self.trust.validate(origin)?;
        Ok(Spec {
            name: self.name,
            author: self.author,
            version: self.version,
            description: self.description,
            code: self.code,
            parameters: self.parameters,
            constraints: self.constraints,
            reference,
            outputs: self.outputs,
            emulator: self.emulator,
            transforms,
            training: self.training,
            sampling: self.sampling,
            trust: self.trust,
        })
    }
}

impl From<Spec> for Document {
    fn from(spec: Spec) -> Self {
        let reference = spec.reference.as_ref().map(|r| ReferenceDoc::from_resolved(r, &spec.parameters));
        Document {
            transforms: TransformsDoc::from(&spec.transforms),
            name: spec.name,
            author: spec.author,
            version: spec.version,
            description: spec.description,
            code: spec.code,
            parameters: spec.parameters,
            constraints: spec.constraints,
            reference,
            outputs: spec.outputs,
            emulator: spec.emulator,
            training: spec.training,
            sampling: spec.sampling,
            trust: spec.trust,
        }
    }
}

impl TryFrom<Document> for Spec {
    type Error = SpecError;

    /// For serde (`Spec: Deserialize`): the spec has no file, so relative covariance files
    /// are resolved against the working directory.
    fn try_from(document: Document) -> Result<Spec, SpecError> {
        document.validate(&Origin { file: "<spec>", base_dir: std::path::Path::new("") })
    }
}

/// The emulator's name becomes its archive's file name: `[A-Za-z0-9_.-]+`, starting with a
/// letter or digit (no hidden files, nothing read as a command-line flag).
fn check_name(name: &str, origin: &Origin) -> Result<(), SpecError> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-');
    let ok = name.starts_with(|c: char| c.is_ascii_alphanumeric()) && name.chars().all(allowed);
    if ok {
        Ok(())
    } else {
        Err(origin.error(
            "name",
            format!("\"{name}\""),
            "a name of letters, digits, `_`, `.` and `-`, starting with a letter or digit (it becomes the archive's file name)",
        ))
    }
}

fn check_filled(text: &str, key: &str, what: &str, origin: &Origin) -> Result<(), SpecError> {
    if text.trim().is_empty() {
        return Err(origin.error(key, "an empty string", what));
    }
    Ok(())
}

/// The emulator's own version: a string without spaces (`1.0.0`, `2024.1`, `v3`); looser than
/// `code.version`, which must be an exact package version.
fn check_spec_version(version: &str, origin: &Origin) -> Result<(), SpecError> {
    if version.is_empty() || version.chars().any(char::is_whitespace) {
        return Err(origin.error(
            "version",
            format!("\"{version}\""),
            "a version string without spaces, e.g. \"1.0.0\"",
        ));
    }
    Ok(())
}

/// `sampling.background_points` are computed with the background alone: they need background
/// functions to train, and none that needs the perturbations (σ8(z), fσ8(z)).
fn check_background_points(sampling: &Sampling, outputs: &Outputs, origin: &Origin) -> Result<(), SpecError> {
    if sampling.background_points.is_none() {
        return Ok(());
    }
    let Some(background) = &outputs.background else {
        return Err(origin.error(
            "sampling.background_points",
            "background points without `outputs.background`",
            "`outputs.background` functions for them to train, or no `background_points`",
        ));
    };
    let growth: Vec<&str> = background
        .functions
        .iter()
        .filter(|f| matches!(f, BackgroundFunction::Sigma8Z | BackgroundFunction::Fsigma8))
        .map(|f| f.as_str())
        .collect();
    if !growth.is_empty() {
        return Err(origin.error(
            "sampling.background_points",
            format!("background points with growth functions {}", growth.join(", ")),
            "background functions the background alone determines (H, D_A, D_M, D_V): σ8(z) and fσ8(z) need \
             the perturbations, which background points do not compute",
        ));
    }
    Ok(())
}
