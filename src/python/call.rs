//! How a call runs: on the pool without the GIL while the calling thread
//! watches for Ctrl-C and reports progress, with the engine's errors and
//! any panic mapped to Python exceptions.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc;
use std::time::Duration;

use pyo3::exceptions::{PyMemoryError, PyRuntimeError, PyValueError};
use pyo3::prelude::*;

use crate::error::Error;
use crate::threads::{self, Control};

/// How often the waiting thread looks for Ctrl-C.
const POLL: Duration = Duration::from_millis(50);

pub(super) fn to_pyerr(e: Error) -> PyErr {
    match e {
        Error::Invalid(msg) => PyValueError::new_err(msg),
        Error::Memory(msg) => PyMemoryError::new_err(msg),
        // Only raised after a signal handler already set the Python error.
        Error::Cancelled => PyRuntimeError::new_err("computation cancelled"),
    }
}

/// The error for a panic: a bug of ntk_rs, never the caller's.
fn panicked(payload: Box<dyn std::any::Any + Send>) -> PyErr {
    let what = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic".into());
    PyRuntimeError::new_err(format!(
        "ntk_rs internal error ({what}); please report it with the call that raised it"
    ))
}

/// `body()`, with a panic turned into a `RuntimeError` (see the module doc).
pub(super) fn guarded<T>(body: impl FnOnce() -> PyResult<T>) -> PyResult<T> {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or_else(|payload| Err(panicked(payload)))
}

/// Runs `work` on the thread pool without the GIL while this thread waits,
/// checking for signals (Ctrl-C) every [`POLL`] and passing the units done so
/// far to `progress` when they changed (the workers never touch Python). On
/// a signal, or an exception from `progress`, the work is cancelled and
/// waited for before the exception is raised, so no work outlives the call.
/// (A thread of its own per call cost 70 µs to start, more than many calls'
/// work.)
pub(super) fn run_detached<T: Send>(
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
            let _ = tx.send(catch_unwind(AssertUnwindSafe(|| work(control))));
        });
        let mut rx = rx;
        loop {
            // The receiver is Send but not Sync: move it in and back out.
            let (received, back) = py.detach(move || (rx.recv_timeout(POLL), rx));
            rx = back;
            match received {
                Ok(Ok(result)) => {
                    let value = result.map_err(to_pyerr)?;
                    report(control.done())?;
                    return Ok(value);
                }
                Ok(Err(payload)) => return Err(panicked(payload)),
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if let Err(e) = py.check_signals().and_then(|()| report(control.done())) {
                        control.cancel();
                        let _ = py.detach(move || rx.recv());
                        return Err(e);
                    }
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    return Err(PyRuntimeError::new_err("ntk_rs internal error: a worker stopped"));
                }
            }
        }
    })
}
