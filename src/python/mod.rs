//! The compiled module `ntk_rs._core`: converts arguments, runs the engine
//! off the GIL, and maps its errors. Argument checking with user-facing
//! messages lives in Python (`ntk_rs.network`); the engine re-checks what
//! it relies on.
//!
//! No panic crosses into Python: every function's body, and the work it
//! sends to the pool, runs under [`std::panic::catch_unwind`], and a panic
//! becomes a `RuntimeError` that asks for a report.

mod args;
mod call;
mod features;
mod gram;

use pyo3::prelude::*;

use crate::error::Error;
use crate::threads;
use call::{guarded, run_detached, to_pyerr};

/// Uses `n` threads from now on (0: the default).
#[pyfunction]
fn set_num_threads(n: usize) -> PyResult<()> {
    guarded(|| threads::set_num_threads(n).map_err(to_pyerr))
}

#[pyfunction]
fn get_num_threads() -> PyResult<usize> {
    guarded(|| threads::num_threads().map_err(to_pyerr))
}

/// Bytes this process can still allocate (see [`crate::memory::available`]),
/// or None where unknown.
#[pyfunction]
fn available_memory() -> PyResult<Option<u64>> {
    guarded(|| crate::memory::available().map_err(to_pyerr))
}

/// Panics on purpose, in the calling thread (`where_ = "call"`) or in a
/// worker of the pool (`"worker"`): for the tests that no panic reaches
/// Python as anything but a `RuntimeError`.
#[pyfunction]
fn _panic_for_tests(py: Python<'_>, where_: &str) -> PyResult<()> {
    guarded(|| match where_ {
        "call" => panic!("a test panic in the call"),
        _ => run_detached(py, None, |_| -> Result<(), Error> { panic!("a test panic in a worker") }),
    })
}

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    gram::register(m)?;
    features::register(m)?;
    m.add_function(wrap_pyfunction!(set_num_threads, m)?)?;
    m.add_function(wrap_pyfunction!(get_num_threads, m)?)?;
    m.add_function(wrap_pyfunction!(available_memory, m)?)?;
    m.add_function(wrap_pyfunction!(_panic_for_tests, m)?)?;
    m.add("NUM_THREADS_ENV", threads::ENV_VAR)?;
    m.add("MEMORY_LIMIT_ENV", crate::memory::LIMIT_VAR)?;
    Ok(())
}
