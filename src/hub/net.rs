//! HTTP(S) transfers: timeouts, retries with exponential backoff, resumed downloads.
//!
//! TLS is rustls with the ring provider and the platform's certificate store (no OpenSSL).
//! Proxies are taken from `HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY` and `NO_PROXY`.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::time::Duration;

use reqwest::blocking::{Client, Response};
use reqwest::header::{CONTENT_RANGE, RANGE};
use reqwest::{StatusCode, Url};

use super::error::HubError;

/// Reports bytes received so far and the total expected; returns `false` to stop.
pub type Progress<'a> = &'a mut dyn FnMut(u64, Option<u64>) -> bool;

/// How patient transfers are.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NetOptions {
    /// Longest wait for a connection.
    pub connect_timeout: Duration,
    /// Longest wait for the response headers, or for the next bytes of a body.
    pub read_timeout: Duration,
    /// Attempts after the first one, on network errors and on HTTP 408, 429 and 5xx. An attempt
    /// of a download that received bytes does not count (it resumes where it stopped).
    pub retries: u32,
    /// The wait before the first retry; it doubles at each retry, up to 30 s.
    pub backoff: Duration,
}

impl Default for NetOptions {
    /// 15 s to connect, 60 s between bytes, 4 retries from 0.5 s (0.5 + 1 + 2 + 4 s).
    fn default() -> Self {
        NetOptions {
            connect_timeout: Duration::from_secs(15),
            read_timeout: Duration::from_secs(60),
            retries: 4,
            backoff: Duration::from_millis(500),
        }
    }
}

/// One attempt's failure: worth another attempt (and whether it received bytes first), or
/// final.
enum Failure {
    Retry { detail: String, progressed: bool },
    Fatal(HubError),
}

impl Failure {
    fn retry(detail: impl Into<String>) -> Failure {
        Failure::Retry { detail: detail.into(), progressed: false }
    }
}

/// Attempts that received bytes before failing do not count against the retries, up to this
/// many (each makes progress, so a download still ends).
const MAX_PROGRESSED_RETRIES: u32 = 50;

/// A blocking HTTP client with the hub's retry policy.
pub struct Http {
    client: Client,
    options: NetOptions,
}

impl Http {
    pub fn new(options: NetOptions) -> Result<Http, HubError> {
        // reqwest is built without a crypto provider (no aws-lc C build): install ring, unless
        // the process already has one.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = Client::builder()
            .user_agent(concat!("zelos/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(options.connect_timeout)
            // In the blocking client this bounds the wait for headers and for each body read.
            .timeout(options.read_timeout)
            .build()
            .map_err(|e| HubError::BadLocation { location: "(HTTP client)".to_string(), reason: error_chain(&e) })?;
        Ok(Http { client, options })
    }

    /// The body of a small file (an index), at most `limit` bytes.
    pub fn get(&self, url: &Url, limit: usize) -> Result<Vec<u8>, HubError> {
        self.with_retries(url, &mut || {
            let response = self.send(url, None)?;
            if response.status() != StatusCode::OK {
                return Err(Failure::Fatal(HubError::Status {
                    url: url.to_string(),
                    status: response.status().as_u16(),
                }));
            }
            let mut body = Vec::new();
            let read = response.take(limit as u64 + 1).read_to_end(&mut body);
            read.map_err(|e| Failure::retry(format!("reading the body: {}", error_chain(&e))))?;
            if body.len() > limit {
                return Err(Failure::Fatal(HubError::BadIndex {
                    origin: url.to_string(),
                    detail: format!("larger than {limit} bytes"),
                }));
            }
            Ok(body)
        })
    }

    /// Downloads `url` into `part`, resuming from what `part` already holds (an HTTP Range
    /// request), until it holds `size` bytes. Checks nothing but the size.
    pub fn download(&self, url: &Url, part: &Path, size: u64, progress: Progress<'_>) -> Result<(), HubError> {
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(part)
            .map_err(|e| HubError::io(part, e))?;
        self.with_retries(url, &mut || self.download_attempt(url, part, &mut file, size, progress))?;
        file.sync_all().map_err(|e| HubError::io(part, e))
    }

    /// One GET, appending to `file`.
    fn download_attempt(
        &self,
        url: &Url,
        part: &Path,
        file: &mut File,
        size: u64,
        progress: Progress<'_>,
    ) -> Result<(), Failure> {
        let io = |e: std::io::Error| Failure::Fatal(HubError::io(part, e));
        let mut have = file.seek(SeekFrom::End(0)).map_err(io)?;
        if have > size {
            file.set_len(0).map_err(io)?;
            have = 0;
        }
        if have == size {
            return Ok(());
        }
        let mut response = self.send(url, (have > 0).then_some(have))?;
        match response.status() {
            StatusCode::PARTIAL_CONTENT if content_range_start(&response) == Some(have) => {}
            StatusCode::PARTIAL_CONTENT => {
                file.set_len(0).map_err(io)?;
                return Err(Failure::retry("the server sent another range than asked; starting over"));
            }
            StatusCode::OK => {
                // The whole file: the server ignores ranges (or none was asked for).
                file.set_len(0).map_err(io)?;
                have = 0;
            }
            StatusCode::RANGE_NOT_SATISFIABLE => {
                file.set_len(0).map_err(io)?;
                return Err(Failure::retry("the server refused to resume (HTTP 416); starting over"));
            }
            status => {
                return Err(Failure::Fatal(HubError::Status { url: url.to_string(), status: status.as_u16() }));
            }
        }
        file.seek(SeekFrom::Start(have)).map_err(io)?;
        if let Some(length) = response.content_length() {
            if have + length > size {
                file.set_len(0).map_err(io)?;
                return Err(Failure::Fatal(HubError::SizeMismatch {
                    url: url.to_string(),
                    expected: size,
                    found: have + length,
                }));
            }
        }
        let interrupted = || HubError::Interrupted { url: url.to_string(), part: part.display().to_string() };
        if !progress(have, Some(size)) {
            return Err(Failure::Fatal(interrupted()));
        }
        let start = have;
        let mut buffer = vec![0u8; 1 << 16];
        loop {
            let n = match response.read(&mut buffer) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) => {
                    file.flush().map_err(io)?;
                    let detail = format!("connection lost after {have} of {size} bytes: {}", error_chain(&e));
                    return Err(Failure::Retry { detail, progressed: have > start });
                }
            };
            if have + n as u64 > size {
                file.set_len(0).map_err(io)?;
                return Err(Failure::Fatal(HubError::SizeMismatch {
                    url: url.to_string(),
                    expected: size,
                    found: have + n as u64,
                }));
            }
            file.write_all(&buffer[..n]).map_err(io)?;
            have += n as u64;
            if !progress(have, Some(size)) {
                file.flush().map_err(io)?;
                return Err(Failure::Fatal(interrupted()));
            }
        }
        file.flush().map_err(io)?;
        if have < size {
            let detail = format!("the connection closed after {have} of {size} bytes");
            return Err(Failure::Retry { detail, progressed: have > start });
        }
        Ok(())
    }

    fn send(&self, url: &Url, from: Option<u64>) -> Result<Response, Failure> {
        let mut request = self.client.get(url.clone());
        if let Some(from) = from {
            request = request.header(RANGE, format!("bytes={from}-"));
        }
        let response = request.send().map_err(|e| {
            if e.is_builder() {
                Failure::Fatal(HubError::BadLocation { location: url.to_string(), reason: error_chain(&e) })
            } else {
                Failure::retry(error_chain(&e))
            }
        })?;
        let status = response.status();
        if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::REQUEST_TIMEOUT
        {
            return Err(Failure::retry(format!("the server answered HTTP {}", status.as_u16())));
        }
        Ok(response)
    }

    /// Runs `attempt` until it succeeds, fails for good, or has failed `retries + 1` times
    /// without progress, waiting `backoff`, then twice as long, ... between failures.
    fn with_retries<T>(&self, url: &Url, attempt: &mut dyn FnMut() -> Result<T, Failure>) -> Result<T, HubError> {
        let (mut failures, mut progressed, mut attempts) = (0u32, 0u32, 0u32);
        loop {
            attempts += 1;
            match attempt() {
                Ok(value) => return Ok(value),
                Err(Failure::Fatal(e)) => return Err(e),
                Err(Failure::Retry { progressed: true, .. }) if progressed < MAX_PROGRESSED_RETRIES => {
                    // Bytes arrived before the failure: resume at once, with a fresh budget.
                    progressed += 1;
                    failures = 0;
                }
                Err(Failure::Retry { detail, .. }) => {
                    if failures >= self.options.retries {
                        return Err(HubError::Unreachable { url: url.to_string(), attempts, detail });
                    }
                    let wait = self.options.backoff.saturating_mul(1 << failures.min(16)).min(Duration::from_secs(30));
                    failures += 1;
                    std::thread::sleep(wait);
                }
            }
        }
    }
}

/// The first byte of a `Content-Range: bytes FIRST-LAST/TOTAL` header.
fn content_range_start(response: &Response) -> Option<u64> {
    let value = response.headers().get(CONTENT_RANGE)?.to_str().ok()?;
    let range = value.trim().strip_prefix("bytes")?.trim_start();
    range.split('-').next()?.trim().parse().ok()
}

/// An error and its causes, joined: reqwest's own message alone hides the reason.
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let more = s.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = s.source();
    }
    text
}
