//! Operations on rows of pair maps: the layer-1 inner products, the linear
//! steps (rows combined, columns within a row) and sums.
//! Written as plain loops over slices that the compiler vectorises; all are
//! `inline(always)` so that they are compiled into the recursion's AVX2
//! copy as well as its portable one (see `isa`).

use crate::axis::{AxisPairs, ColOp, DensePool, RowShift, Run, StridedPool};
use crate::isa::Isa;
use crate::real::{Real, mul_add};

/// Row `(y, y')` of `G₀[u, u'] = ⟨x[u], x'[u']⟩` over the column pairs
/// `cols`; `a`, `b` are channel-planar (`values[c · positions + p]`).
#[inline(always)]
pub fn inner_products<T: Real, const FMA: bool>(
    cols: &AxisPairs,
    positions: usize,
    (a, b): (&[T], &[T]),
    (y, y2): (usize, usize),
    out: &mut [T],
) {
    let width = cols.len();
    let channels = a.len() / positions;
    if positions == 1 {
        // Vectors: one pair, channels contiguous.
        out.fill(T::zero());
        out[cols.diagonal().start] = dot::<T, FMA>(a, b);
        return;
    }
    // Runs in slot order; the slots between them (halos) are zero.
    let mut end = 0;
    for run in cols.position_runs() {
        zero_halo(&mut out[end..run.start]);
        end = run.start + run.len;
        let dst = &mut out[run.start..end];
        for c in 0..channels {
            let a = &a[c * positions + y * width + run.u..][..run.len];
            let b = &b[c * positions + y2 * width + run.v..][..run.len];
            for ((d, &a), &b) in dst.iter_mut().zip(a).zip(b) {
                *d = if c == 0 { a * b } else { mul_add::<T, FMA>(a, b, *d) };
            }
        }
    }
    zero_halo(&mut out[end..]);
}

/// The row of `inner_products` from the input channels spread along it
/// (`row(c)` is channel `c` of both signals, see `spread`): one pass over
/// the whole row per four channels.
#[inline(always)]
pub fn spread_products<'a, T: Real + 'a, const FMA: bool>(
    channels: usize,
    row: impl Fn(usize) -> [&'a [T]; 2],
    out: &mut [T],
) {
    for first in (0..channels).step_by(4) {
        let add = first > 0;
        match channels - first {
            1 => products::<T, FMA, 1>(first, add, &row, out),
            2 => products::<T, FMA, 2>(first, add, &row, out),
            3 => products::<T, FMA, 3>(first, add, &row, out),
            _ => products::<T, FMA, 4>(first, add, &row, out),
        }
    }
}

/// `out (+)= Σ_{c < N} a_c b_c` over the channels `first..first + N`.
#[inline(always)]
fn products<'a, T: Real + 'a, const FMA: bool, const N: usize>(
    first: usize,
    add: bool,
    row: impl Fn(usize) -> [&'a [T]; 2],
    out: &mut [T],
) {
    let (mut a, mut b): ([&[T]; N], [&[T]; N]) = ([&[]; N], [&[]; N]);
    for c in 0..N {
        [a[c], b[c]] = row(first + c).map(|v| &v[..out.len()]);
    }
    let rest = |k: usize, acc: T| (1..N).fold(acc, |acc, c| mul_add::<T, FMA>(a[c][k], b[c][k], acc));
    if add {
        for (k, o) in out.iter_mut().enumerate() {
            *o = rest(k, mul_add::<T, FMA>(a[0][k], b[0][k], *o));
        }
    } else {
        for (k, o) in out.iter_mut().enumerate() {
            *o = rest(k, a[0][k] * b[0][k]);
        }
    }
}

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
fn linear_combination<'a, T: Real + 'a, const FMA: bool>(
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

/// Sets a row's halo to zero: a few slots, where a call to `memset` (what
/// the compiler makes of `fill`) would cost more than the stores (4% of
/// cifar-v in `f32`).
#[inline(always)]
pub fn zero_halo<T: Real>(halo: &mut [T]) {
    if halo.len() > 16 {
        return halo.fill(T::zero());
    }
    for v in halo {
        // SAFETY: `v` is a valid, aligned `&mut T`. Volatile only keeps the
        // loop from being turned back into a call to `memset`.
        unsafe { std::ptr::write_volatile(v, T::zero()) };
    }
}

/// `y += w · x`.
#[inline(always)]
pub fn axpy<T: Real, const FMA: bool>(w: T, x: &[T], y: &mut [T]) {
    for (y, &x) in y.iter_mut().zip(x) {
        *y = mul_add::<T, FMA>(w, x, *y);
    }
}

/// Applies a column step to the row `src`, writing all of `out` but the
/// end halos of a `Shift` (see `shift_sum`);
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
/// the rows of `out` (of `out_width`): `DensePool` takes up to
/// `T::POOL_ROWS` rows at once, other steps one by one.
#[inline(always)]
pub fn pool_cols<T: Real, const FMA: bool>(
    op: &ColOp,
    (src, width): (&[T], usize),
    (out, out_width): (&mut [T], usize),
    scratch: &mut [T],
) {
    match op {
        // A lone row (1-D signals, the end of a tile) takes cells of one.
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

/// See `DensePool`: `M` from the rows, `P = A M` by whole rows, then `Q =
/// P Aᵀ` within them, read back into the output pairs; for the (at most `L
/// ≤ T::POOL_ROWS`) rows of `src` at once, each cell holding `L` values
/// (those of missing rows zero).
#[inline(always)]
fn dense_pool<T: Real, const FMA: bool, const L: usize>(
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

/// `pool_cells` on `R` rows.
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

/// The patch step along the rows of a tile as one pass (`stride` the row
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

/// See `StridedPool`: halos zero, each group a sum of strided terms, four
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

/// `⟨a, b⟩` (see `dot`) in the instructions of `isa`.
pub fn dot_for<T: Real>(isa: Isa, a: &[T], b: &[T]) -> T {
    #[cfg(target_arch = "x86_64")]
    if isa.avx2_fma() {
        // SAFETY: `Isa` reports AVX2 and FMA only where the CPU has them.
        return unsafe { dot_avx2_fma(a, b) };
    }
    dot::<T, false>(a, b)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn dot_avx2_fma<T: Real>(a: &[T], b: &[T]) -> T {
    dot::<T, true>(a, b)
}

/// `Σ a b` with 32 partial sums, so that it vectorises with several
/// independent chains of multiply-adds (one chain of eight `f32` lanes made
/// the dots of 64 fc vectors 5% of a call).
#[inline(always)]
fn dot<T: Real, const FMA: bool>(a: &[T], b: &[T]) -> T {
    let mut acc = [T::zero(); 32];
    let (ca, cb) = (a.chunks_exact(32), b.chunks_exact(32));
    let tail =
        ca.remainder().iter().zip(cb.remainder()).fold(T::zero(), |s, (&x, &y)| mul_add::<T, FMA>(x, y, s));
    for (x, y) in ca.zip(cb) {
        for ((s, &x), &y) in acc.iter_mut().zip(x).zip(y) {
            *s = mul_add::<T, FMA>(x, y, *s);
        }
    }
    acc.iter().fold(tail, |s, &v| s + v)
}

/// `Σ x` in `f64`, with eight partial sums.
pub fn total<T: Real>(x: &[T]) -> f64 {
    let mut acc = [0.0; 8];
    let chunks = x.chunks_exact(8);
    let tail = chunks.remainder().iter().fold(0.0, |s, v| s + v.widen());
    for chunk in chunks {
        for (a, v) in acc.iter_mut().zip(chunk) {
            *a += v.widen();
        }
    }
    acc.iter().fold(tail, |s, &v| s + v)
}

/// `Σ x` with eight partial sums, so that it vectorises.
#[inline(always)]
pub fn sum<T: Real>(x: &[T]) -> T {
    let mut acc = [T::zero(); 8];
    let chunks = x.chunks_exact(8);
    let rest = chunks.remainder();
    for chunk in chunks {
        for (a, &v) in acc.iter_mut().zip(chunk) {
            *a += v;
        }
    }
    let tail = rest.iter().fold(T::zero(), |s, &v| s + v);
    acc.iter().fold(tail, |s, &v| s + v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::axis::AxisOp;
    use crate::net::{Padding, Pool};

    /// A row over `pairs` with distinct values in the pairs, zero in halos.
    fn row(pairs: &AxisPairs) -> Vec<f64> {
        let mut v = vec![0.0; pairs.size()];
        for (slot, u, w) in pairs.pairs() {
            v[slot] = 1.0 + ((u * 7 + w * 3) % 11) as f64 / 4.0;
        }
        v
    }

    /// `op` applied by its runs, term by term: the definition.
    fn by_terms(op: &AxisOp, src: &[f64], n_out: usize) -> Vec<f64> {
        let mut out = vec![0.0; n_out];
        for r in op.runs() {
            for k in 0..r.len {
                out[r.out + k * r.out_step] += r.weight * src[r.src + k * r.src_step];
            }
        }
        out
    }

    fn apply(op: &ColOp, src: &[f64], n_out: usize) -> Vec<f64> {
        let mut out = vec![f64::NAN; n_out];
        let mut scratch = vec![f64::NAN; <f64 as Real>::POOL_ROWS * op.scratch()];
        apply_cols::<f64, false>(op, src, &mut out, &mut scratch);
        out
    }

    fn assert_close_on(pairs: &AxisPairs, got: &[f64], want: &[f64]) {
        for (slot, ..) in pairs.pairs() {
            assert!((got[slot] - want[slot]).abs() <= 1e-14 * want[slot].abs().max(1.0), "slot {slot}");
        }
    }

    #[test]
    fn shifted_sums_are_the_same_padded_patch() {
        for (len, band, size) in [(9, 8, 3), (9, 2, 3), (7, 6, 2), (12, 11, 5), (6, 0, 3)] {
            let p = AxisPairs::new(len, false, band, size / 2);
            let op = ColOp::patch(&p, &p, size, Padding::Same);
            assert!(matches!(op, ColOp::Shift { .. }), "{op:?}");
            let src = row(&p);
            let want = by_terms(&AxisOp::patch(&p, &p, size, Padding::Same), &src, p.size());
            assert_close_on(&p, &apply(&op, &src, p.size()), &want);
        }
    }

    /// The column step of a pooling of `len` positions whose outputs are
    /// kept within `band_out`, as plans build it, between the pairs it
    /// takes; checked against its terms on a row (the result is `apply`'s).
    fn pooling(
        len: usize,
        stride: usize,
        h: &[f64],
        band_out: usize,
        halo: usize,
        wrap: bool,
    ) -> (AxisPairs, AxisPairs, ColOp) {
        let output = AxisPairs::new(len.div_ceil(stride), wrap, band_out, halo);
        let band_in = AxisPairs::pooled_band(band_out, wrap, h.len(), stride, len, wrap);
        let input = AxisPairs::new(len, wrap, band_in, halo);
        let op = AxisOp::pool(&input, &output, h, stride, wrap);
        let step = ColOp::pool(op.clone(), &Pool::Filter { h: h.to_vec(), stride }, &input, &output, wrap);
        let src = row(&input);
        assert_close_on(&output, &apply(&step, &src, output.size()), &by_terms(&op, &src, output.size()));
        (input, output, step)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    fn pool_cols_avx2<T: Real>(op: &ColOp, src: (&[T], usize), out: (&mut [T], usize), scratch: &mut [T]) {
        pool_cols::<T, true>(op, src, out, scratch);
    }

    /// `pool_cols` on `rows` (of `width`) in `isa`.
    fn pool_cols_in<T: Real>(isa: Isa, op: &ColOp, rows: &[T], (width, out_width): (usize, usize)) -> Vec<T> {
        let mut out = vec![T::nan(); rows.len() / width * out_width];
        let mut scratch = vec![T::nan(); T::POOL_ROWS * op.scratch()];
        let (src, dst) = ((rows, width), (&mut out[..], out_width));
        #[cfg(target_arch = "x86_64")]
        if isa.avx2_fma() {
            // SAFETY: `Isa` reports AVX2 and FMA only where the CPU has them.
            unsafe { pool_cols_avx2(op, src, dst, &mut scratch) };
            return out;
        }
        pool_cols::<T, false>(op, src, dst, &mut scratch);
        out
    }

    /// Every number of rows at once (whole and partial cells), in both
    /// precisions and instruction sets, gives each row's pooling by its
    /// terms, halos zero: runs longer than a cell take the transposes.
    fn dense_pooling_by_rows<T: Real>(isa: Isa, tol: f64) {
        let h = [0.25, 0.5, 0.25, 0.125];
        for (len, stride, wrap, band_out) in [
            (12usize, 2, false, 5),
            (11, 3, false, 3),
            (12, 2, true, 5),
            (9, 1, false, 8),
            (21, 2, false, 10),
        ] {
            let (input, output, dense) = pooling(len, stride, &h, band_out, 1, wrap);
            assert!(matches!(dense, ColOp::Dense(_)), "{len} {stride}");
            let op = AxisOp::pool(&input, &output, &h, stride, wrap);
            let src = row(&input);
            let want = by_terms(&op, &src, output.size());
            for count in 1..=T::POOL_ROWS {
                let rows: Vec<T> =
                    (0..count).flat_map(|r| src.iter().map(move |v| T::of(v * (r + 1) as f64))).collect();
                let got = pool_cols_in(isa, &dense, &rows, (input.size(), output.size()));
                for (r, part) in got.chunks_exact(output.size()).enumerate() {
                    for (slot, (g, w)) in part.iter().zip(&want).enumerate() {
                        let w = w * (r + 1) as f64;
                        assert!(
                            (g.widen() - w).abs() <= tol * w.abs().max(1.0),
                            "{len} {stride} {wrap}: {count} rows, row {r}, slot {slot}: {g:?} {w}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn dense_pooling_is_the_strided_pooling() {
        for isa in [Isa::portable(), Isa::best()] {
            dense_pooling_by_rows::<f64>(isa, 1e-14);
            dense_pooling_by_rows::<f32>(isa, 1e-6);
        }
    }

    #[test]
    fn pooling_from_the_offset_groups_is_the_strided_pooling() {
        // (len, stride, filter, output band, halo): taps 1 to 3, centred or
        // not, full and narrow bands, lengths not multiples of the stride.
        let cases: [(usize, usize, &[f64], usize, usize); 8] = [
            (10, 2, &[0.5, 0.5], 4, 1),
            (11, 2, &[0.25, 0.5, 0.25], 5, 1),
            (9, 3, &[0.2, 0.5, 0.3], 2, 2),
            (7, 1, &[0.25, 0.5, 0.25], 6, 1),
            (12, 2, &[1.0], 5, 1),
            (13, 3, &[1.0], 1, 1),
            (8, 2, &[0.5, 0.5], 0, 1),
            (1, 2, &[0.25, 0.5, 0.25], 0, 1),
        ];
        for (len, stride, h, band_out, halo) in cases {
            let (input, output, strided) = pooling(len, stride, h, band_out, halo, false);
            assert!(matches!(strided, ColOp::Strided(_)), "{len} {stride} {h:?}");
            let got = apply(&strided, &row(&input), output.size());
            // Halos of the output are zero, as the next patch step reads them.
            let stored: Vec<usize> = output.pairs().map(|(slot, ..)| slot).collect();
            assert!((0..output.size()).filter(|s| !stored.contains(s)).all(|s| got[s] == 0.0));
        }
        // Not taken: halos short of the filter's reach, wider filters, wrap.
        let h = [0.25, 0.5, 0.25];
        for (halo, h, wrap) in [(0, &h[..], false), (1, &[0.2; 5][..], false), (1, &h[..], true)] {
            assert!(!matches!(pooling(10, 2, h, 4, halo, wrap).2, ColOp::Strided(_)));
        }
    }

    #[test]
    fn global_average_is_a_sum_over_the_row() {
        let input = AxisPairs::new(6, false, 5, 1);
        let output = AxisPairs::trivial();
        let op = AxisOp::global_average(&input, &output);
        let total = ColOp::pool(op.clone(), &Pool::GlobalAverage, &input, &output, false);
        assert!(matches!(total, ColOp::Total { .. }));
        let src = row(&input);
        assert_close_on(&output, &apply(&total, &src, 1), &by_terms(&op, &src, 1));
    }

    #[test]
    fn spread_products_sum_every_channel() {
        let value = |c: usize, k: usize, side: usize| ((c * 7 + k * 3 + side * 5) % 11) as f64 - 5.0;
        let rows: Vec<[Vec<f64>; 2]> =
            (0..9).map(|c| [0, 1].map(|side| (0..13).map(|k| value(c, k, side)).collect())).collect();
        for channels in 1..=9 {
            let mut out = vec![f64::NAN; 13];
            spread_products::<f64, false>(channels, |c| [&rows[c][0][..], &rows[c][1][..]], &mut out);
            let want: Vec<f64> =
                (0..13).map(|k| (0..channels).map(|c| value(c, k, 0) * value(c, k, 1)).sum()).collect();
            assert_eq!(out, want, "{channels} channels");
        }
    }

    #[test]
    fn halos_are_zeroed_short_or_long() {
        for len in [0, 1, 7, 16, 17, 40] {
            let mut row = vec![f64::NAN; len + 2];
            zero_halo(&mut row[1..len + 1]);
            assert!(row[1..len + 1].iter().all(|&v| v == 0.0) && row[0].is_nan() && row[len + 1].is_nan());
        }
    }

    #[test]
    fn inner_products_fill_every_slot_of_a_row() {
        // A band of offsets with halos: several runs and gaps between them.
        let cols = AxisPairs::new(5, false, 2, 1);
        let (positions, channels) = (3 * 5, 2);
        let a: Vec<f64> = (0..positions * channels).map(|i| ((i * 7) % 5) as f64 - 2.0).collect();
        let b: Vec<f64> = (0..positions * channels).map(|i| ((i * 3) % 7) as f64 - 3.0).collect();
        let (y, y2) = (1, 2);
        let mut out = vec![f64::NAN; cols.size()];
        inner_products::<f64, false>(&cols, positions, (&a, &b), (y, y2), &mut out);
        let mut want = vec![0.0; cols.size()];
        for (slot, u, v) in cols.pairs() {
            want[slot] =
                (0..channels).map(|c| a[c * positions + y * 5 + u] * b[c * positions + y2 * 5 + v]).sum();
        }
        assert_eq!(out, want);
    }

    #[test]
    fn gathers_combine_rows() {
        let src: Vec<f64> = (0..20).map(|i| i as f64).collect();
        let mut out = vec![0.0; 4];
        let terms = [(2, 0.5), (3, 2.0), (4, 1.0), (1, 1.0), (5, -1.0)];
        for n in 1..=terms.len() {
            let got = gather::<f64, false>(&terms[..n], &src, (1, 4), &mut out).to_vec();
            let want: Vec<f64> =
                (0..4).map(|k| terms[..n].iter().map(|&(q, w)| w * src[(q - 1) * 4 + k]).sum()).collect();
            assert_eq!(got, want);
        }
    }
}
