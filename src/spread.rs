//! Maps over the grid spread along the rows of a pair map. For a map, a
//! side of the pair and a grid row `y`, the spread row holds, slot by slot,
//! the map's value at the position `u` that side contributes to each column
//! pair `(u, u')` (`u'` for the second side); zero in halos. Built once per
//! pair and row, on first use (a signal's own norms appear while its
//! recursion runs), they turn the ReLU step (norms) and the layer-1 inner
//! products (channels) into loops over whole rows instead of one per offset
//! group.

use crate::axis::AxisPairs;
use crate::real::Real;

#[derive(Debug)]
pub struct Spread<T> {
    maps: Vec<Spreads<T>>,
}

/// The spread rows of one map.
#[derive(Debug)]
struct Spreads<T> {
    /// Slots of a row.
    width: usize,
    /// Grid rows.
    rows: usize,
    /// Row `(side, y)` of `width` slots.
    data: Vec<T>,
    ready: Vec<bool>,
}

impl<T: Real> Spread<T> {
    /// Room for maps of `(width, grid rows)` each.
    pub fn new(shapes: impl IntoIterator<Item = (usize, usize)>) -> Spread<T> {
        let maps = shapes
            .into_iter()
            .map(|(width, rows)| Spreads {
                width,
                rows,
                data: vec![T::zero(); 2 * rows * width],
                ready: vec![false; 2 * rows],
            })
            .collect();
        Spread { maps }
    }

    /// Forgets the rows of the previous pair.
    pub fn reset(&mut self) {
        self.maps.iter_mut().for_each(|m| m.ready.fill(false));
    }

    /// Number of maps.
    pub fn count(&self) -> usize {
        self.maps.len()
    }

    /// Values held.
    pub fn slots(&self) -> usize {
        self.maps.iter().map(|m| m.data.len()).sum()
    }

    /// Map `k` (of the first and the second signal) spread along the row
    /// `(y, y')` of a map whose columns are `cols`.
    #[inline(always)]
    pub fn row(&mut self, k: usize, cols: &AxisPairs, maps: [&[T]; 2], rows: (usize, usize)) -> [&[T]; 2] {
        self.prepare(k, cols, maps, rows);
        self.get(k, rows)
    }

    /// Spreads what `get(k, (y, y'))` will read, if not done yet.
    #[inline(always)]
    pub fn prepare(&mut self, k: usize, cols: &AxisPairs, maps: [&[T]; 2], (y, y2): (usize, usize)) {
        let spreads = &mut self.maps[k];
        let width = spreads.width;
        for (side, (y, map)) in [y, y2].into_iter().zip(maps).enumerate() {
            let at = side * spreads.rows + y;
            if !spreads.ready[at] {
                let values = &mut spreads.data[at * width..][..width];
                let row = y * cols.len();
                for run in cols.position_runs() {
                    let src = row + if side == 0 { run.u } else { run.v };
                    values[run.start..run.start + run.len].copy_from_slice(&map[src..src + run.len]);
                }
                spreads.ready[at] = true;
            }
        }
    }

    /// Map `k` spread along the row `(y, y')`, once prepared.
    #[inline(always)]
    pub fn get(&self, k: usize, (y, y2): (usize, usize)) -> [&[T]; 2] {
        let spreads = &self.maps[k];
        let row = |side: usize, y: usize| {
            &spreads.data[(side * spreads.rows + y) * spreads.width..][..spreads.width]
        };
        [row(0, y), row(1, y2)]
    }
}
