//! The `box` method: every parameter within the training range.

/// The training box. Distance: the largest `|x_j - centre_j| / half_width_j`, so 1 is the
/// boundary and 1.5 means half a half-width beyond it along the worst parameter.
#[derive(Debug, Clone)]
pub struct BoxRegion {
    lower: Vec<f64>,
    upper: Vec<f64>,
    centre: Vec<f64>,
    inv_half: Vec<f64>,
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
        BoxRegion { lower, upper, centre, inv_half }
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
        format!("outside the box: {}", parts.join(", "))
    }
}
