//! Time per image of the feature maps on the workloads of `bench.py`, and
//! the throughput of their products against the GEMM crate alone on the
//! same shapes: `cargo bench --bench features [-- workload…]`. Prints a
//! Markdown table (for `benches/RESULTS.md`).
//!
//! The directions are a deterministic pseudo-random fill: timings depend on
//! the shapes only. "products alone" times `matrixmultiply` on each
//! layer's `(batch · positions) × dp × ⌈m/2⌉` product as the engine
//! batches it; "RF GF/s" divides those products' flops by the time of the
//! whole RF map (patches, activations, norms and pooling included), a lower
//! bound on the products' throughput inside the engine.

#[path = "workloads.rs"]
mod workloads;

use std::time::Instant;

use ndarray::{Array2, ArrayD};
use ntk_rs::{Control, Kind, LayerDraws, Net, Scalar, SketchDraws, feature_dims, features_into, widths_on};

/// Owned draws of one layer: directions, then (size, buckets, signs) ×2.
type Owned = (Array2<f64>, usize, usize, Vec<i64>, Vec<f64>, Vec<i64>, Vec<f64>);

fn fill(i: usize) -> f64 {
    (i.wrapping_mul(2_654_435_761) % 2001) as f64 / 1000.0 - 1.0
}

fn draws(net: &Net, channels: usize, widths: &[(usize, usize)]) -> Vec<Owned> {
    let (mut cx, mut ct) = (channels, 0);
    let mut out = vec![];
    for (layer, &(m, s)) in net.layers().iter().zip(widths) {
        let taps: usize = layer.patch.iter().product();
        let (dp, dq) = (taps * cx, taps * (cx + ct));
        let w = Array2::from_shape_fn((dp, m.div_ceil(2)), |(i, j)| fill(i * 7919 + j));
        let buckets = |n: usize| (0..n).map(|i| (fill(i) * 1e6).abs() as i64 % s.max(1) as i64).collect();
        let signs = |n: usize| (0..n).map(|i| fill(i + 1).signum()).collect();
        out.push((w, m, s, buckets(m), signs(m), buckets(dq), signs(dq)));
        (cx, ct) = (m, s);
    }
    out
}

fn views(owned: &[Owned]) -> Vec<LayerDraws<'_>> {
    owned
        .iter()
        .map(|(w, m, s, b1, s1, b2, s2)| LayerDraws {
            w: w.view(),
            m: *m,
            sketch: (*s > 0).then_some(SketchDraws {
                size: *s,
                bucket1: b1,
                sign1: s1,
                bucket2: b2,
                sign2: s2,
            }),
        })
        .collect()
}

/// Seconds per image of `kind` features of `x` in `T` in batches of
/// `batch`, the best of a few runs.
fn time<T: Scalar>(net: &Net, x: &ArrayD<f64>, owned: &[Owned], kind: Kind, batch: usize) -> f64 {
    let n = x.shape()[0];
    let grid = &x.shape()[1..x.ndim() - 1];
    let w: Vec<_> = owned.iter().map(|o| (o.1, o.2)).collect();
    let (dn, dr) = feature_dims(net, grid, &w).unwrap();
    let mut ntk = (kind != Kind::Rf).then(|| Array2::<T>::zeros((n, dn)));
    let mut rf = (kind != Kind::Ntk).then(|| Array2::<T>::zeros((n, dr)));
    let draws = views(owned);
    let mut best = f64::INFINITY;
    for _ in 0..3 {
        let start = Instant::now();
        features_into(
            net,
            x.view(),
            &draws,
            true,
            ntk.as_mut().map(|a| a.view_mut()),
            rf.as_mut().map(|a| a.view_mut()),
            batch,
            &Control::default(),
        )
        .unwrap();
        best = best.min(start.elapsed().as_secs_f64() / n as f64);
    }
    best
}

/// Flops per image of the products, and the seconds per image of the same
/// products done by the GEMM crate alone, in batches of `batch` images.
fn products<T: Scalar>(
    net: &Net,
    grid: &[usize],
    channels: usize,
    widths: &[(usize, usize)],
    batch: usize,
) -> (f64, f64) {
    let grids = net.grids(grid).unwrap();
    let (mut cx, mut flops, mut seconds) = (channels, 0.0, 0.0);
    for ((layer, g), &(m, _)) in net.layers().iter().zip(&grids).zip(widths) {
        let rows = batch * g.patched.iter().product::<usize>();
        let dp = layer.patch.iter().product::<usize>() * cx;
        let h = m.div_ceil(2);
        let a: Vec<T> = (0..rows * dp).map(|i| T::of(fill(i))).collect();
        let b: Vec<T> = (0..dp * h).map(|i| T::of(fill(i + 3))).collect();
        let mut c = vec![T::zero(); rows * h];
        let mut best = f64::INFINITY;
        for _ in 0..3 {
            let start = Instant::now();
            T::gemm(rows, dp, h, &a, &b, &mut c);
            best = best.min(start.elapsed().as_secs_f64());
        }
        flops += 2.0 * (rows * dp * h) as f64 / batch as f64;
        seconds += best / batch as f64;
        cx = m;
    }
    (flops, seconds)
}

fn main() {
    let filter: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    println!(
        "| workload | dim | dtype | threads | ms/img NTK | ms/img RF | products: GFLOP/img | products alone, GF/s | RF map, GF/s | RF / alone |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for w in workloads::all() {
        if !filter.is_empty() && !filter.iter().any(|f| f == w.name) {
            continue;
        }
        let grid = &w.shape[..w.shape.len() - 1];
        let channels = w.shape[w.shape.len() - 1];
        for dim in [4096, 16384] {
            let Ok(ntk_widths) = widths_on(&w.net, grid, dim, Kind::Ntk) else { continue };
            let rf_widths = widths_on(&w.net, grid, dim, Kind::Rf).unwrap();
            let (ntk_draws, rf_draws) =
                (draws(&w.net, channels, &ntk_widths), draws(&w.net, channels, &rf_widths));
            for threads in [1, 2] {
                let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
                for dtype in ["float32", "float64"] {
                    let row = pool.install(|| match dtype {
                        "float32" => {
                            measure::<f32>(&w.net, &w.shape, &ntk_draws, &rf_draws, &rf_widths, threads)
                        }
                        _ => measure::<f64>(&w.net, &w.shape, &ntk_draws, &rf_draws, &rf_widths, threads),
                    });
                    println!("| {} | {dim} | {dtype} | {threads} | {row} |", w.name);
                }
            }
        }
    }
}

/// One row of the table. The number of images makes each call about 2 s,
/// so that the conversion of the draws, once per call, is amortised as in
/// real use.
fn measure<T: Scalar>(
    net: &Net,
    shape: &[usize],
    ntk: &[Owned],
    rf: &[Owned],
    rf_widths: &[(usize, usize)],
    threads: usize,
) -> String {
    let probe = workloads::signals(shape, 2 * threads, 1);
    let guess = time::<T>(net, &probe, ntk, Kind::Ntk, 1);
    let n = ((2.0 / guess) as usize).clamp(2 * threads, 512).next_multiple_of(threads);
    let x = &workloads::signals(shape, n, 1);
    // Batches of about 2048 positions of the first layer (and at most one per
    // thread), the same for the map and the products alone.
    let positions: usize = net.grids(&shape[..shape.len() - 1]).unwrap()[0].patched.iter().product();
    let batch = (2048 / positions).clamp(1, n / threads);
    let t_ntk = time::<T>(net, x, ntk, Kind::Ntk, batch);
    let t_rf = time::<T>(net, x, rf, Kind::Rf, batch);
    let grid = &x.shape()[1..x.ndim() - 1];
    let (flops, alone) = products::<T>(net, grid, x.shape()[x.ndim() - 1], rf_widths, batch);
    // The products alone run on one thread; the map on `threads`.
    let alone_rate = flops / alone / 1e9 * threads as f64;
    let rf_rate = flops / t_rf / 1e9;
    format!(
        "{:.2} | {:.2} | {:.3} | {:.1} | {:.1} | {:.0} %",
        t_ntk * 1e3,
        t_rf * 1e3,
        flops / 1e9,
        alone_rate,
        rf_rate,
        100.0 * rf_rate / alone_rate
    )
}
