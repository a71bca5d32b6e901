//! TensorSketch of `f0 ⊗ q` (Pham & Pagh 2013): count sketches of both
//! factors into `s` buckets, multiplied as a circular convolution through
//! real FFTs of length `s` (the realfft crate).

use std::sync::Arc;

use realfft::num_complex::Complex;
use realfft::{ComplexToReal, RealFftPlanner, RealToComplex};

use super::scalar::Scalar;
use crate::error::Result;
use crate::memory;

/// The FFT plans of one sketch size, shared by the threads.
#[derive(Clone)]
pub struct Plans<T: Scalar> {
    size: usize,
    forward: Arc<dyn RealToComplex<T>>,
    inverse: Arc<dyn ComplexToReal<T>>,
}

impl<T: Scalar> Plans<T> {
    pub fn new(planner: &mut RealFftPlanner<T>, size: usize) -> Plans<T> {
        Plans { size, forward: planner.plan_fft_forward(size), inverse: planner.plan_fft_inverse(size) }
    }

    /// Bytes of the buffers of a [`Convolver`] of these plans.
    pub fn convolver_bytes(&self) -> usize {
        let complex =
            2 * (self.size / 2 + 1) + self.forward.get_scratch_len().max(self.inverse.get_scratch_len());
        complex * 2 * size_of::<T>()
    }
}

/// One thread's buffers for circular convolutions of one size.
pub struct Convolver<T: Scalar> {
    plans: Plans<T>,
    left: Vec<Complex<T>>,
    right: Vec<Complex<T>>,
    scratch: Vec<Complex<T>>,
}

impl<T: Scalar> Convolver<T> {
    pub fn new(plans: &Plans<T>) -> Result<Convolver<T>> {
        let complex = plans.size / 2 + 1;
        let scratch = plans.forward.get_scratch_len().max(plans.inverse.get_scratch_len());
        let zero = Complex::new(T::zero(), T::zero());
        Ok(Convolver {
            plans: plans.clone(),
            left: memory::filled(complex, zero, "an FFT buffer")?,
            right: memory::filled(complex, zero, "an FFT buffer")?,
            scratch: memory::filled(scratch, zero, "an FFT buffer")?,
        })
    }

    /// `out[j] = Σ_i a[i] b[(j − i) mod s]`; `a` and `b` are overwritten.
    pub fn convolve(&mut self, a: &mut [T], b: &mut [T], out: &mut [T]) {
        let s = self.plans.size;
        if s == 1 {
            out[0] = a[0] * b[0];
            return;
        }
        // The lengths match the plans by construction: no error can occur.
        let fft = |x: &mut [T], y: &mut [Complex<T>], scratch: &mut [Complex<T>]| {
            self.plans.forward.process_with_scratch(x, y, scratch).expect("FFT lengths match their plan")
        };
        fft(a, &mut self.left, &mut self.scratch);
        fft(b, &mut self.right, &mut self.scratch);
        let scale = T::of(1.0 / s as f64);
        for (l, r) in self.left.iter_mut().zip(&self.right) {
            *l = *l * *r * scale;
        }
        // The products' imaginary parts at frequencies 0 and s/2 are exact
        // zeros (products of reals), as the inverse transform requires.
        self.plans
            .inverse
            .process_with_scratch(&mut self.left, out, &mut self.scratch)
            .expect("FFT lengths match their plan");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn convolution_is_circular() {
        for s in [1usize, 2, 5, 8] {
            let a: Vec<f64> = (0..s).map(|i| (i as f64) - 1.5).collect();
            let b: Vec<f64> = (0..s).map(|i| ((i * 7) % 5) as f64 + 0.25).collect();
            let want: Vec<f64> = (0..s).map(|j| (0..s).map(|i| a[i] * b[(j + s - i) % s]).sum()).collect();
            let plans = Plans::new(&mut RealFftPlanner::new(), s);
            let mut c = Convolver::new(&plans).unwrap();
            let mut out = vec![0.0; s];
            c.convolve(&mut a.clone(), &mut b.clone(), &mut out);
            for (o, w) in out.iter().zip(&want) {
                assert!((o - w).abs() < 1e-12, "s={s}: {out:?} vs {want:?}");
            }
        }
    }
}
