//! `trust`: which points the emulator answers; every other point goes to the real code.

use serde::{Deserialize, Serialize};

use super::error::{mismatch_text, one_of, Origin, SpecError};
use super::forms::one_or_many;
use crate::keywords::keywords;

keywords! {
    /// A membership test of the trust region; several must all pass.
    pub enum TrustMethod {
        /// Inside the parameter box of `parameters`.
        Box = "box",
        /// Mahalanobis distance from the training points' mean, with their covariance, below
        /// the `threshold`.
        Mahalanobis = "mahalanobis",
        /// Inside the convex hull of the training points (tight in high dimension).
        Hull = "hull",
    }
}

/// The `trust` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, expecting = "a mapping with keys `method`, `threshold`")]
pub struct Trust {
    /// A point is trusted when every method accepts it. YAML: one keyword or a list.
    #[serde(with = "one_or_many")]
    pub method: Vec<TrustMethod>,
    /// The Mahalanobis cut (unused by `box` and `hull`).
    pub threshold: Threshold,
}

/// The Mahalanobis cut, written `{chi2_quantile: q}` or `{pico: f}`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "ThresholdDoc", into = "ThresholdDoc")]
pub enum Threshold {
    /// Squared distance below the q-quantile of χ² with as many degrees of freedom as
    /// parameters; q in (0, 1).
    Chi2Quantile(f64),
    /// Distance below f times the distance of the farthest training point (PICO's rule);
    /// f in (0, 1].
    Pico(f64),
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a mapping with one key, `chi2_quantile` or `pico`")]
struct ThresholdDoc {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    chi2_quantile: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pico: Option<f64>,
}

impl TryFrom<ThresholdDoc> for Threshold {
    type Error = String;
    fn try_from(doc: ThresholdDoc) -> Result<Self, String> {
        match (doc.chi2_quantile, doc.pico) {
            (Some(q), None) => Ok(Threshold::Chi2Quantile(q)),
            (None, Some(f)) => Ok(Threshold::Pico(f)),
            (Some(_), Some(_)) => Err(mismatch_text("both `chi2_quantile` and `pico`", "exactly one of them")),
            (None, None) => Err(mismatch_text("an empty mapping", "one of `chi2_quantile`, `pico`")),
        }
    }
}

impl From<Threshold> for ThresholdDoc {
    fn from(t: Threshold) -> Self {
        match t {
            Threshold::Chi2Quantile(q) => ThresholdDoc { chi2_quantile: Some(q), pico: None },
            Threshold::Pico(f) => ThresholdDoc { chi2_quantile: None, pico: Some(f) },
        }
    }
}

impl Default for Trust {
    /// The box and Mahalanobis together: Mahalanobis alone reaches outside the box, where the
    /// networks would extrapolate.
    fn default() -> Self {
        Trust { method: vec![TrustMethod::Box, TrustMethod::Mahalanobis], threshold: Threshold::Chi2Quantile(0.999) }
    }
}

impl Trust {
    /// At least one method, none twice; the threshold in range.
    pub(crate) fn validate(&self, origin: &Origin) -> Result<(), SpecError> {
        if self.method.is_empty() {
            let names: Vec<&str> = TrustMethod::ALL.iter().map(|m| m.as_str()).collect();
            return Err(origin.error(
                "trust.method",
                "an empty list",
                format!("at least one method, each {}", one_of(&names)),
            ));
        }
        for (i, m) in self.method.iter().enumerate() {
            if self.method[..i].contains(m) {
                return Err(origin.error(
                    format!("trust.method[{i}]"),
                    format!("`{m}` a second time"),
                    "each method at most once",
                ));
            }
        }
        match self.threshold {
            Threshold::Chi2Quantile(q) if !(q > 0.0 && q < 1.0) => {
                Err(origin.error("trust.threshold.chi2_quantile", format!("{q:?}"), "a quantile in (0, 1), e.g. 0.999"))
            }
            Threshold::Pico(f) if !(f > 0.0 && f <= 1.0) => {
                Err(origin.error("trust.threshold.pico", format!("{f:?}"), "a fraction in (0, 1]"))
            }
            _ => Ok(()),
        }
    }
}
