//! One pair's recursion (SPEC §2) in a reusable workspace.

use crate::maps::{self, Tangent};
use crate::plan::Plan;
use crate::signal::Signal;

/// Buffers for one thread's maps, sized once for a plan and reused for
/// every pair: no allocation per pair.
#[derive(Debug)]
pub struct Workspace {
    /// The RF map G (Σ, then B1, then G of the next layer).
    pub g: Vec<f64>,
    /// The NTK map H (Γ, then B0 ⊙ Γ + B1, then H of the next layer).
    pub h: Vec<f64>,
    /// Halfway point of separable steps.
    pub scratch: Vec<f64>,
}

impl Workspace {
    pub fn new(plan: &Plan) -> Workspace {
        let n = plan.max_size;
        Workspace { g: vec![0.0; n], h: vec![0.0; n], scratch: vec![0.0; n] }
    }
}

/// Kernel values of one pair.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Values {
    pub ntk: Option<f64>,
    pub rf: f64,
}

/// `K_RF(a, b)` and, with `ntk`, `K_NTK(a, b)`. `same` marks a signal
/// paired with itself. `plan` is the network's plan for `Target::Readout`.
pub fn kernel(plan: &Plan, a: &Signal, b: &Signal, same: bool, ntk: bool, ws: &mut Workspace) -> Values {
    let Workspace { g, h, scratch } = ws;
    maps::inner_products(&plan.input, &a.planar, &b.planar, g);
    let mut from = &plan.input;
    for (k, layer) in plan.layers.iter().enumerate() {
        maps::apply(&layer.patch, from, &layer.patched, g, scratch);
        let tangent = match (ntk, k) {
            (false, _) => Tangent::Skip,
            (true, 0) => Tangent::FromSigma(h),
            (true, _) => {
                maps::apply(&layer.patch, from, &layer.patched, h, scratch);
                Tangent::Gamma(h)
            }
        };
        maps::relu(&layer.patched, &a.norms[k], &b.norms[k], same, g, tangent);
        let pool = layer.pool.as_ref().expect("readout plans pool every layer");
        maps::apply(pool, &layer.patched, &layer.output, g, scratch);
        if ntk {
            maps::apply(pool, &layer.patched, &layer.output, h, scratch);
        }
        from = &layer.output;
    }
    // The readout stores only diagonal pairs: the trace is the sum.
    let size = from.size();
    Values { ntk: ntk.then(|| h[..size].iter().sum()), rf: g[..size].iter().sum() }
}
