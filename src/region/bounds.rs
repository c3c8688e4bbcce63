//! The `box` method: every parameter within the training range, and the spec's linear
//! `constraints` (the region the design filled is the box cut by them).

use crate::spec::LinearConstraint;

/// The training box. Distance: the largest `|x_j - centre_j| / half_width_j`, so 1 is the
/// boundary and 1.5 means half a half-width beyond it along the worst parameter.
#[derive(Debug, Clone)]
pub struct BoxRegion {
    lower: Vec<f64>,
    upper: Vec<f64>,
    centre: Vec<f64>,
    inv_half: Vec<f64>,
    constraints: Vec<LinearConstraint>,
    /// Per constraint: half the range its sum spans over the box, its distance unit.
    constraint_half: Vec<f64>,
}

impl BoxRegion {
    /// `lower[j] <= upper[j]`, both finite (checked by [`super::RegionData::validate`]).
    pub fn new(lower: Vec<f64>, upper: Vec<f64>) -> Self {
        let centre = lower.iter().zip(&upper).map(|(a, b)| 0.5 * (a + b)).collect();
        let inv_half = lower
            .iter()
            .zip(&upper)
            .map(|(a, b)| if b > a { 2.0 / (b - a) } else { f64::INFINITY })
            .collect();
        BoxRegion { lower, upper, centre, inv_half, constraints: Vec::new(), constraint_half: Vec::new() }
    }

    /// The box cut by `constraints` (resolved in this box's parameter order).
    pub fn with_constraints(mut self, constraints: Vec<LinearConstraint>) -> Self {
        self.constraint_half = constraints
            .iter()
            .map(|c| {
                let span: f64 = c.coefficients.iter().zip(self.lower.iter().zip(&self.upper)).map(|(k, (a, b))| (k * (b - a)).abs()).sum();
                if span > 0.0 { 0.5 * span } else { 1.0 }
            })
            .collect();
        self.constraints = constraints;
        self
    }

    pub fn constraints(&self) -> &[LinearConstraint] {
        &self.constraints
    }

    pub fn lower(&self) -> &[f64] {
        &self.lower
    }
    pub fn upper(&self) -> &[f64] {
        &self.upper
    }

    /// Exact comparisons decide membership (no rounding at the edges); the distance is
    /// reported alongside.
    #[inline]
    pub fn check(&self, x: &[f64]) -> (bool, f64) {
        let mut inside = true;
        let mut dist = 0.0f64;
        for j in 0..x.len() {
            inside &= x[j] >= self.lower[j] && x[j] <= self.upper[j];
            let r = (x[j] - self.centre[j]).abs() * self.inv_half[j];
            // A zero-width range: 0 on it (0 * inf is NaN), infinitely far off it.
            let r = if r.is_nan() { if x[j] == self.centre[j] { 0.0 } else { f64::INFINITY } } else { r };
            dist = dist.max(r);
        }
        // A broken constraint: 1 plus how far beyond its bound, in half its range over the box.
        for (c, half) in self.constraints.iter().zip(&self.constraint_half) {
            let v = c.value(x);
            if !c.holds(x) {
                inside = false;
                let beyond = if v > c.max { v - c.max } else if v < c.min { c.min - v } else { f64::INFINITY };
                dist = dist.max(1.0 + beyond / half);
            }
        }
        (inside, dist)
    }

    /// "`tau` = 0.2 > 0.09, `ns` = 0.9 < 0.92" for the parameters outside their range.
    pub fn explain(&self, x: &[f64], names: &[String]) -> String {
        let parts: Vec<String> = (0..x.len())
            .filter_map(|j| {
                if x[j] > self.upper[j] {
                    Some(format!("`{}` = {} > {}", names[j], x[j], self.upper[j]))
                } else if x[j] < self.lower[j] {
                    Some(format!("`{}` = {} < {}", names[j], x[j], self.lower[j]))
                } else {
                    None
                }
            })
            .collect();
        let broken: Vec<String> = self.constraints.iter().filter_map(|c| c.explain(x)).collect();
        match (parts.is_empty(), broken.is_empty()) {
            (false, true) => format!("outside the box: {}", parts.join(", ")),
            (true, false) => format!("outside the region's constraints: {}", broken.join(", ")),
            _ => format!("outside the box: {}; outside the region's constraints: {}", parts.join(", "), broken.join(", ")),
        }
    }
}
