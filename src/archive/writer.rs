//! Writing an archive: members sorted by name after the manifest, fixed tar and gzip headers,
//! so that identical content and `created` time give identical bytes.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use flate2::{Compression, GzBuilder};

use super::error::ArchiveError;
use super::manifest::{sha256_hex, Manifest};
use super::reader::check_required;
use super::{name, Limits, MANIFEST};

/// The origin named in errors before the archive has a path.
const WRITER_ORIGIN: &str = "new archive";

/// The mtime of every tar entry: fixed so that bytes depend on content only. 1980-01-01, not
/// 0, because some tools treat 0 as "no time" and zip-based tools cannot store earlier dates.
const ENTRY_MTIME: u64 = 315_532_800;

/// Collects members, then writes a verified archive. Enforces the reader's rules and
/// [`Limits::default`] as members are added, so it never writes what the reader refuses.
#[derive(Debug, Clone)]
pub struct ArchiveWriter {
    members: BTreeMap<String, Vec<u8>>,
    created: u64,
    total: u64,
}

impl Default for ArchiveWriter {
    fn default() -> Self {
        ArchiveWriter::new()
    }
}

impl ArchiveWriter {
    /// An empty writer whose manifest `created` time is now, or `SOURCE_DATE_EPOCH` when that
    /// environment variable holds seconds since 1970 (the reproducible-builds convention).
    pub fn new() -> Self {
        ArchiveWriter { members: BTreeMap::new(), created: default_created(), total: 0 }
    }

    /// Sets the manifest's `created` time, in seconds since 1970, for reproducible archives.
    pub fn created(&mut self, unix_seconds: u64) -> &mut Self {
        self.created = unix_seconds;
        self
    }

    /// Adds member `name` (the reader's name rules apply; `manifest.json` is reserved).
    pub fn add(&mut self, name: &str, bytes: Vec<u8>) -> Result<&mut Self, ArchiveError> {
        let name = name::validate(WRITER_ORIGIN, name.as_bytes())?;
        if name == MANIFEST {
            return Err(ArchiveError::ReservedName { origin: WRITER_ORIGIN.to_owned(), name });
        }
        if self.members.contains_key(&name) {
            return Err(ArchiveError::DuplicateMember { origin: WRITER_ORIGIN.to_owned(), name });
        }
        self.check_file_folder(&name)?;
        self.check_limits(&name, bytes.len() as u64)?;
        self.total += bytes.len() as u64;
        self.members.insert(name, bytes);
        Ok(self)
    }

    /// Writes the archive to `path` atomically (a temporary file in the same folder, synced,
    /// then renamed over `path`) and returns the hex sha256 of the file. On failure `path` is
    /// untouched.
    pub fn write(&self, path: &Path) -> Result<String, ArchiveError> {
        let origin = path.display().to_string();
        let bytes = self.encode(&origin)?;
        write_atomically(path, &bytes).map_err(|source| ArchiveError::Io { origin, source })?;
        Ok(sha256_hex(&bytes))
    }

    /// The archive's bytes.
    pub fn to_bytes(&self) -> Result<Vec<u8>, ArchiveError> {
        self.encode(WRITER_ORIGIN)
    }

    /// `name` may neither lie below a member nor be the folder of one.
    fn check_file_folder(&self, name: &str) -> Result<(), ArchiveError> {
        let conflict = |name: &str, parent: &str| ArchiveError::FileFolderConflict {
            origin: WRITER_ORIGIN.to_owned(),
            name: name.to_owned(),
            parent: parent.to_owned(),
        };
        if let Some(parent) = name::ancestors(name).find(|p| self.members.contains_key(*p)) {
            return Err(conflict(name, parent));
        }
        let folder = format!("{name}/");
        match self.members.range(folder.clone()..).next() {
            Some((child, _)) if child.starts_with(&folder) => Err(conflict(child, name)),
            _ => Ok(()),
        }
    }

    /// The default reader limits, counting the manifest as one entry.
    fn check_limits(&self, name: &str, size: u64) -> Result<(), ArchiveError> {
        let limits = Limits::default();
        if size > limits.max_member_bytes {
            return Err(ArchiveError::MemberTooLarge {
                origin: WRITER_ORIGIN.to_owned(),
                name: name.to_owned(),
                limit: limits.max_member_bytes,
            });
        }
        if self.total + size > limits.max_total_bytes {
            return Err(ArchiveError::TotalTooLarge {
                origin: WRITER_ORIGIN.to_owned(),
                limit: limits.max_total_bytes,
            });
        }
        if self.members.len() + 2 > limits.max_members {
            return Err(ArchiveError::TooManyMembers {
                origin: WRITER_ORIGIN.to_owned(),
                limit: limits.max_members,
            });
        }
        Ok(())
    }

    /// The tar.gz bytes: the manifest first, then members in name order.
    fn encode(&self, origin: &str) -> Result<Vec<u8>, ArchiveError> {
        check_required(origin, &self.members)?;
        let manifest = Manifest::describe(&self.members, self.created).to_json();
        let io_error = |source| ArchiveError::Io { origin: origin.to_owned(), source };
        // Fixed gzip header: no file name, mtime 0, OS "unknown" (255).
        let gzip = GzBuilder::new()
            .mtime(0)
            .operating_system(255)
            .write(Vec::new(), Compression::default());
        let mut tar = tar::Builder::new(gzip);
        append(&mut tar, MANIFEST, &manifest).map_err(io_error)?;
        for (name, bytes) in &self.members {
            append(&mut tar, name, bytes).map_err(io_error)?;
        }
        tar.into_inner().and_then(|gzip| gzip.finish()).map_err(io_error)
    }
}

/// Appends one regular file with fixed metadata: mode 0644, owner 0:0, no user or group
/// names, mtime [`ENTRY_MTIME`]. Names over 100 bytes get a GNU long-name entry.
fn append(tar: &mut tar::Builder<impl Write>, name: &str, bytes: &[u8]) -> io::Result<()> {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Regular);
    header.set_size(bytes.len() as u64);
    header.set_mode(0o644);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(ENTRY_MTIME);
    tar.append_data(&mut header, name, bytes)
}

/// Seconds since 1970 from `SOURCE_DATE_EPOCH`, else now.
fn default_created() -> u64 {
    if let Some(seconds) = std::env::var("SOURCE_DATE_EPOCH").ok().and_then(|s| s.parse().ok()) {
        return seconds;
    }
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// Writes `bytes` to a new temporary file beside `path`, syncs it, renames it over `path` and
/// syncs the folder; the temporary file is removed on any failure.
fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let temp = temp_path(path)?;
    let result = write_synced(&temp, bytes).and_then(|()| fs::rename(&temp, path));
    if result.is_err() {
        let _ = fs::remove_file(&temp);
        return result;
    }
    sync_folder(path);
    Ok(())
}

/// `.NAME.PID-N.tmp` in the folder of `path`; hidden, and unique within this process.
fn temp_path(path: &Path) -> io::Result<PathBuf> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let file_name = path.file_name().ok_or_else(|| {
        io::Error::new(io::ErrorKind::InvalidInput, "the path does not name a file")
    })?;
    let unique = COUNTER.fetch_add(1, Ordering::Relaxed);
    let temp_name = format!(".{}.{}-{unique}.tmp", file_name.to_string_lossy(), std::process::id());
    Ok(path.with_file_name(temp_name))
}

fn write_synced(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = OpenOptions::new().write(true).create_new(true).open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// Makes the rename durable. Best effort: some platforms cannot open or sync a folder, and
/// the new file is complete either way.
fn sync_folder(path: &Path) {
    let folder = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    if let Ok(folder) = File::open(folder) {
        let _ = folder.sync_all();
    }
}
