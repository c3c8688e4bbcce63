//! The three matrix products of a dense layer's forward and backward passes, on top of
//! matrixmultiply's strided GEMM (which reads transposed operands through their strides, so no
//! transpose is ever materialised).

use crate::nn::Real;

/// A float type the trainer computes in: [`Real`] plus what the backward pass and Adam need.
///
/// `f32` trains (fast); `f64` checks gradients against finite differences (exact).
pub trait TrainReal: Real {
    fn sqrt(self) -> Self;
    fn is_finite(self) -> bool;

    /// `C = alpha A B + beta C` for `A [m, k]`, `B [k, n]`, `C [m, n]` addressed through
    /// (row stride, column stride) pairs, as matrixmultiply's `sgemm`/`dgemm`.
    ///
    /// # Safety
    /// Every element reached through the strides must lie inside its operand's allocation.
    #[allow(clippy::too_many_arguments)]
    unsafe fn gemm_strided(
        m: usize,
        k: usize,
        n: usize,
        alpha: Self,
        a: *const Self,
        a_strides: (usize, usize),
        b: *const Self,
        b_strides: (usize, usize),
        beta: Self,
        c: *mut Self,
        c_strides: (usize, usize),
    );
}

macro_rules! impl_train_real {
    ($t:ty, $gemm:path) => {
        impl TrainReal for $t {
            #[inline(always)]
            fn sqrt(self) -> Self {
                <$t>::sqrt(self)
            }
            #[inline(always)]
            fn is_finite(self) -> bool {
                <$t>::is_finite(self)
            }
            unsafe fn gemm_strided(
                m: usize,
                k: usize,
                n: usize,
                alpha: Self,
                a: *const Self,
                (rsa, csa): (usize, usize),
                b: *const Self,
                (rsb, csb): (usize, usize),
                beta: Self,
                c: *mut Self,
                (rsc, csc): (usize, usize),
            ) {
                $gemm(
                    m,
                    k,
                    n,
                    alpha,
                    a,
                    rsa as isize,
                    csa as isize,
                    b,
                    rsb as isize,
                    csb as isize,
                    beta,
                    c,
                    rsc as isize,
                    csc as isize,
                )
            }
        }
    };
}

impl_train_real!(f32, matrixmultiply::sgemm);
impl_train_real!(f64, matrixmultiply::dgemm);

/// The number of elements an `[rows, cols]` operand with these strides reaches.
fn extent(rows: usize, cols: usize, (rs, cs): (usize, usize)) -> usize {
    if rows == 0 || cols == 0 {
        0
    } else {
        (rows - 1) * rs + (cols - 1) * cs + 1
    }
}

/// matrixmultiply (built with its `threading` feature, which batched evaluation uses) runs a
/// product on its own extra threads once `m k + k n` reaches this. Inside the trainer's
/// workers that oversubscribes the cores: measured on 2 cores with 4 x 256 layers, 2 workers
/// fell from 105k to 70k samples/s. So larger products are cut into tiles below it.
const SERIAL_LIMIT: usize = 1 << 15;

/// Tile sizes `(mt, kt, nt)` for an `[m, k] x [k, n]` product with `mt kt + kt nt` below
/// [`SERIAL_LIMIT`]: `k` in pieces of at most 128, then the larger of `m`, `n` halved until it
/// fits. (Packing costs `1/mt + 1/nt` per multiply-add, whatever `kt`.)
fn tiles(m: usize, k: usize, n: usize) -> (usize, usize, usize) {
    if m * k + k * n < SERIAL_LIMIT {
        return (m, k, n);
    }
    let kt = k.min(128);
    let (mut mt, mut nt) = (m, n);
    while mt * kt + kt * nt >= SERIAL_LIMIT {
        if mt >= nt {
            mt = mt.div_ceil(2);
        } else {
            nt = nt.div_ceil(2);
        }
    }
    (mt, kt, nt)
}

/// `C = A B` (or `C += A B`) with `A`, `B` read through strides and `C` row-major `[m, n]`,
/// tile by tile (see [`tiles`]).
fn gemm<T: TrainReal>(
    (m, k, n): (usize, usize, usize),
    a: &[T],
    sa: (usize, usize),
    b: &[T],
    sb: (usize, usize),
    accumulate: bool,
    c: &mut [T],
) {
    assert!(a.len() >= extent(m, k, sa), "GEMM operand A shorter than [{m}, {k}]");
    assert!(b.len() >= extent(k, n, sb), "GEMM operand B shorter than [{k}, {n}]");
    assert!(c.len() >= extent(m, n, (n, 1)), "GEMM output shorter than [{m}, {n}]");
    let (mt, kt, nt) = tiles(m, k, n);
    for i in (0..m).step_by(mt.max(1)) {
        for j in (0..n).step_by(nt.max(1)) {
            for p in (0..k).step_by(kt.max(1)) {
                let (tm, tk, tn) = (mt.min(m - i), kt.min(k - p), nt.min(n - j));
                // The first k-piece sets (or adds to) C, the others add.
                let beta = if accumulate || p > 0 { T::ONE } else { T::ZERO };
                // SAFETY: the asserts above bound every index the strides reach, and the tile
                // offsets stay inside [m, k], [k, n] and [m, n].
                unsafe {
                    T::gemm_strided(
                        tm,
                        tk,
                        tn,
                        T::ONE,
                        a.as_ptr().add(i * sa.0 + p * sa.1),
                        sa,
                        b.as_ptr().add(p * sb.0 + j * sb.1),
                        sb,
                        beta,
                        c.as_mut_ptr().add(i * n + j),
                        (n, 1),
                    )
                }
            }
        }
    }
}

/// Forward: `C [m, n] = A [m, k] B [k, n]`, all row-major (`B` is a layer's `W^T`).
pub fn matmul<T: TrainReal>(m: usize, k: usize, n: usize, a: &[T], b: &[T], c: &mut [T]) {
    gemm((m, k, n), a, (k, 1), b, (n, 1), false, c)
}

/// Weight gradient: `C [m, n] += A^T B` for row-major `A [k, m]` (a layer's inputs, one row per
/// point) and `B [k, n]` (the gradient at its pre-activations): the sum over the `k` points.
pub fn matmul_tn_acc<T: TrainReal>(m: usize, k: usize, n: usize, a: &[T], b: &[T], c: &mut [T]) {
    gemm((m, k, n), a, (1, m), b, (n, 1), true, c)
}

/// Input gradient: `C [m, n] = A B^T` for row-major `A [m, k]` and `B [n, k]` (`B` is a
/// layer's `W^T`, so `B^T` is `W`).
pub fn matmul_nt<T: TrainReal>(m: usize, k: usize, n: usize, a: &[T], b: &[T], c: &mut [T]) {
    gemm((m, k, n), a, (k, 1), b, (1, k), false, c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fill(len: usize, seed: usize) -> Vec<f64> {
        (0..len).map(|i| (((i + seed) * 37 % 101) as f64 - 50.0) / 23.0).collect()
    }

    #[test]
    fn tiles_stay_below_the_threading_limit() {
        for (m, k, n) in [(64, 128, 128), (64, 256, 256), (256, 64, 256), (64, 512, 2500), (1000, 6, 128)] {
            let (mt, kt, nt) = tiles(m, k, n);
            assert!(mt * kt + kt * nt < SERIAL_LIMIT, "{m} {k} {n}");
            assert!(mt >= 1 && kt >= 1 && nt >= 1);
        }
        assert_eq!(tiles(64, 128, 128), (64, 128, 128), "no tiling below the limit");
    }

    #[test]
    fn tiled_products_match_naive() {
        // Large enough to be tiled in every dimension: [200, 300] x [300, 180].
        let (m, k, n) = (200, 300, 180);
        let (a, b) = (fill(m * k, 5), fill(k * n, 6));
        let mut c = vec![0.5; m * n];
        gemm((m, k, n), &a, (k, 1), &b, (n, 1), true, &mut c);
        for i in (0..m).step_by(7) {
            for j in (0..n).step_by(5) {
                let naive: f64 = 0.5 + (0..k).map(|p| a[i * k + p] * b[p * n + j]).sum::<f64>();
                assert!((c[i * n + j] - naive).abs() < 1e-10 * (1.0 + naive.abs()));
            }
        }
    }

    #[test]
    fn transposed_products_match_naive() {
        let (m, k, n) = (5, 7, 3);
        // tn: A is [k, m], B is [k, n].
        let (a, b) = (fill(k * m, 1), fill(k * n, 2));
        let mut c = vec![1.0; m * n];
        matmul_tn_acc(m, k, n, &a, &b, &mut c);
        for i in 0..m {
            for j in 0..n {
                let naive: f64 = 1.0 + (0..k).map(|p| a[p * m + i] * b[p * n + j]).sum::<f64>();
                assert!((c[i * n + j] - naive).abs() < 1e-12);
            }
        }
        // nt: A is [m, k], B is [n, k].
        let (a, b) = (fill(m * k, 3), fill(n * k, 4));
        let mut c = vec![9.0; m * n];
        matmul_nt(m, k, n, &a, &b, &mut c);
        for i in 0..m {
            for j in 0..n {
                let naive: f64 = (0..k).map(|p| a[i * k + p] * b[j * k + p]).sum();
                assert!((c[i * n + j] - naive).abs() < 1e-12);
            }
        }
    }
}
