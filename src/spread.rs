//! Norms spread along the rows of a map. For a layer, a side of the pair
//! and a grid row `y`, the row holds, slot by slot, the norm `N[y, u]` of
//! the position that side contributes to each column pair; zero in halos. Built once per pair and row, on first use (a signal's own
//! norms appear while its recursion runs), they turn the ReLU step into a
//! loop over contiguous rows instead of one per offset group.

use crate::axis::AxisPairs;
use crate::kappa::RowNorms;
use crate::plan::Plan;
use crate::real::Real;

#[derive(Debug)]
pub struct Spread<T> {
    layers: Vec<Layer<T>>,
}

#[derive(Debug)]
struct Layer<T> {
    /// Slots of a row.
    width: usize,
    /// Grid rows.
    rows: usize,
    /// Row `(side, y)` of `width` slots.
    data: Vec<T>,
    ready: Vec<bool>,
}

impl<T: Real> Spread<T> {
    pub fn new(plan: &Plan) -> Spread<T> {
        let layers = plan
            .layers
            .iter()
            .map(|l| {
                let (width, rows) =
                    if l.pool.is_some() { (l.patched.cols.size(), l.patched.rows.len()) } else { (0, 0) };
                Layer { width, rows, data: vec![T::zero(); 2 * rows * width], ready: vec![false; 2 * rows] }
            })
            .collect();
        Spread { layers }
    }

    /// Forgets the rows of the previous pair.
    pub fn reset(&mut self) {
        self.layers.iter_mut().for_each(|l| l.ready.fill(false));
    }

    /// The norms over the row `(y, y')` of layer `k`, whose columns are
    /// `cols`, from the norm maps `[N, N']`.
    #[inline(always)]
    pub fn row(
        &mut self,
        k: usize,
        cols: &AxisPairs,
        norms: [&[T]; 2],
        (y, y2): (usize, usize),
    ) -> RowNorms<'_, T> {
        let layer = &mut self.layers[k];
        let width = layer.width;
        for (side, (y, n)) in [y, y2].into_iter().zip(norms).enumerate() {
            let at = side * layer.rows + y;
            if !layer.ready[at] {
                let values = &mut layer.data[at * width..][..width];
                let row = y * cols.len();
                for run in cols.position_runs() {
                    let src = row + if side == 0 { run.u } else { run.v };
                    values[run.start..run.start + run.len].copy_from_slice(&n[src..src + run.len]);
                }
                layer.ready[at] = true;
            }
        }
        let row = |side: usize, y: usize| &layer.data[(side * layer.rows + y) * width..][..width];
        RowNorms { a: row(0, y), b: row(1, y2) }
    }
}
