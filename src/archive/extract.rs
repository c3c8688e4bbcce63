//! Writing verified members to a folder. Names were checked when the archive was read (no
//! absolute paths, no `..`); on top of that nothing that already exists is overwritten and no
//! existing symbolic link is followed, so a hostile folder cannot redirect a write elsewhere.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::error::ArchiveError;

/// Writes `members` below `dir`, creating `dir` if it is missing.
pub(super) fn extract(
    origin: &str,
    members: &BTreeMap<String, Vec<u8>>,
    dir: &Path,
) -> Result<(), ArchiveError> {
    let failed = |path: &Path, source| ArchiveError::Extract {
        origin: origin.to_owned(),
        path: path.display().to_string(),
        source,
    };
    fs::create_dir_all(dir).map_err(|e| failed(dir, e))?;
    let mut made = BTreeSet::new();
    for (name, bytes) in members {
        let mut path = dir.to_path_buf();
        let mut components = name.split('/').peekable();
        while let Some(component) = components.next() {
            path.push(component);
            if components.peek().is_some() {
                enter_folder(origin, &path, &mut made)?;
            }
        }
        write_new_file(origin, &path, bytes)?;
    }
    Ok(())
}

/// Makes sure `path` is a real folder: one made by this extraction, an existing folder (not a
/// link to one), or a new one.
fn enter_folder(
    origin: &str,
    path: &Path,
    made: &mut BTreeSet<PathBuf>,
) -> Result<(), ArchiveError> {
    if made.contains(path) {
        return Ok(());
    }
    let result = match fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => Ok(()),
        Ok(_) => return Err(conflict(origin, path)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => fs::create_dir(path),
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
/// symbolic link included, instead of following it.
fn write_new_file(origin: &str, path: &Path, bytes: &[u8]) -> Result<(), ArchiveError> {
    let file = OpenOptions::new().write(true).create_new(true).open(path);
    let result = file.and_then(|mut file| file.write_all(bytes));
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
