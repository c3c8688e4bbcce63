//! `zelos hub publish ARCHIVE HUB_DIR`: adds an archive to a static hub folder.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::cache::{temp_beside, write_atomically};
use super::error::HubError;
use super::index::{
    Code, Entry, Index, MahalanobisSummary, Parameter, TrustRegionSummary, INDEX_FILE, MAX_INDEX_BYTES,
};
use super::reference::{check_name, check_version};
use crate::archive::Archive;
use crate::region::{RegionData, TrustRegion};
use crate::spec::TrustMethod;
use crate::Emulator;

/// What [`publish`] did.
#[derive(Debug, Clone, PartialEq)]
pub struct Published {
    pub name: String,
    pub version: String,
    /// The archive's copy in the hub folder.
    pub path: PathBuf,
    /// The hub's `index.json`.
    pub index: PathBuf,
    /// The entry listed in the index.
    pub entry: Entry,
    /// `false` when the hub already had this exact archive (nothing changed).
    pub added: bool,
}

/// Verifies and loads `archive`, copies it to `HUB_DIR/NAME/VERSION/NAME.tar.gz` and lists it in
/// `HUB_DIR/index.json` (created if missing), each written to a temporary file and renamed into
/// place. Publishing the same archive again changes nothing; publishing other contents under a
/// `NAME@VERSION` the hub already has is refused ([`HubError::Conflict`]).
///
/// Two publications into the same folder at the same moment are not coordinated: publish from
/// one place at a time.
pub fn publish(archive_path: &Path, hub_dir: &Path) -> Result<Published, HubError> {
    let archive = Archive::read(archive_path).map_err(crate::Error::from)?;
    let emulator = Emulator::from_archive(&archive)?;
    let spec = emulator.spec();
    let (name, version) = (spec.name.clone(), spec.version.clone());
    let unpublishable =
        |reason: String| HubError::Unpublishable { archive: archive_path.display().to_string(), reason };
    check_name(&name).map_err(|r| unpublishable(format!("the emulator name {r}")))?;
    check_version(&version).map_err(|r| unpublishable(format!("the spec's version {r}")))?;
    let size = fs::metadata(archive_path).map_err(|e| HubError::io(archive_path, e))?.len();
    let entry = Entry {
        url: format!("{name}/{version}/{name}.tar.gz"),
        sha256: archive.sha256().to_string(),
        size,
        created: archive.manifest().created.clone(),
        code: Code { name: spec.code.name.as_str().to_string(), version: spec.code.version.clone() },
        parameters: {
            let (lower, upper) = emulator.bounds();
            (spec.parameters.iter().zip(lower.iter().zip(upper)))
                .map(|(p, (&min, &max))| Parameter { name: p.name.clone(), min, max })
                .collect()
        },
        trust_region: Some(trust_region(&emulator)?),
        max_relative_error: emulator.report().pointer("/summary/max_relative_error").and_then(|v| v.as_f64()),
        description: spec.description.clone(),
    };

    fs::create_dir_all(hub_dir).map_err(|e| HubError::io(hub_dir, e))?;
    let index_path = hub_dir.join(INDEX_FILE);
    let mut index = match fs::read(&index_path) {
        Ok(bytes) if bytes.len() > MAX_INDEX_BYTES => {
            return Err(HubError::BadIndex {
                origin: index_path.display().to_string(),
                detail: "too large".to_string(),
            })
        }
        Ok(bytes) => Index::parse(&bytes, &index_path.display().to_string())?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Index::default(),
        Err(e) => return Err(HubError::io(&index_path, e)),
    };
    let destination = hub_dir.join(&name).join(&version).join(format!("{name}.tar.gz"));
    let published = |entry: Entry, added: bool| Published {
        name: name.clone(),
        version: version.clone(),
        path: destination.clone(),
        index: index_path.clone(),
        entry,
        added,
    };

    if let Some(existing) = index.entry(&name, &version) {
        if existing.sha256 != entry.sha256 {
            return Err(HubError::Conflict {
                hub: hub_dir.display().to_string(),
                published: format!("{name}@{version}"),
                existing: existing.sha256.clone(),
                archive: archive_path.display().to_string(),
                new: entry.sha256,
            });
        }
        let existing = existing.clone();
        // Listed already; restore the file if it went missing from where publish puts it.
        if existing.url == entry.url && !destination.is_file() {
            copy_verified(archive_path, &destination, &entry.sha256)?;
        }
        return Ok(published(existing, false));
    }
    copy_verified(archive_path, &destination, &entry.sha256)?;
    index.insert(&name, &version, entry.clone());
    write_atomically(&index_path, index.to_json().as_bytes())?;
    Ok(published(entry, true))
}

/// Copies `source` to `destination` through a temporary file, checking the copy's sha256 (the
/// file could have changed since it was verified) before renaming it into place.
fn copy_verified(source: &Path, destination: &Path, sha256: &str) -> Result<(), HubError> {
    let folder = destination.parent().expect("a destination has a folder");
    fs::create_dir_all(folder).map_err(|e| HubError::io(folder, e))?;
    let temp = temp_beside(destination);
    let result = (|| -> Result<(), HubError> {
        let mut input = File::open(source).map_err(|e| HubError::io(source, e))?;
        let mut output =
            OpenOptions::new().write(true).create_new(true).open(&temp).map_err(|e| HubError::io(&temp, e))?;
        let mut hasher = Sha256::new();
        let mut buffer = vec![0u8; 1 << 16];
        loop {
            let n = input.read(&mut buffer).map_err(|e| HubError::io(source, e))?;
            if n == 0 {
                break;
            }
            hasher.update(&buffer[..n]);
            output.write_all(&buffer[..n]).map_err(|e| HubError::io(&temp, e))?;
        }
        output.sync_all().map_err(|e| HubError::io(&temp, e))?;
        let found = hex::encode(hasher.finalize());
        if found != sha256 {
            return Err(HubError::HashMismatch {
                url: source.display().to_string(),
                expected: sha256.to_string(),
                found,
            });
        }
        fs::rename(&temp, destination).map_err(|e| HubError::io(destination, e))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result
}

/// The trust region of an archive's emulator as the router builds it, summarised for the index.
pub(crate) fn trust_region(emulator: &Emulator) -> Result<TrustRegionSummary, HubError> {
    let region = TrustRegion::from_emulator(emulator)?;
    let names = region.parameters();
    let p = names.len();
    let origin = format!("{}: region.safetensors", emulator.origin());
    let data = RegionData::from_tensors(emulator.region(), p, &origin)?;
    let methods = region.methods();
    let (lower, upper) = region.bounds();
    let (mut lo, mut hi) = (vec![f64::NEG_INFINITY; p], vec![f64::INFINITY; p]);
    let narrow = |lo: &mut Vec<f64>, hi: &mut Vec<f64>, j: usize, a: f64, b: f64| {
        lo[j] = lo[j].max(a);
        hi[j] = hi[j].min(b);
    };
    if methods.contains(&TrustMethod::Box) {
        for j in 0..p {
            narrow(&mut lo, &mut hi, j, lower[j], upper[j]);
        }
    }
    let mut mahalanobis = None;
    if let (Some(m), Some((mean, covariance))) = (region.mahalanobis(), data.moments()) {
        let t = m.threshold();
        for j in 0..p {
            let half = t * covariance[j * p + j].max(0.0).sqrt();
            narrow(&mut lo, &mut hi, j, mean[j] - half, mean[j] + half);
        }
        mahalanobis = Some(MahalanobisSummary {
            threshold: t,
            rule: m.rule().to_string(),
            mean,
            covariance: covariance.chunks(p).map(<[f64]>::to_vec).collect(),
        });
    }
    if region.hull().is_some() {
        if let Some(points) = &data.points {
            for j in 0..p {
                let column = points.iter().skip(j).step_by(p).copied();
                let (a, b) = column.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(v), b.max(v)));
                narrow(&mut lo, &mut hi, j, a, b);
            }
        }
    }
    // A parameter no checked method bounds (a region whose methods were all skipped): the box,
    // outside which the emulator was not trained, is given.
    for j in 0..p {
        if !lo[j].is_finite() {
            lo[j] = lower[j];
        }
        if !hi[j].is_finite() {
            hi[j] = upper[j];
        }
    }
    Ok(TrustRegionSummary {
        methods: methods.iter().map(|m| m.as_str().to_string()).collect(),
        skipped: region.skipped(),
        extent: (0..p).map(|j| Parameter { name: names[j].clone(), min: lo[j], max: hi[j] }).collect(),
        mahalanobis,
        training_points: data.points.as_ref().map(|_| data.n_points() as u64),
    })
}
