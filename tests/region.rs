//! Trust regions on known geometry: a simplex, a cube and an ellipsoid in 6 and 12 dimensions
//! classify exactly (points near the boundary, closer than 1e-6, are left out: on the boundary
//! either answer is right); the chi-square threshold covers the stated fraction of Gaussian
//! samples; reasons name the method.

use zelos::region::{RegionData, TrustRegion};
use zelos::spec::{Threshold, TrustMethod};
use zelos::testing::SplitMix;

const MARGIN: f64 = 1e-6;

fn names(d: usize) -> Vec<String> {
    (0..d).map(|j| format!("p{j}")).collect()
}

fn gaussian(rng: &mut SplitMix) -> f64 {
    // Box-Muller.
    let u1 = rng.uniform().max(1e-300);
    let u2 = rng.uniform();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

fn dirichlet(rng: &mut SplitMix, k: usize) -> Vec<f64> {
    let w: Vec<f64> = (0..k).map(|_| -rng.uniform().max(1e-300).ln()).collect();
    let s: f64 = w.iter().sum();
    w.into_iter().map(|v| v / s).collect()
}

fn region(d: usize, methods: &[TrustMethod], threshold: Threshold, data: RegionData) -> TrustRegion {
    TrustRegion::new(names(d), methods, threshold, data, "test").expect("a valid region")
}

/// Runs `queries` (point, expected) through `r`, returning how many disagree (with the first
/// few printed).
fn misclassified(r: &TrustRegion, queries: &[(Vec<f64>, bool)]) -> usize {
    let mut bad = 0;
    for (x, expected) in queries {
        let d = r.decide(x).unwrap();
        if d.inside != *expected {
            if bad < 5 {
                eprintln!("expected inside={expected}, got {d:?}: {}", d.reason());
            }
            bad += 1;
        }
    }
    bad
}

fn count_inside(queries: &[(Vec<f64>, bool)]) -> usize {
    queries.iter().filter(|q| q.1).count()
}

// -------------------------------------------------------------------------------------------
// Simplex: vertices 0, e_1, ..., e_d; inside iff x >= 0 and sum x <= 1.

fn simplex_vertices(d: usize) -> Vec<f64> {
    let mut v = vec![0.0; d];
    for i in 0..d {
        let mut e = vec![0.0; d];
        e[i] = 1.0;
        v.extend(e);
    }
    v
}

fn simplex_margin(x: &[f64]) -> f64 {
    // Signed distance-like margin: positive inside.
    let m = x.iter().fold(f64::INFINITY, |a, &b| a.min(b));
    m.min((1.0 - x.iter().sum::<f64>()) / (x.len() as f64).sqrt())
}

fn simplex_queries(d: usize, n: usize, seed: u64) -> Vec<(Vec<f64>, bool)> {
    let mut rng = SplitMix::new(seed);
    let centre = vec![1.0 / (d + 1) as f64; d];
    let mut out = Vec::new();
    while out.len() < n {
        // A random point of the simplex, pushed in or out from the centre.
        let w = dirichlet(&mut rng, d + 1);
        let v: Vec<f64> = w[1..].to_vec();
        let s = 0.5 + rng.uniform();
        let x: Vec<f64> = (0..d).map(|j| centre[j] + s * (v[j] - centre[j])).collect();
        let m = simplex_margin(&x);
        if m.abs() > MARGIN {
            out.push((x, m > 0.0));
        }
    }
    out
}

fn check_simplex(d: usize, extra_interior: usize) {
    let mut points = simplex_vertices(d);
    let mut rng = SplitMix::new(7);
    for _ in 0..extra_interior {
        let w = dirichlet(&mut rng, d + 1);
        points.extend_from_slice(&w[1..]);
    }
    let data = RegionData::from_points(vec![0.0; d], vec![1.0; d], points);
    let r = region(d, &[TrustMethod::Hull], Threshold::Chi2Quantile(0.99), data);
    let q = simplex_queries(d, 600, 11 + d as u64);
    let inside = count_inside(&q);
    assert!(inside > 100 && inside < 500, "a mix of inside and outside queries: {inside}");
    assert_eq!(misclassified(&r, &q), 0, "simplex d={d}, {extra_interior} interior points");
}

#[test]
fn hull_of_a_simplex_6d() {
    check_simplex(6, 0);
    check_simplex(6, 2000);
}

#[test]
fn hull_of_a_simplex_12d() {
    check_simplex(12, 0);
    check_simplex(12, 2000);
}

// -------------------------------------------------------------------------------------------
// Cube [0, 1]^d: the hull of its 2^d vertices (and optionally interior points); the box method
// on the same cube.

fn cube_queries(d: usize, n: usize, seed: u64) -> Vec<(Vec<f64>, bool)> {
    let mut rng = SplitMix::new(seed);
    let mut out = Vec::new();
    while out.len() < n {
        let mut x: Vec<f64> = (0..d).map(|_| rng.uniform()).collect();
        // Half the queries: push one or two coordinates out by up to 0.3.
        if rng.uniform() < 0.5 {
            for _ in 0..(1 + (rng.uniform() * 2.0) as usize) {
                let j = (rng.uniform() * d as f64) as usize;
                x[j] = if rng.uniform() < 0.5 { -0.3 * rng.uniform() } else { 1.0 + 0.3 * rng.uniform() };
            }
        }
        let m = x.iter().map(|&v| v.min(1.0 - v)).fold(f64::INFINITY, f64::min);
        if m.abs() > MARGIN {
            out.push((x, m > 0.0));
        }
    }
    out
}

fn cube_points(d: usize, interior: usize) -> Vec<f64> {
    let mut points = Vec::new();
    for mask in 0..(1usize << d) {
        points.extend((0..d).map(|j| ((mask >> j) & 1) as f64));
    }
    let mut rng = SplitMix::new(3);
    for _ in 0..interior * d {
        points.push(rng.uniform());
    }
    points
}

fn check_cube(d: usize, interior: usize) {
    let data = RegionData::from_points(vec![0.0; d], vec![1.0; d], cube_points(d, interior));
    let hull = region(d, &[TrustMethod::Hull], Threshold::Chi2Quantile(0.99), data.clone());
    let boxed = region(d, &[TrustMethod::Box], Threshold::Chi2Quantile(0.99), data);
    let q = cube_queries(d, 600, 5 + d as u64);
    let inside = count_inside(&q);
    assert!(inside > 150 && inside < 450, "{inside}");
    assert_eq!(misclassified(&hull, &q), 0, "cube hull d={d}");
    assert_eq!(misclassified(&boxed, &q), 0, "cube box d={d}");
}

#[test]
fn hull_and_box_of_a_cube_6d() {
    check_cube(6, 0);
    check_cube(6, 1000);
}

#[test]
fn hull_and_box_of_a_cube_12d() {
    check_cube(12, 0);
}

// -------------------------------------------------------------------------------------------
// Ellipsoid {x: (x - m)^T C^{-1} (x - m) <= 1}: the Mahalanobis method with the PICO rule and
// f = 1 (the training points lie on the surface) classifies exactly; the hull of the surface
// points contains every convex combination of them and nothing outside the ellipsoid.

struct Ellipsoid {
    d: usize,
    mean: Vec<f64>,
    /// C = A A^T, A lower triangular.
    a: Vec<f64>,
}

impl Ellipsoid {
    fn new(d: usize, seed: u64) -> Self {
        let mut rng = SplitMix::new(seed);
        let mean: Vec<f64> = (0..d).map(|j| 0.1 * j as f64 + rng.symmetric(1.0)).collect();
        let mut a = vec![0.0; d * d];
        for i in 0..d {
            for j in 0..i {
                a[i * d + j] = 0.3 * rng.symmetric(1.0);
            }
            a[i * d + i] = 0.2 + rng.uniform() * (1.0 + i as f64);
        }
        Ellipsoid { d, mean, a }
    }
    fn covariance(&self) -> Vec<f64> {
        let d = self.d;
        let mut c = vec![0.0; d * d];
        for i in 0..d {
            for j in 0..d {
                c[i * d + j] = (0..d).map(|k| self.a[i * d + k] * self.a[j * d + k]).sum();
            }
        }
        c
    }
    /// `mean + r A u` for a unit vector `u`.
    fn point(&self, u: &[f64], r: f64) -> Vec<f64> {
        let d = self.d;
        (0..d).map(|i| self.mean[i] + r * (0..d).map(|k| self.a[i * d + k] * u[k]).sum::<f64>()).collect()
    }
    fn radius(&self, x: &[f64]) -> f64 {
        // Solve A w = x - mean (A lower triangular); radius = |w|.
        let d = self.d;
        let mut w = vec![0.0; d];
        for i in 0..d {
            let s: f64 = (0..i).map(|k| self.a[i * d + k] * w[k]).sum();
            w[i] = (x[i] - self.mean[i] - s) / self.a[i * d + i];
        }
        w.iter().map(|v| v * v).sum::<f64>().sqrt()
    }
    fn box_bounds(&self) -> (Vec<f64>, Vec<f64>) {
        let c = self.covariance();
        let d = self.d;
        let lo = (0..d).map(|j| self.mean[j] - 2.0 * c[j * d + j].sqrt()).collect();
        let hi = (0..d).map(|j| self.mean[j] + 2.0 * c[j * d + j].sqrt()).collect();
        (lo, hi)
    }
}

fn unit(rng: &mut SplitMix, d: usize) -> Vec<f64> {
    let g: Vec<f64> = (0..d).map(|_| gaussian(rng)).collect();
    let n = g.iter().map(|v| v * v).sum::<f64>().sqrt();
    g.into_iter().map(|v| v / n).collect()
}

fn check_ellipsoid(d: usize, n_surface: usize) {
    let e = Ellipsoid::new(d, 40 + d as u64);
    let mut rng = SplitMix::new(99);
    let surface: Vec<Vec<f64>> = (0..n_surface).map(|_| e.point(&unit(&mut rng, d), 1.0)).collect();
    let (lo, hi) = e.box_bounds();
    let data = RegionData {
        lower: lo,
        upper: hi,
        mean: Some(e.mean.clone()),
        covariance: Some(e.covariance()),
        points: Some(surface.concat()),
        constraints: Vec::new(),
    };
    // Mahalanobis, PICO f = 1: the ellipsoid itself.
    let maha = region(d, &[TrustMethod::Mahalanobis], Threshold::Pico(1.0), data.clone());
    let t = maha.mahalanobis().unwrap().threshold();
    assert!((t - 1.0).abs() < 1e-9, "every surface point at distance 1: {t}");
    let mut q = Vec::new();
    while q.len() < 2000 {
        let r = 2.0 * rng.uniform();
        if (r - 1.0).abs() > MARGIN {
            q.push((e.point(&unit(&mut rng, d), r), r < 1.0));
        }
    }
    assert_eq!(misclassified(&maha, &q), 0, "ellipsoid mahalanobis d={d}");
    for (x, _) in q.iter().take(50) {
        let dist = maha.mahalanobis().unwrap().distance(x);
        assert!((dist - e.radius(x)).abs() < 1e-9 * (1.0 + dist));
    }

    // Hull of the surface points: convex combinations of many of them are inside; points
    // outside the ellipsoid are outside.
    let hull = region(d, &[TrustMethod::Hull], Threshold::Pico(1.0), data);
    let mut q = Vec::new();
    while q.len() < 300 {
        if rng.uniform() < 0.5 {
            let k = 3 * d;
            let w = dirichlet(&mut rng, k);
            let mut x = vec![0.0; d];
            for wi in w {
                let p = &surface[(rng.uniform() * n_surface as f64) as usize];
                for j in 0..d {
                    x[j] += wi * p[j];
                }
            }
            q.push((x, true));
        } else {
            let r = 1.0 + 1e-4 + rng.uniform();
            q.push((e.point(&unit(&mut rng, d), r), false));
        }
    }
    assert_eq!(misclassified(&hull, &q), 0, "ellipsoid hull d={d}");
}

#[test]
fn ellipsoid_6d() {
    check_ellipsoid(6, 3000);
}

#[test]
fn ellipsoid_12d() {
    check_ellipsoid(12, 5000);
}

// -------------------------------------------------------------------------------------------
// Hull distances are exact: for the cube, the whitened distance of an outside point is known.

#[test]
fn hull_distance_is_the_distance_to_the_hull() {
    let d = 6;
    // Cube [0, 1]^6 vertices: covariance 0.25 I (n / (n - 1) of it with the sample covariance),
    // so whitened coordinates are (x - 1/2) / sigma.
    let data = RegionData::from_points(vec![0.0; d], vec![1.0; d], cube_points(d, 0));
    let r = region(d, &[TrustMethod::Hull], Threshold::Chi2Quantile(0.99), data);
    let n = 64.0;
    let sigma = (0.25f64 * n / (n - 1.0)).sqrt();
    let mut rng = SplitMix::new(1);
    for _ in 0..100 {
        let mut x: Vec<f64> = (0..d).map(|_| rng.uniform()).collect();
        let j = (rng.uniform() * d as f64) as usize;
        let k = (j + 1) % d;
        x[j] = 1.0 + rng.uniform();
        x[k] = -rng.uniform();
        let euclid = ((x[j] - 1.0).powi(2) + x[k].powi(2)).sqrt();
        let dec = r.decide(&x).unwrap();
        assert!(!dec.inside);
        assert!((dec.distance() - euclid / sigma).abs() < 1e-8, "{} vs {}", dec.distance(), euclid / sigma);
    }
}

/// A query so far out that its squared whitened distance to every training point overflows
/// (found by tests/fuzz_readers.rs, through a training box widened to -8e155): outside, at an
/// infinite distance, not a panic.
#[test]
fn hull_refuses_a_point_too_far_for_its_distances_to_be_finite() {
    let d = 6;
    let data = RegionData::from_points(vec![-1e300; d], vec![1e300; d], cube_points(d, 0));
    let r = region(d, &[TrustMethod::Hull], Threshold::Chi2Quantile(0.99), data);
    for far in [1e160, -4e155, 1e300] {
        let mut x = vec![0.5; d];
        x[2] = far;
        let dec = r.decide(&x).unwrap();
        assert!(!dec.inside, "{far}");
        assert_eq!(dec.distance(), f64::INFINITY, "{far}");
    }
    // And the cache the query left behind does not trouble the next one.
    assert!(r.decide(&[0.5; 6]).unwrap().inside);
}

// -------------------------------------------------------------------------------------------
// The chi-square threshold's coverage on Gaussian samples.

#[test]
fn chi_square_threshold_gives_its_coverage() {
    for &d in &[6usize, 12] {
        let e = Ellipsoid::new(d, 7 * d as u64);
        let (lo, hi) = e.box_bounds();
        for &q in &[0.68, 0.95, 0.999] {
            let data = RegionData { lower: lo.clone(), upper: hi.clone(), mean: Some(e.mean.clone()), covariance: Some(e.covariance()), points: None, constraints: Vec::new() };
            let r = region(d, &[TrustMethod::Mahalanobis], Threshold::Chi2Quantile(q), data);
            let mut rng = SplitMix::new(1000 + d as u64);
            let n = 200_000;
            let mut inside = 0;
            for _ in 0..n {
                let g: Vec<f64> = (0..d).map(|_| gaussian(&mut rng)).collect();
                let gn = g.iter().map(|v| v * v).sum::<f64>().sqrt();
                let u: Vec<f64> = g.iter().map(|v| v / gn).collect();
                let x = e.point(&u, gn);
                inside += r.contains(&x).unwrap() as usize;
            }
            let frac = inside as f64 / n as f64;
            let sigma = (q * (1.0 - q) / n as f64).sqrt();
            assert!((frac - q).abs() < 5.0 * sigma, "d={d} q={q}: coverage {frac}");
        }
    }
}

// -------------------------------------------------------------------------------------------
// Combinations, reasons, skipped methods, bad input.

#[test]
fn combinations_need_every_method() {
    let d = 6;
    let data = RegionData::from_points(vec![0.0; d], vec![1.0; d], cube_points(d, 500));
    let all = [TrustMethod::Box, TrustMethod::Mahalanobis, TrustMethod::Hull];
    let r = region(d, &all, Threshold::Chi2Quantile(0.999), data);
    assert_eq!(r.methods(), all.to_vec());
    // The centre: inside everything.
    let dec = r.decide(&[0.5; 6]).unwrap();
    assert!(dec.inside, "{}", dec.reason());
    assert_eq!(dec.checks.len(), 3);
    assert!(dec.reason().starts_with("inside: box distance 0.000 <= 1, mahalanobis distance"), "{}", dec.reason());
    // Outside the box in one parameter: the box and the hull reject, Mahalanobis does not.
    let mut x = [0.5; 6];
    x[2] = 1.2;
    let dec = r.decide(&x).unwrap();
    assert!(!dec.inside);
    assert!(dec.checks[0].note.as_deref().unwrap().contains("`p2` = 1.2 > 1"));
    assert!(dec.checks[1].inside && !dec.checks[2].inside);
    assert!(dec.reason().starts_with("outside the box: `p2` = 1.2 > 1; outside the convex hull"), "{}", dec.reason());
    // A corner inside the box and the hull but far in Mahalanobis terms with a tight cut.
    let data = RegionData::from_points(vec![0.0; d], vec![1.0; d], cube_points(d, 500));
    let tight = region(d, &all, Threshold::Chi2Quantile(0.5), data);
    let dec = tight.decide(&[0.99; 6]).unwrap();
    assert!(!dec.inside && dec.checks[0].inside && !dec.checks[1].inside && dec.checks[2].inside);
    assert_eq!(dec.method(), Some(TrustMethod::Mahalanobis));
    let reason = dec.reason();
    assert!(reason.starts_with("mahalanobis distance ") && reason.contains(" > threshold "), "{reason}");
    assert!(dec.excess() > 0.0);
    assert!(!tight.contains(&[0.99; 6]).unwrap());
}

#[test]
fn box_only_archives_skip_the_other_methods_and_say_so() {
    let r = region(3, &[TrustMethod::Box, TrustMethod::Mahalanobis, TrustMethod::Hull], Threshold::Chi2Quantile(0.99), RegionData::from_box(vec![0.0; 3], vec![1.0; 3]));
    assert_eq!(r.methods(), vec![TrustMethod::Box]);
    assert_eq!(r.skipped().len(), 2);
    let dec = r.decide(&[0.5, 0.5, 0.5]).unwrap();
    assert!(dec.inside);
    assert_eq!(
        dec.reason(),
        "inside: box distance 0.000 <= 1; mahalanobis not checked: the archive holds no training mean and covariance (nor points); \
         hull not checked: the archive holds too few training points (at least parameters + 1 needed)"
    );
    let dec = r.decide(&[0.5, 2.0, 0.5]).unwrap();
    assert!(!dec.inside);
    assert!((dec.distance() - 3.0).abs() < 1e-12, "2 is three half-widths from the centre 0.5");
    assert!((dec.excess() - 2.0).abs() < 1e-12);
    assert!(dec.reason().starts_with("outside the box: `p1` = 2 > 1; mahalanobis not checked"), "{}", dec.reason());
    // PICO without points.
    let data = RegionData { mean: Some(vec![0.5; 3]), covariance: Some(vec![1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]), ..RegionData::from_box(vec![0.0; 3], vec![1.0; 3]) };
    let r = region(3, &[TrustMethod::Mahalanobis], Threshold::Pico(0.9), data);
    assert!(r.skipped()[0].contains("`pico` threshold needs the training points"));
}

#[test]
fn bad_points_and_bad_data_are_errors() {
    let r = region(2, &[TrustMethod::Box], Threshold::Chi2Quantile(0.99), RegionData::from_box(vec![0.0; 2], vec![1.0; 2]));
    assert_eq!(r.decide(&[0.5]).unwrap_err().to_string(), "trust region: expected 2 parameter values (p0, p1); got 1");
    assert_eq!(r.decide(&[0.5, f64::NAN]).unwrap_err().to_string(), "trust region: parameter `p1` is NaN; expected a finite number");
    // A covariance that is not positive definite.
    let data = RegionData::from_points(vec![0.0; 2], vec![1.0; 2], vec![0.0, 0.0, 1.0, 1.0, 2.0, 2.0]);
    let e = TrustRegion::new(names(2), &[TrustMethod::Mahalanobis], Threshold::Chi2Quantile(0.9), data, "x.tar.gz").unwrap_err();
    assert!(e.to_string().starts_with("x.tar.gz: model: the training covariance is not positive definite"), "{e}");
    let e = TrustRegion::new(names(2), &[TrustMethod::Box], Threshold::Chi2Quantile(0.9), RegionData::from_box(vec![1.0, 0.0], vec![0.0, 1.0]), "x").unwrap_err();
    assert!(e.to_string().contains("the box of `p0` is [1, 0]"), "{e}");
}

#[test]
fn hull_answers_do_not_depend_on_the_query_order() {
    // The per-thread cache of the last working set must never change an answer.
    let d = 6;
    let data = RegionData::from_points(vec![0.0; d], vec![1.0; d], cube_points(d, 2000));
    let r = region(d, &[TrustMethod::Hull], Threshold::Chi2Quantile(0.99), data);
    let q = cube_queries(d, 400, 77);
    let forward: Vec<bool> = q.iter().map(|(x, _)| r.decide(x).unwrap().inside).collect();
    let backward: Vec<bool> = q.iter().rev().map(|(x, _)| r.decide(x).unwrap().inside).collect();
    assert!(forward.iter().eq(backward.iter().rev()));
    assert_eq!(misclassified(&r, &q), 0);
}

/// A point where Wolfe's algorithm stalls on rounding (found by the benchmark) is still decided:
/// the hyperplane normal to the best point found separates it.
#[test]
fn a_point_where_wolfe_stalls_is_still_decided() {
    let d = 6;
    let mut rng = SplitMix::new(2);
    let points: Vec<f64> = (0..10_000 * d).map(|_| rng.uniform()).collect();
    let data = RegionData::from_points(vec![0.0; d], vec![1.0; d], points);
    let r = region(d, &[TrustMethod::Hull], Threshold::Chi2Quantile(0.99), data);
    let x = [0.48258802976296394, 0.35957995100554047, -0.07523370235609082, 0.5749130462663736, 0.5108053656717491, 0.2981969518279762];
    let a = r.hull().unwrap().check(&x);
    assert!(a.decided && !a.inside, "{a:?}");
    // x[2] < 0 and the points fill [0, 1]^6: outside by at least 0.075 / sigma (sigma ~ 0.29).
    assert!(a.distance > 0.07 / 0.29, "{a:?}");
}

#[test]
fn hull_decisions_agree_across_threads() {
    // Each thread keeps its own cache of working sets; answers must not depend on it.
    let d = 6;
    let data = RegionData::from_points(vec![0.0; d], vec![1.0; d], cube_points(d, 3000));
    let r = std::sync::Arc::new(region(d, &[TrustMethod::Box, TrustMethod::Hull], Threshold::Chi2Quantile(0.99), data));
    let q = std::sync::Arc::new(cube_queries(d, 300, 123));
    let expected: Vec<bool> = q.iter().map(|(_, inside)| *inside).collect();
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let (r, q) = (r.clone(), q.clone());
            std::thread::spawn(move || {
                let order: Vec<usize> = if t % 2 == 0 { (0..q.len()).collect() } else { (0..q.len()).rev().collect() };
                let mut got = vec![false; q.len()];
                for i in order {
                    got[i] = r.decide(&q[i].0).unwrap().inside;
                }
                got
            })
        })
        .collect();
    for t in threads {
        assert_eq!(t.join().unwrap(), expected);
    }
}

#[test]
fn the_box_method_refuses_points_that_break_a_constraint() {
    use zelos::spec::LinearConstraint;
    // x0 + x1 <= 0.5 in the unit square.
    let c = LinearConstraint { coefficients: vec![1.0, 1.0], min: f64::NEG_INFINITY, max: 0.5, text: "p0 + p1".into() };
    let data = RegionData { constraints: vec![c], ..RegionData::from_box(vec![0.0, 0.0], vec![1.0, 1.0]) };
    let r = region(2, &[TrustMethod::Box], Threshold::Chi2Quantile(0.999), data);
    assert!(r.decide(&[0.2, 0.2]).unwrap().inside);
    let d = r.decide(&[0.4, 0.4]).unwrap();
    assert!(!d.inside);
    assert!(d.reason().contains("outside the region's constraints: `p0 + p1` = 0.8 > 0.5"), "{}", d.reason());
    // Distance: 1 plus the excess in half the sum's range over the box (0.3 / 1).
    assert!((d.distance() - 1.3).abs() < 1e-12, "{}", d.distance());
    let both = r.decide(&[1.5, 0.4]).unwrap();
    assert!(both.reason().contains("outside the box: `p0` = 1.5 > 1") && both.reason().contains("`p0 + p1` = 1.9 > 0.5"), "{}", both.reason());
}
