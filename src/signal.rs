//! Work that depends on one signal only, done once per signal: a compact
//! copy of its values, its norm maps `N_k[u] = sqrt(Σ_k(x, x)[u, u])` and
//! their inverses.

use std::sync::atomic::{AtomicU64, Ordering};

use ndarray::{ArrayView, IxDyn};

use crate::isa::Isa;
use crate::kappa::inverse_norm;
use crate::maps;
use crate::pair::Workspace;
use crate::plan::{Plan, Space};
use crate::real::{Precision, Real, binary_exponent, times_pow2};
use crate::recursion::{self, Sides};

/// A signal ready to be paired, in the precision of the workspace that made it.
#[derive(Clone, Debug)]
pub enum Signal {
    F64(Parts<f64>),
    F32(Parts<f32>),
}

#[derive(Clone, Debug)]
pub struct Parts<T> {
    /// Channel-planar values: `planar[c · positions + p]`.
    pub planar: Vec<T>,
    /// The norm map of every layer, on that layer's patched grid.
    pub norms: LayerMaps<T>,
    /// Their inverses (`kappa::inverse_norm`).
    pub inverse: LayerMaps<T>,
    /// Unique to this signal (and its clones): see `Sides::keys`.
    pub key: u64,
    /// The values above are the signal's divided by `2^exponent`, which
    /// brings its largest `|value|` into `[1/2, 1)`: maps then neither
    /// overflow nor underflow, in either precision, whatever the scale of the
    /// input. Kernels are homogeneous (`K(a x, b x') = a b K(x, x')`) and
    /// powers of two scale every step exactly, so a pair's values are those
    /// of the unscaled signals times `2^(exponent + exponent')`, bit for bit
    /// wherever those do not leave the range (`Values::scaled`).
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
    pub fn zeros(sizes: impl Iterator<Item = usize>) -> LayerMaps<T> {
        let ends: Vec<usize> = sizes
            .scan(0, |end, size| {
                *end += size;
                Some(*end)
            })
            .collect();
        LayerMaps { values: vec![T::zero(); ends.last().copied().unwrap_or(0)], ends }
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

/// The next `Parts::key`.
static NEXT_KEY: AtomicU64 = AtomicU64::new(0);

impl Signal {
    /// Bytes of a signal of `channels` on the grid of `norm_plan` (for
    /// memory guards): its planar copy, its norm maps and their inverses.
    pub fn bytes_for(norm_plan: &Plan, precision: Precision, channels: usize) -> usize {
        let norms: usize = norm_plan.layers.iter().map(|l| 2 * l.patched.positions()).sum();
        (norm_plan.input.positions() * channels + norms) * precision.bytes()
    }

    /// See `Parts::exponent`.
    pub fn exponent(&self) -> i32 {
        match self {
            Signal::F64(p) => p.exponent,
            Signal::F32(p) => p.exponent,
        }
    }

    /// The parts of a signal made in `f64` (panics otherwise).
    pub fn f64(&self) -> &Parts<f64> {
        match self {
            Signal::F64(p) => p,
            Signal::F32(_) => panic!("a float64 signal expected"),
        }
    }

    /// The parts of a signal made in `f32` (panics otherwise).
    pub fn f32(&self) -> &Parts<f32> {
        match self {
            Signal::F32(p) => p,
            Signal::F64(_) => panic!("a float32 signal expected"),
        }
    }

    /// `x` is one signal, channels last; `norm_plan` is the plan of the
    /// network for `Target::Norms`.
    pub fn new(x: ArrayView<'_, f64, IxDyn>, norm_plan: &Plan, ws: &mut Workspace) -> Signal {
        match ws {
            Workspace::F64(ws) => Signal::F64(Parts::new(x, norm_plan, ws)),
            Workspace::F32(ws) => Signal::F32(Parts::new(x, norm_plan, ws)),
        }
    }
}

impl<T: Real> Parts<T> {
    fn new(x: ArrayView<'_, f64, IxDyn>, plan: &Plan, ws: &mut recursion::Workspace<T>) -> Parts<T> {
        let channels = x.shape()[x.ndim() - 1];
        let mut planar = vec![T::zero(); x.len()];
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
        let mut own = Parts { planar, norms: zeros(), inverse: zeros(), key, exponent };
        if plan.vectors {
            own.vector_norms(plan.isa);
        } else {
            recursion::run(plan, &mut own, true, false, ws);
        }
        own
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
/// channel-planar, divided by `2^exponent` (see `Parts::exponent`), in the
/// instructions of `isa` (it was 8–11% of a call on 64 fc vectors);
/// returns `exponent`.
fn copy_scaled<T: Real>(isa: Isa, values: &[f64], channels: usize, planar: &mut [T]) -> i32 {
    #[cfg(target_arch = "x86_64")]
    if isa.avx2_fma() {
        // SAFETY: `Isa` reports AVX2 and FMA only where the CPU has them.
        return unsafe { copy_scaled_avx2_fma(values, channels, planar) };
    }
    copy_scaled_in(values, channels, planar)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn copy_scaled_avx2_fma<T: Real>(values: &[f64], channels: usize, planar: &mut [T]) -> i32 {
    copy_scaled_in(values, channels, planar)
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

impl<T: Real> Sides<T> for Parts<T> {
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

/// For tests of the paths that skip the recursion: each precision and
/// instruction set they run in, with the relative tolerance between two
/// summation orders, and the signals of `x` (one per entry of its first axis)
/// in that precision.
#[cfg(test)]
pub fn test_cases(
    x: &ndarray::ArrayD<f64>,
    norms: &Plan,
) -> Vec<(Precision, crate::isa::Isa, f64, Vec<Signal>)> {
    use crate::isa::Isa;
    let cases = [
        (Precision::F64, Isa::best(), 1e-13),
        (Precision::F64, Isa::portable(), 1e-13),
        (Precision::F32, Isa::best(), 1e-5),
    ];
    cases
        .into_iter()
        .map(|(precision, isa, rtol)| {
            let mut ws = Workspace::new(norms, precision);
            let s = x.axis_iter(ndarray::Axis(0)).map(|v| Signal::new(v, norms, &mut ws)).collect();
            (precision, isa, rtol, s)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::isa::Isa;
    use crate::net::Net;
    use crate::plan::Target;

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
            let closed = Parts::<T>::new(x, plan, &mut recursion::Workspace::new(plan));
            let zeros = || LayerMaps::zeros([1; 4].into_iter());
            let mut run = Parts { norms: zeros(), inverse: zeros(), ..closed.clone() };
            recursion::run(plan, &mut run, true, false, &mut recursion::Workspace::new(plan));
            assert_eq!((&closed.norms, &closed.inverse), (&run.norms, &run.inverse));
            assert!(closed.norms[0][0] > T::zero() || values.iter().all(|&v| v == 0.0));
        }
        for (plan, x) in [&plan, &portable].into_iter().flat_map(|p| vectors.iter().map(move |x| (p, x))) {
            check::<f64>(plan, x);
            check::<f32>(plan, x);
        }
    }
}
