//! Work that depends on one signal only, done once per signal: a compact
//! copy of its values, its norm maps `N_k[u] = sqrt(Σ_k(x, x)[u, u])` and
//! their inverses.

use std::sync::atomic::{AtomicU64, Ordering};

use ndarray::{ArrayView, IxDyn};

use crate::error::Result;
use crate::kappa::relu::inverse_norm;
use crate::maps;
use crate::memory;
use crate::network::plan::{Path, Plan, Space};
use crate::recursion::{self, Sides};
use crate::simd::{Isa, Kernel, Real, binary_exponent, times_pow2};

/// A signal ready to be paired, in the precision `T` its maps are computed in.
#[derive(Clone, Debug)]
pub struct Signal<T> {
    /// Channel-planar values: `planar[c · positions + p]`.
    pub planar: Vec<T>,
    /// The norm map of every layer, on that layer's patched grid.
    pub norms: LayerMaps<T>,
    /// Their inverses ([`inverse_norm`]).
    pub inverse: LayerMaps<T>,
    /// Unique to this signal (and its clones): see [`Sides::keys`].
    pub key: u64,
    /// The values above are the signal's divided by `2^exponent`, which
    /// brings its largest `|value|` into `[1/2, 1)`: maps then neither
    /// overflow nor underflow, in either precision, whatever the scale of the
    /// input. Kernels are homogeneous (`K(a x, b x') = a b K(x, x')`) and
    /// powers of two scale every step exactly, so a pair's values are those
    /// of the unscaled signals times `2^(exponent + exponent')`, bit for bit
    /// wherever those do not leave the range ([`crate::pair::Values::scaled`]).
    pub exponent: i32,
}

/// A map per layer (`maps[k]`), stored end to end: a vector's per-layer
/// maps of one value each were ten of its twelve allocations, 8% of a call
/// on 64 vectors with their frees.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerMaps<T> {
    values: Vec<T>,
    /// Where map `k` ends (and map `k + 1` starts).
    ends: Vec<usize>,
}

impl<T: Real> LayerMaps<T> {
    /// Zero maps of `sizes` values.
    pub fn zeros(sizes: impl Iterator<Item = usize>) -> Result<LayerMaps<T>> {
        let ends: Vec<usize> = sizes
            .scan(0, |end, size| {
                *end += size;
                Some(*end)
            })
            .collect();
        let values = memory::zeroed(ends.last().copied().unwrap_or(0), "a signal's norm maps")?;
        Ok(LayerMaps { values, ends })
    }
}

impl<T> LayerMaps<T> {
    /// Values of all maps.
    pub fn slots(&self) -> usize {
        self.values.len()
    }

    fn range(&self, k: usize) -> std::ops::Range<usize> {
        (if k == 0 { 0 } else { self.ends[k - 1] })..self.ends[k]
    }
}

impl<T> std::ops::Index<usize> for LayerMaps<T> {
    type Output = [T];

    fn index(&self, k: usize) -> &[T] {
        &self.values[self.range(k)]
    }
}

impl<T> std::ops::IndexMut<usize> for LayerMaps<T> {
    fn index_mut(&mut self, k: usize) -> &mut [T] {
        let range = self.range(k);
        &mut self.values[range]
    }
}

/// The next [`Signal::key`].
static NEXT_KEY: AtomicU64 = AtomicU64::new(0);

impl<T: Real> Signal<T> {
    /// Bytes of a signal of `channels` on the grid of `norm_plan` (for
    /// memory guards): its planar copy, its norm maps and their inverses.
    pub fn bytes_for(norm_plan: &Plan, channels: usize) -> usize {
        let norms: usize = norm_plan.layers.iter().map(|l| 2 * l.patched.positions()).sum();
        // Saturating: an estimate that large is refused by the memory guard.
        norm_plan
            .input
            .positions()
            .saturating_mul(channels)
            .saturating_add(norms)
            .saturating_mul(size_of::<T>())
    }

    /// `x` is one signal, channels last; `plan` is the plan of the network
    /// for [`Target::Norms`](crate::network::plan::Target::Norms).
    pub fn new(
        x: ArrayView<'_, f64, IxDyn>,
        plan: &Plan,
        buffers: &mut recursion::Buffers<T>,
    ) -> Result<Signal<T>> {
        let channels = x.shape()[x.ndim() - 1];
        let mut planar = memory::zeroed(x.len(), "a signal's copy")?;
        // Logical order is position-major, channel-minor (a copy first when
        // `x` is not contiguous: iterating a view of dynamic dimension
        // element by element cost more than the pairs of small signals).
        let values = x.as_standard_layout();
        let values = values.as_slice().expect("a standard-layout array");
        let exponent = copy_scaled(plan.isa, values, channels, &mut planar);
        // The norms: in closed form for vectors, else by the RF recursion of
        // the signal with itself over the bands they need, reading each
        // layer's norms off the diagonal of its Σ.
        let zeros = || LayerMaps::zeros(plan.layers.iter().map(|l| l.patched.positions()));
        let key = NEXT_KEY.fetch_add(1, Ordering::Relaxed);
        let mut own = Signal { planar, norms: zeros()?, inverse: zeros()?, key, exponent };
        if plan.path == Path::Vectors {
            own.vector_norms(plan.isa);
        } else {
            recursion::run(plan, &mut own, true, false, buffers);
        }
        Ok(own)
    }

    /// The norms of a vector (one position, no patches) without the
    /// recursion: `N_k = sqrt(⟨x, x⟩)` at every layer `k`, as the recursion
    /// gives them, since `Σ_{k+1}(x, x) = N_k²` and, in binary floating point
    /// rounded to nearest, `sqrt(N²) = N` exactly (nothing underflows: the
    /// largest `|x_c|` is at least 1/2, see `exponent`). It was 12% of a call
    /// on 64 vectors.
    fn vector_norms(&mut self, isa: Isa) {
        let n = maps::dot_for(isa, &self.planar, &self.planar).sqrt();
        self.norms.values.fill(n);
        self.inverse.values.fill(inverse_norm(n));
    }
}

/// Copies `values` (position-major, channel-minor) into `planar`
/// channel-planar, divided by `2^exponent` (see [`Signal::exponent`]), in the
/// instructions of `isa` (it was 8–11% of a call on 64 fc vectors);
/// returns `exponent`.
fn copy_scaled<T: Real>(isa: Isa, values: &[f64], channels: usize, planar: &mut [T]) -> i32 {
    isa.dispatch(CopyScaled { values, channels, planar })
}

/// [`copy_scaled_in`] as a [`Kernel`].
struct CopyScaled<'a, T> {
    values: &'a [f64],
    channels: usize,
    planar: &'a mut [T],
}

impl<T: Real> Kernel for CopyScaled<'_, T> {
    type Output = i32;

    #[inline(always)]
    fn run<const FMA: bool>(self) -> i32 {
        copy_scaled_in(self.values, self.channels, self.planar)
    }
}

#[inline(always)]
fn copy_scaled_in<T: Real>(values: &[f64], channels: usize, planar: &mut [T]) -> i32 {
    let positions = values.len() / channels;
    let exponent = binary_exponent(largest_magnitude(values));
    // One multiplication a value unless 2^-exponent is not a normal number.
    if exponent.abs() > 1000 {
        let scaled = values.iter().map(|&v| times_pow2(v, -exponent));
        transpose_into(scaled, channels, positions, planar);
    } else {
        let factor = times_pow2(1.0, -exponent);
        transpose_into(values.iter().map(|&v| v * factor), channels, positions, planar);
    }
    exponent
}

/// `planar[c · positions + p]` = the value `p · channels + c` of `values`.
#[inline(always)]
fn transpose_into<T: Real>(
    values: impl Iterator<Item = f64>,
    channels: usize,
    positions: usize,
    planar: &mut [T],
) {
    if channels == 1 || positions == 1 {
        planar.iter_mut().zip(values).for_each(|(p, v)| *p = T::of(v));
    } else {
        let mut values = values;
        for p in 0..positions {
            for (c, v) in (0..channels).zip(&mut values) {
                planar[c * positions + p] = T::of(v);
            }
        }
    }
}

/// `max |v|` of finite values, in independent lanes so that it vectorises.
#[inline(always)]
fn largest_magnitude(values: &[f64]) -> f64 {
    let mut lanes = [0.0f64; 8];
    let chunks = values.chunks_exact(8);
    let rest = chunks.remainder().iter().fold(0.0f64, |m, v| m.max(v.abs()));
    for chunk in chunks {
        for (m, v) in lanes.iter_mut().zip(chunk) {
            *m = if v.abs() > *m { v.abs() } else { *m };
        }
    }
    lanes.into_iter().fold(rest, f64::max)
}

impl<T: Real> Sides<T> for Signal<T> {
    fn values(&self) -> (&[T], &[T]) {
        (&self.planar, &self.planar)
    }

    fn observe(&mut self, k: usize, space: &Space, (y, y2): (usize, usize), sigma: &[T]) {
        if y == y2 {
            let d = space.cols.diagonal();
            let at = y * space.width()..y * space.width() + d.len;
            let (row, inverse) = (&mut self.norms[k][at.clone()], &mut self.inverse[k][at]);
            // Σ(x, x)[u, u] ≥ 0: a sum of non-negative terms (filters are ≥ 0).
            for ((n, i), &s) in row.iter_mut().zip(inverse).zip(&sigma[d.start..d.start + d.len]) {
                *n = s.max(T::zero()).sqrt();
                *i = inverse_norm(*n);
            }
        }
    }

    fn norms(&self, k: usize) -> [&[T]; 2] {
        [&self.norms[k], &self.norms[k]]
    }

    fn inverse_norms(&self, k: usize) -> [&[T]; 2] {
        [&self.inverse[k], &self.inverse[k]]
    }

    /// None: the norms are being computed, spread rows must not be kept.
    fn keys(&self) -> [Option<u64>; 2] {
        [None, None]
    }
}

/// For tests of the paths that skip the recursion: each instruction set
/// they run in for precision `T`, with the relative tolerance between two
/// summation orders, and the signals of `x` (one per entry of its first
/// axis).
#[cfg(test)]
pub fn test_cases<T: Real>(x: &ndarray::ArrayD<f64>, norms: &Plan) -> Vec<(Isa, f64, Vec<Signal<T>>)> {
    use crate::simd::Precision;
    let (isas, rtol) = match T::PRECISION {
        Precision::F64 => (vec![Isa::best(), Isa::portable()], 1e-13),
        Precision::F32 => (vec![Isa::best()], 1e-5),
    };
    isas.into_iter()
        .map(|isa| {
            let mut buffers = recursion::Buffers::new(norms).unwrap();
            let s =
                x.axis_iter(ndarray::Axis(0)).map(|v| Signal::new(v, norms, &mut buffers).unwrap()).collect();
            (isa, rtol, s)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::Net;
    use crate::network::plan::Target;

    /// A vector's closed-form norms are the recursion's, bit for bit (both
    /// sum `⟨x, x⟩` in the same order in the same instructions), zero vector
    /// and vectors of one nonzero value included.
    #[test]
    fn vector_norms_are_those_of_the_recursion() {
        let net = Net::fully_connected(4);
        let plan = Plan::new(&net, &[], Target::Norms).unwrap();
        let portable = Plan { isa: Isa::portable(), ..plan.clone() };
        let vectors: Vec<Vec<f64>> = vec![
            (0..37).map(|c| ((c * 7919) % 101) as f64 / 7.0 - 6.0).collect(),
            (0..37).map(|c| 1e-3 * (c as f64).sin()).collect(),
            vec![0.0; 37],
            (0..37).map(|c| if c == 5 { -3.0 } else { 0.0 }).collect(),
        ];
        fn check<T: Real>(plan: &Plan, values: &[f64]) {
            let x = ndarray::ArrayView::from_shape(vec![values.len()], values).unwrap();
            let closed = Signal::<T>::new(x, plan, &mut recursion::Buffers::new(plan).unwrap()).unwrap();
            let zeros = || LayerMaps::zeros([1; 4].into_iter()).unwrap();
            let mut run = Signal { norms: zeros(), inverse: zeros(), ..closed.clone() };
            recursion::run(plan, &mut run, true, false, &mut recursion::Buffers::new(plan).unwrap());
            assert_eq!((&closed.norms, &closed.inverse), (&run.norms, &run.inverse));
            assert!(closed.norms[0][0] > T::zero() || values.iter().all(|&v| v == 0.0));
        }
        for (plan, x) in [&plan, &portable].into_iter().flat_map(|p| vectors.iter().map(move |x| (p, x))) {
            check::<f64>(plan, x);
            check::<f32>(plan, x);
        }
    }
}
