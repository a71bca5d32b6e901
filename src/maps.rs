//! Operations on one pair map stored over a `Space`: the layer-1 inner
//! products, the separable linear steps, and the pointwise ReLU step.

use crate::axis::AxisOp;
use crate::kappa::relu_step;
use crate::plan::{Space, Step};

/// `G₀[u, u'] = ⟨x[u], x'[u']⟩` for every stored pair; `x` and `y` are
/// channel-planar (`values[c · positions + p]`) on the grid of `space`.
pub fn inner_products(space: &Space, x: &[f64], y: &[f64], out: &mut [f64]) {
    let (positions, width) = (space.positions(), space.width());
    let channels = x.len() / positions;
    debug_assert_eq!(x.len(), y.len());
    let cols = space.cols.size();
    let out = &mut out[..space.size()];
    out.fill(0.0);
    for (r, &(py, qy)) in space.rows.pairs().iter().enumerate() {
        let row = &mut out[r * cols..(r + 1) * cols];
        for run in space.cols.position_runs() {
            let dst = &mut row[run.start..run.start + run.len];
            for c in 0..channels {
                let a = &x[c * positions + py * width + run.u..][..run.len];
                let b = &y[c * positions + qy * width + run.v..][..run.len];
                for ((d, &a), &b) in dst.iter_mut().zip(a).zip(b) {
                    *d += a * b;
                }
            }
        }
    }
}

/// Applies `step` to the map in `map` (stored over `from`), leaving the
/// result (stored over `to`) in `map`; `scratch` is overwritten.
pub fn apply(step: &Step, from: &Space, to: &Space, map: &mut Vec<f64>, scratch: &mut Vec<f64>) {
    let cols_in = from.cols.size();
    if !step.rows.is_identity() {
        along_rows(&step.rows, &map[..from.size()], &mut scratch[..to.rows.size() * cols_in], cols_in);
        std::mem::swap(map, scratch);
    }
    if !step.cols.is_identity() {
        let rows = to.rows.size();
        let cols_out = to.cols.size();
        along_cols(&step.cols, &map[..rows * cols_in], &mut scratch[..rows * cols_out], cols_in, cols_out);
        std::mem::swap(map, scratch);
    }
}

/// Each output row is a weighted sum of whole input rows.
fn along_rows(op: &AxisOp, src: &[f64], dst: &mut [f64], cols: usize) {
    dst.fill(0.0);
    for run in op.runs() {
        for k in 0..run.len {
            let o = (run.out + k * run.out_step) * cols;
            let s = (run.src + k * run.src_step) * cols;
            axpy(run.weight, &src[s..s + cols], &mut dst[o..o + cols]);
        }
    }
}

/// Within each row, outputs are strided sums of inputs.
fn along_cols(op: &AxisOp, src: &[f64], dst: &mut [f64], cols_in: usize, cols_out: usize) {
    dst.fill(0.0);
    for (s, d) in src.chunks_exact(cols_in).zip(dst.chunks_exact_mut(cols_out)) {
        for run in op.runs() {
            if run.out_step == 1 && run.src_step == 1 {
                axpy(run.weight, &s[run.src..run.src + run.len], &mut d[run.out..run.out + run.len]);
            } else {
                for k in 0..run.len {
                    d[run.out + k * run.out_step] += run.weight * s[run.src + k * run.src_step];
                }
            }
        }
    }
}

#[inline]
fn axpy(w: f64, x: &[f64], y: &mut [f64]) {
    for (y, &x) in y.iter_mut().zip(x) {
        *y += w * x;
    }
}

/// Where the tangent (NTK) map of the ReLU step comes from.
pub enum Tangent<'a> {
    /// Only the RF map is wanted.
    Skip,
    /// Γ equals Σ (first layer): write `B0 ⊙ Σ + B1` into the buffer.
    FromSigma(&'a mut [f64]),
    /// The buffer holds Γ; replace it with `B0 ⊙ Γ + B1`.
    Gamma(&'a mut [f64]),
}

/// The ReLU step over a map (SPEC §2): `sigma` holds Σ and becomes B1; the
/// tangent map is updated as `tangent` says. `na`, `nb` are the norm maps of
/// the two signals on the grid of `space`; `same_signal` marks a signal
/// paired with itself, whose diagonal has `c = 1` exactly.
pub fn relu(
    space: &Space,
    na: &[f64],
    nb: &[f64],
    same_signal: bool,
    sigma: &mut [f64],
    mut tangent: Tangent<'_>,
) {
    let (cols, width) = (space.cols.size(), space.width());
    for (r, &(py, qy)) in space.rows.pairs().iter().enumerate() {
        for run in space.cols.position_runs() {
            let at = r * cols + run.start;
            let a = &na[py * width + run.u..][..run.len];
            let b = &nb[qy * width + run.v..][..run.len];
            let diagonal = same_signal && py == qy && run.u == run.v;
            let s = &mut sigma[at..at + run.len];
            match &mut tangent {
                Tangent::Skip => {
                    for ((s, &a), &b) in s.iter_mut().zip(a).zip(b) {
                        *s = relu_step(*s, a * b, diagonal).0;
                    }
                }
                Tangent::FromSigma(t) => {
                    for (((s, t), &a), &b) in s.iter_mut().zip(&mut t[at..at + run.len]).zip(a).zip(b) {
                        let (b1, b0) = relu_step(*s, a * b, diagonal);
                        *t = b0 * *s + b1;
                        *s = b1;
                    }
                }
                Tangent::Gamma(t) => {
                    for (((s, t), &a), &b) in s.iter_mut().zip(&mut t[at..at + run.len]).zip(a).zip(b) {
                        let (b1, b0) = relu_step(*s, a * b, diagonal);
                        *t = b0 * *t + b1;
                        *s = b1;
                    }
                }
            }
        }
    }
}

/// The diagonal `m[u, u]` of a map, as a map over the positions of its grid.
pub fn diagonal(space: &Space, map: &[f64], out: &mut [f64]) {
    let (cols, width) = (space.cols.size(), space.width());
    for y in 0..space.rows.len() {
        let r = space.rows.locate(y, y).expect("every map stores its diagonal");
        for x in 0..width {
            let c = space.cols.locate(x, x).expect("every map stores its diagonal");
            out[y * width + x] = map[r * cols + c];
        }
    }
}
