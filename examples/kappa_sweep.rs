//! Prints `c κ0(c) κ1(c)` from the vectorisable arc-cosine (`kappa::arccos::kappas`)
//! on a sweep of `[−1, 1]`, for `tools/kappa_fit.py --check`, which compares
//! them with mpmath: one line per point and variant
//! (`f64-fma`, `f64`, `f32-fma`, `f32`), values in shortest round-trip decimal.
//! `cargo run --release --example kappa_sweep | python tools/kappa_fit.py --check -`

use ntk_rs::internals::{Real, kappas};

fn print<T: Real, const FMA: bool>(name: &str, c: T) {
    let (k0, k1) = kappas::<T, FMA>(c);
    println!("{name} {:?} {:?} {:?}", c.widen(), k0.widen(), k1.widen());
}

fn main() {
    let uniform = 20_000;
    let mut points: Vec<f64> = (0..=uniform).map(|i| -1.0 + 2.0 * i as f64 / uniform as f64).collect();
    // Clustered where the reduction switches and at the singular ends.
    for k in 0..400 {
        let d = 2f64.powf(-(k as f64) / 8.0);
        for centre in [-1.0, -0.5, 0.0, 0.5, 1.0] {
            points.extend([centre - d, centre + d].into_iter().filter(|c: &f64| c.abs() <= 1.0));
        }
    }
    for c in points {
        print::<f64, true>("f64-fma", c);
        print::<f64, false>("f64", c);
        print::<f32, true>("f32-fma", c as f32);
        print::<f32, false>("f32", c as f32);
    }
}
