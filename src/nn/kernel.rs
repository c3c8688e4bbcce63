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

/// `b^x` for `b` = 10 or e, in f64, over a block: `2^n e^r` with `n` the nearest integer to
/// `x log2(b)`, `r` the remainder (|r| <= ln2 / 2, taken in two parts so that it is exact to an
/// ulp) and `e^r` by its Taylor series to degree 13 (truncation below 2e-16). Within 1e-15
/// relative of libm (tested), branch-free so that it vectorises; only `|x log2(b)| <= 1020` is
/// in range (the caller sends the rest to libm).
#[inline(always)]
fn exp_body(x: &mut [f64; EXP_BLOCK], base10: bool, fma: impl Fn(f64, f64, f64) -> f64) {
    // 1.5 * 2^52: adding it rounds to an integer, which then sits in the low bits of the sum.
    const SHIFTER: f64 = 6_755_399_441_055_744.0;
    // log_b(2) in two parts: `hi` has 32 significant bits, so `n * hi` is exact for |n| < 2^21.
    let (log2_b, hi, lo, ln_b) = if base10 {
        (std::f64::consts::LOG2_10, 0.301_029_995_549_470_2, 1.145_110_089_802_183_8e-10, std::f64::consts::LN_10)
    } else {
        (std::f64::consts::LOG2_E, 0.693_147_180_369_123_8, 1.908_214_929_270_587_7e-10, 1.0)
    };
    const C: [f64; 14] = [
        1.0,
        1.0,
        1.0 / 2.0,
        1.0 / 6.0,
        1.0 / 24.0,
        1.0 / 120.0,
        1.0 / 720.0,
        1.0 / 5040.0,
        1.0 / 40320.0,
        1.0 / 362_880.0,
        1.0 / 3_628_800.0,
        1.0 / 39_916_800.0,
        1.0 / 479_001_600.0,
        1.0 / 6_227_020_800.0,
    ];
    for v in x.iter_mut() {
        let t = fma(*v, log2_b, SHIFTER);
        let n = t - SHIFTER;
        // The remainder in units of log_b, then in natural units.
        let r = fma(-n, lo, fma(-n, hi, *v)) * ln_b;
        let mut p = C[13];
        for &c in C[..13].iter().rev() {
            p = fma(p, r, c);
        }
        let bits = t.to_bits().wrapping_sub(SHIFTER.to_bits()).wrapping_add(1023) << 52;
        *v = p * f64::from_bits(bits);
    }
}

/// Values per block of [`pow10_in_place`] and [`exp_in_place`] (a stack buffer of f64).
const EXP_BLOCK: usize = 64;

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn exp_block_avx2(x: &mut [f64; EXP_BLOCK], base10: bool) {
    exp_body(x, base10, |a, b, c| a.mul_add(b, c))
}

fn exp_block(x: &mut [f64; EXP_BLOCK], base10: bool) {
    #[cfg(target_arch = "x86_64")]
    if has_avx2_fma() {
        // SAFETY: the CPU supports AVX2 and FMA (checked just above).
        return unsafe { exp_block_avx2(x, base10) };
    }
    exp_body(x, base10, |a, b, c| a * b + c)
}

/// `x = b^x` in place, in blocks of f64 whatever `T` (so that an f32 network's outputs are its
/// f64 power rounded once); arguments out of the fast range (overflow, underflow, NaN) go to libm.
fn power_in_place<T: super::Real>(x: &mut [T], base10: bool) {
    let limit = if base10 { 307.0 } else { 707.0 };
    let mut block = [0.0f64; EXP_BLOCK];
    for chunk in x.chunks_mut(EXP_BLOCK) {
        let block = &mut block;
        let mut in_range = true;
        for (b, v) in block.iter_mut().zip(chunk.iter()) {
            *b = v.to_f64();
            in_range &= b.abs() <= limit;
        }
        let arguments = *block;
        exp_block(block, base10);
        for (b, v) in block.iter().zip(chunk.iter_mut()) {
            *v = T::from_f64(*b);
        }
        if !in_range {
            // Rare: overflow, underflow, NaN, or a block with one of them.
            for (&arg, v) in arguments.iter().zip(chunk.iter_mut()) {
                if arg.is_nan() || arg.abs() > limit {
                    *v = T::from_f64(if base10 { 10f64.powf(arg) } else { arg.exp() });
                }
            }
        }
    }
}

/// `x = 10^x` in place (the `pow10` output step, one point or a batch alike).
pub fn pow10_in_place<T: super::Real>(x: &mut [T]) {
    power_in_place(x, true)
}

/// `x = e^x` in place (the `exp` output step, one point or a batch alike).
pub fn exp_in_place<T: super::Real>(x: &mut [T]) {
    power_in_place(x, false)
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
    fn fast_powers_match_libm() {
        let xs: Vec<f64> = (-400_000..=400_000).map(|i| i as f64 * 1.234_567e-4).collect();
        for (base10, name) in [(true, "10^x"), (false, "e^x")] {
            let mut ys = xs.clone();
            if base10 {
                pow10_in_place(&mut ys);
            } else {
                exp_in_place(&mut ys);
            }
            let mut worst = 0.0f64;
            for (x, y) in xs.iter().zip(&ys) {
                let exact = if base10 { 10f64.powf(*x) } else { x.exp() };
                worst = worst.max(((y - exact) / exact).abs());
            }
            // A few ulp of f64 (2.2e-16 each).
            assert!(worst < 1e-15, "{name}: max relative error {worst}");
        }
        // Out of the fast range: libm's overflow, underflow and NaN.
        let mut edge = vec![400.0, -400.0, f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 1000.0];
        pow10_in_place(&mut edge);
        assert_eq!(&edge[..2], &[f64::INFINITY, 0.0]);
        assert!(edge[2].is_nan());
        assert_eq!(&edge[3..], &[f64::INFINITY, 0.0, f64::INFINITY]);
        let mut f32s = vec![0.5f32, -3.0, 40.0];
        pow10_in_place(&mut f32s);
        assert_eq!(f32s, vec![10f64.powf(0.5) as f32, 10f64.powf(-3.0) as f32, f32::INFINITY]);
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
