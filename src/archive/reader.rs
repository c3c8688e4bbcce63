//! Reading an archive: stream the tar.gz once, keep regular files in memory, then check them
//! against the manifest. Nothing is interpreted; members stay bytes.

use std::collections::BTreeMap;
use std::fmt;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

use flate2::bufread::GzDecoder;

use super::error::ArchiveError;
use super::manifest::{sha256_hex, Manifest};
use super::stream::{Capped, Probe, SharedProbe, Source};
use super::{extract, name, Limits, MANIFEST, REQUIRED_MEMBERS};

/// Tar bytes one entry may add besides its contents: its header, padding to 512 bytes, and a
/// long-name or pax header before it. Part of the cap on the decompressed stream.
const ENTRY_OVERHEAD: u64 = 8 * 1024;
/// Tar bytes after the last entry: the end-of-archive marker and padding to a whole record
/// (GNU tar and Python pad to 10 KiB).
const END_OVERHEAD: u64 = 20 * 1024;
/// Largest buffer reserved up front from a header's claimed size; beyond it the buffer grows
/// only as bytes actually arrive.
const PREALLOCATE_MAX: u64 = 1 << 20;

/// A verified archive: every rule of the format holds and every member is in memory.
pub struct Archive {
    origin: String,
    sha256: String,
    manifest: Manifest,
    /// All regular-file members, `manifest.json` included, by name.
    members: BTreeMap<String, Vec<u8>>,
}

impl Archive {
    /// Reads and verifies the archive at `path` under [`Limits::default`].
    pub fn read(path: &Path) -> Result<Archive, ArchiveError> {
        Archive::read_with_limits(path, &Limits::default())
    }

    /// Reads and verifies the archive at `path` under `limits`.
    pub fn read_with_limits(path: &Path, limits: &Limits) -> Result<Archive, ArchiveError> {
        let origin = path.display().to_string();
        let file = File::open(path)
            .map_err(|source| ArchiveError::Io { origin: origin.clone(), source })?;
        Archive::from_reader(file, &origin, limits)
    }

    /// Reads and verifies an archive from `reader`; `origin` names it in errors. The reader is
    /// consumed to its end, so that [`Archive::sha256`] covers every byte.
    pub fn from_reader(
        reader: impl Read,
        origin: &str,
        limits: &Limits,
    ) -> Result<Archive, ArchiveError> {
        let (members, sha256) = Unpacker::new(origin, limits).unpack(reader)?;
        check_file_folder_conflicts(origin, &members)?;
        let manifest_bytes = members
            .get(MANIFEST)
            .ok_or_else(|| ArchiveError::MissingManifest { origin: origin.to_owned() })?;
        let manifest = Manifest::parse(origin, manifest_bytes)?;
        check_against_manifest(origin, &manifest, &members)?;
        check_required(origin, &members)?;
        Ok(Archive { origin: origin.to_owned(), sha256, manifest, members })
    }

    /// The bytes of member `name`, if present (`manifest.json` included).
    pub fn member(&self, name: &str) -> Option<&[u8]> {
        self.members.get(name).map(Vec::as_slice)
    }

    /// The bytes of member `name`, or an error naming the archive and the member.
    pub fn require(&self, name: &str) -> Result<&[u8], ArchiveError> {
        self.member(name).ok_or_else(|| ArchiveError::MissingRequired {
            origin: self.origin.clone(),
            name: name.to_owned(),
        })
    }

    /// All member names in sorted order, `manifest.json` included (directories are not
    /// members).
    pub fn member_names(&self) -> impl Iterator<Item = &str> {
        self.members.keys().map(String::as_str)
    }

    /// The parsed manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Where the archive came from (its path, or the origin given to [`Archive::from_reader`]).
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Hex sha256 of the whole `.tar.gz` file as read.
    pub fn sha256(&self) -> &str {
        &self.sha256
    }

    /// Writes every member below `dir` (created if missing), never outside it: member names
    /// are verified, no existing file is overwritten and no existing symbolic link is followed.
    /// All or nothing: if a member cannot be written, the files and folders this call created
    /// are removed again (and nothing else) before the error is returned.
    pub fn extract_to(&self, dir: &Path) -> Result<(), ArchiveError> {
        extract::extract(&self.origin, &self.members, dir)
    }
}

impl fmt::Debug for Archive {
    /// Names and sizes, not the bytes.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sizes: BTreeMap<&str, usize> =
            self.members.iter().map(|(name, bytes)| (name.as_str(), bytes.len())).collect();
        f.debug_struct("Archive")
            .field("origin", &self.origin)
            .field("sha256", &self.sha256)
            .field("members", &sizes)
            .finish()
    }
}

/// One pass over the gzip and tar layers, enforcing the stream rules and limits.
struct Unpacker<'a> {
    origin: &'a str,
    limits: &'a Limits,
    probe: SharedProbe,
    entries: usize,
    total: u64,
}

impl<'a> Unpacker<'a> {
    fn new(origin: &'a str, limits: &'a Limits) -> Self {
        Unpacker { origin, limits, probe: SharedProbe::default(), entries: 0, total: 0 }
    }

    /// Returns the regular-file members and the sha256 of the raw input.
    fn unpack<R: Read>(
        mut self,
        reader: R,
    ) -> Result<(BTreeMap<String, Vec<u8>>, String), ArchiveError> {
        let source = Source::new(reader, self.probe.clone());
        let gzip = GzDecoder::new(BufReader::new(source));
        let mut tar = tar::Archive::new(Capped::new(gzip, self.stream_cap(), self.probe.clone()));
        let members = self.read_entries(&mut tar)?;
        let mut capped = tar.into_inner();
        self.check_end_of_tar(&mut capped)?;
        let mut buffered = capped.into_inner().into_inner();
        self.check_no_trailing_bytes(&mut buffered)?;
        Ok((members, buffered.into_inner().finish()))
    }

    /// Most decompressed bytes a valid archive under `limits` can have.
    fn stream_cap(&self) -> u64 {
        let entries = self.limits.max_members as u64 + 1;
        self.limits
            .max_total_bytes
            .saturating_add(entries.saturating_mul(ENTRY_OVERHEAD))
            .saturating_add(END_OVERHEAD)
    }

    fn read_entries<R: Read>(
        &mut self,
        tar: &mut tar::Archive<R>,
    ) -> Result<BTreeMap<String, Vec<u8>>, ArchiveError> {
        let mut members = BTreeMap::new();
        for entry in tar.entries().map_err(|e| self.stream_error(e))? {
            let mut entry = entry.map_err(|e| self.stream_error(e))?;
            self.count_entry()?;
            let Some(name) = self.file_name(&entry)? else {
                continue; // a directory: tolerated, skipped
            };
            if members.contains_key(&name) {
                return Err(ArchiveError::DuplicateMember { origin: self.origin.to_owned(), name });
            }
            let bytes = self.read_body(&name, &mut entry)?;
            members.insert(name, bytes);
        }
        Ok(members)
    }

    fn count_entry(&mut self) -> Result<(), ArchiveError> {
        self.entries += 1;
        if self.entries > self.limits.max_members {
            return Err(ArchiveError::TooManyMembers {
                origin: self.origin.to_owned(),
                limit: self.limits.max_members,
            });
        }
        Ok(())
    }

    /// The entry's verified name if it is a regular file, `None` if it is a directory.
    fn file_name<R: Read>(&self, entry: &tar::Entry<R>) -> Result<Option<String>, ArchiveError> {
        let kind = entry.header().entry_type();
        let raw = entry.path_bytes();
        // Tar writers end directory names with `/`; strip exactly one.
        let raw = if kind.is_dir() { raw.strip_suffix(b"/").unwrap_or(&raw) } else { &raw };
        let name = name::validate(self.origin, raw)?;
        if kind.is_dir() {
            return Ok(None);
        }
        if !kind.is_file() {
            return Err(ArchiveError::NotARegularFile {
                origin: self.origin.to_owned(),
                name,
                kind: kind_name(kind),
            });
        }
        Ok(Some(name))
    }

    /// Reads one member's contents, checking the limits before and while reading.
    fn read_body<R: Read>(
        &mut self,
        name: &str,
        entry: &mut tar::Entry<R>,
    ) -> Result<Vec<u8>, ArchiveError> {
        let limit = self.limits.max_member_bytes;
        let claimed = entry.size();
        // The claimed size lets us fail before reading; the `take` below and the stream cap
        // bound what is actually read, whatever the header says.
        if claimed > limit {
            return Err(self.member_too_large(name));
        }
        if self.total.saturating_add(claimed) > self.limits.max_total_bytes {
            return Err(self.total_too_large());
        }
        let mut bytes = Vec::with_capacity(claimed.min(PREALLOCATE_MAX) as usize);
        entry
            .take(limit.saturating_add(1))
            .read_to_end(&mut bytes)
            .map_err(|e| self.stream_error(e))?;
        let read = bytes.len() as u64;
        if read > limit {
            return Err(self.member_too_large(name));
        }
        if read != claimed {
            return Err(self.tar_error(format!("member `{name}` is truncated")));
        }
        self.total += read;
        Ok(bytes)
    }

    /// After the end-of-archive marker only zero padding may follow; reading it to the end
    /// also makes the gzip layer check its CRC and length.
    fn check_end_of_tar(&self, stream: &mut impl Read) -> Result<(), ArchiveError> {
        let mut buf = [0u8; 8192];
        loop {
            let n = match stream.read(&mut buf) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(self.stream_error(e)),
            };
            if n == 0 {
                return Ok(());
            }
            if buf[..n].iter().any(|&b| b != 0) {
                return Err(self.tar_error("data after the end-of-archive marker".to_owned()));
            }
        }
    }

    /// The file must end where the gzip stream ends.
    fn check_no_trailing_bytes(&self, file: &mut impl BufRead) -> Result<(), ArchiveError> {
        let rest = file
            .fill_buf()
            .map_err(|source| ArchiveError::Io { origin: self.origin.to_owned(), source })?;
        if !rest.is_empty() {
            return Err(ArchiveError::TrailingBytes { origin: self.origin.to_owned() });
        }
        Ok(())
    }

    /// Turns an I/O error from the tar parser into the rule it broke, using what the layers
    /// below it recorded.
    fn stream_error(&self, error: io::Error) -> ArchiveError {
        let probe: &Probe = &self.probe.borrow();
        if probe.over_cap {
            return self.total_too_large();
        }
        if let Some((kind, message)) = &probe.source_error {
            return ArchiveError::Io {
                origin: self.origin.to_owned(),
                source: io::Error::new(*kind, message.clone()),
            };
        }
        if let Some(detail) = &probe.gzip_error {
            return ArchiveError::Gzip { origin: self.origin.to_owned(), detail: detail.clone() };
        }
        self.tar_error(error.to_string())
    }

    fn tar_error(&self, detail: String) -> ArchiveError {
        ArchiveError::Tar { origin: self.origin.to_owned(), detail }
    }

    fn member_too_large(&self, name: &str) -> ArchiveError {
        ArchiveError::MemberTooLarge {
            origin: self.origin.to_owned(),
            name: name.to_owned(),
            limit: self.limits.max_member_bytes,
        }
    }

    fn total_too_large(&self) -> ArchiveError {
        ArchiveError::TotalTooLarge {
            origin: self.origin.to_owned(),
            limit: self.limits.max_total_bytes,
        }
    }
}

/// Words for a tar entry type that is not a regular file.
fn kind_name(kind: tar::EntryType) -> String {
    use tar::EntryType::*;
    match kind {
        Link => "hard link".to_owned(),
        Symlink => "symbolic link".to_owned(),
        Char => "character device".to_owned(),
        Block => "block device".to_owned(),
        Fifo => "fifo".to_owned(),
        Continuous => "contiguous file".to_owned(),
        GNUSparse => "sparse file".to_owned(),
        XGlobalHeader => "pax global header".to_owned(),
        other => format!("tar entry of type {:?}", char::from(other.as_byte())),
    }
}

/// No member may lie below another member that is a file (`a` and `a/b`).
fn check_file_folder_conflicts(
    origin: &str,
    members: &BTreeMap<String, Vec<u8>>,
) -> Result<(), ArchiveError> {
    for name in members.keys() {
        if let Some(parent) = name::ancestors(name).find(|p| members.contains_key(*p)) {
            return Err(ArchiveError::FileFolderConflict {
                origin: origin.to_owned(),
                name: name.clone(),
                parent: parent.to_owned(),
            });
        }
    }
    Ok(())
}

/// Members and manifest entries correspond one to one, with equal sizes and hashes.
fn check_against_manifest(
    origin: &str,
    manifest: &Manifest,
    members: &BTreeMap<String, Vec<u8>>,
) -> Result<(), ArchiveError> {
    for (name, bytes) in members.iter().filter(|(name, _)| *name != MANIFEST) {
        let Some(entry) = manifest.members.get(name) else {
            return Err(ArchiveError::UnlistedMember {
                origin: origin.to_owned(),
                name: name.clone(),
            });
        };
        let size = bytes.len() as u64;
        if size != entry.size {
            return Err(ArchiveError::SizeMismatch {
                origin: origin.to_owned(),
                name: name.clone(),
                expected: entry.size,
                found: size,
            });
        }
        let found = sha256_hex(bytes);
        if found != entry.sha256 {
            return Err(ArchiveError::HashMismatch {
                origin: origin.to_owned(),
                name: name.clone(),
                expected: entry.sha256.clone(),
                found,
            });
        }
    }
    match manifest.members.keys().find(|name| !members.contains_key(*name)) {
        Some(name) => {
            Err(ArchiveError::ListedMemberMissing { origin: origin.to_owned(), name: name.clone() })
        }
        None => Ok(()),
    }
}

/// Every member of [`REQUIRED_MEMBERS`] is present.
pub(super) fn check_required<V>(
    origin: &str,
    members: &BTreeMap<String, V>,
) -> Result<(), ArchiveError> {
    match REQUIRED_MEMBERS.iter().find(|name| !members.contains_key(**name)) {
        Some(name) => Err(ArchiveError::MissingRequired {
            origin: origin.to_owned(),
            name: (*name).to_owned(),
        }),
        None => Ok(()),
    }
}
