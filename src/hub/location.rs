//! Where a hub is: an `http(s)://` URL, or a folder (a path or a `file://` URL) on this machine.

use std::fmt;
use std::path::{Path, PathBuf};

use reqwest::Url;

use super::error::HubError;
use super::index::INDEX_FILE;

/// A hub's index, on the network or on this machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// The URL of `index.json` on an HTTP(S) server.
    Http(Url),
    /// The path of `index.json` on this machine.
    Local(PathBuf),
}

/// Where one archive of a hub is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Http(Url),
    Local(PathBuf),
}

impl Location {
    /// Reads a hub location as given to `ZELOS_HUB` or `--hub`:
    ///
    /// * `https://host/path/` or `https://host/path` (the index is `path/index.json`), or the URL
    ///   of a `.json` file (the index itself);
    /// * `file:///path` or a plain path: a folder holding `index.json`, or the index file itself.
    pub fn parse(text: &str) -> Result<Location, HubError> {
        let bad = |reason: String| HubError::BadLocation { location: text.to_string(), reason };
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return Err(bad("empty".to_string()));
        }
        let lower = trimmed.to_ascii_lowercase();
        if lower.starts_with("http://") || lower.starts_with("https://") {
            let mut url = Url::parse(trimmed).map_err(|e| bad(format!("not a valid URL ({e})")))?;
            url.set_fragment(None);
            if !url.path().ends_with(".json") {
                if !url.path().ends_with('/') {
                    let path = format!("{}/", url.path());
                    url.set_path(&path);
                }
                url = url.join(INDEX_FILE).map_err(|e| bad(e.to_string()))?;
            }
            return Ok(Location::Http(url));
        }
        let path = if lower.starts_with("file://") {
            let url = Url::parse(trimmed).map_err(|e| bad(format!("not a valid URL ({e})")))?;
            url.to_file_path().map_err(|()| bad("not a local file URL".to_string()))?
        } else if lower.contains("://") {
            return Err(bad("only http://, https:// and file:// hubs are supported".to_string()));
        } else {
            PathBuf::from(trimmed)
        };
        // Absolute, so that the cache records where an archive came from whatever the folder.
        let path = std::path::absolute(&path).unwrap_or(path);
        let is_json_file = path.extension().is_some_and(|e| e == "json") && !path.is_dir();
        Ok(Location::Local(if is_json_file { path } else { path.join(INDEX_FILE) }))
    }

    /// Where the archive of an index entry with `url` is. Relative URLs are resolved against the
    /// index; an HTTP index may only point to HTTP(S) URLs.
    pub fn target(&self, url: &str) -> Result<Target, HubError> {
        let bad = |reason: String| HubError::BadIndex { origin: self.to_string(), detail: reason };
        match self {
            Location::Http(index) => {
                let joined = index.join(url).map_err(|e| bad(format!("archive URL `{url}`: {e}")))?;
                match joined.scheme() {
                    "http" | "https" => Ok(Target::Http(joined)),
                    other => Err(bad(format!("archive URL `{url}`: scheme `{other}` is not allowed on an HTTP hub"))),
                }
            }
            Location::Local(index) => {
                if let Ok(absolute) = Url::parse(url) {
                    return match absolute.scheme() {
                        "http" | "https" => Ok(Target::Http(absolute)),
                        "file" => absolute
                            .to_file_path()
                            .map(Target::Local)
                            .map_err(|()| bad(format!("archive URL `{url}` is not a local file"))),
                        other => Err(bad(format!("archive URL `{url}`: scheme `{other}` is not supported"))),
                    };
                }
                let folder = index.parent().unwrap_or(Path::new("."));
                Ok(Target::Local(folder.join(url)))
            }
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Http(url) => write!(f, "{url}"),
            Location::Local(path) => write!(f, "{}", path.display()),
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Http(url) => write!(f, "{url}"),
            Target::Local(path) => write!(f, "{}", path.display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_locations_point_at_the_index() {
        for (given, index) in [
            ("https://example.org/hub", "https://example.org/hub/index.json"),
            ("https://example.org/hub/", "https://example.org/hub/index.json"),
            ("http://127.0.0.1:8000", "http://127.0.0.1:8000/index.json"),
            ("https://example.org/x/my-index.json", "https://example.org/x/my-index.json"),
        ] {
            assert_eq!(Location::parse(given).unwrap().to_string(), index);
        }
    }

    #[test]
    fn archive_urls_resolve_against_the_index() {
        let hub = Location::parse("https://example.org/hub/").unwrap();
        assert_eq!(hub.target("a/1/a.tar.gz").unwrap().to_string(), "https://example.org/hub/a/1/a.tar.gz");
        assert_eq!(
            hub.target("https://cdn.example.org/a.tar.gz").unwrap().to_string(),
            "https://cdn.example.org/a.tar.gz"
        );
        assert!(hub.target("file:///etc/passwd").is_err());
        let local = Location::parse("/srv/hub").unwrap();
        assert_eq!(local, Location::Local(PathBuf::from("/srv/hub/index.json")));
        assert_eq!(local.target("a/1/a.tar.gz").unwrap(), Target::Local(PathBuf::from("/srv/hub/a/1/a.tar.gz")));
        assert!(Location::parse("ftp://example.org/").is_err());
    }
}
