//! One error variant per rule of the archive format. Every message starts with the archive's
//! origin (its path, or `new archive` for one being written) and names the member in backticks.

use std::fmt;
use std::io;

/// An archive that breaks a rule of the format, or an I/O failure while reading or writing one.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// Reading or writing the archive file failed.
    #[error("{origin}: {source}")]
    Io {
        origin: String,
        #[source]
        source: io::Error,
    },
    /// The file is not one valid gzip stream (bad magic bytes, corrupt data, CRC mismatch,
    /// truncated).
    #[error("{origin}: not a valid gzip file: {detail}")]
    Gzip { origin: String, detail: String },
    /// Bytes follow the end of the gzip stream (a second gzip member or junk).
    #[error("{origin}: unexpected bytes after the end of the gzip stream")]
    TrailingBytes { origin: String },
    /// The decompressed data is not a valid tar archive (bad header checksum, truncated entry,
    /// data after the end-of-archive marker).
    #[error("{origin}: not a valid tar archive: {detail}")]
    Tar { origin: String, detail: String },
    /// A member name starts with `/`.
    #[error("{origin}: member `{name}` has an absolute path")]
    AbsolutePath { origin: String, name: String },
    /// A member name has a `..` component.
    #[error("{origin}: member `{name}` has a path that leaves the archive")]
    PathLeavesArchive { origin: String, name: String },
    /// A member name breaks another naming rule (alphabet, length, UTF-8, empty or `.`
    /// components, backslashes).
    #[error("{origin}: member `{name}` has an invalid name: {problem}")]
    InvalidName { origin: String, name: String, problem: NameProblem },
    /// A tar entry is neither a regular file nor a directory (symbolic or hard link, device,
    /// fifo, sparse file, pax global header, ...).
    #[error("{origin}: member `{name}` is a {kind}; only regular files are allowed")]
    NotARegularFile { origin: String, name: String, kind: String },
    /// Two tar entries have the same name.
    #[error("{origin}: member `{name}` appears more than once")]
    DuplicateMember { origin: String, name: String },
    /// A member lies below another member that is a file (`a` and `a/b`), so the two cannot
    /// both be extracted.
    #[error("{origin}: member `{name}` lies below `{parent}`, which is a file")]
    FileFolderConflict { origin: String, name: String, parent: String },
    /// A member is larger than [`Limits::max_member_bytes`](super::Limits).
    #[error("{origin}: member `{name}` is larger than the limit of {limit} bytes")]
    MemberTooLarge { origin: String, name: String, limit: u64 },
    /// The decompressed contents are larger than [`Limits::max_total_bytes`](super::Limits).
    #[error("{origin}: decompressed contents exceed the limit of {limit} bytes")]
    TotalTooLarge { origin: String, limit: u64 },
    /// The archive has more entries than [`Limits::max_members`](super::Limits).
    #[error("{origin}: more than {limit} members")]
    TooManyMembers { origin: String, limit: usize },
    /// There is no `manifest.json`.
    #[error("{origin}: member `manifest.json` is missing")]
    MissingManifest { origin: String },
    /// `manifest.json` is not valid JSON or does not follow the manifest schema.
    #[error("{origin}: member `manifest.json` is invalid: {detail}")]
    BadManifest { origin: String, detail: String },
    /// The manifest's `format` is not `zelos-archive`.
    #[error("{origin}: not a zelos archive (manifest format `{found}`, expected `zelos-archive`)")]
    NotZelosArchive { origin: String, found: String },
    /// The manifest's `format_version` is newer than this reader supports.
    #[error(
        "{origin}: written by a newer zelos (archive format version {found}, this zelos reads up \
         to {supported}); upgrade zelos"
    )]
    NewerFormatVersion { origin: String, found: u64, supported: u32 },
    /// The manifest's `format_version` is older than any version this reader supports (0).
    #[error("{origin}: unsupported archive format version {found}")]
    UnsupportedFormatVersion { origin: String, found: u64 },
    /// A member is not listed in the manifest.
    #[error("{origin}: member `{name}` is not listed in the manifest")]
    UnlistedMember { origin: String, name: String },
    /// The manifest lists a member the archive does not contain.
    #[error("{origin}: member `{name}` is listed in the manifest but missing")]
    ListedMemberMissing { origin: String, name: String },
    /// A member's size differs from the one in the manifest.
    #[error("{origin}: member `{name}` has {found} bytes, the manifest says {expected}")]
    SizeMismatch { origin: String, name: String, expected: u64, found: u64 },
    /// A member's sha256 differs from the one in the manifest (the member was changed or
    /// corrupted). Both fields hold full hex digests; the message shows prefixes.
    #[error(
        "{origin}: member `{name}` has sha256 {}…, the manifest says {}…",
        short(.found),
        short(.expected)
    )]
    HashMismatch { origin: String, name: String, expected: String, found: String },
    /// A member every archive of this format version must have is absent (also returned by
    /// [`Archive::require`](super::Archive::require) for a member the caller needs).
    #[error("{origin}: required member `{name}` is missing")]
    MissingRequired { origin: String, name: String },
    /// The writer was given a member it creates itself (`manifest.json`).
    #[error("{origin}: member `{name}` is reserved; the writer creates it")]
    ReservedName { origin: String, name: String },
    /// Extraction would write over, or through, a path that already exists.
    #[error("{origin}: refusing to extract over existing `{path}`")]
    ExtractConflict { origin: String, path: String },
    /// Extraction failed to create a file or folder.
    #[error("{origin}: cannot extract to `{path}`: {source}")]
    Extract {
        origin: String,
        path: String,
        #[source]
        source: io::Error,
    },
}

/// Why a member name is invalid (for [`ArchiveError::InvalidName`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameProblem {
    /// The name is the empty string.
    Empty,
    /// The name is longer than [`MAX_NAME_BYTES`](super::MAX_NAME_BYTES) (the length found).
    TooLong(usize),
    /// The name is not valid UTF-8.
    NotUtf8,
    /// The name contains `\`, which some systems read as a folder separator.
    Backslash,
    /// The name has an empty component (`a//b`, a trailing `/`).
    EmptyComponent,
    /// The name has a `.` component.
    DotComponent,
    /// The name contains a character outside `A-Z a-z 0-9 _ . -` and `/`.
    BadCharacter(char),
}

impl fmt::Display for NameProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NameProblem::Empty => write!(f, "it is empty"),
            NameProblem::TooLong(len) => {
                write!(f, "it is {len} bytes long, the limit is {}", super::MAX_NAME_BYTES)
            }
            NameProblem::NotUtf8 => write!(f, "it is not valid UTF-8"),
            NameProblem::Backslash => write!(f, "it contains `\\` (use `/` between folders)"),
            NameProblem::EmptyComponent => write!(f, "it has an empty path component"),
            NameProblem::DotComponent => write!(f, "it has a `.` path component"),
            NameProblem::BadCharacter(c) => write!(
                f,
                "it contains {c:?}; allowed are A-Z a-z 0-9 _ . - and `/` between folders"
            ),
        }
    }
}

/// The first 12 hex digits of a digest, enough to tell two apart in a message.
fn short(hex: &str) -> &str {
    hex.get(..12).unwrap_or(hex)
}
