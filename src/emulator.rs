//! An emulator: an archive loaded for evaluation, and the writer that makes one.

use std::path::Path;

use crate::archive::{Archive, ArchiveWriter};
use crate::error::{Error, Result};
use crate::model::{Model, ModelDescription, OutputInfo};
use crate::spec::Spec;
use crate::tensors::{Tensor, TensorSet};

/// Names of the archive members an emulator is made of (format version 1).
pub mod member {
    pub const SPEC: &str = "spec.yaml";
    pub const MODEL: &str = "model.json";
    pub const WEIGHTS: &str = "weights.safetensors";
    pub const REGION: &str = "region.safetensors";
    pub const REPORT_JSON: &str = "report.json";
    pub const REPORT_MD: &str = "report.md";
}

/// An emulator loaded from an archive, ready to evaluate. `Sync`: share it between threads.
pub struct Emulator {
    origin: String,
    sha256: String,
    spec: Spec,
    spec_yaml: String,
    model: Model,
    region: TensorSet,
    lower: Vec<f64>,
    upper: Vec<f64>,
    /// The spec's `constraints`, resolved once: part of the training region.
    constraints: Vec<crate::spec::LinearConstraint>,
    report: serde_json::Value,
    report_md: String,
}

impl Emulator {
    /// Reads, verifies and loads `NAME.tar.gz`.
    pub fn load(path: &Path) -> Result<Emulator> {
        Emulator::from_archive(&Archive::read(path)?)
    }

    /// Loads an archive already read and verified.
    pub fn from_archive(archive: &Archive) -> Result<Emulator> {
        let origin = archive.origin().to_string();
        let spec_yaml = utf8(archive.require(member::SPEC)?, &origin, member::SPEC)?;
        let spec = Spec::from_yaml_str(&spec_yaml, &format!("{origin}: {}", member::SPEC))?;
        let model = Model::from_bytes(archive.require(member::MODEL)?, archive.require(member::WEIGHTS)?, &origin)?;
        let names: Vec<&str> = spec.parameter_names();
        if model.parameters().iter().map(String::as_str).ne(names.iter().copied()) {
            return Err(Error::model(
                &origin,
                format!("model.json parameters {:?} differ from the spec's {:?}", model.parameters(), names),
            ));
        }
        check_outputs_match_spec(&spec, &model, &origin)?;
        let region = TensorSet::from_safetensors(archive.require(member::REGION)?, &format!("{origin}: {}", member::REGION))?;
        let p = names.len();
        let lower = region.get_as::<f64>("lower", &[p], &origin)?;
        let upper = region.get_as::<f64>("upper", &[p], &origin)?;
        let report = serde_json::from_slice(archive.require(member::REPORT_JSON)?)
            .map_err(|e| Error::model(&origin, format!("{}: {e}", member::REPORT_JSON)))?;
        let report_md = utf8(archive.require(member::REPORT_MD)?, &origin, member::REPORT_MD)?;
        let constraints = spec.linear_constraints();
        Ok(Emulator {
            origin,
            sha256: archive.sha256().to_string(),
            spec,
            spec_yaml,
            model,
            region,
            lower,
            upper,
            constraints,
            report,
            report_md,
        })
    }

    pub fn name(&self) -> &str {
        &self.spec.name
    }
    /// Where the archive was read from.
    pub fn origin(&self) -> &str {
        &self.origin
    }
    /// sha256 (hex) of the archive file: its identity in reports, hubs and lineage.
    pub fn sha256(&self) -> &str {
        &self.sha256
    }
    pub fn spec(&self) -> &Spec {
        &self.spec
    }
    /// The spec exactly as stored in the archive.
    pub fn spec_yaml(&self) -> &str {
        &self.spec_yaml
    }
    pub fn model(&self) -> &Model {
        &self.model
    }
    pub fn parameters(&self) -> &[String] {
        self.model.parameters()
    }
    pub fn outputs(&self) -> &[OutputInfo] {
        self.model.outputs()
    }
    pub fn n_outputs(&self) -> usize {
        self.model.n_outputs()
    }
    /// Trust-region data (`lower`, `upper` and optionally `mean`, `covariance`, `points`).
    pub fn region(&self) -> &TensorSet {
        &self.region
    }
    /// The training box.
    pub fn bounds(&self) -> (&[f64], &[f64]) {
        (&self.lower, &self.upper)
    }
    pub fn report(&self) -> &serde_json::Value {
        &self.report
    }
    pub fn report_markdown(&self) -> &str {
        &self.report_md
    }

    /// Checks one point: the right length and finite values (else [`Error::Parameters`]), then
    /// inside the training box and its constraints (else [`Error::OutOfRange`], which callers
    /// may downgrade).
    pub fn check_point(&self, x: &[f64]) -> Result<()> {
        let names = self.parameters();
        if x.len() != names.len() {
            return Err(Error::Parameters(format!(
                "{}: expected {} parameter values ({}); got {}",
                self.name(),
                names.len(),
                names.join(", "),
                x.len()
            )));
        }
        if let Some(j) = x.iter().position(|v| !v.is_finite()) {
            return Err(Error::Parameters(format!("{}: parameter `{}` is {}; expected a finite number", self.name(), names[j], x[j])));
        }
        let outside: Vec<String> = (0..x.len())
            .filter(|&j| x[j] < self.lower[j] || x[j] > self.upper[j])
            .map(|j| format!("`{}` = {} (trained on [{}, {}])", names[j], x[j], self.lower[j], self.upper[j]))
            .collect();
        if !outside.is_empty() {
            return Err(Error::OutOfRange(format!("{}: outside the training box: {}", self.name(), outside.join(", "))));
        }
        let broken: Vec<String> = self.constraints.iter().filter_map(|c| c.explain(x)).collect();
        if !broken.is_empty() {
            return Err(Error::OutOfRange(format!(
                "{}: outside the training region (spec `constraints`): {}",
                self.name(),
                broken.join(", ")
            )));
        }
        Ok(())
    }

    /// Evaluates one point (parameter order) into a new flat output vector.
    pub fn eval(&self, x: &[f64]) -> Result<Vec<f64>> {
        self.check_shape(x.len(), 1)?;
        let mut out = vec![0.0; self.n_outputs()];
        self.model.eval(x, &mut out);
        Ok(out)
    }

    /// Evaluates one point through the named networks only ([`Model::eval_networks`]); the
    /// other networks' outputs are NaN, so that nothing reads them as values.
    pub fn eval_networks<S: AsRef<str>>(&self, x: &[f64], networks: &[S]) -> Result<Vec<f64>> {
        self.check_shape(x.len(), 1)?;
        let mut out = vec![f64::NAN; self.n_outputs()];
        self.model.eval_networks(x, networks, &mut out).map_err(|e| match e {
            Error::Parameters(message) => Error::Parameters(format!("{}: {message}", self.name())),
            other => other,
        })?;
        Ok(out)
    }

    /// Evaluates `n` points, `x` `[n, n_params]`, into `[n, n_outputs]`.
    ///
    /// Any `n` is safe: the outputs are allocated fallibly ([`Emulator::batch_output`]) and the
    /// points evaluated in chunks of bounded scratch memory, so a batch too large for the
    /// machine gives [`Error::OutOfMemory`], never an abort.
    pub fn eval_batch(&self, x: &[f64], n: usize) -> Result<Vec<f64>> {
        self.check_shape(x.len(), n)?;
        let mut out = self.batch_output(n)?;
        self.eval_batch_into(x, n, &mut out)?;
        Ok(out)
    }

    /// Evaluates `n` points, `x` `[n, n_params]`, into the caller's `out` `[n, n_outputs]`
    /// (no output allocation; scratch bounded as for [`Emulator::eval_batch`]).
    pub fn eval_batch_into(&self, x: &[f64], n: usize, out: &mut [f64]) -> Result<()> {
        self.check_shape(x.len(), n)?;
        let m = self.n_outputs();
        if Some(out.len()) != n.checked_mul(m) {
            return Err(Error::Parameters(format!(
                "{}: the output buffer holds {} values; {n} x {m} are needed",
                self.name(),
                out.len()
            )));
        }
        self.model.eval_batch(x, n, out).map_err(|e| match e {
            Error::OutOfMemory(message) => Error::OutOfMemory(format!("{}: {message}", self.name())),
            other => other,
        })
    }

    /// A zeroed output buffer for a batch of `n` points (`n x n_outputs` values), allocated
    /// fallibly: a size that overflows, exceeds `isize::MAX` bytes or cannot be allocated gives
    /// [`Error::OutOfMemory`] naming the batch size and the bytes needed.
    pub fn batch_output(&self, n: usize) -> Result<Vec<f64>> {
        let m = self.n_outputs();
        let bytes = n as u128 * m as u128 * std::mem::size_of::<f64>() as u128;
        let too_large = |why: &str| {
            Error::OutOfMemory(format!(
                "{}: a batch of {n} points needs {bytes} bytes for its outputs ({n} x {m} values of 8 bytes), {why}; \
                 evaluate it in smaller batches",
                self.name()
            ))
        };
        if bytes > isize::MAX as u128 {
            return Err(too_large("more than any allocation can hold"));
        }
        try_zeroed(n * m).ok_or_else(|| too_large("more than can be allocated here"))
    }

    /// The outputs and the Jacobian `[n_outputs, n_params]` at one point.
    pub fn jacobian(&self, x: &[f64]) -> Result<(Vec<f64>, Vec<f64>)> {
        self.check_shape(x.len(), 1)?;
        let mut out = vec![0.0; self.n_outputs()];
        let mut jac = vec![0.0; self.n_outputs() * x.len()];
        self.model.jacobian(x, &mut out, &mut jac);
        Ok((out, jac))
    }

    fn check_shape(&self, len: usize, n: usize) -> Result<()> {
        let p = self.parameters().len();
        if Some(len) != n.checked_mul(p) {
            return Err(Error::Parameters(format!(
                "{}: expected {n} x {p} parameter values ({}); got {len}",
                self.name(),
                self.parameters().join(", ")
            )));
        }
        Ok(())
    }
}

/// `len` zeros, or `None` if they cannot be allocated. Zeroed by the allocator (calloc): large
/// blocks come from the kernel already zero and are not written twice, as `try_reserve` and
/// `resize` would (a pass of 0.3 s over the 400 MB of 5000 CMB points).
fn try_zeroed(len: usize) -> Option<Vec<f64>> {
    if len == 0 {
        return Some(Vec::new());
    }
    let layout = std::alloc::Layout::array::<f64>(len).ok()?;
    // SAFETY: `layout` has a non-zero size (len > 0). A non-null result is an allocation of the
    // global allocator with exactly the layout of a `Vec<f64>` of capacity `len`, and all-zero
    // bytes are the f64 0.0, so all `len` values are initialised: `from_raw_parts` gets what it
    // requires, and the Vec frees it with the same layout.
    unsafe {
        let ptr = std::alloc::alloc_zeroed(layout).cast::<f64>();
        if ptr.is_null() {
            return None;
        }
        advise_huge_pages(ptr.cast(), layout.size());
        Some(Vec::from_raw_parts(ptr, len, len))
    }
}

/// Asks Linux to back a large, untouched allocation with 2 MB pages. A batch's outputs are
/// fresh memory (83 MB for 1024 points of a CMB emulator): in 4 KB pages the kernel's page
/// faults on first write cost about as much as the networks (measured through Python, batch of
/// 1024). Advice only: nothing changes where the kernel declines it.
#[cfg(target_os = "linux")]
fn advise_huge_pages(ptr: *mut u8, bytes: usize) {
    const HUGE: usize = 2 << 20;
    if bytes < 2 * HUGE {
        return;
    }
    let start = (ptr as usize).next_multiple_of(HUGE);
    let end = (ptr as usize + bytes) / HUGE * HUGE;
    if end > start {
        // SAFETY: [start, end) lies inside the allocation just made, which nothing else uses
        // yet; MADV_HUGEPAGE changes how pages are backed, never their contents.
        unsafe { libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE) };
    }
}

#[cfg(not(target_os = "linux"))]
fn advise_huge_pages(_ptr: *mut u8, _bytes: usize) {}

/// The model must produce exactly the outputs its spec declares, on the spec's grids: an
/// archive never emulates something other than what it says.
fn check_outputs_match_spec(spec: &Spec, model: &Model, origin: &str) -> Result<()> {
    let expected = spec.outputs.named_outputs();
    let found: Vec<(&str, &[usize], &[String])> =
        model.outputs().iter().map(|o| (o.name.as_str(), o.shape.as_slice(), o.axes.as_slice())).collect();
    let wanted: Vec<(&str, &[usize], &[String])> =
        expected.iter().map(|o| (o.name.as_str(), o.shape.as_slice(), o.axes.as_slice())).collect();
    if found != wanted {
        let show = |v: &[(&str, &[usize], &[String])]| v.iter().map(|(n, s, _)| format!("{n}{s:?}")).collect::<Vec<_>>().join(", ");
        return Err(Error::model(origin, format!("model outputs [{}] differ from the spec's outputs [{}]", show(&found), show(&wanted))));
    }
    for (axis, values) in spec.outputs.grids() {
        let stored = model.grid(&axis).ok_or_else(|| Error::model(origin, format!("grid `{axis}` is missing from model.json")))?;
        let same = stored.len() == values.len()
            && stored.iter().zip(&values).all(|(a, b)| (a - b).abs() <= 1e-12 * b.abs().max(1e-300));
        if !same {
            return Err(Error::model(origin, format!("grid `{axis}` differs from the one the spec defines")));
        }
    }
    Ok(())
}

fn utf8(bytes: &[u8], origin: &str, name: &str) -> Result<String> {
    String::from_utf8(bytes.to_vec()).map_err(|_| Error::model(origin, format!("member `{name}` is not UTF-8 text")))
}

/// Everything an emulator archive holds, ready to write. The trainer and the Python package
/// fill one of these; [`EmulatorArchive::write`] checks it loads before anything is written.
pub struct EmulatorArchive {
    pub spec: Spec,
    pub model: ModelDescription,
    pub weights: TensorSet,
    /// Must hold `lower` and `upper` (F64, `[n_params]`); may hold `mean`, `covariance`, `points`.
    pub region: TensorSet,
    pub report: serde_json::Value,
    pub report_md: String,
    /// Further members, e.g. `plots/error_tt.png`.
    pub extra: Vec<(String, Vec<u8>)>,
}

impl EmulatorArchive {
    /// The region of a training box (and nothing else).
    pub fn box_region(lower: Vec<f64>, upper: Vec<f64>) -> TensorSet {
        let mut region = TensorSet::new();
        region.insert("lower", Tensor::f64(vec![lower.len()], lower));
        region.insert("upper", Tensor::f64(vec![upper.len()], upper));
        region
    }

    /// The archive bytes, checked by loading them back first.
    pub fn to_writer(&self) -> Result<ArchiveWriter> {
        let mut writer = ArchiveWriter::new();
        writer.add(member::SPEC, self.spec.to_yaml_string().into_bytes())?;
        let model_json = serde_json::to_vec_pretty(&self.model).expect("a model description always serialises");
        writer.add(member::MODEL, model_json)?;
        writer.add(member::WEIGHTS, self.weights.to_safetensors())?;
        writer.add(member::REGION, self.region.to_safetensors())?;
        let report = serde_json::to_vec_pretty(&self.report).expect("JSON values always serialise");
        writer.add(member::REPORT_JSON, report)?;
        writer.add(member::REPORT_MD, self.report_md.clone().into_bytes())?;
        for (name, bytes) in &self.extra {
            writer.add(name, bytes.clone())?;
        }
        Ok(writer)
    }

    /// Writes `path` atomically, after checking the contents load as an emulator; returns the
    /// archive's sha256.
    pub fn write(&self, path: &Path) -> Result<String> {
        let writer = self.to_writer()?;
        let bytes = writer.to_bytes()?;
        let label = path.display().to_string();
        Emulator::from_archive(&Archive::from_reader(bytes.as_slice(), &label, &Default::default())?)?;
        Ok(writer.write(path)?)
    }
}
