//! The Gram matrix functions of `ntk_rs._core`.

use numpy::{IntoPyArray, PyArray1, PyArray2, PyArrayMethods, PyReadonlyArrayDyn};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use super::args::{LayerArgs, kind_from, net_from, precision_from};
use super::call::{guarded, run_detached, to_pyerr};
use crate::gram::{self, Inputs};

type Vectors<'py> = (Option<Bound<'py, PyArray1<f64>>>, Option<Bound<'py, PyArray1<f64>>>);

/// Writes the Gram matrices of `x` against `z` (against itself when `z` is
/// None) into `ntk` and `rf` (either may be None), in blocks of at most
/// `block` signals a side, passing the pairs done so far to `progress`.
///
/// The outputs are written without NumPy's borrow tracking, which refuses
/// non-overlapping views of one buffer: `ntk_rs.network` has checked that
/// they are writeable, aligned and share no memory with each other or with
/// the inputs, and that no other call is writing them.
#[pyfunction]
#[pyo3(signature = (layers, x, z, ntk, rf, block, dtype, progress))]
#[allow(clippy::too_many_arguments)]
fn kernel<'py>(
    py: Python<'py>,
    layers: Vec<LayerArgs>,
    x: PyReadonlyArrayDyn<'py, f64>,
    z: Option<PyReadonlyArrayDyn<'py, f64>>,
    ntk: Option<Bound<'py, PyArray2<f64>>>,
    rf: Option<Bound<'py, PyArray2<f64>>>,
    block: usize,
    dtype: &str,
    progress: Option<Bound<'py, PyAny>>,
) -> PyResult<()> {
    guarded(|| {
        let net = net_from(layers)?;
        let inputs = Inputs::new(x.as_array(), z.as_ref().map(|z| z.as_array()))
            .map_err(to_pyerr)?
            .with_precision(precision_from(dtype)?);
        for out in ntk.iter().chain(rf.iter()) {
            let flags = out.getattr("flags")?;
            if !(flags.getattr("writeable")?.extract::<bool>()?
                && flags.getattr("aligned")?.extract::<bool>()?)
            {
                return Err(PyValueError::new_err("out must be writeable and aligned"));
            }
        }
        // SAFETY: the arrays are writeable and aligned float64, share no
        // memory with the inputs or each other, and no other call writes them
        // (checked by the caller, see above); they outlive the call.
        let (ntk, rf) =
            unsafe { (ntk.as_ref().map(|a| a.as_array_mut()), rf.as_ref().map(|a| a.as_array_mut())) };
        run_detached(py, progress.as_ref(), |control| gram::gram_into(&net, &inputs, ntk, rf, block, control))
    })
}

/// The block size of a call of `n × m` pairs of signals of `shape` (grid,
/// then channels), after the memory check of [`gram::prepare`]: `outputs`
/// bytes of new outputs, `block` the caller's block size or None.
#[pyfunction]
#[pyo3(signature = (layers, shape, n, m, dtype, block, outputs))]
#[allow(clippy::too_many_arguments)]
fn prepare(
    py: Python<'_>,
    layers: Vec<LayerArgs>,
    shape: Vec<usize>,
    n: usize,
    m: usize,
    dtype: &str,
    block: Option<usize>,
    outputs: u128,
) -> PyResult<usize> {
    guarded(|| {
        let net = net_from(layers)?;
        let precision = precision_from(dtype)?;
        let (channels, grid) = shape.split_last().ok_or_else(|| PyValueError::new_err("shape: empty"))?;
        run_detached(py, None, |control| {
            gram::prepare(&net, grid, *channels, precision, (n, m), block, outputs, control)
        })
    })
}

/// `(per_signal, per_thread)`: bytes of working memory of `kernel` for
/// signals of shape `shape` (grid, then channels) with maps in `dtype`;
/// see [`gram::footprint`].
#[pyfunction]
fn footprint(layers: Vec<LayerArgs>, shape: Vec<usize>, dtype: &str) -> PyResult<(usize, usize)> {
    guarded(|| {
        let net = net_from(layers)?;
        let (channels, grid) = shape.split_last().ok_or_else(|| PyValueError::new_err("shape: empty"))?;
        let f = gram::footprint(&net, grid, *channels, precision_from(dtype)?).map_err(to_pyerr)?;
        Ok((f.per_signal, f.per_thread))
    })
}

/// Self-kernels `(ntk, rf)` of every signal of `x`; the one not asked for
/// by `kind` is None.
#[pyfunction]
#[pyo3(signature = (layers, x, kind, dtype))]
fn kernel_diagonal<'py>(
    py: Python<'py>,
    layers: Vec<LayerArgs>,
    x: PyReadonlyArrayDyn<'py, f64>,
    kind: &str,
    dtype: &str,
) -> PyResult<Vectors<'py>> {
    guarded(|| {
        let net = net_from(layers)?;
        let kind = kind_from(kind)?;
        let inputs =
            Inputs::new(x.as_array(), None).map_err(to_pyerr)?.with_precision(precision_from(dtype)?);
        let out = run_detached(py, None, |control| gram::self_kernels(&net, &inputs, kind, control))?;
        Ok((out.ntk.map(|a| a.into_pyarray(py)), out.rf.map(|a| a.into_pyarray(py))))
    })
}

pub(super) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(kernel, m)?)?;
    m.add_function(wrap_pyfunction!(prepare, m)?)?;
    m.add_function(wrap_pyfunction!(kernel_diagonal, m)?)?;
    m.add_function(wrap_pyfunction!(footprint, m)?)?;
    m.add("BLOCK_MEMORY", gram::BLOCK_MEMORY)?;
    Ok(())
}
