//! The thread pool every computation runs on: its size comes from
//! `set_num_threads`, else the `NTK_RS_NUM_THREADS` environment variable,
//! else the number of cores.

use std::sync::{Arc, RwLock};

use rayon::{ThreadPool, ThreadPoolBuilder};

use crate::error::{Result, invalid};

pub const ENV_VAR: &str = "NTK_RS_NUM_THREADS";

static POOL: RwLock<Option<Arc<ThreadPool>>> = RwLock::new(None);

fn build(threads: usize) -> Arc<ThreadPool> {
    Arc::new(
        ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("ntk_rs-{i}"))
            .build()
            .expect("the OS can start the worker threads"),
    )
}

fn default_threads() -> Result<usize> {
    match std::env::var(ENV_VAR) {
        Ok(v) => match v.trim().parse::<usize>() {
            Ok(n) if n >= 1 => Ok(n),
            _ => Err(invalid!("{ENV_VAR} must be a positive integer, got {v:?}")),
        },
        Err(_) => Ok(std::thread::available_parallelism().map_or(1, |n| n.get())),
    }
}

/// The current pool, built on first use.
pub fn pool() -> Result<Arc<ThreadPool>> {
    if let Some(p) = POOL.read().expect("pool lock").as_ref() {
        return Ok(Arc::clone(p));
    }
    let mut slot = POOL.write().expect("pool lock");
    if slot.is_none() {
        *slot = Some(build(default_threads()?));
    }
    Ok(Arc::clone(slot.as_ref().expect("just set")))
}

/// Uses `threads` workers from now on (0: back to the default). Calls in
/// flight finish on the pool they started with.
pub fn set_num_threads(threads: usize) -> Result<()> {
    let n = if threads == 0 { default_threads()? } else { threads };
    *POOL.write().expect("pool lock") = Some(build(n));
    Ok(())
}

pub fn num_threads() -> Result<usize> {
    Ok(pool()?.current_num_threads())
}
