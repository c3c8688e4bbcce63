//! What the router ranks emulators by: the accuracy a chain feels, where it was measured.
//!
//! `zelos validate --likelihoods` compares real likelihoods (Planck, DESI, Union3, ...) computed
//! from an emulator and from its code at held-out points, and records the 99th percentile of
//! |Δχ²| per likelihood in `report.json`'s `likelihood_accuracy`. That is the statistic a
//! posterior depends on, so an emulator that has it ranks by it, ahead of one that has not.
//! Without it, the build's held-out `summary.max_relative_error` ranks, as before.
//!
//! Why not the maximum relative error for everyone: one held-out point at a region's edge can set
//! it. `CAMB_LCDM_CMB` reports 8.95 (an EE multipole at a low-τ edge point) while its Planck
//! plik-lite Δχ² p99 is 0.037, half that of `CAMB_w0wa_CMB`: ranked by the maximum, ΛCDM points
//! went to the w0wa emulator.

use std::cmp::Ordering;
use std::fmt;

/// An emulator's rank key; smaller ranks first (see the module doc).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Accuracy {
    /// The largest 99th percentile of |Δχ²| over the likelihoods `zelos validate` compared.
    LikelihoodP99(f64),
    /// The largest relative error over the held-out points (or a value the caller gave).
    MaxRelativeError(f64),
}

impl Accuracy {
    /// From an emulator's `report.json`: validated likelihoods when stated, else the summary's
    /// maximum relative error; `None` when neither is a finite number.
    pub fn of_report(report: &serde_json::Value) -> Option<Accuracy> {
        likelihood_p99(report)
            .map(Accuracy::LikelihoodP99)
            .or_else(|| max_relative_error(report).map(Accuracy::MaxRelativeError))
    }

    /// The number ranked by.
    pub fn value(&self) -> f64 {
        match *self {
            Accuracy::LikelihoodP99(v) | Accuracy::MaxRelativeError(v) => v,
        }
    }

    /// What the number is, as `report.json` names it.
    pub fn statistic(&self) -> &'static str {
        match self {
            Accuracy::LikelihoodP99(_) => "likelihood_abs_delta_chi2_p99",
            Accuracy::MaxRelativeError(_) => "max_relative_error",
        }
    }

    /// Rank order: every validated-likelihood entry first, each kind by its value.
    pub fn rank_cmp(&self, other: &Accuracy) -> Ordering {
        let tier = |a: &Accuracy| match a {
            Accuracy::LikelihoodP99(_) => 0,
            Accuracy::MaxRelativeError(_) => 1,
        };
        tier(self)
            .cmp(&tier(other))
            .then(self.value().total_cmp(&other.value()))
    }
}

impl fmt::Display for Accuracy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Accuracy::LikelihoodP99(v) => write!(f, "validated |Δχ²| p99 {v:.2e}"),
            Accuracy::MaxRelativeError(v) => write!(f, "max relative error {v:.2e}"),
        }
    }
}

/// `summary.max_relative_error`, when a finite number.
pub fn max_relative_error(report: &serde_json::Value) -> Option<f64> {
    report
        .pointer("/summary/max_relative_error")?
        .as_f64()
        .filter(|v| v.is_finite())
}

/// The largest `abs_delta_chi2_p99` over `likelihood_accuracy.likelihoods`, when at least one
/// likelihood states a finite value.
pub fn likelihood_p99(report: &serde_json::Value) -> Option<f64> {
    worst_likelihood(report).map(|(_, p99)| p99)
}

/// The likelihood with the largest finite `abs_delta_chi2_p99` in the report's
/// `likelihood_accuracy.likelihoods`, and that value (`zelos list` shows it).
pub fn worst_likelihood(report: &serde_json::Value) -> Option<(String, f64)> {
    let likelihoods = report
        .pointer("/likelihood_accuracy/likelihoods")?
        .as_object()?;
    likelihoods
        .iter()
        .filter_map(|(name, l)| {
            let p99 = l
                .get("abs_delta_chi2_p99")?
                .as_f64()
                .filter(|v| v.is_finite())?;
            Some((name.clone(), p99))
        })
        .reduce(|worst, next| if next.1 > worst.1 { next } else { worst })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn report(max_rel: f64, p99s: &[f64]) -> serde_json::Value {
        let likelihoods: serde_json::Map<String, serde_json::Value> = p99s
            .iter()
            .enumerate()
            .map(|(i, p)| {
                (
                    format!("like{i}"),
                    json!({"abs_delta_chi2_p99": p, "abs_delta_chi2_max": 10.0 * p}),
                )
            })
            .collect();
        json!({"summary": {"max_relative_error": max_rel}, "likelihood_accuracy": {"likelihoods": likelihoods}})
    }

    #[test]
    fn validated_likelihoods_rank_by_their_worst_p99() {
        assert_eq!(
            Accuracy::of_report(&report(8.9, &[0.013, 0.037, 0.002])),
            Some(Accuracy::LikelihoodP99(0.037))
        );
        assert_eq!(
            Accuracy::of_report(&report(0.04, &[])),
            Some(Accuracy::MaxRelativeError(0.04))
        );
        assert_eq!(
            Accuracy::of_report(&json!({"summary": {"max_relative_error": null}})),
            None
        );
        // the likelihood it comes from, as `zelos list` names it; a non-finite p99 is skipped
        let mut r = report(8.9, &[0.013, 0.037, 0.002]);
        r["likelihood_accuracy"]["likelihoods"]["like3"] = json!({"abs_delta_chi2_p99": null});
        assert_eq!(worst_likelihood(&r), Some(("like1".to_string(), 0.037)));
        assert_eq!(worst_likelihood(&report(0.04, &[])), None);
    }

    #[test]
    fn a_validated_emulator_ranks_before_one_without_likelihoods() {
        // The case that motivated the statistic: ΛCDM's edge outlier against w0wa's clean maximum.
        let lcdm = Accuracy::of_report(&report(8.95, &[0.013, 0.037, 0.0018])).unwrap();
        let w0wa = Accuracy::of_report(&report(0.039, &[0.030, 0.071, 0.059, 0.023])).unwrap();
        assert_eq!(lcdm.rank_cmp(&w0wa), Ordering::Less);
        let unvalidated = Accuracy::MaxRelativeError(1e-6);
        assert_eq!(w0wa.rank_cmp(&unvalidated), Ordering::Less);
        assert_eq!(
            unvalidated.rank_cmp(&Accuracy::MaxRelativeError(1e-3)),
            Ordering::Less
        );
    }
}
