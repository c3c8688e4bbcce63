//! Small dense linear algebra for trust regions (dimension at most a few tens): Cholesky, the
//! inverse of a triangular factor, and an affine least-squares solve. No LAPACK needed.

/// The lower Cholesky factor `L` (row-major `d x d`) of a symmetric positive definite `a`, or
/// `None` when `a` is not positive definite (to rounding).
pub fn cholesky(a: &[f64], d: usize) -> Option<Vec<f64>> {
    let mut l = vec![0.0; d * d];
    for i in 0..d {
        for j in 0..=i {
            let mut s = a[i * d + j];
            for k in 0..j {
                s -= l[i * d + k] * l[j * d + k];
            }
            if i == j {
                // Relative to the diagonal: a singular covariance (a parameter that never varies,
                // or one that is a combination of others) has no Mahalanobis distance.
                if !(s > 1e-14 * a[i * d + i].abs()) || !s.is_finite() {
                    return None;
                }
                l[i * d + i] = s.sqrt();
            } else {
                l[i * d + j] = s / l[j * d + j];
            }
        }
    }
    Some(l)
}

/// `L^{-1}` of a lower-triangular `L` (row-major), itself lower triangular.
pub fn invert_lower(l: &[f64], d: usize) -> Vec<f64> {
    let mut w = vec![0.0; d * d];
    for c in 0..d {
        // Solve L w_c = e_c by forward substitution.
        for i in c..d {
            let mut s = if i == c { 1.0 } else { 0.0 };
            for k in c..i {
                s -= l[i * d + k] * w[k * d + c];
            }
            w[i * d + c] = s / l[i * d + i];
        }
    }
    w
}

/// `y = W (x - m)` for lower-triangular `W`: whitening.
#[inline]
pub fn whiten(w: &[f64], m: &[f64], x: &[f64], y: &mut [f64]) {
    let d = m.len();
    for i in 0..d {
        let row = &w[i * d..i * d + i + 1];
        let mut s = 0.0;
        for k in 0..=i {
            s += row[k] * (x[k] - m[k]);
        }
        y[i] = s;
    }
}

/// `|W (x - m)|^2` without storing the whitened vector.
#[inline]
pub fn whitened_norm2(w: &[f64], m: &[f64], x: &[f64]) -> f64 {
    let d = m.len();
    let mut total = 0.0;
    for i in 0..d {
        let row = &w[i * d..i * d + i + 1];
        let mut s = 0.0;
        for k in 0..=i {
            s += row[k] * (x[k] - m[k]);
        }
        total += s * s;
    }
    total
}

/// Mean `[p]` and sample covariance `[p, p]` (divided by `n - 1`) of row-major `points` `[n, p]`.
pub fn mean_covariance(points: &[f64], n: usize, p: usize) -> (Vec<f64>, Vec<f64>) {
    let mut mean = vec![0.0; p];
    for row in points.chunks_exact(p) {
        for (m, v) in mean.iter_mut().zip(row) {
            *m += v;
        }
    }
    mean.iter_mut().for_each(|m| *m /= n as f64);
    let mut cov = vec![0.0; p * p];
    let mut c = vec![0.0; p];
    for row in points.chunks_exact(p) {
        for j in 0..p {
            c[j] = row[j] - mean[j];
        }
        for i in 0..p {
            for j in 0..=i {
                cov[i * p + j] += c[i] * c[j];
            }
        }
    }
    let denom = (n.max(2) - 1) as f64;
    for i in 0..p {
        for j in 0..=i {
            cov[i * p + j] /= denom;
            cov[j * p + i] = cov[i * p + j];
        }
    }
    (mean, cov)
}

/// Weights `alpha` (summing to 1) of the point of least norm in the affine hull of the `m`
/// points `q` (row-major `[m, d]`): least squares for `q_0 + sum_i beta_i (q_i - q_0)` by
/// modified Gram-Schmidt with one re-orthogonalisation. `None` when the points are affinely
/// dependent (to rounding). `scratch` must hold `d * m` values.
pub fn affine_minimiser(q: &[f64], m: usize, d: usize, alpha: &mut [f64], scratch: &mut [f64]) -> Option<()> {
    if m == 1 {
        alpha[0] = 1.0;
        return Some(());
    }
    let k = m - 1;
    // Columns of D = q_i - q_0 (i >= 1), stored as rows of `u` (each a d-vector).
    let (u, rest) = scratch.split_at_mut(k * d);
    let r = &mut rest[..k * k];
    r.iter_mut().for_each(|v| *v = 0.0);
    let q0 = &q[..d];
    let mut scale = 0.0f64;
    for i in 0..k {
        let qi = &q[(i + 1) * d..(i + 2) * d];
        for t in 0..d {
            u[i * d + t] = qi[t] - q0[t];
        }
        scale = scale.max(u[i * d..(i + 1) * d].iter().map(|v| v * v).sum::<f64>());
    }
    for i in 0..k {
        for _pass in 0..2 {
            for j in 0..i {
                let dot: f64 = (0..d).map(|t| u[j * d + t] * u[i * d + t]).sum();
                r[j * k + i] += dot;
                for t in 0..d {
                    u[i * d + t] -= dot * u[j * d + t];
                }
            }
        }
        let norm = (0..d).map(|t| u[i * d + t] * u[i * d + t]).sum::<f64>().sqrt();
        if !(norm * norm > 1e-24 * scale) {
            return None;
        }
        r[i * k + i] = norm;
        for t in 0..d {
            u[i * d + t] /= norm;
        }
    }
    // Solve R beta = -Q^T q0 (back substitution); beta in alpha[1..].
    for i in (0..k).rev() {
        let mut s = -(0..d).map(|t| u[i * d + t] * q0[t]).sum::<f64>();
        for j in i + 1..k {
            s -= r[i * k + j] * alpha[j + 1];
        }
        alpha[i + 1] = s / r[i * k + i];
    }
    alpha[0] = 1.0 - alpha[1..m].iter().sum::<f64>();
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cholesky_and_inverse() {
        let a = [4.0, 2.0, 0.4, 2.0, 5.0, 1.0, 0.4, 1.0, 3.0];
        let l = cholesky(&a, 3).unwrap();
        let w = invert_lower(&l, 3);
        // W A W^T = I
        for i in 0..3 {
            for j in 0..3 {
                let mut s = 0.0;
                for k in 0..3 {
                    for t in 0..3 {
                        s += w[i * 3 + k] * a[k * 3 + t] * w[j * 3 + t];
                    }
                }
                assert!((s - if i == j { 1.0 } else { 0.0 }).abs() < 1e-12, "{i} {j} {s}");
            }
        }
        assert!(cholesky(&[1.0, 1.0, 1.0, 1.0], 2).is_none());
    }

    #[test]
    fn affine_minimiser_of_a_segment() {
        // Segment from (1, -1) to (1, 1): least norm point (1, 0), weights 1/2 each.
        let q = [1.0, -1.0, 1.0, 1.0];
        let mut a = [0.0; 2];
        let mut s = [0.0; 8];
        affine_minimiser(&q, 2, 2, &mut a, &mut s).unwrap();
        assert!((a[0] - 0.5).abs() < 1e-14 && (a[1] - 0.5).abs() < 1e-14);
    }
}
