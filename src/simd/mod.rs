//! Numbers and instruction sets: the precision the maps are computed in
//! ([`Real`], `f64` or `f32`), and the one place where code is sent to the
//! instructions the CPU has ([`Isa::dispatch`]).
//!
//! The hot loops are generic over `const FMA: bool`: `false` is code for
//! the baseline of the target (any x86-64, or any other architecture),
//! `true` the same code compiled for AVX2 with FMA. [`Isa::dispatch`] runs
//! a [`Kernel`] in the best of the two the CPU supports, so one build
//! serves every x86-64 machine and no `target-cpu=native` is needed.

mod lanes;
mod real;

pub use lanes::lanes;
pub use real::{Precision, Real, binary_exponent, mul_add, polynomial, times_pow2};

/// The instructions the hot loops run in, chosen at run time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Isa(Level);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Level {
    Portable,
    /// Only built by [`Isa::best`] after detecting the features.
    #[cfg(target_arch = "x86_64")]
    Avx2Fma,
}

/// Code generic over the instruction set: [`Isa::dispatch`] calls
/// [`Kernel::run`] with `FMA = true` inside a function compiled for AVX2
/// and FMA, or with `FMA = false`.
///
/// Implementations mark [`Kernel::run`] `#[inline(always)]`, and so must everything
/// it calls that should be compiled for AVX2: only code inlined into the
/// dispatching function gets its instructions.
pub trait Kernel {
    type Output;
    fn run<const FMA: bool>(self) -> Self::Output;
}

impl Isa {
    /// The best this CPU runs.
    pub fn best() -> Isa {
        #[cfg(target_arch = "x86_64")]
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            return Isa(Level::Avx2Fma);
        }
        Isa(Level::Portable)
    }

    /// Code for the baseline of the target (tests compare it with `best`).
    pub fn portable() -> Isa {
        Isa(Level::Portable)
    }

    /// Whether AVX2 and FMA instructions may run.
    pub fn avx2_fma(self) -> bool {
        match self.0 {
            Level::Portable => false,
            #[cfg(target_arch = "x86_64")]
            Level::Avx2Fma => true,
        }
    }

    /// Runs `kernel` in these instructions: the one place where code
    /// compiled for AVX2 and FMA is entered.
    #[inline]
    pub fn dispatch<K: Kernel>(self, kernel: K) -> K::Output {
        #[cfg(target_arch = "x86_64")]
        if self.avx2_fma() {
            // SAFETY: `Isa` reports AVX2 and FMA only where the CPU has them.
            return unsafe { avx2_fma(kernel) };
        }
        kernel.run::<false>()
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn avx2_fma<K: Kernel>(kernel: K) -> K::Output {
    kernel.run::<true>()
}
