//! Work that depends on one signal only, done once per signal: a compact
//! copy of its values and its norm maps `N_k[u] = sqrt(Σ_k(x, x)[u, u])`.

use ndarray::{ArrayView, Axis, IxDyn};

use crate::maps::{self, Tangent};
use crate::pair::Workspace;
use crate::plan::Plan;

#[derive(Clone, Debug, PartialEq)]
pub struct Signal {
    /// Channel-planar values: `planar[c · positions + p]`.
    pub planar: Vec<f64>,
    /// The norm map of every layer, on that layer's patched grid.
    pub norms: Vec<Vec<f64>>,
}

impl Signal {
    /// `x` is one signal, channels last; `norm_plan` is the plan of the
    /// network for `Target::Norms`.
    pub fn new(x: ArrayView<'_, f64, IxDyn>, norm_plan: &Plan, ws: &mut Workspace) -> Signal {
        let channels = x.shape()[x.ndim() - 1];
        let positions = x.len() / channels.max(1);
        let mut planar = Vec::with_capacity(x.len());
        for c in 0..channels {
            planar.extend(x.index_axis(Axis(x.ndim() - 1), c).iter());
        }
        debug_assert_eq!(planar.len(), positions * channels);
        let norms = self_recursion(norm_plan, &planar, ws);
        Signal { planar, norms }
    }
}

/// The RF recursion of a signal with itself over the bands the norms need,
/// reading each layer's norms off the diagonal of its Σ.
fn self_recursion(plan: &Plan, planar: &[f64], ws: &mut Workspace) -> Vec<Vec<f64>> {
    let Workspace { g, scratch, .. } = ws;
    maps::inner_products(&plan.input, planar, planar, g);
    let mut norms = Vec::with_capacity(plan.layers.len());
    let mut from = &plan.input;
    for layer in &plan.layers {
        maps::apply(&layer.patch, from, &layer.patched, g, scratch);
        let mut n = vec![0.0; layer.patched.positions()];
        maps::diagonal(&layer.patched, g, &mut n);
        // Σ(x, x)[u, u] ≥ 0: a sum of non-negative terms (filters are ≥ 0).
        n.iter_mut().for_each(|v| *v = v.max(0.0).sqrt());
        if let Some(pool) = &layer.pool {
            maps::relu(&layer.patched, &n, &n, true, g, Tangent::Skip);
            maps::apply(pool, &layer.patched, &layer.output, g, scratch);
        }
        norms.push(n);
        from = &layer.output;
    }
    norms
}
