//! The recursion of SPEC §2 for two signals, segment by segment and tile by
//! tile (see `plan`), one row at a time: a row is combined from a few rows
//! of the previous map, patched along its columns, put through the ReLU
//! step, then kept in the tile for the next layer or pooled into the
//! segment's output map. Every row stays in cache and no map of a segment
//! is stored whole. The same code gives a signal's norm maps (`Sides`).

use std::ops::Range;

mod spread;

use spread::Spread;

use crate::kappa::relu::{RowNorms, Tangent, relu_row, relu_self};
use crate::maps;
use crate::network::axis::{AxisPairs, ROW_ALIGN};
use crate::network::plan::{Plan, PoolStep, Space};
use crate::network::steps::ColOp;
use crate::simd::{Kernel, Real};

/// One thread's buffers, sized once for a plan and reused for every pair:
/// a few tiles, maps and rows, whatever the number of pairs.
#[derive(Debug)]
pub struct Buffers<T> {
    /// Tiles of G and H: the one a layer reads and the one it writes, each
    /// with `plan.tile_halo` rows before and after its rows (zero when a
    /// row shift reads them); and a tile of the rows shift's sums.
    tile_in: [Vec<T>; 2],
    tile_out: [Vec<T>; 2],
    rows_shifted: Vec<T>,
    /// Maps of G and H: the one a segment reads and the one it writes.
    map_in: [Vec<T>; 2],
    map_out: [Vec<T>; 2],
    /// Rows: combined input rows, Σ and Γ of a segment's last layer and
    /// their pooled rows (`T::POOL_ROWS` of each, pooled together), each
    /// for G and H, and scratch of column steps.
    gathered: [Vec<T>; 2],
    last: [Vec<T>; 2],
    pooled: [Vec<T>; 2],
    scratch: Vec<T>,
    /// Norm maps and their inverses spread along rows (maps `2k` and
    /// `2k + 1` for layer `k`), and input channels when
    /// rows have several runs and they fit in `SPREAD_VALUES` slots (else
    /// `inner_products` goes run by run).
    norms: Spread<T>,
    values: Option<Spread<T>>,
}

/// Largest tile patched by whole-tile shifts (slots): larger ones go row by
/// row, each row patched, put through the ReLU step and kept while in L1
/// (two passes over a 280 KB tile made cifar-gap 4% slower in `f32`).
const SHIFTED_TILE: usize = 1 << 13;

/// Largest spread of the input channels (slots per side, 2 MiB in f64).
const SPREAD_VALUES: usize = 1 << 18;

/// Whether the input channels are spread along rows: rows of several runs
/// and a spread within `SPREAD_VALUES`.
fn spreads_values(plan: &Plan, channels: usize) -> bool {
    let (width, rows) = (plan.input.cols.size(), plan.input.rows.len());
    channels * width * rows <= SPREAD_VALUES && plan.input.cols.position_runs().len() > 1
}

impl<T: Real> Buffers<T> {
    pub fn new(plan: &Plan) -> Buffers<T> {
        let two = |n: usize| [vec![T::zero(); n], vec![T::zero(); n]];
        Buffers {
            tile_in: two(tile_slots(plan)),
            tile_out: two(tile_slots(plan)),
            rows_shifted: vec![T::zero(); plan.tile_size],
            map_in: two(plan.map_size),
            map_out: two(plan.map_size),
            gathered: two(plan.row_size),
            last: two(T::POOL_ROWS * plan.row_size),
            pooled: two(T::POOL_ROWS * plan.row_size),
            scratch: vec![T::zero(); T::POOL_ROWS * plan.scratch_size],
            norms: Spread::new(plan.layers.iter().flat_map(|l| {
                let shape =
                    if l.pool.is_some() { (l.patched.cols.size(), l.patched.rows.len()) } else { (0, 0) };
                [shape, shape]
            })),
            values: None,
        }
    }

    /// Values a workspace of `plan` holds once it has run on signals of
    /// `channels` (for memory estimates; `slots` counts an actual one).
    pub fn slots_for(plan: &Plan, channels: usize) -> usize {
        let norms: usize = plan
            .layers
            .iter()
            .filter(|l| l.pool.is_some())
            .map(|l| 4 * l.patched.cols.size() * l.patched.rows.len())
            .sum();
        let row = plan.input.rows.len() * plan.input.cols.size();
        let values = if spreads_values(plan, channels) { 2 * channels * row } else { 0 };
        let rows = (2 + 4 * T::POOL_ROWS) * plan.row_size;
        4 * tile_slots(plan)
            + plan.tile_size
            + 4 * plan.map_size
            + rows
            + T::POOL_ROWS * plan.scratch_size
            + norms
            + values
    }

    /// Values this workspace holds.
    pub fn slots(&self) -> usize {
        let vecs = self.tile_in.iter().chain(&self.tile_out).chain(&self.map_in).chain(&self.map_out);
        let vecs = vecs.chain(std::iter::once(&self.rows_shifted));
        let rows = self.gathered.iter().chain(&self.last).chain(&self.pooled);
        vecs.chain(rows).map(Vec::len).sum::<usize>()
            + self.scratch.len()
            + self.norms.slots()
            + self.values.as_ref().map_or(0, Spread::slots)
    }

    /// Spreads the `channels` of the input along rows too, if they fit.
    fn spread_values(&mut self, plan: &Plan, channels: usize) {
        let fits = spreads_values(plan, channels);
        let (width, rows) = (plan.input.cols.size(), plan.input.rows.len());
        if fits && self.values.as_ref().is_none_or(|v| v.count() != channels) {
            self.values = Some(Spread::new((0..channels).map(|_| (width, rows))));
        }
        if !fits {
            self.values = None;
        }
    }

    /// The RF (G) and NTK (H) maps of the plan's last layer, after `run`.
    pub fn output(&self, plan: &Plan) -> (&[T], &[T]) {
        let size = plan.layers.last().expect("a plan has layers").output.size();
        (&self.map_in[0][..size], &self.map_in[1][..size])
    }
}

/// Slots of a tile buffer: the largest tile and its halo rows.
fn tile_slots(plan: &Plan) -> usize {
    plan.tile_size + 2 * plan.tile_halo * plan.row_size
}

/// The two signals of a pair.
pub trait Sides<T> {
    /// Their channel-planar values.
    fn values(&self) -> (&[T], &[T]);
    /// Sees the row `rows = (y, y')` of Σ at layer `k`, before the ReLU step.
    fn observe(&mut self, k: usize, space: &Space, rows: (usize, usize), sigma: &[T]);
    /// Their norm maps at layer `k`.
    fn norms(&self, k: usize) -> [&[T]; 2];
    /// The inverses of their norm maps at layer `k` (`kappa::inverse_norm`).
    fn inverse_norms(&self, k: usize) -> [&[T]; 2];
    /// Keys that name each signal for as long as it is unchanged (so rows
    /// spread from it can be kept from one pair to the next), or `None`.
    fn keys(&self) -> [Option<u64>; 2];
}

/// Runs the recursion of `plan` (the NTK map too with `ntk`); `same` marks
/// a signal paired with itself, whose diagonal has `c = 1` exactly.
pub fn run<T: Real, S: Sides<T>>(plan: &Plan, sides: &mut S, same: bool, ntk: bool, ws: &mut Buffers<T>) {
    plan.isa.dispatch(Recursion { plan, sides, same, ntk, ws });
}

/// [`recursion`] as a [`Kernel`].
struct Recursion<'a, T, S> {
    plan: &'a Plan,
    sides: &'a mut S,
    same: bool,
    ntk: bool,
    ws: &'a mut Buffers<T>,
}

impl<T: Real, S: Sides<T>> Kernel for Recursion<'_, T, S> {
    type Output = ();

    #[inline(always)]
    fn run<const FMA: bool>(self) {
        recursion::<T, S, FMA>(self.plan, self.sides, self.same, self.ntk, self.ws);
    }
}

#[inline(always)]
fn recursion<T: Real, S: Sides<T>, const FMA: bool>(
    plan: &Plan,
    sides: &mut S,
    same: bool,
    ntk: bool,
    ws: &mut Buffers<T>,
) {
    let channels = sides.values().0.len() / plan.input.positions();
    ws.spread_values(plan, channels);
    let Buffers {
        tile_in,
        tile_out,
        rows_shifted,
        map_in,
        map_out,
        gathered,
        last,
        pooled,
        scratch,
        norms,
        values,
        ..
    } = ws;
    // Row `q` of a tile of rows `first..` and `width` starts at
    // `(plan.tile_halo + q − first) · width`.
    let lead = |width: usize| plan.tile_halo * width;
    norms.reset(sides.keys());
    if let Some(values) = values.as_mut() {
        values.reset(sides.keys());
    }
    for seg in &plan.segments {
        let final_layer = &plan.layers[seg.layers.end - 1];
        // An identity pooling leaves the rows as they are: the last layer
        // writes them straight into the output map, which needs no zeroing
        // (every row is written, halos too) and no sink.
        let direct = final_layer.pool.as_ref().is_some_and(|p| p.identity);
        if final_layer.pool.is_some() && !direct {
            map_out.iter_mut().for_each(|m| m[..final_layer.output.size()].fill(T::zero()));
        }
        for tile in &seg.tiles {
            // Row `q` of the map a layer reads starts at `(q − first) · width`.
            let mut first = 0;
            if seg.layers.start == 0 {
                let input = &plan.input;
                let width = input.cols.size();
                let positions = input.positions();
                let (a, b) = sides.values();
                for q in tile.input.clone() {
                    let rows = input.rows.pair_at(q).expect("rows have no halos");
                    let out = &mut tile_in[0][lead(width) + (q - tile.input.start) * width..][..width];
                    match values.as_mut() {
                        Some(values) => {
                            for c in 0..channels {
                                let maps =
                                    [&a[c * positions..][..positions], &b[c * positions..][..positions]];
                                values.prepare(c, &input.cols, maps, rows);
                            }
                            maps::spread_products::<T, FMA>(channels, |c| values.get(c, rows), out);
                        }
                        None => maps::inner_products::<T, FMA>(&input.cols, positions, (a, b), rows, out),
                    }
                }
                first = tile.input.start;
            }
            for (i, k) in seg.layers.clone().enumerate() {
                let layer = &plan.layers[k];
                let src_width =
                    if k == 0 { plan.input.cols.size() } else { plan.layers[k - 1].output.cols.size() };
                let width = layer.patched.cols.size();
                let rows = tile.patched[i].clone();
                let keep = k + 1 < seg.layers.end;
                let direct_rows = rows.start * width..rows.end * width;
                // Σ and Γ of the whole tile at once, where the patch step is a
                // shift along the rows of the tile buffer and along the
                // columns (whole tiles: no per-row loop set-up on short rows).
                let from_tile = i > 0 || k == 0;
                let src_rows = if i == 0 { &tile.input } else { &tile.patched[i - 1] };
                let shifted = layer.patch.rows_shift.filter(|_| {
                    from_tile
                        && rows.len() * width <= SHIFTED_TILE
                        && *src_rows == rows
                        && src_width == width
                        && (keep || direct)
                        && matches!(layer.patch.cols, ColOp::Shift { .. } | ColOp::Identity)
                });
                if let Some(shift) = shifted {
                    let n = rows.len() * width;
                    for m in 0..if ntk && k > 0 { 2 } else { 1 } {
                        let src = &mut tile_in[m];
                        // The halo rows: zero (rows of other tiles were there).
                        src[..lead(width)].fill(T::zero());
                        src[lead(width) + n..][..lead(width)].fill(T::zero());
                        let start = (plan.tile_halo as isize + shift.first) as usize * width;
                        maps::shift_rows(&shift, width, &src[start..], &mut rows_shifted[..n]);
                        let out = if keep {
                            &mut tile_out[m][lead(width)..][..n]
                        } else {
                            &mut map_out[m][direct_rows.clone()]
                        };
                        maps::apply_cols::<T, FMA>(&layer.patch.cols, &rows_shifted[..n], out, scratch);
                    }
                }
                let (src, src_lead) = if from_tile { (&*tile_in, lead(src_width)) } else { (&*map_in, 0) };
                let [out_g, out_h] = tile_out;
                for p in rows.clone() {
                    let (sigma, gamma) = if keep {
                        let at = lead(width) + (p - rows.start) * width
                            ..lead(width) + (p - rows.start + 1) * width;
                        (&mut out_g[at.clone()], &mut out_h[at])
                    } else if direct {
                        let at = p * width..(p + 1) * width;
                        let [g, h] = &mut *map_out;
                        (&mut g[at.clone()], &mut h[at])
                    } else {
                        let at = (p - rows.start) % T::POOL_ROWS * width..;
                        let [g, h] = &mut *last;
                        (&mut g[at.clone()][..width], &mut h[at][..width])
                    };
                    let terms = layer.patch.rows.row(p);
                    if shifted.is_none() {
                        let src = &src[0][src_lead..];
                        let g = maps::gather::<T, FMA>(terms, src, (first, src_width), &mut gathered[0]);
                        maps::apply_cols::<T, FMA>(&layer.patch.cols, g, sigma, scratch);
                    }
                    let pair = layer.patched.rows.pair_at(p).expect("rows have no halos");
                    sides.observe(k, &layer.patched, pair, sigma);
                    // Without pooling (the last layer of a norms plan) Σ is all.
                    let Some(pool) = &layer.pool else { continue };
                    let cols = &layer.patched.cols;
                    let (active, row_norms) = match cols.position_runs() {
                        // One run (e.g. the diagonal): the norm maps themselves.
                        [run] => {
                            let w = cols.len();
                            let [a, b] = sides.norms(k);
                            let [inv_a, inv_b] = sides.inverse_norms(k);
                            let at = (pair.0 * w + run.u, pair.1 * w + run.v);
                            let norms = RowNorms {
                                a: &a[at.0..][..run.len],
                                b: &b[at.1..][..run.len],
                                inv_a: &inv_a[at.0..][..run.len],
                                inv_b: &inv_b[at.1..][..run.len],
                            };
                            (cols.active(), norms)
                        }
                        _ => {
                            // Spread maps 2k (norms) and 2k + 1 (inverses), zero in
                            // halos: the step runs over whole SIMD vectors of
                            // slots, halos around the pairs included.
                            norms.prepare(2 * k, cols, sides.norms(k), pair);
                            norms.prepare(2 * k + 1, cols, sides.inverse_norms(k), pair);
                            let active = vector_span(cols.active(), cols.size());
                            let [a, b, inv_a, inv_b] = {
                                let ([a, b], [c, d]) = (norms.get(2 * k, pair), norms.get(2 * k + 1, pair));
                                [a, b, c, d].map(|v| &v[active.clone()])
                            };
                            (active, RowNorms { a, b, inv_a, inv_b })
                        }
                    };
                    let tangent = match (ntk, k) {
                        (false, _) => Tangent::Skip,
                        (true, 0) => Tangent::FromSigma(&mut *gamma),
                        (true, _) => {
                            if shifted.is_none() {
                                let src = &src[1][src_lead..];
                                let h =
                                    maps::gather::<T, FMA>(terms, src, (first, src_width), &mut gathered[1]);
                                maps::apply_cols::<T, FMA>(&layer.patch.cols, h, gamma, scratch);
                            }
                            Tangent::Gamma(&mut *gamma)
                        }
                    };
                    let diagonal = same && pair.0 == pair.1;
                    relu::<T, FMA>(cols, active, diagonal, &row_norms, sigma, tangent);
                    // The last layer's rows are pooled `T::POOL_ROWS` at a time.
                    let batch = (p - rows.start) % T::POOL_ROWS + 1;
                    if !keep && !direct && (batch == T::POOL_ROWS || p + 1 == rows.end) {
                        let first = p + 1 - batch;
                        let widths = (width, layer.output.cols.size());
                        for m in 0..if ntk { 2 } else { 1 } {
                            let rows = &last[m][..batch * width];
                            sink::<T, FMA>(
                                pool,
                                first,
                                widths,
                                rows,
                                [&mut pooled[m], scratch],
                                &mut map_out[m],
                            );
                        }
                    }
                }
                if keep {
                    std::mem::swap(tile_in, tile_out);
                    first = rows.start;
                }
            }
        }
        if final_layer.pool.is_some() {
            std::mem::swap(map_in, map_out);
        }
    }
}

/// `slots` widened to multiples of `ROW_ALIGN` within `0..size`: rows of a
/// few dozen slots spent a third of their ReLU step in the scalar tail of
/// its SIMD loop (digits, `f32`).
fn vector_span(slots: Range<usize>, size: usize) -> Range<usize> {
    slots.start / ROW_ALIGN * ROW_ALIGN..slots.end.next_multiple_of(ROW_ALIGN).min(size)
}

/// The ReLU step over the slots `active` of a row of `space` (the stored
/// pairs, or more slots around them whose norms are zero); `diagonal` marks
/// the row `(y, y)` of a signal with itself, whose column pairs `(x, x)`
/// have `c = 1`.
#[inline(always)]
fn relu<T: Real, const FMA: bool>(
    cols: &AxisPairs,
    active: Range<usize>,
    diagonal: bool,
    norms: &RowNorms<'_, T>,
    sigma: &mut [T],
    mut tangent: Tangent<'_, T>,
) {
    // Halos before and after the pairs: zero, as the ReLU step of their
    // zero norms would give.
    maps::zero_halo(&mut sigma[..active.start]);
    maps::zero_halo(&mut sigma[active.end..]);
    tangent.zero_outside(active.clone());
    let (sigma, mut tangent) = (&mut sigma[active.clone()], tangent.part(active.clone()));
    if !diagonal {
        return relu_row::<T, FMA>(norms, sigma, tangent);
    }
    let d = cols.diagonal();
    let (d0, d1) = (d.start - active.start, d.start + d.len - active.start);
    for (i, (lo, hi)) in [(0, d0), (d0, d1), (d1, norms.len())].into_iter().enumerate() {
        let part = tangent.part(lo..hi);
        if i == 1 {
            relu_self::<T, FMA>(&norms.part(lo..hi), &mut sigma[lo..hi], part);
        } else {
            relu_row::<T, FMA>(&norms.part(lo..hi), &mut sigma[lo..hi], part);
        }
    }
}

/// Pools the rows `first..` of a segment's last layer (`rows`, of
/// `width`) into its output map (rows of `out_width`).
#[inline(always)]
fn sink<T: Real, const FMA: bool>(
    pool: &PoolStep,
    first: usize,
    (width, out_width): (usize, usize),
    rows: &[T],
    [pooled, scratch]: [&mut [T]; 2],
    map: &mut [T],
) {
    let (rows, width) = if pool.cols == ColOp::Identity {
        (rows, width)
    } else {
        let pooled = &mut pooled[..rows.len() / width * out_width];
        maps::pool_cols::<T, FMA>(&pool.cols, (rows, width), (&mut *pooled, out_width), scratch);
        (&*pooled, out_width)
    };
    for (p, row) in (first..).zip(rows.chunks_exact(width)) {
        for &(o, w) in pool.rows.row(p) {
            maps::axpy::<T, FMA>(T::of(w), &row[..out_width], &mut map[o * out_width..(o + 1) * out_width]);
        }
    }
}
