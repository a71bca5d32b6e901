//! Pooling of rows whose band is wide, through a dense matrix over
//! positions ([`DensePool`]), for up to `T::POOL_ROWS` rows at once: each
//! cell holds one value of each row, i.e. one SIMD vector, filled and read
//! back by square transposes.

use super::basics::zero_halo;
use super::rows::linear_combination;
use crate::network::steps::DensePool;
use crate::simd::{Real, mul_add};

/// See [`DensePool`]: `M` from the rows, `P = A M` by whole rows, then `Q =
/// P Aᵀ` within them, read back into the output pairs; for the (at most `L
/// ≤ T::POOL_ROWS`) rows of `src` at once, each cell holding `L` values
/// (those of missing rows zero).
#[inline(always)]
pub(super) fn dense_pool<T: Real, const FMA: bool, const L: usize>(
    pool: &DensePool,
    (src, width): (&[T], usize),
    (out, out_width): (&mut [T], usize),
    scratch: &mut [T],
) {
    let (n, m) = (pool.len_in, pool.len_out);
    let rows = src.len() / width;
    debug_assert!(rows <= L && out.len() == rows * out_width);
    let (dense, pooled) = scratch[..L * pool.scratch()].split_at_mut(L * n * n);
    for &c in &pool.blanks {
        dense[L * c as usize..][..L].fill(T::zero());
    }
    for run in &pool.input {
        let cells = &mut dense[L * (run.u * n + run.v)..];
        to_cells::<T, FMA, L>((&src[run.start..], width, rows), run.len, (cells, L * (n + 1)));
    }
    pool_rows::<T, FMA>(&pool.taps, dense, L * n, pooled);
    let q = &mut dense[..L * m * m];
    pool_cells::<T, FMA, L>(&pool.taps, (&pooled[..L * m * n], L * n), (q, L * m));
    let mut end = 0;
    for run in &pool.output {
        for row in out.chunks_exact_mut(out_width) {
            zero_halo(&mut row[end..run.start]);
        }
        end = run.start + run.len;
        let cells = &q[L * (run.u * m + run.v)..];
        from_cells::<T, FMA, L>((cells, L * (m + 1)), run.len, (&mut out[run.start..], out_width, rows));
    }
    for row in out.chunks_exact_mut(out_width) {
        zero_halo(&mut row[end..]);
    }
}

/// `cells[k · step + r] = rows[r · width + k]` for `k < len` and `r < L`,
/// zero for the rows `r ≥ count` that `rows` lacks: a run of slots of each
/// row into evenly spaced cells, by square transposes where whole.
#[inline(always)]
fn to_cells<T: Real, const FMA: bool, const L: usize>(
    (rows, width, count): (&[T], usize, usize),
    len: usize,
    (cells, step): (&mut [T], usize),
) {
    let mut k = 0;
    #[cfg(target_arch = "x86_64")]
    if FMA && count == L && L == crate::simd::lanes::<T>() && len >= L {
        assert!((L - 1) * width + len <= rows.len() && (len - 1) * step + L <= cells.len());
        while k + L <= len {
            // SAFETY: `FMA` is true only in code compiled for AVX2 and FMA,
            // which runs where the CPU has them (see `mul_add`); the vectors
            // read (rows `r < L`, slots `< len`) and written (cells `< len`)
            // lie in the slices (asserted above).
            unsafe { T::transpose(rows.as_ptr().add(k), width, cells.as_mut_ptr().add(k * step), step) };
            k += L;
        }
    }
    for k in k..len {
        for (r, c) in cells[k * step..][..L].iter_mut().enumerate() {
            *c = if r < count { rows[r * width + k] } else { T::zero() };
        }
    }
}

/// `rows[r · width + k] = cells[k · step + r]` for `k < len` and `r <
/// count`: the inverse of `to_cells`.
#[inline(always)]
fn from_cells<T: Real, const FMA: bool, const L: usize>(
    (cells, step): (&[T], usize),
    len: usize,
    (rows, width, count): (&mut [T], usize, usize),
) {
    let mut k = 0;
    #[cfg(target_arch = "x86_64")]
    if FMA && count == L && L == crate::simd::lanes::<T>() && len >= L {
        assert!((len - 1) * step + L <= cells.len() && (L - 1) * width + len <= rows.len());
        while k + L <= len {
            // SAFETY: as in `to_cells`, with the roles swapped.
            unsafe { T::transpose(cells.as_ptr().add(k * step), step, rows.as_mut_ptr().add(k), width) };
            k += L;
        }
    }
    for k in k..len {
        for (r, &c) in cells[k * step..][..count].iter().enumerate() {
            rows[r * width + k] = c;
        }
    }
}

/// `out[o] = Σ_{(x, w) ∈ taps[o]} w · row[x]` over the rows of `rows`
/// (cells of `L` values), into the rows of `out`: `R` rows at once, as one
/// output cell is a chain of dependent multiply-adds.
#[inline(always)]
fn pool_cells<T: Real, const FMA: bool, const L: usize>(
    taps: &[Vec<(usize, f64)>],
    (rows, width): (&[T], usize),
    (out, out_width): (&mut [T], usize),
) {
    const R: usize = 4;
    let whole = rows.len() / width / R * R;
    let (blocks, rest) = rows.split_at(whole * width);
    let (out_blocks, out_rest) = out.split_at_mut(whole * out_width);
    for (rows, out) in blocks.chunks_exact(R * width).zip(out_blocks.chunks_exact_mut(R * out_width)) {
        pool_cells_of::<T, FMA, L, R>(taps, (rows, width), (out, out_width));
    }
    for (rows, out) in rest.chunks_exact(width).zip(out_rest.chunks_exact_mut(out_width)) {
        pool_cells_of::<T, FMA, L, 1>(taps, (rows, width), (out, out_width));
    }
}

/// [`pool_cells`] on `R` rows.
#[inline(always)]
fn pool_cells_of<T: Real, const FMA: bool, const L: usize, const R: usize>(
    taps: &[Vec<(usize, f64)>],
    (rows, width): (&[T], usize),
    (out, out_width): (&mut [T], usize),
) {
    for (o, terms) in taps.iter().enumerate() {
        let mut acc = [[T::zero(); L]; R];
        for &(x, w) in terms {
            let w = T::of(w);
            for (r, acc) in acc.iter_mut().enumerate() {
                let cell = &rows[r * width + x * L..][..L];
                for (a, &c) in acc.iter_mut().zip(cell) {
                    *a = mul_add::<T, FMA>(w, c, *a);
                }
            }
        }
        for (r, acc) in acc.iter().enumerate() {
            out[r * out_width + o * L..][..L].copy_from_slice(acc);
        }
    }
}

/// `out[i] = Σ_{(x, w) ∈ taps[i]} w · rows[x]` for rows of `width`, one
/// pass per output row.
#[inline(always)]
fn pool_rows<T: Real, const FMA: bool>(taps: &[Vec<(usize, f64)>], rows: &[T], width: usize, out: &mut [T]) {
    for (terms, out) in taps.iter().zip(out.chunks_exact_mut(width)) {
        linear_combination::<T, FMA>(terms, |x| &rows[x * width..(x + 1) * width], out);
    }
}
