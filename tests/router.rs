//! The router: ranking by validated accuracy, every fallback reason, evaluation, and a swap
//! under load (threads route while the main thread replaces an emulator: no call fails, and
//! every call sees the old or the new emulator, whole).

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use zelos::emulator::EmulatorArchive;
use zelos::router::{Accuracy, Entry, Fallback, Route, Router};
use zelos::spec::Spec;
use zelos::tensors::{Tensor, TensorSet};
use zelos::testing::{RandomModel, SplitMix};
use zelos::Emulator;

/// How an emulator for these tests is made.
struct Make<'a> {
    name: &'a str,
    params: &'a [(&'a str, f64, f64)],
    derived: &'a [&'a str],
    accuracy: Option<f64>,
    /// `likelihood_accuracy`: `(likelihood, abs_delta_chi2_p99)` as `zelos validate` records them
    validated: &'a [(&'a str, f64)],
    seed: u64,
    /// Training points stored in the region (uniform in the box); 0 for a box-only archive.
    points: usize,
    trust: &'a str,
    settings: &'a str,
}

impl Default for Make<'_> {
    fn default() -> Self {
        Make {
            name: "emu",
            params: &[("ombh2", 0.020, 0.025), ("omch2", 0.10, 0.14), ("H0", 60.0, 80.0)],
            derived: &["sigma8", "rdrag"],
            accuracy: Some(1e-3),
            validated: &[],
            seed: 1,
            points: 300,
            trust: "method: [box, mahalanobis]\n  threshold: {chi2_quantile: 0.999}",
            settings: "{mnu: 0.06, num_massive_neutrinos: 1}",
        }
    }
}

fn write_emulator(dir: &Path, m: &Make) -> Arc<Emulator> {
    let params: String = m.params.iter().map(|(n, lo, hi)| format!("  {n}: [{lo:?}, {hi:?}]\n")).collect();
    let yaml = format!(
        "name: {}\nauthor: zelos tests\nversion: 0.0.1\ncode:\n  name: camb\n  version: \"2.0.5\"\n  settings: {}\n\
         parameters:\n{params}outputs:\n  derived: [{}]\ntrust:\n  {}\n",
        m.name,
        m.settings,
        m.derived.join(", "),
        m.trust
    );
    let spec = Spec::from_yaml_str(&yaml, "test spec").unwrap();
    let p = m.params.len();
    let rm = RandomModel { n_params: p, hidden: 1, width: 8, n_out: m.derived.len(), seed: m.seed, ..Default::default() };
    let (mut description, weights) = rm.build::<f64>();
    description.parameters = m.params.iter().map(|(n, ..)| n.to_string()).collect();
    description.networks[0].outputs = m
        .derived
        .iter()
        .map(|d| zelos::model::OutputDescription { name: d.to_string(), shape: vec![], axes: vec![] })
        .collect();
    description.grids.clear();
    let lower: Vec<f64> = m.params.iter().map(|t| t.1).collect();
    let upper: Vec<f64> = m.params.iter().map(|t| t.2).collect();
    let mut region = EmulatorArchive::box_region(lower.clone(), upper.clone());
    if m.points > 0 {
        let mut rng = SplitMix::new(m.seed + 100);
        let pts: Vec<f64> = (0..m.points).flat_map(|_| (0..p).map(|j| lower[j] + (upper[j] - lower[j]) * rng.uniform()).collect::<Vec<_>>()).collect();
        region.insert("points", Tensor::f64(vec![m.points, p], pts));
    }
    let mut report = match m.accuracy {
        Some(a) => serde_json::json!({"summary": {"max_relative_error": a, "worst_output": m.derived[0]}}),
        None => serde_json::json!({"note": "no accuracy"}),
    };
    if !m.validated.is_empty() {
        let likelihoods: serde_json::Map<String, serde_json::Value> =
            m.validated.iter().map(|(l, p99)| (l.to_string(), serde_json::json!({"abs_delta_chi2_p99": p99}))).collect();
        report["likelihood_accuracy"] = serde_json::json!({"points": 200, "likelihoods": likelihoods});
    }
    let archive = EmulatorArchive {
        spec,
        model: description,
        weights: without_grid(weights),
        region,
        report,
        report_md: "# test\n".into(),
        extra: vec![],
    };
    let path = dir.join(format!("{}-{}.tar.gz", m.name, m.seed));
    archive.write(&path).unwrap();
    Arc::new(Emulator::load(&path).unwrap())
}

fn without_grid(mut t: TensorSet) -> TensorSet {
    t.tensors.remove("grid.i");
    t
}

const NAMES: [&str; 3] = ["ombh2", "omch2", "H0"];

fn served_key(r: &Route) -> &str {
    match r {
        Route::Served(e) => e.key(),
        Route::Fallback(f) => panic!("expected served, got {f}"),
    }
}

fn fallback(r: &Route) -> &Fallback {
    match r {
        Route::Fallback(f) => f,
        Route::Served(e) => panic!("expected a fallback, got `{}`", e.key()),
    }
}

#[test]
fn the_most_accurate_covering_emulator_serves() {
    let dir = tempfile::tempdir().unwrap();
    let broad = write_emulator(dir.path(), &Make { name: "broad", accuracy: Some(1e-2), seed: 1, ..Default::default() });
    let narrow_params = [("ombh2", 0.022, 0.023), ("omch2", 0.11, 0.13), ("H0", 65.0, 75.0)];
    let narrow = write_emulator(dir.path(), &Make { name: "narrow", params: &narrow_params, accuracy: Some(1e-4), seed: 2, ..Default::default() });
    let router = Router::new();
    router.insert("broad", broad).unwrap();
    router.insert("narrow", narrow).unwrap();
    assert_eq!(router.keys(), ["narrow", "broad"], "rank order: best accuracy first");

    let r = router.route(&NAMES, &[0.0225, 0.12, 70.0], &["sigma8", "rdrag"]).unwrap();
    assert!(r.all_served());
    assert_eq!(served_key(&r.outputs[0].1), "narrow");
    assert_eq!(served_key(&r.outputs[1].1), "narrow");

    let r = router.route(&NAMES, &[0.0205, 0.12, 70.0], &["sigma8"]).unwrap();
    assert_eq!(served_key(&r.outputs[0].1), "broad", "outside the narrow box, inside the broad one");

    // Outside both boxes: the nearest region is named, with its reason.
    let r = router.route(&NAMES, &[0.0255, 0.12, 70.0], &["sigma8"]).unwrap();
    let f = fallback(&r.outputs[0].1);
    assert_eq!(f.kind(), "outside_every_region");
    let Fallback::OutsideEveryRegion { nearest, distance, reason } = f else { unreachable!() };
    assert_eq!(nearest, "broad");
    // 0.0255 is 1.2 half-widths (0.0025) from the broad centre 0.0225: 0.2 beyond.
    assert!((distance - 0.2).abs() < 1e-9, "{distance}");
    assert_eq!(reason, "outside the box: `ombh2` = 0.0255 > 0.025");
    assert!(f.to_string().starts_with("outside every trust region; nearest: `broad` (0.2000 beyond it): outside the box"), "{f}");
}

#[test]
fn only_the_emulators_covering_the_request_are_candidates() {
    // `narrow` ranks first, but the caller says only `broad` covers what it asks of sigma8 (a
    // grid reaching further): `broad` serves it, and `narrow` still serves rdrag.
    let dir = tempfile::tempdir().unwrap();
    let broad = write_emulator(dir.path(), &Make { name: "broad", accuracy: Some(1e-2), seed: 1, ..Default::default() });
    let narrow = write_emulator(dir.path(), &Make { name: "narrow", accuracy: Some(1e-4), seed: 2, ..Default::default() });
    let router = Router::new();
    router.insert("broad", broad).unwrap();
    router.insert("narrow", narrow).unwrap();
    let covering: zelos::router::Covering = [("sigma8".to_string(), vec!["broad".to_string()])].into_iter().collect();
    let point = [0.0225, 0.12, 70.0];
    let r = router.route_covering(&NAMES, &point, &["sigma8", "rdrag"], Some(&covering)).unwrap();
    assert_eq!(served_key(&r.outputs[0].1), "broad");
    assert_eq!(served_key(&r.outputs[1].1), "narrow");
    let e = router.evaluate_covering(&NAMES, &point, &["sigma8"], Some(&covering)).unwrap();
    assert_eq!(served_key(&e.routing.outputs[0].1), "broad");
    // Outside `broad`'s box, the nearest region named is the covering one, never `narrow`.
    let r = router.route_covering(&NAMES, &[0.0255, 0.12, 70.0], &["sigma8"], Some(&covering)).unwrap();
    let Fallback::OutsideEveryRegion { nearest, .. } = fallback(&r.outputs[0].1) else { panic!("{:?}", r.outputs) };
    assert_eq!(nearest, "broad");
    // Without `covering`, the ranking alone decides.
    let r = router.route(&NAMES, &point, &["sigma8"]).unwrap();
    assert_eq!(served_key(&r.outputs[0].1), "narrow");
    // KINDS lists every variant's kind, in the enum's order
    let every = [
        Fallback::OutsideEveryRegion { nearest: "a".into(), distance: 1.0, reason: String::new() },
        Fallback::ParameterNotEmulated { name: "mnu".into(), key: "a".into(), value: 0.1, fixed: 0.06 },
        Fallback::MissingParameter { name: "H0".into(), key: "a".into() },
        Fallback::OutputNotEmulated,
        Fallback::NonFiniteInput { name: "H0".into() },
    ];
    assert_eq!(every.iter().map(Fallback::kind).collect::<Vec<_>>(), Fallback::KINDS);
}

#[test]
fn outputs_go_to_the_emulators_that_emulate_them() {
    let dir = tempfile::tempdir().unwrap();
    let a = write_emulator(dir.path(), &Make { name: "bg", derived: &["rdrag"], seed: 3, ..Default::default() });
    let b = write_emulator(dir.path(), &Make { name: "growth", derived: &["sigma8", "S8"], seed: 4, accuracy: Some(5e-3), ..Default::default() });
    let router = Router::new();
    router.insert("bg", a.clone()).unwrap();
    router.insert("growth", b.clone()).unwrap();
    let x = [0.0224, 0.12, 67.0];
    let r = router.route(&NAMES, &x, &["rdrag", "S8", "sigma8", "cl_tt"]).unwrap();
    assert_eq!(served_key(&r.outputs[0].1), "bg");
    assert_eq!(served_key(&r.outputs[1].1), "growth");
    assert_eq!(served_key(&r.outputs[2].1), "growth");
    assert_eq!(fallback(&r.outputs[3].1), &Fallback::OutputNotEmulated);
    assert_eq!(r.fallbacks().map(|(o, _)| o).collect::<Vec<_>>(), ["cl_tt"]);

    // evaluate: each emulator once, outputs sliced by name.
    let ev = router.evaluate(&NAMES, &x, &["S8", "rdrag", "cl_tt"]).unwrap();
    let ya = a.eval(&x).unwrap();
    let yb = b.eval(&x).unwrap();
    assert_eq!(ev.values.len(), 2);
    assert_eq!(ev.values[0], ("S8".to_string(), vec![], vec![yb[1]]));
    assert_eq!(ev.values[1], ("rdrag".to_string(), vec![], vec![ya[0]]));
    assert_eq!(ev.routing.fallbacks().count(), 1);
}

#[test]
fn parameters_missing_non_finite_fixed_and_extra() {
    let dir = tempfile::tempdir().unwrap();
    let e = write_emulator(dir.path(), &Make::default());
    let router = Router::new();
    router.insert("e", e).unwrap();
    assert_eq!(router.snapshot().get("e").unwrap().fixed(), [("mnu".to_string(), 0.06), ("num_massive_neutrinos".to_string(), 1.0)]);

    // Extra (nuisance) parameters do not matter.
    let r = router.route(&["A_planck", "H0", "omch2", "ombh2", "tau"], &[1.0, 70.0, 0.12, 0.0224, 0.05], &["sigma8"]).unwrap();
    assert!(r.all_served());
    // A fixed parameter at its value is fine; at another value it is not emulated.
    let r = router.route(&["ombh2", "omch2", "H0", "mnu"], &[0.0224, 0.12, 70.0, 0.06], &["sigma8"]).unwrap();
    assert!(r.all_served());
    let r = router.route(&["ombh2", "omch2", "H0", "mnu"], &[0.0224, 0.12, 70.0, 0.1], &["sigma8"]).unwrap();
    let f = fallback(&r.outputs[0].1);
    assert_eq!(f, &Fallback::ParameterNotEmulated { name: "mnu".into(), key: "e".into(), value: 0.1, fixed: 0.06 });
    assert_eq!(f.to_string(), "parameter `mnu` = 0.1 is not emulated: `e` holds it fixed at 0.06");
    // Missing.
    let r = router.route(&["ombh2", "omch2"], &[0.0224, 0.12], &["sigma8"]).unwrap();
    assert_eq!(fallback(&r.outputs[0].1), &Fallback::MissingParameter { name: "H0".into(), key: "e".into() });
    // Non-finite.
    let r = router.route(&NAMES, &[0.0224, f64::NAN, 70.0], &["sigma8"]).unwrap();
    assert_eq!(fallback(&r.outputs[0].1), &Fallback::NonFiniteInput { name: "omch2".into() });
    assert_eq!(fallback(&r.outputs[0].1).kind(), "non_finite_input");
    // A non-finite nuisance parameter does not matter.
    let r = router.route(&["ombh2", "omch2", "H0", "A_planck"], &[0.0224, 0.12, 70.0, f64::INFINITY], &["sigma8"]).unwrap();
    assert!(r.all_served());
    // Mismatched lengths are an error, not a fallback.
    assert!(router.route(&NAMES, &[1.0], &["sigma8"]).is_err());
}

#[test]
fn mahalanobis_rejections_and_box_only_archives() {
    let dir = tempfile::tempdir().unwrap();
    let trust = "method: [box, mahalanobis]\n  threshold: {chi2_quantile: 0.9}";
    let full = write_emulator(dir.path(), &Make { name: "full", seed: 5, trust, ..Default::default() });
    let router = Router::new();
    router.insert("full", full).unwrap();
    // Inside the box, but a far corner: Mahalanobis (chi2 0.9 in 3 dimensions: 2.50) rejects
    // the corner, about 3 standard deviations out (a uniform box's half-width is sqrt(3) sigma).
    let r = router.route(&NAMES, &[0.02001, 0.10001, 60.001], &["sigma8"]).unwrap();
    let Fallback::OutsideEveryRegion { reason, .. } = fallback(&r.outputs[0].1) else { panic!() };
    assert!(reason.starts_with("mahalanobis distance ") && reason.contains(" > threshold 2.50"), "{reason}");

    // A box-only archive: Mahalanobis is skipped (and the region says so); the box decides.
    let boxed = write_emulator(dir.path(), &Make { name: "boxed", seed: 6, points: 0, trust, ..Default::default() });
    let router = Router::new();
    router.insert("boxed", boxed).unwrap();
    let t = router.snapshot();
    assert_eq!(t.get("boxed").unwrap().region().skipped().len(), 1);
    let r = router.route(&NAMES, &[0.02001, 0.10001, 60.001], &["sigma8"]).unwrap();
    assert!(r.all_served());
}

#[test]
fn unranked_emulators_come_last_and_removal_works() {
    let dir = tempfile::tempdir().unwrap();
    let u = write_emulator(dir.path(), &Make { name: "unranked", accuracy: None, seed: 7, ..Default::default() });
    let g = write_emulator(dir.path(), &Make { name: "good", accuracy: Some(0.5), seed: 8, ..Default::default() });
    let router = Router::new();
    router.insert("unranked", u).unwrap();
    router.insert("good", g).unwrap();
    assert_eq!(router.keys(), ["good", "unranked"]);
    let r = router.route(&NAMES, &[0.0224, 0.12, 70.0], &["sigma8"]).unwrap();
    assert_eq!(served_key(&r.outputs[0].1), "good");
    let gen = router.snapshot().generation();
    assert!(router.remove("good").is_some());
    assert!(router.remove("good").is_none());
    assert_eq!(router.snapshot().generation(), gen + 1);
    let r = router.route(&NAMES, &[0.0224, 0.12, 70.0], &["sigma8"]).unwrap();
    assert_eq!(served_key(&r.outputs[0].1), "unranked");
    router.remove("unranked");
    let r = router.route(&NAMES, &[0.0224, 0.12, 70.0], &["sigma8"]).unwrap();
    assert_eq!(fallback(&r.outputs[0].1), &Fallback::OutputNotEmulated);
}

#[test]
fn swapping_under_load_never_fails_a_call() {
    let dir = tempfile::tempdir().unwrap();
    let old = write_emulator(dir.path(), &Make { name: "cosmo", seed: 10, ..Default::default() });
    let new = write_emulator(dir.path(), &Make { name: "cosmo", seed: 11, ..Default::default() });
    assert_ne!(old.sha256(), new.sha256());
    let other = write_emulator(dir.path(), &Make { name: "other", derived: &["S8"], seed: 12, ..Default::default() });
    let router = Arc::new(Router::new());
    router.insert("cosmo", old.clone()).unwrap();
    router.insert("other", other).unwrap();
    // The expected outputs of each version at a fixed set of points.
    let mut rng = SplitMix::new(5);
    let points: Vec<[f64; 3]> = (0..64).map(|_| [0.0222 + 0.0006 * rng.uniform(), 0.118 + 0.004 * rng.uniform(), 68.0 + 2.0 * rng.uniform()]).collect();
    let expect = |e: &Emulator| -> Vec<Vec<f64>> { points.iter().map(|x| e.eval(x).unwrap()).collect() };
    let (want_old, want_new) = (expect(&old), expect(&new));

    let stop = Arc::new(AtomicBool::new(false));
    let seen_old = Arc::new(AtomicUsize::new(0));
    let seen_new = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let (router, stop, seen_old, seen_new) = (router.clone(), stop.clone(), seen_old.clone(), seen_new.clone());
            let (points, want_old, want_new) = (points.clone(), want_old.clone(), want_new.clone());
            let (old_sha, new_sha) = (old.sha256().to_string(), new.sha256().to_string());
            std::thread::spawn(move || {
                let mut i = t;
                let mut calls = 0;
                while !stop.load(Ordering::Relaxed) || calls < 200 {
                    let k = i % points.len();
                    let ev = router.evaluate(&NAMES, &points[k], &["sigma8", "rdrag", "S8"]).expect("no call fails");
                    assert!(ev.routing.all_served(), "every output served: {:?}", ev.routing.fallbacks().collect::<Vec<_>>());
                    let entry = ev.routing.outputs[0].1.served().unwrap();
                    assert!(Arc::ptr_eq(entry, ev.routing.outputs[1].1.served().unwrap()), "one version per call");
                    let sha = entry.emulator().sha256();
                    let want = if sha == old_sha {
                        seen_old.fetch_add(1, Ordering::Relaxed);
                        &want_old[k]
                    } else {
                        assert_eq!(sha, new_sha);
                        seen_new.fetch_add(1, Ordering::Relaxed);
                        &want_new[k]
                    };
                    assert_eq!(ev.values[0].2, vec![want[0]]);
                    assert_eq!(ev.values[1].2, vec![want[1]]);
                    i += 7;
                    calls += 1;
                }
                calls
            })
        })
        .collect();
    for s in 0..200 {
        let e = if s % 2 == 0 { new.clone() } else { old.clone() };
        let replaced = router.insert("cosmo", e).unwrap().expect("an entry to replace");
        assert_ne!(replaced.emulator().sha256(), router.snapshot().get("cosmo").unwrap().emulator().sha256());
        std::thread::sleep(std::time::Duration::from_micros(200));
    }
    stop.store(true, Ordering::Relaxed);
    let calls: usize = threads.into_iter().map(|t| t.join().expect("no reader panicked")).sum();
    let (o, n) = (seen_old.load(Ordering::Relaxed), seen_new.load(Ordering::Relaxed));
    assert_eq!(o + n, calls);
    assert!(o > 0 && n > 0, "both versions were seen: old {o}, new {n}");
    assert_eq!(router.snapshot().generation(), 2 + 200);
}

#[test]
fn entries_can_be_built_by_hand() {
    let dir = tempfile::tempdir().unwrap();
    let e = write_emulator(dir.path(), &Make { name: "hand", seed: 13, ..Default::default() });
    let region = zelos::region::TrustRegion::new(
        e.parameters().to_vec(),
        &[zelos::spec::TrustMethod::Box],
        zelos::spec::Threshold::Chi2Quantile(0.9),
        zelos::region::RegionData::from_box(vec![0.0223, 0.11, 65.0], vec![0.0225, 0.13, 75.0]),
        "hand",
    )
    .unwrap();
    let entry = Entry::with_region("hand", e, region).with_fixed(vec![]).with_accuracy(None);
    assert_eq!(entry.accuracy(), None);
    let router = Router::new();
    router.insert_entry(entry);
    let r = router.route(&["ombh2", "omch2", "H0", "mnu"], &[0.0224, 0.12, 70.0, 0.5], &["rdrag"]).unwrap();
    assert!(r.all_served(), "no fixed parameters any more");
    let r = router.route(&NAMES, &[0.0222, 0.12, 70.0], &["rdrag"]).unwrap();
    assert_eq!(fallback(&r.outputs[0].1).nearest().unwrap().0, "hand");
}

#[test]
fn validated_emulators_rank_first_and_a_swap_can_keep_its_rank() {
    // Ranked by validated |Δχ²| p99 (worst likelihood) ahead of any held-out relative error,
    // however small: the ΛCDM CMB emulator's report had one edge point at 8.95.
    let dir = tempfile::tempdir().unwrap();
    let make = |name, accuracy, validated, seed| {
        write_emulator(dir.path(), &Make { name, accuracy: Some(accuracy), validated, seed, ..Default::default() })
    };
    let lcdm = make("lcdm", 8.95, &[("plik", 0.037), ("desi", 0.013)], 1);
    let w0wa = make("w0wa", 0.039, &[("plik", 0.071), ("lensing", 0.059)], 2);
    let plain = make("plain", 1e-6, &[], 3);
    let router = Router::new();
    for (key, emu) in [("plain", &plain), ("w0wa", &w0wa), ("lcdm", &lcdm)] {
        router.insert(key, emu.clone()).unwrap();
    }
    assert_eq!(router.keys(), ["lcdm", "w0wa", "plain"]);
    let table = router.snapshot();
    assert_eq!(table.get("lcdm").unwrap().accuracy(), Some(Accuracy::LikelihoodP99(0.037)));
    assert_eq!(table.get("plain").unwrap().accuracy(), Some(Accuracy::MaxRelativeError(1e-6)));

    // A retrained lcdm without a validation of its own: swapped in keeping its rank, or not.
    let retrained = make("lcdm", 1e-3, &[], 4);
    router.swap_keeping_rank(Entry::new("lcdm", retrained.clone()).unwrap());
    assert_eq!(router.keys(), ["lcdm", "w0wa", "plain"]);
    router.insert_entry(Entry::new("lcdm", retrained).unwrap());
    assert_eq!(router.keys(), ["w0wa", "plain", "lcdm"]);
}
