//! Exact neural tangent (NTK) and random-feature (RF) kernels of deep
//! convolutional ReLU networks with patch extraction, padding and linear
//! pooling (Bietti & Mairal, 2019), computed pair by pair over the threads
//! of a rayon pool. The conventions are those of `docs/spec.md`, cited in
//! the code as "spec §n".
//!
//! ```
//! use ndarray::Array;
//! use ntk_rs::{Control, Inputs, Kind, Layer, Net, Padding, Pool, gram};
//!
//! let net = Net::new(vec![
//!     Layer { patch: vec![3], padding: Padding::Same, pool: Pool::identity() },
//!     Layer { patch: vec![3], padding: Padding::Same, pool: Pool::GlobalAverage },
//! ]).unwrap();
//! let x = Array::from_shape_fn((4, 10, 2), |(i, u, c)| ((i * 7 + u * 3 + c) % 5) as f64 - 2.0).into_dyn();
//! let k = gram(&net, &Inputs::new(x.view(), None).unwrap(), Kind::Both, &Control::default()).unwrap();
//! let (ntk, rf) = (k.ntk.unwrap(), k.rf.unwrap());
//! assert!(ntk[[0, 1]] >= rf[[0, 1]]);
//! ```
//!
//! The layers of the engine, each a private module, from the bottom up
//! (drawn in `docs/design.md`; `cargo doc --document-private-items` shows
//! them): `simd` (precisions and the instruction-set dispatch), `network`
//! (the network and its plan on a grid), `kappa` (κ0, κ1 and the ReLU
//! step), `maps` (operations on rows of pair maps), `recursion` (the
//! row-wise recursion of one pair), `signal` (per-signal data), `pair` (the
//! pair paths), `threads` (the pool and the control of a call) and `gram`
//! (Gram matrices); beside them `features`, the second engine (random feature
//! maps, on the same network description, pool and memory guard).

// The engine's items reach the public API only through the doc(hidden)
// `internals`; links among them are checked by
// `RUSTDOCFLAGS="-D warnings" cargo doc --document-private-items`.
#![allow(rustdoc::private_intra_doc_links)]

mod error;
mod features;
mod gram;
mod kappa;
mod maps;
mod memory;
mod network;
mod pair;
#[cfg(feature = "python")]
mod python;
mod recursion;
mod signal;
mod simd;
mod threads;

pub use error::{Error, Result};
pub use features::{LayerDraws, Scalar, SketchDraws, feature_dims, features_into, widths, widths_on};
pub use gram::{
    BLOCK_MEMORY, Footprint, Gram, Inputs, Kind, SelfKernels, footprint, gram, gram_into, prepare,
    self_kernels,
};
pub use network::{Layer, Net, Padding, Pool};
pub use simd::Precision;
pub use threads::{Control, num_threads, set_num_threads};

/// The engine's internals, for the benchmarks and profiling examples of
/// this repository only: no stability promised.
#[doc(hidden)]
pub mod internals {
    pub use crate::kappa::arccos::kappas;
    pub use crate::kappa::relu::{RowNorms, Tangent, inverse_norm, relu_row};
    pub use crate::maps::{apply_cols, pool_cols};
    pub use crate::network::Padding;
    pub use crate::network::axis::AxisPairs;
    pub use crate::network::plan::{Plan, Target};
    pub use crate::network::steps::{AxisOp, ColOp};
    pub use crate::pair::{Workspace, kernel};
    pub use crate::recursion::Buffers;
    pub use crate::signal::Signal;
    pub use crate::simd::{Isa, Kernel, Precision, Real};
}
