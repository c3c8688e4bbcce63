//! Writing verified members to a folder. Names were checked when the archive was read (no
//! absolute paths, no `..`); on top of that nothing that already exists is overwritten and no
//! existing symbolic link is followed, so a hostile folder cannot redirect a write elsewhere.
//!
//! An extraction is all or nothing: when one member cannot be written (an existing file in the
//! way, a full disk), the files and folders this extraction created are removed again, and
//! nothing else. Each is removed only if it is still the very file or folder created (same
//! device and inode on Unix), so a path swapped for something else in the meantime is left
//! alone; a folder is removed only if empty.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File, Metadata, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::error::ArchiveError;

/// Writes `members` below `dir`, creating `dir` if it is missing. On failure, removes what it
/// created (files, folders below `dir`, and `dir` itself if it made it and it is empty) and
/// returns the first error.
pub(super) fn extract(
    origin: &str,
    members: &BTreeMap<String, Vec<u8>>,
    dir: &Path,
) -> Result<(), ArchiveError> {
    let mut written = Written::default();
    let result = write_all(origin, members, dir, &mut written);
    if result.is_err() {
        written.remove();
    }
    result
}

fn write_all(
    origin: &str,
    members: &BTreeMap<String, Vec<u8>>,
    dir: &Path,
    written: &mut Written,
) -> Result<(), ArchiveError> {
    let failed = |path: &Path, source| ArchiveError::Extract {
        origin: origin.to_owned(),
        path: path.display().to_string(),
        source,
    };
    let existed = fs::symlink_metadata(dir).is_ok();
    // Folders above `dir` are outside the extraction: made if missing, never removed.
    fs::create_dir_all(dir).map_err(|e| failed(dir, e))?;
    if !existed {
        written.folder(dir);
    }
    let mut made = BTreeSet::new();
    for (name, bytes) in members {
        let mut path = dir.to_path_buf();
        let mut components = name.split('/').peekable();
        while let Some(component) = components.next() {
            path.push(component);
            if components.peek().is_some() {
                enter_folder(origin, &path, &mut made, written)?;
            }
        }
        write_new_file(origin, &path, bytes, written)?;
    }
    Ok(())
}

/// Makes sure `path` is a real folder: one made by this extraction, an existing folder (not a
/// link to one), or a new one.
fn enter_folder(
    origin: &str,
    path: &Path,
    made: &mut BTreeSet<PathBuf>,
    written: &mut Written,
) -> Result<(), ArchiveError> {
    if made.contains(path) {
        return Ok(());
    }
    let result = match fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => Ok(()),
        Ok(_) => return Err(conflict(origin, path)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => fs::create_dir(path).map(|()| written.folder(path)),
        Err(e) => Err(e),
    };
    result.map_err(|source| ArchiveError::Extract {
        origin: origin.to_owned(),
        path: path.display().to_string(),
        source,
    })?;
    made.insert(path.to_path_buf());
    Ok(())
}

/// Creates `path` and writes `bytes`; `create_new` fails on any existing entry, a dangling
/// symbolic link included, instead of following it. The file is recorded as soon as it
/// exists, so that a failed write is removed too.
fn write_new_file(origin: &str, path: &Path, bytes: &[u8], written: &mut Written) -> Result<(), ArchiveError> {
    let file = OpenOptions::new().write(true).create_new(true).open(path);
    let result = file.and_then(|mut file| {
        written.file(path, &file);
        file.write_all(bytes)
    });
    match result {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Err(conflict(origin, path)),
        Err(source) => Err(ArchiveError::Extract {
            origin: origin.to_owned(),
            path: path.display().to_string(),
            source,
        }),
    }
}

fn conflict(origin: &str, path: &Path) -> ArchiveError {
    ArchiveError::ExtractConflict { origin: origin.to_owned(), path: path.display().to_string() }
}

/// What one extraction created, in order, each with the identity it had when created.
#[derive(Default)]
struct Written {
    files: Vec<(PathBuf, Option<Identity>)>,
    folders: Vec<(PathBuf, Option<Identity>)>,
}

impl Written {
    fn file(&mut self, path: &Path, file: &File) {
        self.files.push((path.to_path_buf(), file.metadata().ok().map(|m| Identity::of(&m))));
    }

    fn folder(&mut self, path: &Path) {
        let identity = fs::symlink_metadata(path).ok().map(|m| Identity::of(&m));
        self.folders.push((path.to_path_buf(), identity));
    }

    /// Removes the files, then the folders deepest first (the reverse of their making). Best
    /// effort: what cannot be removed, or is no longer what was made, stays.
    fn remove(self) {
        for (path, identity) in self.files.iter().rev() {
            if still(path, identity, Metadata::is_file) {
                let _ = fs::remove_file(path);
            }
        }
        for (path, identity) in self.folders.iter().rev() {
            if still(path, identity, Metadata::is_dir) {
                let _ = fs::remove_dir(path); // fails, harmlessly, unless empty
            }
        }
    }
}

/// Whether `path` is still the entry created (not a link, the right kind, the same inode).
fn still(path: &Path, identity: &Option<Identity>, kind: fn(&Metadata) -> bool) -> bool {
    match (fs::symlink_metadata(path), identity) {
        (Ok(meta), Some(identity)) => kind(&meta) && Identity::of(&meta) == *identity,
        _ => false,
    }
}

/// A file system entry's identity: device and inode on Unix; elsewhere only its kind is checked.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Identity {
    #[cfg(unix)]
    dev_ino: (u64, u64),
}

impl Identity {
    fn of(_meta: &Metadata) -> Identity {
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            Identity { dev_ino: (_meta.dev(), _meta.ino()) }
        }
        #[cfg(not(unix))]
        {
            Identity {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A member that no file system accepts (a NUL in its name; archive names never have one)
    /// fails after others were written into a folder that did not exist: the folder and all in
    /// it go, the folders above it stay.
    #[test]
    fn a_failed_extraction_removes_the_folder_it_made() {
        let root = tempfile::tempdir().unwrap();
        let out = root.path().join("new/out");
        let members: BTreeMap<String, Vec<u8>> =
            [("a", "1"), ("b/c/d", "2"), ("b/e", "3"), ("z\0", "4")].map(|(n, b)| (n.to_string(), b.into())).into();
        let err = extract("t.tar.gz", &members, &out).unwrap_err();
        assert!(matches!(err, ArchiveError::Extract { ref path, .. } if path.ends_with("z\0")), "{err}");
        assert!(!out.exists(), "the folder this extraction made is gone");
        assert_eq!(fs::read_dir(root.path().join("new")).unwrap().count(), 0);
    }
}
