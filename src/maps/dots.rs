//! The inner products of a tile of pairs of vectors (layer 1 of
//! [`crate::pair::vectors::tile`]), in blocks of rows × columns that share each loaded SIMD
//! vector between several pairs and keep several chains of multiply-adds
//! in flight: one pair at a time ([`super::products::dot`]) loads two values per
//! multiply-add, and the matrix product this replaces (ndarray's GEMM on
//! copies of the tile's signals) spent as long packing them as multiplying.
//!
//! Every entry takes the same operations in the same order whatever block
//! it falls in (a 256-bit vector of partial sums, then the tail, then the
//! partial sums added to it one by one), so values do not depend on the
//! tiling. The AVX2 kernel is written with intrinsics: the compiler kept
//! part of a block's accumulators in memory, or split them into 128-bit
//! halves, depending on the block shape and the crate being built (a
//! float32 call on 64 vectors 2.5× slower in the Python extension than in
//! the benches).

use crate::simd::{self, Isa, Kernel, Real};

/// `out[i · c + j] = ⟨rows[i], cols[j]⟩` (`c = cols.len()`) for `j ≥
/// from[i]` (entries before `from[i]` may be written too), in the
/// instructions of `isa`. All vectors have the length of `rows[0]`.
pub fn gram_block_for<T: Real>(isa: Isa, sides: (&[&[T]], &[&[T]]), from: &[usize], out: &mut [T]) {
    isa.dispatch(GramBlock { sides, from, out });
}

/// [`gram_block_for`] as a [`Kernel`]: the AVX2 blocks in code compiled for
/// them, the portable ones elsewhere.
struct GramBlock<'a, T> {
    sides: (&'a [&'a [T]], &'a [&'a [T]]),
    from: &'a [usize],
    out: &'a mut [T],
}

impl<T: Real> Kernel for GramBlock<'_, T> {
    type Output = ();

    #[inline(always)]
    fn run<const FMA: bool>(self) {
        #[cfg(target_arch = "x86_64")]
        if FMA {
            return blocks::<T, avx2::Avx2>(self.sides, self.from, self.out);
        }
        blocks::<T, Portable>(self.sides, self.from, self.out);
    }
}

/// Inner products of `R × C` vectors at once (`R ≤ ROWS`, `C ≤ 2`).
trait BlockKernel<T> {
    const ROWS: usize;
    fn dots<const R: usize, const C: usize>(rows: &[&[T]], cols: &[&[T]]) -> [[T; C]; R];
}

/// [`gram_block_for`] with `K`: blocks of `K::ROWS` rows × 2 columns, then
/// the partial blocks at the edges.
#[inline(always)]
fn blocks<T: Real, K: BlockKernel<T>>((rows, cols): (&[&[T]], &[&[T]]), from: &[usize], out: &mut [T]) {
    let width = cols.len();
    for i in (0..rows.len()).step_by(K::ROWS) {
        let rs = &rows[i..(i + K::ROWS).min(rows.len())];
        let first = from[i..i + rs.len()].iter().copied().min().unwrap_or(width);
        for j in (first..width).step_by(2) {
            let cs = &cols[j..(j + 2).min(width)];
            let mut put = |values: &[&[T]]| {
                for (r, v) in values.iter().enumerate() {
                    out[(i + r) * width + j..][..v.len()].copy_from_slice(v);
                }
            };
            match (rs.len(), cs.len()) {
                (4, 2) => put(&K::dots::<4, 2>(rs, cs).each_ref().map(|v| &v[..])),
                (4, _) => put(&K::dots::<4, 1>(rs, cs).each_ref().map(|v| &v[..])),
                (3, 2) => put(&K::dots::<3, 2>(rs, cs).each_ref().map(|v| &v[..])),
                (3, _) => put(&K::dots::<3, 1>(rs, cs).each_ref().map(|v| &v[..])),
                (2, 2) => put(&K::dots::<2, 2>(rs, cs).each_ref().map(|v| &v[..])),
                (2, _) => put(&K::dots::<2, 1>(rs, cs).each_ref().map(|v| &v[..])),
                (_, 2) => put(&K::dots::<1, 2>(rs, cs).each_ref().map(|v| &v[..])),
                _ => put(&K::dots::<1, 1>(rs, cs).each_ref().map(|v| &v[..])),
            }
        }
    }
}

/// Plain loops, for CPUs without AVX2 and FMA.
struct Portable;

impl<T: Real> BlockKernel<T> for Portable {
    const ROWS: usize = 2;

    fn dots<const R: usize, const C: usize>(rows: &[&[T]], cols: &[&[T]]) -> [[T; C]; R] {
        let n = rows[0].len();
        let p = simd::lanes::<T>();
        let whole = n / p * p;
        let mut out = [[T::zero(); C]; R];
        for (r, a) in rows.iter().enumerate() {
            for (c, b) in cols.iter().enumerate() {
                let mut acc = [T::zero(); 8];
                for (x, y) in a[..whole].chunks_exact(p).zip(b[..whole].chunks_exact(p)) {
                    for ((s, &x), &y) in acc.iter_mut().zip(x).zip(y) {
                        *s += x * y;
                    }
                }
                let tail = (whole..n).fold(T::zero(), |s, k| s + a[k] * b[k]);
                out[r][c] = acc[..p].iter().fold(tail, |s, &v| s + v);
            }
        }
        out
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::BlockKernel;
    use crate::simd::{self, Real, mul_add};

    /// Blocks of 4 × 2: eight accumulators, six loads per eight
    /// multiply-adds.
    pub struct Avx2;

    impl<T: Real> BlockKernel<T> for Avx2 {
        const ROWS: usize = 4;

        #[inline(always)]
        fn dots<const R: usize, const C: usize>(rows: &[&[T]], cols: &[&[T]]) -> [[T; C]; R] {
            let n = rows[0].len();
            let p = simd::lanes::<T>();
            let whole = n / p * p;
            let (mut a, mut b): ([&[T]; R], [&[T]; C]) = ([&[]; R], [&[]; C]);
            for r in 0..R {
                a[r] = &rows[r][..n];
            }
            for c in 0..C {
                b[c] = &cols[c][..n];
            }
            // SAFETY: only called with `FMA = true` (see `GramBlock`), inlined
            // into code compiled for AVX2 and FMA (plain loops, no closures,
            // which would be compiled without);
            // every load reads `p` values from `k + p ≤ whole ≤ n`.
            unsafe {
                let mut acc = [[T::vzero(); C]; R];
                let mut bv = [T::vzero(); C];
                for k in (0..whole).step_by(p) {
                    for c in 0..C {
                        bv[c] = T::vload(b[c].as_ptr().add(k));
                    }
                    for r in 0..R {
                        let av = T::vload(a[r].as_ptr().add(k));
                        for c in 0..C {
                            acc[r][c] = T::vmul_add(av, bv[c], acc[r][c]);
                        }
                    }
                }
                let mut out = [[T::zero(); C]; R];
                let mut v = [T::zero(); 8];
                for r in 0..R {
                    for c in 0..C {
                        let mut tail = T::zero();
                        for k in whole..n {
                            tail = mul_add::<T, true>(a[r][k], b[c][k], tail);
                        }
                        T::vstore(acc[r][c], &mut v);
                        for &x in &v[..p] {
                            tail += x;
                        }
                        out[r][c] = tail;
                    }
                }
                out
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Against inner products summed in `f64`, for shapes that leave every
    /// kind of partial block and tail; each entry is bit for bit the one
    /// computed alone (a 1 × 1 block), and every entry from `from[i]` on is
    /// written.
    fn blocks_are_inner_products<T: Real>(isa: Isa) {
        for dim in [0, 1, 3, 4, 8, 19, 37] {
            let signal = |s: usize| -> Vec<T> {
                (0..dim).map(|k| T::of((((s * 31 + k * 17) % 23) as f64 - 11.0) / 7.0)).collect()
            };
            let (rows, cols): (Vec<Vec<T>>, Vec<Vec<T>>) =
                ((0..7).map(signal).collect(), (7..12).map(signal).collect());
            let (rows, cols): (Vec<&[T]>, Vec<&[T]>) =
                (rows.iter().map(|v| &v[..]).collect(), cols.iter().map(|v| &v[..]).collect());
            let from = [0, 3, 1, 5, 2, 4, 0];
            let mut out = vec![T::nan(); 7 * 5];
            gram_block_for(isa, (&rows, &cols), &from, &mut out);
            for (i, a) in rows.iter().enumerate() {
                for (j, b) in cols.iter().enumerate().skip(from[i]) {
                    let want: f64 = a.iter().zip(*b).map(|(x, y)| x.widen() * y.widen()).sum();
                    let size: f64 = a.iter().zip(*b).map(|(x, y)| (x.widen() * y.widen()).abs()).sum();
                    let got = out[i * 5 + j].widen();
                    let bound = dim as f64 * T::epsilon().widen() * size;
                    assert!((got - want).abs() <= bound, "{dim} ({i}, {j}): {got} {want}");
                    let mut alone = [T::nan()];
                    gram_block_for(isa, (&[*a], &[*b]), &[0], &mut alone);
                    assert_eq!(alone[0].widen().to_bits(), got.to_bits(), "{dim} ({i}, {j})");
                }
            }
        }
    }

    #[test]
    fn blocks_are_inner_products_in_every_precision_and_isa() {
        for isa in [Isa::portable(), Isa::best()] {
            blocks_are_inner_products::<f64>(isa);
            blocks_are_inner_products::<f32>(isa);
        }
    }
}
