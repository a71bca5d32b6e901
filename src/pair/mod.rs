//! Kernel values of pairs of signals, along the path their plan chose
//! ([`Path`]): a tile of vector pairs at once ([`vectors`]), images over
//! positions ([`positionwise`]), or row by row through the recursion
//! ([`crate::recursion`]). This module is where the path is followed, for
//! tiles of pairs ([`tile`]) and for single pairs ([`kernel`]).

pub mod positionwise;
mod values;
pub mod vectors;

pub use values::Values;

use crate::error::Result;
use crate::network::plan::{Path, Plan};
use crate::recursion::{self, Sides};
use crate::signal::Signal;
use crate::simd::Real;
use crate::threads::Control;
use crate::{maps, network::plan::Space};

/// Largest side of a tile of pairs (see [`tile`]).
pub const TILE_SIDE: usize = 32;

/// One thread's buffers for the pairs of a plan in precision `T`, sized once
/// and reused for every pair.
#[derive(Debug)]
pub struct Workspace<T> {
    rows: recursion::Buffers<T>,
    positionwise: Option<positionwise::Buffers<T>>,
    vectors: vectors::Buffers<T>,
}

impl<T: Real> Workspace<T> {
    /// The workspace of `plan`, or an [`Error::Memory`](crate::Error::Memory).
    pub fn new(plan: &Plan) -> Result<Workspace<T>> {
        let positionwise = match &plan.path {
            Path::Positionwise(steps) => Some(positionwise::Buffers::new(steps)?),
            _ => None,
        };
        Ok(Workspace {
            rows: recursion::Buffers::new(plan)?,
            positionwise,
            vectors: vectors::Buffers::default(),
        })
    }

    /// Bytes held now.
    pub fn bytes(&self) -> usize {
        let slots = self.rows.slots()
            + self.positionwise.as_ref().map_or(0, positionwise::Buffers::slots)
            + self.vectors.slots();
        slots * size_of::<T>()
    }

    /// Bytes a workspace of `plan` holds once it has run on signals of
    /// `channels` (for memory guards).
    pub fn bytes_for(plan: &Plan, channels: usize) -> usize {
        let path = match &plan.path {
            Path::Vectors => vectors::Buffers::<T>::slots_for(TILE_SIDE),
            Path::Positionwise(steps) => positionwise::Buffers::<T>::slots_for(steps),
            Path::Rows => 0,
        };
        recursion::Buffers::<T>::slots_for(plan, channels).saturating_add(path).saturating_mul(size_of::<T>())
    }
}

/// The pairs of a tile, `rows[r]` with `cols[c]` for every column `c ≥
/// from[r]`, where the pair `(r, from[r])` is a signal with itself if
/// `itself[r]`; each written by `write(r, c, values)`. `plan` is the
/// network's plan for [`Target::Readout`](crate::network::plan::Target),
/// `ntk` asks for the NTK besides the RF kernel. Counts each pair done in
/// `control` (a tile of vectors at its end) and stops between pairs once it
/// is cancelled.
#[allow(clippy::too_many_arguments)]
pub fn tile<T: Real>(
    plan: &Plan,
    (rows, cols): (&[&Signal<T>], &[&Signal<T>]),
    from: &[usize],
    itself: &[bool],
    ntk: bool,
    ws: &mut Workspace<T>,
    control: &Control,
    mut write: impl FnMut(usize, usize, Values),
) {
    if control.is_cancelled() {
        return;
    }
    if plan.path == Path::Vectors {
        let mut done = 0;
        // Distinct pairs a tile at once, then the signals with themselves.
        let distinct: Vec<usize> = from.iter().zip(itself).map(|(&f, &s)| f + usize::from(s)).collect();
        let mut put = |r, c, v| {
            write(r, c, v);
            done += 1;
        };
        vectors::tile(plan.isa, plan.layers.len(), (rows, cols), &distinct, ntk, &mut ws.vectors, &mut put);
        for r in (0..rows.len()).filter(|&r| itself[r]) {
            put(r, from[r], self_kernel(plan, rows[r], ntk, ws));
        }
        control.advance(done);
        return;
    }
    for (r, a) in rows.iter().enumerate() {
        for (c, b) in cols.iter().enumerate().skip(from[r]) {
            if control.is_cancelled() {
                return;
            }
            write(r, c, kernel(plan, a, b, itself[r] && c == from[r], ntk, ws));
            control.advance(1);
        }
    }
}

/// `K_RF(a, b)` and, with `ntk`, `K_NTK(a, b)`; `self_pair` marks a signal
/// paired with itself. `plan` is the network's plan for the readout.
pub fn kernel<T: Real>(
    plan: &Plan,
    a: &Signal<T>,
    b: &Signal<T>,
    self_pair: bool,
    ntk: bool,
    ws: &mut Workspace<T>,
) -> Values {
    if self_pair {
        return self_kernel(plan, a, ntk, ws);
    }
    let scaled = match (&plan.path, &mut ws.positionwise) {
        (Path::Positionwise(steps), Some(buffers)) => {
            let (rf, k) = positionwise::kernel(steps, plan.isa, (a, b), ntk, buffers);
            Values { ntk: ntk.then_some(k), rf }
        }
        _ => by_rows(plan, a, b, false, ntk, &mut ws.rows),
    };
    scaled.scaled(a.exponent + b.exponent)
}

/// A signal with itself: on the diagonal `c = 1` exactly (spec §4). A
/// vector's has a closed form (the recursion's operations without its
/// set-up); other signals go through the rows, whose self pairs are exact.
fn self_kernel<T: Real>(plan: &Plan, s: &Signal<T>, ntk: bool, ws: &mut Workspace<T>) -> Values {
    match plan.path {
        Path::Vectors => vectors::self_pair(plan.isa, s, plan.layers.len(), ntk),
        _ => by_rows(plan, s, s, true, ntk, &mut ws.rows).scaled(2 * s.exponent),
    }
}

/// The values of the scaled signals through the recursion.
fn by_rows<T: Real>(
    plan: &Plan,
    a: &Signal<T>,
    b: &Signal<T>,
    self_pair: bool,
    ntk: bool,
    buffers: &mut recursion::Buffers<T>,
) -> Values {
    recursion::run(plan, &mut Pair { a, b }, self_pair, ntk, buffers);
    // The readout stores only diagonal pairs (and zero halos): the trace is the sum.
    let (g, h) = buffers.output(plan);
    Values { ntk: ntk.then(|| maps::total(h)), rf: maps::total(g) }
}

/// Two signals whose norms are known.
struct Pair<'a, T> {
    a: &'a Signal<T>,
    b: &'a Signal<T>,
}

impl<T> Sides<T> for Pair<'_, T> {
    fn values(&self) -> (&[T], &[T]) {
        (&self.a.planar, &self.b.planar)
    }

    fn observe(&mut self, _: usize, _: &Space, _: (usize, usize), _: &[T]) {}

    fn norms(&self, k: usize) -> [&[T]; 2] {
        [&self.a.norms[k], &self.b.norms[k]]
    }

    fn inverse_norms(&self, k: usize) -> [&[T]; 2] {
        [&self.a.inverse[k], &self.b.inverse[k]]
    }

    fn keys(&self) -> [Option<u64>; 2] {
        [Some(self.a.key), Some(self.b.key)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::plan::Target;
    use crate::network::{Layer, Net, Padding, Pool};
    use crate::simd::Isa;
    use ndarray::{Array, ArrayD, Axis};

    /// The signals of `x` for the norms plan of `net` on `grid`.
    fn signals<T: Real>(net: &Net, grid: &[usize], x: &ArrayD<f64>) -> Vec<Signal<T>> {
        let norms = Plan::new(net, grid, Target::Norms).unwrap();
        let mut buffers = recursion::Buffers::new(&norms).unwrap();
        x.axis_iter(Axis(0)).map(|v| Signal::new(v, &norms, &mut buffers).unwrap()).collect()
    }

    fn images(n: usize) -> ArrayD<f64> {
        Array::from_shape_fn((n, 9, 8, 2), |(i, y, u, c)| ((i * 13 + y * 5 + u * 3 + c * 7) % 9) as f64 - 4.0)
            .into_dyn()
    }

    fn values<T: Real>(net: &Net, isa: Isa) -> Vec<Values> {
        let readout = Plan { isa, ..Plan::new(net, &[9, 8], Target::Readout).unwrap() };
        let s = signals::<T>(net, &[9, 8], &images(3));
        let mut ws = Workspace::new(&readout).unwrap();
        let pairs = [(0, 1, false), (1, 2, false), (2, 2, true)];
        pairs.iter().map(|&(i, j, same)| kernel(&readout, &s[i], &s[j], same, true, &mut ws)).collect()
    }

    /// A vector with itself in closed form is the recursion's value, bit for
    /// bit, in both instruction sets and precisions, zero vector included.
    #[test]
    fn vector_self_pairs_are_the_recursions() {
        fn check<T: Real>() {
            let net = Net::fully_connected(4);
            let x = Array::from_shape_fn((4, 23), |(i, c)| match i {
                2 => 0.0,
                _ => (((i * 13 + c * 5) % 7) as f64 - 3.0) * 10f64.powi(3 * i as i32 - 4),
            })
            .into_dyn();
            let norms = Plan::new(&net, &[], Target::Norms).unwrap();
            for (isa, _, s) in crate::signal::test_cases::<T>(&x, &norms) {
                let readout = Plan { isa, ..Plan::new(&net, &[], Target::Readout).unwrap() };
                let mut ws = Workspace::new(&readout).unwrap();
                for (i, s) in s.iter().enumerate() {
                    let want = by_rows(&readout, s, s, true, true, &mut ws.rows).scaled(2 * s.exponent);
                    assert_eq!(kernel(&readout, s, s, true, true, &mut ws), want, "{isa:?} {i}");
                    assert_eq!(want.rf == 0.0, i == 2);
                }
            }
        }
        check::<f64>();
        check::<f32>();
    }

    fn net() -> Net {
        let layer = |pool| Layer { patch: vec![3, 3], padding: Padding::Same, pool };
        let gaussian = Pool::Filter { h: vec![0.25, 0.5, 0.25], stride: 2 };
        Net::new(vec![layer(Pool::identity()), layer(gaussian), layer(Pool::GlobalAverage)]).unwrap()
    }

    fn close(a: &[Values], b: &[Values], rtol: f64) {
        for (a, b) in a.iter().zip(b) {
            for (x, y) in [(a.rf, b.rf), (a.ntk.unwrap(), b.ntk.unwrap())] {
                assert!((x - y).abs() <= rtol * y.abs(), "{x} {y}");
            }
        }
    }

    #[test]
    fn memory_estimates_count_what_is_allocated() {
        fn check<T: Real>(net: &Net) {
            let x = Array::from_shape_fn((2, 9, 8, 2), |(i, y, u, c)| (i + y * u + c) as f64).into_dyn();
            let readout = Plan::new(net, &[9, 8], Target::Readout).unwrap();
            let norms = Plan::new(net, &[9, 8], Target::Norms).unwrap();
            let s = &signals::<T>(net, &[9, 8], &x)[0];
            let mut ws = Workspace::new(&readout).unwrap();
            kernel(&readout, s, s, true, true, &mut ws);
            assert_eq!(ws.bytes(), Workspace::<T>::bytes_for(&readout, 2));
            let values = s.planar.len() + s.norms.slots() + s.inverse.slots();
            assert_eq!(values * size_of::<T>(), Signal::<T>::bytes_for(&norms, 2));
        }
        for net in [
            net(),
            Net::new(vec![Layer { patch: vec![3, 3], padding: Padding::Same, pool: Pool::GlobalAverage }])
                .unwrap(),
            // Identity poolings: pairs of distinct signals take the positionwise path.
            Net::new(vec![Layer { patch: vec![3, 3], padding: Padding::Same, pool: Pool::identity() }; 2])
                .unwrap(),
        ] {
            check::<f64>(&net);
            check::<f32>(&net);
        }
    }

    #[test]
    fn groups_shifted_along_rows_are_the_rows_gathered() {
        let layer = |patch: usize, pool| Layer { patch: vec![patch, patch], padding: Padding::Same, pool };
        let gaussian = Pool::Filter { h: vec![0.25, 0.5, 0.25], stride: 2 };
        for net in [
            net(),
            Net::new(vec![
                layer(3, Pool::identity()),
                layer(5, Pool::identity()),
                layer(2, Pool::identity()),
            ])
            .unwrap(),
            Net::new(vec![layer(2, Pool::identity()), layer(4, gaussian), layer(3, Pool::GlobalAverage)])
                .unwrap(),
        ] {
            let shifted = Plan::new(&net, &[9, 8], Target::Readout).unwrap();
            assert!(shifted.group_halo > 0 && shifted.layers.iter().any(|l| l.patch.rows_shift.is_some()));
            let mut gathered = shifted.clone();
            gathered.layers.iter_mut().for_each(|l| l.patch.rows_shift = None);
            let s = signals::<f64>(&net, &[9, 8], &images(3));
            let mut ws = Workspace::new(&shifted).unwrap();
            for (i, j) in [(0, 1), (2, 2), (1, 2)] {
                let want = by_rows(&gathered, &s[i], &s[j], i == j, true, &mut ws.rows);
                let got = by_rows(&shifted, &s[i], &s[j], i == j, true, &mut ws.rows);
                close(&[got], &[want], 1e-13);
            }
        }
    }

    #[test]
    fn portable_and_simd_builds_agree() {
        let (best, portable) = (values::<f64>(&net(), Isa::best()), values::<f64>(&net(), Isa::portable()));
        // One rounding apart (fused or not), magnified near c = ±1 (spec §4).
        close(&best, &portable, 1e-9);
    }

    #[test]
    fn float32_is_float64_to_single_precision() {
        for isa in [Isa::best(), Isa::portable()] {
            close(&values::<f32>(&net(), isa), &values::<f64>(&net(), isa), 1e-5);
        }
    }
}
