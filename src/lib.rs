//! Exact neural tangent (NTK) and random-feature (RF) kernels of deep
//! convolutional ReLU networks with patch extraction, padding and linear
//! pooling (Bietti & Mairal, 2019), computed pair by pair over the threads
//! of a rayon pool. The conventions are those of `SPEC.md`.
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

pub mod arccos;
pub mod axis;
pub mod diagonal;
pub mod dots;
pub mod error;
pub mod gram;
pub mod isa;
pub mod kappa;
pub mod maps;
pub mod net;
pub mod pair;
pub mod plan;
pub mod real;
pub mod recursion;
pub mod reuse;
pub mod signal;
pub mod simd;
pub mod spread;
pub mod threads;
pub mod vectors;

#[cfg(feature = "python")]
mod python;

pub use error::{Error, Result};
pub use gram::{Control, Diagonal, Footprint, Gram, Inputs, Kind, diagonal, footprint, gram, gram_into};
pub use net::{Layer, Net, Padding, Pool};
pub use real::Precision;
