//! Operations on rows of pair maps, the linear algebra of the recursion:
//! the layer-1 inner products ([`products`]), rows combined ([`rows`]),
//! steps within a row ([`cols`]), pooling through dense matrices
//! ([`pool`]), the register-blocked inner products of tiles of vector pairs
//! ([`dots`]), and small primitives ([`basics`]).
//!
//! Written as plain loops over slices that the compiler vectorises; all are
//! `inline(always)`, so that they are compiled into the AVX2 copy of the
//! code that calls them as well as into its portable one
//! ([`crate::simd::Isa::dispatch`]).

pub mod basics;
pub mod cols;
pub mod dots;
pub mod pool;
pub mod products;
pub mod rows;

pub use basics::{axpy, total, zero_halo};
pub use cols::{apply_cols, pool_cols};
pub use products::{dot_for, inner_products, spread_products};
pub use rows::{gather, shift_rows, window_sum};
#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::axis::AxisPairs;
    use crate::network::steps::{AxisOp, ColOp};
    use crate::network::{Padding, Pool};
    use crate::simd::{Isa, Kernel, Real};

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

    /// `pool_cols` on `rows` (of `width`) in `isa`.
    fn pool_cols_in<T: Real>(isa: Isa, op: &ColOp, rows: &[T], (width, out_width): (usize, usize)) -> Vec<T> {
        struct PoolRows<'a, T>(&'a ColOp, &'a [T], usize, usize);
        impl<T: Real> Kernel for PoolRows<'_, T> {
            type Output = Vec<T>;
            #[inline(always)]
            fn run<const FMA: bool>(self) -> Vec<T> {
                let PoolRows(op, rows, width, out_width) = self;
                let mut out = vec![T::nan(); rows.len() / width * out_width];
                let mut scratch = vec![T::nan(); T::POOL_ROWS * op.scratch()];
                pool_cols::<T, FMA>(op, (rows, width), (&mut out[..], out_width), &mut scratch);
                out
            }
        }
        isa.dispatch(PoolRows(op, rows, width, out_width))
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
