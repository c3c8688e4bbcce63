//! `index.json`: what a hub offers. The schema is documented in `docs/hub.md`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::error::HubError;
use super::reference::{check_name, check_version};
use super::version;

/// The value of the index's `format` field.
pub const INDEX_FORMAT: &str = "zelos-hub";
/// The index format version this crate writes and the newest it reads.
pub const INDEX_FORMAT_VERSION: u32 = 1;
/// The index's file name at the root of a hub.
pub const INDEX_FILE: &str = "index.json";
/// The largest index a client reads, in bytes.
pub const MAX_INDEX_BYTES: usize = 64 << 20;

/// A hub's `index.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Index {
    /// Always `"zelos-hub"`.
    pub format: String,
    /// [`INDEX_FORMAT_VERSION`] for indexes this crate writes.
    pub format_version: u32,
    /// Every emulator the hub offers, by name.
    pub emulators: BTreeMap<String, Emulator>,
}

/// One emulator of a hub: its published versions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Emulator {
    /// Every published version, by version string.
    pub versions: BTreeMap<String, Entry>,
}

/// One published archive. Readers ignore fields they do not know, so that later writers may
/// add some without a new format version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// Where the archive is: an absolute `http(s)` URL, or a URL relative to the index's.
    pub url: String,
    /// sha256 of the archive file, 64 lowercase hex digits.
    pub sha256: String,
    /// The archive file's size in bytes.
    pub size: u64,
    /// The archive's `created` time (its manifest's), RFC 3339 UTC.
    pub created: String,
    /// The Boltzmann code the emulator reproduces, from its spec.
    pub code: Code,
    /// The emulator's inputs in order, each with the box its trust region's `box` method
    /// checks (the archive's `region.safetensors` `lower` and `upper`: for the archives zelos
    /// builds, the spec's training ranges). Where an emulator answers is `trust_region`.
    pub parameters: Vec<Parameter>,
    /// Where the emulator answers: the trust region the archive holds and the router checks.
    /// Absent from entries published by older zelos.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trust_region: Option<TrustRegionSummary>,
    /// The headline accuracy: `summary.max_relative_error` of the archive's `report.json`
    /// (the worst relative error over held-out points and outputs); `null` when not reported.
    pub max_relative_error: Option<f64>,
    /// The spec's `description`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// `code` of an index entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Code {
    pub name: String,
    pub version: String,
}

/// One parameter of an index entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Parameter {
    pub name: String,
    pub min: f64,
    pub max: f64,
}

/// `trust_region` of an index entry: the region an archive's emulator answers in, as the router
/// decides it ([`crate::region::TrustRegion::from_emulator`]). A point is emulated only if every
/// method in `methods` accepts it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrustRegionSummary {
    /// The methods checked, in the spec's order: `box`, `mahalanobis`, `hull`.
    pub methods: Vec<String>,
    /// Methods the spec asks for but the archive has no data for (not checked), and why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<String>,
    /// Per parameter, the range no accepted point leaves: the box, narrowed to the Mahalanobis
    /// ellipsoid's extent (`mean ± threshold · sqrt(covariance_jj)`) and to the training points'
    /// range (`hull`), as far as those are checked. A bounding box of the region, not the region.
    pub extent: Vec<Parameter>,
    /// The Mahalanobis method, when checked: accepted points are within `threshold` of `mean`
    /// in the metric of `covariance` (parameter order; `rule` says how the threshold was set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mahalanobis: Option<MahalanobisSummary>,
    /// How many training points the archive holds (the hull's vertices are among them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub training_points: Option<u64>,
}

/// `trust_region.mahalanobis` of an index entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MahalanobisSummary {
    pub threshold: f64,
    pub rule: String,
    pub mean: Vec<f64>,
    /// Row by row, `[p][p]`.
    pub covariance: Vec<Vec<f64>>,
}

impl Default for Index {
    fn default() -> Self {
        Index { format: INDEX_FORMAT.to_string(), format_version: INDEX_FORMAT_VERSION, emulators: BTreeMap::new() }
    }
}

impl Index {
    /// Parses and checks an index; `origin` (its URL or path) labels errors.
    pub fn parse(bytes: &[u8], origin: &str) -> Result<Index, HubError> {
        let bad = |detail: String| HubError::BadIndex { origin: origin.to_string(), detail };
        // The format and its version first: a newer version may change everything else.
        let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| bad(e.to_string()))?;
        let format = value.get("format").and_then(|f| f.as_str());
        if format != Some(INDEX_FORMAT) {
            return Err(bad(format!("`format` is {}, expected \"{INDEX_FORMAT}\"", json_text(value.get("format")))));
        }
        match value.get("format_version").and_then(|v| v.as_u64()) {
            Some(v) if v > u64::from(INDEX_FORMAT_VERSION) => {
                return Err(bad(format!(
                    "written for a newer zelos (hub index format version {v}, this zelos reads up to \
                     {INDEX_FORMAT_VERSION}); upgrade zelos"
                )))
            }
            Some(v) if v >= 1 => {}
            _ => {
                return Err(bad(format!("`format_version` is {}, expected 1", json_text(value.get("format_version")))))
            }
        }
        let index: Index = serde_path_to_error::deserialize(value).map_err(|e| bad(e.to_string()))?;
        index.check().map_err(bad)?;
        Ok(index)
    }

    /// Every rule beyond the types: names and versions that are safe folder names, hashes.
    fn check(&self) -> Result<(), String> {
        for (name, emulator) in &self.emulators {
            check_name(name).map_err(|r| format!("emulator name {r}"))?;
            for (version, entry) in &emulator.versions {
                let at = format!("`{name}@{version}`");
                check_version(version).map_err(|r| format!("{at}: version {r}"))?;
                if entry.sha256.len() != 64 || !entry.sha256.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
                    return Err(format!("{at}: `sha256` must be 64 lowercase hex digits"));
                }
                if entry.url.is_empty() {
                    return Err(format!("{at}: `url` is empty"));
                }
            }
        }
        Ok(())
    }

    /// Pretty-printed JSON with a final newline (keys sorted: identical indexes, identical bytes).
    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).expect("an index always serializes");
        text.push('\n');
        text
    }

    /// The entry of `name@version`, if listed.
    pub fn entry(&self, name: &str, version: &str) -> Option<&Entry> {
        self.emulators.get(name)?.versions.get(version)
    }

    /// The newest version of `name` (see [`version::newest`]) and its entry.
    pub fn newest(&self, name: &str) -> Option<(&str, &Entry)> {
        let versions = &self.emulators.get(name)?.versions;
        let newest = version::newest(versions.keys().map(String::as_str))?;
        versions.get_key_value(newest).map(|(v, e)| (v.as_str(), e))
    }

    /// The versions of `name`, oldest first.
    pub fn versions(&self, name: &str) -> Vec<String> {
        let mut v: Vec<String> =
            self.emulators.get(name).map(|e| e.versions.keys().cloned().collect()).unwrap_or_default();
        version::sort(&mut v);
        v
    }

    /// Adds or replaces `name@version`.
    pub fn insert(&mut self, name: &str, version: &str, entry: Entry) {
        let emulator = self.emulators.entry(name.to_string()).or_insert_with(|| Emulator { versions: BTreeMap::new() });
        emulator.versions.insert(version.to_string(), entry);
    }
}

fn json_text(value: Option<&serde_json::Value>) -> String {
    value.map_or_else(|| "missing".to_string(), |v| v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> Entry {
        Entry {
            url: "a/1.0.0/a.tar.gz".into(),
            sha256: "0".repeat(64),
            size: 10,
            created: "2024-05-01T12:00:00Z".into(),
            code: Code { name: "camb".into(), version: "2.0.5".into() },
            parameters: vec![Parameter { name: "ombh2".into(), min: 0.02, max: 0.025 }],
            trust_region: None,
            max_relative_error: Some(1e-3),
            description: None,
        }
    }

    #[test]
    fn round_trips_and_picks_the_newest() {
        let mut index = Index::default();
        for v in ["0.0.2", "0.0.10", "0.0.9"] {
            index.insert("a", v, entry());
        }
        let again = Index::parse(index.to_json().as_bytes(), "index.json").unwrap();
        assert_eq!(again, index);
        assert_eq!(again.newest("a").unwrap().0, "0.0.10");
        assert_eq!(again.versions("a"), ["0.0.2", "0.0.9", "0.0.10"]);
        assert!(again.newest("b").is_none());
    }

    #[test]
    fn ignores_unknown_fields() {
        let mut json: serde_json::Value = serde_json::from_str(&{
            let mut index = Index::default();
            index.insert("a", "1", entry());
            index.to_json()
        })
        .unwrap();
        json["emulators"]["a"]["versions"]["1"]["license"] = "MIT".into();
        json["publisher"] = "someone".into();
        assert!(Index::parse(json.to_string().as_bytes(), "i").is_ok());
    }

    #[test]
    fn refuses_bad_indexes() {
        let cases = [
            (r#"{"format": "other", "format_version": 1, "emulators": {}}"#, "`format`"),
            (r#"{"format": "zelos-hub", "format_version": 2, "emulators": {}}"#, "upgrade zelos"),
            (r#"{"format": "zelos-hub", "format_version": 0, "emulators": {}}"#, "`format_version`"),
            (r#"{"format": "zelos-hub", "format_version": 1}"#, "emulators"),
            (
                r#"{"format": "zelos-hub", "format_version": 1, "emulators": {"../x": {"versions": {}}}}"#,
                "emulator name",
            ),
            ("not json", "expected"),
        ];
        for (text, needle) in cases {
            let e = Index::parse(text.as_bytes(), "i").unwrap_err().to_string();
            assert!(e.contains(needle), "{text}: {e}");
        }
        let mut index = Index::default();
        let mut bad = entry();
        bad.sha256 = "XYZ".into();
        index.insert("a", "1", bad);
        let e = Index::parse(index.to_json().as_bytes(), "i").unwrap_err().to_string();
        assert!(e.contains("`a@1`: `sha256`"), "{e}");
    }
}
