//! The patch and pooling steps of spec §3 along one axis, as linear maps
//! between the stored pairs of two maps ([`AxisPairs`]), compiled once into
//! strided runs; and their forms along the columns of a map ([`ColOp`]) and
//! the rows of a row group ([`RowShift`]).

use super::axis::{AxisPairs, NONE, PositionRun};
use super::{Padding, Pool};

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
        for v in patch_taps(size, padding, input.len) {
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

/// Offsets `v` a patch of `size` reads (spec §3).
pub fn patch_offsets(size: usize, padding: Padding) -> std::ops::Range<isize> {
    let first = match padding {
        Padding::Valid => 0,
        Padding::Same | Padding::Circular => -(((size - 1) / 2) as isize),
    };
    first..first + size as isize
}

/// [`patch_offsets`] on an axis of `len` positions, without those that read
/// only padding zeros (`|v| ≥ len`: "same" patches larger than the grid,
/// spec §5).
pub fn patch_taps(size: usize, padding: Padding, len: usize) -> std::ops::Range<isize> {
    let (offsets, reach) = (patch_offsets(size, padding), len as isize - 1);
    offsets.start.max(-reach)..offsets.end.min(reach + 1)
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
    /// Pooling through a dense matrix over positions ([`DensePool`]).
    Dense(Box<DensePool>),
    /// Pooling straight from the offset groups ([`StridedPool`]).
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

    /// Scratch slots [`crate::maps::pool_cols`] needs per row it pools at
    /// once ([`Real::POOL_ROWS`](crate::simd::Real::POOL_ROWS)): `M` and the
    /// once-pooled matrix.
    pub fn scratch(&self) -> usize {
        self.len_in * self.len_in + self.len_out * self.len_in
    }
}

/// A patch step along the rows of a row group as one shifted sum over the group:
/// row `p` of the output is `weight · Σ_{t < taps}` row `p + first + t` of
/// the input, rows beyond the group's ends being zero (see [`crate::maps::shift_rows`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RowShift {
    pub first: isize,
    pub taps: usize,
    pub weight: f64,
}

impl RowShift {
    /// The patch step on the rows, when it is a shifted sum: "same" padding
    /// (the rows a patch reaches beyond a group are out of the grid, i.e.
    /// zero), not circular, on unchanged pairs (so that a row's neighbours
    /// in its offset group are its neighbours in the group).
    pub fn patch(input: &AxisPairs, output: &AxisPairs, size: usize, padding: Padding) -> Option<RowShift> {
        let taps = patch_offsets(size, padding);
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
        // Zero halos supply the padding, however far the taps reach.
        let taps = patch_offsets(size, padding);
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

    /// The pooling step `op` (built by [`AxisOp::pool`] or
    /// [`AxisOp::global_average`] for `pool`) on the columns `input`.
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

    /// Scratch slots [`crate::maps::apply_cols`] needs for this step, per row
    /// pooled at once ([`Real::POOL_ROWS`](crate::simd::Real::POOL_ROWS)).
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
