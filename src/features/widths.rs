//! How a feature dimension is spent across the layers (`docs/features.md`,
//! "Widths"): the design study's allocation of the lowest error at a
//! given cost.

use crate::error::{Result, invalid};
use crate::gram::Kind;
use crate::network::Net;

/// Largest NTK sketch of an intermediate layer: beyond it the FFTs cost
/// more than they gain.
const MAX_SKETCH: usize = 4096;

/// Per layer `(m, s)` for features of length `dim` of signals on `grid`:
/// the final layer `dim / P_f` per final position (`P_f` must divide
/// `dim`), halved between the sketch and the RF part for the NTK; the
/// intermediate layers `m = max(64, dim/8)` rounded to 32 and
/// `s = min(4m, 4096)` (`s = 0` for RF features only).
pub fn widths(net: &Net, grid: &[usize], dim: usize, kind: Kind) -> Result<Vec<(usize, usize)>> {
    let grids = net.grids(grid)?;
    let positions: usize = grids.last().expect("a network has layers").pooled.iter().product();
    let ntk = kind != Kind::Rf;
    let minimum = if ntk { 2 } else { 1 } * positions;
    if dim < minimum || dim % positions != 0 {
        let below = (dim / positions).max(minimum / positions) * positions;
        return Err(invalid!(
            "dim: the network keeps {positions} positions on its final grid {:?} and the features \
             concatenate them, so dim must be a multiple of {positions} of at least {minimum}, got {dim} \
             (nearest: {below} or {})",
            grids.last().expect("a network has layers").pooled,
            below.max(dim.next_multiple_of(positions))
        ));
    }
    let per_position = dim / positions;
    let m = (dim / 8).div_ceil(32).max(2) * 32;
    let m = m.max(64);
    let hidden = (m, if ntk { (4 * m).min(MAX_SKETCH) } else { 0 });
    let last = if ntk { (per_position - per_position / 2, per_position / 2) } else { (per_position, 0) };
    let mut out = vec![hidden; grids.len() - 1];
    out.push(last);
    Ok(out)
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
        assert_eq!(widths(&net, &[16], 4096, Kind::Ntk).unwrap(), vec![(512, 2048), (512, 512)]);
        assert_eq!(widths(&net, &[16], 64, Kind::Rf).unwrap(), vec![(64, 0), (16, 0)]);
        let Err(Error::Invalid(msg)) = widths(&net, &[16], 4098, Kind::Ntk) else { panic!("accepted") };
        assert!(msg.contains("multiple of 4") && msg.contains("nearest: 4096 or 4100"), "{msg}");
    }
}
