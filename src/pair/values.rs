//! The kernel values of one pair, as the paths return them.

use crate::simd::times_pow2;

/// Kernel values of one pair.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Values {
    pub ntk: Option<f64>,
    pub rf: f64,
}

impl Values {
    /// The values of the pair of signals before they were divided by
    /// `2^exponent` and `2^exponent'` (see [`crate::signal::Signal::exponent`]), given those
    /// of the scaled signals and `exponent + exponent'`. Infinite where they
    /// exceed `f64`.
    pub fn scaled(self, exponent: i32) -> Values {
        Values { ntk: self.ntk.map(|k| times_pow2(k, exponent)), rf: times_pow2(self.rf, exponent) }
    }

    /// Whether both are finite (see [`Values::scaled`]).
    pub fn finite(&self) -> bool {
        self.rf.is_finite() && self.ntk.is_none_or(f64::is_finite)
    }
}
