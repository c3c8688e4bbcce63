//! `outputs`: what the emulator predicts, and hence which networks it has.

use std::fmt;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};

use super::error::{one_of, Origin, SpecError};
use crate::keywords::keywords;
use super::limits::{self, MAX_K_POINTS, MAX_LMAX, MAX_NETWORK_OUTPUTS, MAX_Z_POINTS};

keywords! {
    /// A CMB power spectrum; each is one network, named by its keyword.
    pub enum Spectrum {
        /// Temperature.
        Tt = "tt",
        /// Temperature × E-mode polarization (changes sign: no log transform).
        Te = "te",
        /// E-mode polarization.
        Ee = "ee",
        /// B-mode polarization.
        Bb = "bb",
        /// Lensing potential φφ.
        Pp = "pp",
    }
}

keywords! {
    /// A function of redshift on the `background` grid: the expansion (H, distances) or the
    /// linear growth (σ8(z), fσ8(z); these need the code's perturbations, not only its background).
    pub enum BackgroundFunction {
        /// Hubble rate H(z) (km/s/Mpc).
        H = "H",
        /// Angular diameter distance D_A(z) (Mpc).
        DA = "D_A",
        /// Comoving (transverse) distance D_M(z) = (1 + z) D_A(z) (Mpc).
        DM = "D_M",
        /// Volume-averaged distance D_V(z) = [z D_M(z)² c / H(z)]^(1/3) (Mpc).
        DV = "D_V",
        /// RMS linear matter fluctuation in 8 Mpc/h spheres at redshift z, σ8(z).
        Sigma8Z = "sigma8_z",
        /// Growth rate times σ8(z), f σ8(z) (CAMB's velocity-density definition).
        Fsigma8 = "fsigma8",
    }
}

keywords! {
    /// A derived parameter, emulated as one entry of the `derived` network.
    pub enum DerivedParameter {
        /// Hubble constant (km/s/Mpc).
        H0 = "H0",
        /// RMS matter fluctuation in 8 Mpc/h spheres at z = 0.
        Sigma8 = "sigma8",
        /// sigma8 (Ω_m / 0.3)^0.5.
        S8 = "S8",
        /// Comoving sound horizon at the baryon drag epoch (Mpc).
        Rdrag = "rdrag",
        /// 100 θ*, the angular size of the sound horizon at decoupling.
        Thetastar = "thetastar",
        /// Redshift of the baryon drag epoch.
        Zdrag = "zdrag",
        /// Redshift of photon decoupling.
        Zstar = "zstar",
        /// Comoving sound horizon at decoupling (Mpc).
        Rstar = "rstar",
        /// Age of the universe (Gyr).
        Age = "age",
        /// Matter density today Ω_m (massive neutrinos included).
        Omegam = "omegam",
        /// Dark energy density today Ω_Λ.
        Omegal = "omegal",
        /// Redshift of reionization (mid-point).
        Zre = "zre",
    }
}

impl BackgroundFunction {
    /// A distance (0 at z = 0, so not log-transformable on a grid that starts there).
    pub fn is_distance(self) -> bool {
        matches!(self, Self::DA | Self::DM | Self::DV)
    }
}

/// The `outputs` section: at least one of its four entries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a mapping with keys `cmb`, `matter_power`, `background`, `derived`")]
pub struct Outputs {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cmb: Option<CmbOutput>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matter_power: Option<MatterPowerOutput>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub background: Option<BackgroundOutput>,
    /// Derived parameters, in the order written (the `derived` network's output order).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub derived: Vec<DerivedParameter>,
}

/// `outputs.cmb`: D_ℓ = ℓ(ℓ+1)C_ℓ/2π for ℓ = lmin..=lmax, in μK² (`pp`: [ℓ(ℓ+1)]²C_ℓ^φφ/2π, dimensionless).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a mapping with keys `spectra`, `lmin`, `lmax`, `lensed`")]
pub struct CmbOutput {
    pub spectra: Vec<Spectrum>,
    #[serde(default = "default_lmin")]
    pub lmin: u32,
    pub lmax: u32,
    /// Lensed (true) or unlensed (false) spectra; `pp` is the same either way.
    #[serde(default = "yes")]
    pub lensed: bool,
}

/// `outputs.matter_power`: P(k, z) in Mpc³ on a k grid (1/Mpc) log-spaced piece by piece.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a mapping with keys `linear`, `nonlinear`, `k`, `z`")]
pub struct MatterPowerOutput {
    #[serde(default = "yes")]
    pub linear: bool,
    #[serde(default)]
    pub nonlinear: bool,
    /// Wavenumbers (1/Mpc): one log-spaced range, or several end to end.
    pub k: KGrid,
    pub z: ZGrid,
}

/// `outputs.background`: functions of redshift on a grid.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a mapping with keys `functions`, `z`")]
pub struct BackgroundOutput {
    /// In the order written (the output order of the `background` network).
    pub functions: Vec<BackgroundFunction>,
    pub z: ZGrid,
}

/// `{min, max, n}`: n points from min to max inclusive (log-spaced for k, linear for z).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a mapping with keys `min`, `max`, `n`")]
pub struct Grid {
    pub min: f64,
    pub max: f64,
    pub n: usize,
}

/// A redshift grid: explicit values, or `{min, max, n}` linearly spaced.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum ZGrid {
    List(Vec<f64>),
    Linear(Grid),
}

/// A wavenumber grid: `{min, max, n}` log-spaced, or a list of such segments end to end (each
/// `min` the previous `max`, that node counted once), so that the BAO wiggles can be sampled more
/// densely than the smooth ends without hundreds of nodes elsewhere.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum KGrid {
    Log(Grid),
    Segments(Vec<Grid>),
}

impl KGrid {
    /// The wavenumbers, ascending; every segment's ends exactly as written.
    pub fn values(&self) -> Vec<f64> {
        match self {
            KGrid::Log(grid) => grid.logspace(),
            KGrid::Segments(segments) => {
                let mut values: Vec<f64> = Vec::new();
                for segment in segments {
                    let points = segment.logspace();
                    // The shared node (this segment's min, the previous one's max) once.
                    let skip = usize::from(!values.is_empty());
                    values.extend(points.into_iter().skip(skip));
                }
                values
            }
        }
    }

    /// The number of wavenumbers.
    pub fn len(&self) -> usize {
        match self {
            KGrid::Log(grid) => grid.n,
            KGrid::Segments(segments) => {
                let total: usize = segments.iter().map(|s| s.n).sum();
                total.saturating_sub(segments.len().saturating_sub(1))
            }
        }
    }

    /// Whether the grid holds no wavenumber (refused by validation).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<'de> Deserialize<'de> for KGrid {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(KGridVisitor)
    }
}

struct KGridVisitor;

impl<'de> Visitor<'de> for KGridVisitor {
    type Value = KGrid;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("{min, max, n} or a list of {min, max, n} segments")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<KGrid, A::Error> {
        let mut segments = Vec::new();
        while let Some(segment) = seq.next_element::<Grid>()? {
            segments.push(segment);
        }
        Ok(KGrid::Segments(segments))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<KGrid, A::Error> {
        Grid::deserialize(de::value::MapAccessDeserializer::new(map)).map(KGrid::Log)
    }
}

fn default_lmin() -> u32 {
    2
}

fn yes() -> bool {
    true
}

impl Grid {
    /// n points from min to max, equally spaced.
    pub fn linspace(&self) -> Vec<f64> {
        match self.n {
            0 => Vec::new(),
            1 => vec![self.min],
            n => {
                let step = (self.max - self.min) / (n - 1) as f64;
                // The last point is `max` as written, not `min + (n-1) step` with its rounding.
                (0..n).map(|i| if i + 1 == n { self.max } else { self.min + step * i as f64 }).collect()
            }
        }
    }

    /// n points from min to max, equally spaced in log; the ends exactly as written.
    pub fn logspace(&self) -> Vec<f64> {
        let log = Grid { min: self.min.ln(), max: self.max.ln(), n: self.n };
        let mut values: Vec<f64> = log.linspace().into_iter().map(f64::exp).collect();
        if let Some(first) = values.first_mut() {
            *first = self.min;
        }
        if values.len() > 1 {
            let last = values.len() - 1;
            values[last] = self.max;
        }
        values
    }
}

impl ZGrid {
    /// The redshifts.
    pub fn values(&self) -> Vec<f64> {
        match self {
            ZGrid::List(values) => values.clone(),
            ZGrid::Linear(grid) => grid.linspace(),
        }
    }

    /// The number of redshifts.
    pub fn len(&self) -> usize {
        match self {
            ZGrid::List(values) => values.len(),
            ZGrid::Linear(grid) => grid.n,
        }
    }

    /// Whether the grid holds no redshift (refused by validation).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<'de> Deserialize<'de> for ZGrid {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ZGridVisitor)
    }
}

struct ZGridVisitor;

impl<'de> Visitor<'de> for ZGridVisitor {
    type Value = ZGrid;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of redshifts or {min, max, n}")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<ZGrid, A::Error> {
        let mut values = Vec::new();
        while let Some(z) = seq.next_element::<f64>()? {
            values.push(z);
        }
        Ok(ZGrid::List(values))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<ZGrid, A::Error> {
        Grid::deserialize(de::value::MapAccessDeserializer::new(map)).map(ZGrid::Linear)
    }
}

impl Outputs {
    /// The network names, in the fixed order: the CMB spectra (`tt`, `te`, `ee`, `bb`, `pp`),
    /// `pk_lin`, `pk_nonlin`, `background`, `derived`.
    pub fn network_names(&self) -> Vec<String> {
        self.networks().into_iter().map(|(name, _)| name).collect()
    }

    /// Each network's name and output size (the number of values it predicts).
    pub fn networks(&self) -> Vec<(String, usize)> {
        let mut networks = Vec::new();
        if let Some(cmb) = &self.cmb {
            let size = (cmb.lmax.saturating_sub(cmb.lmin) + 1) as usize;
            for spectrum in Spectrum::ALL.iter().filter(|s| cmb.spectra.contains(s)) {
                networks.push((spectrum.as_str().to_string(), size));
            }
        }
        if let Some(pk) = &self.matter_power {
            let size = pk.k.len().saturating_mul(pk.z.len());
            if pk.linear {
                networks.push(("pk_lin".to_string(), size));
            }
            if pk.nonlinear {
                networks.push(("pk_nonlin".to_string(), size));
            }
        }
        if let Some(background) = &self.background {
            networks.push(("background".to_string(), background.functions.len().saturating_mul(background.z.len())));
        }
        if !self.derived.is_empty() {
            networks.push(("derived".to_string(), self.derived.len()));
        }
        networks
    }

    /// At least one output; each entry consistent.
    pub(crate) fn validate(&self, origin: &Origin) -> Result<(), SpecError> {
        if self.cmb.is_none() && self.matter_power.is_none() && self.background.is_none() && self.derived.is_empty() {
            return Err(origin.error(
                "outputs",
                "no outputs",
                "at least one of `cmb`, `matter_power`, `background`, `derived`",
            ));
        }
        if let Some(cmb) = &self.cmb {
            cmb.validate(origin)?;
        }
        if let Some(pk) = &self.matter_power {
            pk.validate(origin)?;
        }
        if let Some(background) = &self.background {
            background.validate(origin)?;
        }
        check_unique(&self.derived, "outputs.derived", origin)
    }
}

impl CmbOutput {
    fn validate(&self, origin: &Origin) -> Result<(), SpecError> {
        check_listed(&self.spectra, "outputs.cmb.spectra", Spectrum::ALL, origin)?;
        if self.lmin < 2 {
            return Err(origin.error("outputs.cmb.lmin", self.lmin.to_string(), "an integer >= 2"));
        }
        if self.lmax < self.lmin {
            return Err(origin.error(
                "outputs.cmb.lmax",
                self.lmax.to_string(),
                format!("an integer >= lmin ({})", self.lmin),
            ));
        }
        limits::at_most(self.lmax, MAX_LMAX, "outputs.cmb.lmax", "for `lmax`", origin)
    }
}

impl MatterPowerOutput {
    fn validate(&self, origin: &Origin) -> Result<(), SpecError> {
        if !self.linear && !self.nonlinear {
            return Err(origin.error(
                "outputs.matter_power",
                "`linear: false` and `nonlinear: false`",
                "at least one of `linear`, `nonlinear` true",
            ));
        }
        check_k(&self.k, origin)?;
        check_z(&self.z, "outputs.matter_power.z", origin)?;
        // Each limit holds on its own; their product is one network's output size.
        let size = self.k.len() * self.z.len();
        if size > MAX_NETWORK_OUTPUTS {
            return Err(origin.error(
                "outputs.matter_power",
                format!("{} wavenumbers x {} redshifts = {size} values per network", self.k.len(), self.z.len()),
                limits::limit_text(&MAX_NETWORK_OUTPUTS, "values per network"),
            ));
        }
        Ok(())
    }
}

impl BackgroundOutput {
    fn validate(&self, origin: &Origin) -> Result<(), SpecError> {
        check_listed(&self.functions, "outputs.background.functions", BackgroundFunction::ALL, origin)?;
        check_z(&self.z, "outputs.background.z", origin)
    }
}

/// A non-empty list of keywords without repeats.
fn check_listed<K: Copy + PartialEq + fmt::Display>(
    items: &[K],
    key: &str,
    all: &[K],
    origin: &Origin,
) -> Result<(), SpecError> {
    if items.is_empty() {
        let names: Vec<String> = all.iter().map(|k| k.to_string()).collect();
        return Err(origin.error(key, "an empty list", format!("a non-empty list, each entry {}", one_of(&names))));
    }
    check_unique(items, key, origin)
}

/// No entry twice.
fn check_unique<K: PartialEq + fmt::Display>(items: &[K], key: &str, origin: &Origin) -> Result<(), SpecError> {
    for (i, item) in items.iter().enumerate() {
        if items[..i].contains(item) {
            return Err(origin.error(
                format!("{key}[{i}]"),
                format!("`{item}` a second time"),
                "each entry at most once",
            ));
        }
    }
    Ok(())
}

/// `k`: one segment `{min, max, n}` (0 < min < max, finite, n >= 4), or a non-empty list of
/// segments (each n >= 2) where each starts where the previous one ends.
fn check_k(k: &KGrid, origin: &Origin) -> Result<(), SpecError> {
    match k {
        KGrid::Log(grid) => check_k_segment(grid, "outputs.matter_power.k", 4, origin)?,
        KGrid::Segments(segments) => {
            if segments.is_empty() {
                return Err(origin.error("outputs.matter_power.k", "[]", "{min, max, n} or a non-empty list of them"));
            }
            for (i, segment) in segments.iter().enumerate() {
                let key = format!("outputs.matter_power.k[{i}]");
                check_k_segment(segment, &key, 2, origin)?;
                if i > 0 && segment.min != segments[i - 1].max {
                    return Err(origin.error(
                        format!("{key}.min"),
                        format!("{:?}", segment.min),
                        format!("the previous segment's max ({:?}): segments join end to end", segments[i - 1].max),
                    ));
                }
            }
            if k.len() < 4 {
                return Err(origin.error("outputs.matter_power.k", format!("{} wavenumbers", k.len()), "at least 4"));
            }
        }
    }
    limits::at_most(k.len(), MAX_K_POINTS, "outputs.matter_power.k.n", "wavenumbers", origin)
}

fn check_k_segment(k: &Grid, key: &str, min_n: usize, origin: &Origin) -> Result<(), SpecError> {
    if !k.min.is_finite() || k.min <= 0.0 {
        return Err(origin.error(format!("{key}.min"), format!("{:?}", k.min), "a wavenumber > 0 [1/Mpc]"));
    }
    if !k.max.is_finite() || k.max <= k.min {
        return Err(origin.error(
            format!("{key}.max"),
            format!("{:?}", k.max),
            format!("a finite wavenumber > min ({:?})", k.min),
        ));
    }
    if k.n < min_n {
        return Err(origin.error(format!("{key}.n"), k.n.to_string(), format!("an integer >= {min_n}")));
    }
    Ok(())
}

/// A redshift grid: finite, >= 0, strictly ascending; `{min, max, n}` with min < max, n >= 2.
fn check_z(z: &ZGrid, key: &str, origin: &Origin) -> Result<(), SpecError> {
    match z {
        ZGrid::List(values) => {
            if values.is_empty() {
                return Err(origin.error(key, "an empty list", "at least one redshift"));
            }
            if values.len() > MAX_Z_POINTS {
                return Err(origin.error(
                    key,
                    format!("a list of {} redshifts", values.len()),
                    limits::limit_text(&MAX_Z_POINTS, "redshifts"),
                ));
            }
            for (i, &x) in values.iter().enumerate() {
                if !x.is_finite() || x < 0.0 {
                    return Err(origin.error(format!("{key}[{i}]"), format!("{x:?}"), "a finite redshift >= 0"));
                }
                if i > 0 && x <= values[i - 1] {
                    return Err(origin.error(
                        format!("{key}[{i}]"),
                        format!("{x:?} after {:?}", values[i - 1]),
                        "strictly ascending redshifts",
                    ));
                }
            }
            Ok(())
        }
        ZGrid::Linear(grid) => {
            if !grid.min.is_finite() || grid.min < 0.0 {
                return Err(origin.error(format!("{key}.min"), format!("{:?}", grid.min), "a finite redshift >= 0"));
            }
            if !grid.max.is_finite() || grid.max <= grid.min {
                return Err(origin.error(
                    format!("{key}.max"),
                    format!("{:?}", grid.max),
                    format!("a finite redshift > min ({:?})", grid.min),
                ));
            }
            if grid.n < 2 {
                return Err(origin.error(format!("{key}.n"), grid.n.to_string(), "an integer >= 2"));
            }
            limits::at_most(grid.n, MAX_Z_POINTS, &format!("{key}.n"), "redshifts", origin)
        }
    }
}

/// One named output of an emulator, as the spec implies it: the name archives and the Python
/// API use, its shape, and the grid each axis runs over (see docs/model.md).
#[derive(Debug, Clone, PartialEq)]
pub struct NamedOutput {
    pub name: String,
    pub shape: Vec<usize>,
    pub axes: Vec<String>,
}

impl Outputs {
    /// Every named output, network by network in the fixed order: `dl_tt` ... `dl_pp` on
    /// `ell`; `pk_lin`, `pk_nonlin` on (`z_pk`, `k`); background functions on `z_bg`; derived
    /// scalars.
    pub fn named_outputs(&self) -> Vec<NamedOutput> {
        let mut outputs = Vec::new();
        let mut push = |name: String, shape: Vec<usize>, axes: &[&str]| {
            outputs.push(NamedOutput { name, shape, axes: axes.iter().map(|a| a.to_string()).collect() })
        };
        if let Some(cmb) = &self.cmb {
            let n = (cmb.lmax.saturating_sub(cmb.lmin) + 1) as usize;
            for spectrum in Spectrum::ALL.iter().filter(|s| cmb.spectra.contains(s)) {
                push(format!("dl_{}", spectrum.as_str()), vec![n], &["ell"]);
            }
        }
        if let Some(pk) = &self.matter_power {
            let shape = vec![pk.z.len(), pk.k.len()];
            if pk.linear {
                push("pk_lin".into(), shape.clone(), &["z_pk", "k"]);
            }
            if pk.nonlinear {
                push("pk_nonlin".into(), shape, &["z_pk", "k"]);
            }
        }
        if let Some(bg) = &self.background {
            for f in &bg.functions {
                push(f.as_str().to_string(), vec![bg.z.len()], &["z_bg"]);
            }
        }
        for d in &self.derived {
            push(d.as_str().to_string(), vec![], &[]);
        }
        outputs
    }

    /// The values of every grid the outputs run over: `ell`, `k` (1/Mpc), `z_pk`, `z_bg`.
    pub fn grids(&self) -> std::collections::BTreeMap<String, Vec<f64>> {
        let mut grids = std::collections::BTreeMap::new();
        if let Some(cmb) = &self.cmb {
            grids.insert("ell".to_string(), (cmb.lmin..=cmb.lmax).map(f64::from).collect());
        }
        if let Some(pk) = &self.matter_power {
            grids.insert("k".to_string(), pk.k.values());
            grids.insert("z_pk".to_string(), pk.z.values());
        }
        if let Some(bg) = &self.background {
            grids.insert("z_bg".to_string(), bg.z.values());
        }
        grids
    }
}
