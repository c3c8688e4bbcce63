//! The hub's errors: one variant per way a lookup, a download or a publication can fail. Each
//! message names what was asked for, where it was looked for and what to do.

use std::io;
use std::path::Path;

/// Why a hub operation failed.
#[derive(Debug, thiserror::Error)]
pub enum HubError {
    /// A reference that is not `hub:NAME` or `hub:NAME@VERSION` with a valid name and version.
    #[error("`{reference}` is not a hub reference: {reason}")]
    BadReference { reference: String, reason: String },
    /// A hub location that is neither an `http(s)://` or `file://` URL nor a folder or file path.
    #[error("hub `{location}`: {reason}")]
    BadLocation { location: String, reason: String },
    /// Every attempt to reach the hub failed with a network error or a server error (5xx, 429),
    /// or a local hub's `index.json` could not be read.
    #[error("{url}: unreachable after {attempts} attempt(s): {detail}")]
    Unreachable { url: String, attempts: u32, detail: String },
    /// A transfer was stopped by a limit: the overall deadline (`ZELOS_HUB_DEADLINE`) or the
    /// minimum rate (`ZELOS_HUB_MIN_RATE` over `ZELOS_HUB_RATE_WINDOW`). `limit` says which, and
    /// how to change it.
    #[error("{url}: {limit}; {received} of {} bytes received in {elapsed:.1} s", expected.map_or_else(|| "?".to_string(), |n| n.to_string()))]
    TooSlow { url: String, limit: String, received: u64, expected: Option<u64>, elapsed: f64 },
    /// The server answered with a status that retrying does not fix (404, 403, ...).
    #[error("{url}: the server answered HTTP {status}")]
    Status { url: String, status: u16 },
    /// `index.json` is not valid JSON, breaks the schema, or is of a newer format version.
    #[error("{origin}: invalid hub index: {detail}")]
    BadIndex { origin: String, detail: String },
    /// The hub does not list the emulator.
    #[error("hub {hub} has no emulator `{name}` (it has {})", or_nothing(.available))]
    NotOnHub { hub: String, name: String, available: Vec<String> },
    /// The hub lists the emulator but not the version asked for.
    #[error("hub {hub} has no version `{version}` of `{name}` (it has {})", or_nothing(.available))]
    VersionNotOnHub { hub: String, name: String, version: String, available: Vec<String> },
    /// No hub may be asked (offline, none configured, or unreachable) and the cache does not
    /// hold what was asked for.
    #[error("{wanted} is not in the cache {cache} (cached versions: {}); {why}", or_nothing(.cached))]
    NotCached { wanted: String, cache: String, cached: Vec<String>, why: String },
    /// The downloaded file's size is not the index's; nothing was kept.
    #[error("{url}: {found} bytes received where the index says {expected}; refused, nothing was kept")]
    SizeMismatch { url: String, expected: u64, found: u64 },
    /// The downloaded file's sha256 is not the index's (a tampered or corrupted file, or a wrong
    /// index); nothing was kept.
    #[error(
        "{url}: sha256 {found} differs from the index's {expected}; refused (tampered or corrupted), \
         nothing was kept"
    )]
    HashMismatch { url: String, expected: String, found: String },
    /// The archive has the index's hash but holds another emulator or version than the index
    /// says; nothing was kept.
    #[error("{url}: the archive holds `{found}`, the index says `{expected}`; refused, nothing was kept")]
    WrongEmulator { url: String, expected: String, found: String },
    /// The archive is not a valid, loadable emulator archive (it failed verification).
    #[error(transparent)]
    Invalid(Box<crate::Error>),
    /// `publish`: the archive's name or version cannot name a folder of a hub.
    #[error("{archive}: cannot be published: {reason}")]
    Unpublishable { archive: String, reason: String },
    /// `publish`: the hub already has this name and version with other contents.
    #[error(
        "{hub}: {published} is already published with sha256 {existing}, and {archive} has sha256 \
         {new}; a published version never changes: give the spec a new `version` and rebuild"
    )]
    Conflict { hub: String, published: String, existing: String, archive: String, new: String },
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: io::Error,
    },
    /// The progress callback asked to stop; the partial file is kept for the next attempt when
    /// it can be resumed (see [`crate::hub::resolve`]).
    #[error("download of {url} interrupted; what was received is kept in {part} when the next attempt can resume it")]
    Interrupted { url: String, part: String },
    /// A download failed against an index entry reused from the cache, and fetching the index
    /// again to check the entry failed too: `note` says how old the cached index is and how to
    /// refresh it.
    #[error("{error}; {note}")]
    StaleIndex {
        #[source]
        error: Box<HubError>,
        note: String,
    },
}

impl From<crate::Error> for HubError {
    fn from(e: crate::Error) -> Self {
        HubError::Invalid(Box::new(e))
    }
}

impl HubError {
    pub(crate) fn io(path: impl AsRef<Path>, source: io::Error) -> Self {
        HubError::Io { path: path.as_ref().display().to_string(), source }
    }

    /// Whether the failure means "the hub cannot be asked now" (unreachable, or too slow to
    /// use), after which the cache answers.
    pub fn is_unreachable(&self) -> bool {
        matches!(self, HubError::Unreachable { .. } | HubError::TooSlow { .. })
    }
}

fn or_nothing(items: &[String]) -> String {
    if items.is_empty() {
        "none".to_string()
    } else {
        items.join(", ")
    }
}
