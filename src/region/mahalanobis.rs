//! The `mahalanobis` method: distance from the training mean in units of the training
//! covariance, below a threshold.

use statrs::distribution::{ChiSquared, ContinuousCDF};

use super::linalg;
use crate::spec::Threshold;

/// Mean, whitening matrix `W = L^{-1}` (with `L L^T` the covariance) and the distance cut.
#[derive(Debug, Clone)]
pub struct Mahalanobis {
    mean: Vec<f64>,
    whitening: Vec<f64>,
    threshold: f64,
    rule: String,
}

impl Mahalanobis {
    /// `whitening` is `L^{-1}`, lower triangular, row-major.
    pub(crate) fn new(mean: Vec<f64>, whitening: Vec<f64>, threshold: f64, rule: String) -> Self {
        Mahalanobis { mean, whitening, threshold, rule }
    }

    /// The cut for `threshold` in `d` dimensions: `sqrt` of the chi-square quantile, or `f`
    /// times the largest distance among `points` (row-major `[n, d]`; PICO's rule). `None` for
    /// PICO without points.
    pub fn threshold_distance(threshold: Threshold, d: usize, whitening: &[f64], mean: &[f64], points: Option<&[f64]>) -> Option<(f64, String)> {
        match threshold {
            Threshold::Chi2Quantile(q) => {
                let chi2 = ChiSquared::new(d as f64).expect("d >= 1 degrees of freedom");
                Some((chi2.inverse_cdf(q).sqrt(), format!("sqrt of the chi-square({d}) {q} quantile")))
            }
            Threshold::Pico(f) => {
                let points = points?;
                let farthest = points
                    .chunks_exact(d)
                    .map(|p| linalg::whitened_norm2(whitening, mean, p))
                    .fold(0.0f64, f64::max)
                    .sqrt();
                Some((f * farthest, format!("{f} x the farthest training point's {farthest:.4}")))
            }
        }
    }

    /// The Mahalanobis distance of `x`.
    #[inline]
    pub fn distance(&self, x: &[f64]) -> f64 {
        linalg::whitened_norm2(&self.whitening, &self.mean, x).sqrt()
    }

    pub fn threshold(&self) -> f64 {
        self.threshold
    }
    /// How the threshold was set, in words.
    pub fn rule(&self) -> &str {
        &self.rule
    }
    pub fn mean(&self) -> &[f64] {
        &self.mean
    }
    pub fn whitening(&self) -> &[f64] {
        &self.whitening
    }
}
