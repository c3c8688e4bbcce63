//! Bindings of [`crate::hub`]: references, lookups (the GIL released while downloading; a Python
//! callback sees the progress), indexes, publication. Results cross as dicts and JSON text.

use std::path::PathBuf;

use pyo3::create_exception;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use super::errors::{to_py as core_to_py, ZelosError};
use crate::hub::{self, Config, HubError as CoreHubError, Location, Reference, Source};

create_exception!(zelos, HubError, ZelosError, "A hub lookup, download or publication failed.");

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("HubError", m.py().get_type::<HubError>())?;
    m.add_function(wrap_pyfunction!(hub_parse_reference, m)?)?;
    m.add_function(wrap_pyfunction!(hub_config, m)?)?;
    m.add_function(wrap_pyfunction!(hub_sort_versions, m)?)?;
    m.add_function(wrap_pyfunction!(hub_newest_version, m)?)?;
    m.add_function(wrap_pyfunction!(hub_resolve, m)?)?;
    m.add_function(wrap_pyfunction!(hub_index, m)?)?;
    m.add_function(wrap_pyfunction!(hub_cached, m)?)?;
    m.add_function(wrap_pyfunction!(hub_publish, m)?)?;
    Ok(())
}

/// Archive problems keep their own classes (`ArchiveError`, `ModelError`, ...); the rest is
/// `HubError`.
fn to_py(e: CoreHubError) -> PyErr {
    match e {
        CoreHubError::Invalid(inner) => core_to_py(*inner),
        other => HubError::new_err(other.to_string()),
    }
}

/// The environment's configuration with the arguments given in its place.
fn config(hub: Option<String>, cache: Option<PathBuf>, offline: Option<bool>) -> Config {
    let mut config = Config::from_env();
    if hub.is_some() {
        config.hub = hub;
    }
    if let Some(dir) = cache {
        config.cache = hub::Cache::new(dir);
    }
    if let Some(offline) = offline {
        config.offline = offline;
    }
    config
}

/// `hub:NAME[@VERSION]` -> `(NAME, VERSION or None)`.
#[pyfunction]
pub fn hub_parse_reference(text: &str) -> PyResult<(String, Option<String>)> {
    let r = Reference::parse(text).map_err(to_py)?;
    Ok((r.name, r.version))
}

/// Versions sorted oldest first (semver-aware, see [`crate::hub::version`]).
#[pyfunction]
pub fn hub_sort_versions(mut versions: Vec<String>) -> Vec<String> {
    hub::version::sort(&mut versions);
    versions
}

/// The newest of `versions`: the greatest release, else the greatest pre-release.
#[pyfunction]
pub fn hub_newest_version(versions: Vec<String>) -> Option<String> {
    hub::version::newest(versions.iter().map(String::as_str)).map(str::to_string)
}

/// The effective configuration: `{hub, cache, offline, index_ttl, timeout, retries, deadline,
/// min_rate, rate_window}` (`deadline`: seconds, `None` for none, `"auto"` for the default
/// scaled to the size).
#[pyfunction]
#[pyo3(signature = (hub=None, cache=None, offline=None))]
pub fn hub_config<'py>(
    py: Python<'py>,
    hub: Option<String>,
    cache: Option<PathBuf>,
    offline: Option<bool>,
) -> PyResult<Bound<'py, PyDict>> {
    let c = config(hub, cache, offline);
    let d = PyDict::new(py);
    d.set_item("hub", c.hub)?;
    d.set_item("cache", c.cache.root().to_path_buf())?;
    d.set_item("offline", c.offline)?;
    d.set_item("index_ttl", c.index_ttl.as_secs_f64())?;
    d.set_item("timeout", c.net.read_timeout.as_secs_f64())?;
    d.set_item("retries", c.net.retries)?;
    match c.net.deadline {
        None => d.set_item("deadline", "auto")?,
        Some(t) if t.is_zero() => d.set_item("deadline", py.None())?,
        Some(t) => d.set_item("deadline", t.as_secs_f64())?,
    }
    d.set_item("min_rate", c.net.min_rate)?;
    d.set_item("rate_window", c.net.rate_window.as_secs_f64())?;
    Ok(d)
}

/// Resolves a reference to a verified archive in the cache, downloading it when needed.
/// `progress(done, total)` is called as bytes arrive. Returns `{name, version, path, sha256,
/// source ("cache" | "download"), hub, notes: [(is_warning, text)]}`.
#[pyfunction]
#[pyo3(signature = (reference, hub=None, cache=None, offline=None, progress=None))]
pub fn hub_resolve<'py>(
    py: Python<'py>,
    reference: &str,
    hub: Option<String>,
    cache: Option<PathBuf>,
    offline: Option<bool>,
    progress: Option<Py<PyAny>>,
) -> PyResult<Bound<'py, PyDict>> {
    let reference = Reference::parse(reference).map_err(to_py)?;
    let config = config(hub, cache, offline);
    let mut failure: Option<PyErr> = None;
    let outcome = py.detach(|| {
        let mut on_bytes = |done: u64, total: Option<u64>| {
            Python::attach(|py| {
                let called = match &progress {
                    None => Ok(()),
                    Some(cb) => cb.call1(py, (done, total)).map(|_| ()),
                };
                match called.and_then(|()| py.check_signals()) {
                    Ok(()) => true,
                    Err(e) => {
                        failure = Some(e);
                        false
                    }
                }
            })
        };
        hub::resolve(&reference, &config, &mut on_bytes)
    });
    if let Some(e) = failure {
        return Err(e);
    }
    let r = outcome.map_err(to_py)?;
    let d = PyDict::new(py);
    d.set_item("name", r.name)?;
    d.set_item("version", r.version)?;
    d.set_item("path", r.path)?;
    d.set_item("sha256", r.sha256)?;
    d.set_item(
        "source",
        match r.source {
            Source::Cache => "cache",
            Source::Download => "download",
        },
    )?;
    d.set_item("hub", r.hub)?;
    d.set_item("notes", r.notes.into_iter().map(|n| (n.warning, n.text)).collect::<Vec<_>>())?;
    Ok(d)
}

/// A hub's index: `(location, index JSON, from the cache?)`. `refresh` skips the cached copy.
#[pyfunction]
#[pyo3(signature = (hub=None, cache=None, offline=None, refresh=true))]
pub fn hub_index(
    py: Python<'_>,
    hub: Option<String>,
    cache: Option<PathBuf>,
    offline: Option<bool>,
    refresh: bool,
) -> PyResult<(String, String, bool)> {
    let config = config(hub, cache, offline);
    let Some(text) = config.hub.clone() else {
        return Err(HubError::new_err("no hub is configured (set ZELOS_HUB, or pass a hub)"));
    };
    let location = Location::parse(&text).map_err(to_py)?;
    let (index, age) = py.detach(|| hub::fetch_index(&location, &config, refresh)).map_err(to_py)?;
    Ok((location.to_string(), index.to_json(), age.is_some()))
}

/// Every cached archive: `[(path, record JSON)]`.
#[pyfunction]
#[pyo3(signature = (cache=None))]
pub fn hub_cached(cache: Option<PathBuf>) -> PyResult<Vec<(PathBuf, String)>> {
    let config = config(None, cache, None);
    Ok(config
        .cache
        .list()
        .into_iter()
        .map(|c| (c.path, serde_json::to_string(&c.record).expect("a record always serializes")))
        .collect())
}

/// Publishes an archive into a hub folder. Returns `{name, version, path, index, added, entry}`
/// (the entry as JSON text).
#[pyfunction]
pub fn hub_publish<'py>(py: Python<'py>, archive: PathBuf, hub_dir: PathBuf) -> PyResult<Bound<'py, PyDict>> {
    let p = py.detach(|| hub::publish(&archive, &hub_dir)).map_err(to_py)?;
    let d = PyDict::new(py);
    d.set_item("name", p.name)?;
    d.set_item("version", p.version)?;
    d.set_item("path", p.path)?;
    d.set_item("index", p.index)?;
    d.set_item("added", p.added)?;
    d.set_item("entry", serde_json::to_string(&p.entry).expect("an entry always serializes"))?;
    Ok(d)
}
