//! Criterion benchmarks of the engine, for profiling work (not run in CI):
//! one pair of every workload, one layer, the row kernels (patch, ReLU
//! step, pooling) as the AVX2 build runs them, and whole small calls (their
//! fixed costs: plans, workspaces, threads).
//! `cargo bench --bench core -- <filter>`.

#[path = "workloads.rs"]
mod workloads;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use ntk_rs::axis::{AxisOp, AxisPairs, ColOp};
use ntk_rs::kappa::{RowNorms, Tangent, inverse_norm, relu_row};
use ntk_rs::maps;
use ntk_rs::net::Padding;
use ntk_rs::pair::{self, Workspace};
use ntk_rs::plan::{Plan, Target};
use ntk_rs::real::{Precision, Real};
use ntk_rs::signal::Signal;
use ntk_rs::{Control, Inputs, Kind, Layer, Net, Pool, gram};
use std::hint::black_box;

/// One cross pair of each workload (signals prepared beforehand).
fn pairs(c: &mut Criterion) {
    let mut group = c.benchmark_group("pair");
    group.sample_size(10);
    for w in workloads::all() {
        for precision in [Precision::F64, Precision::F32] {
            let id = BenchmarkId::new(w.name, format!("{precision:?}"));
            bench_pair(&mut group, id, &w.net, &w.shape, precision);
        }
    }
}

fn bench_pair(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    id: BenchmarkId,
    net: &Net,
    shape: &[usize],
    precision: Precision,
) {
    let grid = &shape[..shape.len() - 1];
    let readout = Plan::new(net, grid, Target::Readout).unwrap();
    let norms = Plan::new(net, grid, Target::Norms).unwrap();
    let x = workloads::signals(shape, 2, 7);
    let mut ws_norms = Workspace::new(&norms, precision);
    let s: Vec<Signal> =
        (0..2).map(|i| Signal::new(x.index_axis(ndarray::Axis(0), i), &norms, &mut ws_norms)).collect();
    let mut ws = Workspace::new(&readout, precision);
    group.bench_function(id, |b| {
        b.iter(|| pair::kernel(&readout, &s[0], &s[1], false, true, black_box(&mut ws)))
    });
}

/// The first layer of cifar-gap alone (identity pooling and a sum readout).
fn layer(c: &mut Criterion) {
    let mut group = c.benchmark_group("layer");
    group.sample_size(20);
    let net = Net::new(vec![Layer { patch: vec![3, 3], padding: Padding::Same, pool: Pool::GlobalAverage }])
        .unwrap();
    bench_pair(&mut group, BenchmarkId::new("cifar-gap-1", "F64"), &net, &[32, 32, 3], Precision::F64);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn relu_avx2<T: Real>(norms: &RowNorms<'_, T>, sigma: &mut [T], gamma: &mut [T]) {
    relu_row::<T, true>(norms, sigma, Tangent::Gamma(gamma));
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn cols_avx2(op: &ColOp, src: &[f64], out: &mut [f64], scratch: &mut [f64]) {
    maps::apply_cols::<f64, true>(op, src, out, scratch);
}

/// A column step on `T::POOL_ROWS` rows at once, as the recursion pools.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn pool_avx2<T: Real>(op: &ColOp, src: (&[T], usize), out: (&mut [T], usize), scratch: &mut [T]) {
    maps::pool_cols::<T, true>(op, src, out, scratch);
}

/// The row kernels on a row of a full 32×32 map (1024 column pairs); pooling
/// on `POOL_ROWS` such rows at once.
#[cfg(target_arch = "x86_64")]
fn rows(c: &mut Criterion) {
    if !ntk_rs::isa::Isa::best().avx2_fma() {
        return;
    }
    let mut group = c.benchmark_group("row");
    let full = AxisPairs::new(32, false, 31, 1);
    let n = full.size();
    let sigma: Vec<f64> = (0..n).map(|i| ((i * 7919) % 1000) as f64 / 1000.0 - 0.3).collect();
    let nn: Vec<f64> = (0..n).map(|i| 1.0 + (i % 13) as f64 / 13.0).collect();
    fn relu_bench<T: Real>(b: &mut criterion::Bencher<'_>, nn: &[f64], sigma: &[f64]) {
        let nn: Vec<T> = nn.iter().map(|&v| T::of(v)).collect();
        let ones = vec![T::one(); nn.len()];
        let inv: Vec<T> = nn.iter().map(|&n| inverse_norm(n)).collect();
        let norms = RowNorms { a: &ones, b: &nn, inv_a: &ones, inv_b: &inv };
        let mut s: Vec<T> = sigma.iter().map(|&v| T::of(v)).collect();
        let mut g = s.clone();
        b.iter(|| unsafe { relu_avx2(&norms, black_box(&mut s), &mut g) });
    }
    group.bench_function("relu/F64", |b| relu_bench::<f64>(b, &nn, &sigma));
    group.bench_function("relu/F32", |b| relu_bench::<f32>(b, &nn, &sigma));
    let patch = ColOp::patch(&full, &full, 3, Padding::Same);
    group.bench_function("patch/F64", |b| {
        let mut out = vec![0.0; n];
        b.iter(|| unsafe { cols_avx2(&patch, black_box(&sigma), &mut out, &mut []) });
    });
    let h: Vec<f64> = [1.0f64, 4.0, 6.0, 4.0, 1.0].iter().map(|v| v / 16.0).collect();
    let pooled = AxisPairs::new(16, false, 15, 1);
    let gaussian = Pool::Filter { h: h.clone(), stride: 2 };
    let pool = ColOp::pool(AxisOp::pool(&full, &pooled, &h, 2, false), &gaussian, &full, &pooled, false);
    fn pool_bench<T: Real>(
        b: &mut criterion::Bencher<'_>,
        pool: &ColOp,
        sigma: &[f64],
        widths: (usize, usize),
    ) {
        let rows: Vec<T> =
            (0..T::POOL_ROWS).flat_map(|r| sigma.iter().map(move |&v| T::of(v + r as f64))).collect();
        let mut out = vec![T::zero(); T::POOL_ROWS * widths.1];
        let mut scratch = vec![T::zero(); T::POOL_ROWS * pool.scratch()];
        b.iter(|| unsafe {
            pool_avx2(pool, (black_box(&rows), widths.0), (&mut out, widths.1), &mut scratch)
        });
    }
    let widths = (n, pooled.size());
    group.bench_function("pool/F64", |b| pool_bench::<f64>(b, &pool, &sigma, widths));
    group.bench_function("pool/F32", |b| pool_bench::<f32>(b, &pool, &sigma, widths));
}

/// `gram` of one and of 64 fc vectors, on the pool's threads (all cores
/// unless `NTK_RS_NUM_THREADS` says otherwise).
fn calls(c: &mut Criterion) {
    let mut group = c.benchmark_group("call");
    let fc = workloads::all().into_iter().find(|w| w.name == "fc").unwrap();
    for n in [1, 64] {
        let x = workloads::signals(&fc.shape, n, 3);
        for precision in [Precision::F64, Precision::F32] {
            let inputs = Inputs::new(x.view(), None).unwrap().with_precision(precision);
            group.bench_function(BenchmarkId::new(format!("fc-{n}"), format!("{precision:?}")), |b| {
                b.iter(|| gram(&fc.net, &inputs, Kind::Both, &Control::default()).unwrap())
            });
        }
    }
}

criterion_group!(benches, rows, layer, pairs, calls);
criterion_main!(benches);
