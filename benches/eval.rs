//! Evaluation speed of the Rust core: single point and batch of 1024, for the two reference
//! networks of docs/benchmarks.md, next to the machine's measured FMA peak.
//!
//! Run: `cargo bench --bench eval` (prints Markdown tables); `cargo bench --bench eval -- cmb`
//! runs only the shipped CMB emulator's table (single point against batches of 1, 64 and 1024,
//! side by side). Inputs vary between calls: a fixed input flatters tanh and the caches.
//! Batches run on one thread and on `zelos::model::batch_threads()` threads (`ZELOS_NUM_THREADS`,
//! else one per core), side by side.

use std::hint::black_box;
use std::time::Instant;

use zelos::model::Model;
use zelos::nn::{Activation, Real};
use zelos::testing::{RandomModel, SplitMix};

fn build<T: Real>(spec: &RandomModel) -> Model {
    let (d, t) = spec.build::<T>();
    Model::new(d, &t, "bench").unwrap()
}

fn macs(spec: &RandomModel) -> f64 {
    let mut sizes = vec![spec.n_params];
    sizes.extend(std::iter::repeat(spec.width).take(spec.hidden));
    sizes.push(spec.n_out);
    sizes.windows(2).map(|w| (w[0] * w[1]) as f64).sum()
}

/// Median time per call, in seconds, of `f` over `reps` runs of `inner` calls.
fn time(mut f: impl FnMut(usize), inner: usize, reps: usize) -> f64 {
    let mut times: Vec<f64> = (0..reps)
        .map(|r| {
            let t0 = Instant::now();
            for i in 0..inner {
                f(r * inner + i);
            }
            t0.elapsed().as_secs_f64() / inner as f64
        })
        .collect();
    times.sort_by(|a, b| a.partial_cmp(b).unwrap());
    times[reps / 2]
}

/// Single-core f32 FMA peak in FLOP/s, measured with independent AVX2 FMA chains.
#[cfg(target_arch = "x86_64")]
fn fma_peak_f32() -> f64 {
    use std::arch::x86_64::*;
    #[target_feature(enable = "avx2,fma")]
    unsafe fn chains(n: usize) -> f32 {
        let a = _mm256_set1_ps(0.999_999);
        let b = _mm256_set1_ps(1e-7);
        let mut acc = [_mm256_set1_ps(1.0); 10];
        for _ in 0..n {
            for v in acc.iter_mut() {
                *v = _mm256_fmadd_ps(*v, a, b);
            }
        }
        let mut s = _mm256_setzero_ps();
        for v in acc {
            s = _mm256_add_ps(s, v);
        }
        let mut out = [0f32; 8];
        _mm256_storeu_ps(out.as_mut_ptr(), s);
        out.iter().sum()
    }
    if !(is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma")) {
        return f64::NAN;
    }
    let n = 20_000_000;
    let best = (0..5)
        .map(|_| {
            let t0 = Instant::now();
            // SAFETY: AVX2 and FMA are present (checked above).
            black_box(unsafe { chains(n) });
            t0.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min);
    (n * 10 * 8 * 2) as f64 / best
}

#[cfg(not(target_arch = "x86_64"))]
fn fma_peak_f32() -> f64 {
    f64::NAN
}

/// The shipped `CAMB_LCDM_CMB` emulator (python/zelos/emulators/): per-point time of one point
/// through `eval` and of batches of 1, 64 and 1024 through `eval_batch`, taking turns round
/// after round so that a busy machine slows them alike.
fn shipped_cmb() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("python/zelos/emulators/CAMB_LCDM_CMB.tar.gz");
    let emu = zelos::Emulator::load(&path).expect("the shipped CMB emulator loads");
    let model = emu.model();
    let (lower, upper) = emu.bounds();
    let mut rng = SplitMix::new(11);
    // Points in the middle half of the training box, varied between calls.
    let points: Vec<f64> = (0..4096)
        .flat_map(|_| lower.iter().zip(upper).map(|(a, b)| a + (b - a) * (0.25 + 0.5 * rng.uniform())).collect::<Vec<_>>())
        .collect();
    let (p, m) = (lower.len(), model.n_outputs());
    let n_points = points.len() / p;
    let mut out = vec![0.0; 1024 * m];
    let sizes = [1usize, 64, 1024];
    let all = zelos::model::batch_threads();
    let runs: Vec<(usize, usize)> = sizes.iter().flat_map(|&n| [(n, 1), (n, all)]).collect();
    let (mut single, mut batches) = (Vec::new(), vec![Vec::new(); runs.len()]);
    let mut offset = 0;
    for _round in 0..9 {
        single.push(time(|i| model.eval(black_box(&points[(i % n_points) * p..(i % n_points + 1) * p]), &mut out[..m]), 200, 1));
        for (k, &(n, threads)) in runs.iter().enumerate() {
            let calls = (2048 / n).max(2);
            let t = time(
                |_| {
                    offset = (offset + n) % (n_points - n + 1);
                    let x = black_box(&points[offset * p..(offset + n) * p]);
                    model.eval_batch_threads(x, n, &mut out[..n * m], threads).unwrap()
                },
                calls,
                1,
            );
            batches[k].push(t / n as f64);
        }
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(|a, b| a.partial_cmp(b).unwrap());
        v[v.len() / 2]
    };
    let single = median(&mut single);
    println!("CAMB_LCDM_CMB ({} outputs, {}), median of 9 rounds:\n", m, model.dtype());
    println!("| call | threads | us per point | single point / this |");
    println!("|---|---|---|---|");
    println!("| `eval`, one point | 1 | {:.1} | 1.00x |", single * 1e6);
    for (k, &(n, threads)) in runs.iter().enumerate() {
        let t = median(&mut batches[k]);
        println!("| `eval_batch`, {n} points | {threads} | {:.1} | {:.2}x |", t * 1e6, single / t);
    }
    println!();
}

fn main() {
    println!("batch threads: {} (ZELOS_NUM_THREADS, else one per core)\n", zelos::model::batch_threads());
    shipped_cmb();
    if std::env::args().any(|a| a == "cmb") {
        return;
    }
    let peak = fma_peak_f32();
    println!("f32 FMA peak, one core: {:.1} GFLOP/s\n", peak / 1e9);
    println!("| network | dtype | single point (us) | batch 1024 (us/point) | batch GFLOP/s | batch / 1-core peak |");
    println!("|---|---|---|---|---|---|");
    let networks = [
        ("6 -> 5x128 -> 200, tanh", RandomModel { n_params: 6, hidden: 5, width: 128, n_out: 200, activation: Activation::Tanh, ..Default::default() }),
        ("6 -> 4x512 -> 2500, cosmopower", RandomModel { n_params: 6, hidden: 4, width: 512, n_out: 2500, activation: Activation::Cosmopower, ..Default::default() }),
    ];
    for (label, spec) in networks {
        for dtype in ["F32", "F64"] {
            let model = if dtype == "F32" { build::<f32>(&spec) } else { build::<f64>(&spec) };
            let mut rng = SplitMix::new(7);
            let points: Vec<Vec<f64>> = (0..256).map(|_| spec.point(&mut rng)).collect();
            let mut out = vec![0.0; model.n_outputs()];
            let single = time(|i| model.eval(black_box(&points[i % 256]), &mut out), 2000, 15);
            let n = 1024;
            let batch_x: Vec<f64> = (0..n).flat_map(|i| points[i % 256].clone()).collect();
            let mut batch_out = vec![0.0; n * model.n_outputs()];
            let batch = time(|_| model.eval_batch_threads(black_box(&batch_x), n, &mut batch_out, 1).unwrap(), 3, 9) / n as f64;
            let gflops = 2.0 * macs(&spec) / batch / 1e9;
            let ratio = if dtype == "F32" { format!("{:.2}", gflops * 1e9 / peak) } else { "-".into() };
            println!("| {label} | {dtype} | {:.2} | {:.2} | {gflops:.1} | {ratio} |", single * 1e6, batch * 1e6);
        }
    }
}
