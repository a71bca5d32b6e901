//! The small primitives of the row operations: halos zeroed, `y += w x`,
//! and sums.

use crate::simd::{Real, mul_add};

/// Sets a row's halo to zero: a few slots, where a call to `memset` (what
/// the compiler makes of `fill`) would cost more than the stores (4% of
/// cifar-v in `f32`).
#[inline(always)]
pub fn zero_halo<T: Real>(halo: &mut [T]) {
    if halo.len() > 16 {
        return halo.fill(T::zero());
    }
    for v in halo {
        // SAFETY: `v` is a valid, aligned `&mut T`. Volatile only keeps the
        // loop from being turned back into a call to `memset`.
        unsafe { std::ptr::write_volatile(v, T::zero()) };
    }
}

/// `y += w · x`.
#[inline(always)]
pub fn axpy<T: Real, const FMA: bool>(w: T, x: &[T], y: &mut [T]) {
    for (y, &x) in y.iter_mut().zip(x) {
        *y = mul_add::<T, FMA>(w, x, *y);
    }
}

/// `Σ x` in `f64`, with eight partial sums.
pub fn total<T: Real>(x: &[T]) -> f64 {
    let mut acc = [0.0; 8];
    let chunks = x.chunks_exact(8);
    let tail = chunks.remainder().iter().fold(0.0, |s, v| s + v.widen());
    for chunk in chunks {
        for (a, v) in acc.iter_mut().zip(chunk) {
            *a += v.widen();
        }
    }
    acc.iter().fold(tail, |s, &v| s + v)
}

/// `Σ x` with eight partial sums, so that it vectorises.
#[inline(always)]
pub fn sum<T: Real>(x: &[T]) -> T {
    let mut acc = [T::zero(); 8];
    let chunks = x.chunks_exact(8);
    let rest = chunks.remainder();
    for chunk in chunks {
        for (a, &v) in acc.iter_mut().zip(chunk) {
            *a += v;
        }
    }
    let tail = rest.iter().fold(T::zero(), |s, &v| s + v);
    acc.iter().fold(tail, |s, &v| s + v)
}
