//! The schedule of a Gram matrix: a block's pairs cut into tiles, the tasks
//! of the thread pool; the per-signal data a block keeps; and the shared
//! writes of the tiles' entries into the outputs.

use std::ops::{Index, Range};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use ndarray::{ArrayView, ArrayViewMut2, Axis, IxDyn};
use rayon::prelude::*;

use super::reuse;
use crate::error::Result;
use crate::network::plan::Plan;
use crate::pair::{self, TILE_SIDE, Values, Workspace};
use crate::recursion;
use crate::signal::Signal;
use crate::simd::Real;
use crate::threads::Control;

/// Per-signal data of the signals `first..` of a block, indexed by the
/// signal's index in the whole input.
pub(super) struct Signals<T> {
    first: usize,
    items: Vec<Signal<T>>,
}

impl<T: Real> Signals<T> {
    /// The signals `range` of `x`, through `plan` (for the norms).
    pub(super) fn new(
        x: &ArrayView<'_, f64, IxDyn>,
        range: Range<usize>,
        plan: &Arc<Plan>,
        control: &Control,
    ) -> Result<Signals<T>> {
        let items = range
            .clone()
            .into_par_iter()
            .map_init(
                || reuse::workspace::<recursion::Buffers<T>>(plan),
                |buffers, i| {
                    control.check()?;
                    Signal::new(x.index_axis(Axis(0), i), plan, buffers.as_mut().map_err(|e| e.clone())?)
                },
            )
            .collect::<Result<_>>()?;
        Ok(Signals { first: range.start, items })
    }
}

impl<T> Index<usize> for Signals<T> {
    type Output = Signal<T>;

    fn index(&self, i: usize) -> &Signal<T> {
        &self.items[i - self.first]
    }
}

/// A rectangle of output entries, rows `rows.0..rows.1` × columns
/// `cols.0..cols.1`: one task of the pool.
pub(super) struct Tile {
    rows: (usize, usize),
    cols: (usize, usize),
    /// Symmetric Gram matrix: compute `j ≥ i` only and mirror.
    symmetric: bool,
}

/// Smallest side of a tile of pairs of vectors: 256 pairs, about 30 µs of
/// 784-dimensional fc pairs on one thread.
const VECTOR_TILE_SIDE: usize = 16;

/// Tiles covering the block `rows × cols` (its part on or above the
/// diagonal when symmetric), small enough that every thread gets several.
pub(super) fn tiles(
    rows: Range<usize>,
    cols: Range<usize>,
    symmetric: bool,
    threads: usize,
    vectors: bool,
) -> Vec<Tile> {
    let pairs =
        if symmetric && rows == cols { rows.len() * (rows.len() + 1) / 2 } else { rows.len() * cols.len() };
    // Pairs of vectors cost the same and little: fewer, larger tiles (4 a
    // thread beat 2 by ~20% on 64 fc vectors, 2 threads, float32), and at
    // least `VECTOR_TILE_SIDE` on a side, so that a small call does not
    // wake more threads than it has work for.
    let (per_thread, least) = if vectors { (4, VECTOR_TILE_SIDE) } else { (8, 1) };
    let side = ((pairs / (per_thread * threads).max(1)) as f64).sqrt() as usize;
    let side = side.clamp(least, TILE_SIDE);
    let mut out = Vec::new();
    for i0 in rows.clone().step_by(side) {
        for j0 in cols.clone().step_by(side) {
            let tile = Tile {
                rows: (i0, (i0 + side).min(rows.end)),
                cols: (j0, (j0 + side).min(cols.end)),
                symmetric,
            };
            // Wholly below the diagonal: its entries are mirrored from above.
            if !(symmetric && tile.cols.1 <= tile.rows.0) {
                out.push(tile);
            }
        }
    }
    out
}

impl Tile {
    /// The rows of the output it covers.
    #[cfg(test)]
    pub(super) fn rows(&self) -> (usize, usize) {
        self.rows
    }

    /// Computes and writes the tile's entries (`xs` holds its rows' signals,
    /// `zs` its columns'), counting them in `control`. Stops early, between
    /// pairs, when cancelled.
    pub(super) fn compute<T: Real>(
        &self,
        plan: &Plan,
        (xs, zs): (&Signals<T>, &Signals<T>),
        out: &Writers<'_>,
        ws: &mut Workspace<T>,
        control: &Control,
    ) {
        let (rows, cols) = (self.rows.0..self.rows.1, self.cols.0..self.cols.1);
        let a: Vec<&Signal<T>> = rows.clone().map(|i| &xs[i]).collect();
        let b: Vec<&Signal<T>> = cols.clone().map(|j| &zs[j]).collect();
        // When symmetric, row i from column i on (the entries below it are
        // mirrored), column i being signal i with itself.
        let from: Vec<usize> = rows
            .clone()
            .map(|i| if self.symmetric { i.clamp(cols.start, cols.end) - cols.start } else { 0 })
            .collect();
        let itself: Vec<bool> = rows.clone().map(|i| self.symmetric && cols.contains(&i)).collect();
        let write = |r: usize, c: usize, v: Values| self.write(out, rows.start + r, cols.start + c, v);
        pair::tile(plan, (&a, &b), &from, &itself, out.ntk.is_some(), ws, control, write)
    }

    fn write(&self, out: &Writers<'_>, i: usize, j: usize, v: Values) {
        if !v.finite() {
            out.overflow.store(true, Ordering::Relaxed);
        }
        // SAFETY: tiles partition the output (its upper triangle when
        // symmetric), so no other thread writes (i, j) or its mirror.
        unsafe {
            if let (Some(w), Some(k)) = (&out.ntk, v.ntk) {
                w.write(i, j, k, self.symmetric);
            }
            if let Some(w) = &out.rf {
                w.write(i, j, v.rf, self.symmetric);
            }
        }
    }
}

/// The outputs of a call, written by the tiles on all threads.
pub(super) struct Writers<'a> {
    ntk: Option<Writer<'a>>,
    rf: Option<Writer<'a>>,
    /// Set when a value exceeded `f64` (see [`super::overflow`]).
    overflow: AtomicBool,
}

impl<'a> Writers<'a> {
    pub(super) fn new(
        ntk: Option<ArrayViewMut2<'a, f64>>,
        rf: Option<ArrayViewMut2<'a, f64>>,
    ) -> Writers<'a> {
        Writers { ntk: ntk.map(Writer::new), rf: rf.map(Writer::new), overflow: AtomicBool::new(false) }
    }

    /// Whether a value exceeded `f64`.
    pub(super) fn overflowed(&self) -> bool {
        self.overflow.load(Ordering::Relaxed)
    }
}

/// Shared write access to an output matrix for tiles on different threads.
struct Writer<'a> {
    ptr: *mut f64,
    strides: (isize, isize),
    _view: std::marker::PhantomData<ArrayViewMut2<'a, f64>>,
}

// SAFETY: the pointer comes from a mutable view that outlives the writer;
// callers of `write` guarantee that distinct threads write distinct entries.
unsafe impl Send for Writer<'_> {}
unsafe impl Sync for Writer<'_> {}

impl<'a> Writer<'a> {
    fn new(mut view: ArrayViewMut2<'a, f64>) -> Writer<'a> {
        let strides = (view.strides()[0], view.strides()[1]);
        Writer { ptr: view.as_mut_ptr(), strides, _view: std::marker::PhantomData }
    }

    /// Writes `(i, j)` and, with `mirror`, `(j, i)`.
    ///
    /// # Safety
    /// The indices are in bounds and no other thread writes the same entries.
    unsafe fn write(&self, i: usize, j: usize, value: f64, mirror: bool) {
        unsafe {
            *self.ptr.offset(i as isize * self.strides.0 + j as isize * self.strides.1) = value;
            if mirror {
                *self.ptr.offset(j as isize * self.strides.0 + i as isize * self.strides.1) = value;
            }
        }
    }
}
