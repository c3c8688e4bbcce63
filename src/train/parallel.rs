//! One epoch of mini-batch steps on `workers` threads.
//!
//! The workers live for the whole epoch (spawning threads for every step would cost more than
//! a small step). Each step has two phases, separated by a barrier:
//!
//! 1. **gradient**: worker `w` computes the gradient of its share of the batch's points into
//!    its own buffer `grads[w]`, reading the parameters;
//! 2. **update**: worker `w` owns a fixed slice of the parameter vector: it sums that slice of
//!    every worker's gradient (in worker order, so results do not depend on timing) and takes
//!    the Adam step on it.
//!
//! So within a phase no two workers write the same element and nobody reads what another
//! writes; the barriers order the phases. That is the invariant the `unsafe` blocks rely on.

use std::marker::PhantomData;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use super::adam::{Adam, AdamStep};
use super::backprop::{accumulate_gradient, Workspace};
use super::layout::Layout;
use super::simd::vectorized;

/// What one epoch is asked to do.
pub struct EpochJob<'a> {
    pub layout: &'a Layout,
    pub x: &'a [f32],
    pub y: &'a [f32],
    /// The epoch's order of the training points; consecutive `batch_size` runs are the batches.
    pub order: &'a [usize],
    pub batch_size: usize,
    pub lr: f64,
    pub weight_decay: f64,
    /// Points per forward/backward block (see [`Workspace`]).
    pub block_rows: usize,
}

/// What one epoch did.
#[derive(Debug, Default, Clone, Copy)]
pub struct EpochStats {
    /// Sum of squared errors over the points of completed steps (before each step's update).
    pub sse: f64,
    pub samples: usize,
    pub steps: u64,
    /// A batch's loss was not finite: the epoch stopped before that batch's update.
    pub non_finite: bool,
}

/// Runs one epoch, updating `params` and `adam` in place.
pub fn run_epoch(job: &EpochJob<'_>, params: &mut [f32], adam: &mut Adam<f32>, workers: usize) -> EpochStats {
    let workers = workers.max(1);
    let p = params.len();
    let mut grads = vec![0.0f32; workers * p];
    let shared = Shared {
        params: SharedSlice::new(params),
        m: SharedSlice::new(&mut adam.m),
        v: SharedSlice::new(&mut adam.v),
        grads: SharedSlice::new(&mut grads),
        sse: (0..workers).map(|_| AtomicU64::new(0)).collect(),
        barrier: SpinBarrier::new(workers),
        steps_before: adam.steps,
        workers,
    };
    let stats = std::thread::scope(|s| {
        for w in 1..workers {
            let shared = &shared;
            s.spawn(move || worker(w, job, shared));
        }
        worker(0, job, &shared)
    });
    adam.steps += stats.steps;
    stats
}

/// State the workers of an epoch share; see the module docs for who touches what when.
struct Shared<'a> {
    params: SharedSlice<'a, f32>,
    m: SharedSlice<'a, f32>,
    v: SharedSlice<'a, f32>,
    /// `workers` gradient buffers of `params.len()` each, back to back.
    grads: SharedSlice<'a, f32>,
    /// Each worker's sum of squared errors for the current batch (f64 bits).
    sse: Vec<AtomicU64>,
    barrier: SpinBarrier,
    steps_before: u64,
    workers: usize,
}

/// The `part`-th of `parts` near-equal contiguous pieces of `0..len`.
fn piece(len: usize, parts: usize, part: usize) -> Range<usize> {
    len * part / parts..len * (part + 1) / parts
}

fn worker(w: usize, job: &EpochJob<'_>, sh: &Shared<'_>) -> EpochStats {
    let layout = job.layout;
    let p = sh.params.len;
    let _poison = PoisonOnPanic(&sh.barrier);
    let mut ws = Workspace::new(layout, job.block_rows);
    let own = piece(p, sh.workers, w);
    let mut stats = EpochStats::default();
    for (step, batch) in job.order.chunks(job.batch_size).enumerate() {
        // Phase 1: the gradient of this worker's points.
        {
            // SAFETY: in this phase parameters are only read, and grads[w] is only touched by w.
            let params = unsafe { sh.params.get(0..p) };
            let grad = unsafe { sh.grads.get_mut(w * p..(w + 1) * p) };
            grad.fill(0.0);
            let mine = &batch[piece(batch.len(), sh.workers, w)];
            let sse = accumulate_gradient(layout, params, job.x, job.y, mine, batch.len(), grad, &mut ws);
            sh.sse[w].store(sse.to_bits(), Ordering::Relaxed);
        }
        sh.barrier.wait();
        // Every worker sums the same values in the same order, so all take the same decision.
        let batch_sse: f64 = sh.sse.iter().map(|s| f64::from_bits(s.load(Ordering::Relaxed))).sum();
        if !batch_sse.is_finite() {
            stats.non_finite = true;
            return stats;
        }
        stats.sse += batch_sse;
        stats.samples += batch.len();
        stats.steps += 1;
        // Phase 2: sum and apply the gradient on this worker's slice of the parameters.
        {
            // SAFETY: in this phase worker w alone touches elements `own` of params, m, v and
            // of grads[0], and only reads elements `own` of the other gradient buffers.
            let total = unsafe { sh.grads.get_mut(own.clone()) };
            for v in 1..sh.workers {
                let other = unsafe { sh.grads.get(v * p + own.start..v * p + own.end) };
                vectorized(|| {
                    for (t, &g) in total.iter_mut().zip(other) {
                        *t += g;
                    }
                });
            }
            let params = unsafe { sh.params.get_mut(own.clone()) };
            let m = unsafe { sh.m.get_mut(own.clone()) };
            let v = unsafe { sh.v.get_mut(own.clone()) };
            let adam = AdamStep::<f32>::new(sh.steps_before + step as u64 + 1, job.lr, job.weight_decay);
            // Weight matrices (the first n_weights parameters) decay; the rest do not.
            let k = layout.n_weights.clamp(own.start, own.end) - own.start;
            let (p_w, p_o) = params.split_at_mut(k);
            let (g_w, g_o) = total.split_at(k);
            let (m_w, m_o) = m.split_at_mut(k);
            let (v_w, v_o) = v.split_at_mut(k);
            vectorized(|| {
                adam.apply(p_w, g_w, m_w, v_w, true);
                adam.apply(p_o, g_o, m_o, v_o, false);
            });
        }
        sh.barrier.wait();
    }
    stats
}

/// A slice handed to several threads, each of which borrows disjoint parts of it (or all of
/// it read-only) at times a barrier keeps apart. The caller of `get`/`get_mut` promises that.
struct SharedSlice<'a, T> {
    ptr: *mut T,
    len: usize,
    _borrow: PhantomData<&'a mut [T]>,
}

// SAFETY: access is coordinated by the callers of the unsafe accessors (see the module docs).
unsafe impl<T: Send + Sync> Sync for SharedSlice<'_, T> {}
unsafe impl<T: Send + Sync> Send for SharedSlice<'_, T> {}

impl<'a, T> SharedSlice<'a, T> {
    fn new(slice: &'a mut [T]) -> Self {
        SharedSlice { ptr: slice.as_mut_ptr(), len: slice.len(), _borrow: PhantomData }
    }

    /// # Safety
    /// Nobody writes `range` while the returned slice lives.
    unsafe fn get(&self, range: Range<usize>) -> &[T] {
        assert!(range.start <= range.end && range.end <= self.len);
        std::slice::from_raw_parts(self.ptr.add(range.start), range.len())
    }

    /// # Safety
    /// Nobody else reads or writes `range` while the returned slice lives.
    #[allow(clippy::mut_from_ref)]
    unsafe fn get_mut(&self, range: Range<usize>) -> &mut [T] {
        assert!(range.start <= range.end && range.end <= self.len);
        std::slice::from_raw_parts_mut(self.ptr.add(range.start), range.len())
    }
}

/// A barrier for the two phases of every step. A step lasts well under a millisecond, and
/// waking a sleeping thread (all `std::sync::Barrier` does) costs tens of microseconds, so
/// waiters first spin for a while; then they sleep, so that a core shared with other work (or
/// more workers than free cores) is not burnt spinning.
struct SpinBarrier {
    threads: usize,
    arrived: AtomicUsize,
    generation: AtomicUsize,
    /// Waiters that gave up spinning and sleep (or are about to) on `wake`.
    sleepers: AtomicUsize,
    /// A worker panicked: the others must not wait for it forever.
    poisoned: AtomicBool,
    lock: Mutex<()>,
    wake: Condvar,
}

impl SpinBarrier {
    /// How long a waiter spins before it sleeps.
    const SPIN: Duration = Duration::from_micros(50);

    fn new(threads: usize) -> Self {
        SpinBarrier {
            threads,
            arrived: AtomicUsize::new(0),
            generation: AtomicUsize::new(0),
            sleepers: AtomicUsize::new(0),
            poisoned: AtomicBool::new(false),
            lock: Mutex::new(()),
            wake: Condvar::new(),
        }
    }

    fn wait(&self) {
        if self.threads == 1 {
            return;
        }
        let generation = self.generation.load(Ordering::SeqCst);
        if self.arrived.fetch_add(1, Ordering::SeqCst) + 1 == self.threads {
            // The last to arrive resets the count, then releases the others (whose next
            // `fetch_add` comes after they see the new generation, hence after the reset).
            self.arrived.store(0, Ordering::SeqCst);
            self.generation.fetch_add(1, Ordering::SeqCst);
            // A sleeper registers before its last look at the generation, so either it sees
            // the new one or it is counted here (SeqCst orders the two).
            if self.sleepers.load(Ordering::SeqCst) > 0 {
                drop(self.lock.lock().unwrap_or_else(|e| e.into_inner()));
                self.wake.notify_all();
            }
            return;
        }
        let start = Instant::now();
        let mut spins = 0u32;
        while self.generation.load(Ordering::SeqCst) == generation {
            self.check_poison();
            std::hint::spin_loop();
            spins += 1;
            if spins & 63 == 0 && start.elapsed() > Self::SPIN {
                self.sleep(generation);
                return;
            }
        }
    }

    fn sleep(&self, generation: usize) {
        let mut guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        self.sleepers.fetch_add(1, Ordering::SeqCst);
        while self.generation.load(Ordering::SeqCst) == generation {
            self.check_poison();
            guard = self.wake.wait(guard).unwrap_or_else(|e| e.into_inner());
        }
        self.sleepers.fetch_sub(1, Ordering::SeqCst);
    }

    fn check_poison(&self) {
        if self.poisoned.load(Ordering::Relaxed) {
            panic!("another training worker panicked");
        }
    }

    /// Releases every waiter, for good, with a panic of its own.
    fn poison(&self) {
        self.poisoned.store(true, Ordering::SeqCst);
        drop(self.lock.lock().unwrap_or_else(|e| e.into_inner()));
        self.wake.notify_all();
    }
}

/// Poisons the barrier if the worker holding it unwinds, so that the scope can end and the
/// panic reach the caller instead of a deadlock.
struct PoisonOnPanic<'a>(&'a SpinBarrier);

impl Drop for PoisonOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.poison();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_cover_the_range() {
        for (len, parts) in [(0, 1), (5, 2), (7, 3), (100, 7), (3, 4)] {
            let mut next = 0;
            for part in 0..parts {
                let r = piece(len, parts, part);
                assert_eq!(r.start, next);
                next = r.end;
            }
            assert_eq!(next, len);
        }
    }

    #[test]
    fn a_panicking_worker_does_not_hang_the_others() {
        let barrier = SpinBarrier::new(2);
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            std::thread::scope(|s| {
                s.spawn(|| {
                    let _poison = PoisonOnPanic(&barrier);
                    std::thread::sleep(Duration::from_millis(5));
                    panic!("worker failure");
                });
                barrier.wait();
            })
        }));
        assert!(result.is_err());
    }

    #[test]
    fn barrier_orders_phases() {
        let barrier = SpinBarrier::new(3);
        let counter = AtomicUsize::new(0);
        std::thread::scope(|s| {
            for _ in 0..3 {
                s.spawn(|| {
                    for round in 0..200 {
                        counter.fetch_add(1, Ordering::Relaxed);
                        barrier.wait();
                        assert_eq!(counter.load(Ordering::Relaxed), 3 * (round + 1));
                        barrier.wait();
                    }
                });
            }
        });
    }
}
