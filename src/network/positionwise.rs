//! The plan of networks that need only the diagonal `u = u'` of every map:
//! every pooling is one tap of stride 1 (identity poolings) and the readout
//! sums over the grid, as in Arora et al.'s CNTK-V. A patch step keeps
//! offsets, so each layer's map is the diagonal of the next one's input: per
//! pair one value per position, an image. [`crate::pair::positionwise`]
//! computes pairs of distinct signals from these steps, whole images at once.

use std::ops::Range;

use super::steps::patch_taps;
use super::{Net, Padding, Pool};

/// The steps of a positionwise network on a given grid (rows × columns; a 1-D
/// grid is one row).
#[derive(Clone, Debug, PartialEq)]
pub struct PositionPlan {
    pub(crate) layers: Vec<PositionStep>,
    /// Largest map (positions).
    pub(crate) size: usize,
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) struct PositionStep {
    /// Input and patched grids: (rows, columns).
    pub(crate) input: (usize, usize),
    pub(crate) patched: (usize, usize),
    pub(crate) rows: AxisPatch,
    pub(crate) cols: AxisPatch,
    /// `1/|S|`, the patch step's normalisation.
    pub(crate) weight: f64,
    /// The one-tap pooling `h` along every axis, applied to both arguments:
    /// `h^(2d)` on a grid of `d` axes.
    pub(crate) pool: f64,
}

impl PositionPlan {
    /// The steps, where every pooling is one tap of stride 1 on a grid (not
    /// vectors, which have their own path); `None` otherwise.
    pub fn new(net: &Net, grid: &[usize]) -> Option<PositionPlan> {
        if grid.is_empty() {
            return None;
        }
        let grids = net.grids(grid).ok()?;
        let as_2d = |g: &[usize]| if g.len() == 2 { (g[0], g[1]) } else { (1, g[0]) };
        let mut layers = Vec::with_capacity(grids.len());
        for (layer, g) in net.layers().iter().zip(&grids) {
            let Pool::Filter { h, stride: 1 } = &layer.pool else { return None };
            let [tap] = h[..] else { return None };
            let (input, patched) = (as_2d(&g.input), as_2d(&g.patched));
            let size =
                |axis: usize| if grid.len() == 2 { layer.patch[axis] } else { [1, layer.patch[0]][axis] };
            let (rows, cols) = (size(0), size(1));
            layers.push(PositionStep {
                input,
                patched,
                rows: AxisPatch::new(rows, layer.padding, input.0, patched.0),
                cols: AxisPatch::new(cols, layer.padding, input.1, patched.1),
                weight: 1.0 / (rows as f64 * cols as f64),
                pool: tap.powi(2 * grid.len() as i32),
            });
        }
        let size = layers.iter().map(|l| (l.input.0 * l.input.1).max(l.patched.0 * l.patched.1)).max()?;
        Some(PositionPlan { layers, size })
    }
}

/// The patch step along one axis: output `i` is the sum of inputs
/// `i + first + t`, `t < size` (spec §3: `first = −(s−1)//2` for "same"
/// and "circular", 0 for "valid"), those outside the grid read as zero or
/// wrapped.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct AxisPatch {
    pub(crate) size: usize,
    pub(crate) first: isize,
    /// The outputs whose taps all read inside the grid.
    pub(crate) inner: Range<usize>,
    /// The others, with the inputs each reads.
    pub(crate) border: Vec<(usize, Vec<usize>)>,
}

impl AxisPatch {
    fn new(size: usize, padding: Padding, len_in: usize, len_out: usize) -> AxisPatch {
        let first = if padding == Padding::Valid { 0 } else { -(size as isize - 1) / 2 };
        let lo = (-first).clamp(0, len_out as isize);
        let hi = (len_in as isize - first - size as isize + 1).clamp(lo, len_out as isize);
        let (inner, n) = (lo as usize..hi as usize, len_in as isize);
        let wrap = padding == Padding::Circular;
        let taps = patch_taps(size, padding, len_in);
        let reads = |i: usize| -> Vec<usize> {
            let at = taps.clone().map(|v| i as isize + v);
            at.filter(|at| (0..n).contains(at) || wrap).map(|at| at.rem_euclid(n) as usize).collect()
        };
        let border = (0..inner.start).chain(inner.end..len_out).map(|i| (i, reads(i))).collect();
        AxisPatch { size, first, inner, border }
    }

    /// Where the inner outputs start reading.
    pub(crate) fn inner_source(&self) -> usize {
        (self.inner.start as isize + self.first) as usize
    }
}
