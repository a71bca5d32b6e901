//! Maps over the grid spread along the rows of a pair map. For a map, a
//! side of the pair and a grid row `y`, the spread row holds, slot by slot,
//! the map's value at the position `u` that side contributes to each column
//! pair `(u, u')` (`u'` for the second side); zero in halos. Built once per
//! pair and row, on first use (a signal's own norms appear while its
//! recursion runs), they turn the ReLU step (norms) and the layer-1 inner
//! products (channels) into loops over whole rows instead of one per offset
//! group.

use crate::error::Result;
use crate::memory;
use crate::network::axis::AxisPairs;
use crate::simd::Real;

#[derive(Debug)]
pub struct Spread<T> {
    maps: Vec<Spreads<T>>,
    /// The signal ([`super::Sides::keys`]) each side's rows were spread from.
    keys: [Option<u64>; 2],
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
    pub fn new(shapes: impl IntoIterator<Item = (usize, usize)>) -> Result<Spread<T>> {
        let maps = shapes
            .into_iter()
            .map(|(width, rows)| {
                let data = memory::zeroed(2 * rows * width, "a thread's spread rows")?;
                Ok(Spreads { width, rows, data, ready: vec![false; 2 * rows] })
            })
            .collect::<Result<_>>()?;
        Ok(Spread { maps, keys: [None; 2] })
    }

    /// Forgets the rows of the previous pair, but for a side that is the
    /// same signal as before (`keys`, see [`super::Sides::keys`]): a tile's pairs
    /// share their first signal along a row of the Gram matrix.
    pub fn reset(&mut self, keys: [Option<u64>; 2]) {
        for (side, key) in keys.into_iter().enumerate() {
            if key.is_none() || key != self.keys[side] {
                self.maps.iter_mut().for_each(|m| m.ready[side * m.rows..][..m.rows].fill(false));
            }
        }
        self.keys = keys;
    }

    /// Number of maps.
    pub fn count(&self) -> usize {
        self.maps.len()
    }

    /// Values held.
    pub fn slots(&self) -> usize {
        self.maps.iter().map(|m| m.data.len()).sum()
    }

    /// Spreads map `k` (of the first and the second signal) along the row
    /// `(y, y')` of a map whose columns are `cols`, for `get`, if not done
    /// yet.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_side_is_kept_only_while_its_signal_is_the_same() {
        let cols = AxisPairs::new(4, false, 1, 0);
        let (a, b, c) = ([1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0], [9.0; 4]);
        let mut spread = Spread::<f64>::new([(cols.size(), 1)]).unwrap();
        spread.reset([Some(1), Some(2)]);
        let row = |spread: &mut Spread<f64>, maps: [&[f64]; 2]| {
            spread.prepare(0, &cols, maps, (0, 0));
            spread.get(0, (0, 0)).map(<[f64]>::to_vec)
        };
        let first = row(&mut spread, [&a, &b]);
        // Same first signal: its row is kept (not re-read from `c`); a new
        // second signal is read.
        spread.reset([Some(1), Some(3)]);
        let [kept, read] = row(&mut spread, [&c, &c]);
        assert_eq!(kept, first[0]);
        assert_ne!(read, first[1]);
        // Without keys nothing is kept.
        spread.reset([None, None]);
        let [fresh, _] = row(&mut spread, [&c, &c]);
        assert_ne!(fresh, first[0]);
    }
}
