//! Member name rules: relative, UTF-8, `/`-separated components of `[A-Za-z0-9_.-]`, no empty,
//! `.` or `..` component, at most [`MAX_NAME_BYTES`] bytes. Names that pass can be joined to
//! any folder on any common file system without leaving it.

use super::error::{ArchiveError, NameProblem};
use super::MAX_NAME_BYTES;

/// Checks raw name bytes from a tar header (or a writer's argument) and returns the name.
pub(super) fn validate(origin: &str, bytes: &[u8]) -> Result<String, ArchiveError> {
    let invalid = |problem| ArchiveError::InvalidName {
        origin: origin.to_owned(),
        name: display(bytes),
        problem,
    };
    if bytes.is_empty() {
        return Err(invalid(NameProblem::Empty));
    }
    if bytes.len() > MAX_NAME_BYTES {
        return Err(invalid(NameProblem::TooLong(bytes.len())));
    }
    let name = std::str::from_utf8(bytes).map_err(|_| invalid(NameProblem::NotUtf8))?;
    // The two rules that guard the file system come first, so that their specific errors win
    // over a generic "bad character" for names such as `/etc/passwd` or `a/../../b`.
    if name.starts_with('/') {
        return Err(ArchiveError::AbsolutePath { origin: origin.to_owned(), name: display(bytes) });
    }
    if name.split('/').any(|component| component == "..") {
        return Err(ArchiveError::PathLeavesArchive {
            origin: origin.to_owned(),
            name: display(bytes),
        });
    }
    if name.contains('\\') {
        return Err(invalid(NameProblem::Backslash));
    }
    for component in name.split('/') {
        check_component(component).map_err(invalid)?;
    }
    Ok(name.to_owned())
}

/// One component between slashes: non-empty, not `.`, only allowed characters.
fn check_component(component: &str) -> Result<(), NameProblem> {
    if component.is_empty() {
        return Err(NameProblem::EmptyComponent);
    }
    if component == "." {
        return Err(NameProblem::DotComponent);
    }
    match component.chars().find(|&c| !is_allowed(c)) {
        Some(c) => Err(NameProblem::BadCharacter(c)),
        None => Ok(()),
    }
}

/// The alphabet of name components.
fn is_allowed(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')
}

/// The folders a name lies in, innermost last: `a/b/c` gives `a`, `a/b`.
pub(super) fn ancestors(name: &str) -> impl Iterator<Item = &str> {
    name.match_indices('/').map(move |(at, _)| &name[..at])
}

/// A name as shown in messages: lossy UTF-8, control characters escaped, cut at 100
/// characters (a GNU long name may be far longer than any valid one).
pub(super) fn display(bytes: &[u8]) -> String {
    const SHOWN: usize = 100;
    let text = String::from_utf8_lossy(bytes);
    let mut shown = String::new();
    for c in text.chars().take(SHOWN) {
        if c.is_control() {
            shown.extend(c.escape_debug());
        } else {
            shown.push(c);
        }
    }
    if text.chars().count() > SHOWN {
        shown.push('…');
    }
    shown
}
