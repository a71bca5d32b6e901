//! One spatial axis of a pair map: which position pairs `(u, u')` are
//! stored, and the patch and pooling steps (SPEC §3) as linear maps between
//! such sets, compiled once into strided runs.
//!
//! The patch step keeps the offset `δ = u' − u` of a pair and pooling
//! widens it by the filter's reach, so a map only needs the offsets that the
//! readout will eventually read: a band `|δ| ≤ Δ`. Pairs are grouped by
//! offset, each group a run of consecutive `u`, so the steps become a few
//! long strided loops.

use crate::net::Padding;

/// The stored pairs of one axis: every offset `|δ| ≤ band` (or all of them),
/// grouped by offset. With `wrap` (circular padding) offsets are taken
/// modulo the length and every group holds all `len` positions.
#[derive(Clone, Debug, PartialEq)]
pub struct AxisPairs {
    len: usize,
    wrap: bool,
    groups: Vec<Group>,
    /// Group of each offset: index `δ + len − 1` (linear) or `δ mod len`
    /// (wrap); `NONE` where the offset is not stored.
    slot: Vec<u32>,
    /// The stored pairs as runs contiguous in both positions.
    runs: Vec<PositionRun>,
    /// Every stored pair, in storage order.
    pairs: Vec<(usize, usize)>,
    size: usize,
}

#[derive(Clone, Copy, Debug, PartialEq)]
struct Group {
    /// Canonical offset: `u' = u + offset` (modulo `len` with wrap).
    offset: isize,
    /// Index of the group's first pair.
    start: usize,
    /// First position `u` of the group; the group holds `count` of them.
    first: usize,
    count: usize,
}

/// Pairs `start .. start + len` are `(u + k, v + k)`: contiguous on both sides.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PositionRun {
    pub start: usize,
    pub len: usize,
    pub u: usize,
    pub v: usize,
}

const NONE: u32 = u32::MAX;

impl AxisPairs {
    /// The pairs with `|δ| ≤ band` on an axis of `len ≥ 1` positions; a band
    /// at least the axis's reach stores every pair.
    pub fn new(len: usize, wrap: bool, band: usize) -> AxisPairs {
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
        let mut start = 0;
        for (g, &offset) in offsets.iter().enumerate() {
            let (first, count) =
                if wrap { (0, len) } else { ((-offset).max(0) as usize, len - offset.unsigned_abs()) };
            let key = if wrap { offset as usize } else { (offset + len as isize - 1) as usize };
            slot[key] = g as u32;
            groups.push(Group { offset, start, first, count });
            start += count;
        }
        let runs: Vec<PositionRun> = groups.iter().flat_map(|g| group_runs(g, len, wrap)).collect();
        let pairs = runs.iter().flat_map(|r| (0..r.len).map(move |k| (r.u + k, r.v + k))).collect();
        AxisPairs { len, wrap, groups, slot, runs, pairs, size: start }
    }

    /// The single pair `(0, 0)` of an axis the input does not have.
    pub fn trivial() -> AxisPairs {
        AxisPairs::new(1, false, 0)
    }

    pub fn len(&self) -> usize {
        self.len
    }

    /// Number of stored pairs.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Index of the pair `(u, v)` (both inside the axis), if stored.
    pub fn locate(&self, u: usize, v: usize) -> Option<usize> {
        let key = if self.wrap { (v + self.len - u) % self.len } else { v + self.len - 1 - u };
        let g = self.slot[key];
        (g != NONE).then(|| {
            let group = &self.groups[g as usize];
            group.start + u - group.first
        })
    }

    /// Every stored pair, in storage order.
    pub fn pairs(&self) -> &[(usize, usize)] {
        &self.pairs
    }

    /// The stored pairs as runs contiguous in both positions, in storage order.
    pub fn position_runs(&self) -> &[PositionRun] {
        &self.runs
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
    /// The map that leaves a trivial axis as it is.
    pub fn identity() -> AxisOp {
        AxisOp { runs: Vec::new(), identity: true }
    }

    pub fn is_identity(&self) -> bool {
        self.identity
    }

    pub fn runs(&self) -> &[Run] {
        &self.runs
    }

    /// Patch step: `out(i, i') = (1/s) Σ_v in(i + v, i' + v)`.
    pub fn patch(input: &AxisPairs, output: &AxisPairs, size: usize, padding: Padding) -> AxisOp {
        let taps: Vec<isize> = match padding {
            Padding::Valid => (0..size as isize).collect(),
            Padding::Same | Padding::Circular => {
                let c = ((size - 1) / 2) as isize;
                (0..size as isize).map(|o| o - c).collect()
            }
        };
        let weight = 1.0 / size as f64;
        let wrap = padding == Padding::Circular;
        let out_pairs = output.pairs();
        let mut runs = RunBuilder::default();
        for &v in &taps {
            for (o, &(i, i2)) in out_pairs.iter().enumerate() {
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
        let out_pairs = output.pairs();
        let mut runs = RunBuilder::default();
        for (j, &hj) in h.iter().enumerate() {
            for (j2, &hj2) in h.iter().enumerate() {
                let weight = hj * hj2;
                if weight == 0.0 {
                    continue;
                }
                for (o, &(i, i2)) in out_pairs.iter().enumerate() {
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
        assert_eq!(output.size(), 1, "global pooling has a single output pair");
        assert_eq!(input.size(), input.len * input.len, "global pooling reads every pair");
        let weight = 1.0 / (input.len * input.len) as f64;
        let run = Run { out: 0, out_step: 0, src: 0, src_step: 1, len: input.size(), weight };
        AxisOp { runs: vec![run], identity: input == output && input.size() == 1 && weight == 1.0 }
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
}

impl RunBuilder {
    fn push(&mut self, out: usize, src: usize, weight: f64) {
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
        let identity = input == output
            && self.runs.len() == 1
            && self.runs[0]
                == Run { out: 0, out_step: 1, src: 0, src_step: 1, len: input.size(), weight: 1.0 };
        AxisOp { runs: self.runs, identity }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Dense matrix of an op, for checking it entry by entry.
    fn dense(op: &AxisOp, n_out: usize, n_in: usize) -> Vec<Vec<f64>> {
        let mut m = vec![vec![0.0; n_in]; n_out];
        for r in op.runs() {
            for k in 0..r.len {
                m[r.out + k * r.out_step][r.src + k * r.src_step] += r.weight;
            }
        }
        m
    }

    #[test]
    fn linear_pairs_are_grouped_by_offset() {
        let p = AxisPairs::new(4, false, 1);
        assert_eq!(p.size(), 4 + 3 + 3);
        assert_eq!(
            p.pairs(),
            vec![(1, 0), (2, 1), (3, 2), (0, 0), (1, 1), (2, 2), (3, 3), (0, 1), (1, 2), (2, 3)]
        );
        for (idx, (u, v)) in p.pairs().iter().copied().enumerate() {
            assert_eq!(p.locate(u, v), Some(idx));
        }
        assert_eq!(p.locate(0, 2), None);
        assert_eq!(AxisPairs::new(4, false, 9).size(), 16);
    }

    #[test]
    fn wrapped_pairs_cover_each_offset_once() {
        let full = AxisPairs::new(5, true, 2);
        assert_eq!(full.size(), 25);
        let band = AxisPairs::new(7, true, 1);
        assert_eq!(band.size(), 21);
        assert_eq!(band.locate(6, 0), band.locate(0, 1).map(|i| i + 6));
        for (idx, (u, v)) in band.pairs().iter().copied().enumerate() {
            assert_eq!(band.locate(u, v), Some(idx));
            let d = (v + 7 - u) % 7;
            assert!(d <= 1 || d == 6);
        }
    }

    #[test]
    fn same_patch_matches_its_definition() {
        let input = AxisPairs::new(5, false, 4);
        let output = AxisPairs::new(5, false, 4);
        let op = AxisOp::patch(&input, &output, 3, Padding::Same);
        let m = dense(&op, output.size(), input.size());
        for (o, (i, i2)) in output.pairs().iter().copied().enumerate() {
            for (s, (a, b)) in input.pairs().iter().copied().enumerate() {
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
        let p = AxisPairs::new(4, true, 9);
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
        let input = AxisPairs::new(5, false, 4);
        let output = AxisPairs::new(3, false, 2);
        let op = AxisOp::pool(&input, &output, &h, 2, false);
        let m = dense(&op, output.size(), input.size());
        for (o, (i, i2)) in output.pairs().iter().copied().enumerate() {
            for (s, (a, b)) in input.pairs().iter().copied().enumerate() {
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
        let p = AxisPairs::new(6, false, 2);
        assert!(AxisOp::patch(&p, &p, 1, Padding::Same).is_identity());
        assert!(AxisOp::pool(&p, &p, &[1.0], 1, false).is_identity());
        assert!(!AxisOp::pool(&p, &p, &[2.0], 1, false).is_identity());
        // Same pairs stored in another order is a re-indexing, not the identity.
        let (linear, wrapped) = (AxisPairs::new(6, false, 5), AxisPairs::new(6, true, 5));
        assert!(!AxisOp::patch(&linear, &wrapped, 1, Padding::Circular).is_identity());
    }

    #[test]
    fn global_average_is_the_mean() {
        let input = AxisPairs::new(3, false, 2);
        let op = AxisOp::global_average(&input, &AxisPairs::trivial());
        let m = dense(&op, 1, 9);
        assert!(m[0].iter().all(|&w| w == 1.0 / 9.0));
    }

    #[test]
    fn runs_are_long() {
        let p = AxisPairs::new(32, false, 31);
        let op = AxisOp::patch(&p, &p, 3, Padding::Same);
        let total: usize = op.runs().iter().map(|r| r.len).sum();
        assert!(op.runs().len() * 8 < total, "{} runs for {} terms", op.runs().len(), total);
    }
}
