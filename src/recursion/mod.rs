//! The recursion of spec §2 for two signals, segment by segment and row
//! group by row group (see [`crate::network::plan`]), one row at a time: a
//! row of Σ is combined from a few rows of the previous map and patched
//! along its columns ([`patch_row`]), put through the ReLU step with the
//! norms along it ([`row_norms`], [`relu`]), then kept in the group for the
//! next layer or pooled into the segment's output map ([`pool_into_map`]).
//! Every row stays in cache and no map of a segment is stored whole. The
//! same code gives a signal's norm maps ([`Sides`]).

mod buffers;
mod spread;

use std::ops::Range;

pub use buffers::Buffers;
use spread::Spread;

use crate::kappa::relu::{RowNorms, Tangent, relu_row, relu_self};
use crate::maps;
use crate::network::axis::{AxisPairs, ROW_ALIGN};
use crate::network::plan::{LayerPlan, Plan, PoolStep, RowGroup, Space};
use crate::network::steps::{ColOp, RowShift};
use crate::simd::{Kernel, Real};

/// The two signals of a pair.
pub trait Sides<T> {
    /// Their channel-planar values.
    fn values(&self) -> (&[T], &[T]);
    /// Sees the row `rows = (y, y')` of Σ at layer `k`, before the ReLU step.
    fn observe(&mut self, k: usize, space: &Space, rows: (usize, usize), sigma: &[T]);
    /// Their norm maps at layer `k`.
    fn norms(&self, k: usize) -> [&[T]; 2];
    /// The inverses of their norm maps at layer `k`
    /// ([`crate::kappa::relu::inverse_norm`]).
    fn inverse_norms(&self, k: usize) -> [&[T]; 2];
    /// Keys that name each signal for as long as it is unchanged (so rows
    /// spread from it can be kept from one pair to the next), or `None`.
    fn keys(&self) -> [Option<u64>; 2];
}

/// Runs the recursion of `plan` (the NTK map too with `ntk`); `self_pair`
/// marks a signal paired with itself, whose diagonal has `c = 1` exactly.
pub fn run<T: Real, S: Sides<T>>(
    plan: &Plan,
    sides: &mut S,
    self_pair: bool,
    ntk: bool,
    ws: &mut Buffers<T>,
) {
    plan.isa.dispatch(Recursion { plan, sides, self_pair, ntk, ws });
}

/// [`recursion`] as a [`Kernel`].
struct Recursion<'a, T, S> {
    plan: &'a Plan,
    sides: &'a mut S,
    self_pair: bool,
    ntk: bool,
    ws: &'a mut Buffers<T>,
}

impl<T: Real, S: Sides<T>> Kernel for Recursion<'_, T, S> {
    type Output = ();

    #[inline(always)]
    fn run<const FMA: bool>(self) {
        recursion::<T, S, FMA>(self.plan, self.sides, self.self_pair, self.ntk, self.ws);
    }
}

/// Largest row group patched by whole-group shifts (slots): larger ones go
/// row by row, each row patched, put through the ReLU step and kept while
/// in L1 (two passes over a 280 KB group made cifar-gap 4% slower in `f32`).
const SHIFTED_GROUP: usize = 1 << 13;

/// Where a layer's rows of Σ and Γ go.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Dest {
    /// Kept in the group buffer, for the segment's next layer.
    Group,
    /// Straight into the segment's output map (an identity pooling).
    Map,
    /// Pooled into the output map, `T::POOL_ROWS` rows at a time.
    Pooled,
}

/// The rows of one layer of a row group: where they come from and go.
struct LayerRows<'a> {
    layer: &'a LayerPlan,
    /// The rows of `layer.patched` computed.
    rows: Range<usize>,
    /// Slots of a row of the map read and of the map written.
    src_width: usize,
    width: usize,
    /// The map read is the group buffer (else the segment's input map).
    from_group: bool,
    dest: Dest,
}

/// The recursion: per segment, per row group, the layer-1 inner products
/// `G₀ = H₀ = ⟨x[u], x'[u']⟩` (first segment), then for every layer and row
/// Σ = patch(G), the norms `N N'`, Γ = patch(H), the ReLU step
/// `G ← B1`, `H ← B0 ⊙ Γ + B1`, and pooling.
#[inline(always)]
fn recursion<T: Real, S: Sides<T>, const FMA: bool>(
    plan: &Plan,
    sides: &mut S,
    self_pair: bool,
    ntk: bool,
    ws: &mut Buffers<T>,
) {
    let channels = sides.values().0.len() / plan.input.positions();
    ws.prepare(plan, channels, sides.keys());
    let Buffers {
        group_in,
        group_out,
        rows_shifted,
        map_in,
        map_out,
        gathered,
        last,
        pooled,
        scratch,
        norms,
        values,
    } = ws;
    // Row `q` of a group buffer of rows `first..` and `width` starts at
    // `(plan.group_halo + q − first) · width`.
    let lead = |width: usize| plan.group_halo * width;
    for seg in &plan.segments {
        let final_layer = &plan.layers[seg.layers.end - 1];
        // An identity pooling leaves the rows as they are: the last layer
        // writes them straight into the output map, which needs no zeroing
        // (every row is written, halos too) and no pooling.
        let direct = final_layer.pool.as_ref().is_some_and(|p| p.identity);
        if final_layer.pool.is_some() && !direct {
            map_out.iter_mut().for_each(|m| m[..final_layer.output.size()].fill(T::zero()));
        }
        for group in &seg.groups {
            // Row `q` of the map a layer reads starts at `(q − first) · width`.
            let mut first = 0;
            if seg.layers.start == 0 {
                input_products::<T, S, FMA>(plan, group, sides, channels, values.as_mut(), &mut group_in[0]);
                first = group.input.start;
            }
            for (i, k) in seg.layers.clone().enumerate() {
                let layer = &plan.layers[k];
                let at = LayerRows {
                    layer,
                    rows: group.patched[i].clone(),
                    src_width: if k == 0 {
                        plan.input.cols.size()
                    } else {
                        plan.layers[k - 1].output.cols.size()
                    },
                    width: layer.patched.cols.size(),
                    from_group: i > 0 || k == 0,
                    dest: if k + 1 < seg.layers.end {
                        Dest::Group
                    } else if direct {
                        Dest::Map
                    } else {
                        Dest::Pooled
                    },
                };
                let src_rows = if i == 0 { &group.input } else { &group.patched[i - 1] };
                let maps = if ntk && k > 0 { 2 } else { 1 };
                let shifted = layer.patch.rows_shift.filter(|_| shifts(&at, src_rows));
                if let Some(shift) = shifted {
                    patch_by_shifts::<T, FMA>(
                        plan,
                        &at,
                        shift,
                        maps,
                        group_in,
                        rows_shifted,
                        group_out,
                        map_out,
                        scratch,
                    );
                }
                let (src, src_lead) =
                    if at.from_group { (&*group_in, lead(at.src_width)) } else { (&*map_in, 0) };
                let width = at.width;
                for p in at.rows.clone() {
                    let (sigma, gamma) = match at.dest {
                        Dest::Group => {
                            let row = lead(width) + (p - at.rows.start) * width;
                            let [g, h] = &mut *group_out;
                            (&mut g[row..][..width], &mut h[row..][..width])
                        }
                        Dest::Map => {
                            let [g, h] = &mut *map_out;
                            (&mut g[p * width..][..width], &mut h[p * width..][..width])
                        }
                        Dest::Pooled => {
                            let row = (p - at.rows.start) % T::POOL_ROWS * width;
                            let [g, h] = &mut *last;
                            (&mut g[row..][..width], &mut h[row..][..width])
                        }
                    };
                    let source = (first, at.src_width);
                    if shifted.is_none() {
                        patch_row::<T, FMA>(
                            layer,
                            p,
                            (&src[0][src_lead..], source),
                            &mut gathered[0],
                            sigma,
                            scratch,
                        );
                    }
                    let pair = layer.patched.rows.pair_at(p).expect("rows have no halos");
                    sides.observe(k, &layer.patched, pair, sigma);
                    // Without pooling (the last layer of a norms plan) Σ is all.
                    let Some(pool) = &layer.pool else { continue };
                    let (active, row_norms) = row_norms(k, &layer.patched.cols, pair, &*sides, norms);
                    let tangent = match (ntk, k) {
                        (false, _) => Tangent::Skip,
                        (true, 0) => Tangent::FromSigma(&mut *gamma),
                        (true, _) => {
                            if shifted.is_none() {
                                let src = (&src[1][src_lead..], source);
                                patch_row::<T, FMA>(layer, p, src, &mut gathered[1], gamma, scratch);
                            }
                            Tangent::Gamma(&mut *gamma)
                        }
                    };
                    let self_row = self_pair && pair.0 == pair.1;
                    relu::<T, FMA>(&layer.patched.cols, active, self_row, &row_norms, sigma, tangent);
                    // The last layer's rows are pooled `T::POOL_ROWS` at a time.
                    let batch = (p - at.rows.start) % T::POOL_ROWS + 1;
                    if at.dest == Dest::Pooled && (batch == T::POOL_ROWS || p + 1 == at.rows.end) {
                        let widths = (width, layer.output.cols.size());
                        for m in 0..if ntk { 2 } else { 1 } {
                            let rows = &last[m][..batch * width];
                            let buffers = [&mut pooled[m][..], &mut scratch[..]];
                            pool_into_map::<T, FMA>(
                                pool,
                                p + 1 - batch,
                                widths,
                                rows,
                                buffers,
                                &mut map_out[m],
                            );
                        }
                    }
                }
                if at.dest == Dest::Group {
                    std::mem::swap(group_in, group_out);
                    first = at.rows.start;
                }
            }
        }
        if final_layer.pool.is_some() {
            std::mem::swap(map_in, map_out);
        }
    }
}

/// The layer-1 maps `G₀[u, u'] = ⟨x[u], x'[u']⟩` of the input rows of
/// `group`, into the group buffer `out` (from the input channels spread
/// along rows, where `values` has room for them).
#[inline(always)]
fn input_products<T: Real, S: Sides<T>, const FMA: bool>(
    plan: &Plan,
    group: &RowGroup,
    sides: &S,
    channels: usize,
    mut values: Option<&mut Spread<T>>,
    out: &mut [T],
) {
    let input = &plan.input;
    let width = input.cols.size();
    let positions = input.positions();
    let (a, b) = sides.values();
    for q in group.input.clone() {
        let rows = input.rows.pair_at(q).expect("rows have no halos");
        let out = &mut out[(plan.group_halo + q - group.input.start) * width..][..width];
        match values.as_deref_mut() {
            Some(values) => {
                for c in 0..channels {
                    let maps = [&a[c * positions..][..positions], &b[c * positions..][..positions]];
                    values.prepare(c, &input.cols, maps, rows);
                }
                maps::spread_products::<T, FMA>(channels, |c| values.get(c, rows), out);
            }
            None => maps::inner_products::<T, FMA>(&input.cols, positions, (a, b), rows, out),
        }
    }
}

/// Whether the patch step of `at` is a shift over the whole row group:
/// along the rows of the group buffer (which holds the group's rows, of the
/// same width) and along the columns, for groups small enough (whole
/// groups: no per-row loop set-up on short rows, see [`SHIFTED_GROUP`]).
#[inline(always)]
fn shifts(at: &LayerRows<'_>, src_rows: &Range<usize>) -> bool {
    at.from_group
        && at.rows.len() * at.width <= SHIFTED_GROUP
        && *src_rows == at.rows
        && at.src_width == at.width
        && at.dest != Dest::Pooled
        && matches!(at.layer.patch.cols, ColOp::Shift { .. } | ColOp::Identity)
}

/// Σ (and with `maps = 2`, Γ) of the whole row group at once: the patch
/// step as a shift along the rows of the group buffer, then along the
/// columns, into the group or straight into the output map.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn patch_by_shifts<T: Real, const FMA: bool>(
    plan: &Plan,
    at: &LayerRows<'_>,
    shift: RowShift,
    maps: usize,
    group_in: &mut [Vec<T>; 2],
    rows_shifted: &mut [T],
    group_out: &mut [Vec<T>; 2],
    map_out: &mut [Vec<T>; 2],
    scratch: &mut [T],
) {
    let width = at.width;
    let lead = plan.group_halo * width;
    let n = at.rows.len() * width;
    for m in 0..maps {
        let src = &mut group_in[m];
        // The halo rows: zero (rows of other groups were there).
        src[..lead].fill(T::zero());
        src[lead + n..][..lead].fill(T::zero());
        let start = (plan.group_halo as isize + shift.first) as usize * width;
        maps::shift_rows(&shift, width, &src[start..], &mut rows_shifted[..n]);
        let out = match at.dest {
            Dest::Group => &mut group_out[m][lead..][..n],
            _ => &mut map_out[m][at.rows.start * width..at.rows.end * width],
        };
        maps::apply_cols::<T, FMA>(&at.layer.patch.cols, &rows_shifted[..n], out, scratch);
    }
}

/// Row `p` of `layer`'s patched map (Σ from G, or Γ from H): its source
/// rows combined (`src`: the map read, whose row `q` starts at `(q −
/// first) · width`), then patched along the columns.
#[inline(always)]
fn patch_row<T: Real, const FMA: bool>(
    layer: &LayerPlan,
    p: usize,
    (src, (first, width)): (&[T], (usize, usize)),
    gathered: &mut [T],
    out: &mut [T],
    scratch: &mut [T],
) {
    let combined = maps::gather::<T, FMA>(layer.patch.rows.row(p), src, (first, width), gathered);
    maps::apply_cols::<T, FMA>(&layer.patch.cols, combined, out, scratch);
}

/// The norms `N`, `N'` and their inverses along the row `pair = (y, y')`
/// of layer `k`'s patched map, and the slots the ReLU step covers.
#[inline(always)]
fn row_norms<'a, T: Real, S: Sides<T>>(
    k: usize,
    cols: &AxisPairs,
    pair: (usize, usize),
    sides: &'a S,
    norms: &'a mut Spread<T>,
) -> (Range<usize>, RowNorms<'a, T>) {
    match cols.position_runs() {
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
            // Spread maps 2k (norms) and 2k + 1 (inverses), zero in halos:
            // the step runs over whole SIMD vectors of slots, halos around
            // the pairs included.
            norms.prepare(2 * k, cols, sides.norms(k), pair);
            norms.prepare(2 * k + 1, cols, sides.inverse_norms(k), pair);
            let active = vector_span(cols.active(), cols.size());
            let norms: &'a Spread<T> = norms;
            let [a, b, inv_a, inv_b] = {
                let ([a, b], [c, d]) = (norms.get(2 * k, pair), norms.get(2 * k + 1, pair));
                [a, b, c, d].map(|v| &v[active.clone()])
            };
            (active, RowNorms { a, b, inv_a, inv_b })
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
/// pairs, or more slots around them whose norms are zero): `B1` into
/// `sigma`, the tangent map as `tangent` says. `self_row` marks the row
/// `(y, y)` of a signal with itself, whose column pairs `(x, x)` have
/// `c = 1` exactly.
#[inline(always)]
fn relu<T: Real, const FMA: bool>(
    cols: &AxisPairs,
    active: Range<usize>,
    self_row: bool,
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
    if !self_row {
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

/// `G ← (A ⊗ A) B1` (or `H`): pools the rows `first..` of a segment's last
/// layer (`rows`, of `width`) along the columns, then adds each into the
/// output rows it pools into (rows of `out_width`).
#[inline(always)]
fn pool_into_map<T: Real, const FMA: bool>(
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
