//! The inner loops of a single-point forward pass, with AVX2+FMA versions chosen at run time.
//!
//! The generic loops are written so that LLVM vectorises them; compiling the same body inside a
//! `#[target_feature(enable = "avx2,fma")]` function gives 256-bit FMAs without building the
//! whole wheel for one CPU (never `-C target-cpu` in a wheel).

/// `y += x^T w`, `w` of shape `[x.len(), y.len()]` row-major. Four rows of `w` are folded into
/// each pass over `y`, so `y` is loaded and stored a quarter as often.
#[inline(always)]
fn gemv_t_body<T>(w: &[T], x: &[T], y: &mut [T], fma: impl Fn(T, T, T) -> T)
where
    T: Copy,
{
    let n = y.len();
    let rows = x.len();
    assert!(w.len() >= rows * n, "weight matrix smaller than [{rows}, {n}]");
    let mut r = 0;
    while r + 4 <= rows {
        let (x0, x1, x2, x3) = (x[r], x[r + 1], x[r + 2], x[r + 3]);
        let w0 = &w[r * n..(r + 1) * n];
        let w1 = &w[(r + 1) * n..(r + 2) * n];
        let w2 = &w[(r + 2) * n..(r + 3) * n];
        let w3 = &w[(r + 3) * n..(r + 4) * n];
        for j in 0..n {
            let acc = fma(x0, w0[j], y[j]);
            let acc = fma(x1, w1[j], acc);
            let acc = fma(x2, w2[j], acc);
            y[j] = fma(x3, w3[j], acc);
        }
        r += 4;
    }
    while r < rows {
        let xr = x[r];
        let wr = &w[r * n..(r + 1) * n];
        for j in 0..n {
            y[j] = fma(xr, wr[j], y[j]);
        }
        r += 1;
    }
}

/// Branch-free rational approximation of tanh for f32 (the one Eigen used for years): clamping
/// to +-9 keeps it exact to a few ulp across the whole line, and without branches it vectorises.
#[inline(always)]
fn tanh_f32_body(x: &mut [f32]) {
    const A1: f32 = 4.893_524_6e-3;
    const A3: f32 = 6.372_619_3e-4;
    const A5: f32 = 1.485_722_4e-5;
    const A7: f32 = 5.122_297e-8;
    const A9: f32 = -8.604_672e-11;
    const A11: f32 = 2.000_188e-13;
    const A13: f32 = -2.760_768_5e-16;
    const B0: f32 = 4.893_525e-3;
    const B2: f32 = 2.268_434_7e-3;
    const B4: f32 = 1.185_347_1e-4;
    const B6: f32 = 1.198_258_4e-6;
    for v in x.iter_mut() {
        let t = v.clamp(-9.0, 9.0);
        let t2 = t * t;
        let mut p = t2 * A13 + A11;
        p = t2 * p + A9;
        p = t2 * p + A7;
        p = t2 * p + A5;
        p = t2 * p + A3;
        p = t2 * p + A1;
        p *= t;
        let mut q = t2 * B6 + B4;
        q = t2 * q + B2;
        q = t2 * q + B0;
        *v = p / q;
    }
}

macro_rules! dispatch {
    ($name:ident, $avx:ident, $t:ty, $body:expr) => {
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = "avx2,fma")]
        unsafe fn $avx(w: &[$t], x: &[$t], y: &mut [$t]) {
            gemv_t_body(w, x, y, |a: $t, b: $t, c: $t| a.mul_add(b, c))
        }

        pub fn $name(w: &[$t], x: &[$t], y: &mut [$t]) {
            #[cfg(target_arch = "x86_64")]
            if has_avx2_fma() {
                // SAFETY: the CPU supports AVX2 and FMA (checked just above).
                return unsafe { $avx(w, x, y) };
            }
            // Without hardware FMA, `mul_add` is a slow libm call: use a plain multiply-add.
            $body(w, x, y)
        }
    };
}

dispatch!(gemv_t_f32, gemv_t_f32_avx2, f32, |w, x, y| gemv_t_body(w, x, y, |a: f32, b: f32, c: f32| a * b + c));
dispatch!(gemv_t_f64, gemv_t_f64_avx2, f64, |w, x, y| gemv_t_body(w, x, y, |a: f64, b: f64, c: f64| a * b + c));

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn tanh_f32_avx2(x: &mut [f32]) {
    tanh_f32_body(x)
}

pub fn tanh_f32(x: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if has_avx2_fma() {
        // SAFETY: the CPU supports AVX2 and FMA (checked just above).
        return unsafe { tanh_f32_avx2(x) };
    }
    tanh_f32_body(x)
}

/// f64 networks serve exactness (tests, training), not speed: libm's tanh.
pub fn tanh_f64(x: &mut [f64]) {
    for v in x.iter_mut() {
        *v = v.tanh();
    }
}

/// Whether this CPU has AVX2 and FMA: the one check every run-time kernel choice in the crate
/// (inference, training, the convex hull) makes.
#[cfg(target_arch = "x86_64")]
#[inline]
pub(crate) fn has_avx2_fma() -> bool {
    // `is_x86_feature_detected!` caches its answer; this is a load and a test.
    is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_tanh_matches_libm() {
        let mut worst = 0.0f64;
        let xs: Vec<f32> = (-20000..=20000).map(|i| i as f32 * 1e-3).collect();
        let mut ys = xs.clone();
        tanh_f32(&mut ys);
        for (x, y) in xs.iter().zip(&ys) {
            let exact = (*x as f64).tanh();
            worst = worst.max((*y as f64 - exact).abs());
        }
        // About 5 ulp of f32 near +-1: far below any emulator's error.
        assert!(worst < 5e-7, "max abs error {worst}");
    }

    #[test]
    fn gemv_matches_naive_for_odd_sizes() {
        for (rows, cols) in [(1, 1), (3, 5), (4, 8), (7, 13), (130, 33)] {
            let w: Vec<f64> = (0..rows * cols).map(|i| ((i * 37 % 101) as f64 - 50.0) / 17.0).collect();
            let x: Vec<f64> = (0..rows).map(|i| (i as f64 - 2.5) / 3.0).collect();
            let mut y = vec![0.5; cols];
            gemv_t_f64(&w, &x, &mut y);
            for j in 0..cols {
                let naive: f64 = 0.5 + (0..rows).map(|r| x[r] * w[r * cols + j]).sum::<f64>();
                assert!((y[j] - naive).abs() < 1e-12 * (1.0 + naive.abs()));
            }
        }
    }
}
