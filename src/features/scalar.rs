//! The two precisions of feature maps: what they need beyond [`Real`],
//! a dense product and FFTs, each from its crate.

use crate::simd::Real;

/// `f32` or `f64`, with the matrix product of the GEMM crate.
pub trait Scalar: Real + realfft::FftNum {
    /// `c = a · b` for row-major contiguous `a` (`rows × inner`), `b`
    /// (`inner × cols`) and `c` (`rows × cols`). Each row of `c` is computed
    /// by the same operations whatever `rows` is, so batching images does
    /// not change their features.
    fn gemm(rows: usize, inner: usize, cols: usize, a: &[Self], b: &[Self], c: &mut [Self]);
}

macro_rules! scalar {
    ($t:ty, $gemm:ident) => {
        impl Scalar for $t {
            fn gemm(rows: usize, inner: usize, cols: usize, a: &[$t], b: &[$t], c: &mut [$t]) {
                assert!(a.len() >= rows * inner && b.len() >= inner * cols && c.len() >= rows * cols);
                // SAFETY: the slices hold the three row-major matrices (checked
                // above) and `c` is exclusively borrowed.
                unsafe {
                    matrixmultiply::$gemm(
                        rows,
                        inner,
                        cols,
                        1.0,
                        a.as_ptr(),
                        inner as isize,
                        1,
                        b.as_ptr(),
                        cols as isize,
                        1,
                        0.0,
                        c.as_mut_ptr(),
                        cols as isize,
                        1,
                    );
                }
            }
        }
    };
}

scalar!(f64, dgemm);
scalar!(f32, sgemm);
