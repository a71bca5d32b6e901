//! The benchmark workloads of `benches/bench.py`, for the Rust benches and
//! the profiling example: networks and deterministic pseudo-random signals.

use ndarray::{ArrayD, IxDyn};
use ntk_rs::{Layer, Net, Padding, Pool};

pub struct Workload {
    pub name: &'static str,
    /// Signal shape without the batch axis (channels last).
    pub shape: Vec<usize>,
    pub net: Net,
}

fn layer(dims: usize, patch: usize, pool: Pool) -> Layer {
    Layer { patch: vec![patch; dims], padding: Padding::Same, pool }
}

fn gaussian(stride: usize) -> Pool {
    let sigma = stride as f64 / 2f64.sqrt();
    let h: Vec<f64> = (-(stride as isize)..=stride as isize)
        .map(|j| (-((j * j) as f64) / (2.0 * sigma * sigma)).exp())
        .collect();
    let total: f64 = h.iter().sum();
    Pool::Filter { h: h.iter().map(|v| v / total).collect(), stride }
}

pub fn all() -> Vec<Workload> {
    let net = |layers| Net::new(layers).expect("a valid network");
    let id = Pool::identity;
    // Three 3×3 layers, global average pooling last.
    let gap = || net(vec![layer(2, 3, id()), layer(2, 3, id()), layer(2, 3, Pool::GlobalAverage)]);
    vec![
        Workload { name: "cifar-gap", shape: vec![32, 32, 3], net: gap() },
        Workload {
            name: "cifar-pool",
            shape: vec![32, 32, 3],
            net: net(vec![
                layer(2, 3, gaussian(2)),
                layer(2, 3, gaussian(2)),
                layer(2, 3, Pool::GlobalAverage),
            ]),
        },
        Workload {
            name: "mnist1d",
            shape: vec![40, 1],
            net: net(vec![
                layer(1, 5, Pool::Filter { h: vec![0.5, 0.5], stride: 2 }),
                layer(1, 5, Pool::Filter { h: vec![0.5, 0.5], stride: 2 }),
                layer(1, 5, Pool::GlobalAverage),
            ]),
        },
        Workload { name: "digits", shape: vec![8, 8, 1], net: gap() },
        Workload {
            name: "cifar-v",
            shape: vec![32, 32, 3],
            net: net(vec![layer(2, 3, id()), layer(2, 3, id()), layer(2, 3, id())]),
        },
        Workload { name: "fc", shape: vec![784], net: net((0..5).map(|_| layer(0, 1, id())).collect()) },
    ]
}

/// `n` signals of `shape` with entries uniform in [−1, 1) (xorshift).
pub fn signals(shape: &[usize], n: usize, seed: u64) -> ArrayD<f64> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut full = vec![n];
    full.extend_from_slice(shape);
    ArrayD::from_shape_simple_fn(IxDyn(&full), || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 52) as f64 - 1.0
    })
}
