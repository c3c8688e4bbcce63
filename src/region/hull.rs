//! The `hull` method: exact membership of the convex hull of the training points.
//!
//! The points are stored whitened (`z = W (p - mean)`, with `W` the inverse Cholesky factor of
//! their covariance), so distances are in standard deviations and the method is invariant to
//! the parameters' units. A query `x` is decided by finding the point of the hull nearest to
//! `z = W (x - mean)` with Wolfe's minimum-norm-point algorithm on the translated points
//! `q_i = z_i - z`, run as column generation:
//!
//! 1. a small working set `S` (the training points of the last query this thread asked about,
//!    then the `k` nearest neighbours of `z`) stands in for all `N` points, and Wolfe's
//!    algorithm finds the point `y` of `conv(S)` nearest to `z`;
//! 2. `|y| <= tol` is an exact certificate of membership: `z` is (within `tol`) a convex
//!    combination of at most `d + 1` training points. No pass over all points is needed, so a
//!    chain that moves a little between calls pays microseconds;
//! 3. otherwise one pass over all `N` points (vectorised) looks for points `q_i` with
//!    `<y, q_i> < |y|^2`. None: `y` is the nearest point of the whole hull, the hyperplane
//!    through `y` normal to `z - y` separates `z` from every training point (an exact
//!    certificate that `z` is outside), and `|y|` is its exact distance to the hull. Some: the
//!    most violating ones join `S` and step 1 runs again from where it was.
//!
//! Every round strictly shortens `|y|`, so the loop ends; a cap on rounds guards against
//! rounding, and a point still undecided then is reported outside (so the real code computes
//! it). Tolerance: a point within `1e-9` standard deviations of the hull counts as inside.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};

use super::linalg;

/// Distance (in standard deviations) within which a point counts as inside.
pub const TOLERANCE: f64 = 1e-9;
const TOL2: f64 = TOLERANCE * TOLERANCE;
/// Relative slack of the optimality test `<y, q> >= |y|^2 - EPS * scale`.
const EPS: f64 = 1e-12;
/// Barycentric weights below this are taken as zero.
const WEIGHT_EPS: f64 = 1e-12;
const CHUNK: usize = 256;
const MAX_ROUNDS: usize = 200;
const CACHE_ENTRIES: usize = 8;

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

thread_local! {
    /// Per thread: (hull id, the working set of the last query). Chains move a little between
    /// calls, so last time's points usually certify this time's point.
    static CACHE: RefCell<Vec<(u64, Vec<u32>)>> = const { RefCell::new(Vec::new()) };
}

/// The convex hull of `n` training points in `d` dimensions, whitened.
#[derive(Debug)]
pub struct Hull {
    id: u64,
    d: usize,
    n: usize,
    mean: Vec<f64>,
    whitening: Vec<f64>,
    /// Structure of arrays: `cols[j * n + i]` is coordinate `j` of whitened point `i`.
    cols: Vec<f64>,
    /// Neighbours seeding a cold query.
    k: usize,
}

impl Clone for Hull {
    fn clone(&self) -> Self {
        Hull { id: NEXT_ID.fetch_add(1, Ordering::Relaxed), ..self.clone_fields() }
    }
}

/// The answer for one point.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HullAnswer {
    pub inside: bool,
    /// Euclidean distance from the whitened point to the hull (standard deviations); 0 inside.
    pub distance: f64,
    /// False when the rounds ran out (rounding trouble): then `inside` is false.
    pub decided: bool,
    /// Passes over all training points this answer took (0 for a cached certificate).
    pub passes: u32,
}

impl Hull {
    /// `points` row-major `[n, d]`; `mean` and `whitening` (`L^{-1}`, lower triangular) as for
    /// the Mahalanobis method.
    pub fn new(points: &[f64], n: usize, mean: Vec<f64>, whitening: Vec<f64>) -> Hull {
        let d = mean.len();
        assert_eq!(points.len(), n * d, "points are [n, d]");
        let mut cols = vec![0.0; n * d];
        let mut z = vec![0.0; d];
        for (i, p) in points.chunks_exact(d).enumerate() {
            linalg::whiten(&whitening, &mean, p, &mut z);
            for j in 0..d {
                cols[j * n + i] = z[j];
            }
        }
        Hull { id: NEXT_ID.fetch_add(1, Ordering::Relaxed), d, n, mean, whitening, cols, k: (2 * d + 2).min(n) }
    }

    fn clone_fields(&self) -> Hull {
        Hull {
            id: self.id,
            d: self.d,
            n: self.n,
            mean: self.mean.clone(),
            whitening: self.whitening.clone(),
            cols: self.cols.clone(),
            k: self.k,
        }
    }

    pub fn n_points(&self) -> usize {
        self.n
    }
    pub fn dimension(&self) -> usize {
        self.d
    }
    /// Sets how many nearest neighbours seed a cold query (default `2 d + 2`).
    pub fn set_neighbours(&mut self, k: usize) {
        self.k = k.clamp(1, self.n);
    }

    /// Decides `x` (parameter space).
    pub fn check(&self, x: &[f64]) -> HullAnswer {
        let mut z = vec![0.0; self.d];
        linalg::whiten(&self.whitening, &self.mean, x, &mut z);
        let cached = CACHE.with(|c| c.borrow().iter().find(|(id, _)| *id == self.id).map(|(_, s)| s.clone()));
        let mut w = Work::new(self, z);
        let answer = self.solve(&mut w, cached.as_deref());
        // Remember the working set, the corral first (the points that certified this answer).
        let mut keep: Vec<u32> = w.corral.iter().map(|&c| w.s_idx[c]).collect();
        for &i in &w.s_idx {
            if keep.len() >= 4 * (self.d + 1) {
                break;
            }
            if !keep.contains(&i) {
                keep.push(i);
            }
        }
        CACHE.with(|c| {
            let mut c = c.borrow_mut();
            c.retain(|(id, _)| *id != self.id);
            if c.len() >= CACHE_ENTRIES {
                c.remove(0);
            }
            c.push((self.id, keep));
        });
        answer
    }

    fn solve(&self, w: &mut Work, cached: Option<&[u32]>) -> HullAnswer {
        let mut passes = 0;
        let mut seeded_by_neighbours = false;
        match cached {
            Some(s) if !s.is_empty() => {
                for &i in s {
                    w.add(self, i);
                }
            }
            _ => {
                for i in self.nearest(&w.z) {
                    w.add(self, i);
                }
                passes += 1;
                seeded_by_neighbours = true;
            }
        }
        if w.s_idx.is_empty() {
            // No training point at a finite squared distance: `z` is so far out (|z|^2 beyond
            // the largest double) that it is outside, whatever the hull.
            return HullAnswer { inside: false, distance: f64::INFINITY, decided: true, passes };
        }
        w.start();
        for _ in 0..MAX_ROUNDS {
            let end = w.wolfe();
            match end {
                End::Inside => return HullAnswer { inside: true, distance: 0.0, decided: true, passes },
                End::Converged | End::Stalled => {}
            }
            if !seeded_by_neighbours {
                // The cached set did not certify the point: bring in its neighbourhood.
                seeded_by_neighbours = true;
                passes += 1;
                let before = w.s_idx.len();
                for i in self.nearest(&w.z) {
                    w.add(self, i);
                }
                if w.s_idx.len() > before {
                    continue;
                }
            }
            passes += 1;
            let (violators, least) = self.violators(w);
            let yy = dot(&w.y, &w.y);
            if violators.is_empty() {
                return HullAnswer { inside: false, distance: yy.sqrt(), decided: true, passes };
            }
            let mut added = false;
            for i in violators {
                added |= w.add(self, i);
            }
            if !added {
                // Wolfe stalled on rounding. `y` is not proven nearest, but if the hyperplane
                // normal to it separates, the point is outside all the same (at a distance
                // between `least / |y|` and `|y|`; the latter is reported).
                if least > 0.0 {
                    return HullAnswer { inside: false, distance: yy.sqrt(), decided: true, passes };
                }
                break;
            }
        }
        let yy = dot(&w.y, &w.y);
        HullAnswer { inside: false, distance: yy.sqrt(), decided: false, passes }
    }

    /// The `k` training points nearest to `z` (one pass).
    fn nearest(&self, z: &[f64]) -> Vec<u32> {
        let k = self.k;
        let mut best: Vec<(f64, u32)> = Vec::with_capacity(k);
        let mut worst = f64::INFINITY;
        let mut worst_at = 0;
        let mut buf = [0.0f64; CHUNK];
        let mut start = 0;
        while start < self.n {
            let len = CHUNK.min(self.n - start);
            let g = &mut buf[..len];
            let least = squared_distances(&self.cols, self.n, start, z, g);
            if least < worst {
                for (t, &v) in g.iter().enumerate() {
                    if v < worst {
                        if best.len() < k {
                            best.push((v, (start + t) as u32));
                            if best.len() == k {
                                (worst_at, worst) = argmax(&best);
                            }
                        } else {
                            best[worst_at] = (v, (start + t) as u32);
                            (worst_at, worst) = argmax(&best);
                        }
                    }
                }
            }
            start += len;
        }
        best.sort_by(|a, b| a.0.total_cmp(&b.0));
        best.into_iter().map(|(_, i)| i).collect()
    }

    /// One pass: up to `d + 1` points most violating `<y, q_i> >= |y|^2 - slack`, worst first,
    /// and the least `<y, q_i>` (positive: the hyperplane normal to `y` separates `z` from
    /// every training point).
    fn violators(&self, w: &Work) -> (Vec<u32>, f64) {
        let yy = dot(&w.y, &w.y);
        let slack = EPS * w.scale.max(1.0);
        // <y, z_i - z> < yy - slack  <=>  <y, z_i> < threshold
        let threshold = dot(&w.y, &w.z) + yy - slack;
        let m = self.d + 1;
        let mut found: Vec<(f64, u32)> = Vec::with_capacity(m);
        let mut buf = [0.0f64; CHUNK];
        let mut start = 0;
        let mut limit = threshold;
        let mut least = f64::INFINITY;
        while start < self.n {
            let len = CHUNK.min(self.n - start);
            let g = &mut buf[..len];
            let chunk_least = projections(&self.cols, self.n, start, &w.y, g);
            least = least.min(chunk_least);
            if chunk_least >= limit {
                start += len;
                continue;
            }
            for (t, &v) in g.iter().enumerate() {
                if v < limit {
                    if found.len() == m {
                        let (at, _) = argmax(&found);
                        found[at] = (v, (start + t) as u32);
                    } else {
                        found.push((v, (start + t) as u32));
                    }
                    if found.len() == m {
                        limit = argmax(&found).1;
                    }
                }
            }
            start += len;
        }
        found.sort_by(|a, b| a.0.total_cmp(&b.0));
        (found.into_iter().map(|(_, i)| i).collect(), least - dot(&w.y, &w.z))
    }
}

fn argmax(v: &[(f64, u32)]) -> (usize, f64) {
    let mut at = 0;
    for (i, e) in v.iter().enumerate() {
        if e.0 > v[at].0 {
            at = i;
        }
    }
    (at, v[at].0)
}

#[inline]
fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// `g[t] = <y, z_{start + t}>`; returns `min g`.
fn projections(cols: &[f64], n: usize, start: usize, y: &[f64], g: &mut [f64]) -> f64 {
    #[cfg(target_arch = "x86_64")]
    {
        if crate::nn::kernel::has_avx2_fma() {
            // SAFETY: the CPU supports AVX2 and FMA (checked just above).
            return unsafe { projections_avx2(cols, n, start, y, g) };
        }
    }
    projections_generic(cols, n, start, y, g)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn projections_avx2(cols: &[f64], n: usize, start: usize, y: &[f64], g: &mut [f64]) -> f64 {
    projections_generic(cols, n, start, y, g)
}

/// Points per register block: the accumulators stay in registers across the `d` columns.
const BLOCK: usize = 8;

#[inline(always)]
fn projections_generic(cols: &[f64], n: usize, start: usize, y: &[f64], g: &mut [f64]) -> f64 {
    let len = g.len();
    let full = len - len % BLOCK;
    for t in (0..full).step_by(BLOCK) {
        let mut acc = [0.0f64; BLOCK];
        for (j, &yj) in y.iter().enumerate() {
            let c = &cols[j * n + start + t..j * n + start + t + BLOCK];
            for l in 0..BLOCK {
                acc[l] = yj.mul_add(c[l], acc[l]);
            }
        }
        g[t..t + BLOCK].copy_from_slice(&acc);
    }
    for t in full..len {
        g[t] = y.iter().enumerate().fold(0.0, |a, (j, &yj)| yj.mul_add(cols[j * n + start + t], a));
    }
    chunk_min(g)
}

/// `min v` in a form the compiler vectorises (no NaN handling: there are none).
#[inline(always)]
fn chunk_min(v: &[f64]) -> f64 {
    let mut m = [f64::INFINITY; 4];
    let mut quads = v.chunks_exact(4);
    for q in &mut quads {
        for l in 0..4 {
            m[l] = if q[l] < m[l] { q[l] } else { m[l] };
        }
    }
    let mut best = m[0].min(m[1]).min(m[2].min(m[3]));
    for &x in quads.remainder() {
        best = best.min(x);
    }
    best
}

/// `g[t] = |z_{start + t} - z|^2`; returns `min g`.
fn squared_distances(cols: &[f64], n: usize, start: usize, z: &[f64], g: &mut [f64]) -> f64 {
    #[cfg(target_arch = "x86_64")]
    {
        if crate::nn::kernel::has_avx2_fma() {
            // SAFETY: the CPU supports AVX2 and FMA (checked just above).
            return unsafe { squared_distances_avx2(cols, n, start, z, g) };
        }
    }
    squared_distances_generic(cols, n, start, z, g)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn squared_distances_avx2(cols: &[f64], n: usize, start: usize, z: &[f64], g: &mut [f64]) -> f64 {
    squared_distances_generic(cols, n, start, z, g)
}

#[inline(always)]
fn squared_distances_generic(cols: &[f64], n: usize, start: usize, z: &[f64], g: &mut [f64]) -> f64 {
    let len = g.len();
    let full = len - len % BLOCK;
    for t in (0..full).step_by(BLOCK) {
        let mut acc = [0.0f64; BLOCK];
        for (j, &zj) in z.iter().enumerate() {
            let c = &cols[j * n + start + t..j * n + start + t + BLOCK];
            for l in 0..BLOCK {
                let e = c[l] - zj;
                acc[l] = e.mul_add(e, acc[l]);
            }
        }
        g[t..t + BLOCK].copy_from_slice(&acc);
    }
    for t in full..len {
        g[t] = z.iter().enumerate().fold(0.0, |a, (j, &zj)| {
            let e = cols[j * n + start + t] - zj;
            e.mul_add(e, a)
        });
    }
    chunk_min(g)
}

enum End {
    Inside,
    Converged,
    Stalled,
}

/// The state of one query: the working set, Wolfe's corral and its weights.
struct Work {
    d: usize,
    z: Vec<f64>,
    /// Training indices in the working set, and their translated points `q = z_i - z`.
    s_idx: Vec<u32>,
    s_q: Vec<f64>,
    /// Positions in the working set, with barycentric weights `lambda`.
    corral: Vec<usize>,
    lambda: Vec<f64>,
    /// The current point of `conv(corral)`: `sum lambda q`.
    y: Vec<f64>,
    /// Largest `|q|^2` of the working set: the scale of the optimality test.
    scale: f64,
    /// `<q_a, q_b>` for working-set positions `a, b` (NaN until computed), stride `cap`.
    gram: Vec<f64>,
    cap: usize,
    /// `1 + G` over the corral, factorised in place (Wolfe's matrix).
    m: Vec<f64>,
    alpha: Vec<f64>,
}

impl Work {
    fn new(hull: &Hull, z: Vec<f64>) -> Work {
        let d = hull.d;
        let cap = 4 * (d + 1);
        Work {
            d,
            z,
            s_idx: Vec::with_capacity(cap),
            s_q: Vec::with_capacity(cap * d),
            corral: Vec::with_capacity(d + 2),
            lambda: Vec::with_capacity(d + 2),
            y: vec![0.0; d],
            scale: 0.0,
            gram: vec![f64::NAN; cap * cap],
            cap,
            m: vec![0.0; (d + 2) * (d + 2)],
            alpha: vec![0.0; d + 2],
        }
    }

    /// Adds training point `i` to the working set; false if it was there already.
    fn add(&mut self, hull: &Hull, i: u32) -> bool {
        if self.s_idx.contains(&i) {
            return false;
        }
        if self.s_idx.len() == self.cap {
            // Grow the Gram cache, keeping what it holds.
            let cap = 2 * self.cap;
            let mut gram = vec![f64::NAN; cap * cap];
            for a in 0..self.cap {
                gram[a * cap..a * cap + self.cap].copy_from_slice(&self.gram[a * self.cap..(a + 1) * self.cap]);
            }
            self.gram = gram;
            self.cap = cap;
        }
        self.s_idx.push(i);
        let mut norm2 = 0.0;
        for j in 0..self.d {
            let q = hull.cols[j * hull.n + i as usize] - self.z[j];
            norm2 += q * q;
            self.s_q.push(q);
        }
        self.scale = self.scale.max(norm2);
        true
    }

    fn q(&self, s: usize) -> &[f64] {
        &self.s_q[s * self.d..(s + 1) * self.d]
    }

    /// Starts the corral at the working set's point nearest to `z`.
    fn start(&mut self) {
        let s = (0..self.s_idx.len())
            .min_by(|&a, &b| dot(self.q(a), self.q(a)).total_cmp(&dot(self.q(b), self.q(b))))
            .expect("a non-empty working set");
        self.corral.clear();
        self.lambda.clear();
        self.corral.push(s);
        self.lambda.push(1.0);
        self.y = self.q(s).to_vec();
    }

    fn update_y(&mut self) {
        let d = self.d;
        self.y.iter_mut().for_each(|v| *v = 0.0);
        for (c, &l) in self.corral.iter().zip(&self.lambda) {
            let q = &self.s_q[c * d..(c + 1) * d];
            for j in 0..d {
                self.y[j] += l * q[j];
            }
        }
    }

    fn g(&mut self, a: usize, b: usize) -> f64 {
        let v = self.gram[a * self.cap + b];
        if !v.is_nan() {
            return v;
        }
        let d = self.d;
        let v = dot(&self.s_q[a * d..(a + 1) * d], &self.s_q[b * d..(b + 1) * d]);
        self.gram[a * self.cap + b] = v;
        self.gram[b * self.cap + a] = v;
        v
    }

    /// `alpha[..m]`: the weights (summing to 1) of the least-norm point in the affine hull of
    /// the corral, from `(1 + G) a = 1`, `alpha = a / sum(a)` (Wolfe's form: `1 + G` is
    /// positive definite exactly when the corral is affinely independent). False when it is
    /// not, to rounding.
    fn affine_minimiser(&mut self, m: usize) -> bool {
        if m == 1 {
            self.alpha[0] = 1.0;
            return true;
        }
        for r in 0..m {
            for c in 0..=r {
                let (a, b) = (self.corral[r], self.corral[c]);
                self.m[r * m + c] = 1.0 + self.g(a, b);
            }
        }
        // Cholesky in place (lower triangle).
        let mut diag_max = 0.0f64;
        for r in 0..m {
            diag_max = diag_max.max(self.m[r * m + r]);
        }
        for i in 0..m {
            for j in 0..=i {
                let mut s = self.m[i * m + j];
                for k in 0..j {
                    s -= self.m[i * m + k] * self.m[j * m + k];
                }
                if i == j {
                    if !(s > 1e-13 * diag_max) {
                        return false;
                    }
                    self.m[i * m + i] = s.sqrt();
                } else {
                    self.m[i * m + j] = s / self.m[j * m + j];
                }
            }
        }
        // Solve L L^T a = 1.
        for i in 0..m {
            let mut s = 1.0;
            for k in 0..i {
                s -= self.m[i * m + k] * self.alpha[k];
            }
            self.alpha[i] = s / self.m[i * m + i];
        }
        for i in (0..m).rev() {
            let mut s = self.alpha[i];
            for k in i + 1..m {
                s -= self.m[k * m + i] * self.alpha[k];
            }
            self.alpha[i] = s / self.m[i * m + i];
        }
        let sum: f64 = self.alpha[..m].iter().sum();
        if !(sum > 0.0) {
            return false;
        }
        self.alpha[..m].iter_mut().for_each(|a| *a /= sum);
        true
    }

    /// The same by least squares (Gram-Schmidt): slower, but without squaring the condition
    /// number, for a newcomer nearly in the corral's affine hull.
    fn affine_minimiser_qr(&mut self, m: usize) -> bool {
        let d = self.d;
        let mut cq = vec![0.0; m * d];
        for (r, &c) in self.corral.iter().enumerate() {
            cq[r * d..(r + 1) * d].copy_from_slice(&self.s_q[c * d..(c + 1) * d]);
        }
        let mut scratch = vec![0.0; m * d + m * m];
        linalg::affine_minimiser(&cq, m, d, &mut self.alpha[..m], &mut scratch).is_some()
    }

    /// Wolfe's algorithm over the working set, from the current corral.
    fn wolfe(&mut self) -> End {
        let d = self.d;
        for _major in 0..(50 * (d + 1)) {
            let yy = dot(&self.y, &self.y);
            if yy <= TOL2 {
                return End::Inside;
            }
            let mut j = 0;
            let mut best = f64::INFINITY;
            for s in 0..self.s_idx.len() {
                let v = dot(&self.y, self.q(s));
                if v < best {
                    best = v;
                    j = s;
                }
            }
            if best >= yy - EPS * self.scale.max(1.0) {
                return End::Converged;
            }
            if self.corral.contains(&j) || self.corral.len() > d {
                return End::Stalled;
            }
            self.corral.push(j);
            self.lambda.push(0.0);
            if !self.minor_cycles() {
                return End::Stalled;
            }
        }
        End::Stalled
    }

    /// Moves `lambda` to the affine minimiser of the corral, dropping points whose weight
    /// would turn negative; false on affine dependence (rounding).
    fn minor_cycles(&mut self) -> bool {
        loop {
            let m = self.corral.len();
            if !self.affine_minimiser(m) && !self.affine_minimiser_qr(m) {
                // Affinely dependent to rounding: drop the newcomer, keep the previous point.
                self.corral.pop();
                self.lambda.pop();
                self.update_y();
                return false;
            }
            if self.alpha[..m].iter().all(|&a| a > WEIGHT_EPS) {
                self.lambda.copy_from_slice(&self.alpha[..m]);
                self.update_y();
                return true;
            }
            let mut theta = 1.0f64;
            let mut drop = 0;
            for r in 0..m {
                if self.alpha[r] <= WEIGHT_EPS {
                    let den = self.lambda[r] - self.alpha[r];
                    let t = if den > 0.0 { self.lambda[r] / den } else { 0.0 };
                    if t < theta {
                        theta = t;
                        drop = r;
                    }
                }
            }
            let theta = theta.clamp(0.0, 1.0);
            for r in 0..m {
                self.lambda[r] = theta * self.alpha[r] + (1.0 - theta) * self.lambda[r];
            }
            // Remove every point whose weight reached zero, at least the one that hit first.
            let mut r = m;
            let mut removed = false;
            while r > 0 {
                r -= 1;
                if self.lambda[r] <= WEIGHT_EPS || (!removed && r == drop && theta < 1.0) {
                    self.corral.remove(r);
                    self.lambda.remove(r);
                    removed = true;
                }
            }
            if self.corral.is_empty() {
                return false;
            }
            let sum: f64 = self.lambda.iter().sum();
            self.lambda.iter_mut().for_each(|l| *l = l.max(0.0) / sum);
            self.update_y();
        }
    }
}
