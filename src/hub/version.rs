//! Emulator versions: which one is newest.
//!
//! Versions are compared as semantic versions where they are (`1.10.0` > `1.9.2` > `1.9.2-rc.1`)
//! and sensibly where they are not (`2024.10` > `2024.9`, `v3` > `v2`, `1.0rc1` < `1.0`):
//!
//! 1. a leading `v` or `V` is ignored, and so is build metadata after `+` (except to break ties);
//! 2. the release part (before the first `-`) is split at `.`; components compare left to right,
//!    a missing component counting as `0`. A component is a number, optionally followed by a
//!    suffix that marks a pre-release of that number (`0rc1` < `0`); numbers compare by value,
//!    suffixes as pre-release identifiers;
//! 3. a version with a pre-release part (after `-`, or a suffixed component) is older than the
//!    same release without one; pre-release identifiers compare as in SemVer 2.0.0 (numeric ones
//!    by value and below alphanumeric ones, a shorter list first when all else is equal);
//! 4. versions still equal compare as plain strings, so that the order is total.
//!
//! [`newest`] picks the greatest release; pre-releases only when there is no release.

use std::cmp::Ordering;

/// Orders two version strings (newest last).
pub fn compare(a: &str, b: &str) -> Ordering {
    let (pa, pb) = (Parsed::new(a), Parsed::new(b));
    pa.cmp_release(&pb).then_with(|| compare_pre(&pa.pre, &pb.pre)).then_with(|| a.cmp(b))
}

/// Whether `version` is a pre-release (`1.0.0-rc.1`, `2.0b1`).
pub fn is_prerelease(version: &str) -> bool {
    !Parsed::new(version).pre.is_empty()
}

/// The newest of `versions`: the greatest release, or the greatest pre-release when all are.
pub fn newest<'a, I: IntoIterator<Item = &'a str>>(versions: I) -> Option<&'a str> {
    let all: Vec<&str> = versions.into_iter().collect();
    let releases = all.iter().copied().filter(|v| !is_prerelease(v));
    let best_release = releases.max_by(|a, b| compare(a, b));
    best_release.or_else(|| all.iter().copied().max_by(|a, b| compare(a, b)))
}

/// Sorts versions oldest first.
pub fn sort(versions: &mut [String]) {
    versions.sort_by(|a, b| compare(a, b));
}

/// A version split into release numbers and pre-release identifiers.
struct Parsed<'a> {
    release: Vec<u128>,
    pre: Vec<&'a str>,
}

impl<'a> Parsed<'a> {
    fn new(text: &'a str) -> Self {
        let text = text.strip_prefix(['v', 'V']).unwrap_or(text);
        let text = text.split('+').next().unwrap_or("");
        let (release_text, pre_text) = match text.split_once('-') {
            Some((r, p)) => (r, Some(p)),
            None => (text, None),
        };
        let mut release = Vec::new();
        let mut pre = Vec::new();
        for component in release_text.split('.') {
            let digits = component.bytes().take_while(u8::is_ascii_digit).count();
            release.push(component[..digits].parse().unwrap_or(0));
            if digits < component.len() {
                // `0rc1`: a pre-release of this release number; later components do not count.
                pre.push(&component[digits..]);
                break;
            }
        }
        if let Some(p) = pre_text {
            pre.extend(p.split('.'));
        }
        Parsed { release, pre }
    }

    fn cmp_release(&self, other: &Self) -> Ordering {
        let n = self.release.len().max(other.release.len());
        (0..n)
            .map(|i| {
                let a = self.release.get(i).copied().unwrap_or(0);
                let b = other.release.get(i).copied().unwrap_or(0);
                a.cmp(&b)
            })
            .find(|o| o.is_ne())
            .unwrap_or(Ordering::Equal)
    }
}

/// SemVer 2.0.0 precedence of pre-release identifier lists; an empty list (a release) is newest.
fn compare_pre(a: &[&str], b: &[&str]) -> Ordering {
    match (a.is_empty(), b.is_empty()) {
        (true, true) => return Ordering::Equal,
        (true, false) => return Ordering::Greater,
        (false, true) => return Ordering::Less,
        _ => {}
    }
    for (x, y) in a.iter().zip(b) {
        let o = match (x.parse::<u128>(), y.parse::<u128>()) {
            (Ok(m), Ok(n)) => m.cmp(&n),
            (Ok(_), Err(_)) => Ordering::Less,
            (Err(_), Ok(_)) => Ordering::Greater,
            (Err(_), Err(_)) => x.cmp(y),
        };
        if o.is_ne() {
            return o;
        }
    }
    a.len().cmp(&b.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_like_semver_where_it_applies() {
        let ordered = [
            "0.9",
            "1.0.0-alpha",
            "1.0.0-alpha.1",
            "1.0.0-alpha.beta",
            "1.0.0-beta",
            "1.0.0-beta.2",
            "1.0.0-beta.11",
            "1.0.0-rc.1",
            "1.0.0",
            "1.0.1",
            "1.2",
            "1.9.2",
            "1.10.0",
            "2",
            "10.0",
        ];
        for w in ordered.windows(2) {
            assert_eq!(compare(w[0], w[1]), Ordering::Less, "{} < {}", w[0], w[1]);
            assert_eq!(compare(w[1], w[0]), Ordering::Greater, "{} > {}", w[1], w[0]);
        }
    }

    #[test]
    fn handles_loose_versions() {
        assert_eq!(compare("2024.9", "2024.10"), Ordering::Less);
        assert_eq!(compare("v2", "v3"), Ordering::Less);
        assert_eq!(compare("1.0rc1", "1.0"), Ordering::Less);
        assert_eq!(compare("1.0rc1", "1.0rc2"), Ordering::Less);
        assert_eq!(compare("1.0", "1.0.0"), Ordering::Less); // equal numbers: a total order by text
        assert_eq!(compare("1.0.0", "1.0.0"), Ordering::Equal);
        assert!(is_prerelease("1.0.0-rc.1") && is_prerelease("2.0b1") && !is_prerelease("2.0+build5"));
    }

    #[test]
    fn newest_prefers_releases() {
        assert_eq!(newest(["0.0.1", "0.0.10", "0.0.2"]), Some("0.0.10"));
        assert_eq!(newest(["1.0.0", "2.0.0-rc.1"]), Some("1.0.0"));
        assert_eq!(newest(["2.0.0-rc.1", "2.0.0-beta"]), Some("2.0.0-rc.1"));
        assert_eq!(newest(std::iter::empty()), None);
    }
}
