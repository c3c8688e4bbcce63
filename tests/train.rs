//! The trainer: analytic gradients against finite differences, convergence on a smooth target,
//! schedules, early stopping, non-finite losses, determinism and input checks.

use zelos::nn::Activation;
use zelos::testing::SplitMix;
use zelos::train::{train, Layout, LrScheduler, Network, Schedule, StopReason, TrainConfig, TrainOutcome};
use zelos::Error;

const ACTIVATIONS: [Activation; 4] = [Activation::Tanh, Activation::Relu, Activation::Silu, Activation::Cosmopower];

fn uniform(len: usize, a: f64, rng: &mut SplitMix) -> Vec<f64> {
    (0..len).map(|_| rng.symmetric(a)).collect()
}

/// Every parameter's analytic derivative against a central difference of the f64 loss.
#[allow(clippy::needless_range_loop)]
fn check_gradient(activation: Activation) {
    let (d_in, d_out, n) = (3, 2, 7);
    let layout = Layout::new(d_in, &[5, 4], d_out, activation);
    let mut net = Network::<f64>::init(layout, 11);
    let mut rng = SplitMix::new(3);
    // Non-zero biases and spread alpha, beta: every term of the derivatives matters.
    for l in net.layout.layers.clone() {
        for p in &mut net.params[l.bias.clone()] {
            *p = rng.symmetric(0.5);
        }
        for p in &mut net.params[l.alpha.clone()] {
            *p = 0.5 + rng.uniform();
        }
        for p in &mut net.params[l.beta.clone()] {
            *p = rng.symmetric(0.4);
        }
    }
    let x = uniform(n * d_in, 1.5, &mut rng);
    let y = uniform(n * d_out, 1.0, &mut rng);
    let (_, grad) = net.loss_and_gradient(&x, &y, n);
    let h = 1e-6;
    for i in 0..net.params.len() {
        let keep = net.params[i];
        net.params[i] = keep + h;
        let plus = net.loss_and_gradient(&x, &y, n).0;
        net.params[i] = keep - h;
        let minus = net.loss_and_gradient(&x, &y, n).0;
        net.params[i] = keep;
        let numeric = (plus - minus) / (2.0 * h);
        let err = (numeric - grad[i]).abs();
        assert!(
            err < 1e-7 + 1e-6 * numeric.abs(),
            "{activation:?} {}: analytic {} vs numeric {numeric}",
            net.layout.parameter_name(i),
            grad[i]
        );
    }
}

#[test]
fn gradient_matches_finite_differences_tanh() {
    check_gradient(Activation::Tanh);
}

#[test]
fn gradient_matches_finite_differences_relu() {
    check_gradient(Activation::Relu);
}

#[test]
fn gradient_matches_finite_differences_silu() {
    check_gradient(Activation::Silu);
}

#[test]
fn gradient_matches_finite_differences_cosmopower() {
    check_gradient(Activation::Cosmopower);
}

#[test]
fn layout_puts_weights_first_and_names_parameters() {
    let layout = Layout::new(2, &[3], 1, Activation::Cosmopower);
    assert_eq!(layout.n_weights, 2 * 3 + 3); // [2, 3] and [3, 1]
    assert_eq!(layout.n_params, 9 + 3 + 3 + 3 + 1);
    assert_eq!(layout.parameter_name(1), "0.weight[1, 0]");
    assert_eq!(layout.parameter_name(3), "0.weight[0, 1]");
    assert_eq!(layout.parameter_name(12), "0.alpha[0]");
    assert_eq!(layout.parameter_name(18), "1.bias[0]");
    assert!(layout.layers[1].alpha.is_empty(), "the linear output layer has no alpha");
}

/// `n` points of the smooth map `(a, b) -> (sin a cos b, cos(a + b), a b / 2)` on [-1.5, 1.5]^2.
fn smooth_data(n: usize, seed: u64) -> (Vec<f32>, Vec<f32>) {
    let mut rng = SplitMix::new(seed);
    let mut x = Vec::with_capacity(2 * n);
    let mut y = Vec::with_capacity(3 * n);
    for _ in 0..n {
        let (a, b) = (rng.symmetric(1.5), rng.symmetric(1.5));
        x.extend([a as f32, b as f32]);
        y.extend([(a.sin() * b.cos()) as f32, (a + b).cos() as f32, (a * b / 2.0) as f32]);
    }
    (x, y)
}

fn small_config() -> TrainConfig {
    TrainConfig {
        widths: vec![32, 32],
        activation: Activation::Tanh,
        epochs: 150,
        batch_size: 32,
        lr_initial: 3e-3,
        lr_final: 1e-4,
        schedule: Schedule::Cosine,
        patience: None,
        seed: 7,
        threads: 1,
        weight_decay: 0.0,
    }
}

fn run(config: &TrainConfig, n: usize, n_val: usize) -> TrainOutcome {
    let (x, y) = smooth_data(n, 1);
    let (xv, yv) = smooth_data(n_val, 2);
    train(&x, &y, n, &xv, &yv, n_val, config, &mut |_| true).unwrap()
}

/// The validation loss of `outcome.mlp` recomputed from scratch.
fn val_loss_of(outcome: &TrainOutcome, n_val: usize) -> f64 {
    let (xv, yv) = smooth_data(n_val, 2);
    let mut out = vec![0.0f32; yv.len()];
    outcome.mlp.forward_batch(&xv, n_val, &mut out);
    out.iter().zip(&yv).map(|(&o, &t)| (o as f64 - t as f64).powi(2)).sum::<f64>() / yv.len() as f64
}

#[test]
fn training_fits_a_smooth_target() {
    for activation in ACTIVATIONS {
        let config = TrainConfig { activation, ..small_config() };
        let outcome = run(&config, 512, 256);
        let first = outcome.history[0].val_loss;
        assert_eq!(outcome.stop, StopReason::Completed);
        assert_eq!(outcome.history.len(), 150);
        // The targets have variance ~0.3: a good fit is two orders of magnitude below.
        assert!(
            outcome.best_val_loss < 3e-3 && outcome.best_val_loss < first / 20.0,
            "{activation:?}: best validation loss {} (first epoch {first})",
            outcome.best_val_loss
        );
        // The returned network is the best epoch's.
        let recomputed = val_loss_of(&outcome, 256);
        assert!(
            (recomputed - outcome.best_val_loss).abs() <= 1e-6 * outcome.best_val_loss,
            "{recomputed} vs {}",
            outcome.best_val_loss
        );
        assert_eq!(outcome.history[outcome.best_epoch].val_loss, outcome.best_val_loss);
        assert!(outcome.samples_per_second > 0.0);
        let has_alpha = outcome.mlp.layers[0].alpha.len() == 32;
        assert_eq!(has_alpha, activation == Activation::Cosmopower);
    }
}

#[test]
fn two_threads_train_as_well_as_one() {
    for batch_size in [64, 200] {
        let one = run(&TrainConfig { threads: 1, batch_size, epochs: 60, ..small_config() }, 512, 256);
        let two = run(&TrainConfig { threads: 2, batch_size, epochs: 60, ..small_config() }, 512, 256);
        // Same batches, same steps; only the order of floating-point sums differs.
        let (a, b) = (one.best_val_loss, two.best_val_loss);
        assert!((a - b).abs() < 0.1 * a, "batch {batch_size}: 1 thread {a}, 2 threads {b}");
    }
}

#[test]
fn same_seed_same_weights() {
    for threads in [1, 2] {
        let config =
            TrainConfig { threads, epochs: 5, batch_size: 64, activation: Activation::Cosmopower, ..small_config() };
        let a = run(&config, 300, 100);
        let b = run(&config, 300, 100);
        assert_eq!(a.mlp, b.mlp, "threads = {threads}");
        assert_eq!(a.best_val_loss.to_bits(), b.best_val_loss.to_bits());
        let c = run(&TrainConfig { seed: 8, ..config }, 300, 100);
        assert_ne!(a.mlp, c.mlp);
    }
}

#[test]
fn huge_learning_rate_stops_with_finite_weights() {
    // Unbounded activations overflow f32 within a few steps at lr = 1e10. (Tanh networks do
    // not: saturated units keep every value finite, the loss just stays huge.)
    for activation in [Activation::Relu, Activation::Silu, Activation::Cosmopower] {
        let config =
            TrainConfig { activation, lr_initial: 1e10, schedule: Schedule::Constant, epochs: 50, ..small_config() };
        let outcome = run(&config, 256, 64);
        let StopReason::NonFinite { epoch } = outcome.stop else {
            panic!("{activation:?}: expected NonFinite, got {:?}", outcome.stop)
        };
        assert_eq!(outcome.history.len(), epoch + 1);
        assert!(outcome.history[epoch].train_loss.is_nan() && outcome.history[epoch].val_loss.is_nan());
        // The best weights so far (here the initial ones), never NaN.
        assert!(outcome.best_val_loss.is_finite());
        for layer in &outcome.mlp.layers {
            let params = layer.weight_t.iter().chain(&layer.bias).chain(&layer.alpha).chain(&layer.beta);
            assert!(params.into_iter().all(|w| w.is_finite()), "{activation:?}");
        }
        assert!((val_loss_of(&outcome, 64) - outcome.best_val_loss).abs() < 1e-6 * outcome.best_val_loss);
    }
}

#[test]
fn early_stopping_keeps_the_best_epoch() {
    // Noise targets: the validation loss stops improving almost at once.
    let mut rng = SplitMix::new(5);
    let (n, n_val) = (128, 64);
    let x: Vec<f32> = (0..2 * n).map(|_| rng.symmetric(1.0) as f32).collect();
    let y: Vec<f32> = (0..n).map(|_| rng.symmetric(1.0) as f32).collect();
    let xv: Vec<f32> = (0..2 * n_val).map(|_| rng.symmetric(1.0) as f32).collect();
    let yv: Vec<f32> = (0..n_val).map(|_| rng.symmetric(1.0) as f32).collect();
    let config = TrainConfig {
        patience: Some(5),
        epochs: 2000,
        lr_initial: 1e-2,
        schedule: Schedule::Constant,
        ..small_config()
    };
    let outcome = train(&x, &y, n, &xv, &yv, n_val, &config, &mut |_| true).unwrap();
    let StopReason::EarlyStopped { best_epoch } = outcome.stop else {
        panic!("expected EarlyStopped, got {:?}", outcome.stop)
    };
    assert_eq!(best_epoch, outcome.best_epoch);
    assert_eq!(outcome.history.len(), best_epoch + 5 + 1);
    let best = outcome.history.iter().map(|r| r.val_loss).fold(f64::INFINITY, f64::min);
    assert_eq!(best, outcome.best_val_loss);
}

#[test]
fn callback_sees_every_epoch_and_can_cancel() {
    let (x, y) = smooth_data(100, 1);
    let mut seen = Vec::new();
    let config = TrainConfig { epochs: 10, ..small_config() };
    let outcome = train(&x, &y, 100, &x, &y, 100, &config, &mut |r| {
        seen.push((r.epoch, r.lr));
        r.epoch < 2
    })
    .unwrap();
    assert_eq!(outcome.stop, StopReason::Cancelled);
    assert_eq!(seen.len(), 3);
    assert_eq!(seen[0], (0, 3e-3));
    assert_eq!(outcome.history.len(), 3);
}

#[test]
fn schedules_start_at_initial_and_end_at_final() {
    let (a, b, epochs) = (1e-3, 1e-6, 50);
    for schedule in [Schedule::Cosine, Schedule::Exponential] {
        let s = LrScheduler::new(schedule, a, b, epochs);
        assert!((s.lr(0) - a).abs() < 1e-15, "{schedule:?}");
        assert!((s.lr(epochs - 1) - b).abs() < 1e-15, "{schedule:?}: {}", s.lr(epochs - 1));
        for e in 1..epochs {
            assert!(s.lr(e) < s.lr(e - 1), "{schedule:?} decreases");
        }
    }
    let exp = LrScheduler::new(Schedule::Exponential, a, b, 4);
    assert!((exp.lr(1) - 1e-4).abs() < 1e-17, "geometric: a decade per epoch");
    let cos = LrScheduler::new(Schedule::Cosine, a, b, 3);
    assert!((cos.lr(1) - (a + b) / 2.0).abs() < 1e-17, "cosine: the mean halfway");
    let constant = LrScheduler::new(Schedule::Constant, a, b, epochs);
    assert_eq!((constant.lr(0), constant.lr(epochs - 1)), (a, a));
    assert_eq!(LrScheduler::new(Schedule::Cosine, a, b, 1).lr(0), a);
}

#[test]
fn plateau_divides_by_ten_after_ten_stale_epochs() {
    let mut s = LrScheduler::new(Schedule::Plateau, 1e-3, 2e-5, 1000);
    s.observe(true);
    for _ in 0..9 {
        s.observe(false);
    }
    assert_eq!(s.lr(10), 1e-3, "nine stale epochs: unchanged");
    s.observe(true);
    for _ in 0..10 {
        s.observe(false);
    }
    assert!((s.lr(21) - 1e-4).abs() < 1e-18);
    for _ in 0..10 {
        s.observe(false);
    }
    assert_eq!(s.lr(31), 2e-5, "never below final");
    for _ in 0..30 {
        s.observe(false);
    }
    assert_eq!(s.lr(61), 2e-5);
}

#[test]
fn plateau_schedule_runs_in_training() {
    let config = TrainConfig { schedule: Schedule::Plateau, epochs: 30, lr_final: 1e-5, ..small_config() };
    let outcome = run(&config, 128, 64);
    assert_eq!(outcome.history[0].lr, 3e-3);
    assert!(outcome.history.iter().all(|r| r.lr <= 3e-3 && r.lr >= 1e-5));
}

fn parameters_error(result: Result<TrainOutcome, Error>) -> String {
    match result {
        Err(Error::Parameters(m)) => m,
        Err(e) => panic!("expected a Parameters error, got {e}"),
        Ok(_) => panic!("expected a Parameters error, got a result"),
    }
}

#[test]
fn bad_input_is_refused_with_a_clear_message() {
    let (x, y) = smooth_data(10, 1);
    let c = TrainConfig { epochs: 1, ..small_config() };
    let ok = |_: &zelos::train::EpochReport| true;
    let m = parameters_error(train(&x, &y, 0, &x, &y, 10, &c, &mut ok.clone()));
    assert!(m.contains("n = 0"), "{m}");
    let m = parameters_error(train(&x, &y, 10, &x, &y, 0, &c, &mut ok.clone()));
    assert!(m.contains("n_val = 0"), "{m}");
    let m = parameters_error(train(&x[..19], &y, 10, &x, &y, 10, &c, &mut ok.clone()));
    assert!(m.contains("x has 19 values"), "{m}");
    let m = parameters_error(train(&x, &y, 10, &x, &y[..27], 10, &c, &mut ok.clone()));
    assert!(m.contains("y_val has 27 values"), "{m}");
    let mut nan = y.clone();
    nan[3 * 4 + 2] = f32::NAN;
    let m = parameters_error(train(&x, &nan, 10, &x, &y, 10, &c, &mut ok.clone()));
    assert!(m.contains("y[4, 2] is NaN"), "{m}");
    let mut inf = x.clone();
    inf[1] = f32::INFINITY;
    let m = parameters_error(train(&x, &y, 10, &inf, &y, 10, &c, &mut ok.clone()));
    assert!(m.contains("x_val[0, 1] is inf"), "{m}");
    for (bad, what) in [
        (TrainConfig { epochs: 0, ..c.clone() }, "epochs"),
        (TrainConfig { batch_size: 0, ..c.clone() }, "batch_size"),
        (TrainConfig { widths: vec![8, 0], ..c.clone() }, "widths[1]"),
        (TrainConfig { lr_initial: -1.0, ..c.clone() }, "lr_initial"),
        (TrainConfig { lr_final: 1.0, ..c.clone() }, "lr_final"),
        (TrainConfig { patience: Some(0), ..c.clone() }, "patience"),
        (TrainConfig { weight_decay: f64::NAN, ..c.clone() }, "weight_decay"),
    ] {
        let m = parameters_error(train(&x, &y, 10, &x, &y, 10, &bad, &mut ok.clone()));
        assert!(m.contains(what), "{what}: {m}");
    }
}

#[test]
fn batch_larger_than_data_and_no_hidden_layer_work() {
    // A linear model fits a linear target exactly.
    let mut rng = SplitMix::new(9);
    let n = 50;
    let x: Vec<f32> = (0..2 * n).map(|_| rng.symmetric(1.0) as f32).collect();
    let y: Vec<f32> = x.chunks(2).map(|p| 0.5 * p[0] - 2.0 * p[1] + 0.25).collect();
    let config = TrainConfig {
        widths: vec![],
        batch_size: 1000,
        epochs: 3000,
        lr_initial: 3e-2,
        lr_final: 1e-4,
        ..small_config()
    };
    let outcome = train(&x, &y, n, &x, &y, n, &config, &mut |_| true).unwrap();
    assert!(outcome.best_val_loss < 1e-6, "{}", outcome.best_val_loss);
    let w = outcome.mlp.layers[0].weight();
    assert!((w[0] - 0.5).abs() < 1e-2 && (w[1] + 2.0).abs() < 1e-2, "{w:?}");
}

#[test]
fn weight_decay_shrinks_weights() {
    let plain = run(&TrainConfig { epochs: 20, ..small_config() }, 256, 64);
    let decayed = run(&TrainConfig { epochs: 20, weight_decay: 5.0, ..small_config() }, 256, 64);
    let norm = |o: &TrainOutcome| {
        o.mlp.layers.iter().flat_map(|l| l.weight_t.iter()).map(|w| (*w as f64).powi(2)).sum::<f64>()
    };
    assert!(norm(&decayed) < 0.8 * norm(&plain), "{} vs {}", norm(&decayed), norm(&plain));
}

#[test]
fn all_cores_and_more_threads_than_points_work() {
    // threads = 0 means one per core; 64 threads are capped by the batch (16 points a worker).
    for threads in [0, 64] {
        let outcome = run(&TrainConfig { threads, epochs: 3, batch_size: 40, ..small_config() }, 100, 50);
        assert_eq!(outcome.history.len(), 3);
        assert!(outcome.best_val_loss.is_finite());
    }
}

/// The config the Python binding passes, read by the core: every key, and the defaults for
/// those missing.
#[test]
fn a_config_object_is_read_by_the_core() {
    let read = |text: &str| TrainConfig::from_json(&serde_json::from_str(text).unwrap());
    assert_eq!(read("{}").unwrap(), TrainConfig::default());
    let c = read(
        r#"{"widths": [32, 16], "activation": "cosmopower", "epochs": 5, "batch_size": 8, "lr_initial": 1,
            "lr_final": 1e-4, "schedule": "plateau", "patience": null, "seed": 9, "threads": 2, "weight_decay": 0.5}"#,
    )
    .unwrap();
    let expected = TrainConfig {
        widths: vec![32, 16],
        activation: Activation::Cosmopower,
        epochs: 5,
        batch_size: 8,
        lr_initial: 1.0,
        lr_final: 1e-4,
        schedule: Schedule::Plateau,
        patience: None,
        seed: 9,
        threads: 2,
        weight_decay: 0.5,
    };
    assert_eq!(c, expected);
    assert_eq!(read(r#"{"patience": 7}"#).unwrap().patience, Some(7));
    for activation in Activation::ALL {
        assert_eq!(read(&format!(r#"{{"activation": "{activation}"}}"#)).unwrap().activation, *activation);
    }
}

/// Each refusal names the key, what it must be and what it got.
#[test]
fn a_bad_config_object_names_the_key() {
    let error = |text: &str| TrainConfig::from_json(&serde_json::from_str(text).unwrap()).unwrap_err().to_string();
    let cases = [
        (r#"{"activation": "sigmoidish"}"#, r#"training config: 'activation' must be one of 'tanh', 'relu', 'silu', 'cosmopower', got "sigmoidish""#),
        (r#"{"schedule": 3}"#, "training config: 'schedule' must be one of 'constant', 'cosine', 'exponential', 'plateau', got 3"),
        (r#"{"widths": [32, -1]}"#, "training config: 'widths' must be a list of positive integers, got [32,-1]"),
        (r#"{"epochs": 2.5}"#, "training config: 'epochs' must be a non-negative integer, got 2.5"),
        (r#"{"epochs": true}"#, "training config: 'epochs' must be a non-negative integer, got true"),
        (r#"{"lr_initial": "fast"}"#, r#"training config: 'lr_initial' must be a number, got "fast""#),
        (r#"{"patience": "never"}"#, r#"training config: 'patience' must be a non-negative integer or None, got "never""#),
        (r#"{"seed": -1}"#, "training config: 'seed' must be a non-negative integer, got -1"),
        (r#"{"learning_rate": 1}"#, "training config: unknown key 'learning_rate' (allowed: widths, activation, epochs, batch_size, lr_initial, lr_final, schedule, patience, seed, threads, weight_decay)"),
        (r#"[1, 2]"#, "training config: expected an object of settings, got [1,2]"),
        // Read, then checked: a well-formed but unusable setting.
        (r#"{"epochs": 0}"#, "training config: epochs must be at least 1"),
        (r#"{"widths": [8, 0]}"#, "training config: widths[1] is 0; every hidden layer needs at least one unit"),
    ];
    for (text, message) in cases {
        let got = error(text);
        assert!(got.ends_with(message), "{text}: {got}");
    }
}
