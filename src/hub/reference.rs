//! `hub:NAME` and `hub:NAME@VERSION`: what a user asks the hub for.

use std::fmt;

use super::error::HubError;

/// The prefix that marks a hub reference.
pub const PREFIX: &str = "hub:";

/// An emulator asked for by name, with its version pinned or not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    pub name: String,
    /// `None`: the newest version.
    pub version: Option<String>,
}

impl Reference {
    /// Parses `hub:NAME`, `hub:NAME@VERSION`, or the same without the `hub:` prefix.
    pub fn parse(text: &str) -> Result<Reference, HubError> {
        let bad = |reason: String| HubError::BadReference { reference: text.to_string(), reason };
        let body = text.strip_prefix(PREFIX).unwrap_or(text);
        let (name, version) = match body.split_once('@') {
            Some((n, v)) => (n, Some(v)),
            None => (body, None),
        };
        check_name(name).map_err(|r| bad(format!("the name {r}")))?;
        if let Some(v) = version {
            check_version(v).map_err(|r| bad(format!("the version {r}")))?;
        }
        Ok(Reference { name: name.to_string(), version: version.map(str::to_string) })
    }

    /// `NAME` or `NAME@VERSION`.
    pub fn label(&self) -> String {
        match &self.version {
            Some(v) => format!("{}@{v}", self.name),
            None => self.name.clone(),
        }
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{PREFIX}{}", self.label())
    }
}

/// An emulator name names a cache folder and a file: `[A-Za-z0-9_.-]+`, starting with a letter
/// or digit (the spec's own rule for `name`).
pub fn check_name(name: &str) -> Result<(), String> {
    check_component(name, |c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'), "`_`, `.`, `-`")
}

/// A version names a cache folder: `[A-Za-z0-9_.+-]+`, starting with a letter or digit.
pub fn check_version(version: &str) -> Result<(), String> {
    check_component(version, |c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '+' | '-'), "`_`, `.`, `+`, `-`")
}

fn check_component(text: &str, allowed: impl Fn(char) -> bool, punctuation: &str) -> Result<(), String> {
    if text.is_empty() {
        return Err("is empty".to_string());
    }
    if text.len() > 128 {
        return Err(format!("`{text}` is longer than 128 characters"));
    }
    if !text.starts_with(|c: char| c.is_ascii_alphanumeric()) || !text.chars().all(allowed) {
        return Err(format!("`{text}` must be letters, digits and {punctuation}, starting with a letter or digit"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_and_versions() {
        let r = Reference::parse("hub:CAMB_lcdm@1.2.0").unwrap();
        assert_eq!((r.name.as_str(), r.version.as_deref()), ("CAMB_lcdm", Some("1.2.0")));
        assert_eq!(r.to_string(), "hub:CAMB_lcdm@1.2.0");
        let r = Reference::parse("hub:x.y-z").unwrap();
        assert_eq!((r.name.as_str(), r.version), ("x.y-z", None));
        assert_eq!(Reference::parse("plain").unwrap().name, "plain");
    }

    #[test]
    fn refuses_names_that_are_not_path_safe() {
        for bad in ["hub:", "hub:../x", "hub:a/b", "hub:.hidden", "hub:x@", "hub:x@../1", "hub:x@1 2", "hub:x@a@b"] {
            let e = Reference::parse(bad).unwrap_err();
            assert!(matches!(e, HubError::BadReference { .. }), "{bad}: {e}");
        }
    }
}
