//! One pair's kernel values, in the precision its workspace was made for.

use crate::plan::Plan;
use crate::real::{Precision, Real};
use crate::recursion::{self, Sides};
use crate::signal::{Parts, Signal};

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
}

/// Kernel values of one pair.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Values {
    pub ntk: Option<f64>,
    pub rf: f64,
}

/// `K_RF(a, b)` and, with `ntk`, `K_NTK(a, b)`. `same` marks a signal
/// paired with itself. `plan` is the network's plan for `Target::Readout`;
/// the signals were made with a workspace of the same precision as `ws`.
pub fn kernel(plan: &Plan, a: &Signal, b: &Signal, same: bool, ntk: bool, ws: &mut Workspace) -> Values {
    match (ws, a, b) {
        (Workspace::F64(ws), Signal::F64(a), Signal::F64(b)) => values(plan, Pair { a, b }, same, ntk, ws),
        (Workspace::F32(ws), Signal::F32(a), Signal::F32(b)) => values(plan, Pair { a, b }, same, ntk, ws),
        _ => panic!("signals and workspace of different precisions"),
    }
}

fn values<T: Real>(
    plan: &Plan,
    mut pair: Pair<'_, T>,
    same: bool,
    ntk: bool,
    ws: &mut recursion::Workspace<T>,
) -> Values {
    recursion::run(plan, &mut pair, same, ntk, ws);
    // The readout stores only diagonal pairs (and zero halos): the trace is the sum.
    let (g, h) = ws.output(plan);
    let total = |map: &[T]| map.iter().map(|v| v.widen()).sum::<f64>();
    Values { ntk: ntk.then(|| total(h)), rf: total(g) }
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
}
