//! Speed of trust-region decisions and of routing.
//!
//! Run: `cargo bench --bench region` (prints Markdown tables). Inputs vary between calls.
//!
//! * Mahalanobis decision (d = 6, 12): target under 1 us.
//! * Convex hull decision, d = 6 and N = 10^4 training points drawn uniformly in the box (as a
//!   Latin hypercube would), queries from a chain-like random walk around the centre (mixed
//!   inside / outside), and from independent draws ("cold": nothing to reuse): target under
//!   100 us median.
//!   `ZELOS_ONLY=6,10000` runs one hull row only, `ZELOS_QUERIES=n` sets the number of queries.
//! * Routing overhead of a full call (three emulators, the point checked against each
//!   candidate's region), next to the evaluation it routes.

use std::hint::black_box;
use std::time::Instant;

use std::path::Path;
use std::sync::Arc;

use zelos::emulator::EmulatorArchive;
use zelos::model::OutputDescription;
use zelos::nn::Activation;
use zelos::region::{RegionData, TrustRegion};
use zelos::router::Router;
use zelos::spec::{Spec, Threshold, TrustMethod};
use zelos::tensors::Tensor;
use zelos::testing::{RandomModel, SplitMix};
use zelos::Emulator;

fn gaussian(rng: &mut SplitMix) -> f64 {
    let u1 = rng.uniform().max(1e-300);
    let u2 = rng.uniform();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

fn names(d: usize) -> Vec<String> {
    (0..d).map(|j| format!("p{j}")).collect()
}

fn uniform_points(d: usize, n: usize, seed: u64) -> Vec<f64> {
    let mut rng = SplitMix::new(seed);
    (0..n * d).map(|_| rng.uniform()).collect()
}

/// A chain-like walk: AR(1) around the centre of the unit box, stationary standard deviation
/// `s` per coordinate, step correlation `rho` (a Metropolis chain moves by a fraction of the
/// posterior width per step: a step is `s sqrt(1 - rho^2)` per coordinate, 0.12 of the box for
/// "chain" and 0.04 for "chain, small steps" at s = 0.27; "cold" draws independent points).
fn walk(d: usize, n: usize, s: f64, rho: f64, seed: u64) -> Vec<Vec<f64>> {
    let mut rng = SplitMix::new(seed);
    let mut x = vec![0.5; d];
    let k = s * (1.0 - rho * rho).sqrt();
    (0..n)
        .map(|_| {
            for v in x.iter_mut() {
                *v = 0.5 + rho * (*v - 0.5) + k * gaussian(&mut rng);
            }
            x.clone()
        })
        .collect()
}

fn percentile(v: &mut [f64], q: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    v[((v.len() - 1) as f64 * q).round() as usize]
}

fn mahalanobis_rows() {
    println!("### Mahalanobis decision\n");
    println!("| d | `contains` (ns) | `decide` inside (ns) | `decide` with reason, outside (ns) |");
    println!("|---|---|---|---|");
    for &d in &[6usize, 12] {
        let points = uniform_points(d, 10_000, 1);
        let data = RegionData::from_points(vec![0.0; d], vec![1.0; d], points);
        let r = TrustRegion::new(names(d), &[TrustMethod::Mahalanobis], Threshold::Chi2Quantile(0.999), data, "bench").unwrap();
        let inside = walk(d, 4096, 0.15, 0.9, 3);
        let outside: Vec<Vec<f64>> = inside.iter().map(|x| x.iter().map(|v| 0.5 + 8.0 * (v - 0.5)).collect()).collect();
        let reps = 200;
        let per = |f: &dyn Fn(&[f64]) -> bool, q: &[Vec<f64>]| {
            let mut best = Vec::new();
            for _ in 0..reps {
                let t0 = Instant::now();
                for x in q {
                    black_box(f(black_box(x)));
                }
                best.push(t0.elapsed().as_secs_f64() / q.len() as f64);
            }
            percentile(&mut best, 0.5) * 1e9
        };
        let contains = per(&|x| r.contains(x).unwrap(), &inside);
        let decide = per(&|x| r.decide(x).unwrap().inside, &inside);
        let reason = per(&|x| !r.decide(x).unwrap().reason().is_empty(), &outside[..512]);
        println!("| {d} | {contains:.0} | {decide:.0} | {reason:.0} |");
    }
    println!();
}

fn hull_rows() {
    println!("### Convex hull decision (uniform training points in the box)\n");
    println!("| d | N | queries | inside | median (us) | mean (us) | p90 (us) | median inside / outside (us) | passes over N (mean) |");
    println!("|---|---|---|---|---|---|---|---|---|");
    for &(d, n, s) in &[(6usize, 10_000usize, 0.27), (6, 100_000, 0.27), (12, 10_000, 0.2), (12, 100_000, 0.2)] {
        if let Ok(only) = std::env::var("ZELOS_ONLY") {
            if only != format!("{d},{n}") {
                continue;
            }
        }
        let points = uniform_points(d, n, 2);
        let data = RegionData::from_points(vec![0.0; d], vec![1.0; d], points);
        let t0 = Instant::now();
        let r = TrustRegion::new(names(d), &[TrustMethod::Hull], Threshold::Chi2Quantile(0.999), data, "bench").unwrap();
        let build = t0.elapsed().as_secs_f64();
        let hull = r.hull().unwrap();
        let n_queries = std::env::var("ZELOS_QUERIES").map_or(if n > 50_000 { 400 } else { 2000 }, |v| v.parse().unwrap());
        for (label, rho) in [("chain, small steps", 0.99), ("chain", 0.9), ("cold", 0.0)] {
            let queries = walk(d, n_queries, s, rho, 5);
            let mut all = Vec::new();
            let mut ins = Vec::new();
            let mut outs = Vec::new();
            let mut passes = 0u64;
            for x in &queries {
                let t0 = Instant::now();
                let a = black_box(hull.check(black_box(x)));
                let t = t0.elapsed().as_secs_f64() * 1e6;
                assert!(a.decided, "undecided: {x:?} {a:?}");
                passes += a.passes as u64;
                all.push(t);
                if a.inside { ins.push(t) } else { outs.push(t) }
            }
            let mean = all.iter().sum::<f64>() / all.len() as f64;
            let frac = ins.len() as f64 / all.len() as f64;
            println!(
                "| {d} | {n} | {label} | {:.0}% | {:.1} | {:.1} | {:.1} | {:.1} / {:.1} | {:.2} |",
                100.0 * frac,
                percentile(&mut all.clone(), 0.5),
                mean,
                percentile(&mut all, 0.9),
                percentile(&mut ins, 0.5),
                percentile(&mut outs, 0.5),
                passes as f64 / queries.len() as f64
            );
        }
        eprintln!("(d={d}, N={n}: region built in {:.1} ms)", build * 1e3);
    }
    println!();
}

const LCDM: [(&str, f64, f64); 6] = [
    ("ombh2", 0.0210, 0.0238),
    ("omch2", 0.105, 0.135),
    ("cosmomc_theta", 0.01036, 0.01046),
    ("tau", 0.03, 0.09),
    ("logA", 2.95, 3.15),
    ("ns", 0.92, 1.01),
];

/// A random-weight emulator over the LCDM box: a TT spectrum (`6 -> 5x128 -> 200`, f32) or two
/// derived parameters (`6 -> 2x32 -> 2`), with `n_points` training points in its region.
fn emulator(dir: &Path, cmb: bool, trust: &str, n_points: usize, accuracy: f64, seed: u64) -> Arc<Emulator> {
    let params: String = LCDM.iter().map(|(n, lo, hi)| format!("  {n}: [{lo:?}, {hi:?}]\n")).collect();
    let outputs = if cmb { "  cmb:\n    spectra: [tt]\n    lmin: 2\n    lmax: 201\n" } else { "  derived: [rdrag, sigma8]\n" };
    let yaml = format!(
        "name: bench{seed}\nauthor: zelos bench\nversion: 0.0.1\ncode:\n  name: camb\n  version: \"2.0.5\"\n  settings: {{mnu: 0.06}}\n\
         parameters:\n{params}outputs:\n{outputs}trust:\n  {trust}\n"
    );
    let spec = Spec::from_yaml_str(&yaml, "bench").unwrap();
    let rm = if cmb {
        RandomModel { n_params: 6, hidden: 5, width: 128, n_out: 200, activation: Activation::Tanh, seed, ..Default::default() }
    } else {
        RandomModel { n_params: 6, hidden: 2, width: 32, n_out: 2, activation: Activation::Tanh, seed, ..Default::default() }
    };
    let (mut model, mut weights) = if cmb { rm.build::<f32>() } else { rm.build::<f64>() };
    model.parameters = LCDM.iter().map(|p| p.0.to_string()).collect();
    weights.tensors.remove("grid.i");
    model.grids.clear();
    if cmb {
        model.networks[0].outputs = vec![OutputDescription { name: "dl_tt".into(), shape: vec![200], axes: vec!["ell".into()] }];
        weights.insert("grid.ell", Tensor::f64(vec![200], (2..202).map(f64::from).collect()));
        model.grids.insert("ell".into(), "grid.ell".into());
    } else {
        model.networks[0].outputs = ["rdrag", "sigma8"].iter().map(|n| OutputDescription { name: n.to_string(), shape: vec![], axes: vec![] }).collect();
    }
    let lower: Vec<f64> = LCDM.iter().map(|p| p.1).collect();
    let upper: Vec<f64> = LCDM.iter().map(|p| p.2).collect();
    let mut region = EmulatorArchive::box_region(lower.clone(), upper.clone());
    let mut rng = SplitMix::new(seed);
    let pts: Vec<f64> = (0..n_points).flat_map(|_| (0..6).map(|j| lower[j] + (upper[j] - lower[j]) * rng.uniform()).collect::<Vec<_>>()).collect();
    region.insert("points", Tensor::f64(vec![n_points, 6], pts));
    let archive = EmulatorArchive {
        spec,
        model,
        weights,
        region,
        report: serde_json::json!({"summary": {"max_relative_error": accuracy}}),
        report_md: "# bench\n".into(),
        extra: vec![],
    };
    let path = dir.join(format!("bench{seed}.tar.gz"));
    archive.write(&path).unwrap();
    Arc::new(Emulator::load(&path).unwrap())
}

fn routing_rows() {
    println!("### Routing a full call\n");
    println!("Three emulators (two TT emulators `6 -> 5x128 -> 200` f32 of different accuracy, one derived `6 -> 2x32 -> 2`), 10^4 training points each; a call asks for `dl_tt`, `rdrag`, `sigma8` at one point of a chain-like walk inside the box (names looked up, each candidate region checked once).\n");
    println!("| trust methods | `route` (us) | `evaluate` (us) | the emulators' own `eval` (us) | overhead of `evaluate` (us) |");
    println!("|---|---|---|---|---|");
    let dir = std::env::temp_dir().join(format!("zelos-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for trust in ["method: box", "method: [box, mahalanobis]", "method: [box, mahalanobis, hull]"] {
        let cmb_a = emulator(&dir, true, trust, 10_000, 1e-3, 1);
        let cmb_b = emulator(&dir, true, trust, 10_000, 1e-2, 2);
        let derived = emulator(&dir, false, trust, 10_000, 1e-3, 3);
        let router = Router::new();
        router.insert("tt_a", cmb_a.clone()).unwrap();
        router.insert("tt_b", cmb_b).unwrap();
        router.insert("derived", derived.clone()).unwrap();
        // A chain-like walk inside the box (box units mapped to the parameters).
        let walk01 = walk(6, 4000, 0.12, 0.95, 9);
        let points: Vec<Vec<f64>> = walk01.iter().map(|u| (0..6).map(|j| LCDM[j].1 + (LCDM[j].2 - LCDM[j].1) * u[j].clamp(0.01, 0.99)).collect()).collect();
        let names: Vec<&str> = LCDM.iter().map(|p| p.0).collect();
        let wanted = ["dl_tt", "rdrag", "sigma8"];
        let time = |f: &dyn Fn(&[f64])| {
            let mut t = Vec::new();
            for _ in 0..5 {
                let t0 = Instant::now();
                for x in &points {
                    f(black_box(x));
                }
                t.push(t0.elapsed().as_secs_f64() * 1e6 / points.len() as f64);
            }
            percentile(&mut t, 0.5)
        };
        let route = time(&|x| {
            let r = router.route(&names, x, &wanted).unwrap();
            assert!(r.all_served());
            black_box(r);
        });
        let evaluate = time(&|x| {
            black_box(router.evaluate(&names, x, &wanted).unwrap());
        });
        let direct = time(&|x| {
            black_box(cmb_a.eval(x).unwrap());
            black_box(derived.eval(x).unwrap());
        });
        println!("| {} | {route:.2} | {evaluate:.2} | {direct:.2} | {:.2} |", trust.trim_start_matches("method: "), evaluate - direct);
    }
    let _ = std::fs::remove_dir_all(&dir);
    println!();
}

fn main() {
    println!("## Trust regions and routing (`cargo bench --bench region`)\n");
    let only = std::env::var("ZELOS_ONLY").ok();
    if only.is_none() {
        mahalanobis_rows();
    }
    hull_rows();
    if only.is_none() {
        routing_rows();
    }
}
