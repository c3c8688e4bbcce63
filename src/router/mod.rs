//! The router: several emulators at once, and for each likelihood call, which one serves each
//! wanted output, or why none can (then the real code computes it).
//!
//! Policy, per wanted output (docs/trust-regions.md):
//!
//! 1. the candidates are the emulators that emulate the output (none: [`Fallback::OutputNotEmulated`]);
//!    with [`Router::route_covering`], only those the caller names as covering its request of
//!    that output (a grid that reaches the requested redshifts or multipoles), so that a
//!    lower-ranked emulator that covers the request serves it rather than the code;
//! 2. they are tried in order of validated accuracy ([`Accuracy`]: the worst 99th percentile of
//!    |Δχ²| over the likelihoods `zelos validate` compared, then, for emulators without it,
//!    `summary.max_relative_error`; smallest first; an emulator with neither comes last; ties in
//!    insertion order), and the first whose trust region holds the point serves the output;
//! 3. a candidate is passed over when the point lacks one of its parameters
//!    ([`Fallback::MissingParameter`]), gives a non-finite value for one
//!    ([`Fallback::NonFiniteInput`]), or sets a parameter the emulator holds fixed to another
//!    value ([`Fallback::ParameterNotEmulated`]); parameters of the point that an emulator
//!    neither takes nor fixes do not concern it (nuisance parameters, or parameters of another
//!    emulator's outputs);
//! 4. if none serves, the reason is [`Fallback::OutsideEveryRegion`] (naming the nearest
//!    region) when some candidate could check the point, else the best-ranked candidate's
//!    reason.
//!
//! Emulators are added, swapped and removed while calls go on: the table is an immutable
//! snapshot behind an [`ArcSwap`]; a call loads the current snapshot without locking, and a
//! writer builds a new table and swaps the pointer. A call therefore sees one table from start
//! to end: the old emulator or the new one, never a mix.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;

use crate::emulator::Emulator;
use crate::error::{Error, Result};
use crate::region::{Decision, TrustRegion};

mod accuracy;
pub use accuracy::{worst_likelihood, Accuracy};

/// How near a point's value must be to the value an emulator holds a parameter at to count as
/// the same (relative to the held value; a held zero takes only zero). Round-off of settings
/// written in other units or by other programs passes; a different physical choice does not.
/// The Python side (`zelos.code_inputs.same`) compares settings with this same constant.
pub const FIXED_VALUE_RTOL: f64 = 1e-9;

/// Whether `value` is the value an emulator holds a parameter at, to [`FIXED_VALUE_RTOL`].
pub fn same_fixed_value(value: f64, held: f64) -> bool {
    value == held || (value - held).abs() <= FIXED_VALUE_RTOL * held.abs()
}

/// Output -> keys of the emulators whose grids cover what the caller asks of it.
pub type Covering = std::collections::HashMap<String, Vec<String>>;

/// One emulator in the router: its region, its accuracy and the parameters it holds fixed.
pub struct Entry {
    key: String,
    emulator: Arc<Emulator>,
    region: TrustRegion,
    accuracy: Option<Accuracy>,
    fixed: Vec<(String, f64)>,
    outputs: Vec<String>,
}

impl Entry {
    /// The emulator with the trust region its spec asks for, its validated accuracy and, as
    /// fixed parameters, the numeric values of its spec's `code.settings`
    /// ([`crate::spec::CodeSpec::fixed_parameters`]).
    pub fn new(key: impl Into<String>, emulator: Arc<Emulator>) -> Result<Entry> {
        let region = TrustRegion::from_emulator(&emulator)?;
        Ok(Entry::with_region(key, emulator, region))
    }

    /// The emulator with a trust region of the caller's making.
    pub fn with_region(key: impl Into<String>, emulator: Arc<Emulator>, region: TrustRegion) -> Entry {
        let accuracy = Accuracy::of_report(emulator.report());
        let fixed = emulator.spec().code.fixed_parameters(emulator.parameters());
        let outputs = emulator.outputs().iter().map(|o| o.name.clone()).collect();
        Entry { key: key.into(), emulator, region, accuracy, fixed, outputs }
    }

    /// Replaces the fixed parameters: a point that sets one of them to another value is not
    /// served by this emulator.
    pub fn with_fixed(mut self, fixed: Vec<(String, f64)>) -> Entry {
        self.fixed = fixed;
        self
    }

    /// Overrides the accuracy used for ranking (`None` ranks last).
    pub fn with_accuracy(mut self, accuracy: Option<Accuracy>) -> Entry {
        self.accuracy = accuracy;
        self
    }

    pub fn key(&self) -> &str {
        &self.key
    }
    pub fn emulator(&self) -> &Arc<Emulator> {
        &self.emulator
    }
    pub fn region(&self) -> &TrustRegion {
        &self.region
    }
    /// What it ranks by ([`Accuracy::of_report`] of its report, or the caller's override).
    pub fn accuracy(&self) -> Option<Accuracy> {
        self.accuracy
    }
    pub fn fixed(&self) -> &[(String, f64)] {
        &self.fixed
    }
    /// The names of the outputs it serves.
    pub fn outputs(&self) -> &[String] {
        &self.outputs
    }
    pub fn parameters(&self) -> &[String] {
        self.emulator.parameters()
    }
}

impl fmt::Debug for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Entry")
            .field("key", &self.key)
            .field("emulator", &self.emulator.name())
            .field("sha256", &self.emulator.sha256())
            .field("accuracy", &self.accuracy)
            .field("fixed", &self.fixed)
            .field("outputs", &self.outputs)
            .finish()
    }
}

/// An immutable set of entries, ranked. Calls hold one for their whole duration.
#[derive(Debug, Default)]
pub struct Table {
    entries: Vec<Arc<Entry>>,
    /// Output name -> positions in `entries`, best ranked first.
    by_output: BTreeMap<String, Vec<usize>>,
    generation: u64,
}

impl Table {
    fn build(mut entries: Vec<Arc<Entry>>, generation: u64) -> Table {
        // Stable: equal accuracy keeps insertion order.
        entries.sort_by(|a, b| match (a.accuracy, b.accuracy) {
            (Some(x), Some(y)) => x.rank_cmp(&y),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => std::cmp::Ordering::Equal,
        });
        let mut by_output: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for (i, e) in entries.iter().enumerate() {
            for o in &e.outputs {
                by_output.entry(o.clone()).or_default().push(i);
            }
        }
        Table { entries, by_output, generation }
    }
    /// Entries in rank order (best validated accuracy first).
    pub fn entries(&self) -> &[Arc<Entry>] {
        &self.entries
    }
    pub fn get(&self, key: &str) -> Option<&Arc<Entry>> {
        self.entries.iter().find(|e| e.key == key)
    }
    /// Incremented by every change to the router.
    pub fn generation(&self) -> u64 {
        self.generation
    }
    /// Every output some entry serves.
    pub fn outputs(&self) -> impl Iterator<Item = &str> {
        self.by_output.keys().map(String::as_str)
    }
}

/// Why no emulator serves an output at a point.
#[derive(Debug, Clone, PartialEq)]
pub enum Fallback {
    /// Some emulators could check the point, and it lies outside each of their trust regions.
    OutsideEveryRegion {
        /// The emulator whose region is nearest (smallest excess, see [`Decision::excess`]).
        nearest: String,
        /// How far beyond that region's boundary (half-widths for the box, standard
        /// deviations for Mahalanobis and the hull).
        distance: f64,
        /// The nearest region's reason, e.g. "mahalanobis distance 4.1 > threshold 3.7".
        reason: String,
    },
    /// The point sets `name` to `value`, which the emulator `key` holds fixed at `fixed`.
    ParameterNotEmulated { name: String, key: String, value: f64, fixed: f64 },
    /// The emulator `key` takes `name`, which the point lacks.
    MissingParameter { name: String, key: String },
    /// No emulator emulates this output.
    OutputNotEmulated,
    /// The point gives `name` (a parameter the emulators take) a non-finite value.
    NonFiniteInput { name: String },
}

impl Fallback {
    /// Every [`Fallback::kind`], in the order of the enum (the point log's `reason` values the
    /// router gives; the plugins add their own, `zelos.routing.FALLBACK_KINDS`).
    pub const KINDS: [&'static str; 5] =
        ["outside_every_region", "parameter_not_emulated", "missing_parameter", "output_not_emulated", "non_finite_input"];

    /// A stable identifier: `outside_every_region`, `parameter_not_emulated`,
    /// `missing_parameter`, `output_not_emulated`, `non_finite_input` (the point log's `reason`).
    pub fn kind(&self) -> &'static str {
        match self {
            Fallback::OutsideEveryRegion { .. } => "outside_every_region",
            Fallback::ParameterNotEmulated { .. } => "parameter_not_emulated",
            Fallback::MissingParameter { .. } => "missing_parameter",
            Fallback::OutputNotEmulated => "output_not_emulated",
            Fallback::NonFiniteInput { .. } => "non_finite_input",
        }
    }
    /// The nearest emulator and the distance to its region, when outside every region.
    pub fn nearest(&self) -> Option<(&str, f64)> {
        match self {
            Fallback::OutsideEveryRegion { nearest, distance, .. } => Some((nearest, *distance)),
            _ => None,
        }
    }
}

impl fmt::Display for Fallback {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fallback::OutsideEveryRegion { nearest, distance, reason } => {
                write!(f, "outside every trust region; nearest: `{nearest}` ({distance:.4} beyond it): {reason}")
            }
            Fallback::ParameterNotEmulated { name, key, value, fixed } => {
                write!(f, "parameter `{name}` = {value} is not emulated: `{key}` holds it fixed at {fixed}")
            }
            Fallback::MissingParameter { name, key } => write!(f, "the point lacks parameter `{name}`, which `{key}` takes"),
            Fallback::OutputNotEmulated => write!(f, "no emulator emulates this output"),
            Fallback::NonFiniteInput { name } => write!(f, "parameter `{name}` is not a finite number"),
        }
    }
}

/// Where one output goes.
#[derive(Debug, Clone)]
pub enum Route {
    Served(Arc<Entry>),
    Fallback(Fallback),
}

impl Route {
    pub fn served(&self) -> Option<&Arc<Entry>> {
        match self {
            Route::Served(e) => Some(e),
            Route::Fallback(_) => None,
        }
    }
}

/// The answer for one call: a route per wanted output, in the order asked.
#[derive(Debug, Clone)]
pub struct Routing {
    /// The table the call saw (every served entry belongs to it).
    pub table: Arc<Table>,
    pub outputs: Vec<(String, Route)>,
}

impl Routing {
    /// Every output is served.
    pub fn all_served(&self) -> bool {
        self.outputs.iter().all(|(_, r)| r.served().is_some())
    }
    /// The outputs that fall back, with their reasons.
    pub fn fallbacks(&self) -> impl Iterator<Item = (&str, &Fallback)> {
        self.outputs.iter().filter_map(|(o, r)| match r {
            Route::Fallback(f) => Some((o.as_str(), f)),
            Route::Served(_) => None,
        })
    }
}

/// Emulated outputs of one call, and the routing behind them.
#[derive(Debug, Clone)]
pub struct Evaluation {
    /// Served outputs: name, shape, values (row-major), in the order asked.
    pub values: Vec<(String, Vec<usize>, Vec<f64>)>,
    pub routing: Routing,
}

/// What one candidate made of the point.
#[derive(Debug, Clone)]
enum Verdict {
    Inside,
    Outside(Decision),
    Refused(Fallback),
}

/// Several emulators, each under a key; see the module documentation for the policy.
#[derive(Debug, Default)]
pub struct Router {
    table: ArcSwap<Table>,
    /// Serialises writers (readers never take it).
    writer: Mutex<()>,
}

impl Router {
    pub fn new() -> Router {
        Router::default()
    }

    /// The current table (lock-free).
    pub fn snapshot(&self) -> Arc<Table> {
        self.table.load_full()
    }

    /// Adds `emulator` under `key` (its region from its spec and archive), replacing and
    /// returning any entry under the same key.
    pub fn insert(&self, key: impl Into<String>, emulator: Arc<Emulator>) -> Result<Option<Arc<Entry>>> {
        Ok(self.insert_entry(Entry::new(key, emulator)?))
    }

    /// Adds or swaps an entry; returns the one it replaced.
    pub fn insert_entry(&self, entry: Entry) -> Option<Arc<Entry>> {
        self.insert_with(entry, false)
    }

    /// Swaps in a new version of the emulator under the same key with the rank the old one had:
    /// a retrained emulator (online active learning) has no `zelos validate` of its own yet, and
    /// would otherwise drop below every validated emulator and hand its outputs to another
    /// mid-run. As [`Router::insert_entry`] when the key is new.
    pub fn swap_keeping_rank(&self, entry: Entry) -> Option<Arc<Entry>> {
        self.insert_with(entry, true)
    }

    fn insert_with(&self, mut entry: Entry, keep_rank: bool) -> Option<Arc<Entry>> {
        let _w = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        let old = self.table.load_full();
        let mut entries: Vec<Arc<Entry>> = old.entries.clone();
        let mut replaced = None;
        if keep_rank {
            if let Some(previous) = entries.iter().find(|e| e.key == entry.key) {
                entry.accuracy = previous.accuracy;
            }
        }
        let entry = Arc::new(entry);
        if let Some(pos) = entries.iter().position(|e| e.key == entry.key) {
            replaced = Some(std::mem::replace(&mut entries[pos], entry));
        } else {
            entries.push(entry);
        }
        // Keep insertion order for equal ranks: the table sorts stably from `entries`' order,
        // which is the previous ranked order plus the newcomer.
        self.table.store(Arc::new(Table::build(entries, old.generation + 1)));
        replaced
    }

    /// Removes the entry under `key`.
    pub fn remove(&self, key: &str) -> Option<Arc<Entry>> {
        let _w = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        let old = self.table.load_full();
        let pos = old.entries.iter().position(|e| e.key == key)?;
        let mut entries = old.entries.clone();
        let removed = entries.remove(pos);
        self.table.store(Arc::new(Table::build(entries, old.generation + 1)));
        Some(removed)
    }

    /// Keys in rank order.
    pub fn keys(&self) -> Vec<String> {
        self.table.load().entries.iter().map(|e| e.key.clone()).collect()
    }

    pub fn len(&self) -> usize {
        self.table.load().entries.len()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Routes the point (`names[i] = values[i]`) for each wanted output.
    pub fn route<S: AsRef<str>, W: AsRef<str>>(&self, names: &[S], values: &[f64], wanted: &[W]) -> Result<Routing> {
        self.route_covering(names, values, wanted, None)
    }

    /// As [`Router::route`], the candidates for an output named in `covering` being only the
    /// keys listed there (those whose grids cover the caller's request of it); an output not
    /// named there may go to any emulator that emulates it.
    pub fn route_covering<S: AsRef<str>, W: AsRef<str>>(
        &self,
        names: &[S],
        values: &[f64],
        wanted: &[W],
        covering: Option<&Covering>,
    ) -> Result<Routing> {
        if names.len() != values.len() {
            return Err(Error::Parameters(format!("router: {} parameter names but {} values", names.len(), values.len())));
        }
        let table = self.table.load_full();
        let mut verdicts: Vec<Option<Verdict>> = vec![None; table.entries.len()];
        let mut x = Vec::new();
        let outputs = wanted
            .iter()
            .map(|w| {
                let w = w.as_ref();
                let allowed = covering.and_then(|c| c.get(w)).map(Vec::as_slice);
                let route = route_one(&table, w, allowed, names, values, &mut verdicts, &mut x);
                (w.to_string(), route)
            })
            .collect();
        Ok(Routing { table, outputs })
    }

    /// Routes the point and evaluates each serving emulator once; fallbacks are in
    /// `routing`.
    pub fn evaluate<S: AsRef<str>, W: AsRef<str>>(&self, names: &[S], values: &[f64], wanted: &[W]) -> Result<Evaluation> {
        self.evaluate_covering(names, values, wanted, None)
    }

    /// As [`Router::evaluate`], routed by [`Router::route_covering`].
    pub fn evaluate_covering<S: AsRef<str>, W: AsRef<str>>(
        &self,
        names: &[S],
        values: &[f64],
        wanted: &[W],
        covering: Option<&Covering>,
    ) -> Result<Evaluation> {
        let routing = self.route_covering(names, values, wanted, covering)?;
        let mut results: Vec<(String, Vec<f64>)> = Vec::new();
        let mut values_out = Vec::new();
        for (output, route) in &routing.outputs {
            let Some(entry) = route.served() else { continue };
            if !results.iter().any(|(k, _)| *k == entry.key) {
                let x = gather(entry, names, values).expect("a served entry has every parameter");
                results.push((entry.key.clone(), entry.emulator.eval(&x)?));
            }
            let flat = &results.iter().find(|(k, _)| *k == entry.key).expect("just evaluated").1;
            let info = entry.emulator.outputs().iter().find(|o| o.name == *output).expect("a served output exists");
            values_out.push((output.clone(), info.shape.clone(), flat[info.offset..info.offset + info.len()].to_vec()));
        }
        Ok(Evaluation { values: values_out, routing })
    }
}

/// The entry's parameters from the point, in its order; `Err` names the first missing one.
fn gather<S: AsRef<str>>(entry: &Entry, names: &[S], values: &[f64]) -> std::result::Result<Vec<f64>, String> {
    entry
        .parameters()
        .iter()
        .map(|p| names.iter().position(|n| n.as_ref() == p).map(|i| values[i]).ok_or_else(|| p.clone()))
        .collect()
}

fn verdict<S: AsRef<str>>(entry: &Entry, names: &[S], values: &[f64], x: &mut Vec<f64>) -> Verdict {
    x.clear();
    for p in entry.parameters() {
        match names.iter().position(|n| n.as_ref() == p) {
            Some(i) => x.push(values[i]),
            None => return Verdict::Refused(Fallback::MissingParameter { name: p.clone(), key: entry.key.clone() }),
        }
    }
    if let Some(j) = x.iter().position(|v| !v.is_finite()) {
        return Verdict::Refused(Fallback::NonFiniteInput { name: entry.parameters()[j].clone() });
    }
    for (name, fixed) in &entry.fixed {
        if let Some(i) = names.iter().position(|n| n.as_ref() == name) {
            let v = values[i];
            if !same_fixed_value(v, *fixed) {
                return Verdict::Refused(Fallback::ParameterNotEmulated { name: name.clone(), key: entry.key.clone(), value: v, fixed: *fixed });
            }
        }
    }
    let d = entry.region.decide_with(x, false);
    if d.inside {
        Verdict::Inside
    } else {
        Verdict::Outside(d)
    }
}

fn route_one<S: AsRef<str>>(
    table: &Table,
    output: &str,
    allowed: Option<&[String]>,
    names: &[S],
    values: &[f64],
    verdicts: &mut [Option<Verdict>],
    x: &mut Vec<f64>,
) -> Route {
    let Some(all) = table.by_output.get(output) else { return Route::Fallback(Fallback::OutputNotEmulated) };
    // Candidates whose grids do not cover the request are not candidates (route_covering).
    let filtered: Vec<usize>;
    let candidates: &[usize] = match allowed {
        None => all,
        Some(keys) => {
            filtered = all.iter().copied().filter(|&i| keys.iter().any(|k| *k == table.entries[i].key)).collect();
            &filtered
        }
    };
    for &i in candidates {
        let entry = &table.entries[i];
        let v = verdicts[i].get_or_insert_with(|| verdict(entry, names, values, x));
        if let Verdict::Inside = v {
            return Route::Served(entry.clone());
        }
    }
    // None serves: the nearest region, if any candidate could check the point.
    let mut nearest: Option<(usize, f64)> = None;
    for &i in candidates {
        if let Some(Verdict::Outside(d)) = &verdicts[i] {
            let e = d.excess();
            if nearest.map_or(true, |(_, best)| e < best) {
                nearest = Some((i, e));
            }
        }
    }
    if let Some((i, distance)) = nearest {
        let Some(Verdict::Outside(d)) = &verdicts[i] else { unreachable!() };
        return Route::Fallback(Fallback::OutsideEveryRegion { nearest: table.entries[i].key.clone(), distance, reason: d.reason() });
    }
    // Every candidate refused the point: a non-finite input first, else the best-ranked reason.
    let refusals = candidates.iter().filter_map(|&i| match &verdicts[i] {
        Some(Verdict::Refused(f)) => Some(f),
        _ => None,
    });
    let mut first = None;
    for f in refusals {
        if matches!(f, Fallback::NonFiniteInput { .. }) {
            return Route::Fallback(f.clone());
        }
        first.get_or_insert(f);
    }
    Route::Fallback(first.cloned().unwrap_or(Fallback::OutputNotEmulated))
}
