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

mod draws;
mod forward;
mod geometry;
mod prepared;
mod scalar;
mod sketch;
mod widths;

use std::sync::{Mutex, PoisonError};

use ndarray::{ArrayViewD, ArrayViewMut2, Axis};
use rayon::prelude::*;

pub use draws::{LayerDraws, SketchDraws};
pub use scalar::Scalar;
pub use widths::{widths, widths_on};

use crate::error::{Result, invalid};
use crate::memory::{self, Part};
use crate::network::Net;
use crate::threads::{self, Control};
use forward::BatchBuffers;
use prepared::{Prepared, prepare, sizes};

/// Target of one thread's buffers when the batch is automatic: large
/// enough for products of many rows, small enough for the caches' sake.
const BATCH_MEMORY: usize = 32 << 20;

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
    let buffers =
        memory::mul(batch as u128, (per_image as u128) * size_of::<T>() as u128) + convolvers as u128;
    let draws_bytes: u128 = layers.iter().map(|l| (l.w.len() * size_of::<T>()) as u128).sum();
    memory::guard(&[
        Part {
            what: format!("the buffers of {threads} threads (batches of {batch} images)"),
            bytes: memory::mul(buffers, threads as u128),
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
    // Buffers outlive the tasks: each thread allocates (and first
    // touches) its buffers once per call, whatever rayon's splits.
    let spare: Mutex<Vec<BatchBuffers<T>>> = Mutex::new(Vec::new());
    let take = || spare.lock().unwrap_or_else(PoisonError::into_inner).pop();
    threads::install(|| {
        tasks.into_par_iter().try_for_each(|(index, (ntk, rf))| -> Result<()> {
            let mut ws = match take() {
                Some(ws) => ws,
                None => BatchBuffers::new(&layers, &sizes, batch, want_ntk)?,
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
    ws: &BatchBuffers<T>,
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

#[cfg(test)]
mod tests;
