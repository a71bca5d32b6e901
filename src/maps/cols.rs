//! Steps within a row ([`ColOp`]): the patch and pooling steps along the
//! second axis of a map, applied to one row, or to a few rows at once where
//! pooling goes through dense matrices ([`super::pool`]).

use super::basics::{axpy, sum};
use super::pool::dense_pool;
use crate::network::steps::{ColOp, Run, StridedPool};
use crate::simd::{Real, mul_add};

/// Applies a column step to the row `src`, writing all of `out` but the
/// end halos of a [`ColOp::Shift`] (see [`shift_sum`]);
/// `scratch` holds `T::POOL_ROWS · op.scratch()` slots.
#[inline(always)]
pub fn apply_cols<T: Real, const FMA: bool>(op: &ColOp, src: &[T], out: &mut [T], scratch: &mut [T]) {
    match op {
        ColOp::Identity => out.copy_from_slice(&src[..out.len()]),
        ColOp::Shift { first, taps, weight } => match taps {
            2 => shift_sum::<T, 2>(*first, T::of(*weight), src, out),
            3 => shift_sum::<T, 3>(*first, T::of(*weight), src, out),
            4 => shift_sum::<T, 4>(*first, T::of(*weight), src, out),
            5 => shift_sum::<T, 5>(*first, T::of(*weight), src, out),
            _ => unreachable!("ColOp::patch shifts at most 5 taps"),
        },
        ColOp::Runs(list) => runs::<T, FMA>(list, src, out),
        ColOp::Total { out: o, weight } => {
            out.fill(T::zero());
            out[*o] = T::of(*weight) * sum(src);
        }
        ColOp::Strided(pool) => strided::<T, FMA>(pool, src, out),
        ColOp::Dense(pool) => {
            let out_width = out.len();
            dense_pool::<T, FMA, 1>(pool, (src, src.len()), (out, out_width), scratch)
        }
    }
}

/// Applies a column step to each of the rows of `src` (of `width`), into
/// the rows of `out` (of `out_width`): [`DensePool`](crate::network::steps::DensePool) takes up to
/// `T::POOL_ROWS` rows at once, other steps one by one.
#[inline(always)]
pub fn pool_cols<T: Real, const FMA: bool>(
    op: &ColOp,
    (src, width): (&[T], usize),
    (out, out_width): (&mut [T], usize),
    scratch: &mut [T],
) {
    match op {
        // A lone row (1-D signals, the end of a row group) takes cells of one.
        ColOp::Dense(pool) => match (src.len() / width, T::POOL_ROWS) {
            (1, _) => dense_pool::<T, FMA, 1>(pool, (src, width), (out, out_width), scratch),
            (_, 4) => dense_pool::<T, FMA, 4>(pool, (src, width), (out, out_width), scratch),
            (_, 8) => dense_pool::<T, FMA, 8>(pool, (src, width), (out, out_width), scratch),
            _ => unreachable!("POOL_ROWS is 4 or 8"),
        },
        _ => {
            for (src, out) in src.chunks_exact(width).zip(out.chunks_exact_mut(out_width)) {
                apply_cols::<T, FMA>(op, src, out, scratch);
            }
        }
    }
}

/// `out[o] = w Σ_{t < TAPS} src[o + first + t]` where the reads stay in the
/// row. The other slots, halos at the ends of the row, are left as they are:
/// the ReLU step that follows zeroes them, and on rows of a few dozen slots
/// two more calls to `memset` per row cost 3% of a pair (cifar-v).
#[inline(always)]
fn shift_sum<T: Real, const TAPS: usize>(first: isize, w: T, src: &[T], out: &mut [T]) {
    let n = out.len();
    let lo = (-first).max(0) as usize;
    let hi = n - (first + TAPS as isize - 1).max(0) as usize;
    let base = (lo as isize + first) as usize;
    for (o, window) in out[lo..hi].iter_mut().zip(src[base..].windows(TAPS)) {
        let window: &[T; TAPS] = window.try_into().expect("windows of TAPS");
        *o = w * window.iter().skip(1).fold(window[0], |s, &x| s + x);
    }
}

/// Strided runs `out[o + k·s] += w · src[i + k·s']` over a zeroed `out`.
#[inline(always)]
fn runs<T: Real, const FMA: bool>(list: &[Run], src: &[T], out: &mut [T]) {
    out.fill(T::zero());
    for run in list {
        let w = T::of(run.weight);
        match (run.out_step, run.src_step) {
            (1, 1) => {
                axpy::<T, FMA>(w, &src[run.src..run.src + run.len], &mut out[run.out..run.out + run.len])
            }
            (0, 1) => {
                out[run.out] = mul_add::<T, FMA>(w, sum(&src[run.src..run.src + run.len]), out[run.out])
            }
            _ => {
                for k in 0..run.len {
                    let o = run.out + k * run.out_step;
                    out[o] = mul_add::<T, FMA>(w, src[run.src + k * run.src_step], out[o]);
                }
            }
        }
    }
}

/// See [`StridedPool`]: halos zero, each group a sum of strided terms, four
/// at a time.
#[inline(always)]
fn strided<T: Real, const FMA: bool>(pool: &StridedPool, src: &[T], out: &mut [T]) {
    out.fill(T::zero());
    for group in &pool.groups {
        let out = &mut out[group.start..][..group.len];
        for terms in group.terms.chunks(4) {
            match (pool.stride, terms.len()) {
                (1, 4) => strided_terms::<T, FMA, 1, 4>(terms, src, out),
                (2, 4) => strided_terms::<T, FMA, 2, 4>(terms, src, out),
                (1, _) => terms.chunks(1).for_each(|t| strided_terms::<T, FMA, 1, 1>(t, src, out)),
                (2, _) => terms.chunks(1).for_each(|t| strided_terms::<T, FMA, 2, 1>(t, src, out)),
                (t, _) => {
                    for &(first, w) in terms {
                        let w = T::of(w);
                        for (k, o) in out.iter_mut().enumerate() {
                            *o = mul_add::<T, FMA>(w, src[first + t * k], *o);
                        }
                    }
                }
            }
        }
    }
}

/// `out[k] += Σ_i w_i · src[first_i + S k]` over the `N` terms
/// `(first_i, w_i)`, in one pass.
#[inline(always)]
fn strided_terms<T: Real, const FMA: bool, const S: usize, const N: usize>(
    terms: &[(usize, f64)],
    src: &[T],
    out: &mut [T],
) {
    let Some(last) = out.len().checked_sub(1) else { return };
    // Sliced to the reads, so that the loop has no bounds checks.
    let rows: [&[T]; N] = std::array::from_fn(|i| &src[terms[i].0..][..S * last + 1]);
    let weights: [T; N] = std::array::from_fn(|i| T::of(terms[i].1));
    for (k, o) in out.iter_mut().enumerate() {
        *o = (0..N).fold(*o, |acc, i| mul_add::<T, FMA>(weights[i], rows[i][S * k], acc));
    }
}
