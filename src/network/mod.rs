//! What is computed: the network as plain data (spec §1, §3), its
//! validation and the grid each layer works on; and, for a network on a
//! given input grid, the plan of the computation ([`plan::Plan`]): which
//! pairs of positions each map stores ([`axis`]), the linear steps between
//! maps ([`steps`]), and which of the pair paths computes it.

pub mod axis;
pub mod plan;
pub mod positionwise;
pub mod steps;

#[cfg(test)]
use crate::error::Error;
use crate::error::{Result, invalid};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Padding {
    /// The grid keeps its size; positions outside read as zero.
    Same,
    /// Patches stay inside the grid, which shrinks by `s - 1`.
    Valid,
    /// Indices wrap around.
    Circular,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Pool {
    /// `(A z)[i] = Σ_j h[j] z[stride·i + j − (len(h)−1)/2]` along every axis.
    Filter { h: Vec<f64>, stride: usize },
    /// The grid collapses to one position holding the mean.
    GlobalAverage,
}

impl Pool {
    pub fn identity() -> Pool {
        Pool::Filter { h: vec![1.0], stride: 1 }
    }

    /// The pooling along an axis of `len` positions with zero padding: the
    /// filter without the taps that read outside the axis for every output
    /// (`|j − (r−1)/2| ≥ len`), trimmed from both ends so that its centre
    /// stays the centre (spec §5). Exact: those taps only ever read zeros.
    pub fn along(&self, len: usize) -> Pool {
        match self {
            Pool::Filter { h, stride } => {
                // Offsets `o = j − centre` with `|o| < len`: whenever taps go,
                // the kept length is odd and the kept centre is the old one.
                let centre = (h.len() - 1) / 2;
                let keep = centre.saturating_sub(len - 1)..(centre + len).min(h.len());
                Pool::Filter { h: h[keep].to_vec(), stride: *stride }
            }
            Pool::GlobalAverage => Pool::GlobalAverage,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Layer {
    /// Patch size along each spatial axis (empty for vector inputs).
    pub patch: Vec<usize>,
    pub padding: Padding,
    pub pool: Pool,
}

/// The grids one layer sees, per spatial axis.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LayerGrids {
    /// Grid of the layer's input (the previous layer's output).
    pub input: Vec<usize>,
    /// Grid after the patch step, where the norms and the non-linearity live.
    pub patched: Vec<usize>,
    /// Grid after pooling.
    pub pooled: Vec<usize>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Net {
    layers: Vec<Layer>,
}

impl Net {
    /// Checks what does not depend on the input: at least one layer, patch
    /// sizes and strides ≥ 1, filters non-empty, finite and non-negative.
    pub fn new(layers: Vec<Layer>) -> Result<Net> {
        if layers.is_empty() {
            return Err(invalid!("layers: a network needs at least one layer"));
        }
        for (k, layer) in layers.iter().enumerate() {
            if let Some(s) = layer.patch.iter().find(|&&s| s == 0) {
                return Err(invalid!("layer {k}: patch size must be >= 1, got {s}"));
            }
            if let Pool::Filter { h, stride } = &layer.pool {
                if *stride == 0 {
                    return Err(invalid!("layer {k}: pooling stride must be >= 1, got 0"));
                }
                if h.is_empty() {
                    return Err(invalid!("layer {k}: pooling filter is empty"));
                }
                if h.iter().any(|w| !w.is_finite() || *w < 0.0) {
                    return Err(invalid!(
                        "layer {k}: pooling filter entries must be finite and >= 0, got {h:?}"
                    ));
                }
            }
        }
        Ok(Net { layers })
    }

    pub fn layers(&self) -> &[Layer] {
        &self.layers
    }

    /// A fully connected network of `depth` layers (for tests).
    #[cfg(test)]
    pub fn fully_connected(depth: usize) -> Net {
        Net::new(vec![Layer { patch: vec![], padding: Padding::Same, pool: Pool::identity() }; depth])
            .expect("a valid network")
    }

    /// The grids of every layer for inputs on `grid` (one length per spatial
    /// axis), checking that patch ranks match and no grid becomes empty.
    pub fn grids(&self, grid: &[usize]) -> Result<Vec<LayerGrids>> {
        if grid.contains(&0) {
            return Err(invalid!("X: spatial sizes must be >= 1, got {grid:?}"));
        }
        // Positions are numbered in 32 bits (network::axis).
        if grid.iter().any(|&len| len >= u32::MAX as usize) {
            return Err(invalid!("X: spatial sizes must be below 2^32 - 1, got {grid:?}"));
        }
        let mut current = grid.to_vec();
        let mut out = Vec::with_capacity(self.layers.len());
        for (k, layer) in self.layers.iter().enumerate() {
            if layer.patch.len() != grid.len() {
                return Err(invalid!(
                    "layer {k}: patch has {} axes but the input has {} spatial axes",
                    layer.patch.len(),
                    grid.len()
                ));
            }
            let patched: Vec<usize> = match layer.padding {
                Padding::Valid => {
                    let mut g = Vec::with_capacity(current.len());
                    for (&len, &s) in current.iter().zip(&layer.patch) {
                        if s > len {
                            return Err(invalid!(
                                "layer {k}: a 'valid' patch of size {s} does not fit a grid of \
                                 length {len} (grid {current:?}); the output would be empty"
                            ));
                        }
                        g.push(len - s + 1);
                    }
                    g
                }
                Padding::Circular => {
                    if let Some((&len, &s)) = current.iter().zip(&layer.patch).find(|&(&len, &s)| s > len) {
                        return Err(invalid!(
                            "layer {k}: a 'circular' patch of size {s} is longer than the grid it \
                             reads (length {len}, grid {current:?}) and would read positions twice; \
                             use a patch of at most {len}"
                        ));
                    }
                    current.clone()
                }
                Padding::Same => current.clone(),
            };
            if let (Padding::Circular, Pool::Filter { h, .. }) = (layer.padding, &layer.pool)
                && let Some(&len) = patched.iter().find(|&&len| h.len() > len)
            {
                return Err(invalid!(
                    "layer {k}: a 'circular' pooling filter of {} taps is longer than the grid it \
                     pools (length {len}) and would read positions twice; use at most {len} taps",
                    h.len()
                ));
            }
            let pooled: Vec<usize> = match &layer.pool {
                Pool::Filter { stride, .. } => patched.iter().map(|&l| l.div_ceil(*stride)).collect(),
                Pool::GlobalAverage => vec![1; patched.len()],
            };
            out.push(LayerGrids { input: current, patched, pooled: pooled.clone() });
            current = pooled;
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(patch: usize, padding: Padding, pool: Pool) -> Layer {
        Layer { patch: vec![patch, patch], padding, pool }
    }

    #[test]
    fn grids_follow_padding_and_stride() {
        let net = Net::new(vec![
            layer(3, Padding::Valid, Pool::Filter { h: vec![0.5, 0.5], stride: 2 }),
            layer(3, Padding::Same, Pool::GlobalAverage),
        ])
        .unwrap();
        let g = net.grids(&[9, 8]).unwrap();
        assert_eq!(g[0].patched, vec![7, 6]);
        assert_eq!(g[0].pooled, vec![4, 3]);
        assert_eq!(g[1].input, vec![4, 3]);
        assert_eq!(g[1].pooled, vec![1, 1]);
    }

    #[test]
    fn rejects_bad_layers() {
        assert!(Net::new(vec![]).is_err());
        assert!(Net::new(vec![layer(0, Padding::Same, Pool::identity())]).is_err());
        for pool in [
            Pool::Filter { h: vec![], stride: 1 },
            Pool::Filter { h: vec![1.0], stride: 0 },
            Pool::Filter { h: vec![-1.0], stride: 1 },
            Pool::Filter { h: vec![f64::NAN], stride: 1 },
        ] {
            assert!(Net::new(vec![layer(1, Padding::Same, pool)]).is_err());
        }
    }

    /// Clipped filters pool as the whole filter does (zero padding), the
    /// centre kept, for odd and even lengths and every stride.
    #[test]
    fn clipped_filters_pool_as_the_whole_filter() {
        let pool = |h: &[f64], stride: usize, z: &[f64]| -> Vec<f64> {
            let c = (h.len() as isize - 1) / 2;
            (0..z.len().div_ceil(stride))
                .map(|i| {
                    let at = |j: usize| (stride * i) as isize + j as isize - c;
                    (0..h.len()).filter_map(|j| z.get(usize::try_from(at(j)).ok()?).map(|v| h[j] * v)).sum()
                })
                .collect()
        };
        for r in 1..12 {
            let h: Vec<f64> = (0..r).map(|j| 1.0 + j as f64).collect();
            for len in 1..7 {
                let z: Vec<f64> = (0..len).map(|u| (u * 7 % 5) as f64 + 0.5).collect();
                for stride in 1..4 {
                    let Pool::Filter { h: clipped, .. } = (Pool::Filter { h: h.clone(), stride }).along(len)
                    else {
                        unreachable!()
                    };
                    assert!(
                        clipped.len() <= (2 * len - 1).max(1)
                            && (clipped.len() == r || clipped.len() % 2 == 1)
                    );
                    assert_eq!(
                        pool(&clipped, stride, &z),
                        pool(&h, stride, &z),
                        "r {r} len {len} t {stride}"
                    );
                }
            }
        }
    }

    #[test]
    fn circular_steps_longer_than_the_grid_are_refused() {
        let net = Net::new(vec![layer(5, Padding::Circular, Pool::identity())]).unwrap();
        assert!(net.grids(&[5, 5]).is_ok());
        assert!(
            matches!(net.grids(&[4, 9]), Err(Error::Invalid(m)) if m.contains("'circular' patch of size 5"))
        );
        let wide = Pool::Filter { h: vec![0.2; 5], stride: 1 };
        let net = Net::new(vec![layer(1, Padding::Circular, wide)]).unwrap();
        assert!(net.grids(&[5, 5]).is_ok());
        assert!(
            matches!(net.grids(&[4, 9]), Err(Error::Invalid(m)) if m.contains("pooling filter of 5 taps"))
        );
    }

    #[test]
    fn rejects_empty_valid_grid_and_rank_mismatch() {
        let net = Net::new(vec![layer(5, Padding::Valid, Pool::identity())]).unwrap();
        assert!(net.grids(&[4, 9]).is_err());
        assert!(net.grids(&[9]).is_err());
    }
}
