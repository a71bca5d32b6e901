//! The instructions the recursion is compiled for, chosen at run time: the
//! shipped build targets any x86-64 (or any other architecture), and the
//! hot loops get a second copy compiled for AVX2 with FMA, used where the
//! CPU has them.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Isa(Level);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Level {
    Portable,
    /// Only built by `Isa::best` after detecting the features.
    #[cfg(target_arch = "x86_64")]
    Avx2Fma,
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
}
