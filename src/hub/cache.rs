//! The local cache of downloaded archives (layout in `docs/hub.md`):
//!
//! ```text
//! CACHE/
//!   NAME/VERSION/NAME.tar.gz      a verified archive, moved here atomically
//!   NAME/VERSION/entry.json       its index entry and hub: what it was verified against
//!   .partial/NAME@VERSION.SHA.part  a download in progress
//!   .resume/NAME@VERSION.SHA.json   what identifies it (its URL, the server's ETag or
//!                                   Last-Modified): without it, it is never resumed
//!   .locks/NAME@VERSION.lock      one download of a NAME@VERSION at a time, across processes
//!   .hubs/HASH/index.json         a hub's index as last fetched (HASH of the hub's URL)
//! ```
//!
//! Names and versions are checked path-safe (`reference::check_name`) before they name folders,
//! and start with a letter or digit, so they never clash with the dot folders.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::error::HubError;
use super::index::{Entry, Index, MAX_INDEX_BYTES};
use super::version;

/// The record kept beside each cached archive.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub name: String,
    pub version: String,
    /// The hub it came from (its index URL or path).
    pub hub: String,
    /// The index entry it was verified against (`sha256` is the archive file's).
    #[serde(flatten)]
    pub entry: Entry,
}

/// A cached archive.
#[derive(Debug, Clone, PartialEq)]
pub struct Cached {
    pub path: PathBuf,
    pub record: Record,
}

/// The cache folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cache {
    root: PathBuf,
}

impl Cache {
    pub fn new(root: impl Into<PathBuf>) -> Cache {
        Cache { root: root.into() }
    }

    /// `ZELOS_CACHE` when set, else [`default_cache_dir`].
    pub fn from_env() -> Cache {
        match std::env::var_os("ZELOS_CACHE") {
            Some(dir) if !dir.is_empty() => Cache::new(dir),
            _ => Cache::new(default_cache_dir()),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `CACHE/NAME/VERSION/NAME.tar.gz`.
    pub fn archive_path(&self, name: &str, version: &str) -> PathBuf {
        self.root.join(name).join(version).join(format!("{name}.tar.gz"))
    }

    fn record_path(&self, name: &str, version: &str) -> PathBuf {
        self.root.join(name).join(version).join("entry.json")
    }

    /// The cached archive of `name@version`, if both it and its record are there.
    pub fn lookup(&self, name: &str, version: &str) -> Option<Cached> {
        let path = self.archive_path(name, version);
        let record: Record = serde_json::from_slice(&fs::read(self.record_path(name, version)).ok()?).ok()?;
        (path.is_file() && record.name == name && record.version == version).then_some(Cached { path, record })
    }

    /// The cached versions of `name`, oldest first.
    pub fn versions(&self, name: &str) -> Vec<String> {
        let Ok(entries) = fs::read_dir(self.root.join(name)) else { return Vec::new() };
        let mut versions: Vec<String> = entries
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|v| self.lookup(name, v).is_some())
            .collect();
        version::sort(&mut versions);
        versions
    }

    /// The newest cached version of `name`.
    pub fn newest(&self, name: &str) -> Option<Cached> {
        let versions = self.versions(name);
        let newest = version::newest(versions.iter().map(String::as_str))?;
        self.lookup(name, newest)
    }

    /// Every cached archive, by name then version.
    pub fn list(&self) -> Vec<Cached> {
        let Ok(entries) = fs::read_dir(&self.root) else { return Vec::new() };
        let mut names: Vec<String> = entries
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| super::reference::check_name(n).is_ok())
            .collect();
        names.sort();
        names.iter().flat_map(|n| self.versions(n).into_iter().filter_map(move |v| self.lookup(n, &v))).collect()
    }

    /// Where a download of `name@version` with hash `sha256` is written until verified. The hash
    /// is in the name, so that a resumed download is always of the same file.
    pub fn part_path(&self, name: &str, version: &str, sha256: &str) -> PathBuf {
        self.root.join(".partial").join(format!("{name}@{version}.{}.part", &sha256[..16.min(sha256.len())]))
    }

    /// The record of where the bytes of [`Cache::part_path`] came from (see
    /// [`super::net::Provenance`]): a partial file is resumed only when this record says it is
    /// of the same file as the server's.
    pub fn resume_path(&self, name: &str, version: &str, sha256: &str) -> PathBuf {
        self.root.join(".resume").join(format!("{name}@{version}.{}.json", &sha256[..16.min(sha256.len())]))
    }

    /// Holds an exclusive lock for `name@version` until dropped: two processes (MPI ranks
    /// starting together) never write one partial file. `None` where the file system has no
    /// locks (some network file systems): then nothing is locked.
    pub fn lock(&self, name: &str, version: &str) -> Result<Option<File>, HubError> {
        let dir = self.root.join(".locks");
        fs::create_dir_all(&dir).map_err(|e| HubError::io(&dir, e))?;
        let path = dir.join(format!("{name}@{version}.lock"));
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| HubError::io(&path, e))?;
        Ok(file.lock().is_ok().then_some(file))
    }

    /// Moves a verified `part` into the cache as `name@version` and writes its record. The
    /// archive is renamed into place (atomic), then the record written (atomically) beside it:
    /// a cached archive without its record does not count as cached.
    pub fn install(&self, part: &Path, record: &Record) -> Result<PathBuf, HubError> {
        let path = self.archive_path(&record.name, &record.version);
        let dir = path.parent().expect("an archive path has a folder");
        fs::create_dir_all(dir).map_err(|e| HubError::io(dir, e))?;
        let _ = fs::remove_file(self.record_path(&record.name, &record.version));
        fs::rename(part, &path).map_err(|e| HubError::io(&path, e))?;
        if let Some(partial) = part.parent() {
            let _ = fs::remove_dir(partial); // only if empty: other downloads may be under way
        }
        let text = serde_json::to_string_pretty(record).expect("a record always serializes") + "\n";
        write_atomically(&self.record_path(&record.name, &record.version), text.as_bytes())?;
        Ok(path)
    }

    /// Removes a partial download (and its record, if given), and their folders if then empty.
    pub fn discard(&self, part: &Path, record: Option<&Path>) {
        for file in std::iter::once(part).chain(record) {
            let _ = fs::remove_file(file);
            if let Some(dir) = file.parent() {
                let _ = fs::remove_dir(dir); // only if empty: other downloads may be under way
            }
        }
    }

    fn index_path(&self, hub: &str) -> PathBuf {
        let hash = hex::encode(Sha256::digest(hub.as_bytes()));
        self.root.join(".hubs").join(&hash[..16]).join("index.json")
    }

    /// The index of `hub` as last fetched and how long ago, when fetched less than `ttl` ago
    /// (`None`: however long ago).
    pub fn stored_index(&self, hub: &str, ttl: Option<Duration>) -> Option<(Index, Duration)> {
        let path = self.index_path(hub);
        let age = SystemTime::now().duration_since(fs::metadata(&path).ok()?.modified().ok()?).unwrap_or_default();
        if ttl.is_some_and(|ttl| age >= ttl) {
            return None;
        }
        let bytes = fs::read(&path).ok()?;
        (bytes.len() <= MAX_INDEX_BYTES).then_some(())?;
        Some((Index::parse(&bytes, hub).ok()?, age))
    }

    /// Keeps the index of `hub` (as received) for [`Cache::stored_index`].
    pub fn store_index(&self, hub: &str, bytes: &[u8]) -> Result<(), HubError> {
        let path = self.index_path(hub);
        let dir = path.parent().expect("an index path has a folder");
        fs::create_dir_all(dir).map_err(|e| HubError::io(dir, e))?;
        write_atomically(&path, bytes)
    }
}

/// The platform's cache folder with `zelos` appended: `$XDG_CACHE_HOME/zelos` or
/// `~/.cache/zelos` on Linux and other Unix systems, `~/Library/Caches/zelos` on macOS,
/// `%LOCALAPPDATA%\zelos\cache` on Windows; `./.zelos-cache` when no home folder is known.
pub fn default_cache_dir() -> PathBuf {
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    if cfg!(windows) {
        if let Some(local) = var("LOCALAPPDATA") {
            return local.join("zelos").join("cache");
        }
    } else if cfg!(target_os = "macos") {
        if let Some(home) = var("HOME") {
            return home.join("Library").join("Caches").join("zelos");
        }
    } else {
        if let Some(xdg) = var("XDG_CACHE_HOME").filter(|p| p.is_absolute()) {
            return xdg.join("zelos");
        }
        if let Some(home) = var("HOME") {
            return home.join(".cache").join("zelos");
        }
    }
    PathBuf::from(".zelos-cache")
}

/// Writes `bytes` to a temporary file beside `path`, syncs it and renames it over `path`; the
/// temporary file is removed on failure.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), HubError> {
    let temp = temp_beside(path);
    let result = (|| {
        let mut file = OpenOptions::new().write(true).create_new(true).open(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&temp, path)
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&temp);
        return Err(HubError::io(path, e));
    }
    Ok(())
}

/// `.NAME.PID.N.tmp` beside `path`: unique within and across processes.
pub(crate) fn temp_beside(path: &Path) -> PathBuf {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    path.with_file_name(format!(".{name}.{}.{n}.tmp", std::process::id()))
}
