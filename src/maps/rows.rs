//! Rows of a map combined: the linear steps that act across rows (patch
//! and pooling steps along the first axis), as weighted sums of whole rows.

use super::basics::axpy;
use crate::network::steps::RowShift;
use crate::simd::{Real, mul_add};

/// `Σ_q w_q · src[q]` over the rows `(q, w_q)` of `terms`, where row `q` of
/// `src` starts at `(q − first) · width`; a lone row of weight 1 is
/// returned as it is.
#[inline(always)]
pub fn gather<'a, T: Real, const FMA: bool>(
    terms: &[(usize, f64)],
    src: &'a [T],
    (first, width): (usize, usize),
    out: &'a mut [T],
) -> &'a [T] {
    let row = |q: usize| &src[(q - first) * width..][..width];
    if let [(q, w)] = terms
        && *w == 1.0
    {
        return row(*q);
    }
    let out = &mut out[..width];
    linear_combination::<T, FMA>(terms, row, out);
    out
}

/// `out = Σ w · row(q)` over the terms `(q, w)`, in one pass for up to five.
#[inline(always)]
pub(super) fn linear_combination<'a, T: Real + 'a, const FMA: bool>(
    terms: &[(usize, f64)],
    row: impl Fn(usize) -> &'a [T],
    out: &mut [T],
) {
    match terms {
        [] => out.fill(T::zero()),
        [a] => combine::<T, FMA, 1>([a], row, out),
        [a, b] => combine::<T, FMA, 2>([a, b], row, out),
        [a, b, c] => combine::<T, FMA, 3>([a, b, c], row, out),
        [a, b, c, d] => combine::<T, FMA, 4>([a, b, c, d], row, out),
        [a, b, c, d, e, rest @ ..] => {
            combine::<T, FMA, 5>([a, b, c, d, e], &row, out);
            for &(q, w) in rest {
                axpy::<T, FMA>(T::of(w), row(q), out);
            }
        }
    }
}

/// `out = Σ_i w_i · row(q_i)` over `N` terms `(q_i, w_i)`, in one pass.
#[inline(always)]
fn combine<'a, T: Real, const FMA: bool, const N: usize>(
    terms: [&(usize, f64); N],
    row: impl Fn(usize) -> &'a [T],
    out: &mut [T],
) {
    // (`[_; N]::map` is not inlined.)
    let (mut rows, mut weights): ([&[T]; N], [T; N]) = ([&[]; N], [T::zero(); N]);
    for (i, &&(q, w)) in terms.iter().enumerate() {
        (rows[i], weights[i]) = (&row(q)[..out.len()], T::of(w));
    }
    for (k, o) in out.iter_mut().enumerate() {
        *o = (1..N).fold(weights[0] * rows[0][k], |acc, i| mul_add::<T, FMA>(weights[i], rows[i][k], acc));
    }
}

/// The patch step along the rows of a row group as one pass (`stride` the row
/// width, `src` starting at the first row the first output row reads).
#[inline(always)]
pub fn shift_rows<T: Real>(shift: &RowShift, stride: usize, src: &[T], out: &mut [T]) {
    window_sum(shift.taps, stride, T::of(shift.weight), src, out);
}

/// `out[i] = w Σ_{t < taps} src[i + t · stride]`, one fused pass (sums of
/// up to 5 taps unrolled).
#[inline(always)]
pub fn window_sum<T: Real>(taps: usize, stride: usize, w: T, src: &[T], out: &mut [T]) {
    match taps {
        1 => rows_sum::<T, 1>(stride, w, src, out),
        2 => rows_sum::<T, 2>(stride, w, src, out),
        3 => rows_sum::<T, 3>(stride, w, src, out),
        4 => rows_sum::<T, 4>(stride, w, src, out),
        5 => rows_sum::<T, 5>(stride, w, src, out),
        _ => {
            for (i, o) in out.iter_mut().enumerate() {
                *o = w * (1..taps).fold(src[i], |s, t| s + src[i + t * stride]);
            }
        }
    }
}

#[inline(always)]
fn rows_sum<T: Real, const TAPS: usize>(stride: usize, w: T, src: &[T], out: &mut [T]) {
    let n = out.len();
    let rows: [&[T]; TAPS] = std::array::from_fn(|t| &src[t * stride..][..n]);
    for (i, o) in out.iter_mut().enumerate() {
        *o = w * (1..TAPS).fold(rows[0][i], |s, t| s + rows[t][i]);
    }
}
