//! The compiled module `ntk_rs._core`: converts arguments, runs the engine
//! off the GIL, and maps its errors. Argument checking with user-facing
//! messages lives in Python (`ntk_rs.network`); the engine re-checks what
//! it relies on.

use std::sync::mpsc;
use std::time::Duration;

use numpy::{IntoPyArray, PyArray1, PyReadonlyArrayDyn, PyReadwriteArray2};
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;

use crate::error::Error;
use crate::gram::{self, Inputs, Kind};
use crate::network::{Layer, Net, Padding, Pool};
use crate::simd::Precision;
use crate::threads::{self, Control};

/// How often the waiting thread looks for Ctrl-C.
const POLL: Duration = Duration::from_millis(50);

fn to_pyerr(e: Error) -> PyErr {
    match e {
        Error::Invalid(msg) => PyValueError::new_err(msg),
        // Only raised after a signal handler already set the Python error.
        Error::Cancelled => PyRuntimeError::new_err("computation cancelled"),
    }
}

/// Runs `work` on the thread pool without the GIL while this thread waits,
/// checking for signals (Ctrl-C) every [`POLL`] and passing the pairs done so
/// far to `progress` when they changed (the workers never touch Python). On
/// a signal, or an exception from `progress`, the work is cancelled and
/// waited for before the exception is raised, so no work outlives the call.
/// (A thread of its own per call cost 70 µs to start, more than many calls'
/// work.)
fn run_detached<T: Send>(
    py: Python<'_>,
    progress: Option<&Bound<'_, PyAny>>,
    work: impl FnOnce(&Control) -> Result<T, Error> + Send,
) -> PyResult<T> {
    let control = Control::default();
    let mut reported = 0;
    let mut report = |done: u64| -> PyResult<()> {
        match progress {
            Some(callback) if done != reported => {
                reported = done;
                callback.call1((done,)).map(drop)
            }
            _ => Ok(()),
        }
    };
    let pool = threads::pool().map_err(to_pyerr)?;
    pool.in_place_scope(|scope| {
        let (tx, rx) = mpsc::channel();
        let control = &control;
        scope.spawn(move |_| {
            // The receiver outlives the scope's jobs.
            let _ = tx.send(work(control));
        });
        let mut rx = rx;
        loop {
            // The receiver is Send but not Sync: move it in and back out.
            let (received, back) = py.detach(move || (rx.recv_timeout(POLL), rx));
            rx = back;
            match received {
                Ok(result) => {
                    let value = result.map_err(to_pyerr)?;
                    report(control.done())?;
                    return Ok(value);
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if let Err(e) = py.check_signals().and_then(|()| report(control.done())) {
                        control.cancel();
                        let _ = py.detach(move || rx.recv());
                        return Err(e);
                    }
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    return Err(PyRuntimeError::new_err("ntk_rs worker thread panicked"));
                }
            }
        }
    })
}

/// One layer as Python sends it: per-axis patch sizes, padding name, and
/// the pooling filter with its stride (`None` for global average pooling).
type LayerArgs = (Vec<usize>, String, Option<Vec<f64>>, usize);

fn net_from(layers: Vec<LayerArgs>) -> PyResult<Net> {
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

fn kind_from(kind: &str) -> PyResult<Kind> {
    match kind {
        "ntk" => Ok(Kind::Ntk),
        "rf" => Ok(Kind::Rf),
        "both" => Ok(Kind::Both),
        other => Err(PyValueError::new_err(format!("kind: expected 'ntk', 'rf' or 'both', got {other:?}"))),
    }
}

/// The precision maps are computed in, by its NumPy name.
fn precision_from(dtype: &str) -> PyResult<Precision> {
    match dtype {
        "float64" => Ok(Precision::F64),
        "float32" => Ok(Precision::F32),
        other => Err(PyValueError::new_err(format!("dtype: expected 'float64' or 'float32', got {other:?}"))),
    }
}

type Vectors<'py> = (Option<Bound<'py, PyArray1<f64>>>, Option<Bound<'py, PyArray1<f64>>>);

/// Writes the Gram matrices of `x` against `z` (against itself when `z` is
/// None) into `ntk` and `rf` (either may be None), in blocks of at most
/// `block` signals a side, passing the pairs done so far to `progress`.
#[pyfunction]
#[pyo3(signature = (layers, x, z, ntk, rf, block, dtype, progress))]
#[allow(clippy::too_many_arguments)]
fn kernel<'py>(
    py: Python<'py>,
    layers: Vec<LayerArgs>,
    x: PyReadonlyArrayDyn<'py, f64>,
    z: Option<PyReadonlyArrayDyn<'py, f64>>,
    mut ntk: Option<PyReadwriteArray2<'py, f64>>,
    mut rf: Option<PyReadwriteArray2<'py, f64>>,
    block: usize,
    dtype: &str,
    progress: Option<Bound<'py, PyAny>>,
) -> PyResult<()> {
    let net = net_from(layers)?;
    let inputs = Inputs::new(x.as_array(), z.as_ref().map(|z| z.as_array()))
        .map_err(to_pyerr)?
        .with_precision(precision_from(dtype)?);
    let (ntk, rf) = (ntk.as_mut().map(|a| a.as_array_mut()), rf.as_mut().map(|a| a.as_array_mut()));
    run_detached(py, progress.as_ref(), |control| gram::gram_into(&net, &inputs, ntk, rf, block, control))
}

/// `(per_signal, per_thread)`: bytes of working memory of `kernel` for
/// signals of shape `shape` (grid, then channels) with maps in `dtype`;
/// see [`gram::footprint`].
#[pyfunction]
fn footprint(layers: Vec<LayerArgs>, shape: Vec<usize>, dtype: &str) -> PyResult<(usize, usize)> {
    let net = net_from(layers)?;
    let (channels, grid) = shape.split_last().ok_or_else(|| PyValueError::new_err("shape: empty"))?;
    let f = gram::footprint(&net, grid, *channels, precision_from(dtype)?).map_err(to_pyerr)?;
    Ok((f.per_signal, f.per_thread))
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
    let net = net_from(layers)?;
    let kind = kind_from(kind)?;
    let inputs = Inputs::new(x.as_array(), None).map_err(to_pyerr)?.with_precision(precision_from(dtype)?);
    let out = run_detached(py, None, |control| gram::self_kernels(&net, &inputs, kind, control))?;
    Ok((out.ntk.map(|a| a.into_pyarray(py)), out.rf.map(|a| a.into_pyarray(py))))
}

/// Uses `n` threads from now on (0: the default).
#[pyfunction]
fn set_num_threads(n: usize) -> PyResult<()> {
    threads::set_num_threads(n).map_err(to_pyerr)
}

#[pyfunction]
fn get_num_threads() -> PyResult<usize> {
    threads::num_threads().map_err(to_pyerr)
}

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(kernel, m)?)?;
    m.add_function(wrap_pyfunction!(kernel_diagonal, m)?)?;
    m.add_function(wrap_pyfunction!(footprint, m)?)?;
    m.add_function(wrap_pyfunction!(set_num_threads, m)?)?;
    m.add_function(wrap_pyfunction!(get_num_threads, m)?)?;
    m.add("NUM_THREADS_ENV", threads::ENV_VAR)?;
    Ok(())
}
