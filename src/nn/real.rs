//! The two floating-point types networks run in, and the kernels each one dispatches to.

use std::fmt::Debug;
use std::ops::{Add, AddAssign, Div, Mul, Neg, Sub};

use super::kernel;

/// A float type networks are evaluated in: `f32` (fast, the default for shipped emulators) or
/// `f64` (exact Jacobian tests, training).
pub trait Real:
    Copy
    + Debug
    + Default
    + PartialOrd
    + Send
    + Sync
    + 'static
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
    + AddAssign
{
    const ZERO: Self;
    const ONE: Self;
    /// The name of the dtype in safetensors (`F32`, `F64`).
    const DTYPE: &'static str;

    fn from_f64(x: f64) -> Self;
    fn to_f64(self) -> f64;
    fn max(self, other: Self) -> Self;

    /// `y += x^T w` for `w` of shape `[x.len(), y.len()]` (row-major): one dense layer.
    fn gemv_t(w: &[Self], x: &[Self], y: &mut [Self]);
    /// In-place `tanh` over a slice.
    fn tanh_in_place(x: &mut [Self]);
    /// `C = A B` (`C` overwritten) for row-major `A [m, k]`, `B [k, n]`, `C [m, n]`.
    fn gemm(m: usize, k: usize, n: usize, a: &[Self], b: &[Self], c: &mut [Self]);
}

macro_rules! impl_real {
    ($t:ty, $dtype:literal, $gemv:path, $tanh:path, $gemm:path) => {
        impl Real for $t {
            const ZERO: Self = 0.0;
            const ONE: Self = 1.0;
            const DTYPE: &'static str = $dtype;

            #[inline(always)]
            fn from_f64(x: f64) -> Self {
                x as $t
            }
            #[inline(always)]
            fn to_f64(self) -> f64 {
                self as f64
            }
            #[inline(always)]
            fn max(self, other: Self) -> Self {
                <$t>::max(self, other)
            }
            #[inline]
            fn gemv_t(w: &[Self], x: &[Self], y: &mut [Self]) {
                $gemv(w, x, y)
            }
            #[inline]
            fn tanh_in_place(x: &mut [Self]) {
                $tanh(x)
            }
            fn gemm(m: usize, k: usize, n: usize, a: &[Self], b: &[Self], c: &mut [Self]) {
                assert!(a.len() >= m * k && b.len() >= k * n && c.len() >= m * n);
                // SAFETY: the asserts above bound every index the row-major strides reach.
                unsafe {
                    $gemm(
                        m, k, n, 1.0, a.as_ptr(), k as isize, 1, b.as_ptr(), n as isize, 1, 0.0,
                        c.as_mut_ptr(), n as isize, 1,
                    )
                }
            }
        }
    };
}

impl_real!(f32, "F32", kernel::gemv_t_f32, kernel::tanh_f32, matrixmultiply::sgemm);
impl_real!(f64, "F64", kernel::gemv_t_f64, kernel::tanh_f64, matrixmultiply::dgemm);
