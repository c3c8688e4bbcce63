//! `transforms`: how inputs are scaled and how each network's outputs are transformed before
//! training (and inverted after evaluation).
//!
//! In YAML, `outputs` holds an optional `default` entry and per-network entries that override
//! it field by field. A resolved spec holds one complete entry per network, in network order,
//! so that the canonical spec states each network's transform outright.

use serde::{Deserialize, Serialize};

use super::error::{one_of, Origin, SpecError};
use super::forms::{explicit_null, ordered_map};
use crate::keywords::keywords;
use super::limits::{self, MAX_PCA_COMPONENTS};
use super::outputs::Outputs;

/// The key of the entry that the others override.
const DEFAULT_ENTRY: &str = "default";

keywords! {
    /// How inputs are scaled before the network.
    #[derive(Default)]
    pub enum InputTransform {
        /// Subtract the training points' mean, divide by their standard deviation.
        #[default]
        Standardise = "standardise",
        /// Map the parameter box [min, max] linearly onto [-1, 1].
        Minmax = "minmax",
    }
}

keywords! {
    /// A logarithm applied to outputs first.
    pub enum LogTransform {
        None = "none",
        /// Natural logarithm.
        Ln = "ln",
        Log10 = "log10",
    }
}

keywords! {
    /// What the network's targets are measured from, after log, standardise and PCA.
    #[derive(Default)]
    pub enum Baseline {
        /// The targets themselves.
        #[default]
        None = "none",
        /// The residual of a least-squares fit linear in the (scaled) inputs; the fit is kept as
        /// a linear skip connection of the network (docs/model.md). Power spectra in log space
        /// are nearly linear in logA, tau and n_s: the network then learns only what is not.
        Linear = "linear",
    }
}

impl Baseline {
    fn is_none(&self) -> bool {
        *self == Baseline::None
    }
}

/// The complete output transform of one network, applied in the order log, standardise, PCA,
/// baseline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputTransform {
    pub log: LogTransform,
    /// Subtract the training mean and divide by the standard deviation, per output value.
    pub standardise: bool,
    /// Keep this many principal components (`None`: no PCA).
    pub pca: Option<usize>,
    /// Written only when not `none`, so that specs from before it keep their canonical form.
    #[serde(default, skip_serializing_if = "Baseline::is_none")]
    pub baseline: Baseline,
}

impl Default for OutputTransform {
    fn default() -> Self {
        OutputTransform { log: LogTransform::None, standardise: true, pca: None, baseline: Baseline::None }
    }
}

/// The `transforms` section, resolved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Transforms {
    pub inputs: InputTransform,
    /// One entry per network, in network order.
    #[serde(with = "ordered_map")]
    pub outputs: Vec<(String, OutputTransform)>,
}

impl Transforms {
    /// The transform of network `name`.
    pub fn output(&self, name: &str) -> Option<&OutputTransform> {
        self.outputs.iter().find(|(n, _)| n == name).map(|(_, t)| t)
    }
}

/// The section as written in YAML.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, expecting = "a mapping with keys `inputs`, `outputs`")]
pub(crate) struct TransformsDoc {
    inputs: InputTransform,
    #[serde(with = "ordered_map")]
    outputs: Vec<(String, OutputTransformDoc)>,
}

/// One entry as written: absent fields are taken from `default`, then from the built-in default.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a mapping with keys `log`, `standardise`, `pca`, `baseline`")]
struct OutputTransformDoc {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    log: Option<LogTransform>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    standardise: Option<bool>,
    /// Absent: inherit; `null`: no PCA; N: N components.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "explicit_null::deserialize")]
    pca: Option<Option<usize>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    baseline: Option<Baseline>,
}

impl OutputTransformDoc {
    /// `self` over `base`, field by field.
    fn over(&self, base: OutputTransform) -> OutputTransform {
        OutputTransform {
            log: self.log.unwrap_or(base.log),
            standardise: self.standardise.unwrap_or(base.standardise),
            pca: self.pca.unwrap_or(base.pca),
            baseline: self.baseline.unwrap_or(base.baseline),
        }
    }
}

impl From<&Transforms> for TransformsDoc {
    /// The canonical form: every network's entry complete, no `default`.
    fn from(t: &Transforms) -> Self {
        let outputs = t
            .outputs
            .iter()
            .map(|(name, o)| {
                (
                    name.clone(),
                    OutputTransformDoc {
                        log: Some(o.log),
                        standardise: Some(o.standardise),
                        pca: Some(o.pca),
                        baseline: (!o.baseline.is_none()).then_some(o.baseline),
                    },
                )
            })
            .collect();
        TransformsDoc { inputs: t.inputs, outputs }
    }
}

impl TransformsDoc {
    /// One complete transform per network of `outputs`, each checked against what its
    /// network predicts.
    pub fn resolve(self, outputs: &Outputs, origin: &Origin) -> Result<Transforms, SpecError> {
        let networks = outputs.networks();
        self.check_entries(&networks, origin)?;
        let default_doc = self.entry(DEFAULT_ENTRY).copied().unwrap_or_default();
        let base = default_doc.over(OutputTransform::default());
        let mut resolved = Vec::with_capacity(networks.len());
        for (name, size) in &networks {
            let own = self.entry(name).copied().unwrap_or_default();
            let transform = own.over(base);
            // Report a problem where the offending field was written.
            let source_of = |field_set: bool| if field_set { name.as_str() } else { DEFAULT_ENTRY };
            check_pca(transform.pca, *size, name, source_of(own.pca.is_some()), origin)?;
            check_log(transform.log, name, outputs, source_of(own.log.is_some()), origin)?;
            resolved.push((name.clone(), transform));
        }
        Ok(Transforms { inputs: self.inputs, outputs: resolved })
    }

    fn entry(&self, name: &str) -> Option<&OutputTransformDoc> {
        self.outputs.iter().find(|(n, _)| n == name).map(|(_, t)| t)
    }

    /// Entries only for `default` and existing networks; no `pca: 0`.
    fn check_entries(&self, networks: &[(String, usize)], origin: &Origin) -> Result<(), SpecError> {
        for (name, entry) in &self.outputs {
            let key = format!("transforms.outputs.{name}");
            if name != DEFAULT_ENTRY && !networks.iter().any(|(n, _)| n == name) {
                let mut allowed = vec![DEFAULT_ENTRY.to_string()];
                allowed.extend(networks.iter().map(|(n, _)| n.clone()));
                return Err(origin.error(key, format!("`{name}`, not a network of this spec"), one_of(&allowed)));
            }
            if entry.pca == Some(Some(0)) {
                return Err(origin.error(format!("{key}.pca"), "0", "a number of components >= 1, or null for no PCA"));
            }
            if let Some(Some(n)) = entry.pca {
                limits::at_most(n, MAX_PCA_COMPONENTS, &format!("{key}.pca"), "components", origin)?;
            }
        }
        Ok(())
    }
}

/// PCA cannot keep more components than the network has outputs.
fn check_pca(pca: Option<usize>, size: usize, network: &str, entry: &str, origin: &Origin) -> Result<(), SpecError> {
    match pca {
        Some(n) if n > size => Err(origin.error(
            format!("transforms.outputs.{entry}.pca"),
            format!("{n} components for network `{network}`, which has {size} outputs"),
            format!("at most {size} components (or null for no PCA)"),
        )),
        _ => Ok(()),
    }
}

/// A logarithm needs positive outputs: TE changes sign, and distances vanish at z = 0.
fn check_log(
    log: LogTransform,
    network: &str,
    outputs: &Outputs,
    entry: &str,
    origin: &Origin,
) -> Result<(), SpecError> {
    if log == LogTransform::None {
        return Ok(());
    }
    let why = match network {
        "te" => Some("TE changes sign"),
        "background" if background_vanishes(outputs) => Some("distances are 0 at z = 0"),
        _ => None,
    };
    match why {
        Some(why) => Err(origin.error(
            format!("transforms.outputs.{entry}.log"),
            format!("`{log}` for network `{network}`, whose outputs are not all positive ({why})"),
            format!("`log: none` for `{network}` (e.g. `{network}: {{log: none}}`)"),
        )),
        None => Ok(()),
    }
}

/// Whether the background outputs include a distance at z = 0.
fn background_vanishes(outputs: &Outputs) -> bool {
    outputs
        .background
        .as_ref()
        .is_some_and(|b| b.functions.iter().any(|f| f.is_distance()) && b.z.values().first() == Some(&0.0))
}
