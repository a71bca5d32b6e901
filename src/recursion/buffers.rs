//! One thread's buffers for the recursion, sized once for a plan and reused
//! for every pair: a few row groups, maps and rows, whatever the number of
//! pairs.

use super::spread::Spread;
use crate::error::{Error, Result};
use crate::memory;
use crate::network::plan::Plan;
use crate::simd::Real;

#[derive(Debug)]
pub struct Buffers<T> {
    /// Row groups of G and H: the one a layer reads and the one it writes,
    /// each with `plan.group_halo` rows before and after its rows (zero when
    /// a row shift reads them); and a group of the row shift's sums.
    pub(super) group_in: [Vec<T>; 2],
    pub(super) group_out: [Vec<T>; 2],
    pub(super) rows_shifted: Vec<T>,
    /// Maps of G and H: the one a segment reads and the one it writes.
    pub(super) map_in: [Vec<T>; 2],
    pub(super) map_out: [Vec<T>; 2],
    /// Rows: combined input rows, Σ and Γ of a segment's last layer and
    /// their pooled rows (`T::POOL_ROWS` of each, pooled together), each
    /// for G and H, and scratch of column steps.
    pub(super) gathered: [Vec<T>; 2],
    pub(super) last: [Vec<T>; 2],
    pub(super) pooled: [Vec<T>; 2],
    pub(super) scratch: Vec<T>,
    /// Norm maps and their inverses spread along rows (maps `2k` and
    /// `2k + 1` for layer `k`), and input channels when rows have several
    /// runs and they fit in `SPREAD_VALUES` slots (else the inner products
    /// go run by run).
    pub(super) norms: Spread<T>,
    pub(super) values: Option<Spread<T>>,
}

/// Largest spread of the input channels (slots per side, 2 MiB in f64).
const SPREAD_VALUES: usize = 1 << 18;

/// Whether the input channels are spread along rows: rows of several runs
/// and a spread within `SPREAD_VALUES`.
fn spreads_values(plan: &Plan, channels: usize) -> bool {
    let (width, rows) = (plan.input.cols.size(), plan.input.rows.len());
    channels.saturating_mul(width * rows) <= SPREAD_VALUES && plan.input.cols.position_runs().len() > 1
}

/// Slots of a row group buffer: the largest group and its halo rows.
fn group_slots(plan: &Plan) -> usize {
    plan.group_size + 2 * plan.group_halo * plan.row_size
}

impl<T: Real> Buffers<T> {
    /// The buffers of `plan`, or an [`crate::Error::Memory`].
    pub fn new(plan: &Plan) -> Result<Buffers<T>> {
        let one = |n: usize| memory::zeroed(n, "a thread's buffers");
        let two = |n: usize| Ok::<_, Error>([one(n)?, one(n)?]);
        Ok(Buffers {
            group_in: two(group_slots(plan))?,
            group_out: two(group_slots(plan))?,
            rows_shifted: one(plan.group_size)?,
            map_in: two(plan.map_size)?,
            map_out: two(plan.map_size)?,
            gathered: two(plan.row_size)?,
            last: two(T::POOL_ROWS * plan.row_size)?,
            pooled: two(T::POOL_ROWS * plan.row_size)?,
            scratch: one(T::POOL_ROWS * plan.scratch_size)?,
            norms: Spread::new(plan.layers.iter().flat_map(|l| {
                let shape =
                    if l.pool.is_some() { (l.patched.cols.size(), l.patched.rows.len()) } else { (0, 0) };
                [shape, shape]
            }))?,
            values: None,
        })
    }

    /// Values the buffers of `plan` hold once they have run on signals of
    /// `channels` (for memory estimates; [`Buffers::slots`] counts actual
    /// ones).
    pub fn slots_for(plan: &Plan, channels: usize) -> usize {
        let norms: usize = plan
            .layers
            .iter()
            .filter(|l| l.pool.is_some())
            .map(|l| 4 * l.patched.cols.size() * l.patched.rows.len())
            .sum();
        let row = plan.input.rows.len() * plan.input.cols.size();
        let values = if spreads_values(plan, channels) { 2 * channels * row } else { 0 }; // ≤ 2 SPREAD_VALUES
        let rows = (2 + 4 * T::POOL_ROWS) * plan.row_size;
        4 * group_slots(plan)
            + plan.group_size
            + 4 * plan.map_size
            + rows
            + T::POOL_ROWS * plan.scratch_size
            + norms
            + values
    }

    /// Values held.
    pub fn slots(&self) -> usize {
        let vecs = self.group_in.iter().chain(&self.group_out).chain(&self.map_in).chain(&self.map_out);
        let vecs = vecs.chain(std::iter::once(&self.rows_shifted));
        let rows = self.gathered.iter().chain(&self.last).chain(&self.pooled);
        vecs.chain(rows).map(Vec::len).sum::<usize>()
            + self.scratch.len()
            + self.norms.slots()
            + self.values.as_ref().map_or(0, Spread::slots)
    }

    /// Ready for a pair of signals of `channels` whose keys are `keys` (see
    /// [`super::Sides::keys`]): spread rows of other signals forgotten, and
    /// room to spread the input channels along rows if they fit.
    pub(super) fn prepare(&mut self, plan: &Plan, channels: usize, keys: [Option<u64>; 2]) {
        let fits = spreads_values(plan, channels);
        let (width, rows) = (plan.input.cols.size(), plan.input.rows.len());
        if fits && self.values.as_ref().is_none_or(|v| v.count() != channels) {
            // At most `SPREAD_VALUES` slots: a small allocation.
            self.values = Spread::new((0..channels).map(|_| (width, rows))).ok();
        }
        if !fits {
            self.values = None;
        }
        self.norms.reset(keys);
        if let Some(values) = self.values.as_mut() {
            values.reset(keys);
        }
    }

    /// The RF (G) and NTK (H) maps of the plan's last layer, after a run of
    /// the recursion.
    pub fn output(&self, plan: &Plan) -> (&[T], &[T]) {
        let size = plan.layers.last().expect("a plan has layers").output.size();
        (&self.map_in[0][..size], &self.map_in[1][..size])
    }
}
