//! One batch of images through the layers: per layer, the patches of every
//! position as the rows of a matrix, one product with the layer's
//! directions, the ReLU and step features of each row, the TensorSketch of
//! the NTK part, and the pooling of both onto the next grid.

use super::geometry::{AxisPool, OUTSIDE};
use super::prepared::{Prepared, Sizes};
use super::scalar::Scalar;
use super::sketch::Convolver;
use crate::error::Result;
use crate::memory;
use crate::threads::Control;

/// One thread's buffers, sized for its batches by [`Sizes`].
pub struct BatchBuffers<T: Scalar> {
    /// `x_{k−1}` and `τ_{k−1}` of the batch, position-major, channels last.
    x: Vec<T>,
    tau: Vec<T>,
    /// Patches (rows of `dp`), their norms, pre-activations (rows of `h`),
    /// RF features (rows of `m`), NTK sketches (rows of `s`).
    patches: Vec<T>,
    norms: Vec<T>,
    z: Vec<T>,
    r: Vec<T>,
    t: Vec<T>,
    /// Intermediate grids of the separable pooling.
    pooled: Vec<T>,
    /// Count sketches of one row's `f0` and `q`.
    left: Vec<T>,
    right: Vec<T>,
    convolvers: Vec<Option<Convolver<T>>>,
}

impl<T: Scalar> BatchBuffers<T> {
    pub fn new(layers: &[Prepared<T>], sizes: &Sizes, batch: usize, ntk: bool) -> Result<BatchBuffers<T>> {
        let buffer = |per_image: usize| memory::zeroed(per_image.saturating_mul(batch), "feature buffers");
        let convolvers = layers
            .iter()
            .map(|l| match (&l.sketch, ntk) {
                (Some(s), true) => Convolver::new(&s.plans).map(Some),
                _ => Ok(None),
            })
            .collect::<Result<_>>()?;
        Ok(BatchBuffers {
            x: buffer(sizes.x)?,
            tau: buffer(sizes.tau)?,
            patches: buffer(sizes.patches)?,
            norms: buffer(sizes.rows)?,
            z: buffer(sizes.z)?,
            r: buffer(sizes.r)?,
            t: buffer(sizes.t)?,
            pooled: buffer(sizes.pooled)?,
            left: memory::zeroed(sizes.sketch, "feature buffers")?,
            right: memory::zeroed(sizes.sketch, "feature buffers")?,
            convolvers,
        })
    }

    /// The features of the `batch` images whose inputs (`positions ×
    /// channels` each, in order) `input` yields: afterwards `x()` and `tau()`
    /// hold the last layer's `x` and `τ` (the latter when `ntk`).
    pub fn run(
        &mut self,
        layers: &[Prepared<T>],
        batch: usize,
        input: impl Iterator<Item = f64>,
        normalize: bool,
        ntk: bool,
        control: &Control,
    ) -> Result<()> {
        for (dst, v) in self.x.iter_mut().zip(input) {
            *dst = T::of(v);
        }
        for layer in layers {
            control.check()?;
            let rows = batch * layer.geometry.positions;
            self.patches(layer, batch);
            T::gemm(rows, layer.dp, layer.h, &self.patches, &layer.w, &mut self.z);
            self.relu(layer, rows, normalize);
            if ntk {
                self.sketch(layer, batch, normalize);
            }
            let (grids, pools) = (&layer.grids, &layer.geometry.pools);
            pool(&mut self.r, &mut self.pooled, &mut self.x, batch, grids, pools, layer.m);
            if ntk {
                pool(&mut self.t, &mut self.pooled, &mut self.tau, batch, grids, pools, layer.s);
            }
        }
        Ok(())
    }

    pub fn x(&self) -> &[T] {
        &self.x
    }

    pub fn tau(&self) -> &[T] {
        &self.tau
    }

    /// `p[u] = |S|^{-1/2} (x[u + o])_o` for every position of every image,
    /// and `‖p[u]‖`.
    fn patches(&mut self, layer: &Prepared<T>, batch: usize) {
        let g = &layer.geometry;
        let (cx, scale) = (layer.channels_x, T::of(1.0 / (g.taps as f64).sqrt()));
        for image in 0..batch {
            let x = &self.x[image * g.positions_in * cx..][..g.positions_in * cx];
            for u in 0..g.positions {
                let row = image * g.positions + u;
                let p = &mut self.patches[row * layer.dp..][..layer.dp];
                let mut sq = T::zero();
                for (j, &src) in g.sources[u * g.taps..][..g.taps].iter().enumerate() {
                    let dst = &mut p[j * cx..][..cx];
                    if src == OUTSIDE {
                        dst.fill(T::zero());
                    } else {
                        for (d, &v) in dst.iter_mut().zip(&x[src as usize * cx..][..cx]) {
                            *d = v * scale;
                            sq += *d * *d;
                        }
                    }
                }
                self.norms[row] = sq.sqrt();
            }
        }
    }

    /// `r = sqrt(2/m) relu(±z)`, rescaled to `‖p‖` when `normalize`.
    fn relu(&mut self, layer: &Prepared<T>, rows: usize, normalize: bool) {
        let (h, m) = (layer.h, layer.m);
        let c = T::of((2.0 / m as f64).sqrt());
        for row in 0..rows {
            let z = &self.z[row * h..][..h];
            let r = &mut self.r[row * m..][..m];
            let mut sq = T::zero();
            for (a, f) in r.iter_mut().enumerate() {
                let v = if a < h { z[a] } else { -z[a - h] };
                *f = c * v.max(T::zero());
                sq += *f * *f;
            }
            if normalize {
                rescale(r, sq.sqrt(), self.norms[row]);
            }
        }
    }

    /// `t = TensorSketch(f0 ⊗ q)` of every position, rescaled to
    /// `‖f0‖ ‖q‖` when `normalize`.
    fn sketch(&mut self, layer: &Prepared<T>, batch: usize, normalize: bool) {
        let sketch = layer.sketch.as_ref().expect("NTK features have sketches at every layer");
        let convolver = self.convolvers[layer.index].as_mut().expect("a convolver per sketch");
        let g = &layer.geometry;
        let (h, m, s) = (layer.h, layer.m, layer.s);
        let (cx, ct) = (layer.channels_x, layer.channels_tau);
        let cy = cx + ct;
        let c = T::of((2.0 / m as f64).sqrt());
        let scale = T::of(1.0 / (g.taps as f64).sqrt());
        let (left, right) = (&mut self.left[..s], &mut self.right[..s]);
        for image in 0..batch {
            let x = &self.x[image * g.positions_in * cx..][..g.positions_in * cx];
            let tau = &self.tau[image * g.positions_in * ct..][..g.positions_in * ct];
            for u in 0..g.positions {
                let row = image * g.positions + u;
                // Count sketch of f0 = sqrt(2/m) step(±z).
                left.fill(T::zero());
                let z = &self.z[row * h..][..h];
                let mut active = 0usize;
                for a in 0..m {
                    let v = if a < h { z[a] } else { -z[a - h] };
                    if v > T::zero() {
                        left[sketch.bucket1[a] as usize] += sketch.sign1[a];
                        active += 1;
                    }
                }
                for v in left.iter_mut() {
                    *v *= c;
                }
                // Count sketch of q, the patch of y = (τ, x), read in place.
                right.fill(T::zero());
                let mut sq = T::zero();
                for (j, &src) in g.sources[u * g.taps..][..g.taps].iter().enumerate() {
                    if src == OUTSIDE {
                        continue;
                    }
                    let src = src as usize;
                    let channels = tau[src * ct..][..ct].iter().chain(&x[src * cx..][..cx]);
                    for (b, &v) in (j * cy..).zip(channels) {
                        let v = v * scale;
                        right[sketch.bucket2[b] as usize] += sketch.sign2[b] * v;
                        sq += v * v;
                    }
                }
                let t = &mut self.t[row * s..][..s];
                convolver.convolve(left, right, t);
                if normalize {
                    let norm: T = t.iter().map(|&v| v * v).fold(T::zero(), |a, b| a + b).sqrt();
                    rescale(t, norm, c * T::of(active as f64).sqrt() * sq.sqrt());
                }
            }
        }
    }
}

/// `f ← f · target / norm`, zero where `norm` is zero.
fn rescale<T: Scalar>(f: &mut [T], norm: T, target: T) {
    let factor = if norm > T::zero() { target / norm } else { T::zero() };
    for v in f {
        *v *= factor;
    }
}

/// Pools `src` (`batch` images on the patch grid `grids`, `ch` channels per
/// position) axis by axis into `dst`; `src` and `tmp` are overwritten.
fn pool<T: Scalar>(
    src: &mut [T],
    tmp: &mut [T],
    dst: &mut [T],
    batch: usize,
    grids: &[usize],
    pools: &[AxisPool],
    ch: usize,
) {
    let mut shape = grids.to_vec();
    let (mut from, mut to) = (src, tmp);
    for (axis, pool) in pools.iter().enumerate() {
        if pool.is_identity() {
            continue;
        }
        let outer = batch * shape[..axis].iter().product::<usize>();
        let inner = shape[axis + 1..].iter().product::<usize>() * ch;
        let (len_in, len_out) = (pool.len_in, pool.rows.len());
        for o in 0..outer {
            let input = &from[o * len_in * inner..][..len_in * inner];
            let output = &mut to[o * len_out * inner..][..len_out * inner];
            for (i, row) in pool.rows.iter().enumerate() {
                let out = &mut output[i * inner..][..inner];
                out.fill(T::zero());
                for &(j, w) in row {
                    let w = T::of(w);
                    for (d, &v) in out.iter_mut().zip(&input[j * inner..][..inner]) {
                        *d += w * v;
                    }
                }
            }
        }
        shape[axis] = len_out;
        std::mem::swap(&mut from, &mut to);
    }
    let len = batch * shape.iter().product::<usize>() * ch;
    dst[..len].copy_from_slice(&from[..len]);
}
