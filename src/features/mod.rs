//! The second engine: random feature maps `Φ_D(x)` whose inner products
//! approach the NTK and RF kernels (`docs/features.md`).
//!
//! Bietti & Mairal (2019) write the kernel as `⟨Φ(x), Φ(x')⟩` with
//! `x_k = A φ1(P x_{k−1})` and `y_k = A (φ0(P x_{k−1}) ⊗ P y_{k−1}, x_k)`.
//! Here φ1 and φ0 become arc-cosine random features of the patches (Cho &
//! Saul 2009; antithetic orthogonal directions, Yu et al. 2016), the tensor
//! product a TensorSketch (Pham & Pagh 2013), and the patches and pooling
//! stay exact. The draws come from the caller (Python draws them from a
//! seed), so this engine is a deterministic function of the draws.
//!
//! Unlike the Gram engine, whose unit is a pair of signals, the unit here
//! is a batch of images, and the hot path is one dense product per layer
//! and batch ([`scalar::Scalar::gemm`]). Each batch runs on one thread from
//! start to end, so features do not depend on the thread count or on how
//! the images are batched.

mod forward;
mod geometry;
mod scalar;
mod sketch;
mod widths;

use std::sync::{Mutex, PoisonError};

use ndarray::{ArrayView2, ArrayViewD, ArrayViewMut2, Axis};
use rayon::prelude::*;
use realfft::RealFftPlanner;

pub use scalar::Scalar;
pub use widths::widths;

use crate::error::{Error, Result, invalid};
use crate::memory::{self, Part};
use crate::network::Net;
use crate::threads::{self, Control};
use forward::Workspace;
use geometry::Geometry;
use sketch::Plans;

/// The random draws of one layer (see `docs/features.md` for the formulas).
#[derive(Clone, Debug)]
pub struct LayerDraws<'a> {
    /// Directions `W` (`|S| c_x × ceil(m/2)`): features `relu(±Wᵀp)`.
    pub w: ArrayView2<'a, f64>,
    /// RF features per position.
    pub m: usize,
    /// The TensorSketch of the NTK part; None for RF features only.
    pub sketch: Option<SketchDraws<'a>>,
}

/// Count sketches of `f0` (`m` entries) and `q` (`|S| (c_τ + c_x)`) into
/// `size` buckets, with their signs.
#[derive(Clone, Debug)]
pub struct SketchDraws<'a> {
    pub size: usize,
    pub bucket1: &'a [i64],
    pub sign1: &'a [f64],
    pub bucket2: &'a [i64],
    pub sign2: &'a [f64],
}

/// Target of one thread's buffers when the batch is automatic: large
/// enough for products of many rows, small enough for the caches' sake.
const BATCH_MEMORY: usize = 32 << 20;

/// A layer's draws converted to the precision, with its geometry.
pub struct Prepared<T: Scalar> {
    index: usize,
    geometry: Geometry,
    /// The patch grid (where the features are computed).
    grids: Vec<usize>,
    channels_x: usize,
    channels_tau: usize,
    dp: usize,
    h: usize,
    m: usize,
    s: usize,
    w: Vec<T>,
    sketch: Option<PreparedSketch<T>>,
}

struct PreparedSketch<T: Scalar> {
    bucket1: Vec<u32>,
    sign1: Vec<T>,
    bucket2: Vec<u32>,
    sign2: Vec<T>,
    plans: Plans<T>,
}

/// Scalars per image of each buffer of [`Workspace`] (the maximum over the
/// layers), and of one row's sketch.
#[derive(Debug, Default)]
pub struct Sizes {
    x: usize,
    tau: usize,
    patches: usize,
    rows: usize,
    z: usize,
    r: usize,
    t: usize,
    pooled: usize,
    sketch: usize,
}

impl Sizes {
    fn per_image(&self) -> usize {
        [self.x, self.tau, self.patches, self.rows, self.z, self.r, self.t, self.pooled]
            .into_iter()
            .fold(0, usize::saturating_add)
    }
}

/// The lengths of a signal's NTK and RF features: `P_f (s_K + m_K)` and
/// `P_f m_K`, `P_f` positions on the final grid.
pub fn feature_dims(net: &Net, grid: &[usize], widths: &[(usize, usize)]) -> Result<(usize, usize)> {
    let grids = net.grids(grid)?;
    let positions: usize = grids.last().expect("a network has layers").pooled.iter().product();
    let &(m, s) = widths.last().ok_or_else(|| invalid!("widths: one per layer"))?;
    let mul = |a: usize, b: usize| a.checked_mul(b).ok_or_else(|| invalid!("dim: too large"));
    Ok((mul(positions, m + s)?, mul(positions, m)?))
}

/// Writes the NTK features of the signals `x` (`n × grid × channels`) into
/// `ntk` and their RF features into `rf` (either may be None), in
/// precision `T`, in batches of `batch` images (0: automatic).
#[allow(clippy::too_many_arguments)]
pub fn features_into<T: Scalar>(
    net: &Net,
    x: ArrayViewD<'_, f64>,
    draws: &[LayerDraws<'_>],
    normalize: bool,
    ntk: Option<ArrayViewMut2<'_, T>>,
    rf: Option<ArrayViewMut2<'_, T>>,
    batch: usize,
    control: &Control,
) -> Result<()> {
    if x.ndim() < 2 {
        return Err(invalid!("X: expected signals (n, *grid, channels), got shape {:?}", x.shape()));
    }
    let (n, grid, channels) = (x.shape()[0], &x.shape()[1..x.ndim() - 1], x.shape()[x.ndim() - 1]);
    let want_ntk = ntk.is_some();
    if !want_ntk && rf.is_none() {
        return Err(invalid!("kind: nothing to compute"));
    }
    let layers = prepare::<T>(net, grid, channels, draws, want_ntk, control)?;
    let widths: Vec<(usize, usize)> = layers.iter().map(|l| (l.m, l.s)).collect();
    let (ntk_dim, rf_dim) = feature_dims(net, grid, &widths)?;
    for (out, dim, name) in [(&ntk, ntk_dim, "ntk"), (&rf, rf_dim, "rf")] {
        if let Some(out) = out
            && out.dim() != (n, dim)
        {
            return Err(invalid!("out ({name}): expected shape ({n}, {dim}), got {:?}", out.dim()));
        }
    }
    let sizes = sizes(&layers, want_ntk);
    let threads = threads::current()?;
    let per_image = sizes.per_image().max(1);
    let batch = match batch {
        0 => (BATCH_MEMORY / size_of::<T>() / per_image).clamp(1, n.div_ceil(threads).max(1)),
        b => b,
    };
    let convolvers: usize =
        layers.iter().filter_map(|l| l.sketch.as_ref()).map(|s| s.plans.convolver_bytes()).sum();
    let workspace = memory::mul(batch as u128, (per_image * size_of::<T>()) as u128) + convolvers as u128;
    let draws_bytes: u128 = layers.iter().map(|l| (l.w.len() * size_of::<T>()) as u128).sum();
    memory::guard(&[
        Part {
            what: format!("the buffers of {threads} threads (batches of {batch} images)"),
            bytes: memory::mul(workspace, threads as u128),
            advice: "pass a smaller batch, or use fewer threads (ntk_rs.set_num_threads)",
        },
        Part { what: "the random directions".into(), bytes: draws_bytes, advice: "use a smaller dim" },
    ])?;
    if n == 0 {
        return Ok(());
    }
    let x = x.as_standard_layout();
    let signal = x.len() / n;
    let (ntk_chunks, rf_chunks) = (batches(ntk, n, batch), batches(rf, n, batch));
    let tasks: Vec<_> = ntk_chunks.into_iter().zip(rf_chunks).enumerate().collect();
    let last = layers.last().expect("a network has layers");
    let x = x.as_slice().expect("standard layout");
    // Workspaces outlive the tasks: each thread allocates (and first
    // touches) its buffers once per call, whatever rayon's splits.
    let spare: Mutex<Vec<Workspace<T>>> = Mutex::new(Vec::new());
    let take = || spare.lock().unwrap_or_else(PoisonError::into_inner).pop();
    threads::install(|| {
        tasks.into_par_iter().try_for_each(|(index, (ntk, rf))| -> Result<()> {
            let mut ws = match take() {
                Some(ws) => ws,
                None => Workspace::new(&layers, &sizes, batch, want_ntk)?,
            };
            let start = index * batch;
            let count = batch.min(n - start);
            let input = x[start * signal..(start + count) * signal].iter().copied();
            ws.run(&layers, count, input, normalize, want_ntk, control)?;
            write(&ws, last, count, ntk, rf);
            spare.lock().unwrap_or_else(PoisonError::into_inner).push(ws);
            control.advance(count as u64);
            Ok(())
        })
    })
}

/// `out` cut into row blocks of `batch` (as many Nones when `out` is None).
fn batches<T>(
    out: Option<ArrayViewMut2<'_, T>>,
    n: usize,
    batch: usize,
) -> Vec<Option<ArrayViewMut2<'_, T>>> {
    let Some(mut rest) = out else { return (0..n.div_ceil(batch)).map(|_| None).collect() };
    let mut blocks = Vec::with_capacity(n.div_ceil(batch));
    while rest.nrows() > batch {
        let (block, tail) = rest.split_at(Axis(0), batch);
        blocks.push(Some(block));
        rest = tail;
    }
    blocks.push(Some(rest));
    blocks
}

/// Copies the last layer's features of a batch into its rows of the outputs:
/// per final position, `(τ, x)` for the NTK and `x` for the RF kernel.
fn write<T: Scalar>(
    ws: &Workspace<T>,
    last: &Prepared<T>,
    count: usize,
    ntk: Option<ArrayViewMut2<'_, T>>,
    rf: Option<ArrayViewMut2<'_, T>>,
) {
    let positions = last.geometry.positions_out;
    let (m, s) = (last.m, last.s);
    let xs = &ws.x()[..count * positions * m];
    if let Some(mut out) = rf {
        for (mut row, x) in out.rows_mut().into_iter().zip(xs.chunks_exact(positions * m)) {
            row.iter_mut().zip(x).for_each(|(d, &v)| *d = v);
        }
    }
    if let Some(mut out) = ntk {
        let taus = &ws.tau()[..count * positions * s];
        let rows = xs.chunks_exact(positions * m).zip(taus.chunks_exact(positions * s));
        for (mut row, (x, tau)) in out.rows_mut().into_iter().zip(rows) {
            let per_position =
                tau.chunks_exact(s).zip(x.chunks_exact(m)).flat_map(|(t, x)| t.iter().chain(x));
            row.iter_mut().zip(per_position).for_each(|(d, &v)| *d = v);
        }
    }
}

/// Checks the draws against the network and the input, and converts them.
fn prepare<T: Scalar>(
    net: &Net,
    grid: &[usize],
    channels: usize,
    draws: &[LayerDraws<'_>],
    ntk: bool,
    control: &Control,
) -> Result<Vec<Prepared<T>>> {
    let grids = net.grids(grid)?;
    if draws.len() != grids.len() {
        return Err(invalid!("draws: {} layers for a network of {}", draws.len(), grids.len()));
    }
    let mut planner = RealFftPlanner::<T>::new();
    let (mut cx, mut ct) = (channels, 0usize);
    let mut out = Vec::with_capacity(draws.len());
    for (k, ((layer, grids), d)) in net.layers().iter().zip(&grids).zip(draws).enumerate() {
        control.check()?;
        let geometry = Geometry::new(layer, grids)?;
        let dp = geometry.taps.checked_mul(cx).ok_or_else(|| invalid!("layer {k}: patches too large"))?;
        let h = d.m.div_ceil(2);
        if d.m == 0 || d.w.dim() != (dp, h) {
            return Err(invalid!(
                "draws: layer {k} needs m >= 1 and directions of shape ({dp}, {h}), got m = {} and {:?}",
                d.m,
                d.w.dim()
            ));
        }
        let mut w = memory::filled(dp * h, T::zero(), "the random directions")?;
        w.iter_mut().zip(d.w.iter()).for_each(|(dst, &v)| *dst = T::of(v));
        let sketch = match (&d.sketch, ntk) {
            (Some(sk), true) => Some(prepare_sketch(k, sk, d.m, geometry.taps * (cx + ct), &mut planner)?),
            (None, true) => return Err(invalid!("draws: layer {k} has no sketch, which NTK features need")),
            (_, false) => None,
        };
        let s = match (&sketch, &d.sketch) {
            (Some(_), Some(sk)) => sk.size,
            _ => 0,
        };
        out.push(Prepared {
            index: k,
            geometry,
            grids: grids.patched.clone(),
            channels_x: cx,
            channels_tau: ct,
            dp,
            h,
            m: d.m,
            s,
            w,
            sketch,
        });
        (cx, ct) = (d.m, s);
    }
    Ok(out)
}

fn prepare_sketch<T: Scalar>(
    k: usize,
    sk: &SketchDraws<'_>,
    m: usize,
    dq: usize,
    planner: &mut RealFftPlanner<T>,
) -> Result<PreparedSketch<T>> {
    let bad = |what: &str| -> Error { invalid!("draws: layer {k}'s sketch: {what}") };
    if sk.size == 0 {
        return Err(bad("its size must be >= 1"));
    }
    if sk.bucket1.len() != m || sk.sign1.len() != m || sk.bucket2.len() != dq || sk.sign2.len() != dq {
        return Err(bad(&format!(
            "expected {m} buckets and signs of f0 and {dq} of q, got {}, {}, {}, {}",
            sk.bucket1.len(),
            sk.sign1.len(),
            sk.bucket2.len(),
            sk.sign2.len()
        )));
    }
    let buckets = |b: &[i64]| -> Result<Vec<u32>> {
        b.iter()
            .map(|&v| {
                (0..sk.size as i64)
                    .contains(&v)
                    .then_some(v as u32)
                    .ok_or_else(|| bad(&format!("bucket {v} outside 0..{}", sk.size)))
            })
            .collect()
    };
    let signs = |s: &[f64]| -> Result<Vec<T>> {
        s.iter()
            .map(|&v| if v.is_finite() { Ok(T::of(v)) } else { Err(bad("signs must be finite")) })
            .collect()
    };
    Ok(PreparedSketch {
        bucket1: buckets(sk.bucket1)?,
        sign1: signs(sk.sign1)?,
        bucket2: buckets(sk.bucket2)?,
        sign2: signs(sk.sign2)?,
        plans: Plans::new(planner, sk.size),
    })
}

/// The per-image sizes of the buffers (see [`Sizes`]).
fn sizes<T: Scalar>(layers: &[Prepared<T>], ntk: bool) -> Sizes {
    let mut z = Sizes::default();
    for l in layers {
        let g = &l.geometry;
        let (pin, p, pout) = (g.positions_in, g.positions, g.positions_out);
        let s = if ntk { l.s } else { 0 };
        // Saturating: sizes that large are refused by the memory guard.
        let mul = usize::saturating_mul;
        z.x = z.x.max(mul(pin, l.channels_x)).max(mul(pout, l.m));
        z.tau = z.tau.max(mul(pin, l.channels_tau)).max(mul(pout, s));
        z.patches = z.patches.max(mul(p, l.dp));
        z.rows = z.rows.max(p);
        z.z = z.z.max(mul(p, l.h));
        z.r = z.r.max(mul(p, l.m));
        z.t = z.t.max(mul(p, s));
        z.pooled = z.pooled.max(mul(p, l.m.max(s)));
        z.sketch = z.sketch.max(s);
    }
    z
}

#[cfg(test)]
mod tests;
