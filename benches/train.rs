//! Training throughput of the Rust trainer: samples per second for the reference network
//! 6 -> 4 x 128 -> 100 (tanh), batches of 128 and 512, on 1 and 2 threads.
//!
//! Run: `cargo bench --bench train [-- --points 16384 --epochs 5 --batches 128,512 --threads 1,2
//! --width 128 --activation tanh]`
//! (prints a Markdown table). `benches/train_torch.py` runs the
//! same configurations with PyTorch and with zelos from Python, side by side.

use zelos::nn::Activation;
use zelos::testing::SplitMix;
use zelos::train::{train, Schedule, TrainConfig};

/// `n` points: 6 inputs in [-1, 1], 100 smooth outputs (a damped "spectrum" depending on them).
fn data(n: usize, seed: u64) -> (Vec<f32>, Vec<f32>) {
    let mut rng = SplitMix::new(seed);
    let mut x = Vec::with_capacity(n * 6);
    let mut y = Vec::with_capacity(n * 100);
    for _ in 0..n {
        let p: Vec<f64> = (0..6).map(|_| rng.symmetric(1.0)).collect();
        x.extend(p.iter().map(|&v| v as f32));
        for k in 0..100 {
            let t = k as f64 / 100.0;
            let v =
                (p[0] + 0.5 * p[1] * t).sin() * (-t * (1.0 + 0.3 * p[2])).exp() + 0.2 * p[3] * p[4] * t + 0.1 * p[5];
            y.push(v as f32);
        }
    }
    (x, y)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str, default: &str| -> Vec<usize> {
        let value = args.iter().skip_while(|a| *a != name).nth(1).map_or(default, |v| v.as_str());
        value.split(',').map(|v| v.parse().expect("a number or a comma-separated list")).collect()
    };
    let n = arg("--points", "16384")[0];
    let epochs = arg("--epochs", "5")[0];
    let batches = arg("--batches", "128,512");
    let thread_counts = arg("--threads", "1,2");
    let width = arg("--width", "128")[0];
    let activation = match args.iter().skip_while(|a| *a != "--activation").nth(1).map_or("tanh", |v| v.as_str()) {
        "tanh" => Activation::Tanh,
        "relu" => Activation::Relu,
        "silu" => Activation::Silu,
        "cosmopower" => Activation::Cosmopower,
        other => panic!("unknown activation {other}"),
    };
    let (x, y) = data(n, 1);
    let (xv, yv) = data(512, 2);
    println!(
        "6 -> 4 x {width} -> 100 {}, {n} points, best of 3 runs of {epochs} epochs (validation excluded)\n",
        activation.name()
    );
    println!("| batch | threads | samples/s |");
    println!("| ---: | ---: | ---: |");
    for &batch_size in &batches {
        for &threads in &thread_counts {
            let config = TrainConfig {
                widths: vec![width; 4],
                activation,
                epochs,
                batch_size,
                lr_initial: 1e-3,
                lr_final: 1e-3,
                schedule: Schedule::Constant,
                patience: None,
                seed: 1,
                threads,
                weight_decay: 0.0,
            };
            let best = (0..3)
                .map(|_| train(&x, &y, n, &xv, &yv, 512, &config, &mut |_| true).unwrap().samples_per_second)
                .fold(0.0, f64::max);
            println!("| {batch_size} | {threads} | {best:.0} |");
        }
    }
}
