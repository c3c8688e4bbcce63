//! `parameters`: the emulator's inputs, in order, each with its range.
//!
//! In YAML the section is an ordered mapping from name to either `[min, max]` (short form) or
//! `{range: [min, max], latex: ...}` (long form); in Rust it is a `Vec<Parameter>`.

use std::fmt;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::Serializer;
use serde::{Deserialize, Serialize};

use super::error::{mismatch, Origin, SpecError};
use super::forms::ordered_map;
use super::limits::{self, MAX_PARAMETERS};

/// One input parameter of the emulator and its training range.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Parameter {
    /// The name the code and the samplers use (`ombh2`, `logA`, `omega_b`, ...).
    pub name: String,
    /// Lower end of the range (inclusive).
    pub min: f64,
    /// Upper end of the range (inclusive).
    pub max: f64,
    /// LaTeX label for plots (optional).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latex: Option<String>,
}

impl Parameter {
    /// Whether `x` lies in `[min, max]`.
    pub fn contains(&self, x: f64) -> bool {
        self.min <= x && x <= self.max
    }
}

/// One entry's value in YAML: `[min, max]` or `{range: [min, max], latex: ...}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
enum Bounds {
    Short(Range),
    Long(LongForm),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a mapping with keys `range`, `latex`")]
struct LongForm {
    range: Range,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    latex: Option<String>,
}

/// `[min, max]`: exactly two numbers.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Range(f64, f64);

impl Serialize for Range {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        [self.0, self.1].serialize(s)
    }
}

impl<'de> Deserialize<'de> for Range {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_seq(RangeVisitor)
    }
}

struct RangeVisitor;

impl<'de> Visitor<'de> for RangeVisitor {
    type Value = Range;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a range [min, max]")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Range, A::Error> {
        let mut numbers = Vec::new();
        while let Some(x) = seq.next_element::<f64>()? {
            numbers.push(x);
        }
        match numbers[..] {
            [min, max] => Ok(Range(min, max)),
            _ => Err(mismatch(format!("{} numbers", numbers.len()), "a range [min, max] of two numbers")),
        }
    }
}

impl<'de> Deserialize<'de> for Bounds {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(BoundsVisitor)
    }
}

struct BoundsVisitor;

impl<'de> Visitor<'de> for BoundsVisitor {
    type Value = Bounds;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("[min, max] or {range: [min, max], latex: ...}")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Bounds, A::Error> {
        RangeVisitor.visit_seq(seq).map(Bounds::Short)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Bounds, A::Error> {
        LongForm::deserialize(de::value::MapAccessDeserializer::new(map)).map(Bounds::Long)
    }
}

impl From<&Parameter> for Bounds {
    fn from(p: &Parameter) -> Self {
        let range = Range(p.min, p.max);
        match &p.latex {
            None => Bounds::Short(range),
            Some(latex) => Bounds::Long(LongForm { range, latex: Some(latex.clone()) }),
        }
    }
}

impl Bounds {
    fn into_parameter(self, name: String) -> Parameter {
        let (Range(min, max), latex) = match self {
            Bounds::Short(range) => (range, None),
            Bounds::Long(long) => (long.range, long.latex),
        };
        Parameter { name, min, max, latex }
    }
}

/// serde `with` module: `Vec<Parameter>` as the YAML ordered mapping.
pub(crate) mod as_map {
    use super::*;

    pub fn serialize<S: Serializer>(parameters: &[Parameter], s: S) -> Result<S::Ok, S::Error> {
        let entries: Vec<(String, Bounds)> = parameters.iter().map(|p| (p.name.clone(), Bounds::from(p))).collect();
        ordered_map::serialize(&entries, s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Parameter>, D::Error> {
        let entries: Vec<(String, Bounds)> = ordered_map::deserialize(d)?;
        Ok(entries.into_iter().map(|(name, bounds)| bounds.into_parameter(name)).collect())
    }
}

/// At least one parameter; each name well-formed, each range finite with min < max.
pub(crate) fn validate(parameters: &[Parameter], origin: &Origin) -> Result<(), SpecError> {
    if parameters.is_empty() {
        return Err(origin.error(
            "parameters",
            "no parameters",
            "at least one parameter, e.g. `ombh2: [0.021, 0.024]`",
        ));
    }
    if parameters.len() > MAX_PARAMETERS {
        return Err(origin.error(
            "parameters",
            format!("{} parameters", parameters.len()),
            limits::limit_text(&MAX_PARAMETERS, "parameters"),
        ));
    }
    for p in parameters {
        let key = format!("parameters.{}", p.name);
        if !is_parameter_name(&p.name) {
            return Err(origin.error(
                key,
                format!("the name \"{}\"", p.name),
                "a name of printable ASCII characters without spaces or quotes",
            ));
        }
        if !p.min.is_finite() || !p.max.is_finite() || p.min >= p.max {
            return Err(origin.error(
                key,
                format!("the range [{:?}, {:?}]", p.min, p.max),
                "a range [min, max] of finite numbers with min < max",
            ));
        }
    }
    Ok(())
}

/// Printable ASCII without spaces or quotes: admits the codes' own names (`ombh2`,
/// `100*theta_s`, `ln10^{10}A_s`) and keeps names safe to embed in files and messages.
fn is_parameter_name(name: &str) -> bool {
    !name.is_empty() && name.chars().all(|c| c.is_ascii_graphic() && !matches!(c, '"' | '\'' | '`'))
}
