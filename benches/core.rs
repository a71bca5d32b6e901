//! Criterion benchmarks of the engine, for profiling work (not run in CI):
//! one pair of every workload, one layer, the row kernels (patch, ReLU
//! step, pooling) as the AVX2 build runs them, and whole small calls (their
//! fixed costs: plans, workspaces, threads).
//! `cargo bench --bench core -- <filter>`.

#[path = "workloads.rs"]
mod workloads;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use ntk_rs::internals::{
    AxisOp, AxisPairs, Buffers, ColOp, Isa, Kernel, Padding, Plan, Real, RowNorms, Signal, Tangent, Target,
    Workspace, inverse_norm, kernel, pool_cols, relu_row,
};
use ntk_rs::{Control, Inputs, Kind, Layer, Net, Pool, Precision, gram};
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
    match precision {
        Precision::F64 => bench_pair_in::<f64>(group, id, net, shape),
        Precision::F32 => bench_pair_in::<f32>(group, id, net, shape),
    }
}

fn bench_pair_in<T: Real>(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    id: BenchmarkId,
    net: &Net,
    shape: &[usize],
) {
    let grid = &shape[..shape.len() - 1];
    let readout = Plan::new(net, grid, Target::Readout).unwrap();
    let norms = Plan::new(net, grid, Target::Norms).unwrap();
    let x = workloads::signals(shape, 2, 7);
    let mut buffers = Buffers::new(&norms).unwrap();
    let s: Vec<Signal<T>> = (0..2)
        .map(|i| Signal::new(x.index_axis(ndarray::Axis(0), i), &norms, &mut buffers).unwrap())
        .collect();
    let mut ws = Workspace::new(&readout).unwrap();
    group.bench_function(id, |b| b.iter(|| kernel(&readout, &s[0], &s[1], false, true, black_box(&mut ws))));
}

/// The first layer of cifar-gap alone (identity pooling and a sum readout).
fn layer(c: &mut Criterion) {
    let mut group = c.benchmark_group("layer");
    group.sample_size(20);
    let net = Net::new(vec![Layer { patch: vec![3, 3], padding: Padding::Same, pool: Pool::GlobalAverage }])
        .unwrap();
    bench_pair(&mut group, BenchmarkId::new("cifar-gap-1", "F64"), &net, &[32, 32, 3], Precision::F64);
}

/// The ReLU step over a row with a tangent map, as a [`Kernel`].
struct Relu<'a, T> {
    norms: &'a RowNorms<'a, T>,
    sigma: &'a mut [T],
    gamma: &'a mut [T],
}

impl<T: Real> Kernel for Relu<'_, T> {
    type Output = ();

    #[inline(always)]
    fn run<const FMA: bool>(self) {
        relu_row::<T, FMA>(self.norms, self.sigma, Tangent::Gamma(self.gamma));
    }
}

/// A column step on `T::POOL_ROWS` rows at once, as the recursion pools
/// (or on one row, as the patch step), as a [`Kernel`].
struct Cols<'a, T> {
    op: &'a ColOp,
    src: (&'a [T], usize),
    out: (&'a mut [T], usize),
    scratch: &'a mut [T],
}

impl<T: Real> Kernel for Cols<'_, T> {
    type Output = ();

    #[inline(always)]
    fn run<const FMA: bool>(self) {
        pool_cols::<T, FMA>(self.op, self.src, self.out, self.scratch);
    }
}

/// The row kernels on a row of a full 32×32 map (1024 column pairs); pooling
/// on `POOL_ROWS` such rows at once.
#[cfg(target_arch = "x86_64")]
fn rows(c: &mut Criterion) {
    let isa = Isa::best();
    if !isa.avx2_fma() {
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
        b.iter(|| Isa::best().dispatch(Relu { norms: &norms, sigma: black_box(&mut s), gamma: &mut g }));
    }
    group.bench_function("relu/F64", |b| relu_bench::<f64>(b, &nn, &sigma));
    group.bench_function("relu/F32", |b| relu_bench::<f32>(b, &nn, &sigma));
    let patch = ColOp::patch(&full, &full, 3, Padding::Same);
    group.bench_function("patch/F64", |b| {
        let mut out = vec![0.0; n];
        b.iter(|| {
            isa.dispatch(Cols {
                op: &patch,
                src: (black_box(&sigma), n),
                out: (&mut out, n),
                scratch: &mut [],
            })
        });
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
        b.iter(|| {
            let src = (black_box(&rows[..]), widths.0);
            Isa::best().dispatch(Cols { op: pool, src, out: (&mut out, widths.1), scratch: &mut scratch })
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
