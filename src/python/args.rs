//! Arguments as Python sends them, converted to the engine's types.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use super::call::to_pyerr;
use crate::gram::Kind;
use crate::network::{Layer, Net, Padding, Pool};
use crate::simd::Precision;

/// One layer as Python sends it: per-axis patch sizes, padding name, and
/// the pooling filter with its stride (`None` for global average pooling).
pub(super) type LayerArgs = (Vec<usize>, String, Option<Vec<f64>>, usize);

pub(super) fn net_from(layers: Vec<LayerArgs>) -> PyResult<Net> {
    let layers = layers
        .into_iter()
        .enumerate()
        .map(|(k, (patch, padding, h, stride))| {
            let padding = match padding.as_str() {
                "same" => Padding::Same,
                "valid" => Padding::Valid,
                "circular" => Padding::Circular,
                other => {
                    return Err(PyValueError::new_err(format!("layer {k}: unknown padding {other:?}")));
                }
            };
            let pool = match h {
                Some(h) => Pool::Filter { h, stride },
                None => Pool::GlobalAverage,
            };
            Ok(Layer { patch, padding, pool })
        })
        .collect::<PyResult<Vec<_>>>()?;
    Net::new(layers).map_err(to_pyerr)
}

/// The precision maps are computed in, by its NumPy name.
pub(super) fn precision_from(dtype: &str) -> PyResult<Precision> {
    match dtype {
        "float64" => Ok(Precision::F64),
        "float32" => Ok(Precision::F32),
        other => Err(PyValueError::new_err(format!("dtype: expected 'float64' or 'float32', got {other:?}"))),
    }
}

/// What a call computes, by its Python name.
pub(super) fn kind_from(kind: &str) -> PyResult<Kind> {
    match kind {
        "ntk" => Ok(Kind::Ntk),
        "rf" => Ok(Kind::Rf),
        "both" => Ok(Kind::Both),
        other => Err(PyValueError::new_err(format!("kind: expected 'ntk', 'rf' or 'both', got {other:?}"))),
    }
}
