//! How a feature dimension is spent across the layers (`docs/features.md`,
//! "Widths"): the design study's allocation of the lowest error at a
//! given cost. The one place of this rule: Python asks it through
//! `_core.feature_widths`.

use crate::error::{Result, invalid};
use crate::gram::Kind;
use crate::network::Net;

/// Fewest RF features of an intermediate layer.
const MIN_HIDDEN: usize = 64;
/// Largest NTK sketch of an intermediate layer: beyond it the FFTs cost
/// more than they gain.
const MAX_SKETCH: usize = 4096;

/// Per layer `(m, s)` of features of length `dim` for a network of
/// `layers` layers whose final grid (`final_grid`, for the message) keeps
/// `positions` positions. The final layer takes `w = dim / positions` per
/// position (`positions` must divide `dim`), `s = w / 2` and `m = w − s`
/// for the NTK (`m = w`, `s = 0` for RF features only); the intermediate
/// layers `m = max(64, 32 · round(dim / 256))` and `s = min(4m, 4096)` (`s
/// = 0` for RF features only).
pub fn widths(
    layers: usize,
    positions: usize,
    final_grid: Option<&[usize]>,
    dim: usize,
    kind: Kind,
) -> Result<Vec<(usize, usize)>> {
    let ntk = kind != Kind::Rf;
    let positions = positions.max(1);
    let least = if ntk { 2 } else { 1 } * positions;
    if dim < least || dim % positions != 0 {
        let below = least.max(dim / positions * positions);
        let above = least.max(if below < dim { below + positions } else { below });
        let nearest = if below == above { format!("{below}") } else { format!("{below} or {above}") };
        let grid = final_grid.map_or(String::new(), |g| format!(" {g:?}"));
        return Err(invalid!(
            "dim: the network keeps {positions} position(s) on its final grid{grid} and the features \
             concatenate them, so dim must be a multiple of {positions} of at least {least}, got {dim} \
             (nearest: {nearest})"
        ));
    }
    let w = dim / positions;
    let hidden = MIN_HIDDEN.max(32 * (dim.saturating_add(128) / 256));
    let inner = (hidden, if ntk { (4 * hidden).min(MAX_SKETCH) } else { 0 });
    let last = if ntk { (w - w / 2, w / 2) } else { (w, 0) };
    let mut out = vec![inner; layers.saturating_sub(1)];
    out.push(last);
    Ok(out)
}

/// [`widths`] of `net` for signals on `grid`.
pub fn widths_on(net: &Net, grid: &[usize], dim: usize, kind: Kind) -> Result<Vec<(usize, usize)>> {
    let grids = net.grids(grid)?;
    let last = &grids.last().expect("a network has layers").pooled;
    widths(grids.len(), last.iter().product(), Some(last), dim, kind)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;
    use crate::network::{Layer, Padding, Pool};

    #[test]
    fn the_final_layer_takes_dim() {
        let layer = |pool| Layer { patch: vec![3], padding: Padding::Same, pool };
        let net =
            Net::new(vec![layer(Pool::identity()), layer(Pool::Filter { h: vec![1.0], stride: 4 })]).unwrap();
        assert_eq!(widths_on(&net, &[16], 4096, Kind::Ntk).unwrap(), vec![(512, 2048), (512, 512)]);
        assert_eq!(widths_on(&net, &[16], 64, Kind::Rf).unwrap(), vec![(64, 0), (16, 0)]);
        let Err(Error::Invalid(msg)) = widths_on(&net, &[16], 4098, Kind::Ntk) else { panic!("accepted") };
        assert!(msg.contains("final grid [4]") && msg.contains("(nearest: 4096 or 4100)"), "{msg}");
    }
}
