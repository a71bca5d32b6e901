//! Everything about a network on a given input shape that does not depend on
//! the signals: which pairs each map stores, the compiled steps between
//! them, and the order maps are computed in. Built once per call, shared by
//! all threads.
//!
//! A map over pairs of a (up to) 2-D grid is a matrix whose rows are the
//! pairs of the first spatial axis and whose columns are the pairs of the
//! second; axes the input does not have are trivial (one pair). Steps act
//! on rows (a few whole rows combined) and within rows (columns), so the
//! recursion runs row by row with every row in cache.
//!
//! Rows of one offset group only ever read rows of the same group through a
//! patch step or identity pooling (both keep `u' − u`). So the layers from
//! one non-trivial pooling to the next form a *segment* whose maps are
//! computed one row group at a time, through all of the
//! segment's layers, without storing whole maps; only a segment's last
//! pooling writes a whole (pooled, smaller) map, read by the next segment.

use std::ops::Range;

use super::axis::{AxisPairs, Extent};
use super::positionwise::PositionPlan;
use super::steps::{AxisOp, ColOp, RowShift, Terms, patch_taps};
use super::{Net, Padding, Pool};
use crate::error::{Result, invalid};
use crate::memory;
use crate::simd::Isa;
use crate::threads::Control;

/// The stored pairs of a map: rows (first axis) × columns (second axis).
#[derive(Clone, Debug, PartialEq)]
pub struct Space {
    pub rows: AxisPairs,
    pub cols: AxisPairs,
}

impl Space {
    /// Number of slots.
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

/// Patch step: each patched row combines a few input rows (`rows`, grouped
/// by patched row), then the columns are patched.
#[derive(Clone, Debug, PartialEq)]
pub struct PatchStep {
    pub rows: Terms,
    /// The same step on the rows as a shifted sum over a row group, where it is one.
    pub rows_shift: Option<RowShift>,
    pub cols: ColOp,
}

/// Pooling step: each patched row, pooled along its columns, is added into
/// a few output rows (`rows`, grouped by patched row).
#[derive(Clone, Debug, PartialEq)]
pub struct PoolStep {
    pub rows: Terms,
    pub cols: ColOp,
    /// Leaves the map as it is (same pairs, weight 1).
    pub identity: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub struct LayerPlan {
    /// From the layer's input space to `patched`.
    pub patch: PatchStep,
    /// Where Σ, the norms and the non-linearity live.
    pub patched: Space,
    /// From `patched` to `output`; `None` where nothing downstream needs it.
    pub pool: Option<PoolStep>,
    pub output: Space,
}

/// Layers whose maps are computed row group by row group (see the module doc).
#[derive(Clone, Debug, PartialEq)]
pub struct Segment {
    pub layers: Range<usize>,
    /// The group holding the diagonal pairs comes first (the norms of a
    /// signal are read off it before other groups need them).
    pub groups: Vec<RowGroup>,
}

/// Rows computed together: one offset group of the segment's last patched
/// map and the rows it depends on.
#[derive(Clone, Debug, PartialEq)]
pub struct RowGroup {
    /// Rows of the segment's input map.
    pub input: Range<usize>,
    /// Rows of each of the segment's patched maps.
    pub patched: Vec<Range<usize>>,
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
    pub segments: Vec<Segment>,
    /// Largest row group of a map (slots), and the zero rows a group buffer keeps
    /// before and after its rows for the shifted sums along rows.
    pub group_size: usize,
    pub group_halo: usize,
    /// Longest row (slots).
    pub row_size: usize,
    /// Largest map a segment writes (slots).
    pub map_size: usize,
    /// Scratch of the column steps (slots per row pooled at once,
    /// [`Real::POOL_ROWS`](crate::simd::Real::POOL_ROWS)).
    pub scratch_size: usize,
    /// The instructions the recursion is compiled for.
    pub isa: Isa,
    /// How pairs of signals go through this plan.
    pub path: Path,
}

/// How the pairs of a plan are computed: the one place where the path is
/// chosen ([`Plan::new`]); [`crate::pair`] follows it.
#[derive(Clone, Debug, PartialEq)]
pub enum Path {
    /// Signals are vectors: every axis is trivial, every map one value and
    /// every step the identity, so pairs go a tile at a time and a signal
    /// with itself has a closed form ([`crate::pair::vectors`]).
    Vectors,
    /// The readout needs only the diagonal `u = u'` of every map: pairs of
    /// distinct signals go as images over positions
    /// ([`crate::pair::positionwise`]), a signal with itself through the
    /// rows.
    Positionwise(PositionPlan),
    /// Row by row through the recursion ([`crate::recursion`]).
    Rows,
}

/// Per-layer facts of one axis: grid lengths and the step parameters.
struct AxisLayer {
    input: usize,
    patched: usize,
    pooled: usize,
    patch: usize,
    /// The pooling along this axis, its filter clipped to the axis
    /// ([`Pool::along`]).
    pool: Pool,
}

impl AxisLayer {
    /// Taps of the pooling's filter (the patched grid for global pooling).
    fn pool_len(&self) -> usize {
        match &self.pool {
            Pool::Filter { h, .. } => h.len(),
            Pool::GlobalAverage => self.patched,
        }
    }
}

impl Plan {
    /// `grid` has one length per spatial axis (0, 1 or 2 of them).
    pub fn new(net: &Net, grid: &[usize], target: Target) -> Result<Plan> {
        Plan::build(net, grid, target, &Control::default())
    }

    /// [`Plan::new`], checking `control` between axes: an
    /// [`Error::Cancelled`](crate::Error::Cancelled)
    /// once cancelled. A plan that would not fit in the memory available is
    /// an [`Error::Memory`](crate::Error::Memory) before anything is built.
    pub fn build(net: &Net, grid: &[usize], target: Target, control: &Control) -> Result<Plan> {
        if grid.len() > 2 {
            return Err(invalid!("signals have at most two spatial axes, got {}", grid.len()));
        }
        let grids = net.grids(grid)?;
        let layers = net.layers();
        // Real axes map to (rows, cols) = (y, x); a 1-D signal is one row.
        let axis_of = |a: usize| -> Option<usize> {
            match (grid.len(), a) {
                (2, a) => Some(a),
                (1, 1) => Some(0),
                _ => None,
            }
        };
        let axes: [Option<(Vec<AxisLayer>, usize)>; 2] = [0, 1].map(|a| {
            let ax = axis_of(a)?;
            let facts: Vec<AxisLayer> = grids
                .iter()
                .zip(layers)
                .map(|(g, l)| AxisLayer {
                    input: g.input[ax],
                    patched: g.patched[ax],
                    pooled: g.pooled[ax],
                    patch: l.patch[ax],
                    pool: l.pool.along(g.patched[ax]),
                })
                .collect();
            // Halos between column groups stand for the zero padding of
            // "same" patches (see ColOp::Shift); rows need none.
            let halo = if a == 1 { column_halo(net, &facts) } else { 0 };
            Some((facts, halo))
        });
        // What the plan will hold, from the grids alone, before it is built.
        let bytes: u128 =
            axes.iter().flatten().map(|(facts, halo)| estimate(net, facts, target, *halo)).sum();
        memory::guard(&[memory::Part {
            what: "the plan of the network on this grid".into(),
            bytes,
            advice: "the maps of this network on this grid are too large: use smaller signals, or \
                     local pooling instead of global pooling on long axes",
        }])?;
        let [rows, cols] = axes.map(|axis| match axis {
            None => Ok(AxisPlan::trivial(layers.len())),
            Some((facts, halo)) => {
                control.check()?;
                Ok(AxisPlan::new(net, &facts, target, halo))
            }
        });
        let (rows, cols) = (rows?, cols?);
        let positionwise = if target == Target::Readout { PositionPlan::new(net, grid) } else { None };
        let path = match positionwise {
            _ if grid.is_empty() => Path::Vectors,
            Some(steps) => Path::Positionwise(steps),
            None => Path::Rows,
        };
        Ok(Plan::assemble(net, rows, cols, path))
    }

    fn assemble(net: &Net, rows: AxisPlan, cols: AxisPlan, path: Path) -> Plan {
        let input = Space { rows: rows.input, cols: cols.input };
        let mut layers = Vec::with_capacity(rows.pools.len());
        let mut previous = input.clone();
        for (k, (row_pool, col_pool)) in rows.pools.into_iter().zip(cols.pools).enumerate() {
            let patched = Space { rows: rows.spaces[k].0.clone(), cols: cols.spaces[k].0.clone() };
            let output = Space { rows: rows.spaces[k].1.clone(), cols: cols.spaces[k].1.clone() };
            let padding = net.layers()[k].padding;
            let patch = PatchStep {
                rows: AxisOp::patch(&previous.rows, &patched.rows, rows.patch[k], padding)
                    .gather(patched.rows.size()),
                rows_shift: RowShift::patch(&previous.rows, &patched.rows, rows.patch[k], padding),
                cols: ColOp::patch(&previous.cols, &patched.cols, cols.patch[k], padding),
            };
            let pool = match (row_pool, col_pool) {
                (Some(r), Some(c)) => Some(PoolStep {
                    identity: r.is_identity() && c.is_identity(),
                    rows: r.scatter(patched.rows.size()),
                    cols: ColOp::pool(
                        c,
                        &cols.pool[k],
                        &patched.cols,
                        &output.cols,
                        padding == Padding::Circular,
                    ),
                }),
                _ => None,
            };
            layers.push(LayerPlan { patch, patched, pool, output: output.clone() });
            previous = output;
        }
        let segments = segments(&layers);
        let row_size = std::iter::once(&input)
            .chain(layers.iter().flat_map(|l| [&l.patched, &l.output]))
            .map(|s| s.cols.size())
            .max()
            .expect("a plan has an input space");

        let group_size = largest_group(&input, &layers, &segments);
        let group_halo =
            layers.iter().filter_map(|l| l.patch.rows_shift.map(|r| r.reach())).max().unwrap_or(0);
        // Only a segment's last layer writes its output map.
        let map_size = segments.iter().map(|seg| layers[seg.layers.end - 1].output.size()).max().unwrap_or(0);
        let scratch_size = layers
            .iter()
            .flat_map(|l| std::iter::once(&l.patch.cols).chain(l.pool.as_ref().map(|p| &p.cols)))
            .map(ColOp::scratch)
            .max()
            .unwrap_or(0);
        Plan {
            input,
            layers,
            segments,
            group_size,
            group_halo,
            row_size,
            map_size,
            scratch_size,
            isa: Isa::best(),
            path,
        }
    }
}

/// One matrix axis of every layer: the stored pairs and the steps.
struct AxisPlan {
    input: AxisPairs,
    /// (patched, output) per layer.
    spaces: Vec<(AxisPairs, AxisPairs)>,
    /// Pooling per layer, where needed.
    pools: Vec<Option<AxisOp>>,
    /// Patch size per layer.
    patch: Vec<usize>,
    /// The pooling per layer along this axis ([`Pool::along`]).
    pool: Vec<Pool>,
}

impl AxisPlan {
    fn trivial(depth: usize) -> AxisPlan {
        AxisPlan {
            input: AxisPairs::trivial(),
            spaces: vec![(AxisPairs::trivial(), AxisPairs::trivial()); depth],
            pools: vec![Some(AxisOp::identity()); depth],
            patch: vec![1; depth],
            pool: vec![Pool::identity(); depth],
        }
    }

    fn new(net: &Net, facts: &[AxisLayer], target: Target, halo: usize) -> AxisPlan {
        let depth = facts.len();
        let wrap = |k: usize| wraps(net, k);
        let (input_band, bands) = bands(net, facts, target);
        let input = AxisPairs::new(facts[0].input, wrap(0), input_band, halo);
        let mut spaces = Vec::with_capacity(depth);
        let mut pools = Vec::with_capacity(depth);
        for k in 0..depth {
            let patched = AxisPairs::new(facts[k].patched, wrap(k), bands[k].0, halo);
            let output = AxisPairs::new(facts[k].pooled, wrap(k + 1), bands[k].1, halo);
            pools.push((target == Target::Readout || k + 1 < depth).then(|| match &facts[k].pool {
                Pool::GlobalAverage => AxisOp::global_average(&patched, &output),
                Pool::Filter { h, stride } => AxisOp::pool(&patched, &output, h, *stride, wrap(k)),
            }));
            spaces.push((patched, output));
        }
        let patch = facts.iter().map(|f| f.patch).collect();
        AxisPlan { input, spaces, pools, patch, pool: facts.iter().map(|f| f.pool.clone()).collect() }
    }
}

/// Whether layer `k`'s maps wrap around (circular padding); the readout's
/// (`k` = depth) are the last layer's.
fn wraps(net: &Net, k: usize) -> bool {
    let layers = net.layers();
    layers[k.min(layers.len() - 1)].padding == Padding::Circular
}

/// The bands of one axis: of the input map, and per layer (patched band,
/// output band), from the readout backwards.
fn bands(net: &Net, facts: &[AxisLayer], target: Target) -> (usize, Vec<(usize, usize)>) {
    let depth = facts.len();
    let mut bands = vec![(0usize, 0usize); depth];
    let mut needed = 0; // band of the current layer's output
    for k in (0..depth).rev() {
        let patched_band = if target == Target::Norms && k == depth - 1 {
            0
        } else {
            match &facts[k].pool {
                Pool::GlobalAverage => facts[k].patched,
                Pool::Filter { h, stride } => AxisPairs::pooled_band(
                    needed,
                    wraps(net, k + 1),
                    h.len(),
                    *stride,
                    facts[k].patched,
                    wraps(net, k),
                ),
            }
        };
        bands[k] = (patched_band, needed);
        needed = patched_band;
    }
    (needed, bands)
}

/// Bytes the plan's structures for one axis will hold, at most: the stored
/// pairs of every map and the terms of every step (each a strided run and a
/// grouped term, with the temporaries that build them), from the bands
/// alone. Building the plan takes time in proportion.
fn estimate(net: &Net, facts: &[AxisLayer], target: Target, halo: usize) -> u128 {
    use memory::mul;
    let (input_band, bands) = bands(net, facts, target);
    let pairs = |e: Extent, len: usize| 8 * e.size + 8 * len as u128 + 96 * e.groups;
    let mut previous = Extent::of(facts[0].input, wraps(net, 0), input_band, halo);
    let mut bytes = pairs(previous, facts[0].input);
    for (k, (f, &(patched_band, out_band))) in facts.iter().zip(&bands).enumerate() {
        let patched = Extent::of(f.patched, wraps(net, k), patched_band, halo);
        let output = Extent::of(f.pooled, wraps(net, k + 1), out_band, halo);
        let taps = patch_taps(f.patch, net.layers()[k].padding, f.input).len() as u128;
        // Each term: a run (48 B), a grouped term and its temporary (32 B),
        // and a copy in the column step (48 B); each slot a key (32 B).
        let patch_terms = mul(taps, patched.count);
        let pool_terms = match &f.pool {
            Pool::GlobalAverage => patched.count,
            Pool::Filter { h, .. } => {
                let nonzero = h.iter().filter(|&&w| w != 0.0).count() as u128;
                mul(mul(nonzero, nonzero), output.count)
            }
        };
        // A dense pooling's position matrix: taps per output position and
        // a blank list over the positions' pairs.
        let dense =
            16 * mul(f.pooled as u128, f.pool_len() as u128) + 4 * mul(f.patched as u128, f.patched as u128);
        bytes = bytes
            .saturating_add(pairs(patched, f.patched) + pairs(output, f.pooled))
            .saturating_add(mul(128, patch_terms.saturating_add(pool_terms)))
            .saturating_add(32 * (patched.size + previous.size) + dense);
        previous = output;
    }
    bytes
}

/// Reach of the widest "same" patch along the columns (within the grid):
/// halos that wide make every such patch a single shifted sum over a row.
fn column_halo(net: &Net, facts: &[AxisLayer]) -> usize {
    net.layers()
        .iter()
        .zip(facts)
        .filter(|(l, _)| l.padding == Padding::Same)
        .map(|(_, f)| (f.patch / 2).min(f.input - 1))
        .max()
        .unwrap_or(0)
}

/// Slots of the largest row group a layer reads or writes.
fn largest_group(input: &Space, layers: &[LayerPlan], segments: &[Segment]) -> usize {
    let mut size = 0;
    for seg in segments {
        for group in &seg.groups {
            if seg.layers.start == 0 {
                size = size.max(group.input.len() * input.cols.size());
            }
            for (rows, k) in group.patched.iter().zip(seg.layers.clone()) {
                size = size.max(rows.len() * layers[k].patched.cols.size());
            }
        }
    }
    size
}

/// Splits the layers into segments: each ends at the first layer whose
/// pooling is not the identity (or that has none, or is the last).
fn segments(layers: &[LayerPlan]) -> Vec<Segment> {
    let mut out = Vec::new();
    let mut start = 0;
    for (k, layer) in layers.iter().enumerate() {
        let through = k + 1 < layers.len() && layer.pool.as_ref().is_some_and(|p| p.identity);
        if !through {
            out.push(Segment { layers: start..k + 1, groups: row_groups(layers, start..k + 1) });
            start = k + 1;
        }
    }
    out
}

/// One row group per offset group of the last layer's patched rows, each with
/// the rows it reads at every earlier layer of the segment; the group of
/// the diagonal first.
fn row_groups(layers: &[LayerPlan], seg: Range<usize>) -> Vec<RowGroup> {
    let last = &layers[seg.end - 1].patched.rows;
    let diagonal = last.diagonal().start;
    let mut groups: Vec<RowGroup> = last
        .groups()
        .map(|group| {
            let mut patched = vec![0..0; seg.len()];
            let mut rows = group;
            for k in seg.clone().rev() {
                patched[k - seg.start] = rows.clone();
                let sources = rows.clone().flat_map(|p| layers[k].patch.rows.row(p).iter().map(|&(q, _)| q));
                let (lo, hi) = sources.fold((usize::MAX, 0), |(lo, hi), q| (lo.min(q), hi.max(q + 1)));
                rows = if lo < hi { lo..hi } else { 0..0 };
            }
            RowGroup { input: rows, patched }
        })
        .collect();
    let first =
        groups.iter().position(|g| g.patched[seg.len() - 1].contains(&diagonal)).expect("a diagonal group");
    groups.swap(0, first);
    groups
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::Layer;

    fn net(layers: Vec<(usize, Padding, Pool)>) -> Net {
        Net::new(
            layers.into_iter().map(|(s, padding, pool)| Layer { patch: vec![s, s], padding, pool }).collect(),
        )
        .unwrap()
    }

    fn pairs(space: &Space) -> usize {
        space.rows.count() * space.cols.count()
    }

    #[test]
    fn identity_pooling_needs_only_the_diagonal() {
        let n = net(vec![(3, Padding::Same, Pool::identity()); 3]);
        let plan = Plan::new(&n, &[32, 32], Target::Readout).unwrap();
        assert_eq!(pairs(&plan.input), 32 * 32);
        assert!(plan.layers.iter().all(|l| pairs(&l.patched) == 32 * 32));
        // One segment, one row group: the diagonal rows.
        assert_eq!(plan.segments.len(), 1);
        assert_eq!(plan.segments[0].groups, vec![RowGroup { input: 0..32, patched: vec![0..32; 3] }]);
        assert!(matches!(plan.layers[1].patch.cols, ColOp::Shift { first: -1, taps: 3, .. }));
        // And along rows, a shift over the group with one zero row around it.
        assert_eq!(plan.layers[1].patch.rows_shift, Some(RowShift { first: -1, taps: 3, weight: 1.0 / 3.0 }));
        assert_eq!(plan.group_halo, 1);
    }

    #[test]
    fn global_pooling_needs_every_pair() {
        let n = net(vec![(3, Padding::Same, Pool::identity()), (3, Padding::Same, Pool::GlobalAverage)]);
        let plan = Plan::new(&n, &[8, 8], Target::Readout).unwrap();
        assert_eq!(pairs(&plan.input), 64 * 64);
        assert_eq!(pairs(&plan.layers[1].output), 1);
        // One segment, a row group per row offset, the diagonal first, each a
        // group through both layers.
        let seg = &plan.segments[0];
        assert_eq!((seg.layers.clone(), seg.groups.len()), (0..2, 15));
        assert_eq!(plan.input.rows.pair_at(seg.groups[0].input.start), Some((0, 0)));
        let groups: Vec<_> = plan.layers[1].patched.rows.groups().collect();
        for group in &seg.groups {
            assert!(groups.contains(&group.input) && group.patched == vec![group.input.clone(); 2]);
        }
        // The norms need only the diagonal.
        let norms = Plan::new(&n, &[8, 8], Target::Norms).unwrap();
        assert_eq!(pairs(&norms.input), 64);
        assert!(norms.layers[1].pool.is_none());
    }

    #[test]
    fn local_pooling_needs_a_band_and_ends_a_segment() {
        let avg = Pool::Filter { h: vec![0.5, 0.5], stride: 2 };
        let n = net(vec![(3, Padding::Same, avg), (3, Padding::Same, Pool::GlobalAverage)]);
        let plan = Plan::new(&n, &[16, 16], Target::Readout).unwrap();
        // Offsets |δ| ≤ 15 on each axis after pooling, so 2·15 + 1 before.
        assert_eq!(plan.layers[0].patched.rows.count(), 16 * 16);
        let n = net(vec![(3, Padding::Same, Pool::Filter { h: vec![0.5, 0.5], stride: 2 })]);
        let plan = Plan::new(&n, &[16, 16], Target::Readout).unwrap();
        // Offsets |δ| ≤ 1 on each axis: 16 + 2·15 pairs.
        assert_eq!(plan.layers[0].patched.rows.count(), 46);
        assert_eq!(plan.layers[0].output.rows.count(), 8);
        let n = net(vec![(3, Padding::Same, Pool::Filter { h: vec![0.5, 0.5], stride: 2 }); 3]);
        let plan = Plan::new(&n, &[16, 16], Target::Readout).unwrap();
        let layers: Vec<_> = plan.segments.iter().map(|s| s.layers.clone()).collect();
        assert_eq!(layers, vec![0..1, 1..2, 2..3]);
    }

    #[test]
    fn vectors_have_trivial_axes() {
        let n = Net::fully_connected(1);
        let plan = Plan::new(&n, &[], Target::Readout).unwrap();
        assert_eq!(plan.input.size(), 1);
        assert_eq!(plan.layers[0].patch.rows.row(0), &[(0, 1.0)]);
        assert_eq!(plan.layers[0].patch.cols, ColOp::Identity);
        assert_eq!(plan.path, Path::Vectors);
    }
}
