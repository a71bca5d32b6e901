//! The thread pool every computation runs on, and the [`Control`] through
//! which the calling thread stops its workers and reads their progress.
//!
//! The pool's size comes from [`set_num_threads`], else the
//! `NTK_RS_NUM_THREADS` environment variable, else the number of cores. A
//! computation started from inside another rayon pool runs on that pool
//! instead ([`install`]), as rayon's own parallel iterators do.

mod control;

use std::sync::{Arc, RwLock};

use rayon::{ThreadPool, ThreadPoolBuilder};

pub use control::Control;

use crate::error::{Result, invalid};

pub const ENV_VAR: &str = "NTK_RS_NUM_THREADS";

static POOL: RwLock<Option<Arc<ThreadPool>>> = RwLock::new(None);

/// Most threads a pool may have: more than any machine's cores, fewer than
/// would take seconds to start (`set_num_threads(10**6)` took 17 s to fail).
pub fn max_threads() -> usize {
    (4 * cores()).max(1024)
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn build(threads: usize) -> Result<Arc<ThreadPool>> {
    if threads > max_threads() {
        return Err(invalid!("n: at most {} threads, got {threads}", max_threads()));
    }
    let pool = ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("ntk_rs-{i}"))
        .build()
        .map_err(|e| invalid!("n: could not start {threads} threads: {e}"))?;
    Ok(Arc::new(pool))
}

fn default_threads() -> Result<usize> {
    match std::env::var(ENV_VAR) {
        Ok(v) => match v.trim().parse::<usize>() {
            Ok(n) if (1..=max_threads()).contains(&n) => Ok(n),
            _ => Err(invalid!("{ENV_VAR} must be an integer from 1 to {}, got {v:?}", max_threads())),
        },
        Err(_) => Ok(cores()),
    }
}

/// The current pool, built on first use.
pub fn pool() -> Result<Arc<ThreadPool>> {
    if let Some(p) = POOL.read().unwrap_or_else(|e| e.into_inner()).as_ref() {
        return Ok(Arc::clone(p));
    }
    let mut slot = POOL.write().unwrap_or_else(|e| e.into_inner());
    match slot.as_ref() {
        Some(p) => Ok(Arc::clone(p)),
        None => Ok(Arc::clone(slot.insert(build(default_threads()?)?))),
    }
}

/// Uses `threads` workers from now on (0: back to the default). Calls in
/// flight finish on the pool they started with.
pub fn set_num_threads(threads: usize) -> Result<()> {
    let n = if threads == 0 { default_threads()? } else { threads };
    let pool = build(n)?;
    *POOL.write().unwrap_or_else(|e| e.into_inner()) = Some(pool);
    Ok(())
}

pub fn num_threads() -> Result<usize> {
    Ok(pool()?.current_num_threads())
}

/// The threads a call started now runs on (see [`install`]).
pub fn current() -> Result<usize> {
    if rayon::current_thread_index().is_some() {
        return Ok(rayon::current_num_threads());
    }
    num_threads()
}

/// Runs `work` on the current rayon pool when called from one of its
/// threads, else on this crate's [`pool`].
pub fn install<R: Send>(work: impl FnOnce() -> Result<R> + Send) -> Result<R> {
    if rayon::current_thread_index().is_some() {
        return work();
    }
    pool()?.install(work)
}
