//! The hub: emulators by name (`hub:NAME`, `hub:NAME@VERSION`), downloaded once from a static
//! HTTP(S) host or a folder, verified, and kept in a local cache. Specified in `docs/hub.md`.
//!
//! * [`Reference`] is `hub:NAME[@VERSION]`;
//! * [`Location`] is where a hub is (`ZELOS_HUB`): a URL, or a folder holding `index.json`;
//! * [`Index`] is `index.json`, what a hub offers;
//! * [`Cache`] holds `CACHE/NAME/VERSION/NAME.tar.gz` and the files beside it;
//! * [`resolve`] turns a reference into a verified archive in the cache, downloading when needed;
//! * [`publish`] adds an archive to a hub folder and rewrites its index atomically.
//!
//! A download is written to a partial file (resumed with an HTTP `Range` request after a
//! failure, only when the server identifies the file with an `ETag` or `Last-Modified` that
//! `If-Range` checks), bounded by an overall deadline and a minimum rate, its size and sha256 are
//! checked against the index *before* the archive is opened, then the archive is fully verified
//! and loaded ([`crate::Emulator::from_archive`]), and only then moved into the cache. A refused
//! download leaves nothing in the cache.

mod cache;
mod error;
mod index;
mod location;
mod net;
mod publish;
mod reference;
pub mod version;

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use sha2::{Digest, Sha256};

pub use cache::{default_cache_dir, Cache, Cached, Record};
pub use error::HubError;
pub use index::{
    Code, Emulator as IndexEmulator, Entry, Index, MahalanobisSummary, Parameter, TrustRegionSummary, INDEX_FILE,
    INDEX_FORMAT, INDEX_FORMAT_VERSION,
};
pub use location::{Location, Target};
pub use net::{NetOptions, Progress, Provenance, DEADLINE_BASE, DEFAULT_MIN_RATE, DEFAULT_RATE_WINDOW};
pub use publish::{publish, Published};
pub use reference::{Reference, PREFIX};

use crate::archive::{Archive, Limits};
use crate::Emulator;

/// Everything a lookup depends on. [`Config::from_env`] reads the environment.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The hub (`ZELOS_HUB`); `None`: only the cache answers.
    pub hub: Option<String>,
    /// The cache (`ZELOS_CACHE`, else the platform's cache folder).
    pub cache: Cache,
    /// No network at all: the cache answers (`ZELOS_OFFLINE=1`).
    pub offline: bool,
    /// How long a fetched index is used without asking the hub again (`ZELOS_HUB_TTL`, seconds;
    /// default 3600). Zero asks every time a version must be chosen.
    pub index_ttl: Duration,
    /// Timeouts, retries, the deadline and the minimum rate (`ZELOS_HUB_TIMEOUT`,
    /// `ZELOS_HUB_RETRIES`, `ZELOS_HUB_DEADLINE`, `ZELOS_HUB_MIN_RATE`, `ZELOS_HUB_RATE_WINDOW`).
    pub net: NetOptions,
}

impl Config {
    /// The configuration the environment gives: `ZELOS_HUB`, `ZELOS_CACHE`, `ZELOS_OFFLINE`,
    /// `ZELOS_HUB_TTL`, `ZELOS_HUB_TIMEOUT` (seconds to wait for a connection or for data),
    /// `ZELOS_HUB_RETRIES`, `ZELOS_HUB_DEADLINE` (seconds a whole download may take; 0: no
    /// deadline), `ZELOS_HUB_MIN_RATE` (bytes per second; 0: no minimum) and
    /// `ZELOS_HUB_RATE_WINDOW` (seconds). Unparsable numbers fall back to the defaults.
    pub fn from_env() -> Config {
        let var = |name: &str| std::env::var(name).ok().map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        let seconds = |name: &str| var(name).and_then(|v| v.parse::<f64>().ok()).filter(|s| s.is_finite() && *s >= 0.0);
        let mut net = NetOptions::default();
        if let Some(s) = seconds("ZELOS_HUB_TIMEOUT") {
            net.connect_timeout = Duration::from_secs_f64(s);
            net.read_timeout = Duration::from_secs_f64(s);
        }
        if let Some(n) = var("ZELOS_HUB_RETRIES").and_then(|v| v.parse().ok()) {
            net.retries = n;
        }
        if let Some(s) = seconds("ZELOS_HUB_DEADLINE") {
            net.deadline = Some(Duration::from_secs_f64(s));
        }
        if let Some(rate) = seconds("ZELOS_HUB_MIN_RATE") {
            net.min_rate = rate;
        }
        if let Some(s) = seconds("ZELOS_HUB_RATE_WINDOW").filter(|s| *s > 0.0) {
            net.rate_window = Duration::from_secs_f64(s);
        }
        Config {
            hub: var("ZELOS_HUB"),
            cache: Cache::from_env(),
            offline: var("ZELOS_OFFLINE").is_some_and(|v| truthy(&v)),
            index_ttl: seconds("ZELOS_HUB_TTL").map_or(Duration::from_secs(3600), Duration::from_secs_f64),
            net,
        }
    }
}

/// `1`, `true`, `yes`, `on` (any case) turn a flag on.
pub fn truthy(value: &str) -> bool {
    matches!(value.trim().to_ascii_lowercase().as_str(), "1" | "true" | "yes" | "on")
}

/// How a lookup was answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// From the cache, with no download.
    Cache,
    /// Downloaded (or copied from a local hub), verified, and added to the cache.
    Download,
}

/// Something a caller should log about a lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// A warning (the hub was unreachable, a cached copy was replaced) rather than information.
    pub warning: bool,
    pub text: String,
}

/// A resolved reference: a verified archive in the cache.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolved {
    pub name: String,
    pub version: String,
    /// The archive in the cache.
    pub path: PathBuf,
    /// sha256 of the archive file, as verified when it entered the cache.
    pub sha256: String,
    pub source: Source,
    /// The hub it came from.
    pub hub: String,
    /// What happened, for the log: the version chosen and why, warnings.
    pub notes: Vec<Note>,
}

impl Resolved {
    /// Loads the archive, checking that the file is still the one verified when it was cached.
    pub fn load(&self) -> Result<Emulator, HubError> {
        let emulator = Emulator::load(&self.path)?;
        if emulator.sha256() != self.sha256 {
            return Err(HubError::HashMismatch {
                url: self.path.display().to_string(),
                expected: self.sha256.clone(),
                found: emulator.sha256().to_string(),
            });
        }
        Ok(emulator)
    }
}

/// Finds `reference` in the cache or on the hub, downloading and verifying it when needed.
///
/// 1. A pinned version already in the cache answers at once: no request.
/// 2. Otherwise, unless offline or no hub is configured, the hub's index is consulted (a copy
///    fetched less than [`Config::index_ttl`] ago counts, so repeated lookups make no request);
///    the pinned version, or the newest one, is taken from the cache when the cache holds the
///    same file (same sha256), else downloaded, verified and added to the cache.
/// 3. When the hub cannot be asked (offline, none configured, unreachable), the cache answers:
///    the pinned version, or the newest cached one; [`HubError::NotCached`] says what is
///    missing and why the hub was not asked.
///
/// `progress` sees the bytes of a download as they arrive; returning `false` stops it (the
/// partial file stays when the next attempt can trust it: see `docs/hub.md`).
pub fn resolve(reference: &Reference, config: &Config, progress: Progress<'_>) -> Result<Resolved, HubError> {
    let cache = &config.cache;
    let mut notes = Vec::new();
    if let Some(version) = &reference.version {
        if let Some(cached) = cache.lookup(&reference.name, version) {
            notes.push(info(format!("{reference}: from the cache {}", cached.path.display())));
            return Ok(from_cache(cached, notes));
        }
    }
    let why_not = match (&config.hub, config.offline) {
        (_, true) => "ZELOS_OFFLINE is set, so no hub was asked".to_string(),
        (None, false) => "no hub is configured (set ZELOS_HUB, or pass a hub)".to_string(),
        (Some(hub), false) => {
            let location = Location::parse(hub)?;
            match resolve_on_hub(reference, &location, config, progress, &mut notes) {
                Err(e) if e.is_unreachable() => {
                    notes.push(warning(format!("{reference}: {e}; trying the cache")));
                    match e {
                        HubError::TooSlow { .. } => format!("the hub was too slow ({e})"),
                        _ => format!("the hub could not be reached ({e})"),
                    }
                }
                other => return other.map(|r| Resolved { notes, ..r }),
            }
        }
    };
    let cached = match &reference.version {
        Some(_) => None, // a pinned cached version answered above
        None => cache.newest(&reference.name),
    };
    match cached {
        Some(cached) => {
            notes.push(info(format!(
                "{reference}: using the newest cached version, {} ({})",
                cached.record.version,
                cached.path.display()
            )));
            Ok(from_cache(cached, notes))
        }
        None => Err(HubError::NotCached {
            wanted: reference.to_string(),
            cache: cache.root().display().to_string(),
            cached: cache.versions(&reference.name),
            why: why_not,
        }),
    }
}

/// The index of a hub: the cached copy if fresh (and `refresh` is false), else fetched (and
/// cached). Offline, the cached copy however old. Returns the index and, when it came from the
/// cache, how long ago it was fetched.
pub fn fetch_index(location: &Location, config: &Config, refresh: bool) -> Result<(Index, Option<Duration>), HubError> {
    let label = location.to_string();
    match location {
        Location::Local(path) => {
            let bytes = std::fs::read(path).map_err(|e| HubError::Unreachable {
                url: label.clone(),
                attempts: 1,
                detail: format!("no hub index there ({e})"),
            })?;
            Ok((Index::parse(&bytes, &label)?, None))
        }
        Location::Http(url) => {
            if config.offline {
                return match config.cache.stored_index(&label, None) {
                    Some((index, age)) => Ok((index, Some(age))),
                    None => Err(HubError::NotCached {
                        wanted: format!("the index of {label}"),
                        cache: config.cache.root().display().to_string(),
                        cached: Vec::new(),
                        why: "ZELOS_OFFLINE is set, so no hub was asked".to_string(),
                    }),
                };
            }
            if !refresh {
                if let Some((index, age)) = config.cache.stored_index(&label, Some(config.index_ttl)) {
                    return Ok((index, Some(age)));
                }
            }
            let bytes = net::Http::new(config.net)?.get(url, index::MAX_INDEX_BYTES)?;
            let index = Index::parse(&bytes, &label)?;
            // The cached copy only saves requests: failing to write it is no reason to fail.
            let _ = config.cache.store_index(&label, &bytes);
            Ok((index, None))
        }
    }
}

fn resolve_on_hub(
    reference: &Reference,
    location: &Location,
    config: &Config,
    progress: Progress<'_>,
    notes: &mut Vec<Note>,
) -> Result<Resolved, HubError> {
    let name = &reference.name;
    let (mut index, mut age) = fetch_index(location, config, false)?;
    if age.is_some() && choose(reference, location, &index, None, &mut Vec::new()).is_err() {
        // Perhaps published since the index was fetched: ask again before giving up.
        (index, age) = fetch_index(location, config, true)?;
    }
    let (version, entry) = choose(reference, location, &index, age, notes)?;
    let attempt = fetch_entry(location, config, name, &version, entry.clone(), progress, notes);
    let Some(age) = age else { return attempt };
    let error = match attempt {
        Err(e) if refused_file(&e) => e,
        other => return other,
    };
    // The entry came from an index cached `age` ago, and the hub refused it (no such file, or
    // not the file the entry describes): the hub may have changed since. Ask it again, once.
    let cached = format!(
        "the index used was a copy cached {} ago (ZELOS_HUB_TTL={})",
        age_text(age),
        net_seconds(config.index_ttl)
    );
    let (fresh, _) = match fetch_index(location, config, true) {
        Ok(fresh) => fresh,
        Err(again) => {
            if matches!(error, HubError::Invalid(_)) {
                return Err(error); // keeps its own error class (an invalid archive)
            }
            return Err(HubError::StaleIndex {
                error: Box::new(error),
                note: format!(
                    "{cached}, and fetching it again failed ({again}); once the hub answers, refresh it with \
                     `zelos hub refresh` (or set ZELOS_HUB_TTL=0 for one call)"
                ),
            });
        }
    };
    notes.push(warning(format!("{name}@{version}: {error}; {cached}: fetched the index again")));
    let (version_now, entry_now) = choose(reference, location, &fresh, None, notes)?;
    if version_now == version && entry_now == entry {
        if matches!(error, HubError::Invalid(_)) {
            return Err(error);
        }
        return Err(HubError::StaleIndex {
            error: Box::new(error),
            note: format!(
                "{cached}; fetched again just now, the index lists the same file: the hub's index or file is wrong, \
                 tell its maintainer"
            ),
        });
    }
    fetch_entry(location, config, name, &version_now, entry_now, progress, notes)
}

/// The version a reference asks for on `index` and its entry; `age`: the index's, when cached
/// (noted with the version chosen).
fn choose(
    reference: &Reference,
    location: &Location,
    index: &Index,
    age: Option<Duration>,
    notes: &mut Vec<Note>,
) -> Result<(String, Entry), HubError> {
    let name = &reference.name;
    match &reference.version {
        Some(v) => match index.entry(name, v) {
            Some(e) => Ok((v.clone(), e.clone())),
            None if index.emulators.contains_key(name) => Err(HubError::VersionNotOnHub {
                hub: location.to_string(),
                name: name.clone(),
                version: v.clone(),
                available: index.versions(name),
            }),
            None => Err(not_on_hub(location, name, index)),
        },
        None => {
            let (v, e) = index.newest(name).ok_or_else(|| not_on_hub(location, name, index))?;
            let all = index.versions(name);
            let age = age.map_or_else(String::new, |a| format!(" (index as cached {} ago)", age_text(a)));
            notes.push(info(format!("{reference}: version {v}, the newest of {} on {location}{age}", all.join(", "))));
            Ok((v.to_string(), e.clone()))
        }
    }
}

/// Whether a download failed because the hub's file is not the one its index entry describes
/// (or is not there): a cached index may be out of date.
fn refused_file(e: &HubError) -> bool {
    matches!(
        e,
        HubError::SizeMismatch { .. }
            | HubError::HashMismatch { .. }
            | HubError::WrongEmulator { .. }
            | HubError::Invalid(_)
            | HubError::BadIndex { .. }
            | HubError::Status { .. }
    )
}

/// `name@version` with `entry`: from the cache when it holds the same file, else downloaded.
fn fetch_entry(
    location: &Location,
    config: &Config,
    name: &str,
    version: &str,
    entry: Entry,
    progress: Progress<'_>,
    notes: &mut Vec<Note>,
) -> Result<Resolved, HubError> {
    let cache = &config.cache;
    if let Some(cached) = cache.lookup(name, version) {
        if cached.record.entry.sha256 == entry.sha256 {
            return Ok(from_cache(cached, Vec::new()));
        }
        notes.push(warning(format!(
            "{name}@{version}: the cached archive (sha256 {}) differs from the hub's ({}); downloading the hub's",
            cached.record.entry.sha256, entry.sha256
        )));
    }
    let record = Record { name: name.to_string(), version: version.to_string(), hub: location.to_string(), entry };
    let path = download(location, &record, config, progress)?;
    notes.push(info(format!("{name}@{version}: downloaded, verified and cached as {}", path.display())));
    Ok(Resolved {
        name: name.to_string(),
        version: version.to_string(),
        path,
        sha256: record.entry.sha256,
        source: Source::Download,
        hub: location.to_string(),
        notes: Vec::new(),
    })
}

/// Downloads (or copies) the archive of `record` into the cache: partial file, size and hash
/// checks, full verification, atomic move. Returns the cached path.
///
/// What is left behind when it fails: nothing, except after an interruption or a network
/// failure (unreachable, too slow), where the partial file stays if the next attempt can trust
/// it: it holds every byte (its sha256 decides), or the server identified the file (`ETag` or
/// `Last-Modified`, recorded in `CACHE/.resume/`) so that a resumed request is checked with
/// `If-Range`. A partial file of unknown origin is never resumed: the download starts over.
fn download(
    location: &Location,
    record: &Record,
    config: &Config,
    progress: Progress<'_>,
) -> Result<PathBuf, HubError> {
    let (name, version, entry) = (&record.name, &record.version, &record.entry);
    let cache = &config.cache;
    let _lock = cache.lock(name, version)?;
    // Another process may have finished the same download while this one waited for the lock.
    if let Some(cached) = cache.lookup(name, version) {
        if cached.record.entry.sha256 == entry.sha256 {
            return Ok(cached.path);
        }
    }
    let target = location.target(&entry.url)?;
    let part = cache.part_path(name, version, &entry.sha256);
    let resume = cache.resume_path(name, version, &entry.sha256);
    let folder = part.parent().expect("a partial path has a folder");
    std::fs::create_dir_all(folder).map_err(|e| HubError::io(folder, e))?;
    let size_of = |path: &Path| std::fs::metadata(path).map(|m| m.len()).ok();
    // A partial file with every byte (an earlier download stopped after its last byte) needs
    // no request when its hash is the index's; with any other contents it is thrown away.
    let complete = match size_of(&part) {
        Some(n) if n == entry.size => sha256_file(&part)? == entry.sha256,
        _ => false,
    };
    if !complete && size_of(&part).is_some_and(|n| n >= entry.size) {
        cache.discard(&part, Some(&resume));
        std::fs::create_dir_all(folder).map_err(|e| HubError::io(folder, e))?;
    }
    let fetched = match (&target, complete) {
        (_, true) => Ok(()),
        (Target::Http(url), false) => {
            net::Http::new(config.net)?.download(url, &part, &resume, entry.size, progress)
        }
        (Target::Local(path), false) => copy_local(path, &part, entry.size, progress),
    };
    if let Err(e) = fetched {
        // Kept only for a next attempt that can trust it (see above); a failed local copy never.
        let network = matches!(e, HubError::Unreachable { .. } | HubError::TooSlow { .. } | HubError::Interrupted { .. });
        let trusted = match &target {
            Target::Http(url) => {
                size_of(&part) == Some(entry.size) || Provenance::read(&resume, url, entry.size).is_some()
            }
            Target::Local(_) => false,
        };
        if !(network && trusted) {
            cache.discard(&part, Some(&resume));
        }
        return Err(e);
    }
    if let Err(e) = verify(&part, &target.to_string(), record) {
        cache.discard(&part, Some(&resume));
        return Err(e);
    }
    let installed = cache.install(&part, record).inspect_err(|_| cache.discard(&part, None));
    cache.discard(&resume, None);
    installed
}

/// Size, then sha256, then the archive's own verification and loading, then its name and version.
fn verify(part: &Path, origin: &str, record: &Record) -> Result<(), HubError> {
    let entry = &record.entry;
    let size = std::fs::metadata(part).map_err(|e| HubError::io(part, e))?.len();
    if size != entry.size {
        return Err(HubError::SizeMismatch { url: origin.to_string(), expected: entry.size, found: size });
    }
    let found = sha256_file(part)?;
    if found != entry.sha256 {
        return Err(HubError::HashMismatch { url: origin.to_string(), expected: entry.sha256.clone(), found });
    }
    let file = File::open(part).map_err(|e| HubError::io(part, e))?;
    let archive =
        Archive::from_reader(std::io::BufReader::new(file), origin, &Limits::default()).map_err(crate::Error::from)?;
    let emulator = Emulator::from_archive(&archive)?;
    let spec = emulator.spec();
    if spec.name != record.name || spec.version != record.version {
        return Err(HubError::WrongEmulator {
            url: origin.to_string(),
            expected: format!("{}@{}", record.name, record.version),
            found: format!("{}@{}", spec.name, spec.version),
        });
    }
    Ok(())
}

/// Copies a local hub's archive into `part` (no resume: a local copy is quick).
fn copy_local(source: &Path, part: &Path, size: u64, progress: Progress<'_>) -> Result<(), HubError> {
    let mut input = File::open(source).map_err(|e| HubError::Unreachable {
        url: source.display().to_string(),
        attempts: 1,
        detail: e.to_string(),
    })?;
    let mut output = File::create(part).map_err(|e| HubError::io(part, e))?;
    let mut buffer = vec![0u8; 1 << 16];
    let mut copied = 0u64;
    loop {
        let n = input.read(&mut buffer).map_err(|e| HubError::io(source, e))?;
        if n == 0 {
            break;
        }
        copied += n as u64;
        if copied > size {
            return Err(HubError::SizeMismatch { url: source.display().to_string(), expected: size, found: copied });
        }
        output.write_all(&buffer[..n]).map_err(|e| HubError::io(part, e))?;
        if !progress(copied, Some(size)) {
            return Err(HubError::Interrupted { url: source.display().to_string(), part: part.display().to_string() });
        }
    }
    output.sync_all().map_err(|e| HubError::io(part, e))
}

/// sha256 of a file, lowercase hex.
pub(crate) fn sha256_file(path: &Path) -> Result<String, HubError> {
    let mut file = File::open(path).map_err(|e| HubError::io(path, e))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buffer).map_err(|e| HubError::io(path, e))?;
        if n == 0 {
            return Ok(hex::encode(hasher.finalize()));
        }
        hasher.update(&buffer[..n]);
    }
}

fn not_on_hub(location: &Location, name: &str, index: &Index) -> HubError {
    HubError::NotOnHub {
        hub: location.to_string(),
        name: name.to_string(),
        available: index.emulators.keys().cloned().collect(),
    }
}

/// `42 s`, `12 min`, `3.5 h`, `2.0 days`.
fn age_text(age: Duration) -> String {
    let s = age.as_secs_f64();
    if s < 120.0 {
        format!("{s:.0} s")
    } else if s < 7200.0 {
        format!("{:.0} min", s / 60.0)
    } else if s < 172_800.0 {
        format!("{:.1} h", s / 3600.0)
    } else {
        format!("{:.1} days", s / 86400.0)
    }
}

/// Seconds as the environment variables take them: `3600`, `0.5`.
fn net_seconds(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s.fract() == 0.0 {
        format!("{}", s as u64)
    } else {
        format!("{s}")
    }
}

fn from_cache(cached: Cached, notes: Vec<Note>) -> Resolved {
    Resolved {
        name: cached.record.name,
        version: cached.record.version,
        path: cached.path,
        sha256: cached.record.entry.sha256,
        source: Source::Cache,
        hub: cached.record.hub,
        notes,
    }
}

fn info(text: String) -> Note {
    Note { warning: false, text }
}

fn warning(text: String) -> Note {
    Note { warning: true, text }
}
