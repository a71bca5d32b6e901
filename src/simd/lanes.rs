//! A precision's 256-bit AVX2 vector and the few intrinsics the hot loops
//! write by hand where the compiler's own vectorisation depended on the
//! crate being built (the register blocks of [`crate::maps::dots`]) or never
//! came (the transposes of dense pooling, [`crate::maps::pool`]). Every method is for code compiled for AVX2 and FMA.

#[cfg(target_arch = "x86_64")]
pub use avx2::Lanes;

/// Nothing to provide off x86-64.
#[cfg(not(target_arch = "x86_64"))]
pub trait Lanes {}
#[cfg(not(target_arch = "x86_64"))]
impl Lanes for f64 {}
#[cfg(not(target_arch = "x86_64"))]
impl Lanes for f32 {}

/// Values in one 256-bit vector of `T`: 4 `f64`, 8 `f32`.
pub const fn lanes<T>() -> usize {
    32 / std::mem::size_of::<T>()
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    /// A precision's AVX2 vector and its operations.
    pub trait Lanes: Sized + Copy {
        type V: Copy;
        /// A vector of zeros.
        ///
        /// # Safety
        /// The CPU has AVX2 and FMA (as for every method here).
        unsafe fn vzero() -> Self::V;
        /// The vector at `p`.
        ///
        /// # Safety
        /// `p` points at a whole vector's values.
        unsafe fn vload(p: *const Self) -> Self::V;
        /// `a · b + c`, fused.
        ///
        /// # Safety
        /// See `vzero`.
        unsafe fn vmul_add(a: Self::V, b: Self::V, c: Self::V) -> Self::V;
        /// The lanes, written to the start of `out`.
        ///
        /// # Safety
        /// See `vzero`.
        unsafe fn vstore(v: Self::V, out: &mut [Self; 8]);
        /// The square block of `lanes` vectors at `src + r · src_stride`
        /// (`r < lanes`), transposed: vector `k` of the result, at `dst + k ·
        /// dst_stride`, holds lane `k` of each vector read.
        ///
        /// # Safety
        /// Every vector read and written lies in its allocation.
        unsafe fn transpose(src: *const Self, src_stride: usize, dst: *mut Self, dst_stride: usize);
    }

    impl Lanes for f64 {
        type V = __m256d;

        #[inline(always)]
        unsafe fn vzero() -> __m256d {
            unsafe { _mm256_setzero_pd() }
        }
        #[inline(always)]
        unsafe fn vload(p: *const f64) -> __m256d {
            unsafe { _mm256_loadu_pd(p) }
        }
        #[inline(always)]
        unsafe fn vmul_add(a: __m256d, b: __m256d, c: __m256d) -> __m256d {
            unsafe { _mm256_fmadd_pd(a, b, c) }
        }
        #[inline(always)]
        unsafe fn vstore(v: __m256d, out: &mut [f64; 8]) {
            unsafe { _mm256_storeu_pd(out.as_mut_ptr(), v) }
        }
        #[inline(always)]
        unsafe fn transpose(src: *const f64, src_stride: usize, dst: *mut f64, dst_stride: usize) {
            unsafe {
                // (No closures: they would be compiled without AVX2.)
                let r0 = _mm256_loadu_pd(src);
                let r1 = _mm256_loadu_pd(src.add(src_stride));
                let r2 = _mm256_loadu_pd(src.add(2 * src_stride));
                let r3 = _mm256_loadu_pd(src.add(3 * src_stride));
                // Pairs of rows interleaved within 128-bit halves, then halves swapped.
                let (t0, t1) = (_mm256_unpacklo_pd(r0, r1), _mm256_unpackhi_pd(r0, r1));
                let (t2, t3) = (_mm256_unpacklo_pd(r2, r3), _mm256_unpackhi_pd(r2, r3));
                let cols = [
                    _mm256_permute2f128_pd::<0x20>(t0, t2),
                    _mm256_permute2f128_pd::<0x20>(t1, t3),
                    _mm256_permute2f128_pd::<0x31>(t0, t2),
                    _mm256_permute2f128_pd::<0x31>(t1, t3),
                ];
                for (k, c) in cols.into_iter().enumerate() {
                    _mm256_storeu_pd(dst.add(k * dst_stride), c);
                }
            }
        }
    }

    impl Lanes for f32 {
        type V = __m256;

        #[inline(always)]
        unsafe fn vzero() -> __m256 {
            unsafe { _mm256_setzero_ps() }
        }
        #[inline(always)]
        unsafe fn vload(p: *const f32) -> __m256 {
            unsafe { _mm256_loadu_ps(p) }
        }
        #[inline(always)]
        unsafe fn vmul_add(a: __m256, b: __m256, c: __m256) -> __m256 {
            unsafe { _mm256_fmadd_ps(a, b, c) }
        }
        #[inline(always)]
        unsafe fn vstore(v: __m256, out: &mut [f32; 8]) {
            unsafe { _mm256_storeu_ps(out.as_mut_ptr(), v) }
        }
        #[inline(always)]
        unsafe fn transpose(src: *const f32, src_stride: usize, dst: *mut f32, dst_stride: usize) {
            unsafe {
                let mut r = [_mm256_setzero_ps(); 8];
                for (i, r) in r.iter_mut().enumerate() {
                    *r = _mm256_loadu_ps(src.add(i * src_stride));
                }
                // Rows interleaved in pairs, then in fours (within 128-bit
                // halves), then halves swapped. (No closures: they would be
                // compiled without AVX2.)
                let mut pairs = [_mm256_setzero_ps(); 8];
                for i in 0..4 {
                    pairs[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
                    pairs[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
                }
                let mut fours = [_mm256_setzero_ps(); 8];
                for h in 0..2 {
                    let [lo0, hi0, lo1, hi1] =
                        [pairs[4 * h], pairs[4 * h + 1], pairs[4 * h + 2], pairs[4 * h + 3]];
                    fours[4 * h] = _mm256_shuffle_ps::<0x44>(lo0, lo1);
                    fours[4 * h + 1] = _mm256_shuffle_ps::<0xEE>(lo0, lo1);
                    fours[4 * h + 2] = _mm256_shuffle_ps::<0x44>(hi0, hi1);
                    fours[4 * h + 3] = _mm256_shuffle_ps::<0xEE>(hi0, hi1);
                }
                for k in 0..4 {
                    let (top, bottom) = (fours[k], fours[k + 4]);
                    _mm256_storeu_ps(dst.add(k * dst_stride), _mm256_permute2f128_ps::<0x20>(top, bottom));
                    _mm256_storeu_ps(
                        dst.add((k + 4) * dst_stride),
                        _mm256_permute2f128_ps::<0x31>(top, bottom),
                    );
                }
            }
        }
    }
}
