//! Running element-wise loops with AVX2 when the CPU has it, without building for one CPU.
//!
//! The loops of the backward pass and of Adam are plain Rust that LLVM vectorises; inlined into
//! a `#[target_feature(enable = "avx2,fma")]` function they get 256-bit vectors instead of
//! SSE2's 128 (the same trick as `nn::kernel`). Rust never fuses `a * b + c` into an FMA on its
//! own, so both paths give bit-identical results.

/// Runs `f`, compiled for AVX2 + FMA when the CPU supports them. Whatever `f` inlines (mark
/// hot helpers `#[inline(always)]`) is compiled that way too.
#[inline(always)]
pub fn vectorized<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx2,fma")]
        unsafe fn avx2<R>(f: impl FnOnce() -> R) -> R {
            f()
        }
        if crate::nn::kernel::has_avx2_fma() {
            // SAFETY: the CPU supports AVX2 and FMA (checked just above).
            return unsafe { avx2(f) };
        }
    }
    f()
}
