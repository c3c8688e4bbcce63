//! The point log: every point no emulator could answer, with what the real code computed for
//! it, appended to one file per process by a background thread.
//!
//! * One file per process: `{dir}/points.{host}.{pid}.jsonl` ([`file_name`]), so MPI ranks and
//!   parallel chains never write to the same file. Files are only ever appended to.
//! * [`PointLog::log`] hands the record to the writer thread (a crossbeam channel) and returns
//!   its sequence number at once; the chain does not wait for the disk.
//! * The writer encodes the record as one JSON line and writes it with one `write` call, then
//!   marks it *acknowledged*: from then on it survives the process being killed (it is in the
//!   operating system's hands; with [`PointLogOptions::sync`] it is also `fsync`ed, and
//!   survives a power cut). [`PointLog::wait`] and [`PointLog::flush`] block until records are
//!   acknowledged; [`PointLog::acknowledged`] says how many are.
//! * A crash therefore loses at most the records logged but not yet acknowledged: the point
//!   in flight (a fallback point takes the real code about a second, the write microseconds).
//!   A record cut short by a crash is a final line without its newline, which
//!   [`read_point_log`] skips and counts.
//! * Dropping the log (or [`PointLog::close`]) writes whatever is queued and joins the thread.
//!
//! The format is in `format.rs` and docs/trust-regions.md.

mod format;

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{SystemTime, UNIX_EPOCH};

use crossbeam_channel::{Receiver, Sender};

pub use format::{base64_decode, base64_encode, LoggedPoint, NamedArray, PointRecord, POINT_LOG_FORMAT};

use crate::error::{Error, Result};
use crate::router::Fallback;

/// Options of a [`PointLog`].
#[derive(Debug, Clone, Default)]
pub struct PointLogOptions {
    /// `fsync` each record before acknowledging it (survives a power cut, not only a crash).
    pub sync: bool,
    /// Overrides the file name (default: [`file_name`]).
    pub file_name: Option<String>,
}

/// `points.{host}.{pid}.jsonl`, the host name reduced to `[A-Za-z0-9._-]`.
pub fn file_name() -> String {
    format!("points.{}.{}.jsonl", host_name(), std::process::id())
}

fn host_name() -> String {
    let raw = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .unwrap_or_default();
    let clean: String = raw.trim().chars().map(|c| if c.is_ascii_alphanumeric() || "._-".contains(c) { c } else { '_' }).collect();
    if clean.is_empty() {
        "localhost".into()
    } else {
        clean
    }
}

fn now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())
}

struct Shared {
    /// Records acknowledged (written), the first write error, whether the writer has ended.
    state: Mutex<(u64, Option<String>, bool)>,
    changed: Condvar,
}

enum Message {
    Record { seq: u64, time: f64, record: PointRecord },
}

/// An open point log; see the module documentation. `Sync`: log from any thread.
pub struct PointLog {
    path: PathBuf,
    /// Guards sequence numbers and sending together, so the file holds records in `seq` order.
    sender: Mutex<Option<(u64, Sender<Message>)>>,
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl PointLog {
    /// Opens (creating `dir` if needed) this process's log file in `dir` for appending, and
    /// writes a header line.
    pub fn open(dir: &Path) -> Result<PointLog> {
        PointLog::open_with(dir, PointLogOptions::default())
    }

    pub fn open_with(dir: &Path, options: PointLogOptions) -> Result<PointLog> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let path = dir.join(options.file_name.clone().unwrap_or_else(file_name));
        let mut file = OpenOptions::new().create(true).append(true).open(&path).map_err(|e| Error::io(&path, e))?;
        let header = format::Header { zelos_point_log: POINT_LOG_FORMAT, host: host_name(), pid: std::process::id() as u64, started: now() };
        file.write_all(&format::encode_header(&header)).map_err(|e| Error::io(&path, e))?;
        if options.sync {
            file.sync_data().map_err(|e| Error::io(&path, e))?;
        }
        let shared = Arc::new(Shared { state: Mutex::new((0, None, false)), changed: Condvar::new() });
        // Bounded: a writer far behind (a stalled disk) eventually slows the loggers down
        // rather than growing memory without limit.
        let (tx, rx) = crossbeam_channel::bounded(1024);
        let thread = {
            let shared = shared.clone();
            let path = path.clone();
            std::thread::Builder::new()
                .name("zelos-pointlog".into())
                .spawn(move || writer(file, rx, shared, options.sync, path))
                .map_err(|e| Error::io(dir, e))?
        };
        Ok(PointLog { path, sender: Mutex::new(Some((0, tx))), shared, thread: Mutex::new(Some(thread)) })
    }

    /// The file this process appends to.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Hands `record` to the writer and returns its sequence number (0, 1, ...). Fails after
    /// [`PointLog::close`] or once a write has failed.
    pub fn log(&self, record: PointRecord) -> Result<u64> {
        self.check_error()?;
        let mut guard = self.sender.lock().unwrap_or_else(|e| e.into_inner());
        let Some((next, tx)) = guard.as_mut() else {
            return Err(self.closed());
        };
        let seq = *next;
        tx.send(Message::Record { seq, time: now(), record }).map_err(|_| self.closed())?;
        *next += 1;
        Ok(seq)
    }

    /// How many records are acknowledged (written to the file, in `seq` order).
    pub fn acknowledged(&self) -> u64 {
        self.shared.state.lock().unwrap_or_else(|e| e.into_inner()).0
    }

    /// How many records were logged (acknowledged or still queued).
    pub fn logged(&self) -> u64 {
        self.sender.lock().unwrap_or_else(|e| e.into_inner()).as_ref().map_or_else(|| self.acknowledged(), |(n, _)| *n)
    }

    /// Blocks until record `seq` is acknowledged.
    pub fn wait(&self, seq: u64) -> Result<()> {
        let mut state = self.shared.state.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if state.0 > seq {
                return Ok(());
            }
            if let Some(e) = &state.1 {
                return Err(Error::io(&self.path, std::io::Error::other(e.clone())));
            }
            if state.2 {
                return Err(self.closed());
            }
            state = self.shared.changed.wait(state).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Blocks until every record logged so far is acknowledged.
    pub fn flush(&self) -> Result<()> {
        match self.logged() {
            0 => self.check_error(),
            n => self.wait(n - 1),
        }
    }

    /// Writes what is queued, stops the writer and reports any write error. Further `log`
    /// calls fail. Also done on drop.
    pub fn close(&self) -> Result<()> {
        self.sender.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(t) = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = t.join();
        }
        self.check_error()
    }

    fn check_error(&self) -> Result<()> {
        match &self.shared.state.lock().unwrap_or_else(|e| e.into_inner()).1 {
            Some(e) => Err(Error::io(&self.path, std::io::Error::other(e.clone()))),
            None => Ok(()),
        }
    }

    fn closed(&self) -> Error {
        Error::io(&self.path, std::io::Error::other("the point log is closed"))
    }
}

impl Drop for PointLog {
    fn drop(&mut self) {
        let _ = self.close();
    }
}

fn writer(mut file: File, rx: Receiver<Message>, shared: Arc<Shared>, sync: bool, path: PathBuf) {
    for message in rx {
        let Message::Record { seq, time, record } = message;
        let line = format::encode(seq, time, &record);
        let result = file.write_all(&line).and_then(|_| if sync { file.sync_data() } else { Ok(()) });
        let mut state = shared.state.lock().unwrap_or_else(|e| e.into_inner());
        match result {
            Ok(()) => state.0 = seq + 1,
            Err(e) => {
                state.1.get_or_insert_with(|| format!("writing {}: {e}", path.display()));
            }
        }
        drop(state);
        shared.changed.notify_all();
    }
    shared.state.lock().unwrap_or_else(|e| e.into_inner()).2 = true;
    shared.changed.notify_all();
}

impl PointRecord {
    /// A record for a point that fell back: the reason of `fallback`, with the outputs the
    /// real code computed.
    pub fn from_fallback(parameters: Vec<(String, f64)>, fallback: &Fallback, outputs: Vec<NamedArray>) -> PointRecord {
        let (nearest, distance) = match fallback.nearest() {
            Some((k, d)) => (Some(k.to_string()), Some(d)),
            None => (None, None),
        };
        PointRecord { parameters, reason: fallback.kind().to_string(), detail: fallback.to_string(), distance, nearest, outputs }
    }
}

/// Everything read back from a log directory.
#[derive(Debug, Clone, Default)]
pub struct PointLogContents {
    pub points: Vec<LoggedPoint>,
    /// The files read, in name order.
    pub files: Vec<PathBuf>,
    /// Final lines cut short by a crash (skipped).
    pub torn: usize,
}

/// Reads every `points.*.jsonl` file in `dir` (or the one file `dir` names), in name order,
/// each in file order.
pub fn read_point_log(dir: &Path) -> Result<PointLogContents> {
    let mut files = Vec::new();
    if dir.is_file() {
        files.push(dir.to_path_buf());
    } else {
        for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
            let p = entry.map_err(|e| Error::io(dir, e))?.path();
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if name.starts_with("points.") && name.ends_with(".jsonl") && p.is_file() {
                files.push(p);
            }
        }
        files.sort();
    }
    let mut out = PointLogContents { files: files.clone(), ..Default::default() };
    for path in &files {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        let text = String::from_utf8_lossy(&bytes);
        let complete = text.ends_with('\n');
        let lines: Vec<&str> = text.lines().collect();
        let (mut host, mut pid) = (String::new(), 0);
        for (i, line) in lines.iter().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            match format::decode(line) {
                Ok(format::Parsed::Header(h)) => (host, pid) = (h.host, h.pid),
                Ok(format::Parsed::Record(seq, time, record)) => {
                    out.points.push(LoggedPoint { host: host.clone(), pid, seq, time, record })
                }
                Err(_) if i + 1 == lines.len() && !complete => out.torn += 1,
                Err(e) => {
                    return Err(Error::io(path, std::io::Error::new(std::io::ErrorKind::InvalidData, format!("line {}: {e}", i + 1))))
                }
            }
        }
    }
    Ok(out)
}
