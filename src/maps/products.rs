//! The layer-1 maps `G₀[u, u'] = ⟨x[u], x'[u']⟩`: inner products of the
//! channels of two signals along a row of a map, and single inner products.

use super::basics::zero_halo;
use crate::network::axis::AxisPairs;
use crate::simd::{Isa, Kernel, Real, mul_add};

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

/// The row of [`inner_products`] from the input channels spread along it
/// (`row(c)` is channel `c` of both signals, see `recursion::spread`): one pass over
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

/// `⟨a, b⟩` (see [`dot`]) in the instructions of `isa`.
pub fn dot_for<T: Real>(isa: Isa, a: &[T], b: &[T]) -> T {
    isa.dispatch(Dot(a, b))
}

/// [`dot`] as a [`Kernel`].
struct Dot<'a, T>(&'a [T], &'a [T]);

impl<T: Real> Kernel for Dot<'_, T> {
    type Output = T;

    #[inline(always)]
    fn run<const FMA: bool>(self) -> T {
        dot::<T, FMA>(self.0, self.1)
    }
}

/// `Σ a b` with 32 partial sums, so that it vectorises with several
/// independent chains of multiply-adds (one chain of eight `f32` lanes made
/// the dots of 64 fc vectors 5% of a call).
#[inline(always)]
pub fn dot<T: Real, const FMA: bool>(a: &[T], b: &[T]) -> T {
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
