//! [`SpecError`] and the translation of YAML and serde messages into "found ...; expected ...".
//!
//! Errors raised while deserializing carry serde's message text; errors raised while validating
//! are built directly. Messages of our own made during deserialization (custom visitors,
//! `try_from` conversions) are written as `found X; expected Y` by [`mismatch_text`], so that
//! [`from_serde`] can split them back into the two fields.

use std::path::Path;

/// A spec is malformed or inconsistent.
///
/// `key` is the dotted path of the offending key (`outputs.cmb.lmax`, `parameters.ombh2`,
/// `outputs.cmb.spectra[2]`), or `line L column C` for a YAML syntax error.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{file}: `{key}`: found {found}; expected {expected}")]
pub struct SpecError {
    /// The spec file (or the label given to [`super::Spec::from_yaml_str`]).
    pub file: String,
    /// Where in the spec: a dotted path, or `line L column C`.
    pub key: String,
    /// What the spec holds there.
    pub found: String,
    /// What would have been accepted.
    pub expected: String,
}

impl SpecError {
    pub fn new(
        file: impl Into<String>,
        key: impl Into<String>,
        found: impl Into<String>,
        expected: impl Into<String>,
    ) -> Self {
        SpecError { file: file.into(), key: key.into(), found: found.into(), expected: expected.into() }
    }
}

/// Where a spec comes from: the label used in messages, and the folder against which relative
/// file names in the spec (covariance files) are resolved.
#[derive(Debug, Clone)]
pub(crate) struct Origin<'a> {
    pub file: &'a str,
    pub base_dir: &'a Path,
}

impl Origin<'_> {
    /// An error about `key` in this spec.
    pub fn error(&self, key: impl Into<String>, found: impl Into<String>, expected: impl Into<String>) -> SpecError {
        SpecError::new(self.file, key, found, expected)
    }
}

pub(crate) use crate::keywords::{mismatch_text, one_of};

/// A serde error in the found/expected convention.
pub(crate) fn mismatch<E: serde::de::Error>(found: impl std::fmt::Display, expected: impl std::fmt::Display) -> E {
    E::custom(mismatch_text(found, expected))
}

/// Translates an error of `yaml_serde::from_str::<Value>`: a syntax error or a duplicate key.
pub(crate) fn from_yaml(file: &str, error: &yaml_serde::Error) -> SpecError {
    let text = error.to_string();
    let location = error.location().map(|l| format!("line {} column {}", l.line(), l.column()));
    if let Some(duplicate) = duplicate_key(&text) {
        let found = match &location {
            // yaml_serde marks the start of the mapping, not the repeated key.
            Some(at) => format!("`{}` a second time (in the mapping at {at})", duplicate.name),
            None => format!("`{}` a second time", duplicate.name),
        };
        return SpecError::new(file, duplicate.key, found, "each key at most once in a mapping");
    }
    let key = location.unwrap_or_else(|| "(document)".to_string());
    SpecError::new(file, key, format!("invalid YAML ({text})"), "well-formed YAML")
}

struct DuplicateKey {
    /// Dotted path of the repeated key.
    key: String,
    /// The repeated key itself.
    name: String,
}

/// Recognises yaml_serde's `PATH: duplicate entry with key "NAME" at line L column C`
/// (no `PATH: ` at the top level).
fn duplicate_key(text: &str) -> Option<DuplicateKey> {
    let marker = "duplicate entry with key ";
    let start = text.find(marker)?;
    let parent = text[..start].strip_suffix(": ").unwrap_or("");
    let rest = &text[start + marker.len()..];
    let rest = rest.split(" at line ").next().unwrap_or(rest);
    let name = rest.trim().trim_matches('"').trim_matches('`').to_string();
    let key = if parent.is_empty() || parent == "." { name.clone() } else { format!("{parent}.{name}") };
    Some(DuplicateKey { key, name })
}

/// Translates a deserialization error, located by serde_path_to_error, into a [`SpecError`].
pub(crate) fn from_serde(file: &str, path: &serde_path_to_error::Path, message: &str) -> SpecError {
    let here = dotted(path);
    let child = |name: &str| if here.is_empty() { name.to_string() } else { format!("{here}.{name}") };
    let at = || if here.is_empty() { "(document)".to_string() } else { here.clone() };

    if let Some(rest) = message.strip_prefix("unknown field ") {
        let (name, expected) = split_expected(rest);
        let name = name.trim_matches('`');
        let expected = if expected.is_empty() { "no keys here".to_string() } else { expected };
        // serde_path_to_error has already put the unknown key at the end of the path.
        return SpecError::new(file, at(), format!("unknown key `{name}`"), expected);
    }
    if let Some(rest) = message.strip_prefix("missing field ") {
        let name = rest.trim_matches('`');
        return SpecError::new(file, child(name), "nothing (the key is missing)", "a value: this key is required");
    }
    if let Some(rest) = message.strip_prefix("duplicate field ") {
        let name = rest.trim_matches('`');
        return SpecError::new(file, child(name), format!("`{name}` a second time"), "each key at most once");
    }
    if let Some(rest) = message.strip_prefix("found ") {
        if let Some((found, expected)) = rest.split_once("; expected ") {
            return SpecError::new(file, at(), found, expected);
        }
    }
    for prefix in ["invalid type: ", "invalid value: ", "unknown variant "] {
        if let Some(rest) = message.strip_prefix(prefix) {
            let (found, expected) = split_expected(rest);
            return SpecError::new(file, at(), plain_found(&found), plain_expected(&expected));
        }
    }
    if let Some(rest) = message.strip_prefix("invalid length ") {
        let (count, expected) = split_expected(rest);
        return SpecError::new(file, at(), format!("{count} entries"), plain_expected(&expected));
    }
    SpecError::new(file, at(), message, "a valid spec (see docs/spec.md)")
}

/// The path as `a.b[2].c`; empty at the top level.
fn dotted(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    for segment in path.iter() {
        match segment {
            Segment::Seq { index } => out.push_str(&format!("[{index}]")),
            Segment::Map { key } => push_name(&mut out, key),
            Segment::Enum { variant } => push_name(&mut out, variant),
            Segment::Unknown => push_name(&mut out, "?"),
        }
    }
    out
}

fn push_name(out: &mut String, name: &str) {
    if !out.is_empty() {
        out.push('.');
    }
    out.push_str(name);
}

/// Splits serde's `X, expected Y` (or `X, there are no fields`) into `(X, Y)`.
fn split_expected(text: &str) -> (String, String) {
    if let Some((found, expected)) = text.split_once(", expected ") {
        return (found.to_string(), expected.to_string());
    }
    if let Some((found, _)) = text.split_once(", there are no") {
        return (found.to_string(), String::new());
    }
    (text.to_string(), String::new())
}

/// serde's names for what it found, in the words of a YAML user.
fn plain_found(found: &str) -> String {
    match found {
        "unit value" => "an empty value (null)".to_string(),
        "map" => "a mapping".to_string(),
        "sequence" => "a list".to_string(),
        other => other.to_string(),
    }
}

/// serde's and Rust's names for what was expected, in the words of a YAML user.
fn plain_expected(expected: &str) -> String {
    match expected {
        "u8" | "u16" | "u32" | "u64" | "usize" => "a non-negative integer".to_string(),
        "i8" | "i16" | "i32" | "i64" | "isize" => "an integer".to_string(),
        "f32" | "f64" => "a number".to_string(),
        "a sequence" => "a list".to_string(),
        "a map" => "a mapping".to_string(),
        other => other.to_string(),
    }
}
