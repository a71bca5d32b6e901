//! Networks on vectors (signals without spatial axes), a tile of pairs at
//! once. Every map of such a pair is one value, so the pair-by-pair
//! recursion is all overhead, and its layer-1 inner product reads both
//! signals for two flops per pair of values. Here layer 1 is the tile's
//! inner products in register blocks ([`dots`], which reuse
//! each loaded value for several pairs), and every ReLU step runs along
//! the tile's rows.
//!
//! The steps are those of the recursion (patches and poolings of trivial
//! axes are the identity), with the same row step ([`relu_row`]), so
//! an entry differs from the pair-by-pair value only by the rounding of the
//! inner product; and since [`dots`] sums each entry in an order that
//! does not depend on the tile's shape or place, results do not depend on
//! the tiling or the thread count.

use super::values::Values;
use crate::kappa::relu::{RowNorms, Tangent, relu_row};
use crate::maps;
use crate::maps::dots;
use crate::signal::Signal;
use crate::simd::{Isa, Kernel, Real};

/// A thread's buffers for tiles, grown to the largest tile seen and reused
/// (allocating them per tile cost more than the tile's arithmetic).
#[derive(Debug, Default)]
pub struct Buffers<T> {
    /// Σ and Γ of the tile.
    sigma: Vec<T>,
    gamma: Vec<T>,
}

impl<T> Buffers<T> {
    /// Values held.
    pub fn slots(&self) -> usize {
        self.sigma.len() + self.gamma.len()
    }

    /// Values held after a tile of `side × side` pairs.
    pub fn slots_for(side: usize) -> usize {
        2 * side * side
    }
}

/// The values of a vector with itself (as [`crate::pair::kernel`] returns them), in
/// closed form: every `c` is 1 and every norm is `N` (see
/// [`Signal::new`]), so each ReLU step of the recursion
/// ([`crate::kappa::relu::relu_self`]) gives `G = N²` and adds `N²` to the tangent map,
/// which starts at `Σ_1 = ⟨x, x⟩`; all zero where `N = 0`. The same
/// operations in the same order as the recursion, without its per-pair set-up
/// (it was 7% of a call on 64 vectors).
pub fn self_pair<T: Real>(isa: Isa, x: &Signal<T>, depth: usize, ntk: bool) -> Values {
    let n = x.norms[0][0];
    let nn = n * n;
    let b0 = if nn == T::zero() { T::zero() } else { T::one() };
    let sigma = maps::dot_for(isa, &x.planar, &x.planar);
    let h = (1..depth).fold(b0 * sigma + nn, |h, _| b0 * h + nn);
    Values { ntk: ntk.then(|| h.widen()), rf: nn.widen() }.scaled(2 * x.exponent)
}

/// The tile's RF (and, with `ntk`, NTK) values, written by `out(r, c,
/// values)` for the pair of `rows[r]` and `cols[c]` (as [`crate::pair::kernel`]
/// returns them: of the signals before scaling, see [`Signal::exponent`]). Row `r` is computed from
/// column `from[r]` on, so a tile on the diagonal of a symmetric Gram
/// matrix does not run the steps of the entries it mirrors.
pub fn tile<T: Real>(
    isa: Isa,
    depth: usize,
    (rows, cols): (&[&Signal<T>], &[&Signal<T>]),
    from: &[usize],
    ntk: bool,
    buffers: &mut Buffers<T>,
    mut out: impl FnMut(usize, usize, Values),
) {
    let (r, c) = (rows.len(), cols.len());
    for m in [&mut buffers.sigma, &mut buffers.gamma] {
        m.resize(m.len().max(r * c), T::zero());
    }
    let (sigma, gamma) = (&mut buffers.sigma[..r * c], &mut buffers.gamma[..r * c]);
    let (a, b): (Vec<&[T]>, Vec<&[T]>) =
        (rows.iter().map(|s| &s.planar[..]).collect(), cols.iter().map(|s| &s.planar[..]).collect());
    dots::gram_block_for(isa, (&a, &b), from, sigma);
    let norms = Norms { depth, rows, cols, from };
    run(isa, &norms, sigma, ntk.then_some(&mut *gamma));
    for (i, &first) in from.iter().enumerate() {
        for (j, col) in cols.iter().enumerate().skip(first) {
            let at = i * c + j;
            let values = Values { ntk: ntk.then(|| gamma[at].widen()), rf: sigma[at].widen() };
            out(i, j, values.scaled(rows[i].exponent + col.exponent));
        }
    }
}

fn run<T: Real>(isa: Isa, norms: &Norms<'_, T>, sigma: &mut [T], gamma: Option<&mut [T]>) {
    isa.dispatch(Steps { norms, sigma, gamma });
}

/// [`steps`] as a [`Kernel`].
struct Steps<'a, T> {
    norms: &'a Norms<'a, T>,
    sigma: &'a mut [T],
    gamma: Option<&'a mut [T]>,
}

impl<T: Real> Kernel for Steps<'_, T> {
    type Output = ();

    #[inline(always)]
    fn run<const FMA: bool>(self) {
        steps::<T, FMA>(self.norms, self.sigma, self.gamma);
    }
}

/// What the ReLU steps of a tile read besides its maps.
struct Norms<'a, T> {
    depth: usize,
    rows: &'a [&'a Signal<T>],
    cols: &'a [&'a Signal<T>],
    from: &'a [usize],
}

/// The ReLU step of every layer over the tile (rows of `cols.len()`): Σ
/// becomes B1, the input of the next layer and at the end the RF value;
/// the tangent map Γ (first `B0 ⊙ Σ + B1`, then `B0 ⊙ Γ + B1`) ends as the
/// NTK value.
#[inline(always)]
fn steps<T: Real, const FMA: bool>(norms: &Norms<'_, T>, sigma: &mut [T], mut gamma: Option<&mut [T]>) {
    let width = norms.cols.len();
    let (mut a, mut inv_a) = (vec![T::zero(); width], vec![T::zero(); width]);
    for k in 0..norms.depth {
        let (b, inv_b): (Vec<T>, Vec<T>) =
            norms.cols.iter().map(|s| (s.norms[k][0], s.inverse[k][0])).unzip();
        for (i, signal) in norms.rows.iter().enumerate() {
            let part = norms.from[i]..width;
            a.fill(signal.norms[k][0]);
            inv_a.fill(signal.inverse[k][0]);
            let row_norms = RowNorms {
                a: &a[part.clone()],
                b: &b[part.clone()],
                inv_a: &inv_a[part.clone()],
                inv_b: &inv_b[part.clone()],
            };
            let at = i * width + part.start..(i + 1) * width;
            let tangent = match gamma.as_deref_mut() {
                None => Tangent::Skip,
                Some(g) if k == 0 => Tangent::FromSigma(&mut g[at.clone()]),
                Some(g) => Tangent::Gamma(&mut g[at.clone()]),
            };
            relu_row::<T, FMA>(&row_norms, &mut sigma[at], tangent);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::Net;
    use crate::network::plan::{Plan, Target};
    use crate::pair::{Workspace, kernel};
    use crate::signal;
    use ndarray::Array;

    /// Values of a tile against the pair-by-pair recursion, on vectors with
    /// opposite, parallel and zero ones among them, from each `from`.
    fn tiles_are_the_pairs_of_the_recursion<T: Real>() {
        let net = Net::fully_connected(3);
        let x = Array::from_shape_fn((6, 11), |(i, c)| match i {
            4 => 0.0,
            5 => -(((c * 5) % 7) as f64 - 3.0),
            _ => (((i * 13 + c * 5) % 7) as f64 - 3.0) * (1.0 + i as f64),
        })
        .into_dyn();
        let readout = Plan::new(&net, &[], Target::Readout).unwrap();
        let norms = Plan::new(&net, &[], Target::Norms).unwrap();
        for (isa, rtol, s) in signal::test_cases::<T>(&x, &norms) {
            let mut ws = Workspace::new(&readout).unwrap();
            let from = [0, 2, 5, 1, 3];
            let (rows, cols) = ([0, 1, 2, 4, 5], [0, 5, 3, 4, 2, 1]);
            let mut got = vec![vec![None; cols.len()]; rows.len()];
            let side = |ids: &[usize]| ids.iter().map(|&i| &s[i]).collect::<Vec<_>>();
            let mut buffers = Buffers::default();
            let write = |r: usize, c: usize, v: Values| got[r][c] = Some((v.rf, v.ntk.unwrap()));
            tile(isa, 3, (&side(&rows), &side(&cols)), &from, true, &mut buffers, write);
            for (r, &i) in rows.iter().enumerate() {
                for (c, &j) in cols.iter().enumerate() {
                    if c < from[r] {
                        assert_eq!(got[r][c], None, "({i}, {j}) is before `from`");
                        continue;
                    }
                    let (rf, ntk) = got[r][c].expect("written");
                    let want = kernel(&readout, &s[i], &s[j], false, true, &mut ws);
                    let scale = want.ntk.unwrap().abs().max(1e-300);
                    assert!((rf - want.rf).abs() <= rtol * scale, "{isa:?} ({i}, {j}): {rf} {}", want.rf);
                    assert!((ntk - want.ntk.unwrap()).abs() <= rtol * scale, "{isa:?} ({i}, {j})");
                    if i == 4 || j == 4 {
                        assert_eq!((rf, ntk), (0.0, 0.0));
                    }
                }
            }
        }
    }

    #[test]
    fn tiles_are_the_pairs_of_the_recursion_in_both_precisions() {
        tiles_are_the_pairs_of_the_recursion::<f64>();
        tiles_are_the_pairs_of_the_recursion::<f32>();
    }
}
