//! The arc-cosine kernels `κ0(c) = 1 − arccos(c)/π` and
//! `κ1(c) = (c (π − arccos c) + sqrt(1 − c²))/π` of the ReLU step, computed
//! with selects instead of branches, one division-free polynomial and two
//! square roots, so that a loop over a row of a map compiles to SIMD code
//! (libm's `acos` does not vectorise and was 40% of the run time).
//!
//! With `a = |c|`: `κ0 = 1/2 + asin(c)/π` and asin is odd. For `a ≤ 1/2`,
//! `asin a = asin x` with `x = a`; for `a > 1/2`, `asin a = π/2 − 2 asin x`
//! with `x = sqrt((1 − a)/2)` (half-angle formula; `(1 − a)/2` is exact
//! there). Either way `x ∈ [0, 1/2]` and `asin(x)/π = x/π + x z F(z)/π`,
//! `z = x² ∈ [0, 1/4]`, where `F` is a minimax polynomial (fitted by
//! `tools/kappa_fit.py`; `1/π` is folded into its coefficients, which are
//! [`Real::ASIN`], one table per precision), evaluated by
//! Estrin's scheme ([`polynomial`]). Then `κ1 = c κ0 + sqrt(1 − c²)/π` with
//! `1 − c² = 2 · (1 − a)/2 · (1 + a)`, without cancellation near `c = ±1`
//! where `sqrt(1 − c²)` is most sensitive (spec §4). `c = ±1` and `c = 0`
//! give `κ0 ∈ {0, 1/2, 1}` and `κ1(±1) ∈ {0, 1}` exactly.
//!
//! Error bound, for an exact `c`, against the exact values (the polynomial's
//! part is measured by `tools/kappa_fit.py`, the rest is rounding analysis
//! with unit roundoff `u`):
//! - `f64`: `F` of degree 11 has relative error 1.3e-15, which enters
//!   `asin x` scaled by `z F / (1 + z F) ≤ 0.047`; with the roundings of `x`,
//!   the polynomial and its coefficients, `asin(x)/π` is within `4u` of its
//!   value relatively, and `|Δκ0| ≤ 3e-16`, `|Δκ1| ≤ 5e-16`: as accurate as
//!   the formulas evaluated with libm's `acos` and `sqrt`.
//! - `f32`: `F` of degree 4 (relative error 3.9e-7):
//!   `|Δκ0| ≤ 1.5e-7`, `|Δκ1| ≤ 3e-7`.
//!
//! The tests below check these bounds on dense sweeps against libm (and every
//! `f32` in `[−1, 1]` in an ignored test); `cargo run --release --example
//! kappa_sweep | python tools/kappa_fit.py --check -` checks them against
//! mpmath.

use std::f64::consts::PI;

use crate::simd::{Real, mul_add, polynomial};

/// `(κ0(c), κ1(c))` for `c ∈ [−1, 1]` (a NaN gives NaNs).
#[inline(always)]
pub fn kappas<T: Real, const FMA: bool>(c: T) -> (T, T) {
    let (half, two) = (T::of(0.5), T::of(2.0));
    let a = c.abs();
    let big = a > half;
    // (1 − a)/2, exact for a ≥ 1/2.
    let w = mul_add::<T, FMA>(-half, a, half);
    let z = if big { w } else { a * a };
    let x = if big { w.sqrt() } else { a };
    // sqrt(1 − c²)/π = sqrt(w (2 + 2a))/π.
    let two_over_pi2 = T::of(2.0 / (PI * PI));
    let r = (w * mul_add::<T, FMA>(two_over_pi2, a, two_over_pi2)).sqrt();
    // asin(x)/π, then asin(a)/π: itself or 1/2 − 2 asin(x)/π.
    let p = mul_add::<T, FMA>(x * z, polynomial::<T, FMA>(T::ASIN, z), x * T::FRAC_1_PI());
    let s = if big { mul_add::<T, FMA>(-two, p, half) } else { p };
    let k0 = half + s.copysign(c);
    (k0, mul_add::<T, FMA>(c, k0, r))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fast<T: Real, const FMA: bool>(c: T) -> (f64, f64) {
        let (k0, k1) = kappas::<T, FMA>(c);
        (k0.widen(), k1.widen())
    }

    /// κ0, κ1 from libm in f64: within 2.5e-16 of the exact values.
    fn libm(c: f64) -> (f64, f64) {
        (crate::kappa::kappa0(c), crate::kappa::kappa1(c))
    }

    /// Points of `[−1, 1]`: a uniform grid, and points clustered
    /// geometrically at ±1, ±1/2 and 0 where the reduction switches.
    fn sweep(uniform: usize) -> Vec<f64> {
        let mut cs: Vec<f64> = (0..=uniform).map(|i| -1.0 + 2.0 * i as f64 / uniform as f64).collect();
        for k in 0..1000 {
            let d = 2f64.powf(-(k as f64) / 20.0);
            for centre in [-1.0, -0.5, 0.0, 0.5, 1.0] {
                cs.extend([centre - d, centre + d].into_iter().filter(|c: &f64| c.abs() <= 1.0));
            }
        }
        cs
    }

    fn max_errors<T: Real, const FMA: bool>(cs: &[f64]) -> (f64, f64) {
        cs.iter().fold((0.0, 0.0), |(e0, e1), &c| {
            let t = T::of(c);
            let (k0, k1) = fast::<T, FMA>(t);
            let (r0, r1) = libm(t.widen());
            (f64::max(e0, (k0 - r0).abs()), f64::max(e1, (k1 - r1).abs()))
        })
    }

    #[test]
    fn f64_is_as_accurate_as_libm() {
        let cs = sweep(1 << 20);
        // Bound of this module plus libm's 2.5e-16.
        for (e0, e1) in [max_errors::<f64, true>(&cs), max_errors::<f64, false>(&cs)] {
            assert!(e0 <= 5.5e-16 && e1 <= 8.5e-16, "errors {e0:e} {e1:e}");
        }
    }

    #[test]
    fn f32_meets_its_bound() {
        let cs = sweep(1 << 20);
        for (e0, e1) in [max_errors::<f32, true>(&cs), max_errors::<f32, false>(&cs)] {
            assert!(e0 <= 1.5e-7 && e1 <= 3e-7, "errors {e0:e} {e1:e}");
        }
    }

    /// Every `f32` in `[−1, 1]`; `cargo test --release -- --ignored`.
    #[test]
    #[ignore]
    fn f32_exhaustive() {
        let (mut e0, mut e1) = (0f64, 0f64);
        let mut bits = 0u32;
        loop {
            let c = f32::from_bits(bits);
            if c > 1.0 {
                break;
            }
            for c in [c, -c] {
                let (k0, k1) = fast::<f32, true>(c);
                let (r0, r1) = libm(c as f64);
                e0 = e0.max((k0 - r0).abs());
                e1 = e1.max((k1 - r1).abs());
            }
            bits += 1;
        }
        assert!(e0 <= 1.5e-7 && e1 <= 3e-7, "errors {e0:e} {e1:e}");
    }

    #[test]
    fn exact_at_the_ends_and_zero() {
        assert_eq!(kappas::<f64, true>(1.0), (1.0, 1.0));
        assert_eq!(kappas::<f64, false>(-1.0), (0.0, 0.0));
        assert_eq!(kappas::<f32, true>(1.0), (1.0, 1.0));
        assert_eq!(kappas::<f32, false>(-1.0), (0.0, 0.0));
        assert_eq!(kappas::<f64, true>(0.0).0, 0.5);
        assert!((kappas::<f64, true>(0.0).1 - std::f64::consts::FRAC_1_PI).abs() <= 1e-16);
        assert!(kappas::<f64, true>(f64::NAN).0.is_nan());
    }
}
