//! The ReLU step of the recursion (spec §2) over a row of a map:
//! `B1 = N N' κ1(c)`, `B0 = κ0(c)` from Σ and the two signals' norms, and
//! the tangent map updated to `B0 ⊙ Γ + B1`.

use super::arccos::kappas;
use crate::maps::zero_halo;
use crate::simd::{Real, mul_add};

/// Where the tangent (NTK) map of the ReLU step comes from.
pub enum Tangent<'a, T> {
    /// Only the RF map is wanted.
    Skip,
    /// Γ equals Σ (first layer): write `B0 ⊙ Σ + B1` into the buffer.
    FromSigma(&'a mut [T]),
    /// The buffer holds Γ; replace it with `B0 ⊙ Γ + B1`.
    Gamma(&'a mut [T]),
}

impl<T: Real> Tangent<'_, T> {
    /// Sets the row to zero outside `range`.
    pub fn zero_outside(&mut self, range: std::ops::Range<usize>) {
        if let Tangent::FromSigma(t) | Tangent::Gamma(t) = self {
            zero_halo(&mut t[..range.start]);
            zero_halo(&mut t[range.end..]);
        }
    }

    /// The entries `range` of the row.
    pub fn part(&mut self, range: std::ops::Range<usize>) -> Tangent<'_, T> {
        match self {
            Tangent::Skip => Tangent::Skip,
            Tangent::FromSigma(t) => Tangent::FromSigma(&mut t[range]),
            Tangent::Gamma(t) => Tangent::Gamma(&mut t[range]),
        }
    }
}

/// The norms over a row of a map, entry by entry: `N` and `N'`, and their
/// inverses (see [`inverse_norm`]).
pub struct RowNorms<'a, T> {
    pub a: &'a [T],
    pub b: &'a [T],
    pub inv_a: &'a [T],
    pub inv_b: &'a [T],
}

/// `1/N` for the row step, computed once per signal so that the step needs
/// no division (the divider was 14% of its time), rounded up by 4 units in
/// the last place so that `c = (Σ / N) / N'` rounds to `±1` or beyond
/// (then clipped) where `Σ = ±N N'` exactly, as with one channel: there
/// κ0's infinite slope would turn a rounding below 1 into 1e-8. Zero where
/// `N = 0`, and the largest finite value where `1/N` overflows (a subnormal
/// `N`, whose entries `N N' κ` are then negligible whatever `c`).
pub fn inverse_norm<T: Real>(n: T) -> T {
    let up = T::one() + T::of(4.0) * T::epsilon() / T::of(2.0);
    if n == T::zero() { T::zero() } else { (n.recip() * up).min(T::max_value()) }
}

impl<T> RowNorms<'_, T> {
    /// The entries `range` of the row.
    pub fn part(&self, range: std::ops::Range<usize>) -> RowNorms<'_, T> {
        fn part<T>(v: &[T], range: std::ops::Range<usize>) -> &[T] {
            &v[range]
        }
        RowNorms {
            a: part(self.a, range.clone()),
            b: part(self.b, range.clone()),
            inv_a: part(self.inv_a, range.clone()),
            inv_b: part(self.inv_b, range),
        }
    }

    pub fn len(&self) -> usize {
        self.a.len()
    }

    pub fn is_empty(&self) -> bool {
        self.a.is_empty()
    }
}

/// `(B1, B0) = (N N' κ1(c), κ0(c))` with `c = clip(Σ / (N N'), −1, 1)`, both
/// zero where `N N' = 0` (spec §2), whatever Σ holds there (column steps
/// leave halo slots stale, see [`crate::maps::cols`]); `c` is `(Σ · 1/N) · 1/N'`
/// from the inverse norms `inv` ([`inverse_norm`]), which cannot overflow
/// (`|Σ| ≤ N N'`).
#[inline(always)]
fn step<T: Real, const FMA: bool>(sigma: T, nn: T, inv: (T, T)) -> (T, T) {
    let one = T::one();
    let c = sigma * inv.0 * inv.1;
    let c = if c > one { one } else { c };
    let c = if c < -one { -one } else { c };
    let (k0, k1) = kappas::<T, FMA>(c);
    if nn == T::zero() { (T::zero(), T::zero()) } else { (nn * k1, k0) }
}

/// The ReLU step over a row: `sigma` holds Σ and becomes B1, the tangent
/// map is updated as `tangent` says.
#[inline(always)]
pub fn relu_row<T: Real, const FMA: bool>(norms: &RowNorms<'_, T>, sigma: &mut [T], tangent: Tangent<'_, T>) {
    let n = norms.len();
    let inverses = norms.inv_a[..n].iter().zip(&norms.inv_b[..n]).map(|(&a, &b)| (a, b));
    let entries = norms.a.iter().zip(&norms.b[..n]).map(|(&a, &b)| a * b).zip(inverses);
    let sigma = &mut sigma[..n];
    match tangent {
        Tangent::Skip => {
            for (s, (e, inv)) in sigma.iter_mut().zip(entries) {
                *s = step::<T, FMA>(*s, e, inv).0;
            }
        }
        Tangent::FromSigma(t) => {
            for ((s, t), (e, inv)) in sigma.iter_mut().zip(&mut t[..n]).zip(entries) {
                let (b1, b0) = step::<T, FMA>(*s, e, inv);
                *t = mul_add::<T, FMA>(b0, *s, b1);
                *s = b1;
            }
        }
        Tangent::Gamma(t) => {
            for ((s, t), (e, inv)) in sigma.iter_mut().zip(&mut t[..n]).zip(entries) {
                let (b1, b0) = step::<T, FMA>(*s, e, inv);
                *t = mul_add::<T, FMA>(b0, *t, b1);
                *s = b1;
            }
        }
    }
}

/// The ReLU step where a signal meets itself at the same position: `c = 1`
/// exactly, so `B1 = N N'` and `B0 = 1` (zero where `N N' = 0`), without
/// the rounding of `Σ / (N N')` that `sqrt(1 − c²)` would amplify (spec §4).
#[inline(always)]
pub fn relu_self<T: Real, const FMA: bool>(
    norms: &RowNorms<'_, T>,
    sigma: &mut [T],
    tangent: Tangent<'_, T>,
) {
    let b0 = |nn: T| if nn == T::zero() { T::zero() } else { T::one() };
    let nn = norms.a.iter().zip(norms.b).map(|(&a, &b)| a * b);
    match tangent {
        Tangent::Skip => {}
        Tangent::FromSigma(t) => {
            for ((t, &s), nn) in t.iter_mut().zip(&*sigma).zip(nn.clone()) {
                *t = mul_add::<T, FMA>(b0(nn), s, nn);
            }
        }
        Tangent::Gamma(t) => {
            for (t, nn) in t.iter_mut().zip(nn.clone()) {
                *t = mul_add::<T, FMA>(b0(nn), *t, nn);
            }
        }
    }
    for (s, nn) in sigma.iter_mut().zip(nn) {
        *s = nn;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kappa::{kappa0, kappa1};
    use std::f64::consts::FRAC_1_PI;

    /// Row norms `N = a`, `N' = b` with their inverses.
    fn with<R>(a: &[f64], b: &[f64], f: impl FnOnce(&RowNorms<'_, f64>) -> R) -> R {
        let inv = |v: &[f64]| v.iter().map(|&n| inverse_norm(n)).collect::<Vec<_>>();
        f(&RowNorms { a, b, inv_a: &inv(a), inv_b: &inv(b) })
    }

    /// Row norms for `N N' = nn` with `N = 1`.
    fn with_norms<R>(nn: &[f64], f: impl FnOnce(&RowNorms<'_, f64>) -> R) -> R {
        with(&vec![1.0; nn.len()], nn, f)
    }

    /// `(B1, B0)` of one entry through `relu_row`, portable and fused.
    fn one<const FMA: bool>(sigma: f64, nn: f64) -> (f64, f64) {
        let (mut s, mut t) = ([sigma], [1.0]);
        with_norms(&[nn], |norms| relu_row::<f64, FMA>(norms, &mut s, Tangent::Gamma(&mut t)));
        // t = B0 · 1 + B1.
        (s[0], t[0] - s[0])
    }

    #[test]
    fn row_step_is_built_from_the_kappas() {
        for c in [-0.99f64, -0.5, 0.0, 0.3, 0.999] {
            // c from the inverse norms (each 4 units above 1/N) is within 13
            // units of Σ / (N N'); κ1' = κ0, κ0' = 1 / (π sqrt(1 − c²)).
            let dc = 13.0 * f64::EPSILON / 2.0 * c.abs();
            for (b1, b0) in [one::<true>(2.0 * c, 2.0), one::<false>(2.0 * c, 2.0)] {
                assert!((b1 - 2.0 * kappa1(c)).abs() < 2e-15 + 2.0 * dc * kappa0(c), "{c}");
                let err = (b0 - kappa0(c)).abs();
                assert!(err < 1e-15 + dc * FRAC_1_PI / (1.0 - c * c).sqrt(), "{c} {err:e}");
            }
        }
    }

    #[test]
    fn tiny_norms_keep_c() {
        // N = 1e-300, N' = 1e-10: N N' is subnormal, 1/(N N') overflows.
        let (a, b) = (1e-300, 1e-10);
        let mut s = [0.5 * a * b];
        with(&[a], &[b], |norms| relu_row::<f64, false>(norms, &mut s, Tangent::Skip));
        assert!((s[0] / (a * b) - kappa1(0.5)).abs() < 1e-6, "{}", s[0] / (a * b));
    }

    #[test]
    fn subnormal_norms_give_finite_bounded_entries() {
        // 1/N overflows: B1 stays within [0, N N'], B0 within [0, 1].
        for (a, b, sigma) in [(1e-310, 1e5, 0.0), (1e-310, 1e5, 1e-305), (4e-320, 1e300, -3e-21)] {
            let (mut s, mut t) = ([sigma], [1.0]);
            with(&[a], &[b], |norms| relu_row::<f64, true>(norms, &mut s, Tangent::Gamma(&mut t)));
            let (b1, b0) = (s[0], t[0] - s[0]);
            assert!((0.0..=a * b).contains(&b1) && (-1e-300..=1.0).contains(&b0), "{b1:e} {b0:e}");
        }
    }

    #[test]
    fn opposite_one_channel_signals_give_zero() {
        // c = −1 exactly: κ0 = κ1 = 0, where a rounded c would give 1e-8.
        for (x, z) in [(1.17886691, -1.13840334), (0.44245588, -0.38927995), (-0.41317451f64, 0.22770639)] {
            let (mut s, mut t) = ([x * z], [x * z]);
            with(&[x.abs()], &[z.abs()], |norms| {
                relu_row::<f64, true>(norms, &mut s, Tangent::Gamma(&mut t))
            });
            assert_eq!((s[0], t[0]), (0.0, 0.0));
        }
    }

    #[test]
    fn zero_norm_and_clipping() {
        assert_eq!(one::<true>(0.3, 0.0), (0.0, 0.0));
        assert_eq!(one::<true>(0.0, 0.0), (0.0, 0.0));
        assert_eq!(one::<true>(2.0, 1.0), (1.0, 1.0));
        assert_eq!(one::<false>(-2.0, 1.0), (0.0, 0.0));
    }

    #[test]
    fn tangent_modes_agree() {
        let nn = [2.0, 0.0, 1.5, 3.0];
        let sigma = [1.0, 0.5, -1.2, 2.9];
        let mut s1 = sigma;
        let mut t1 = [0.0; 4];
        with_norms(&nn, |n| relu_row::<f64, true>(n, &mut s1, Tangent::FromSigma(&mut t1)));
        let (mut s2, mut t2) = (sigma, sigma);
        with_norms(&nn, |n| relu_row::<f64, true>(n, &mut s2, Tangent::Gamma(&mut t2)));
        let mut s3 = sigma;
        with_norms(&nn, |n| relu_row::<f64, true>(n, &mut s3, Tangent::Skip));
        assert_eq!((s1, t1), (s2, t2));
        assert_eq!(s1, s3);
    }

    #[test]
    fn self_pairs_have_c_one_exactly() {
        let nn = [4.0, 0.0];
        let (mut s, mut t) = ([3.999, 0.0], [2.0, 5.0]);
        with_norms(&nn, |n| relu_self::<f64, true>(n, &mut s, Tangent::Gamma(&mut t)));
        assert_eq!((s, t), ([4.0, 0.0], [6.0, 0.0]));
    }
}
