//! The training loop: epochs of shuffled mini-batches, validation, the schedule, early stopping
//! and the best-epoch snapshot.

use std::time::Instant;

use super::adam::Adam;
use super::backprop::{sum_squared_errors, Workspace};
use super::layout::Layout;
use super::network::Network;
use super::parallel::{run_epoch, EpochJob};
use super::rng::SplitMix;
use super::schedule::LrScheduler;
use super::{data, TrainConfig};
use crate::nn::Mlp;
use crate::Error;

/// Points per forward/backward block of one worker (and per validation forward pass): the
/// block's activations stay in cache, and for widths up to 128 its GEMMs need no tiling to stay
/// single-threaded (see `gemm`). Measured on 6 -> 4 x 128 -> 100: 32 and 128 rows are slower.
const BLOCK_ROWS: usize = 64;

/// A worker gets at least this many points of a batch: below, the barriers cost more than
/// another core gains (measured on 2 cores: 2 workers of 16 points still beat 1 of 32).
const MIN_ROWS_PER_WORKER: usize = 16;

/// What happened in one epoch (epochs count from 0).
#[derive(Debug, Clone, PartialEq)]
pub struct EpochReport {
    pub epoch: usize,
    /// Mean squared error over the epoch's mini-batches, each measured before its update.
    pub train_loss: f64,
    /// Mean squared error on the validation set after the epoch.
    pub val_loss: f64,
    /// The learning rate used in this epoch.
    pub lr: f64,
    /// Wall time of the epoch, validation included.
    pub seconds: f64,
}

/// Why training stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// Every epoch ran.
    Completed,
    /// `patience` epochs passed without validation improvement.
    EarlyStopped { best_epoch: usize },
    /// A training or validation loss was NaN or infinite in this epoch (the returned weights
    /// are those of the best epoch before it, or the initial ones).
    NonFinite { epoch: usize },
    /// The epoch callback asked to stop.
    Cancelled,
}

/// The result of [`train`]: always the weights of the best validation epoch.
#[derive(Debug, Clone)]
pub struct TrainOutcome {
    pub mlp: Mlp<f32>,
    /// The epoch whose weights `mlp` holds (0 also when no epoch finished with a finite loss;
    /// then `mlp` holds the initial weights and `best_val_loss` is their validation loss).
    pub best_epoch: usize,
    pub best_val_loss: f64,
    pub history: Vec<EpochReport>,
    pub stop: StopReason,
    /// Training points processed per second of forward, backward and update passes
    /// (validation and callbacks excluded).
    pub samples_per_second: f64,
}

/// Trains `d_in -> config.widths... -> d_out` on `x [n, d_in]`, `y [n, d_out]` (row-major,
/// normalised), minimising the mean squared error with Adam, and validating on `x_val`,
/// `y_val` after every epoch.
///
/// `on_epoch` is called after every epoch (also the one that went non-finite); returning
/// `false` stops training with [`StopReason::Cancelled`].
///
/// With the same data, `config` and resolved thread count, the result is bit-identical.
#[allow(clippy::too_many_arguments)]
pub fn train(
    x: &[f32],
    y: &[f32],
    n: usize,
    x_val: &[f32],
    y_val: &[f32],
    n_val: usize,
    config: &TrainConfig,
    on_epoch: &mut dyn FnMut(&EpochReport) -> bool,
) -> Result<TrainOutcome, Error> {
    config.check()?;
    let shapes = data::check(x, y, n, x_val, y_val, n_val)?;
    let layout = Layout::new(shapes.d_in, &config.widths, shapes.d_out, config.activation);
    // Two independent streams from the seed: initial weights and shuffling.
    let mut root = SplitMix::new(config.seed);
    let mut net = Network::<f32>::init(layout, root.next_u64());
    let mut shuffler = SplitMix::new(root.next_u64());

    let threads = config.resolved_threads();
    let batch = config.batch_size.min(n);
    let workers = threads.min(batch / MIN_ROWS_PER_WORKER).max(1);
    let mut adam = Adam::new(net.layout.n_params);
    let mut scheduler = LrScheduler::new(config.schedule, config.lr_initial, config.lr_final, config.epochs);
    let mut order: Vec<usize> = (0..n).collect();

    // The initial weights are the fallback should no epoch end with a finite loss.
    let mut best_params = net.params.clone();
    let initial_val = validation_loss(&net, x_val, y_val, n_val, threads);
    let (mut best_epoch, mut best_val) = (0, f64::INFINITY);
    let mut history = Vec::new();
    let mut stop = StopReason::Completed;
    let (mut trained, mut train_seconds) = (0usize, 0.0f64);

    for epoch in 0..config.epochs {
        let start = Instant::now();
        let lr = scheduler.lr(epoch);
        shuffle(&mut order, &mut shuffler);
        let job = EpochJob {
            layout: &net.layout,
            x,
            y,
            order: &order,
            batch_size: batch,
            lr,
            weight_decay: config.weight_decay,
            block_rows: BLOCK_ROWS,
        };
        let stats = run_epoch(&job, &mut net.params, &mut adam, workers);
        train_seconds += start.elapsed().as_secs_f64();
        trained += stats.samples;

        let (train_loss, val_loss) = if stats.non_finite {
            (f64::NAN, f64::NAN)
        } else {
            let train_loss = stats.sse / (stats.samples * shapes.d_out) as f64;
            (train_loss, validation_loss(&net, x_val, y_val, n_val, threads))
        };
        let report = EpochReport { epoch, train_loss, val_loss, lr, seconds: start.elapsed().as_secs_f64() };
        let finite = train_loss.is_finite() && val_loss.is_finite();
        // A finite loss from non-finite weights (an infinite weight on a dead unit) would still
        // poison the archive: check before keeping them.
        let improved = finite && val_loss < best_val && net.params.iter().all(|p| p.is_finite());
        if improved {
            best_params.copy_from_slice(&net.params);
            (best_epoch, best_val) = (epoch, val_loss);
        }
        scheduler.observe(improved);
        history.push(report.clone());
        let go_on = on_epoch(&report);
        if !finite {
            stop = StopReason::NonFinite { epoch };
            break;
        }
        if !go_on {
            stop = StopReason::Cancelled;
            break;
        }
        if config.patience.is_some_and(|p| epoch - best_epoch >= p) {
            stop = StopReason::EarlyStopped { best_epoch };
            break;
        }
    }

    if best_val == f64::INFINITY {
        best_val = initial_val;
    }
    net.params = best_params;
    Ok(TrainOutcome {
        mlp: net.to_mlp(),
        best_epoch,
        best_val_loss: best_val,
        history,
        stop,
        samples_per_second: if train_seconds > 0.0 { trained as f64 / train_seconds } else { 0.0 },
    })
}

/// Fisher-Yates, drawing each index with a multiply-shift (no modulo bias worth the name).
fn shuffle(order: &mut [usize], rng: &mut SplitMix) {
    for i in (1..order.len()).rev() {
        let j = ((rng.next_u64() as u128 * (i as u128 + 1)) >> 64) as usize;
        order.swap(i, j);
    }
}

/// The mean squared error of the network on `x [n, d_in]`, `y [n, d_out]`: the trainer's
/// batched forward pass (what inference computes, up to the order of float sums in wide
/// layers), the points split into `threads` contiguous runs, summed in a fixed order.
pub fn validation_loss(net: &Network<f32>, x: &[f32], y: &[f32], n: usize, threads: usize) -> f64 {
    let workers = threads.clamp(1, n.div_ceil(BLOCK_ROWS));
    let sse_of = |rows: std::ops::Range<usize>| {
        let mut ws = Workspace::new(&net.layout, BLOCK_ROWS);
        sum_squared_errors(&net.layout, &net.params, x, y, rows, &mut ws)
    };
    // Each worker takes a run of whole blocks.
    let blocks = n.div_ceil(BLOCK_ROWS);
    let run = |w: usize| (blocks * w / workers * BLOCK_ROWS).min(n)..(blocks * (w + 1) / workers * BLOCK_ROWS).min(n);
    let sse: f64 = if workers == 1 {
        sse_of(0..n)
    } else {
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..workers).map(|w| s.spawn(move || sse_of(run(w)))).collect();
            handles.into_iter().map(|h| h.join().expect("a validation worker panicked")).sum()
        })
    };
    sse / (n * net.layout.d_out()) as f64
}
