//! The archive container: an emulator shipped as one `NAME.tar.gz`, format version 1.
//!
//! This layer knows members, hashes and safety rules, never what a member means: contents are
//! bytes to it, parsed by other modules (`spec`, `model`, ...). The format is specified in
//! `docs/archive.md`; the reader here checks every rule listed there, in the order given there:
//!
//! 1. the file is one gzip stream holding one tar archive (`reader.rs`);
//! 2. every tar entry is a regular file (or a skipped directory) with a safe name (`name.rs`),
//!    no name appears twice and the size limits hold while streaming;
//! 3. `manifest.json` parses, is a zelos archive of a supported version (`manifest.rs`);
//! 4. manifest and members agree one to one, by size and sha256;
//! 5. every member of [`REQUIRED_MEMBERS`] is present.
//!
//! [`ArchiveWriter`] produces exactly what the reader accepts, byte-identical for identical
//! content.

mod error;
mod extract;
mod manifest;
mod name;
mod reader;
mod stream;
mod writer;

pub use error::{ArchiveError, NameProblem};
pub use manifest::{Manifest, MemberEntry};
pub use reader::Archive;
pub use writer::ArchiveWriter;

/// The archive format version this crate writes and the newest it reads.
pub const FORMAT_VERSION: u32 = 1;

/// The value of the manifest's `format` field.
pub const FORMAT_NAME: &str = "zelos-archive";

/// The member that lists all the others with their sha256 and size.
pub const MANIFEST: &str = "manifest.json";

/// Members every version-1 archive must have.
pub const REQUIRED_MEMBERS: &[&str] = &[
    "spec.yaml",
    "model.json",
    "weights.safetensors",
    "region.safetensors",
    "report.json",
    "report.md",
];

/// The longest member name, in bytes.
pub const MAX_NAME_BYTES: usize = 255;

/// Bounds a reader enforces while streaming, so that a hostile or broken file (a gzip bomb, a
/// million tiny entries) fails early instead of exhausting memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest size of one member, in bytes (decompressed).
    pub max_member_bytes: u64,
    /// Largest sum of all member sizes, in bytes (decompressed).
    pub max_total_bytes: u64,
    /// Largest number of tar entries, directories included.
    pub max_members: usize,
}

impl Default for Limits {
    /// 512 MiB per member, 2 GiB in all, 1024 entries.
    fn default() -> Self {
        Limits { max_member_bytes: 512 << 20, max_total_bytes: 2 << 30, max_members: 1024 }
    }
}
