//! Where the features of one layer read and where they go: the source
//! position of every tap of every patch, and the pooling filter of every
//! axis as sparse rows (spec §3). Feature maps carry vectors per position,
//! not pair maps, so the geometry is that of one signal.

use crate::error::{Error, Result};
use crate::memory;
use crate::network::steps::patch_offsets;
use crate::network::{Layer, LayerGrids, Padding, Pool};

/// A tap that reads padding (a zero).
pub const OUTSIDE: u32 = u32::MAX;

/// The linear steps of one layer on a given input grid.
#[derive(Debug)]
pub struct Geometry {
    /// Positions of the input grid, the patch grid and the pooled grid.
    pub positions_in: usize,
    pub positions: usize,
    pub positions_out: usize,
    /// `|S|`: taps per patch.
    pub taps: usize,
    /// `sources[u · taps + j]`: the input position tap `j` of patch `u`
    /// reads (row-major offsets, first axis slowest), or [`OUTSIDE`].
    pub sources: Vec<u32>,
    /// Per spatial axis, the pooling from the patch grid to the pooled grid.
    pub pools: Vec<AxisPool>,
}

/// Pooling along one axis: `out[i] = Σ (j, w) in rows[i], w · in[j]`.
#[derive(Debug)]
pub struct AxisPool {
    pub len_in: usize,
    pub rows: Vec<Vec<(usize, f64)>>,
}

impl AxisPool {
    /// The identity: nothing to do.
    pub fn is_identity(&self) -> bool {
        self.rows.len() == self.len_in && self.rows.iter().enumerate().all(|(i, r)| r[..] == [(i, 1.0)])
    }

    /// Spec §3's `(A z)[i] = Σ_j h[j] z[stride·i + j − (len(h)−1)/2]`,
    /// zeros outside or wrapped (circular layers); global average pooling as
    /// the mean along every axis.
    fn new(pool: &Pool, len: usize, wrap: bool) -> AxisPool {
        let rows = match pool.along(len) {
            Pool::GlobalAverage => vec![(0..len).map(|j| (j, 1.0 / len as f64)).collect()],
            // Circular layers never clip: their filters are at most `len` long
            // (network::Net::grids), so `along` keeps them whole.
            Pool::Filter { h, stride } => {
                let centre = (h.len() - 1) / 2;
                (0..len.div_ceil(stride))
                    .map(|i| {
                        let mut row: Vec<(usize, f64)> = Vec::new();
                        for (j, &w) in h.iter().enumerate() {
                            let at = (stride * i + j) as isize - centre as isize;
                            let src = if wrap {
                                Some(at.rem_euclid(len as isize) as usize)
                            } else {
                                (0..len as isize).contains(&at).then_some(at as usize)
                            };
                            let Some(src) = src else { continue };
                            // Only a wrapped filter reads a position twice.
                            match row.iter_mut().find(|(s, _)| wrap && *s == src) {
                                Some(entry) => entry.1 += w,
                                None => row.push((src, w)),
                            }
                        }
                        row
                    })
                    .collect()
            }
        };
        AxisPool { len_in: len, rows }
    }
}

impl Geometry {
    /// The geometry of `layer` on `grids` (from [`crate::network::Net::grids`]).
    pub fn new(layer: &Layer, grids: &LayerGrids) -> Result<Geometry> {
        let wrap = layer.padding == Padding::Circular;
        let positions_in: usize = grids.input.iter().product();
        if positions_in >= OUTSIDE as usize {
            return Err(Error::Invalid(format!(
                "X: feature maps number positions in 32 bits; a grid of {positions_in} positions is too large"
            )));
        }
        let taps: usize = layer.patch.iter().product();
        let positions: usize = grids.patched.iter().product();
        let count = positions
            .checked_mul(taps)
            .ok_or_else(|| Error::Memory("the patch table of a layer exceeds the address space".into()))?;
        let mut sources = memory::filled(count, OUTSIDE, "the patch table of a layer")?;
        // Per axis and patch-grid index, the source of each offset.
        let axis_sources: Vec<Vec<Option<usize>>> = (0..layer.patch.len())
            .map(|a| {
                let len = grids.input[a] as isize;
                let offsets = patch_offsets(layer.patch[a], layer.padding);
                (0..grids.patched[a] as isize)
                    .flat_map(|i| {
                        offsets.clone().map(move |o| {
                            let at = i + o;
                            if wrap {
                                Some(at.rem_euclid(len) as usize)
                            } else {
                                (0..len).contains(&at).then_some(at as usize)
                            }
                        })
                    })
                    .collect()
            })
            .collect();
        for (slot, source) in sources.iter_mut().enumerate() {
            let (mut u, mut j) = (slot / taps, slot % taps);
            let mut flat = 0usize;
            let mut inside = true;
            for a in (0..layer.patch.len()).rev() {
                let (i, o) = (u % grids.patched[a], j % layer.patch[a]);
                u /= grids.patched[a];
                j /= layer.patch[a];
                let stride: usize = grids.input[a + 1..].iter().product();
                match axis_sources[a][i * layer.patch[a] + o] {
                    Some(s) => flat += s * stride,
                    None => inside = false,
                }
            }
            if inside {
                *source = flat as u32;
            }
        }
        let pools = grids.patched.iter().map(|&len| AxisPool::new(&layer.pool, len, wrap)).collect();
        Ok(Geometry {
            positions_in,
            positions,
            positions_out: grids.pooled.iter().product(),
            taps,
            sources,
            pools,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::Net;

    #[test]
    fn patches_read_their_offsets() {
        let layer = Layer { patch: vec![3], padding: Padding::Same, pool: Pool::identity() };
        let net = Net::new(vec![layer.clone()]).unwrap();
        let g = Geometry::new(&layer, &net.grids(&[4]).unwrap()[0]).unwrap();
        assert_eq!(g.sources, [OUTSIDE, 0, 1, 0, 1, 2, 1, 2, 3, 2, 3, OUTSIDE]);
        let layer = Layer { patch: vec![2, 2], padding: Padding::Circular, pool: Pool::identity() };
        let net = Net::new(vec![layer.clone()]).unwrap();
        let g = Geometry::new(&layer, &net.grids(&[2, 3]).unwrap()[0]).unwrap();
        // Offsets 0, 1 on both axes; position (1, 2) reads (1, 2), (1, 0), (0, 2), (0, 0).
        assert_eq!(&g.sources[5 * 4..], [5, 3, 2, 0]);
    }

    #[test]
    fn pooling_rows_follow_the_filter() {
        let pool = Pool::Filter { h: vec![1.0, 2.0, 3.0], stride: 2 };
        let rows = AxisPool::new(&pool, 4, false).rows;
        assert_eq!(rows, vec![vec![(0, 2.0), (1, 3.0)], vec![(1, 1.0), (2, 2.0), (3, 3.0)]]);
        let rows = AxisPool::new(&pool, 4, true).rows;
        assert_eq!(rows[0], vec![(3, 1.0), (0, 2.0), (1, 3.0)]);
        assert!(AxisPool::new(&Pool::identity(), 3, false).is_identity());
    }
}
