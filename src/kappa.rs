//! The arc-cosine kernels of the ReLU (SPEC §2) and the pointwise step of
//! the recursion built on them.

use std::f64::consts::{FRAC_1_PI, PI};

/// κ0(c) = 1 − arccos(c)/π, the kernel of the ReLU's derivative.
#[inline]
pub fn kappa0(c: f64) -> f64 {
    1.0 - c.acos() * FRAC_1_PI
}

/// κ1(c) = (c (π − arccos c) + sqrt(1 − c²)) / π, the kernel of the ReLU.
#[inline]
pub fn kappa1(c: f64) -> f64 {
    // (1 − c)(1 + c) keeps the relative accuracy of 1 − c² near c = ±1.
    (c * (PI - c.acos()) + ((1.0 - c) * (1.0 + c)).sqrt()) * FRAC_1_PI
}

/// The ReLU step at one pair of positions: given the patch inner product
/// `sigma` and the product of norms `norms = N[u] N'[u']`, returns
/// `(B1, B0) = (N N' κ1(c), κ0(c))` with `c = clip(sigma / norms, −1, 1)`,
/// both zero where a norm is zero (SPEC §2). `diagonal` marks `u = u'` of a
/// signal with itself, where `c = 1` exactly.
#[inline]
pub fn relu_step(sigma: f64, norms: f64, diagonal: bool) -> (f64, f64) {
    if norms == 0.0 {
        (0.0, 0.0)
    } else if diagonal {
        (norms, 1.0)
    } else {
        let c = (sigma / norms).clamp(-1.0, 1.0);
        let angle = c.acos();
        let k1 = (c * (PI - angle) + ((1.0 - c) * (1.0 + c)).sqrt()) * FRAC_1_PI;
        (norms * k1, 1.0 - angle * FRAC_1_PI)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn special_values() {
        assert_eq!(kappa0(1.0), 1.0);
        assert_eq!(kappa0(-1.0), 0.0);
        assert_eq!(kappa0(0.0), 0.5);
        assert_eq!(kappa1(1.0), 1.0);
        assert_eq!(kappa1(-1.0), 0.0);
        assert!((kappa1(0.0) - FRAC_1_PI).abs() < 1e-17);
    }

    #[test]
    fn kappa1_is_increasing_and_bounded() {
        let mut prev = kappa1(-1.0);
        for i in 1..=2000 {
            let c = -1.0 + i as f64 / 1000.0;
            let k = kappa1(c);
            assert!(k >= prev && k <= 1.0 && k >= c.max(0.0));
            prev = k;
        }
    }

    #[test]
    fn derivative_of_kappa1_is_kappa0() {
        for &c in &[-0.9, -0.3, 0.0, 0.4, 0.8] {
            let h = 1e-6;
            let numeric = (kappa1(c + h) - kappa1(c - h)) / (2.0 * h);
            assert!((numeric - kappa0(c)).abs() < 1e-8);
        }
    }

    #[test]
    fn relu_step_is_built_from_the_kappas() {
        for &c in &[-0.99, -0.5, 0.0, 0.3, 0.999] {
            let (b1, b0) = relu_step(2.0 * c, 2.0, false);
            assert_eq!((b1, b0), (2.0 * kappa1(c), kappa0(c)));
        }
    }

    #[test]
    fn zero_norm_and_clipping() {
        assert_eq!(relu_step(0.3, 0.0, false), (0.0, 0.0));
        assert_eq!(relu_step(0.0, 0.0, true), (0.0, 0.0));
        assert_eq!(relu_step(2.0, 1.0, false), (1.0, 1.0));
        assert_eq!(relu_step(-2.0, 1.0, false), (0.0, 0.0));
        assert_eq!(relu_step(3.999, 4.0, true), (4.0, 1.0));
    }
}
