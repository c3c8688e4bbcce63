//! The readers stacked under the tar parser: [`Source`] hashes the file as read, [`Capped`]
//! counts decompressed bytes and stops a gzip bomb. Both note what went wrong in a shared
//! [`Probe`], because the `io::Error` that surfaces from the tar crate does not say whether the
//! file, the gzip layer or our cap failed.

use std::cell::RefCell;
use std::io::{self, Read};
use std::rc::Rc;

use sha2::{Digest, Sha256};

/// What the layers below the tar parser saw; shared with the reader that classifies errors.
#[derive(Debug, Default)]
pub(super) struct Probe {
    /// The underlying file or stream failed (kind and message; `io::Error` is not `Clone`).
    pub source_error: Option<(io::ErrorKind, String)>,
    /// Decompression failed: the data is not valid gzip.
    pub gzip_error: Option<String>,
    /// The decompressed stream went past its cap.
    pub over_cap: bool,
}

pub(super) type SharedProbe = Rc<RefCell<Probe>>;

/// The raw file: every byte read passes through the sha256.
pub(super) struct Source<R> {
    inner: R,
    hasher: Sha256,
    probe: SharedProbe,
}

impl<R: Read> Source<R> {
    pub fn new(inner: R, probe: SharedProbe) -> Self {
        Source { inner, hasher: Sha256::new(), probe }
    }

    /// Hex sha256 of everything read so far.
    pub fn finish(self) -> String {
        hex::encode(self.hasher.finalize())
    }
}

impl<R: Read> Read for Source<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.inner.read(buf) {
            Ok(n) => {
                self.hasher.update(&buf[..n]);
                Ok(n)
            }
            Err(e) => {
                // `Interrupted` is retried by the callers, not a failure of the file.
                if e.kind() != io::ErrorKind::Interrupted {
                    self.probe.borrow_mut().source_error.get_or_insert((e.kind(), e.to_string()));
                }
                Err(e)
            }
        }
    }
}

/// The decompressed tar stream, refused past `cap` bytes. Counting the bytes actually
/// delivered, not the sizes tar headers claim, is what bounds a gzip bomb.
pub(super) struct Capped<R> {
    inner: R,
    cap: u64,
    delivered: u64,
    probe: SharedProbe,
}

impl<R: Read> Capped<R> {
    pub fn new(inner: R, cap: u64, probe: SharedProbe) -> Self {
        Capped { inner, cap, delivered: 0, probe }
    }

    pub fn into_inner(self) -> R {
        self.inner
    }
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // Ask for at most one byte past the cap: getting it proves the stream is too long.
        let room = self.cap.saturating_sub(self.delivered).saturating_add(1);
        let want = buf.len().min(usize::try_from(room).unwrap_or(usize::MAX));
        let n = match self.inner.read(&mut buf[..want]) {
            Ok(n) => n,
            Err(e) => {
                let mut probe = self.probe.borrow_mut();
                if probe.source_error.is_none() {
                    probe.gzip_error.get_or_insert(e.to_string());
                }
                return Err(e);
            }
        };
        self.delivered += n as u64;
        if self.delivered > self.cap {
            self.probe.borrow_mut().over_cap = true;
            return Err(io::Error::other("decompressed data exceeds the limit"));
        }
        Ok(n)
    }
}
