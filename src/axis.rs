//! One spatial axis of a pair map: which position pairs `(u, u')` are
//! stored, and the patch and pooling steps (SPEC §3) as linear maps between
//! such sets, compiled once into strided runs.
//!
//! The patch step keeps the offset `δ = u' − u` of a pair and pooling
//! widens it by the filter's reach, so a map only needs the offsets that the
//! readout will eventually read: a band `|δ| ≤ Δ`. Pairs are grouped by
//! offset, each group a run of consecutive `u`, so the steps become a few
//! long strided loops.

use std::ops::Range;

use crate::net::{Padding, Pool};

/// The stored pairs of one axis: every offset `|δ| ≤ band` (or all of them),
/// grouped by offset. With `wrap` (circular padding) offsets are taken
/// modulo the length and every group holds all `len` positions. With a
/// `halo`, `halo` unused slots precede and follow every group (and pad the
/// slots to a multiple of 8): kept at zero, they stand for the zero padding
/// of a patch step reaching at most `halo` positions out (see
/// `ColOp::Shift`).
#[derive(Clone, Debug, PartialEq)]
pub struct AxisPairs {
    len: usize,
    wrap: bool,
    halo: usize,
    groups: Vec<Group>,
    /// Group of each offset: index `δ + len − 1` (linear) or `δ mod len`
    /// (wrap); `NONE` where the offset is not stored.
    slot: Vec<u32>,
    /// The stored pairs as runs contiguous in both positions.
    runs: Vec<PositionRun>,
    /// The pair in each slot, `(NONE, NONE)` in halos (`pair_at` is asked
    /// once per row: a search of the groups was 8% of small maps).
    pair_of: Vec<(u32, u32)>,
    /// Slots, halos included.
    size: usize,
}

#[derive(Clone, Copy, Debug, PartialEq)]
struct Group {
    /// Canonical offset: `u' = u + offset` (modulo `len` with wrap).
    offset: isize,
    /// Slot of the group's first pair.
    start: usize,
    /// First position `u` of the group; the group holds `count` of them.
    first: usize,
    count: usize,
}

/// Pairs in slots `start .. start + len` are `(u + k, v + k)`: contiguous on both sides.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PositionRun {
    pub start: usize,
    pub len: usize,
    pub u: usize,
    pub v: usize,
}

const NONE: u32 = u32::MAX;

/// Rows of maps are padded to multiples of this many slots (a SIMD vector
/// of `f32`), so that loops over a row can run over whole vectors.
pub const ROW_ALIGN: usize = 8;

impl AxisPairs {
    /// The pairs with `|δ| ≤ band` on an axis of `len ≥ 1` positions; a band
    /// at least the axis's reach stores every pair.
    pub fn new(len: usize, wrap: bool, band: usize, halo: usize) -> AxisPairs {
        assert!(len >= 1, "an axis has at least one position");
        let offsets: Vec<isize> = if wrap {
            if 2 * band + 1 >= len {
                (0..len as isize).collect()
            } else {
                let b = band as isize;
                (-b..=b).map(|d| d.rem_euclid(len as isize)).collect()
            }
        } else {
            let b = band.min(len - 1) as isize;
            (-b..=b).collect()
        };
        let mut slot = vec![NONE; if wrap { len } else { 2 * len - 1 }];
        let mut groups = Vec::with_capacity(offsets.len());
        let mut start = halo;
        for (g, &offset) in offsets.iter().enumerate() {
            let (first, count) =
                if wrap { (0, len) } else { ((-offset).max(0) as usize, len - offset.unsigned_abs()) };
            let key = if wrap { offset as usize } else { (offset + len as isize - 1) as usize };
            slot[key] = g as u32;
            groups.push(Group { offset, start, first, count });
            start += count + halo;
        }
        let runs: Vec<PositionRun> = groups.iter().flat_map(|g| group_runs(g, len, wrap)).collect();
        // With halos (a row of a map), whole SIMD vectors: no scalar tail
        // in the loops over a row (trailing slots are halos too).
        let size = if halo > 0 { start.next_multiple_of(ROW_ALIGN) } else { start };
        let mut pair_of = vec![(NONE, NONE); size];
        for r in &runs {
            for k in 0..r.len {
                pair_of[r.start + k] = ((r.u + k) as u32, (r.v + k) as u32);
            }
        }
        AxisPairs { len, wrap, halo, groups, slot, runs, pair_of, size }
    }

    /// The single pair `(0, 0)` of an axis the input does not have.
    pub fn trivial() -> AxisPairs {
        AxisPairs::new(1, false, 0, 0)
    }

    /// Positions along the axis (never zero: plans reject empty grids).
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Number of slots, halos included.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Number of stored pairs.
    pub fn count(&self) -> usize {
        self.groups.iter().map(|g| g.count).sum()
    }

    /// Slot of the pair `(u, v)` (both inside the axis), if stored.
    pub fn locate(&self, u: usize, v: usize) -> Option<usize> {
        let key = if self.wrap { (v + self.len - u) % self.len } else { v + self.len - 1 - u };
        let g = self.slot[key];
        (g != NONE).then(|| {
            let group = &self.groups[g as usize];
            group.start + u - group.first
        })
    }

    /// The pair `(u, v)` in `slot`, unless the slot is a halo.
    #[inline]
    pub fn pair_at(&self, slot: usize) -> Option<(usize, usize)> {
        let &(u, v) = self.pair_of.get(slot)?;
        (u != NONE).then_some((u as usize, v as usize))
    }

    /// Every stored pair `(slot, u, v)`, in slot order.
    pub fn pairs(&self) -> impl Iterator<Item = (usize, usize, usize)> + '_ {
        self.runs.iter().flat_map(|r| (0..r.len).map(move |k| (r.start + k, r.u + k, r.v + k)))
    }

    /// The stored pairs as runs contiguous in both positions, in slot order.
    pub fn position_runs(&self) -> &[PositionRun] {
        &self.runs
    }

    /// The slots from the first stored pair to the last.
    pub fn active(&self) -> Range<usize> {
        let (first, last) = (self.groups[0], self.groups[self.groups.len() - 1]);
        first.start..last.start + last.count
    }

    /// The slots of each offset group, in slot order.
    pub fn groups(&self) -> impl Iterator<Item = Range<usize>> + '_ {
        self.groups.iter().map(|g| g.start..g.start + g.count)
    }

    /// The pairs `(u, u)`: one run, as every set of pairs stores offset 0.
    pub fn diagonal(&self) -> PositionRun {
        let g = &self.groups[self.slot[if self.wrap { 0 } else { self.len - 1 }] as usize];
        PositionRun { start: g.start, len: g.count, u: 0, v: 0 }
    }

    /// Band of the input pairs a pooling step (filter of `h_len` taps,
    /// `stride`, wrapping iff `in_wrap`) needs so that its outputs with
    /// offsets `|δ| ≤ band_out` (modulo the length iff `out_wrap`) are exact.
    pub fn pooled_band(
        band_out: usize,
        out_wrap: bool,
        h_len: usize,
        stride: usize,
        len_in: usize,
        in_wrap: bool,
    ) -> usize {
        // Output pairs stored modulo the output length have actual offsets up
        // to len_out − 1; they scale to offsets modulo len_in only when the
        // stride divides it and the pooling wraps too.
        if band_out > 0 && out_wrap && !(in_wrap && len_in % stride == 0) {
            len_in
        } else {
            stride * band_out + h_len - 1
        }
    }
}

/// The pairs of one offset group as runs contiguous in both positions:
/// with wrap, `u' = u + δ` until it passes the end, then `u + δ − len`.
fn group_runs(g: &Group, len: usize, wrap: bool) -> impl Iterator<Item = PositionRun> {
    let (head, tail) = if wrap {
        let head = len - g.offset as usize;
        let tail = (g.offset > 0).then_some(PositionRun {
            start: g.start + head,
            len: g.offset as usize,
            u: head,
            v: 0,
        });
        (PositionRun { start: g.start, len: head, u: 0, v: g.offset as usize }, tail)
    } else {
        let v = (g.first as isize + g.offset) as usize;
        (PositionRun { start: g.start, len: g.count, u: g.first, v }, None)
    };
    std::iter::once(head).chain(tail)
}

/// `out[out + k·out_step] += weight · in[src + k·src_step]` for `k < len`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Run {
    pub out: usize,
    pub out_step: usize,
    pub src: usize,
    pub src_step: usize,
    pub len: usize,
    pub weight: f64,
}

/// A linear map from the pairs of one axis to the pairs of that axis after
/// a patch or pooling step.
#[derive(Clone, Debug, PartialEq)]
pub struct AxisOp {
    runs: Vec<Run>,
    identity: bool,
}

impl AxisOp {
    /// The map that leaves a trivial axis (one pair) as it is.
    pub fn identity() -> AxisOp {
        let run = Run { out: 0, out_step: 1, src: 0, src_step: 1, len: 1, weight: 1.0 };
        AxisOp { runs: vec![run], identity: true }
    }

    pub fn is_identity(&self) -> bool {
        self.identity
    }

    pub fn runs(&self) -> &[Run] {
        &self.runs
    }

    /// Patch step: `out(i, i') = (1/s) Σ_v in(i + v, i' + v)`.
    pub fn patch(input: &AxisPairs, output: &AxisPairs, size: usize, padding: Padding) -> AxisOp {
        let weight = 1.0 / size as f64;
        let wrap = padding == Padding::Circular;
        let mut runs = RunBuilder::default();
        for v in patch_taps(size, padding) {
            for (o, i, i2) in output.pairs() {
                let a = read(i as isize + v, input.len, wrap);
                let b = read(i2 as isize + v, input.len, wrap);
                if let (Some(a), Some(b)) = (a, b) {
                    runs.push(o, needed(input, a, b), weight);
                }
            }
        }
        runs.finish(input, output)
    }

    /// Pooling step with filter `h` and `stride` applied to both arguments:
    /// `out(i, i') = Σ_{j,j'} h[j] h[j'] in(t i + j − c, t i' + j' − c)`.
    pub fn pool(input: &AxisPairs, output: &AxisPairs, h: &[f64], stride: usize, wrap: bool) -> AxisOp {
        let c = ((h.len() - 1) / 2) as isize;
        let t = stride as isize;
        let mut runs = RunBuilder::default();
        for (j, &hj) in h.iter().enumerate() {
            for (j2, &hj2) in h.iter().enumerate() {
                let weight = hj * hj2;
                if weight == 0.0 {
                    continue;
                }
                for (o, i, i2) in output.pairs() {
                    let a = read(t * i as isize + j as isize - c, input.len, wrap);
                    let b = read(t * i2 as isize + j2 as isize - c, input.len, wrap);
                    if let (Some(a), Some(b)) = (a, b) {
                        runs.push(o, needed(input, a, b), weight);
                    }
                }
            }
        }
        runs.finish(input, output)
    }

    /// Global average pooling: the single output pair is the mean of all
    /// `len²` input pairs (the input must store every pair).
    pub fn global_average(input: &AxisPairs, output: &AxisPairs) -> AxisOp {
        assert_eq!(output.count(), 1, "global pooling has a single output pair");
        assert_eq!(input.count(), input.len * input.len, "global pooling reads every pair");
        let weight = 1.0 / (input.len * input.len) as f64;
        let mut runs = RunBuilder::default();
        let (out, ..) = output.pairs().next().expect("one output pair");
        for (src, ..) in input.pairs() {
            runs.push(out, src, weight);
        }
        runs.finish(input, output)
    }

    /// The terms grouped by output: `row(o)` lists `(source, weight)`.
    pub fn gather(&self, outputs: usize) -> Terms {
        Terms::group(outputs, self.terms())
    }

    /// The terms grouped by source: `row(s)` lists `(output, weight)`.
    pub fn scatter(&self, sources: usize) -> Terms {
        Terms::group(sources, self.terms().map(|(o, s, w)| (s, o, w)))
    }

    /// Every term `(out, src, weight)`, in the order the step pushed them.
    fn terms(&self) -> impl Iterator<Item = (usize, usize, f64)> + '_ {
        self.runs
            .iter()
            .flat_map(|r| (0..r.len).map(move |k| (r.out + k * r.out_step, r.src + k * r.src_step, r.weight)))
    }
}

/// Offsets `v` a patch of `size` reads (SPEC §3).
fn patch_taps(size: usize, padding: Padding) -> std::ops::Range<isize> {
    let first = match padding {
        Padding::Valid => 0,
        Padding::Same | Padding::Circular => -(((size - 1) / 2) as isize),
    };
    first..first + size as isize
}

/// The terms of a linear map between the rows of two maps, grouped by one
/// side (compressed sparse rows).
#[derive(Clone, Debug, PartialEq)]
pub struct Terms {
    offsets: Vec<usize>,
    terms: Vec<(usize, f64)>,
}

impl Terms {
    fn group(keys: usize, terms: impl Iterator<Item = (usize, usize, f64)>) -> Terms {
        let mut by_key: Vec<Vec<(usize, f64)>> = vec![Vec::new(); keys];
        for (key, other, w) in terms {
            by_key[key].push((other, w));
        }
        let mut offsets = Vec::with_capacity(keys + 1);
        offsets.push(0);
        for list in &by_key {
            offsets.push(offsets.last().expect("starts at 0") + list.len());
        }
        Terms { offsets, terms: by_key.concat() }
    }

    pub fn row(&self, key: usize) -> &[(usize, f64)] {
        &self.terms[self.offsets[key]..self.offsets[key + 1]]
    }
}

/// A step along the columns of a map, applied to one row at a time.
#[derive(Clone, Debug, PartialEq)]
pub enum ColOp {
    /// The row as it is.
    Identity,
    /// `out[o] = weight · Σ_{t < taps} in[o + first + t]` at every slot: a
    /// patch step with zero padding, where the zero halos of the (shared)
    /// layout supply the padding, so the whole row is one loop. Halo slots
    /// of the output receive sums of their neighbours; the ReLU step, which
    /// always follows, sets them back to zero.
    Shift { first: isize, taps: usize, weight: f64 },
    /// Any linear map, as strided runs over a zeroed output.
    Runs(Vec<Run>),
    /// `out[out] = weight · Σ in` (global average pooling), over whole rows
    /// whose halos hold zeros (pooling reads ReLU outputs).
    Total { out: usize, weight: f64 },
    /// Pooling through a dense matrix over positions (`DensePool`).
    Dense(Box<DensePool>),
    /// Pooling straight from the offset groups (`StridedPool`).
    Strided(Box<StridedPool>),
}

/// Pooling with stride `t` of a row whose halos are at least the filter's
/// reach: output group `δ` at positions `i, i + 1, …` is
/// `Σ_{j,j'} h[j] h[j'] in(t i + j − c, t i + t δ + j' − c)`, and each term
/// reads input group `t δ + j' − j` with stride `t` from one slot on; pairs
/// out of the grid fall on zero halo slots. A few short loops per output
/// group, with no copy of the row: filters of up to 3 taps (9 terms).
#[derive(Clone, Debug, PartialEq)]
pub struct StridedPool {
    pub stride: usize,
    pub groups: Vec<StridedGroup>,
}

/// The output slots `start .. start + len` of an offset group, and the
/// terms `(first slot read, weight)` summed into them.
#[derive(Clone, Debug, PartialEq)]
pub struct StridedGroup {
    pub start: usize,
    pub len: usize,
    pub terms: Vec<(usize, f64)>,
}

impl StridedPool {
    /// Largest filter it takes.
    const TAPS: usize = 3;

    /// The pooling, if the filter is small enough and `input`'s halos
    /// cover its reach (and no axis wraps).
    fn new(h: &[f64], stride: usize, input: &AxisPairs, output: &AxisPairs) -> Option<StridedPool> {
        let c = (h.len() - 1) / 2;
        let reach = c.max(h.len() - 1 - c);
        if input.wrap || output.wrap || h.len() > Self::TAPS || input.halo < reach {
            return None;
        }
        let (t, c) = (stride as isize, c as isize);
        let mut groups = Vec::with_capacity(output.groups.len());
        for g in &output.groups {
            let mut terms = Vec::new();
            for (j, &hj) in h.iter().enumerate() {
                for (j2, &hj2) in h.iter().enumerate() {
                    let offset = t * g.offset + j2 as isize - j as isize;
                    // Offsets beyond the grid have no pairs: all padding.
                    if hj * hj2 == 0.0 || offset.unsigned_abs() >= input.len {
                        continue;
                    }
                    let key = (offset + input.len as isize - 1) as usize;
                    let from = &input.groups[*input.slot.get(key).filter(|&&k| k != NONE)? as usize];
                    let first = t * g.first as isize + j as isize - c;
                    terms.push(((from.start as isize + first - from.first as isize) as usize, hj * hj2));
                }
            }
            groups.push(StridedGroup { start: g.start, len: g.count, terms });
        }
        Some(StridedPool { stride, groups })
    }
}

/// Pooling of a row whose band is wide: its pairs are gathered into a matrix
/// `M[x][x']` over positions, pooled along `x` (whole rows of `M`), then
/// along `x'` (within rows), and gathered back. The strided runs of the
/// general form cost ten times more there.
#[derive(Clone, Debug, PartialEq)]
pub struct DensePool {
    /// Grid lengths before and after pooling.
    pub len_in: usize,
    pub len_out: usize,
    /// The 1-D pooling: output position `i` is `Σ w · z[x]` over `taps[i]`.
    pub taps: Vec<Vec<(usize, f64)>>,
    /// The input pairs, read into the cells `u · len_in + v` of `M`, and
    /// the output pairs, read from the cells `u · len_out + v` of
    /// `A M Aᵀ`: runs, so that a run's cells are evenly spaced.
    pub input: Vec<PositionRun>,
    pub output: Vec<PositionRun>,
    /// The cells of `M` that hold no input pair (zero).
    pub blanks: Vec<u32>,
}

impl DensePool {
    fn new(taps: Vec<Vec<(usize, f64)>>, input: &AxisPairs, output: &AxisPairs) -> DensePool {
        let n = input.len;
        let mut filled = vec![false; n * n];
        for (_, u, v) in input.pairs() {
            filled[u * n + v] = true;
        }
        let blanks = (0..n * n).filter(|&c| !filled[c]).map(|c| c as u32).collect();
        DensePool {
            len_in: n,
            len_out: output.len,
            taps,
            input: input.runs.clone(),
            output: output.runs.clone(),
            blanks,
        }
    }

    /// Scratch slots `maps::pool_cols` needs per row it pools at once
    /// (`Real::POOL_ROWS`): `M` and the once-pooled matrix.
    pub fn scratch(&self) -> usize {
        self.len_in * self.len_in + self.len_out * self.len_in
    }
}

/// A patch step along the rows of a tile as one shifted sum over the tile:
/// row `p` of the output is `weight · Σ_{t < taps}` row `p + first + t` of
/// the input, rows beyond the tile's ends being zero (see `maps::shift_rows`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RowShift {
    pub first: isize,
    pub taps: usize,
    pub weight: f64,
}

impl RowShift {
    /// The patch step on the rows, when it is a shifted sum: "same" padding
    /// (the rows a patch reaches beyond a tile are out of the grid, i.e.
    /// zero), not circular, on unchanged pairs (so that a row's neighbours
    /// in its offset group are its neighbours in the tile).
    pub fn patch(input: &AxisPairs, output: &AxisPairs, size: usize, padding: Padding) -> Option<RowShift> {
        let taps = patch_taps(size, padding);
        (padding == Padding::Same && input == output && !input.wrap && (2..=5).contains(&size))
            .then(|| RowShift { first: taps.start, taps: size, weight: 1.0 / size as f64 })
    }

    /// Rows it reaches beyond the one it writes, on either side.
    pub fn reach(&self) -> usize {
        self.first.unsigned_abs().max((self.first + self.taps as isize - 1).unsigned_abs())
    }
}

impl ColOp {
    /// The patch step on the columns.
    pub fn patch(input: &AxisPairs, output: &AxisPairs, size: usize, padding: Padding) -> ColOp {
        let taps = patch_taps(size, padding);
        let reach = taps.start.unsigned_abs().max(taps.end.unsigned_abs() - 1);
        if padding == Padding::Same && input == output && input.halo >= reach && !input.wrap && size <= 5 {
            return if size == 1 {
                ColOp::Identity
            } else {
                ColOp::Shift { first: taps.start, taps: size, weight: 1.0 / size as f64 }
            };
        }
        ColOp::from(AxisOp::patch(input, output, size, padding))
    }

    /// The pooling step `op` (built by `AxisOp::pool` or
    /// `AxisOp::global_average` for `pool`) on the columns `input`.
    pub fn pool(op: AxisOp, pool: &Pool, input: &AxisPairs, output: &AxisPairs, wrap: bool) -> ColOp {
        let (h, stride) = match pool {
            _ if op.is_identity() => return ColOp::Identity,
            Pool::GlobalAverage => return ColOp::Total { out: op.runs[0].out, weight: op.runs[0].weight },
            Pool::Filter { h, stride } => (h, *stride),
        };
        if let Some(pool) = StridedPool::new(h, stride, input, output) {
            return ColOp::Strided(Box::new(pool));
        }
        // Dense pays off once most pairs are stored.
        if 2 * input.count() < input.len * input.len {
            return ColOp::Runs(op.runs);
        }
        let c = ((h.len() - 1) / 2) as isize;
        let taps = (0..output.len)
            .map(|i| {
                let reads = h.iter().enumerate().filter(|&(_, &w)| w != 0.0);
                reads
                    .filter_map(|(j, &w)| {
                        read((stride * i) as isize + j as isize - c, input.len, wrap).map(|x| (x, w))
                    })
                    .collect()
            })
            .collect();
        ColOp::Dense(Box::new(DensePool::new(taps, input, output)))
    }

    /// Scratch slots `maps::apply_cols` needs for this step, per row pooled
    /// at once (`Real::POOL_ROWS`).
    pub fn scratch(&self) -> usize {
        match self {
            ColOp::Dense(pool) => pool.scratch(),
            _ => 0,
        }
    }
}

impl From<AxisOp> for ColOp {
    fn from(op: AxisOp) -> ColOp {
        if op.is_identity() { ColOp::Identity } else { ColOp::Runs(op.runs) }
    }
}

/// Position `p` of an axis of `len`, wrapped, or `None` if it reads padding.
fn read(p: isize, len: usize, wrap: bool) -> Option<usize> {
    if wrap {
        Some(p.rem_euclid(len as isize) as usize)
    } else {
        (0..len as isize).contains(&p).then_some(p as usize)
    }
}

fn needed(input: &AxisPairs, a: usize, b: usize) -> usize {
    input.locate(a, b).expect("the band analysis keeps every pair a step reads")
}

/// Collects the terms `out[o] += w · in[i]` of a step, in the order they are
/// pushed, into as few strided runs as possible.
#[derive(Default)]
struct RunBuilder {
    runs: Vec<Run>,
    terms: usize,
    /// Every term so far reads its own slot with weight 1.
    diagonal: bool,
}

impl RunBuilder {
    fn push(&mut self, out: usize, src: usize, weight: f64) {
        self.diagonal = (self.terms == 0 || self.diagonal) && out == src && weight == 1.0;
        self.terms += 1;
        if let Some(r) = self.runs.last_mut()
            && r.weight == weight
        {
            if r.len == 1 && out >= r.out && src >= r.src && (out, src) != (r.out, r.src) {
                r.out_step = out - r.out;
                r.src_step = src - r.src;
                r.len = 2;
                return;
            }
            if r.len >= 2 && out == r.out + r.len * r.out_step && src == r.src + r.len * r.src_step {
                r.len += 1;
                return;
            }
        }
        self.runs.push(Run { out, out_step: 1, src, src_step: 1, len: 1, weight });
    }

    fn finish(self, input: &AxisPairs, output: &AxisPairs) -> AxisOp {
        let identity = input == output && self.diagonal && self.terms == output.count();
        AxisOp { runs: self.runs, identity }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Dense matrix of an op, for checking it entry by entry.
    fn dense(op: &AxisOp, n_out: usize, n_in: usize) -> Vec<Vec<f64>> {
        let mut m = vec![vec![0.0; n_in]; n_out];
        for (o, s, w) in op.terms() {
            m[o][s] += w;
        }
        m
    }

    #[test]
    fn linear_pairs_are_grouped_by_offset() {
        let p = AxisPairs::new(4, false, 1, 0);
        assert_eq!(p.size(), 4 + 3 + 3);
        let pairs: Vec<_> = p.pairs().map(|(_, u, v)| (u, v)).collect();
        assert_eq!(
            pairs,
            vec![(1, 0), (2, 1), (3, 2), (0, 0), (1, 1), (2, 2), (3, 3), (0, 1), (1, 2), (2, 3)]
        );
        for (idx, u, v) in p.pairs() {
            assert_eq!(p.locate(u, v), Some(idx));
        }
        assert_eq!(p.locate(0, 2), None);
        assert_eq!(AxisPairs::new(4, false, 9, 0).size(), 16);
        assert_eq!(p.diagonal(), PositionRun { start: 3, len: 4, u: 0, v: 0 });
    }

    #[test]
    fn halos_surround_every_group() {
        let p = AxisPairs::new(4, false, 1, 2);
        assert_eq!(p.count(), 10);
        assert_eq!(p.size(), (10 + 4 * 2usize).next_multiple_of(8));
        assert_eq!(p.groups().collect::<Vec<_>>(), vec![2..5, 7..11, 13..16]);
        assert_eq!(p.locate(0, 0), Some(7));
        assert_eq!(p.diagonal().start, 7);
        for (idx, u, v) in p.pairs() {
            assert_eq!(p.locate(u, v), Some(idx));
            assert_eq!(p.pair_at(idx), Some((u, v)));
        }
        assert_eq!(p.pair_at(0), None);
        assert_eq!(p.pair_at(5), None);
    }

    #[test]
    fn wrapped_pairs_cover_each_offset_once() {
        let full = AxisPairs::new(5, true, 2, 0);
        assert_eq!(full.size(), 25);
        let band = AxisPairs::new(7, true, 1, 0);
        assert_eq!(band.size(), 21);
        assert_eq!(band.locate(6, 0), band.locate(0, 1).map(|i| i + 6));
        for (idx, u, v) in band.pairs() {
            assert_eq!(band.locate(u, v), Some(idx));
            assert_eq!(band.pair_at(idx), Some((u, v)));
            let d = (v + 7 - u) % 7;
            assert!(d <= 1 || d == 6);
        }
    }

    #[test]
    fn same_patch_matches_its_definition() {
        let input = AxisPairs::new(5, false, 4, 1);
        let output = AxisPairs::new(5, false, 4, 1);
        let op = AxisOp::patch(&input, &output, 3, Padding::Same);
        let m = dense(&op, output.size(), input.size());
        for (o, i, i2) in output.pairs() {
            for (s, a, b) in input.pairs() {
                let shifted = a as isize - i as isize;
                let expected = if (-1..=1).contains(&shifted) && b as isize - i2 as isize == shifted {
                    1.0 / 3.0
                } else {
                    0.0
                };
                assert_eq!(m[o][s], expected, "out {:?} in {:?}", (i, i2), (a, b));
            }
        }
    }

    #[test]
    fn circular_patch_wraps() {
        let p = AxisPairs::new(4, true, 9, 0);
        let op = AxisOp::patch(&p, &p, 2, Padding::Circular);
        let m = dense(&op, 16, 16);
        // out (3, 0) reads (3, 0) and (0, 1).
        let o = p.locate(3, 0).unwrap();
        assert_eq!(m[o][p.locate(3, 0).unwrap()], 0.5);
        assert_eq!(m[o][p.locate(0, 1).unwrap()], 0.5);
        assert_eq!(m[o].iter().sum::<f64>(), 1.0);
    }

    #[test]
    fn strided_pool_matches_its_definition() {
        let h = [0.25, 0.5, 0.25];
        let input = AxisPairs::new(5, false, 4, 0);
        let output = AxisPairs::new(3, false, 2, 1);
        let op = AxisOp::pool(&input, &output, &h, 2, false);
        let m = dense(&op, output.size(), input.size());
        for (o, i, i2) in output.pairs() {
            for (s, a, b) in input.pairs() {
                let j = a as isize - 2 * i as isize + 1;
                let j2 = b as isize - 2 * i2 as isize + 1;
                let expected = if (0..3).contains(&j) && (0..3).contains(&j2) {
                    h[j as usize] * h[j2 as usize]
                } else {
                    0.0
                };
                assert_eq!(m[o][s], expected);
            }
        }
    }

    #[test]
    fn identity_steps_are_recognised() {
        let p = AxisPairs::new(6, false, 2, 1);
        assert!(AxisOp::patch(&p, &p, 1, Padding::Same).is_identity());
        assert!(AxisOp::pool(&p, &p, &[1.0], 1, false).is_identity());
        assert!(!AxisOp::pool(&p, &p, &[2.0], 1, false).is_identity());
        // Same pairs stored in another order is a re-indexing, not the identity.
        let (linear, wrapped) = (AxisPairs::new(6, false, 5, 0), AxisPairs::new(6, true, 5, 0));
        assert!(!AxisOp::patch(&linear, &wrapped, 1, Padding::Circular).is_identity());
    }

    #[test]
    fn global_average_is_the_mean() {
        let input = AxisPairs::new(3, false, 2, 0);
        let op = AxisOp::global_average(&input, &AxisPairs::trivial());
        let m = dense(&op, 1, 9);
        assert!(m[0].iter().all(|&w| w == 1.0 / 9.0));
    }

    #[test]
    fn gather_and_scatter_list_the_same_terms() {
        let input = AxisPairs::new(7, false, 6, 0);
        let output = AxisPairs::new(4, false, 3, 0);
        let op = AxisOp::pool(&input, &output, &[0.25, 0.5, 0.25], 2, false);
        let m = dense(&op, output.size(), input.size());
        let (gather, scatter) = (op.gather(output.size()), op.scatter(input.size()));
        let mut from_gather = vec![vec![0.0; input.size()]; output.size()];
        let mut from_scatter = from_gather.clone();
        for (o, row) in from_gather.iter_mut().enumerate() {
            for &(s, w) in gather.row(o) {
                row[s] += w;
            }
        }
        for (s, (o, w)) in (0..input.size()).flat_map(|s| scatter.row(s).iter().map(move |&t| (s, t))) {
            from_scatter[o][s] += w;
        }
        assert_eq!(from_gather, m);
        assert_eq!(from_scatter, m);
    }

    #[test]
    fn same_padded_patches_shift_when_halos_allow() {
        let p = AxisPairs::new(8, false, 7, 1);
        assert_eq!(
            ColOp::patch(&p, &p, 3, Padding::Same),
            ColOp::Shift { first: -1, taps: 3, weight: 1.0 / 3.0 }
        );
        assert_eq!(ColOp::patch(&p, &p, 1, Padding::Same), ColOp::Identity);
        assert!(matches!(ColOp::patch(&p, &p, 5, Padding::Same), ColOp::Runs(_)));
        let w = AxisPairs::new(8, true, 7, 1);
        assert!(matches!(ColOp::patch(&w, &w, 3, Padding::Circular), ColOp::Runs(_)));
    }
}
