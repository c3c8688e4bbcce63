//! The crate's error type: one enum, one variant family per module, each message naming the
//! file, the key or the member it is about.

use crate::archive::ArchiveError;
use crate::spec::SpecError;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The emulator spec (YAML) is malformed or inconsistent.
    #[error(transparent)]
    Spec(#[from] SpecError),
    /// The archive container is malformed, tampered with or unsafe.
    #[error(transparent)]
    Archive(#[from] ArchiveError),
    /// The evaluation graph (`model.json` + weights) is inconsistent.
    #[error("{origin}: model: {message}")]
    Model { origin: String, message: String },
    /// The parameters given for an evaluation are unusable.
    #[error("{0}")]
    Parameters(String),
    /// A parameter lies outside the emulator's training box (a separate variant so that callers
    /// may downgrade it to a warning).
    #[error("{0}")]
    OutOfRange(String),
    /// Memory for a result or its scratch could not be allocated (a batch too large for this
    /// machine); the message names the batch and the bytes asked for. Never an abort.
    #[error("{0}")]
    OutOfMemory(String),
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io { path: String, #[source] source: std::io::Error },
}

impl Error {
    pub fn model(origin: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Model { origin: origin.into(), message: message.into() }
    }
    pub fn io(path: impl AsRef<std::path::Path>, source: std::io::Error) -> Self {
        Error::Io { path: path.as_ref().display().to_string(), source }
    }
}
