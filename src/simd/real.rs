//! The floating-point types maps are computed in: `f64` (the default) or
//! `f32` (`dtype="float32"`: twice the SIMD lanes, half the memory traffic).

use std::f64::consts::PI;
use std::fmt::Debug;
use std::ops::{AddAssign, MulAssign};

use num_traits::{Float, FloatConst};

use super::lanes::Lanes;
use crate::memory::Zeroable;

/// The precision a computation runs in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Precision {
    #[default]
    F64,
    F32,
}

impl Precision {
    /// Bytes of one value.
    pub fn bytes(self) -> usize {
        match self {
            Precision::F64 => 8,
            Precision::F32 => 4,
        }
    }
}

/// A type maps are computed in (`f64` or `f32`), with what the hot loops
/// need of it (`Lanes`: its AVX2 vector). Everything that differs between
/// the two precisions is here; a call matches its [`Precision`] once and the
/// engine below is generic over `T: Real`.
pub trait Real:
    Float + FloatConst + AddAssign + MulAssign + Default + Debug + Send + Sync + Lanes + Zeroable + 'static
{
    const PRECISION: Precision;
    /// Coefficients of the arc-sine polynomial of the vectorised κ0, κ1
    /// (`kappa::arccos`), lowest first.
    const ASIN: &'static [Self];
    /// Rows dense pooling pools at once (`maps::pool_cols`), one 32-byte SIMD
    /// vector: each cell of its matrices holds one value of each row, so the
    /// copies in and out of the matrices move whole cells and the pooling
    /// works on full vectors.
    const POOL_ROWS: usize;

    /// `v` rounded to this type.
    fn of(v: f64) -> Self;
    /// `self` exactly, as an `f64`.
    fn widen(self) -> f64;
}

impl Real for f64 {
    const PRECISION: Precision = Precision::F64;
    const ASIN: &'static [f64] = &ASIN_F64;
    const POOL_ROWS: usize = 4;

    #[inline(always)]
    fn of(v: f64) -> f64 {
        v
    }

    #[inline(always)]
    fn widen(self) -> f64 {
        self
    }
}

impl Real for f32 {
    const PRECISION: Precision = Precision::F32;
    const ASIN: &'static [f32] = &ASIN_F32;
    const POOL_ROWS: usize = 8;

    #[inline(always)]
    fn of(v: f64) -> f32 {
        v as f32
    }

    #[inline(always)]
    fn widen(self) -> f64 {
        self as f64
    }
}

/// `F(z)/π` with `F(z) = (asin √z − √z)/(z √z)` on `[0, 1/4]`, degree 11,
/// for `f64`.
const ASIN_F64: [f64; 12] = over_pi([
    0.16666666666666646,
    0.07500000000022013,
    0.04464285710140686,
    0.030381947493985678,
    0.02237204354240184,
    0.017355336764661045,
    0.01392875424071592,
    0.01188224218663178,
    0.007770420018850567,
    0.016132841087646524,
    -0.010913543187827727,
    0.028289229320416054,
]);

/// `F/π` of degree 4 for `f32`.
const ASIN_F32: [f32; 5] = narrow(over_pi([0.16666673, 0.074988134, 0.045009907, 0.026499338, 0.038196355]));

const fn over_pi<const N: usize>(coef: [f64; N]) -> [f64; N] {
    let mut out = coef;
    let mut i = 0;
    while i < N {
        out[i] = coef[i] / PI;
        i += 1;
    }
    out
}

const fn narrow<const N: usize>(coef: [f64; N]) -> [f32; N] {
    let mut out = [0.0; N];
    let mut i = 0;
    while i < N {
        out[i] = coef[i] as f32;
        i += 1;
    }
    out
}

/// `a · b + c`: one fused rounding where the CPU has FMA (`FMA = true`, only
/// inside code compiled for it), two roundings in the portable build, where
/// a fused multiply-add would be a slow library call.
#[inline(always)]
pub fn mul_add<T: Real, const FMA: bool>(a: T, b: T, c: T) -> T {
    if FMA { a.mul_add(b, c) } else { a * b + c }
}

/// `Σ_k coef[k] x^k` (at most 16 coefficients) by Estrin's scheme: the
/// pairs `coef[2i] + coef[2i + 1] x`, then pairs of those with `x²`, of
/// those with `x⁴` and `x⁸`: a dependency chain of four multiply-adds where
/// Horner's rule has `n` (the ReLU step's loop is latency-bound).
#[inline(always)]
pub fn polynomial<T: Real, const FMA: bool>(coef: &[T], x: T) -> T {
    assert!(coef.len() <= 16, "at most 16 coefficients");
    let x2 = x * x;
    let x4 = x2 * x2;
    let t: [T; 8] = pairs::<T, FMA, 8>(coef, x);
    let t: [T; 4] = pairs::<T, FMA, 4>(&t[..coef.len().div_ceil(2)], x2);
    let t: [T; 2] = pairs::<T, FMA, 2>(&t[..coef.len().div_ceil(4)], x4);
    let t: [T; 1] = pairs::<T, FMA, 1>(&t[..coef.len().div_ceil(8)], x4 * x4);
    t[0]
}

/// `terms[2i] + terms[2i + 1] · power` for `i < M` (a lone last term as it
/// is, zero past the end).
#[inline(always)]
fn pairs<T: Real, const FMA: bool, const M: usize>(terms: &[T], power: T) -> [T; M] {
    let mut out = [T::zero(); M];
    for (i, o) in out.iter_mut().enumerate() {
        *o = match terms.get(2 * i..) {
            Some([a, b, ..]) => mul_add::<T, FMA>(*b, power, *a),
            Some([a]) => *a,
            _ => T::zero(),
        };
    }
    out
}

/// The exponent `e` of `m = f · 2^e` with `|f|` in `[1/2, 1)` (C's `frexp`);
/// 0 for zero. `m` is finite.
pub fn binary_exponent(m: f64) -> i32 {
    if m == 0.0 {
        return 0;
    }
    let biased = ((m.to_bits() >> 52) & 0x7ff) as i32;
    if biased == 0 {
        // Subnormal: scale it into the normal range first.
        return binary_exponent(m * 2f64.powi(64)) - 64;
    }
    biased - 1022
}

/// `v · 2^e`, rounded once: by factors of at most `2^±1000`, each a normal
/// number, all on the same side of 1, so no step over- or underflows
/// before the result does.
pub fn times_pow2(mut v: f64, mut e: i32) -> f64 {
    while e != 0 {
        let step = e.clamp(-1000, 1000);
        v *= f64::from_bits(((1023 + step) as u64) << 52);
        e -= step;
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_exponents_are_frexp() {
        for (m, e) in [(1.0, 1), (0.5, 0), (0.75, 0), (-3.0, 2), (f64::MAX, 1024), (f64::MIN_POSITIVE, -1021)]
        {
            assert_eq!(binary_exponent(m), e, "{m}");
        }
        // Subnormals, down to the smallest.
        assert_eq!(binary_exponent(f64::from_bits(1)), -1073);
        assert_eq!(binary_exponent(f64::MIN_POSITIVE / 4.0), -1023);
        assert_eq!(binary_exponent(0.0), 0);
    }

    #[test]
    fn powers_of_two_scale_exactly_across_the_range() {
        for m in [f64::MAX, 1.0 + f64::EPSILON, -std::f64::consts::PI, f64::from_bits(1), 3e-310] {
            let e = binary_exponent(m);
            let f = times_pow2(m, -e);
            assert!((0.5..1.0).contains(&f.abs()), "{m}: {f}");
            assert_eq!(times_pow2(f, e), m);
        }
        assert_eq!(times_pow2(1.0, 2000), f64::INFINITY);
        assert_eq!(times_pow2(1.0, -1074), f64::from_bits(1));
        assert_eq!(times_pow2(1.0, -1080), 0.0);
    }
}
