//! HTTP(S) transfers: timeouts, retries with exponential backoff, an overall deadline, a minimum
//! transfer rate, and downloads resumed only when the server identifies the file.
//!
//! TLS is rustls with the ring provider and the platform's certificate store (no OpenSSL).
//! Proxies are taken from `HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY` and `NO_PROXY`.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use reqwest::blocking::{Client, Response};
use reqwest::header::{HeaderMap, CONTENT_RANGE, ETAG, IF_RANGE, LAST_MODIFIED, RANGE};
use reqwest::{StatusCode, Url};
use serde::{Deserialize, Serialize};

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
    /// of a download that received bytes and can be resumed does not count (it resumes where it
    /// stopped); the deadline and the minimum rate still bound the whole download.
    pub retries: u32,
    /// The wait before the first retry; it doubles at each retry, up to 30 s.
    pub backoff: Duration,
    /// The longest a whole transfer may take, every attempt and wait included
    /// (`ZELOS_HUB_DEADLINE`). `None`: [`DEADLINE_BASE`] plus the size at the minimum rate (at
    /// [`DEFAULT_MIN_RATE`] when the rate check is off). `Some(ZERO)`: no deadline.
    pub deadline: Option<Duration>,
    /// The slowest transfer accepted, in bytes per second, averaged over `rate_window`
    /// (`ZELOS_HUB_MIN_RATE`); 0 turns the check off.
    pub min_rate: f64,
    /// The window the rate is averaged over (`ZELOS_HUB_RATE_WINDOW`).
    pub rate_window: Duration,
}

/// The fixed part of the default deadline: connections, retries and their waits.
pub const DEADLINE_BASE: Duration = Duration::from_secs(120);
/// The default minimum rate, bytes per second.
pub const DEFAULT_MIN_RATE: f64 = 4096.0;
/// The default window of the minimum rate.
pub const DEFAULT_RATE_WINDOW: Duration = Duration::from_secs(30);

impl Default for NetOptions {
    /// 15 s to connect, 60 s between bytes, 4 retries from 0.5 s (0.5 + 1 + 2 + 4 s), at least
    /// 4 KiB/s over any 30 s, and a deadline of 120 s plus the size at 4 KiB/s.
    fn default() -> Self {
        NetOptions {
            connect_timeout: Duration::from_secs(15),
            read_timeout: Duration::from_secs(60),
            retries: 4,
            backoff: Duration::from_millis(500),
            deadline: None,
            min_rate: DEFAULT_MIN_RATE,
            rate_window: DEFAULT_RATE_WINDOW,
        }
    }
}

impl NetOptions {
    /// The deadline of a transfer of `size` bytes (`None`: no deadline).
    pub fn deadline_for(&self, size: Option<u64>) -> Option<Duration> {
        match self.deadline {
            Some(d) if d.is_zero() => None,
            Some(d) => Some(d),
            None => {
                let rate = if self.min_rate > 0.0 { self.min_rate } else { DEFAULT_MIN_RATE };
                let transfer = Duration::try_from_secs_f64(size.unwrap_or(0) as f64 / rate).unwrap_or(Duration::MAX);
                Some(DEADLINE_BASE.saturating_add(transfer))
            }
        }
    }
}

/// What identifies the file a partial download holds, kept beside it (`CACHE/.resume/`) so
/// that a later attempt resumes only the same file: the URL it came from, its size, and the
/// server's validator (a strong `ETag`, else `Last-Modified`), sent back as `If-Range`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Provenance {
    pub url: String,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_modified: Option<String>,
}

impl Provenance {
    /// From a response's headers; `None` when the server gave no usable validator (no strong
    /// `ETag` and no `Last-Modified`): such a file can never be resumed safely.
    fn from_headers(url: &Url, size: u64, headers: &HeaderMap) -> Option<Provenance> {
        let text = |name| headers.get(name).and_then(|v: &reqwest::header::HeaderValue| v.to_str().ok()).map(str::trim);
        let etag = text(ETAG).filter(|e| e.starts_with('"') && e.len() >= 2).map(str::to_string);
        let last_modified = text(LAST_MODIFIED).filter(|v| !v.is_empty()).map(str::to_string);
        (etag.is_some() || last_modified.is_some()).then(|| Provenance {
            url: url.to_string(),
            size,
            etag,
            last_modified,
        })
    }

    /// The `If-Range` value: the strong ETag, else the date.
    fn if_range(&self) -> &str {
        self.etag.as_deref().or(self.last_modified.as_deref()).unwrap_or_default()
    }

    /// Whether a response is of the same file: the validator `If-Range` used is the same.
    fn matches(&self, headers: &HeaderMap) -> bool {
        let text = |name| headers.get(name).and_then(|v: &reqwest::header::HeaderValue| v.to_str().ok()).map(str::trim);
        match (&self.etag, &self.last_modified) {
            (Some(etag), _) => text(ETAG) == Some(etag.as_str()),
            (None, Some(date)) => text(LAST_MODIFIED) == Some(date.as_str()),
            (None, None) => false,
        }
    }

    fn describe(&self) -> String {
        match (&self.etag, &self.last_modified) {
            (Some(e), _) => format!("ETag {e}"),
            (None, Some(d)) => format!("Last-Modified {d}"),
            (None, None) => "no validator".to_string(),
        }
    }

    /// The record of `path`, if readable and of `url` and `size`.
    pub fn read(path: &Path, url: &Url, size: u64) -> Option<Provenance> {
        let p: Provenance = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
        (p.url == url.as_str() && p.size == size && (p.etag.is_some() || p.last_modified.is_some())).then_some(p)
    }

    fn write(&self, path: &Path) -> Result<(), HubError> {
        let dir = path.parent().expect("a record path has a folder");
        std::fs::create_dir_all(dir).map_err(|e| HubError::io(dir, e))?;
        let text = serde_json::to_string_pretty(self).expect("a record always serializes") + "\n";
        super::cache::write_atomically(path, text.as_bytes())
    }
}

/// One attempt's failure: worth another attempt (and whether it received bytes that the next
/// attempt keeps), or final.
enum Failure {
    Retry { detail: String, progressed: bool },
    Fatal(HubError),
}

impl Failure {
    fn retry(detail: impl Into<String>) -> Failure {
        Failure::Retry { detail: detail.into(), progressed: false }
    }
}

/// Attempts that received bytes before failing (and can be resumed) do not count against the
/// retries, up to this many; the deadline bounds them too.
const MAX_PROGRESSED_RETRIES: u32 = 50;

/// The clock of one transfer: its deadline, and the bytes received, for the minimum rate.
struct Budget<'a> {
    url: &'a Url,
    options: NetOptions,
    start: Instant,
    deadline: Option<Duration>,
    /// Bytes received over the whole transfer, all attempts together.
    received: u64,
    /// The size expected, when known.
    size: Option<u64>,
    /// `(time, bytes received in this attempt)` samples of the current attempt's body.
    samples: std::collections::VecDeque<(Instant, u64)>,
    in_attempt: u64,
}

impl<'a> Budget<'a> {
    fn new(url: &'a Url, options: NetOptions, size: Option<u64>) -> Self {
        Budget {
            url,
            options,
            start: Instant::now(),
            deadline: options.deadline_for(size),
            received: 0,
            size,
            samples: Default::default(),
            in_attempt: 0,
        }
    }

    /// A size learnt from the response (an index): the default deadline grows with it.
    fn learn_size(&mut self, size: u64) {
        if self.size.is_none() {
            self.size = Some(size);
            if self.options.deadline.is_none() {
                self.deadline = self.options.deadline_for(Some(size));
            }
        }
    }

    /// A new attempt's body begins.
    fn body_starts(&mut self) {
        self.samples.clear();
        self.samples.push_back((Instant::now(), 0));
        self.in_attempt = 0;
    }

    /// `n` more bytes arrived: checks the deadline and the minimum rate.
    fn received(&mut self, n: u64) -> Result<(), HubError> {
        self.received += n;
        self.in_attempt += n;
        let now = Instant::now();
        self.check_deadline(None)?;
        let (rate, window) = (self.options.min_rate, self.options.rate_window);
        if rate <= 0.0 || window.is_zero() {
            return Ok(());
        }
        // Samples a thirty-second of the window apart are enough to average over it.
        if self.samples.back().is_none_or(|&(t, _)| now.duration_since(t) >= window / 32) {
            self.samples.push_back((now, self.in_attempt));
        }
        // The newest sample at least a window old: the average since it covers a full window.
        while self.samples.len() >= 2 && now.duration_since(self.samples[1].0) >= window {
            self.samples.pop_front();
        }
        let &(since, bytes_then) = self.samples.front().expect("a sample is always kept");
        let span = now.duration_since(since);
        if span < window {
            return Ok(());
        }
        let bytes = self.in_attempt - bytes_then;
        let average = bytes as f64 / span.as_secs_f64();
        if average < rate {
            let limit = format!(
                "too slow: {} received in the last {:.1} s ({}/s), below the minimum of {}/s averaged over {} s \
                 (ZELOS_HUB_MIN_RATE={}, ZELOS_HUB_RATE_WINDOW={}; raise the window, or set ZELOS_HUB_MIN_RATE=0 \
                 to turn the check off)",
                bytes_text(bytes),
                span.as_secs_f64(),
                bytes_text(average as u64),
                bytes_text(rate as u64),
                seconds_text(window),
                number_text(rate),
                seconds_text(window),
            );
            return Err(self.too_slow(limit));
        }
        Ok(())
    }

    /// Whether `wait` more would pass the deadline: then the transfer ends here, with `last`
    /// (the last failure) in the message.
    fn check_deadline(&self, wait_and_last: Option<(Duration, &str)>) -> Result<(), HubError> {
        let Some(deadline) = self.deadline else { return Ok(()) };
        let wait = wait_and_last.map_or(Duration::ZERO, |(w, _)| w);
        if self.start.elapsed() + wait < deadline {
            return Ok(());
        }
        let how = match self.options.deadline {
            Some(d) => format!("ZELOS_HUB_DEADLINE={}", seconds_text(d)),
            None => format!(
                "the default for {}: {} s plus the size at {}/s; set ZELOS_HUB_DEADLINE",
                self.size.map_or_else(|| "this transfer".to_string(), bytes_text),
                DEADLINE_BASE.as_secs(),
                bytes_text(if self.options.min_rate > 0.0 { self.options.min_rate } else { DEFAULT_MIN_RATE } as u64),
            ),
        };
        let mut limit = format!(
            "the deadline of {} s for the whole download passed ({how}; raise it, or 0 for none)",
            seconds_text(deadline)
        );
        if let Some((_, last)) = wait_and_last {
            limit.push_str(&format!("; last failure: {last}"));
        }
        Err(self.too_slow(limit))
    }

    fn too_slow(&self, limit: String) -> HubError {
        HubError::TooSlow {
            url: self.url.to_string(),
            limit,
            received: self.received,
            expected: self.size,
            elapsed: self.start.elapsed().as_secs_f64(),
        }
    }
}

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
        let mut budget = Budget::new(url, self.options, None);
        self.with_retries(url, &mut budget, &mut |budget| {
            let mut response = self.send(url, None)?;
            if response.status() != StatusCode::OK {
                return Err(Failure::Fatal(HubError::Status {
                    url: url.to_string(),
                    status: response.status().as_u16(),
                }));
            }
            if let Some(length) = response.content_length() {
                budget.learn_size(length);
            }
            let mut body = Vec::new();
            let mut buffer = vec![0u8; 1 << 16];
            budget.body_starts();
            loop {
                let n = match response.read(&mut buffer) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) => return Err(Failure::retry(format!("reading the body: {}", error_chain(&e)))),
                };
                if body.len() + n > limit {
                    return Err(Failure::Fatal(HubError::BadIndex {
                        origin: url.to_string(),
                        detail: format!("larger than {limit} bytes"),
                    }));
                }
                body.extend_from_slice(&buffer[..n]);
                budget.received(n as u64).map_err(Failure::Fatal)?;
            }
            Ok(body)
        })
    }

    /// Downloads `url` into `part` until it holds `size` bytes. Checks nothing but the size.
    ///
    /// `record` keeps the [`Provenance`] of what `part` holds. A partial file is resumed (an
    /// HTTP `Range` request with `If-Range`) only when its record says it came from `url` with
    /// a validator, and only from a `206` answer carrying the same validator; anything else
    /// starts over from zero. A server that identifies no file (no strong `ETag`, no
    /// `Last-Modified`) is never resumed: its record is removed and every attempt starts over.
    pub fn download(
        &self,
        url: &Url,
        part: &Path,
        record: &Path,
        size: u64,
        progress: Progress<'_>,
    ) -> Result<(), HubError> {
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(part)
            .map_err(|e| HubError::io(part, e))?;
        let io = |e: std::io::Error| HubError::io(part, e);
        let have = file.seek(SeekFrom::End(0)).map_err(io)?;
        let mut state = Resume { provenance: None, record };
        if have > 0 {
            state.provenance = Provenance::read(record, url, size);
            if state.provenance.is_none() {
                // Where these bytes came from is not known: they are not used.
                file.set_len(0).map_err(io)?;
                state.forget();
            }
        } else {
            state.forget();
        }
        let mut budget = Budget::new(url, self.options, Some(size));
        self.with_retries(url, &mut budget, &mut |budget| {
            self.download_attempt(url, part, &mut file, size, &mut state, budget, progress)
        })?;
        file.sync_all().map_err(|e| HubError::io(part, e))
    }

    /// One GET, appending to `file`.
    #[allow(clippy::too_many_arguments)]
    fn download_attempt(
        &self,
        url: &Url,
        part: &Path,
        file: &mut File,
        size: u64,
        state: &mut Resume<'_>,
        budget: &mut Budget<'_>,
        progress: Progress<'_>,
    ) -> Result<(), Failure> {
        let io = |e: std::io::Error| Failure::Fatal(HubError::io(part, e));
        let mut have = file.seek(SeekFrom::End(0)).map_err(io)?;
        if have > 0 && (have >= size || state.provenance.is_none()) {
            // Nothing to resume from (too long, or of unknown origin): start over.
            file.set_len(0).map_err(io)?;
            state.forget();
            have = 0;
        }
        let resume = (have > 0).then(|| (have, state.provenance.clone().expect("checked above")));
        let mut response = self.send(url, resume.as_ref().map(|(from, p)| (*from, p.if_range())))?;
        let mismatch = |found: u64| {
            Failure::Fatal(HubError::SizeMismatch { url: url.to_string(), expected: size, found })
        };
        match (response.status(), &resume) {
            (StatusCode::PARTIAL_CONTENT, Some((from, provenance))) => {
                let (start, total) = content_range(response.headers());
                if total.is_some_and(|t| t != size) {
                    file.set_len(0).map_err(io)?;
                    state.forget();
                    return Err(mismatch(total.unwrap_or_default()));
                }
                if start != Some(*from) || !provenance.matches(response.headers()) {
                    file.set_len(0).map_err(io)?;
                    state.forget();
                    return Err(Failure::retry(format!(
                        "the server answered a resumed download with another range or file than asked \
                         (asked from byte {from} of the file with {}); starting over",
                        provenance.describe()
                    )));
                }
            }
            (StatusCode::PARTIAL_CONTENT, None) => {
                return Err(Failure::retry("the server sent part of the file when all of it was asked for"));
            }
            (StatusCode::OK, _) => {
                // The whole file: no range was asked, the file changed (If-Range), or the server
                // ignores ranges.
                file.set_len(0).map_err(io)?;
                have = 0;
                if let Some(length) = response.content_length() {
                    if length != size {
                        state.forget();
                        return Err(mismatch(length));
                    }
                }
                state.provenance = Provenance::from_headers(url, size, response.headers());
                state.save().map_err(Failure::Fatal)?;
            }
            (StatusCode::RANGE_NOT_SATISFIABLE, _) => {
                file.set_len(0).map_err(io)?;
                state.forget();
                return Err(Failure::retry("the server refused to resume (HTTP 416); starting over"));
            }
            (status, _) => {
                return Err(Failure::Fatal(HubError::Status { url: url.to_string(), status: status.as_u16() }));
            }
        }
        file.seek(SeekFrom::Start(have)).map_err(io)?;
        let length_known = match response.content_length() {
            Some(length) if have + length != size => {
                file.set_len(0).map_err(io)?;
                state.forget();
                return Err(mismatch(have + length));
            }
            known => known.is_some(),
        };
        let interrupted = || HubError::Interrupted { url: url.to_string(), part: part.display().to_string() };
        if !progress(have, Some(size)) {
            return Err(Failure::Fatal(interrupted()));
        }
        let start = have;
        // Bytes received before a failure are kept for the next attempt only if it can resume.
        let kept = |have: u64, state: &Resume<'_>| have > start && state.provenance.is_some();
        let mut buffer = vec![0u8; 1 << 16];
        budget.body_starts();
        loop {
            let n = match response.read(&mut buffer) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) => {
                    file.flush().map_err(io)?;
                    let detail = format!("connection lost after {have} of {size} bytes: {}", error_chain(&e));
                    return Err(Failure::Retry { detail, progressed: kept(have, state) });
                }
            };
            if have + n as u64 > size {
                file.set_len(0).map_err(io)?;
                state.forget();
                return Err(mismatch(have + n as u64));
            }
            file.write_all(&buffer[..n]).map_err(io)?;
            have += n as u64;
            if let Err(e) = budget.received(n as u64) {
                file.flush().map_err(io)?;
                return Err(Failure::Fatal(e));
            }
            if !progress(have, Some(size)) {
                file.flush().map_err(io)?;
                return Err(Failure::Fatal(interrupted()));
            }
        }
        file.flush().map_err(io)?;
        if have < size {
            if length_known {
                // The body ended before its announced length: a connection that went away.
                let detail = format!("the connection closed after {have} of {size} bytes");
                return Err(Failure::Retry { detail, progressed: kept(have, state) });
            }
            // The server ended the file there: it is shorter than the index says.
            file.set_len(0).map_err(io)?;
            state.forget();
            return Err(mismatch(have));
        }
        Ok(())
    }

    fn send(&self, url: &Url, resume: Option<(u64, &str)>) -> Result<Response, Failure> {
        let mut request = self.client.get(url.clone());
        if let Some((from, validator)) = resume {
            request = request.header(RANGE, format!("bytes={from}-")).header(IF_RANGE, validator);
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

    /// Runs `attempt` until it succeeds, fails for good, has failed `retries + 1` times without
    /// progress, or the deadline would pass, waiting `backoff`, then twice as long, ... between
    /// failures.
    fn with_retries<T>(
        &self,
        url: &Url,
        budget: &mut Budget<'_>,
        attempt: &mut dyn FnMut(&mut Budget<'_>) -> Result<T, Failure>,
    ) -> Result<T, HubError> {
        let (mut failures, mut progressed, mut attempts) = (0u32, 0u32, 0u32);
        loop {
            attempts += 1;
            match attempt(budget) {
                Ok(value) => return Ok(value),
                Err(Failure::Fatal(e)) => return Err(e),
                Err(Failure::Retry { progressed: true, detail }) if progressed < MAX_PROGRESSED_RETRIES => {
                    // Bytes arrived before the failure: resume at once, with a fresh budget of
                    // retries (not of time).
                    budget.check_deadline(Some((Duration::ZERO, &detail)))?;
                    progressed += 1;
                    failures = 0;
                }
                Err(Failure::Retry { detail, .. }) => {
                    if failures >= self.options.retries {
                        return Err(HubError::Unreachable { url: url.to_string(), attempts, detail });
                    }
                    let wait = self.options.backoff.saturating_mul(1 << failures.min(16)).min(Duration::from_secs(30));
                    budget.check_deadline(Some((wait, &detail)))?;
                    failures += 1;
                    std::thread::sleep(wait);
                }
            }
        }
    }
}

/// The provenance of the partial file, in memory and in its record file.
struct Resume<'a> {
    provenance: Option<Provenance>,
    record: &'a Path,
}

impl Resume<'_> {
    /// The partial file's bytes are no longer of a known file.
    fn forget(&mut self) {
        self.provenance = None;
        let _ = std::fs::remove_file(self.record);
    }

    /// Records the provenance of a file being started (or forgets it when there is none).
    fn save(&mut self) -> Result<(), HubError> {
        match &self.provenance {
            Some(p) => p.write(self.record),
            None => {
                let _ = std::fs::remove_file(self.record);
                Ok(())
            }
        }
    }
}

/// The first byte and the total of a `Content-Range: bytes FIRST-LAST/TOTAL` header (`None`
/// where missing or `*`).
fn content_range(headers: &HeaderMap) -> (Option<u64>, Option<u64>) {
    let Some(value) = headers.get(CONTENT_RANGE).and_then(|v| v.to_str().ok()) else {
        return (None, None);
    };
    let Some(range) = value.trim().strip_prefix("bytes") else { return (None, None) };
    let (span, total) = range.trim_start().split_once('/').unwrap_or((range.trim_start(), "*"));
    (span.split('-').next().and_then(|s| s.trim().parse().ok()), total.trim().parse().ok())
}

fn bytes_text(n: u64) -> String {
    match n {
        n if n < 10 * 1024 => format!("{n} B"),
        n if n < 10 * 1024 * 1024 => format!("{:.1} KiB", n as f64 / 1024.0),
        n => format!("{:.1} MiB", n as f64 / (1024.0 * 1024.0)),
    }
}

fn seconds_text(d: Duration) -> String {
    number_text(d.as_secs_f64())
}

fn number_text(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{}", x as i64)
    } else {
        format!("{x}")
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn options(rate: f64, window_ms: u64, deadline_ms: Option<u64>) -> NetOptions {
        NetOptions {
            min_rate: rate,
            rate_window: Duration::from_millis(window_ms),
            deadline: deadline_ms.map(Duration::from_millis),
            ..NetOptions::default()
        }
    }

    #[test]
    fn the_default_deadline_grows_with_the_size() {
        let o = NetOptions::default();
        assert_eq!(o.deadline_for(Some(0)), Some(DEADLINE_BASE));
        assert_eq!(o.deadline_for(Some(4096 * 100)), Some(DEADLINE_BASE + Duration::from_secs(100)));
        assert_eq!(options(0.0, 1000, None).deadline_for(Some(4096)), Some(DEADLINE_BASE + Duration::from_secs(1)));
        assert_eq!(options(8192.0, 1000, None).deadline_for(Some(8192 * 10)), Some(DEADLINE_BASE + Duration::from_secs(10)));
        assert_eq!(options(1.0, 1000, Some(0)).deadline_for(Some(1 << 40)), None);
        assert_eq!(options(1.0, 1000, Some(5000)).deadline_for(Some(1 << 40)), Some(Duration::from_secs(5)));
    }

    #[test]
    fn the_rate_is_averaged_over_a_window() {
        let url = Url::parse("http://127.0.0.1/x").unwrap();
        // 10 B/s wanted over 200 ms; 100 bytes every 20 ms (5000 B/s, and still enough if the
        // machine stalls a few seconds) passes.
        let mut budget = Budget::new(&url, options(10.0, 200, Some(0)), Some(1 << 30));
        budget.body_starts();
        for _ in 0..20 {
            std::thread::sleep(Duration::from_millis(20));
            budget.received(100).unwrap();
        }
        // 1000 B/s wanted; a byte every 20 ms (50 B/s at best) fails once a whole window of it
        // has passed, not before.
        let mut budget = Budget::new(&url, options(1000.0, 200, Some(0)), Some(1 << 30));
        budget.body_starts();
        let start = Instant::now();
        let e = loop {
            std::thread::sleep(Duration::from_millis(20));
            if let Err(e) = budget.received(1) {
                break e;
            }
            assert!(start.elapsed() < Duration::from_secs(5));
        };
        assert!(start.elapsed() >= Duration::from_millis(200));
        let text = e.to_string();
        assert!(text.contains("too slow") && text.contains("ZELOS_HUB_MIN_RATE=1000"), "{text}");
        assert!(text.contains("http://127.0.0.1/x"), "{text}");
        // Off: never.
        let mut budget = Budget::new(&url, options(0.0, 200, Some(0)), Some(1 << 30));
        budget.body_starts();
        for _ in 0..15 {
            std::thread::sleep(Duration::from_millis(20));
            budget.received(0).unwrap();
        }
    }

    #[test]
    fn the_deadline_counts_waits_ahead() {
        let url = Url::parse("http://127.0.0.1/x").unwrap();
        let budget = Budget::new(&url, options(0.0, 200, Some(1000)), Some(10));
        assert!(budget.check_deadline(None).is_ok());
        let e = budget.check_deadline(Some((Duration::from_secs(2), "HTTP 503"))).unwrap_err().to_string();
        assert!(e.contains("ZELOS_HUB_DEADLINE=1") && e.contains("last failure: HTTP 503"), "{e}");
        assert!(e.contains("0 of 10 bytes"), "{e}");
    }

    #[test]
    fn content_ranges() {
        let parse = |v: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(CONTENT_RANGE, v.parse().unwrap());
            content_range(&headers)
        };
        assert_eq!(parse("bytes 10-19/20"), (Some(10), Some(20)));
        assert_eq!(parse("bytes 10-19/*"), (Some(10), None));
        assert_eq!(parse("bytes */20"), (None, Some(20)));
    }
}
