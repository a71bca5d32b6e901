//! The draws of a call checked against the network and the input, and
//! converted once to the call's precision; and the sizes of the buffers
//! they need per image.

use realfft::RealFftPlanner;

use super::draws::{LayerDraws, SketchDraws};
use super::geometry::Geometry;
use super::scalar::Scalar;
use super::sketch::Plans;
use crate::error::{Error, Result, invalid};
use crate::memory;
use crate::network::Net;
use crate::threads::Control;

/// A layer's draws converted to the precision, with its geometry.
pub struct Prepared<T: Scalar> {
    pub index: usize,
    pub geometry: Geometry,
    /// The patch grid (where the features are computed).
    pub grids: Vec<usize>,
    pub channels_x: usize,
    pub channels_tau: usize,
    pub dp: usize,
    pub h: usize,
    pub m: usize,
    pub s: usize,
    pub w: Vec<T>,
    pub sketch: Option<PreparedSketch<T>>,
}

pub struct PreparedSketch<T: Scalar> {
    pub bucket1: Vec<u32>,
    pub sign1: Vec<T>,
    pub bucket2: Vec<u32>,
    pub sign2: Vec<T>,
    pub plans: Plans<T>,
}

/// Scalars per image of each buffer of [`BatchBuffers`](super::forward::BatchBuffers) (the maximum over the
/// layers), and of one row's sketch.
#[derive(Debug, Default)]
pub struct Sizes {
    pub x: usize,
    pub tau: usize,
    pub patches: usize,
    pub rows: usize,
    pub z: usize,
    pub r: usize,
    pub t: usize,
    pub pooled: usize,
    pub sketch: usize,
}

impl Sizes {
    pub fn per_image(&self) -> usize {
        [self.x, self.tau, self.patches, self.rows, self.z, self.r, self.t, self.pooled]
            .into_iter()
            .fold(0, usize::saturating_add)
    }
}

/// Checks the draws against the network and the input, and converts them.
pub fn prepare<T: Scalar>(
    net: &Net,
    grid: &[usize],
    channels: usize,
    draws: &[LayerDraws<'_>],
    ntk: bool,
    control: &Control,
) -> Result<Vec<Prepared<T>>> {
    let grids = net.grids(grid)?;
    if draws.len() != grids.len() {
        return Err(invalid!("draws: {} layers for a network of {}", draws.len(), grids.len()));
    }
    let mut planner = RealFftPlanner::<T>::new();
    let (mut cx, mut ct) = (channels, 0usize);
    let mut out = Vec::with_capacity(draws.len());
    for (k, ((layer, grids), d)) in net.layers().iter().zip(&grids).zip(draws).enumerate() {
        control.check()?;
        let geometry = Geometry::new(layer, grids)?;
        let dp = geometry.taps.checked_mul(cx).ok_or_else(|| invalid!("layer {k}: patches too large"))?;
        let h = d.m.div_ceil(2);
        if d.m == 0 || d.w.dim() != (dp, h) {
            return Err(invalid!(
                "draws: layer {k} needs m >= 1 and directions of shape ({dp}, {h}), got m = {} and {:?}",
                d.m,
                d.w.dim()
            ));
        }
        let mut w = memory::zeroed(dp.saturating_mul(h), "the random directions")?;
        w.iter_mut().zip(d.w.iter()).for_each(|(dst, &v)| *dst = T::of(v));
        let sketch = match (&d.sketch, ntk) {
            (Some(sk), true) => Some(prepare_sketch(k, sk, d.m, geometry.taps * (cx + ct), &mut planner)?),
            (None, true) => return Err(invalid!("draws: layer {k} has no sketch, which NTK features need")),
            (_, false) => None,
        };
        let s = match (&sketch, &d.sketch) {
            (Some(_), Some(sk)) => sk.size,
            _ => 0,
        };
        out.push(Prepared {
            index: k,
            geometry,
            grids: grids.patched.clone(),
            channels_x: cx,
            channels_tau: ct,
            dp,
            h,
            m: d.m,
            s,
            w,
            sketch,
        });
        (cx, ct) = (d.m, s);
    }
    Ok(out)
}

fn prepare_sketch<T: Scalar>(
    k: usize,
    sk: &SketchDraws<'_>,
    m: usize,
    dq: usize,
    planner: &mut RealFftPlanner<T>,
) -> Result<PreparedSketch<T>> {
    let bad = |what: &str| -> Error { invalid!("draws: layer {k}'s sketch: {what}") };
    if sk.size == 0 {
        return Err(bad("its size must be >= 1"));
    }
    if sk.bucket1.len() != m || sk.sign1.len() != m || sk.bucket2.len() != dq || sk.sign2.len() != dq {
        return Err(bad(&format!(
            "expected {m} buckets and signs of f0 and {dq} of q, got {}, {}, {}, {}",
            sk.bucket1.len(),
            sk.sign1.len(),
            sk.bucket2.len(),
            sk.sign2.len()
        )));
    }
    let buckets = |b: &[i64]| -> Result<Vec<u32>> {
        b.iter()
            .map(|&v| {
                (0..sk.size as i64)
                    .contains(&v)
                    .then_some(v as u32)
                    .ok_or_else(|| bad(&format!("bucket {v} outside 0..{}", sk.size)))
            })
            .collect()
    };
    let signs = |s: &[f64]| -> Result<Vec<T>> {
        s.iter()
            .map(|&v| if v.is_finite() { Ok(T::of(v)) } else { Err(bad("signs must be finite")) })
            .collect()
    };
    Ok(PreparedSketch {
        bucket1: buckets(sk.bucket1)?,
        sign1: signs(sk.sign1)?,
        bucket2: buckets(sk.bucket2)?,
        sign2: signs(sk.sign2)?,
        plans: Plans::new(planner, sk.size),
    })
}

/// The per-image sizes of the buffers (see [`Sizes`]).
pub fn sizes<T: Scalar>(layers: &[Prepared<T>], ntk: bool) -> Sizes {
    let mut z = Sizes::default();
    for l in layers {
        let g = &l.geometry;
        let (pin, p, pout) = (g.positions_in, g.positions, g.positions_out);
        let s = if ntk { l.s } else { 0 };
        // Saturating: sizes that large are refused by the memory guard.
        let mul = usize::saturating_mul;
        z.x = z.x.max(mul(pin, l.channels_x)).max(mul(pout, l.m));
        z.tau = z.tau.max(mul(pin, l.channels_tau)).max(mul(pout, s));
        z.patches = z.patches.max(mul(p, l.dp));
        z.rows = z.rows.max(p);
        z.z = z.z.max(mul(p, l.h));
        z.r = z.r.max(mul(p, l.m));
        z.t = z.t.max(mul(p, s));
        z.pooled = z.pooled.max(mul(p, l.m.max(s)));
        z.sketch = z.sketch.max(s);
    }
    z
}
