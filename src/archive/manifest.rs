//! `manifest.json`: the list of members with their sha256 and size, and the format version.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::error::ArchiveError;
use super::{FORMAT_NAME, FORMAT_VERSION, MANIFEST};

/// The parsed `manifest.json` of an archive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Always `"zelos-archive"`.
    pub format: String,
    /// The archive format version, [`FORMAT_VERSION`] for archives this crate writes.
    pub format_version: u32,
    /// When the archive was written, RFC 3339 in UTC (`2024-05-01T12:00:00Z`).
    pub created: String,
    /// Every member except the manifest itself, by name.
    pub members: BTreeMap<String, MemberEntry>,
}

/// What the manifest records of one member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemberEntry {
    /// The sha256 of the member's bytes: 64 lowercase hex digits.
    pub sha256: String,
    /// The member's size in bytes.
    pub size: u64,
}

impl MemberEntry {
    /// The entry describing `bytes`.
    pub fn of(bytes: &[u8]) -> MemberEntry {
        MemberEntry { sha256: sha256_hex(bytes), size: bytes.len() as u64 }
    }
}

impl Manifest {
    /// The manifest a writer stores for `members`, created at `unix_seconds`.
    pub(super) fn describe<'a>(
        members: impl IntoIterator<Item = (&'a String, &'a Vec<u8>)>,
        unix_seconds: u64,
    ) -> Manifest {
        Manifest {
            format: FORMAT_NAME.to_owned(),
            format_version: FORMAT_VERSION,
            created: rfc3339_utc(unix_seconds),
            members: members.into_iter().map(|(n, b)| (n.clone(), MemberEntry::of(b))).collect(),
        }
    }

    /// The manifest's JSON bytes: pretty-printed with sorted keys, so identical content gives
    /// identical bytes.
    pub(super) fn to_json(&self) -> Vec<u8> {
        let mut json = serde_json::to_vec_pretty(self).expect("a manifest always serialises");
        json.push(b'\n');
        json
    }

    /// Parses and checks `manifest.json`. The format name and version are read before the
    /// strict parse, so that a newer archive (which may add fields) gets the "upgrade" error
    /// rather than "unknown field".
    pub(super) fn parse(origin: &str, bytes: &[u8]) -> Result<Manifest, ArchiveError> {
        let bad = |detail: String| ArchiveError::BadManifest { origin: origin.to_owned(), detail };
        let value: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| bad(e.to_string()))?;
        check_format(origin, &value)?;
        check_version(origin, &value)?;
        let manifest: Manifest = serde_json::from_value(value).map_err(|e| bad(e.to_string()))?;
        manifest.check_fields().map_err(bad)?;
        Ok(manifest)
    }

    /// Field rules JSON types cannot express.
    fn check_fields(&self) -> Result<(), String> {
        if !is_rfc3339_utc(&self.created) {
            return Err(format!(
                "`created` is `{}`, expected RFC 3339 in UTC such as `2024-05-01T12:00:00Z`",
                self.created
            ));
        }
        if self.members.contains_key(MANIFEST) {
            return Err("it lists itself".to_owned());
        }
        for (name, entry) in &self.members {
            if !is_sha256_hex(&entry.sha256) {
                return Err(format!(
                    "the sha256 of `{name}` is not 64 lowercase hex digits: `{}`",
                    entry.sha256
                ));
            }
        }
        Ok(())
    }
}

/// `format` must be present and equal to `zelos-archive`.
fn check_format(origin: &str, value: &serde_json::Value) -> Result<(), ArchiveError> {
    match value.get("format").and_then(serde_json::Value::as_str) {
        Some(FORMAT_NAME) => Ok(()),
        Some(other) => Err(ArchiveError::NotZelosArchive {
            origin: origin.to_owned(),
            found: other.to_owned(),
        }),
        None => Err(ArchiveError::BadManifest {
            origin: origin.to_owned(),
            detail: "missing string field `format`".to_owned(),
        }),
    }
}

/// `format_version` must be an integer this reader supports.
fn check_version(origin: &str, value: &serde_json::Value) -> Result<(), ArchiveError> {
    let Some(found) = value.get("format_version").and_then(serde_json::Value::as_u64) else {
        return Err(ArchiveError::BadManifest {
            origin: origin.to_owned(),
            detail: "missing integer field `format_version`".to_owned(),
        });
    };
    if found > u64::from(FORMAT_VERSION) {
        return Err(ArchiveError::NewerFormatVersion {
            origin: origin.to_owned(),
            found,
            supported: FORMAT_VERSION,
        });
    }
    if found < 1 {
        return Err(ArchiveError::UnsupportedFormatVersion { origin: origin.to_owned(), found });
    }
    Ok(())
}

/// Lowercase hex sha256 of `bytes`.
pub(super) fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn is_sha256_hex(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Formats seconds since 1970 as `YYYY-MM-DDTHH:MM:SSZ`.
pub(super) fn rfc3339_utc(unix_seconds: u64) -> String {
    // RFC 3339 years have four digits: clamp at 9999-12-31T23:59:59Z.
    let unix_seconds = unix_seconds.min(253_402_300_799);
    let days = unix_seconds / 86_400;
    let secs = unix_seconds % 86_400;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// The Gregorian date of a day count since 1970-01-01 (H. Hinnant's `civil_from_days`).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

/// `YYYY-MM-DDTHH:MM:SS[.fraction]Z` with fields in range (leap second 60 allowed).
fn is_rfc3339_utc(text: &str) -> bool {
    let b = text.as_bytes();
    // ASCII first: the fixed-position slicing below must not split a character.
    if !text.is_ascii() || b.len() < 20 || b[b.len() - 1] != b'Z' {
        return false;
    }
    let number = |range: std::ops::Range<usize>| -> Option<u32> {
        let digits = &text[range];
        digits.bytes().all(|d| d.is_ascii_digit()).then(|| digits.parse().ok())?
    };
    let separators =
        b[4] == b'-' && b[7] == b'-' && b[10] == b'T' && b[13] == b':' && b[16] == b':';
    let fraction = &b[19..b.len() - 1];
    let fraction_ok = fraction.is_empty()
        || (fraction.len() > 1
            && fraction[0] == b'.'
            && fraction[1..].iter().all(u8::is_ascii_digit));
    let in_range = |range, lo, hi| number(range).is_some_and(|n| (lo..=hi).contains(&n));
    separators
        && fraction_ok
        && number(0..4).is_some()
        && in_range(5..7, 1, 12)
        && in_range(8..10, 1, 31)
        && in_range(11..13, 0, 23)
        && in_range(14..16, 0, 59)
        && in_range(17..19, 0, 60)
}
