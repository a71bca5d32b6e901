//! The random draws of a feature map as the caller gives them (Python
//! draws them from a seed): the engine is a deterministic function of them.

use ndarray::ArrayView2;

/// The random draws of one layer (see `docs/features.md` for the formulas).
#[derive(Clone, Debug)]
pub struct LayerDraws<'a> {
    /// Directions `W` (`|S| c_x × ceil(m/2)`): features `relu(±Wᵀp)`.
    pub w: ArrayView2<'a, f64>,
    /// RF features per position.
    pub m: usize,
    /// The TensorSketch of the NTK part; None for RF features only.
    pub sketch: Option<SketchDraws<'a>>,
}

/// Count sketches of `f0` (`m` entries) and `q` (`|S| (c_τ + c_x)`) into
/// `size` buckets, with their signs.
#[derive(Clone, Debug)]
pub struct SketchDraws<'a> {
    pub size: usize,
    pub bucket1: &'a [i64],
    pub sign1: &'a [f64],
    pub bucket2: &'a [i64],
    pub sign2: &'a [f64],
}
