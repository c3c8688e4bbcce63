//! `code`: which Boltzmann code, which exact version, and every setting passed to it.

use serde::{Deserialize, Serialize};
use yaml_serde::Value;

use super::error::{Origin, SpecError};
use super::forms::strict_string;
use crate::keywords::keywords;

keywords! {
    /// The Boltzmann code an emulator reproduces.
    pub enum Code {
        /// CAMB, through its Python package `camb`.
        Camb = "camb",
        /// CLASS, through its Python package `classy`.
        Classy = "classy",
    }
}

/// Settings passed verbatim to the code, in the order written: string keys, values that are
/// scalars, lists or mappings.
pub type Settings = yaml_serde::Mapping;

/// The `code` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a mapping with keys `name`, `version`, `settings`")]
pub struct CodeSpec {
    /// `camb` or `classy`.
    pub name: Code,
    /// The exact package version, e.g. `"2.0.5"`.
    #[serde(deserialize_with = "strict_string::deserialize")]
    pub version: String,
    /// Every setting given to the code (fixed cosmological parameters included).
    #[serde(default)]
    pub settings: Settings,
}

impl Code {
    /// Settings that `outputs` decides (multipoles, k range, redshifts, what to compute): one
    /// source of truth, so they may not also appear in `code.settings`.
    fn output_controlled_settings(self) -> &'static [&'static str] {
        match self {
            Code::Camb => &["lmax", "max_l", "kmax", "redshifts", "WantCls", "WantTransfer", "NonLinear"],
            Code::Classy => {
                &["output", "l_max_scalars", "P_k_max_1/Mpc", "P_k_max_h/Mpc", "z_pk", "z_max_pk", "lensing"]
            }
        }
    }
}

impl CodeSpec {
    /// Checks the version and the settings; `parameters` are the spec's varied parameters,
    /// which must not also be fixed here.
    pub(crate) fn validate(&self, parameters: &[&str], origin: &Origin) -> Result<(), SpecError> {
        check_version(&self.version, "code.version", origin)?;
        for (key, value) in &self.settings {
            let Value::String(name) = key else {
                return Err(origin.error("code.settings", format!("the key {}", describe(key)), "string keys"));
            };
            let path = format!("code.settings.{name}");
            if parameters.contains(&name.as_str()) {
                return Err(origin.error(
                    path,
                    format!("`{name}`, which is also a varied parameter"),
                    "each parameter either varied (`parameters`) or fixed (`code.settings`), not both",
                ));
            }
            if self.name.output_controlled_settings().contains(&name.as_str()) {
                return Err(origin.error(
                    path,
                    format!("`{name}`, which `outputs` already determines"),
                    "the key left out: set the multipoles, k range and redshifts in `outputs`",
                ));
            }
            check_setting_value(value, &path, origin)?;
        }
        Ok(())
    }
}

impl CodeSpec {
    /// The parameters these settings hold fixed, in the order written: each setting whose value
    /// is a finite number, or a string that reads as one (CLASS takes `N_ur: "3.044"` as 3.044),
    /// and that is not one of the varied `parameters`. Booleans, lists, mappings and other
    /// strings are not numbers. A point that sets one of them to another value is not the
    /// emulator's to answer (the router's fixed parameters, the plugins' plans, `zelos retrain`'s
    /// screen of logged points): the one definition of "numeric settings are fixed parameters".
    pub fn fixed_parameters(&self, parameters: &[String]) -> Vec<(String, f64)> {
        self.settings
            .iter()
            .filter_map(|(k, v)| Some((k.as_str()?.to_string(), setting_number(v)?)))
            .filter(|(k, _)| !parameters.contains(k))
            .collect()
    }
}

/// A setting's value as a finite number, if it is one (a number, or a string that reads as one).
fn setting_number(value: &Value) -> Option<f64> {
    let x = match value {
        Value::Number(n) => n.as_f64()?,
        Value::String(s) => s.trim().parse::<f64>().ok()?,
        _ => return None,
    };
    x.is_finite().then_some(x)
}

/// An exact version: digits first, then letters, digits, `.`, `+`, `-` (`2.0.5`, `3.2.0rc1`);
/// no ranges or wildcards.
fn check_version(version: &str, key: &str, origin: &Origin) -> Result<(), SpecError> {
    let exact = version.starts_with(|c: char| c.is_ascii_digit())
        && version.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '+' | '-'));
    if exact {
        Ok(())
    } else {
        Err(origin.error(key, format!("\"{version}\""), "an exact version such as \"2.0.5\" (no ranges or wildcards)"))
    }
}

/// A setting value: null, boolean, finite number, string, or lists and mappings of these.
fn check_setting_value(value: &Value, path: &str, origin: &Origin) -> Result<(), SpecError> {
    match value {
        Value::Null | Value::Bool(_) | Value::String(_) => Ok(()),
        Value::Number(n) => match n.as_f64() {
            Some(x) if !x.is_finite() => Err(origin.error(path, format!("{x}"), "a finite number")),
            _ => Ok(()),
        },
        Value::Sequence(items) => items
            .iter()
            .enumerate()
            .try_for_each(|(i, item)| check_setting_value(item, &format!("{path}[{i}]"), origin)),
        Value::Mapping(map) => map.iter().try_for_each(|(key, item)| match key {
            Value::String(name) => check_setting_value(item, &format!("{path}.{name}"), origin),
            other => Err(origin.error(path, format!("the key {}", describe(other)), "string keys")),
        }),
        Value::Tagged(tagged) => Err(origin.error(
            path,
            format!("a value tagged `{}`", tagged.tag),
            "a plain value (null, boolean, number, string, list or mapping)",
        )),
    }
}

/// A short description of a YAML value for messages.
fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".to_string(),
        Value::Bool(b) => format!("`{b}`"),
        Value::Number(n) => format!("`{n}`"),
        Value::String(s) => format!("`{s}`"),
        Value::Sequence(_) => "a list".to_string(),
        Value::Mapping(_) => "a mapping".to_string(),
        Value::Tagged(t) => format!("a value tagged `{}`", t.tag),
    }
}
