//! The engine against the exact kernel, and its invariances. (The
//! statistical tests and the exact comparison with the NumPy reference are
//! in Python: `tests/test_features*.py`.)

use ndarray::{Array, Array2, ArrayD, IxDyn};

use super::*;
use crate::error::Error;
use crate::gram::{Inputs, Kind, gram};
use crate::network::{Layer, Padding, Pool};

/// A small deterministic generator (SplitMix64) for the tests' draws.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn uniform(&mut self) -> f64 {
        ((self.next() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    fn normal(&mut self) -> f64 {
        (-2.0 * self.uniform().ln()).sqrt() * (std::f64::consts::TAU * self.uniform()).cos()
    }

    fn below(&mut self, n: usize) -> i64 {
        (self.next() % n as u64) as i64
    }

    fn sign(&mut self) -> f64 {
        if self.next() & 1 == 0 { 1.0 } else { -1.0 }
    }
}

/// A sketch's size, buckets and signs of `f0`, then of `q`.
type OwnedSketch = (usize, Vec<i64>, Vec<f64>, Vec<i64>, Vec<f64>);

/// Owned draws of a network on inputs of `grid × channels`, Gaussian
/// directions (unbiased, not orthogonal).
struct Owned {
    w: Vec<Array2<f64>>,
    m: Vec<usize>,
    sketches: Vec<OwnedSketch>,
}

impl Owned {
    fn draw(net: &Net, channels: usize, widths: &[(usize, usize)], seed: u64) -> Owned {
        let mut rng = Rng(seed);
        let (mut cx, mut ct) = (channels, 0);
        let mut owned = Owned { w: vec![], m: vec![], sketches: vec![] };
        for (layer, &(m, s)) in net.layers().iter().zip(widths) {
            let taps: usize = layer.patch.iter().product();
            let (dp, dq) = (taps * cx, taps * (cx + ct));
            owned.w.push(Array2::from_shape_fn((dp, m.div_ceil(2)), |_| rng.normal()));
            owned.m.push(m);
            let b1 = (0..m).map(|_| rng.below(s.max(1))).collect();
            let s1 = (0..m).map(|_| rng.sign()).collect();
            let b2 = (0..dq).map(|_| rng.below(s.max(1))).collect();
            let s2 = (0..dq).map(|_| rng.sign()).collect();
            owned.sketches.push((s, b1, s1, b2, s2));
            (cx, ct) = (m, s);
        }
        owned
    }

    fn views(&self) -> Vec<LayerDraws<'_>> {
        (0..self.w.len())
            .map(|k| {
                let (size, b1, s1, b2, s2) = &self.sketches[k];
                LayerDraws {
                    w: self.w[k].view(),
                    m: self.m[k],
                    sketch: (*size > 0).then_some(SketchDraws {
                        size: *size,
                        bucket1: b1,
                        sign1: s1,
                        bucket2: b2,
                        sign2: s2,
                    }),
                }
            })
            .collect()
    }
}

fn signals(shape: &[usize], seed: u64) -> ArrayD<f64> {
    let mut rng = Rng(seed);
    Array::from_shape_fn(IxDyn(shape), |_| rng.normal())
}

/// `(ntk, rf)` features in `T`, as f64.
fn run<T: Scalar>(net: &Net, x: &ArrayD<f64>, draws: &Owned, batch: usize) -> (Array2<f64>, Array2<f64>) {
    let n = x.shape()[0];
    let widths: Vec<_> = draws.m.iter().zip(&draws.sketches).map(|(&m, s)| (m, s.0)).collect();
    let (dn, dr) = feature_dims(net, &x.shape()[1..x.ndim() - 1], &widths).unwrap();
    let (mut ntk, mut rf) = (Array2::<T>::zeros((n, dn)), Array2::<T>::zeros((n, dr)));
    features_into(
        net,
        x.view(),
        &draws.views(),
        true,
        Some(ntk.view_mut()),
        Some(rf.view_mut()),
        batch,
        &Control::default(),
    )
    .unwrap();
    (ntk.mapv(|v| v.widen()), rf.mapv(|v| v.widen()))
}

fn relative_error(features: &Array2<f64>, exact: &Array2<f64>) -> f64 {
    let approx = features.dot(&features.t());
    let diff = &approx - exact;
    (diff.iter().map(|v| v * v).sum::<f64>() / exact.iter().map(|v| v * v).sum::<f64>()).sqrt()
}

fn conv_net() -> Net {
    Net::new(vec![
        Layer {
            patch: vec![3, 3],
            padding: Padding::Same,
            pool: Pool::Filter { h: vec![0.25, 0.5, 0.25], stride: 2 },
        },
        Layer { patch: vec![2, 2], padding: Padding::Valid, pool: Pool::GlobalAverage },
    ])
    .unwrap()
}

#[test]
fn features_approach_the_exact_kernels() {
    let net = conv_net();
    let x = signals(&[5, 6, 6, 2], 1);
    let exact = gram(&net, &Inputs::new(x.view(), None).unwrap(), Kind::Both, &Control::default()).unwrap();
    let (exact_ntk, exact_rf) = (exact.ntk.unwrap(), exact.rf.unwrap());
    let errors = |m: usize| {
        let draws = Owned::draw(&net, 2, &[(m, 2 * m), (m, m)], 7);
        let (ntk, rf) = run::<f64>(&net, &x, &draws, 0);
        (relative_error(&ntk, &exact_ntk), relative_error(&rf, &exact_rf))
    };
    let (small, large) = (errors(64), errors(4096));
    assert!(large.0 < 0.05 && large.1 < 0.05, "errors at m = 4096: {large:?}");
    assert!(large.0 < small.0 / 3.0 && large.1 < small.1 / 3.0, "{small:?} then {large:?}");
}

#[test]
fn features_do_not_depend_on_batches_or_threads() {
    let net = conv_net();
    let x = signals(&[7, 5, 6, 3], 2);
    let draws = Owned::draw(&net, 3, &[(33, 40), (20, 17)], 3);
    let whole = run::<f32>(&net, &x, &draws, 0);
    for batch in [1, 2, 7] {
        assert_eq!(run::<f32>(&net, &x, &draws, batch), whole, "batch {batch}");
    }
    for threads in [1, 3] {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        // `threads::install` runs on the current pool when called from one.
        assert_eq!(pool.install(|| run::<f32>(&net, &x, &draws, 2)), whole, "{threads} threads");
    }
    // One image alone gives its row of the batch.
    let one = x.slice_axis(ndarray::Axis(0), (4..5).into()).to_owned();
    let (ntk, rf) = run::<f32>(&net, &one, &draws, 0);
    assert_eq!((ntk.row(0), rf.row(0)), (whole.0.row(4), whole.1.row(4)));
}

#[test]
fn inconsistent_draws_are_errors() {
    let net = conv_net();
    let x = signals(&[2, 5, 6, 3], 2);
    let draws = Owned::draw(&net, 2, &[(8, 8), (8, 8)], 3);
    let mut out = Array2::<f64>::zeros((2, 16));
    let err = features_into(
        &net,
        x.view(),
        &draws.views(),
        true,
        Some(out.view_mut()),
        None,
        0,
        &Control::default(),
    )
    .unwrap_err();
    assert!(matches!(&err, Error::Invalid(m) if m.contains("directions of shape (27, 4)")), "{err:?}");
    let draws = Owned::draw(&net, 3, &[(8, 8), (8, 8)], 3);
    let mut wrong = Array2::<f64>::zeros((2, 15));
    let err = features_into(
        &net,
        x.view(),
        &draws.views(),
        true,
        Some(wrong.view_mut()),
        None,
        0,
        &Control::default(),
    )
    .unwrap_err();
    assert!(matches!(&err, Error::Invalid(m) if m.contains("expected shape (2, 16)")), "{err:?}");
}
