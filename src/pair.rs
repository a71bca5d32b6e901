//! One pair's kernel values, in the precision its workspace was made for.

use crate::diagonal;
use crate::maps;
use crate::plan::Plan;
use crate::real::{Precision, Real, times_pow2};
use crate::recursion::{self, Sides};
use crate::signal::{Parts, Signal};
use crate::vectors;

/// One thread's buffers (see `recursion::Workspace`), in one precision.
#[derive(Debug)]
pub enum Workspace {
    F64(recursion::Workspace<f64>),
    F32(recursion::Workspace<f32>),
}

impl Workspace {
    pub fn new(plan: &Plan, precision: Precision) -> Workspace {
        match precision {
            Precision::F64 => Workspace::F64(recursion::Workspace::new(plan)),
            Precision::F32 => Workspace::F32(recursion::Workspace::new(plan)),
        }
    }

    pub fn precision(&self) -> Precision {
        match self {
            Workspace::F64(_) => Precision::F64,
            Workspace::F32(_) => Precision::F32,
        }
    }

    /// Bytes held now.
    pub fn bytes(&self) -> usize {
        match self {
            Workspace::F64(ws) => ws.slots() * 8,
            Workspace::F32(ws) => ws.slots() * 4,
        }
    }

    /// Bytes a workspace of `plan` holds once it has run on signals of
    /// `channels` (for memory guards).
    pub fn bytes_for(plan: &Plan, precision: Precision, channels: usize) -> usize {
        let slots = match precision {
            Precision::F64 => recursion::Workspace::<f64>::slots_for(plan, channels),
            Precision::F32 => recursion::Workspace::<f32>::slots_for(plan, channels),
        };
        slots * precision.bytes()
    }
}

/// Kernel values of one pair.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Values {
    pub ntk: Option<f64>,
    pub rf: f64,
}

impl Values {
    /// The values of the pair of signals before they were divided by
    /// `2^exponent` and `2^exponent'` (see `Parts::exponent`), given those of
    /// the scaled signals and `exponent + exponent'`. Infinite where they
    /// exceed `f64`.
    pub fn scaled(self, exponent: i32) -> Values {
        Values { ntk: self.ntk.map(|k| times_pow2(k, exponent)), rf: times_pow2(self.rf, exponent) }
    }

    /// Whether both are finite (see `scaled`).
    pub fn finite(&self) -> bool {
        self.rf.is_finite() && self.ntk.is_none_or(f64::is_finite)
    }
}

/// `K_RF(a, b)` and, with `ntk`, `K_NTK(a, b)`. `same` marks a signal
/// paired with itself. `plan` is the network's plan for `Target::Readout`;
/// the signals were made with a workspace of the same precision as `ws`.
pub fn kernel(plan: &Plan, a: &Signal, b: &Signal, same: bool, ntk: bool, ws: &mut Workspace) -> Values {
    // A vector with itself has a closed form (the recursion's operations
    // without its set-up).
    match (same && plan.vectors, a) {
        (true, Signal::F64(x)) => return vectors::self_pair(plan.isa, x, plan.layers.len(), ntk),
        (true, Signal::F32(x)) => return vectors::self_pair(plan.isa, x, plan.layers.len(), ntk),
        _ => {}
    }
    let scaled = match (ws, a, b) {
        (Workspace::F64(ws), Signal::F64(a), Signal::F64(b)) => values(plan, Pair { a, b }, same, ntk, ws),
        (Workspace::F32(ws), Signal::F32(a), Signal::F32(b)) => values(plan, Pair { a, b }, same, ntk, ws),
        _ => panic!("signals and workspace of different precisions"),
    };
    scaled.scaled(a.exponent() + b.exponent())
}

fn values<T: Real>(
    plan: &Plan,
    mut pair: Pair<'_, T>,
    same: bool,
    ntk: bool,
    ws: &mut recursion::Workspace<T>,
) -> Values {
    if let (Some(diagonal), Some(buffers), false) = (&plan.diagonal, &mut ws.diagonal, same) {
        let (rf, k) = diagonal::kernel(diagonal, plan.isa, (pair.a, pair.b), ntk, buffers);
        return Values { ntk: ntk.then_some(k), rf };
    }
    recursion::run(plan, &mut pair, same, ntk, ws);
    // The readout stores only diagonal pairs (and zero halos): the trace is the sum.
    let (g, h) = ws.output(plan);
    Values { ntk: ntk.then(|| maps::total(h)), rf: maps::total(g) }
}

/// Two signals whose norms are known.
struct Pair<'a, T> {
    a: &'a Parts<T>,
    b: &'a Parts<T>,
}

impl<T> Sides<T> for Pair<'_, T> {
    fn values(&self) -> (&[T], &[T]) {
        (&self.a.planar, &self.b.planar)
    }

    fn observe(&mut self, _: usize, _: &crate::plan::Space, _: (usize, usize), _: &[T]) {}

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
    use crate::isa::Isa;
    use crate::net::{Layer, Net, Padding, Pool};
    use crate::plan::Target;
    use ndarray::{Array, Axis};

    fn values(net: &Net, isa: Isa, precision: Precision) -> Vec<Values> {
        let x = Array::from_shape_fn((3, 9, 8, 2), |(i, y, u, c)| {
            ((i * 13 + y * 5 + u * 3 + c * 7) % 9) as f64 - 4.0
        });
        let x = x.into_dyn();
        let mut readout = Plan::new(net, &[9, 8], Target::Readout).unwrap();
        let mut norms = Plan::new(net, &[9, 8], Target::Norms).unwrap();
        (readout.isa, norms.isa) = (isa, isa);
        let mut ws = Workspace::new(&norms, precision);
        let s: Vec<Signal> = (0..3).map(|i| Signal::new(x.index_axis(Axis(0), i), &norms, &mut ws)).collect();
        let mut ws = Workspace::new(&readout, precision);
        let pairs = [(0, 1, false), (1, 2, false), (2, 2, true)];
        pairs.iter().map(|&(i, j, same)| kernel(&readout, &s[i], &s[j], same, true, &mut ws)).collect()
    }

    /// A vector with itself in closed form is the recursion's value, bit for
    /// bit, in both instruction sets and precisions, zero vector included.
    #[test]
    fn vector_self_pairs_are_the_recursions() {
        let net = Net::fully_connected(4);
        let x = Array::from_shape_fn((4, 23), |(i, c)| match i {
            2 => 0.0,
            _ => (((i * 13 + c * 5) % 7) as f64 - 3.0) * 10f64.powi(3 * i as i32 - 4),
        })
        .into_dyn();
        let norms = Plan::new(&net, &[], Target::Norms).unwrap();
        fn recursion<T: Real>(plan: &Plan, x: &Parts<T>, ws: &mut recursion::Workspace<T>) -> Values {
            super::values(plan, Pair { a: x, b: x }, true, true, ws).scaled(2 * x.exponent)
        }
        for (precision, isa, _, s) in crate::signal::test_cases(&x, &norms) {
            let readout = Plan { isa, ..Plan::new(&net, &[], Target::Readout).unwrap() };
            let mut ws = Workspace::new(&readout, precision);
            for (i, s) in s.iter().enumerate() {
                let want = match (&mut ws, s) {
                    (Workspace::F64(ws), Signal::F64(x)) => recursion(&readout, x, ws),
                    (Workspace::F32(ws), Signal::F32(x)) => recursion(&readout, x, ws),
                    _ => unreachable!("one precision"),
                };
                assert_eq!(kernel(&readout, s, s, true, true, &mut ws), want, "{precision:?} {i}");
                assert_eq!(want.rf == 0.0, i == 2);
            }
        }
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
        for net in [
            net(),
            Net::new(vec![Layer { patch: vec![3, 3], padding: Padding::Same, pool: Pool::GlobalAverage }])
                .unwrap(),
            // Identity poolings: pairs of distinct signals take the diagonal path.
            Net::new(vec![Layer { patch: vec![3, 3], padding: Padding::Same, pool: Pool::identity() }; 2])
                .unwrap(),
        ] {
            let x = Array::from_shape_fn((2, 9, 8, 2), |(i, y, u, c)| (i + y * u + c) as f64).into_dyn();
            let readout = Plan::new(&net, &[9, 8], Target::Readout).unwrap();
            let norms = Plan::new(&net, &[9, 8], Target::Norms).unwrap();
            for precision in [Precision::F64, Precision::F32] {
                let mut ws_norms = Workspace::new(&norms, precision);
                let s = Signal::new(x.index_axis(Axis(0), 0), &norms, &mut ws_norms);
                let mut ws = Workspace::new(&readout, precision);
                kernel(&readout, &s, &s, true, true, &mut ws);
                assert_eq!(ws.bytes(), Workspace::bytes_for(&readout, precision, 2));
                let (values, bytes) = match &s {
                    Signal::F64(p) => (p.planar.len() + p.norms.slots() + p.inverse.slots(), 8),
                    Signal::F32(p) => (p.planar.len() + p.norms.slots() + p.inverse.slots(), 4),
                };
                assert_eq!(values * bytes, Signal::bytes_for(&norms, precision, 2));
            }
        }
    }

    #[test]
    fn tiles_shifted_along_rows_are_the_rows_gathered() {
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
            let x = Array::from_shape_fn((3, 9, 8, 2), |(i, y, u, c)| {
                ((i * 13 + y * 5 + u * 3 + c * 7) % 9) as f64 - 4.0
            })
            .into_dyn();
            let shifted = Plan::new(&net, &[9, 8], Target::Readout).unwrap();
            assert!(shifted.tile_halo > 0 && shifted.layers.iter().any(|l| l.patch.rows_shift.is_some()));
            let mut gathered = shifted.clone();
            gathered.layers.iter_mut().for_each(|l| l.patch.rows_shift = None);
            let norms = Plan::new(&net, &[9, 8], Target::Norms).unwrap();
            let mut ws = Workspace::new(&norms, Precision::F64);
            let s: Vec<Signal> =
                (0..3).map(|i| Signal::new(x.index_axis(Axis(0), i), &norms, &mut ws)).collect();
            let mut ws = Workspace::new(&shifted, Precision::F64);
            for (i, j) in [(0, 1), (2, 2), (1, 2)] {
                let want = kernel(&gathered, &s[i], &s[j], i == j, true, &mut ws);
                let got = kernel(&shifted, &s[i], &s[j], i == j, true, &mut ws);
                close(&[got], &[want], 1e-13);
            }
        }
    }

    #[test]
    fn portable_and_simd_builds_agree() {
        let (best, portable) =
            (values(&net(), Isa::best(), Precision::F64), values(&net(), Isa::portable(), Precision::F64));
        // One rounding apart (fused or not), magnified near c = ±1 (SPEC §4).
        close(&best, &portable, 1e-9);
    }

    #[test]
    fn float32_is_float64_to_single_precision() {
        for isa in [Isa::best(), Isa::portable()] {
            close(&values(&net(), isa, Precision::F32), &values(&net(), isa, Precision::F64), 1e-5);
        }
    }
}
