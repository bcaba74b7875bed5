//! The engine's threads: one tokio runtime for the whole process, made on
//! first use, with a worker per core.
//!
//! Every call shares it, as every `aiohttp` call shares its event loop:
//! threads are not started and stopped per call, and no call's threads
//! outlive the process. What a call starts (its requests, its connections)
//! is its own and ends with it (see `run.rs`).
//!
//! A process made by `fork()` (multiprocessing's default on Linux) inherits
//! the runtime's memory but none of its threads: a call there on the
//! parent's runtime would wait for ever. So the runtime is tied to the
//! process id, and a child makes its own. (The parent's is left as it is:
//! its memory in the child is a copy nobody runs.)

use std::sync::Mutex;

use pyo3::exceptions::PyRuntimeError;
use pyo3::PyResult;
use tokio::runtime::Runtime;

/// The runtime, and the process that made it.
static RUNTIME: Mutex<Option<(u32, &'static Runtime)>> = Mutex::new(None);

/// This process's runtime, made if it has none yet.
pub fn runtime() -> PyResult<&'static Runtime> {
    let mut slot = RUNTIME.lock().unwrap_or_else(|e| e.into_inner());
    let pid = std::process::id();
    if let Some((owner, runtime)) = *slot {
        if owner == pid {
            return Ok(runtime);
        }
    }
    let workers = std::env::var("GATHER_FETCH_THREADS")
        .ok()
        .and_then(|n| n.parse::<usize>().ok())
        .filter(|n| *n > 0)
        .unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map_or(1, |n| n.get().saturating_sub(1))
                .max(1)
        });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .thread_name("gather-fetch")
        .enable_all()
        .build()
        .map_err(|e| PyRuntimeError::new_err(format!("cannot start the engine's threads: {e}")))?;
    // Leaked on purpose: it lives as long as the process (a forked child's
    // copy of the parent's is never dropped either: dropping it would wait
    // for threads that do not exist there).
    let runtime: &'static Runtime = Box::leak(Box::new(runtime));
    *slot = Some((pid, runtime));
    Ok(runtime)
}
