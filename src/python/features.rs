//! The feature map function of `ntk_rs._core`.

use numpy::{Element, PyArray2, PyArrayMethods, PyReadonlyArray1, PyReadonlyArray2, PyReadonlyArrayDyn};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;

use super::args::{LayerArgs, kind_from, net_from};
use super::call::to_pyerr;
use super::call::{guarded, run_detached};
use crate::features::{LayerDraws, Scalar, SketchDraws, features_into};
use crate::gram::Kind;
use crate::network::Net;

/// One layer's draws as Python sends them: `(W, m, s, bucket1, sign1,
/// bucket2, sign2)`, the last four None when `s == 0`.
type DrawArgs<'py> = (
    PyReadonlyArray2<'py, f64>,
    usize,
    usize,
    Option<PyReadonlyArray1<'py, i64>>,
    Option<PyReadonlyArray1<'py, f64>>,
    Option<PyReadonlyArray1<'py, i64>>,
    Option<PyReadonlyArray1<'py, f64>>,
);

fn layer_draws<'a>(k: usize, d: &'a DrawArgs<'_>) -> PyResult<LayerDraws<'a>> {
    let (w, m, s, b1, s1, b2, s2) = d;
    let sketch = match (*s, b1, s1, b2, s2) {
        (0, ..) => None,
        (size, Some(b1), Some(s1), Some(b2), Some(s2)) => Some(SketchDraws {
            size,
            bucket1: b1.as_slice()?,
            sign1: s1.as_slice()?,
            bucket2: b2.as_slice()?,
            sign2: s2.as_slice()?,
        }),
        _ => return Err(PyValueError::new_err(format!("draws: layer {k} has s > 0 but no sketch"))),
    };
    Ok(LayerDraws { w: w.as_array(), m: *m, sketch })
}

/// Writes the features of `x` of `kind` into `ntk` and `rf` (None where
/// not asked for), arrays of `dtype` that `ntk_rs.features` checked as `kernel`'s
/// outputs are checked (see [`super::gram`]), passing the images done so
/// far to `progress`.
#[pyfunction]
#[pyo3(signature = (layers, x, draws, kind, normalize, dtype, ntk, rf, batch, progress))]
#[allow(clippy::too_many_arguments)]
fn features<'py>(
    py: Python<'py>,
    layers: Vec<LayerArgs>,
    x: PyReadonlyArrayDyn<'py, f64>,
    draws: Vec<DrawArgs<'py>>,
    kind: &str,
    normalize: bool,
    dtype: &str,
    ntk: Option<Bound<'py, PyAny>>,
    rf: Option<Bound<'py, PyAny>>,
    batch: usize,
    progress: Option<Bound<'py, PyAny>>,
) -> PyResult<()> {
    guarded(|| {
        let wanted = match kind_from(kind)? {
            Kind::Ntk => (true, false),
            Kind::Rf => (false, true),
            Kind::Both => (true, true),
        };
        if wanted != (ntk.is_some(), rf.is_some()) {
            return Err(PyValueError::new_err(format!("kind {kind:?}: the outputs given do not match it")));
        }
        let net = net_from(layers)?;
        let draws = draws.iter().enumerate().map(|(k, d)| layer_draws(k, d)).collect::<PyResult<Vec<_>>>()?;
        let args = Args { net: &net, x: &x, draws: &draws, normalize, batch, progress: progress.as_ref() };
        match dtype {
            "float64" => args.run::<f64>(py, ntk.as_ref(), rf.as_ref()),
            "float32" => args.run::<f32>(py, ntk.as_ref(), rf.as_ref()),
            other => {
                Err(PyValueError::new_err(format!("dtype: expected 'float64' or 'float32', got {other:?}")))
            }
        }
    })
}

struct Args<'a, 'py> {
    net: &'a Net,
    x: &'a PyReadonlyArrayDyn<'py, f64>,
    draws: &'a [LayerDraws<'a>],
    normalize: bool,
    batch: usize,
    progress: Option<&'a Bound<'py, PyAny>>,
}

impl<'py> Args<'_, 'py> {
    /// The call in precision `T`, the outputs' dtype.
    fn run<T: Scalar + Element>(
        &self,
        py: Python<'py>,
        ntk: Option<&Bound<'py, PyAny>>,
        rf: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<()> {
        let output = |out: Option<&Bound<'py, PyAny>>| -> PyResult<Option<Bound<'py, PyArray2<T>>>> {
            let Some(out) = out else { return Ok(None) };
            let array = out
                .cast::<PyArray2<T>>()
                .map_err(|_| PyTypeError::new_err("out must be a 2-D array of the feature map's dtype"))?;
            let flags = array.getattr("flags")?;
            if !(flags.getattr("writeable")?.extract::<bool>()?
                && flags.getattr("aligned")?.extract::<bool>()?)
            {
                return Err(PyValueError::new_err("out must be writeable and aligned"));
            }
            Ok(Some(array.clone()))
        };
        let (ntk, rf) = (output(ntk)?, output(rf)?);
        // SAFETY: writeable and aligned arrays of T that share no memory with
        // the input or each other and that no other call writes (checked by
        // `ntk_rs.features`); they outlive the call.
        let (ntk, rf) =
            unsafe { (ntk.as_ref().map(|a| a.as_array_mut()), rf.as_ref().map(|a| a.as_array_mut())) };
        let (x, net, draws, normalize, batch) =
            (self.x.as_array(), self.net, self.draws, self.normalize, self.batch);
        run_detached(py, self.progress, |control| {
            features_into(net, x, draws, normalize, ntk, rf, batch, control)
        })
    }
}

/// Per layer `(m, s)` of features of length `dim` for a network of
/// `layers` layers keeping `positions` positions on its final grid
/// (`final_grid`, for the message); see [`crate::features::widths`].
#[pyfunction]
#[pyo3(signature = (layers, positions, final_grid, dim, kind))]
fn feature_widths(
    layers: usize,
    positions: usize,
    final_grid: Option<Vec<usize>>,
    dim: usize,
    kind: &str,
) -> PyResult<Vec<(usize, usize)>> {
    guarded(|| {
        crate::features::widths(layers, positions, final_grid.as_deref(), dim, kind_from(kind)?)
            .map_err(to_pyerr)
    })
}

pub(super) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(features, m)?)?;
    m.add_function(wrap_pyfunction!(feature_widths, m)?)?;
    Ok(())
}
