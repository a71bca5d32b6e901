//! The arc-cosine kernels of the ReLU (spec §2): κ0 and κ1 by their
//! definitions (with libm, the reference the fast forms are tested
//! against), vectorisable forms of both ([`arccos`]), and the pointwise
//! ReLU step of the recursion built on them, over a row of a map
//! ([`relu`]).

pub mod arccos;
pub mod relu;

#[cfg(test)]
use std::f64::consts::{FRAC_1_PI, PI};

/// κ0(c) = 1 − arccos(c)/π, the kernel of the ReLU's derivative (libm; the
/// definition the fast row step is tested against).
#[cfg(test)]
pub fn kappa0(c: f64) -> f64 {
    1.0 - c.acos() * FRAC_1_PI
}

/// κ1(c) = (c (π − arccos c) + sqrt(1 − c²)) / π, the kernel of the ReLU
/// (libm; the definition the fast row step is tested against).
#[cfg(test)]
pub fn kappa1(c: f64) -> f64 {
    // (1 − c)(1 + c) keeps the relative accuracy of 1 − c² near c = ±1.
    (c * (PI - c.acos()) + ((1.0 - c) * (1.0 + c)).sqrt()) * FRAC_1_PI
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
}
