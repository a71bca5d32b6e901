//! Pairs of distinct signals through networks that need only the diagonal
//! `u = u'` of every map ([`PositionPlan`]): each map is an image, one value
//! per position, computed whole: the patch step is a box filter over the
//! grid and the ReLU step one pass over all positions, against the two
//! signals' norm maps as they are stored. Row by row through the general
//! recursion, a row of such a map was too short to keep the ReLU step's
//! pipeline full (18% of a CIFAR pair went to row set-up and drains).
//!
//! The steps and the row kernel ([`relu_row`]) are those of the
//! recursion; a value differs from it only by the rounding order of the
//! patch sums. A signal paired with itself keeps the recursion (its
//! diagonal, with `c = 1` exactly, equals the self-kernel bit for bit).

use crate::error::Result;
use crate::kappa::relu::{RowNorms, Tangent, relu_row};
use crate::maps;
use crate::memory;
use crate::network::positionwise::{PositionPlan, PositionStep};
use crate::signal::Signal;
use crate::simd::{Isa, Kernel, Real, mul_add};
/// A thread's maps: the current G and H, Σ and Γ of the layer, and the
/// patch step's row sums.
#[derive(Debug)]
pub struct Buffers<T> {
    maps: [Vec<T>; 5],
}

impl<T: Real> Buffers<T> {
    pub fn new(plan: &PositionPlan) -> Result<Buffers<T>> {
        let map = || memory::zeroed(plan.size, "a thread's maps");
        Ok(Buffers { maps: [map()?, map()?, map()?, map()?, map()?] })
    }

    /// Values held by the buffers of `plan`.
    pub fn slots_for(plan: &PositionPlan) -> usize {
        5 * plan.size
    }

    pub fn slots(&self) -> usize {
        self.maps.iter().map(Vec::len).sum()
    }
}

/// `(RF, NTK)` of a pair of distinct signals (`ntk = false`: `NTK` is 0), of
/// the scaled signals (see [`Signal::exponent`]).
pub fn kernel<T: Real>(
    plan: &PositionPlan,
    isa: Isa,
    (a, b): (&Signal<T>, &Signal<T>),
    ntk: bool,
    buffers: &mut Buffers<T>,
) -> (f64, f64) {
    isa.dispatch(Steps { plan, sides: (a, b), ntk, buffers })
}

/// [`steps`] as a [`Kernel`].
struct Steps<'a, T> {
    plan: &'a PositionPlan,
    sides: (&'a Signal<T>, &'a Signal<T>),
    ntk: bool,
    buffers: &'a mut Buffers<T>,
}

impl<T: Real> Kernel for Steps<'_, T> {
    type Output = (f64, f64);

    #[inline(always)]
    fn run<const FMA: bool>(self) -> (f64, f64) {
        steps::<T, FMA>(self.plan, self.sides, self.ntk, self.buffers)
    }
}

#[inline(always)]
fn steps<T: Real, const FMA: bool>(
    plan: &PositionPlan,
    (a, b): (&Signal<T>, &Signal<T>),
    ntk: bool,
    buffers: &mut Buffers<T>,
) -> (f64, f64) {
    let [g, h, sigma, gamma, rows] = &mut buffers.maps;
    // Layer 0: the inner products of the channels at each position.
    let first = &plan.layers[0];
    let positions = first.input.0 * first.input.1;
    let channels = a.planar.len() / positions;
    let g0 = &mut g[..positions];
    for c in 0..channels {
        let (x, y) = (&a.planar[c * positions..][..positions], &b.planar[c * positions..][..positions]);
        for ((out, &x), &y) in g0.iter_mut().zip(x).zip(y) {
            *out = if c == 0 { x * y } else { mul_add::<T, FMA>(x, y, *out) };
        }
    }
    let mut size = positions;
    for (k, step) in plan.layers.iter().enumerate() {
        let n = step.patched.0 * step.patched.1;
        patch::<T>(step, &g[..size], &mut sigma[..n], &mut rows[..]);
        let tangent = match (ntk, k) {
            (false, _) => Tangent::Skip,
            (true, 0) => Tangent::FromSigma(&mut gamma[..n]),
            (true, _) => {
                patch::<T>(step, &h[..size], &mut gamma[..n], &mut rows[..]);
                Tangent::Gamma(&mut gamma[..n])
            }
        };
        let norms = RowNorms { a: &a.norms[k], b: &b.norms[k], inv_a: &a.inverse[k], inv_b: &b.inverse[k] };
        relu_row::<T, FMA>(&norms, &mut sigma[..n], tangent);
        if step.pool != 1.0 {
            let w = T::of(step.pool);
            sigma[..n].iter_mut().chain(&mut gamma[..if ntk { n } else { 0 }]).for_each(|v| *v = w * *v);
        }
        std::mem::swap(g, sigma);
        std::mem::swap(h, gamma);
        size = n;
    }
    (maps::total(&g[..size]), if ntk { maps::total(&h[..size]) } else { 0.0 })
}

/// The patch step of `step` from `src` (its input grid) to `out` (its
/// patched grid): the sums along rows into `rows`, then along columns,
/// weighted. Inner rows and columns are fused window sums.
#[inline(always)]
fn patch<T: Real>(step: &PositionStep, src: &[T], out: &mut [T], rows: &mut [T]) {
    let (w_in, w_out) = (step.input.1, step.patched.1);
    let (r, c) = (&step.rows, &step.cols);
    let rows = &mut rows[..step.patched.0 * w_in];
    if !r.inner.is_empty() {
        let inner = &mut rows[r.inner.start * w_in..r.inner.end * w_in];
        maps::window_sum(r.size, w_in, T::one(), &src[r.inner_source() * w_in..], inner);
    }
    for (y, reads) in &r.border {
        let out = &mut rows[y * w_in..][..w_in];
        out.fill(T::zero());
        for i in reads {
            out.iter_mut().zip(&src[i * w_in..][..w_in]).for_each(|(o, &s)| *o += s);
        }
    }
    let w = T::of(step.weight);
    // Rows of equal widths: the inner columns of all rows in one pass over
    // the map (the border columns between them get sums across two rows,
    // overwritten below).
    let flat = w_in == w_out && !c.inner.is_empty();
    if flat {
        let span = c.inner.start..out.len() - (w_out - c.inner.end);
        maps::window_sum(c.size, 1, w, &rows[c.inner_source()..], &mut out[span]);
    }
    for (out, row) in out.chunks_exact_mut(w_out).zip(rows.chunks_exact(w_in)) {
        if !flat && !c.inner.is_empty() {
            maps::window_sum(c.size, 1, w, &row[c.inner_source()..], &mut out[c.inner.clone()]);
        }
        for (x, reads) in &c.border {
            out[*x] = w * reads.iter().fold(T::zero(), |s, &i| s + row[i]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::plan::{Path, Plan, Target};
    use crate::network::{Layer, Net, Padding, Pool};
    use crate::pair::{self, Workspace};
    use crate::signal;
    use ndarray::{Array, Dimension, IxDyn};

    fn layer(patch: &[usize], padding: Padding, tap: f64) -> Layer {
        Layer { patch: patch.to_vec(), padding, pool: Pool::Filter { h: vec![tap], stride: 1 } }
    }

    /// Signals of `grid` × 2 channels: varied ones, a zero one, one with a
    /// zero corner (zero norms at the border), and one the negative of the
    /// first.
    fn signals(grid: &[usize]) -> ndarray::ArrayD<f64> {
        let mut shape = vec![5];
        shape.extend_from_slice(grid);
        shape.push(2);
        Array::from_shape_fn(IxDyn(&shape), |ix| {
            let ix = ix.slice();
            let (i, rest) = (ix[0], ix[1..].iter().fold(0, |s, &v| s * 7 + v));
            let v = (((i % 3) * 13 + rest * 5) % 11) as f64 - 5.0;
            match i {
                2 => 0.0,
                3 if ix[1] < 2 => 0.0,
                4 => -((((rest * 5) % 11) as f64) - 5.0),
                _ => v * (1.0 + i as f64),
            }
        })
    }

    /// Pairs of distinct signals on the positionwise path against the general
    /// recursion, on 1-D and 2-D grids, every padding, patch sizes 1 to 13
    /// (window sums unrolled and not), one-tap poolings of weight ≠ 1.
    #[test]
    fn pairs_are_those_of_the_recursion() {
        use Padding::{Circular, Same, Valid};
        let nets = [
            (
                vec![9, 8],
                vec![layer(&[3, 3], Same, 1.0), layer(&[2, 4], Circular, 0.5), layer(&[5, 1], Valid, 1.0)],
            ),
            (
                vec![7, 6],
                // The last patch is larger than the grid: clipped (spec §5).
                vec![layer(&[7, 6], Same, 1.0), layer(&[6, 5], Circular, 2.0), layer(&[9, 13], Same, 1.0)],
            ),
            (vec![13], vec![layer(&[6], Same, 1.0), layer(&[3], Valid, 0.5), layer(&[4], Circular, 1.0)]),
        ];
        for (grid, layers) in nets {
            let net = Net::new(layers).unwrap();
            check::<f64>(&net, &grid);
            check::<f32>(&net, &grid);
        }
    }

    fn check<T: Real>(net: &Net, grid: &[usize]) {
        let x = signals(grid);
        let readout = Plan::new(net, grid, Target::Readout).unwrap();
        let norms = Plan::new(net, grid, Target::Norms).unwrap();
        assert!(matches!(readout.path, Path::Positionwise(_)), "{grid:?}");
        let general = Plan { path: Path::Rows, ..readout.clone() };
        for (isa, rtol, s) in signal::test_cases::<T>(&x, &norms) {
            let plan = Plan { isa, ..readout.clone() };
            let (mut ws, mut ws_general) =
                (Workspace::new(&plan).unwrap(), Workspace::new(&general).unwrap());
            for i in 0..s.len() {
                for j in (0..s.len()).filter(|&j| j != i) {
                    let got = pair::kernel(&plan, &s[i], &s[j], false, true, &mut ws);
                    let want = pair::kernel(&general, &s[i], &s[j], false, true, &mut ws_general);
                    let scale = want.ntk.unwrap().abs().max(1e-300);
                    let (g, w) = ((got.rf, got.ntk.unwrap()), (want.rf, want.ntk.unwrap()));
                    assert!((g.0 - w.0).abs() <= rtol * scale, "{grid:?} {isa:?} ({i}, {j}) {g:?} {w:?}");
                    assert!((g.1 - w.1).abs() <= rtol * scale, "{grid:?} {isa:?} ({i}, {j}) {g:?} {w:?}");
                    if i == 2 || j == 2 {
                        assert_eq!(g, (0.0, 0.0));
                    }
                }
            }
        }
    }

    #[test]
    fn only_networks_of_one_tap_poolings_take_it() {
        let net = |pool: Pool| {
            Net::new(vec![
                layer(&[3, 3], Padding::Same, 1.0),
                Layer { pool, ..layer(&[3, 3], Padding::Same, 1.0) },
            ])
            .unwrap()
        };
        let diagonal = |net: &Net, target| {
            matches!(Plan::new(net, &[8, 8], target).unwrap().path, Path::Positionwise(_))
        };
        assert!(diagonal(&net(Pool::identity()), Target::Readout));
        assert!(!diagonal(&net(Pool::identity()), Target::Norms));
        assert!(!diagonal(&net(Pool::GlobalAverage), Target::Readout));
        assert!(!diagonal(&net(Pool::Filter { h: vec![0.5, 0.5], stride: 1 }), Target::Readout));
        assert!(!diagonal(&net(Pool::Filter { h: vec![1.0], stride: 2 }), Target::Readout));
        let vectors = Net::fully_connected(1);
        assert_eq!(Plan::new(&vectors, &[], Target::Readout).unwrap().path, Path::Vectors);
    }
}
