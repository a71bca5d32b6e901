//! One spatial axis of a pair map: which position pairs `(u, u')` are
//! stored, and where.
//!
//! The patch step keeps the offset `δ = u' − u` of a pair and pooling
//! widens it by the filter's reach, so a map only needs the offsets that the
//! readout will eventually read: a band `|δ| ≤ Δ`. Pairs are grouped by
//! offset, each group a run of consecutive `u`, so the steps between maps
//! ([`super::steps`]) become a few long strided loops.

use std::ops::Range;

/// The stored pairs of one axis: every offset `|δ| ≤ band` (or all of them),
/// grouped by offset. With `wrap` (circular padding) offsets are taken
/// modulo the length and every group holds all `len` positions. With a
/// `halo`, `halo` unused slots precede and follow every group (and pad the
/// slots to a multiple of 8): kept at zero, they stand for the zero padding
/// of a patch step reaching at most `halo` positions out (see
/// [`ColOp::Shift`](super::steps::ColOp::Shift)).
#[derive(Clone, Debug, PartialEq)]
pub struct AxisPairs {
    pub(super) len: usize,
    pub(super) wrap: bool,
    pub(super) halo: usize,
    pub(super) groups: Vec<Group>,
    /// Group of each offset: index `δ + len − 1` (linear) or `δ mod len`
    /// (wrap); [`NONE`] where the offset is not stored.
    pub(super) slot: Vec<u32>,
    /// The stored pairs as runs contiguous in both positions.
    pub(super) runs: Vec<PositionRun>,
    /// The pair in each slot, `(NONE, NONE)` in halos (`pair_at` is asked
    /// once per row: a search of the groups was 8% of small maps).
    pub(super) pair_of: Vec<(u32, u32)>,
    /// Slots, halos included.
    pub(super) size: usize,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct Group {
    /// Canonical offset: `u' = u + offset` (modulo `len` with wrap).
    pub(super) offset: isize,
    /// Slot of the group's first pair.
    pub(super) start: usize,
    /// First position `u` of the group; the group holds `count` of them.
    pub(super) first: usize,
    pub(super) count: usize,
}

/// Pairs in slots `start .. start + len` are `(u + k, v + k)`: contiguous on both sides.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PositionRun {
    pub start: usize,
    pub len: usize,
    pub u: usize,
    pub v: usize,
}

/// No group, no position: a halo slot or an offset not stored.
pub(super) const NONE: u32 = u32::MAX;

/// Rows of maps are padded to multiples of this many slots (a SIMD vector
/// of `f32`), so that loops over a row can run over whole vectors.
pub const ROW_ALIGN: usize = 8;

/// The sizes of an [`AxisPairs`], by arithmetic alone (for estimates made
/// before anything is built).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Extent {
    /// Offset groups.
    pub groups: u128,
    /// Stored pairs.
    pub count: u128,
    /// Slots, halos included.
    pub size: u128,
}

impl Extent {
    /// The extent of `AxisPairs::new(len, wrap, band, halo)`.
    pub fn of(len: usize, wrap: bool, band: usize, halo: usize) -> Extent {
        let (len, band, halo) = (len as u128, band as u128, halo as u128);
        let (groups, count) = if wrap {
            let groups = if 2 * band + 1 >= len { len } else { 2 * band + 1 };
            (groups, groups * len)
        } else {
            // Σ_{|δ| ≤ b} (len − |δ|).
            let b = band.min(len - 1);
            (2 * b + 1, len * (2 * b + 1) - b * (b + 1))
        };
        let slots = count + halo * (groups + 1);
        let size = if halo > 0 { slots.next_multiple_of(ROW_ALIGN as u128) } else { slots };
        Extent { groups, count, size }
    }
}

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
        let pairs = AxisPairs { len, wrap, halo, groups, slot, runs, pair_of, size };
        debug_assert_eq!(
            Extent::of(len, wrap, band, halo),
            Extent { groups: pairs.groups.len() as u128, count: pairs.count() as u128, size: size as u128 }
        );
        pairs
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

#[cfg(test)]
mod tests {
    use super::*;

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
    fn extents_are_the_built_sizes() {
        for (len, wrap, band, halo) in [
            (1, false, 0, 0),
            (4, false, 1, 0),
            (9, false, 3, 2),
            (9, false, 20, 1),
            (7, true, 1, 0),
            (7, true, 3, 1),
            (6, true, 2, 3),
        ] {
            let p = AxisPairs::new(len, wrap, band, halo);
            let e = Extent::of(len, wrap, band, halo);
            assert_eq!(
                (e.groups, e.count, e.size),
                (p.groups.len() as u128, p.count() as u128, p.size() as u128)
            );
        }
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
}
