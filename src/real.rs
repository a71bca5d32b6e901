//! The floating-point types maps are computed in: `f64` (the default) or
//! `f32` (`dtype="float32"`: twice the SIMD lanes, half the memory traffic).

use std::fmt::Debug;
use std::ops::{AddAssign, MulAssign};

use num_traits::{Float, FloatConst};

use crate::arccos;

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

pub trait Real: Float + FloatConst + AddAssign + MulAssign + Default + Debug + Send + Sync + 'static {
    /// Coefficients of the arc-sine polynomial of `arccos` (lowest first).
    const ASIN: &'static [Self];
    /// Rows `DensePool` pools at once (`maps::pool_cols`), one 32-byte SIMD
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
    const ASIN: &'static [f64] = &arccos::ASIN_F64;
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
    const ASIN: &'static [f32] = &arccos::ASIN_F32;
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

/// `a · b + c`: one fused rounding where the CPU has FMA (`FMA = true`, only
/// inside code compiled for it), two roundings in the portable build, where
/// a fused multiply-add would be a slow library call.
#[inline(always)]
pub fn mul_add<T: Real, const FMA: bool>(a: T, b: T, c: T) -> T {
    if FMA { a.mul_add(b, c) } else { a * b + c }
}

/// `Σ_k coef[k] x^k` as `E(x²) + x O(x²)`, with Horner's rule for the even
/// and odd coefficients: two independent dependency chains of half the
/// length of one (the ReLU step's loop is latency-bound otherwise).
#[inline(always)]
pub fn polynomial<T: Real, const FMA: bool>(coef: &[T], x: T) -> T {
    let x2 = x * x;
    let horner = |first: usize| {
        let mut terms = coef.iter().skip(first).step_by(2).rev();
        let last = *terms.next().expect("a polynomial has two coefficients");
        terms.fold(last, |acc, &k| mul_add::<T, FMA>(acc, x2, k))
    };
    mul_add::<T, FMA>(horner(1), x, horner(0))
}
