//! Everything about a network on a given input shape that does not depend on
//! the signals: which pairs each map stores and the compiled steps between
//! them. Built once per call, shared by all threads.
//!
//! A map over pairs of a (up to) 2-D grid is a matrix whose rows are the
//! pairs of the first spatial axis and whose columns are the pairs of the
//! second; axes the input does not have are trivial (one pair).

use crate::axis::{AxisOp, AxisPairs};
use crate::error::Result;
use crate::net::{Net, Padding, Pool};

/// The stored pairs of a map: rows (first axis) × columns (second axis).
#[derive(Clone, Debug, PartialEq)]
pub struct Space {
    pub rows: AxisPairs,
    pub cols: AxisPairs,
}

impl Space {
    pub fn size(&self) -> usize {
        self.rows.size() * self.cols.size()
    }

    /// Width of the grid: positions are `y · width + x`.
    pub fn width(&self) -> usize {
        self.cols.len()
    }

    /// Number of positions of the grid.
    pub fn positions(&self) -> usize {
        self.rows.len() * self.cols.len()
    }
}

/// A step applied separably: first along rows, then along columns.
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    pub rows: AxisOp,
    pub cols: AxisOp,
}

#[derive(Clone, Debug, PartialEq)]
pub struct LayerPlan {
    /// From the layer's input space to `patched`.
    pub patch: Step,
    /// Where Σ, the norms and the non-linearity live.
    pub patched: Space,
    /// From `patched` to `output`; `None` where nothing downstream needs it.
    pub pool: Option<Step>,
    pub output: Space,
}

/// What the maps are computed for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// The kernel value: the trace of the last layer's pooled maps.
    Readout,
    /// A signal's norm maps: the diagonal of Σ at every layer.
    Norms,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    pub input: Space,
    pub layers: Vec<LayerPlan>,
    /// Largest map (including the halfway point of a separable step).
    pub max_size: usize,
}

/// Per-layer facts of one axis: grid lengths and the step parameters.
struct AxisLayer {
    input: usize,
    patched: usize,
    pooled: usize,
    patch: usize,
}

impl Plan {
    /// `grid` has one length per spatial axis (0, 1 or 2 of them).
    pub fn new(net: &Net, grid: &[usize], target: Target) -> Result<Plan> {
        assert!(grid.len() <= 2, "inputs have at most two spatial axes");
        let grids = net.grids(grid)?;
        let layers = net.layers();
        let depth = layers.len();
        // Real axes map to (rows, cols) = (y, x); a 1-D signal is one row.
        let axis_of = |a: usize| -> Option<usize> {
            match (grid.len(), a) {
                (2, a) => Some(a),
                (1, 1) => Some(0),
                _ => None,
            }
        };
        let wrap = |k: usize| layers[k.min(depth - 1)].padding == Padding::Circular;

        // For each of the two matrix axes: spaces and steps, layer by layer.
        let mut axis_spaces: Vec<Vec<(AxisPairs, AxisPairs)>> = Vec::new(); // (patched, output)
        let mut axis_inputs: Vec<AxisPairs> = Vec::new();
        let mut axis_steps: Vec<Vec<(AxisOp, Option<AxisOp>)>> = Vec::new();
        for a in 0..2 {
            let Some(ax) = axis_of(a) else {
                axis_inputs.push(AxisPairs::trivial());
                axis_spaces.push(vec![(AxisPairs::trivial(), AxisPairs::trivial()); depth]);
                axis_steps.push((0..depth).map(|_| (AxisOp::identity(), Some(AxisOp::identity()))).collect());
                continue;
            };
            let facts: Vec<AxisLayer> = grids
                .iter()
                .zip(layers)
                .map(|(g, l)| AxisLayer {
                    input: g.input[ax],
                    patched: g.patched[ax],
                    pooled: g.pooled[ax],
                    patch: l.patch[ax],
                })
                .collect();
            // Bands, from the readout backwards: (patched band, output band).
            let mut bands = vec![(0usize, 0usize); depth];
            let mut needed = 0; // band of the current layer's output
            for k in (0..depth).rev() {
                let patched_band = if target == Target::Norms && k == depth - 1 {
                    0
                } else {
                    match &layers[k].pool {
                        Pool::GlobalAverage => facts[k].patched,
                        Pool::Filter { h, stride } => AxisPairs::pooled_band(
                            needed,
                            wrap(k + 1),
                            h.len(),
                            *stride,
                            facts[k].patched,
                            wrap(k),
                        ),
                    }
                };
                bands[k] = (patched_band, needed);
                needed = patched_band;
            }
            let input = AxisPairs::new(facts[0].input, wrap(0), needed);
            let mut spaces = Vec::with_capacity(depth);
            let mut steps = Vec::with_capacity(depth);
            let mut current = input.clone();
            for k in 0..depth {
                let patched = AxisPairs::new(facts[k].patched, wrap(k), bands[k].0);
                let output = AxisPairs::new(facts[k].pooled, wrap(k + 1), bands[k].1);
                let patch = AxisOp::patch(&current, &patched, facts[k].patch, layers[k].padding);
                let pool = (target == Target::Readout || k + 1 < depth).then(|| match &layers[k].pool {
                    Pool::GlobalAverage => AxisOp::global_average(&patched, &output),
                    Pool::Filter { h, stride } => AxisOp::pool(&patched, &output, h, *stride, wrap(k)),
                });
                steps.push((patch, pool));
                current = output.clone();
                spaces.push((patched, output));
            }
            axis_inputs.push(input);
            axis_spaces.push(spaces);
            axis_steps.push(steps);
        }

        let [rows_in, cols_in]: [AxisPairs; 2] = axis_inputs.try_into().expect("two matrix axes");
        let input = Space { rows: rows_in, cols: cols_in };
        let mut max_size = input.size();
        let mut previous = input.clone();
        let mut plan_layers = Vec::with_capacity(depth);
        let [row_steps, col_steps]: [Vec<_>; 2] = axis_steps.try_into().expect("two matrix axes");
        for (k, ((row_patch, row_pool), (col_patch, col_pool))) in
            row_steps.into_iter().zip(col_steps).enumerate()
        {
            let patched = Space { rows: axis_spaces[0][k].0.clone(), cols: axis_spaces[1][k].0.clone() };
            let output = Space { rows: axis_spaces[0][k].1.clone(), cols: axis_spaces[1][k].1.clone() };
            // A separable step passes through rows_out × cols_in.
            max_size = max_size
                .max(patched.rows.size() * previous.cols.size())
                .max(patched.size())
                .max(output.rows.size() * patched.cols.size())
                .max(output.size());
            let pool = match (row_pool, col_pool) {
                (Some(rows), Some(cols)) => Some(Step { rows, cols }),
                _ => None,
            };
            plan_layers.push(LayerPlan {
                patch: Step { rows: row_patch, cols: col_patch },
                patched,
                pool,
                output: output.clone(),
            });
            previous = output;
        }
        Ok(Plan { input, layers: plan_layers, max_size })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::Layer;

    fn net(layers: Vec<(usize, Padding, Pool)>) -> Net {
        Net::new(
            layers.into_iter().map(|(s, padding, pool)| Layer { patch: vec![s, s], padding, pool }).collect(),
        )
        .unwrap()
    }

    #[test]
    fn identity_pooling_needs_only_the_diagonal() {
        let n = net(vec![(3, Padding::Same, Pool::identity()); 3]);
        let plan = Plan::new(&n, &[32, 32], Target::Readout).unwrap();
        assert_eq!(plan.input.size(), 32 * 32);
        assert!(plan.layers.iter().all(|l| l.patched.size() == 32 * 32));
    }

    #[test]
    fn global_pooling_needs_every_pair() {
        let n = net(vec![(3, Padding::Same, Pool::identity()), (3, Padding::Same, Pool::GlobalAverage)]);
        let plan = Plan::new(&n, &[8, 8], Target::Readout).unwrap();
        assert_eq!(plan.input.size(), 64 * 64);
        assert_eq!(plan.layers[1].output.size(), 1);
        // The norms need only the diagonal.
        let norms = Plan::new(&n, &[8, 8], Target::Norms).unwrap();
        assert_eq!(norms.input.size(), 64);
        assert!(norms.layers[1].pool.is_none());
    }

    #[test]
    fn local_pooling_needs_a_band() {
        let n = net(vec![(3, Padding::Same, Pool::Filter { h: vec![0.5, 0.5], stride: 2 })]);
        let plan = Plan::new(&n, &[16, 16], Target::Readout).unwrap();
        // Offsets |δ| ≤ 1 on each axis: 16 + 2·15 pairs.
        assert_eq!(plan.layers[0].patched.rows.size(), 46);
        assert_eq!(plan.layers[0].output.rows.size(), 8);
    }

    #[test]
    fn vectors_have_trivial_axes() {
        let n =
            Net::new(vec![Layer { patch: vec![], padding: Padding::Same, pool: Pool::identity() }]).unwrap();
        let plan = Plan::new(&n, &[], Target::Readout).unwrap();
        assert_eq!(plan.input.size(), 1);
        assert!(plan.layers[0].patch.rows.is_identity() && plan.layers[0].patch.cols.is_identity());
    }
}
