//! Trust regions: which points an emulator may answer.
//!
//! A [`TrustRegion`] is built from an emulator's spec (`trust.method`, `trust.threshold`) and
//! its archive's `region.safetensors` (the training box, and for built emulators the training
//! points' mean, covariance and the points themselves). It runs every method the spec lists
//! (a list means all of them) and answers each point with a [`Decision`]: inside or not, a
//! distance and a reason naming the method, e.g. "mahalanobis distance 4.1 > threshold 3.7".
//!
//! * `box` ([`BoxRegion`]): every parameter within its training range.
//! * `mahalanobis` ([`Mahalanobis`]): distance from the training mean in units of the training
//!   covariance, below `sqrt` of a chi-square quantile or PICO's `f` times the farthest
//!   training point.
//! * `hull` ([`Hull`]): the convex hull of the training points, decided exactly (see
//!   `hull.rs`); in whitened coordinates, so its distance is in standard deviations.
//!
//! A method whose data the archive lacks (an archive with a box only) is skipped, and every
//! decision says so in its reason. See docs/trust-regions.md.

// Comparisons written `!(a > b)` are meant: they are true for NaN too. Index loops over
// several arrays of one length read more plainly than zipped iterators here.
#![allow(clippy::neg_cmp_op_on_partial_ord, clippy::needless_range_loop)]

mod bounds;
mod hull;
mod linalg;
mod mahalanobis;

use std::fmt::Write as _;

pub use bounds::BoxRegion;
pub use hull::{Hull, HullAnswer, TOLERANCE as HULL_TOLERANCE};
pub use mahalanobis::Mahalanobis;

use crate::emulator::Emulator;
use crate::error::{Error, Result};
use crate::spec::{Threshold, TrustMethod};
use crate::tensors::TensorSet;

/// What a trust region is built from: the box, and optionally the training points' moments
/// and the points themselves (row-major `[n, p]`).
#[derive(Debug, Clone, Default)]
pub struct RegionData {
    pub lower: Vec<f64>,
    pub upper: Vec<f64>,
    pub mean: Option<Vec<f64>>,
    /// Row-major `[p, p]`.
    pub covariance: Option<Vec<f64>>,
    /// Row-major `[n, p]`.
    pub points: Option<Vec<f64>>,
    /// The spec's linear constraints on the box (from the spec, not the tensors).
    pub constraints: Vec<crate::spec::LinearConstraint>,
}

impl RegionData {
    /// A box and nothing else.
    pub fn from_box(lower: Vec<f64>, upper: Vec<f64>) -> Self {
        RegionData { lower, upper, ..Default::default() }
    }

    /// Training points `[n, p]` with the box they were drawn in; mean and covariance are
    /// computed from the points when asked for.
    pub fn from_points(lower: Vec<f64>, upper: Vec<f64>, points: Vec<f64>) -> Self {
        RegionData { lower, upper, points: Some(points), ..Default::default() }
    }

    /// Reads `lower`, `upper` and the optional `mean`, `covariance`, `points` (all F64 or F32)
    /// of an archive's `region.safetensors` for `p` parameters.
    pub fn from_tensors(set: &TensorSet, p: usize, origin: &str) -> Result<Self> {
        let opt = |name: &str| -> Result<Option<Vec<f64>>> {
            let Some(t) = set.tensors.get(name) else { return Ok(None) };
            let ok = match name {
                "mean" => t.shape == [p],
                "covariance" => t.shape == [p, p],
                _ => t.shape.len() == 2 && t.shape[1] == p && t.shape[0] > 0,
            };
            if !ok {
                return Err(Error::model(origin, format!("region tensor `{name}` has shape {:?} for {p} parameters", t.shape)));
            }
            Ok(Some(t.to_vec()))
        };
        Ok(RegionData {
            lower: set.get_as::<f64>("lower", &[p], origin)?,
            upper: set.get_as::<f64>("upper", &[p], origin)?,
            mean: opt("mean")?,
            covariance: opt("covariance")?,
            points: opt("points")?,
            constraints: Vec::new(),
        })
    }

    /// The training mean and covariance (row-major `[p, p]`): the stored ones, else those of
    /// the points (when there are more points than parameters), else `None`.
    pub fn moments(&self) -> Option<(Vec<f64>, Vec<f64>)> {
        let p = self.lower.len();
        match (&self.mean, &self.covariance, &self.points) {
            (Some(m), Some(c), _) => Some((m.clone(), c.clone())),
            (_, _, Some(points)) if p > 0 && self.n_points() > p => {
                Some(linalg::mean_covariance(points, self.n_points(), p))
            }
            _ => None,
        }
    }

    /// How many training points the region holds.
    pub fn n_points(&self) -> usize {
        let p = self.lower.len().max(1);
        self.points.as_ref().map_or(0, |v| v.len() / p)
    }
}

/// One method's verdict on one point.
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    pub method: TrustMethod,
    pub inside: bool,
    /// In the method's own unit: `box`: the largest `|x - centre| / half-width` (boundary 1);
    /// `mahalanobis`: the Mahalanobis distance; `hull`: the distance to the hull in standard
    /// deviations (0 inside). NaN for a skipped method.
    pub distance: f64,
    /// The boundary in the same unit: 1, the threshold, 0.
    pub threshold: f64,
    /// Set when the point is outside (which parameters, how far), or the method was skipped.
    pub note: Option<String>,
}

impl Check {
    /// How far beyond the boundary, 0 inside: half-widths for `box`, standard deviations for
    /// `mahalanobis` and `hull`.
    pub fn excess(&self) -> f64 {
        if self.inside || self.distance.is_nan() {
            0.0
        } else {
            (self.distance - self.threshold).max(0.0)
        }
    }
    fn skipped(&self) -> bool {
        self.distance.is_nan()
    }
}

/// A trust region's answer for one point.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// Every method that could be checked accepts the point.
    pub inside: bool,
    /// One check per method of the spec, in the spec's order.
    pub checks: Vec<Check>,
}

impl Decision {
    /// The check that decided: the rejecting one farthest beyond its boundary, or when
    /// inside, the one nearest its boundary (`distance / threshold` largest).
    pub fn deciding(&self) -> Option<&Check> {
        let live = self.checks.iter().filter(|c| !c.skipped());
        if self.inside {
            live.max_by(|a, b| ratio(a).total_cmp(&ratio(b)))
        } else {
            live.filter(|c| !c.inside).max_by(|a, b| a.excess().total_cmp(&b.excess()))
        }
    }
    /// The deciding check's distance (its method's unit; NaN if nothing could be checked).
    pub fn distance(&self) -> f64 {
        self.deciding().map_or(f64::NAN, |c| c.distance)
    }
    /// The deciding check's threshold (its method's unit).
    pub fn threshold(&self) -> f64 {
        self.deciding().map_or(f64::NAN, |c| c.threshold)
    }
    /// The deciding check's method.
    pub fn method(&self) -> Option<TrustMethod> {
        self.deciding().map(|c| c.method)
    }
    /// How far outside, 0 inside (largest excess among rejecting checks): the router's
    /// measure of which region is nearest.
    pub fn excess(&self) -> f64 {
        self.checks.iter().map(Check::excess).fold(0.0, f64::max)
    }
    /// In words, naming the method: "mahalanobis distance 4.1 > threshold 3.7", "outside the
    /// box: `tau` = 0.2 > 0.09", and any method skipped for lack of data.
    pub fn reason(&self) -> String {
        let mut s = String::new();
        if self.inside {
            s.push_str("inside: ");
            let parts: Vec<String> = self.checks.iter().filter(|c| !c.skipped()).map(describe_inside).collect();
            s.push_str(&parts.join(", "));
        } else {
            let parts: Vec<&str> =
                self.checks.iter().filter(|c| !c.inside && !c.skipped()).filter_map(|c| c.note.as_deref()).collect();
            s.push_str(&parts.join("; "));
        }
        for c in self.checks.iter().filter(|c| c.skipped()) {
            let _ = write!(s, "; {}", c.note.as_deref().unwrap_or("not checked"));
        }
        s
    }
}

fn ratio(c: &Check) -> f64 {
    if c.threshold > 0.0 {
        c.distance / c.threshold
    } else {
        0.0
    }
}

fn describe_inside(c: &Check) -> String {
    match c.method {
        TrustMethod::Box => format!("box distance {:.3} <= 1", c.distance),
        TrustMethod::Mahalanobis => format!("mahalanobis distance {:.3} <= threshold {:.3}", c.distance, c.threshold),
        TrustMethod::Hull => "inside the hull".to_string(),
    }
}

#[derive(Debug, Clone)]
enum Method {
    Box(BoxRegion),
    Mahalanobis(Mahalanobis),
    Hull(Hull),
    /// Requested but its data is missing: the note says why.
    Skipped(TrustMethod, String),
}

/// The trust region of one emulator. `Sync`: share one between threads.
#[derive(Debug, Clone)]
pub struct TrustRegion {
    names: Vec<String>,
    methods: Vec<Method>,
    /// The training box (always present; the router uses it for quick rejections).
    bounds: BoxRegion,
}

impl TrustRegion {
    /// The region an emulator's spec asks for, from its archive's region data.
    pub fn from_emulator(emulator: &Emulator) -> Result<TrustRegion> {
        let names = emulator.parameters().to_vec();
        let origin = format!("{}: region.safetensors", emulator.origin());
        let mut data = RegionData::from_tensors(emulator.region(), names.len(), &origin)?;
        data.constraints = emulator.spec().linear_constraints();
        let trust = &emulator.spec().trust;
        TrustRegion::new(names, &trust.method, trust.threshold, data, &origin)
    }

    /// Builds every method in `methods` (all must accept a point). `origin` names the data in
    /// errors.
    pub fn new(names: Vec<String>, methods: &[TrustMethod], threshold: Threshold, data: RegionData, origin: &str) -> Result<TrustRegion> {
        let p = names.len();
        let bad = |m: String| Err(Error::model(origin, m));
        if p == 0 {
            return bad("a trust region needs at least one parameter".into());
        }
        if methods.is_empty() {
            return bad("a trust region needs at least one method".into());
        }
        if data.lower.len() != p || data.upper.len() != p {
            return bad(format!("the box has {} / {} bounds for {p} parameters", data.lower.len(), data.upper.len()));
        }
        for j in 0..p {
            if !(data.lower[j].is_finite() && data.upper[j].is_finite() && data.lower[j] <= data.upper[j]) {
                return bad(format!("the box of `{}` is [{}, {}]; expected finite lower <= upper", names[j], data.lower[j], data.upper[j]));
            }
        }
        if let Some(points) = &data.points {
            if points.len() % p != 0 || points.is_empty() {
                return bad(format!("`points` holds {} values, not a positive multiple of {p}", points.len()));
            }
            if points.iter().any(|v| !v.is_finite()) {
                return bad("`points` holds a non-finite value".into());
            }
        }
        let moments = data.moments();
        let whitening = match &moments {
            Some((mean, cov)) => {
                if mean.len() != p || cov.len() != p * p || mean.iter().chain(cov).any(|v| !v.is_finite()) {
                    return bad("`mean` / `covariance` have the wrong size or a non-finite value".into());
                }
                let l = linalg::cholesky(cov, p).ok_or_else(|| {
                    Error::model(origin, "the training covariance is not positive definite (a parameter that never varies, or too few points)")
                })?;
                Some((mean.clone(), linalg::invert_lower(&l, p)))
            }
            None => None,
        };
        let mut built = Vec::with_capacity(methods.len());
        for &m in methods {
            built.push(match m {
                TrustMethod::Box => {
                    Method::Box(BoxRegion::new(data.lower.clone(), data.upper.clone()).with_constraints(data.constraints.clone()))
                }
                TrustMethod::Mahalanobis => match &whitening {
                    None => Method::Skipped(m, "mahalanobis not checked: the archive holds no training mean and covariance (nor points)".into()),
                    Some((mean, w)) => match Mahalanobis::threshold_distance(threshold, p, w, mean, data.points.as_deref()) {
                        Some((t, rule)) => Method::Mahalanobis(Mahalanobis::new(mean.clone(), w.clone(), t, rule)),
                        None => Method::Skipped(m, "mahalanobis not checked: the `pico` threshold needs the training points, which the archive lacks".into()),
                    },
                },
                TrustMethod::Hull => match (&whitening, &data.points) {
                    (Some((mean, w)), Some(points)) if data.n_points() > p => {
                        Method::Hull(Hull::new(points, data.n_points(), mean.clone(), w.clone()))
                    }
                    _ => Method::Skipped(m, "hull not checked: the archive holds too few training points (at least parameters + 1 needed)".into()),
                },
            });
        }
        Ok(TrustRegion { names, methods: built, bounds: BoxRegion::new(data.lower, data.upper) })
    }

    pub fn parameters(&self) -> &[String] {
        &self.names
    }
    /// The methods actually checked (those with their data), in the spec's order.
    pub fn methods(&self) -> Vec<TrustMethod> {
        self.methods
            .iter()
            .filter_map(|m| match m {
                Method::Box(_) => Some(TrustMethod::Box),
                Method::Mahalanobis(_) => Some(TrustMethod::Mahalanobis),
                Method::Hull(_) => Some(TrustMethod::Hull),
                Method::Skipped(..) => None,
            })
            .collect()
    }
    /// Notes on the methods requested but skipped for lack of data.
    pub fn skipped(&self) -> Vec<String> {
        self.methods.iter().filter_map(|m| if let Method::Skipped(_, n) = m { Some(n.clone()) } else { None }).collect()
    }
    /// The training box.
    pub fn bounds(&self) -> (&[f64], &[f64]) {
        (self.bounds.lower(), self.bounds.upper())
    }
    /// The Mahalanobis method, if checked.
    pub fn mahalanobis(&self) -> Option<&Mahalanobis> {
        self.methods.iter().find_map(|m| if let Method::Mahalanobis(h) = m { Some(h) } else { None })
    }
    /// The hull method, if checked.
    pub fn hull(&self) -> Option<&Hull> {
        self.methods.iter().find_map(|m| if let Method::Hull(h) = m { Some(h) } else { None })
    }
    /// Mutable access to the hull (e.g. to tune its neighbour count).
    pub fn hull_mut(&mut self) -> Option<&mut Hull> {
        self.methods.iter_mut().find_map(|m| if let Method::Hull(h) = m { Some(h) } else { None })
    }

    /// Decides one point (parameter order). Every method runs, cheapest first in the spec's
    /// list; a point of the wrong length or with a non-finite value is an error.
    pub fn decide(&self, x: &[f64]) -> Result<Decision> {
        self.check_input(x)?;
        Ok(self.decide_unchecked(x))
    }

    /// [`TrustRegion::decide`] for a point already known to have the right length and finite
    /// values. When `all` is false, stops at the first rejecting method (the router's fast
    /// path); the decision then holds the checks made so far.
    pub(crate) fn decide_with(&self, x: &[f64], all: bool) -> Decision {
        let mut checks = Vec::with_capacity(self.methods.len());
        let mut inside = true;
        for m in &self.methods {
            let check = match m {
                Method::Box(b) => {
                    let (ok, dist) = b.check(x);
                    Check { method: TrustMethod::Box, inside: ok, distance: dist, threshold: 1.0, note: (!ok).then(|| b.explain(x, &self.names)) }
                }
                Method::Mahalanobis(mh) => {
                    let dist = mh.distance(x);
                    let ok = dist <= mh.threshold();
                    let note = (!ok).then(|| format!("mahalanobis distance {:.4} > threshold {:.4} ({})", dist, mh.threshold(), mh.rule()));
                    Check { method: TrustMethod::Mahalanobis, inside: ok, distance: dist, threshold: mh.threshold(), note }
                }
                Method::Hull(h) => {
                    let a = h.check(x);
                    let note = (!a.inside).then(|| {
                        if a.decided {
                            format!("outside the convex hull of the {} training points, {:.4} standard deviations from it", h.n_points(), a.distance)
                        } else {
                            format!("convex hull membership undecided after {} passes (rounding); treated as outside", a.passes)
                        }
                    });
                    Check { method: TrustMethod::Hull, inside: a.inside, distance: a.distance, threshold: 0.0, note }
                }
                Method::Skipped(method, note) => {
                    Check { method: *method, inside: true, distance: f64::NAN, threshold: f64::NAN, note: Some(note.clone()) }
                }
            };
            inside &= check.inside;
            checks.push(check);
            if !inside && !all {
                break;
            }
        }
        Decision { inside, checks }
    }

    /// Every method on a checked point.
    pub fn decide_unchecked(&self, x: &[f64]) -> Decision {
        self.decide_with(x, true)
    }

    /// Membership only, stopping at the first rejecting method.
    pub fn contains(&self, x: &[f64]) -> Result<bool> {
        self.check_input(x)?;
        Ok(self.decide_with(x, false).inside)
    }

    fn check_input(&self, x: &[f64]) -> Result<()> {
        if x.len() != self.names.len() {
            return Err(Error::Parameters(format!(
                "trust region: expected {} parameter values ({}); got {}",
                self.names.len(),
                self.names.join(", "),
                x.len()
            )));
        }
        if let Some(j) = x.iter().position(|v| !v.is_finite()) {
            return Err(Error::Parameters(format!("trust region: parameter `{}` is {}; expected a finite number", self.names[j], x[j])));
        }
        Ok(())
    }
}
