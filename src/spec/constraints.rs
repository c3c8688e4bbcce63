//! `constraints`: linear inequalities that cut the parameter box, so that the region an
//! emulator claims is the box and these.
//!
//! ```yaml
//! constraints:
//!   - {terms: {w: 1.0, wa: 1.0}, max: -0.7}   # w + wa <= -0.7
//! ```
//!
//! A region that is not a box is common in cosmology: CAMB refuses `w + wa > 0`, and a corner
//! of the (w, wa) box where dark energy matters early on is where no chain goes but where the
//! networks would spend their accuracy. The design places points only where every constraint
//! holds, and the trust region's `box` method refuses the rest, so those points go to the code.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::error::{Origin, SpecError};
use super::parameters::Parameter;

/// The most constraints a spec may list (real specs: one or two).
pub const MAX_CONSTRAINTS: usize = 64;

/// `min <= sum_i terms[i] * parameter_i <= max`, as written (either bound may be left out).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a mapping with keys `terms`, `min`, `max`")]
pub struct Constraint {
    /// Coefficient of each parameter in the sum (parameters left out have 0).
    pub terms: BTreeMap<String, f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
}

/// A constraint resolved against the parameter order: dense coefficients, both bounds
/// (infinite where left out), and its sum written out for messages ("w + wa").
#[derive(Debug, Clone, PartialEq)]
pub struct LinearConstraint {
    pub coefficients: Vec<f64>,
    pub min: f64,
    pub max: f64,
    pub text: String,
}

impl LinearConstraint {
    /// The sum at `x` (parameter order).
    pub fn value(&self, x: &[f64]) -> f64 {
        self.coefficients.iter().zip(x).map(|(c, v)| c * v).sum()
    }

    /// Whether `x` satisfies it (exact comparisons, as the box's).
    pub fn holds(&self, x: &[f64]) -> bool {
        let v = self.value(x);
        v >= self.min && v <= self.max
    }

    /// "`w + wa` = -0.2 > -0.7" for a point that breaks it, None otherwise.
    pub fn explain(&self, x: &[f64]) -> Option<String> {
        let v = self.value(x);
        if v > self.max {
            Some(format!("`{}` = {v} > {}", self.text, self.max))
        } else if v < self.min || v.is_nan() {
            Some(format!("`{}` = {v} < {}", self.text, self.min))
        } else {
            None
        }
    }
}

impl Constraint {
    /// Dense coefficients in parameter order (the names were checked by [`validate`]).
    pub fn resolve(&self, parameters: &[Parameter]) -> LinearConstraint {
        let coefficients = parameters.iter().map(|p| self.terms.get(&p.name).copied().unwrap_or(0.0)).collect();
        LinearConstraint {
            coefficients,
            min: self.min.unwrap_or(f64::NEG_INFINITY),
            max: self.max.unwrap_or(f64::INFINITY),
            text: self.sum_text(parameters),
        }
    }

    /// "w + wa", "2 omch2 - 0.5 H0", in parameter order.
    fn sum_text(&self, parameters: &[Parameter]) -> String {
        let mut s = String::new();
        for p in parameters {
            let Some(&c) = self.terms.get(&p.name) else { continue };
            let (sign, magnitude) = if c < 0.0 { ("-", -c) } else { ("+", c) };
            if s.is_empty() {
                if sign == "-" {
                    s.push('-');
                }
            } else {
                s.push_str(&format!(" {sign} "));
            }
            if magnitude != 1.0 {
                s.push_str(&format!("{magnitude} "));
            }
            s.push_str(&p.name);
        }
        s
    }
}

/// Names that are parameters, finite non-zero coefficients, finite bounds with `min < max`, at
/// least one bound, and some of the box left: a constraint that no point of the box satisfies
/// would leave the design nothing to draw.
pub fn validate(constraints: &[Constraint], parameters: &[Parameter], origin: &Origin) -> Result<(), SpecError> {
    if constraints.len() > MAX_CONSTRAINTS {
        return Err(origin.error(
            "constraints",
            format!("{} constraints", constraints.len()),
            format!("at most {MAX_CONSTRAINTS}"),
        ));
    }
    let names: Vec<&str> = parameters.iter().map(|p| p.name.as_str()).collect();
    for (i, c) in constraints.iter().enumerate() {
        let key = format!("constraints[{i}]");
        if c.terms.is_empty() {
            return Err(origin.error(format!("{key}.terms"), "an empty mapping", "at least one `parameter: coefficient`"));
        }
        for (name, &value) in &c.terms {
            if !names.contains(&name.as_str()) {
                return Err(origin.error(
                    format!("{key}.terms.{name}"),
                    format!("`{name}`, not a parameter"),
                    format!("one of the parameters: {}", names.join(", ")),
                ));
            }
            if !(value.is_finite() && value != 0.0) {
                return Err(origin.error(format!("{key}.terms.{name}"), value.to_string(), "a finite, non-zero coefficient"));
            }
        }
        for (bound, value) in [("min", c.min), ("max", c.max)] {
            if let Some(v) = value.filter(|v| !v.is_finite()) {
                return Err(origin.error(format!("{key}.{bound}"), v.to_string(), "a finite number (leave the key out for no bound)"));
            }
        }
        match (c.min, c.max) {
            (None, None) => return Err(origin.error(key, "neither `min` nor `max`", "at least one bound")),
            (Some(lo), Some(hi)) if lo >= hi => {
                return Err(origin.error(key, format!("min {lo} >= max {hi}"), "min < max"));
            }
            _ => {}
        }
        let resolved = c.resolve(parameters);
        let (lowest, highest) = box_extremes(&resolved.coefficients, parameters);
        if lowest > resolved.max || highest < resolved.min {
            return Err(origin.error(
                key,
                format!("`{}` ranges over [{lowest}, {highest}] in the parameter box", resolved.text),
                "a constraint that part of the box satisfies",
            ));
        }
    }
    Ok(())
}

/// The smallest and largest value of the linear sum over the parameter box.
fn box_extremes(coefficients: &[f64], parameters: &[Parameter]) -> (f64, f64) {
    coefficients.iter().zip(parameters).fold((0.0, 0.0), |(lo, hi), (&c, p)| {
        let (a, b) = (c * p.min, c * p.max);
        (lo + a.min(b), hi + a.max(b))
    })
}
