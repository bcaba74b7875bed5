//! `gather_fetch._engine`: the Python package's native half, a thin layer
//! of PyO3 over the `gather-http` engine and the `gather` library. It has
//! no fetch logic of its own: retries, redirects, politeness, decoding and
//! the wire are the engine's; running many requests at once is the
//! library's `as_completed`; putting results back in order is the engine's
//! `order`. What lives here is only what Python needs:
//!
//! | file | what it does |
//! |---|---|
//! | `run.rs` | a call's run: reading `requests` from Python, the engine's results to Python in batches, cancellation |
//! | `client.rs` | `Client`: one engine (connections, per-origin state) held across calls, and its single requests |
//! | `signal.rs` | the pipe through which the engine's threads wake the event loop without the GIL |
//! | `requests.rs` | an item of `requests` (a URL, a dict, a `Request`) read into a request, or that item's failure |
//! | `options.rs` | the keyword arguments, checked into the engine's configuration, each error naming its argument |
//! | `response.rs` | `Response`, its `Headers`, and the `Failure` the Python layer turns into a `FetchError` |
//! | `runtime.rs` | the engine's threads, one runtime per process (and per forked child) |
//!
//! The Python API is `python/gather_fetch/`: the calls (`fetch`,
//! `as_completed`, `stream`, `fetch_sync`) in `__init__.py`, the
//! exceptions in `_errors.py`, the typed options in `_options.py`, and
//! this module's stubs in `_engine.pyi` (checked by `stubtest`).

mod client;
mod options;
mod requests;
mod response;
mod run;
mod runtime;
mod signal;

use pyo3::prelude::*;

#[pymodule]
fn _engine(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<run::Run>()?;
    m.add_class::<client::Client>()?;
    m.add_class::<requests::Request>()?;
    m.add_class::<response::Response>()?;
    m.add_class::<response::Headers>()?;
    m.add_class::<response::Redirect>()?;
    m.add_class::<response::Failure>()?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("DEFAULTS", options::defaults(m.py())?)?;
    // At import, not in the first call: a call runs on the event loop's
    // thread, and reading the system's certificates takes milliseconds a
    // 1 ms timer beside it would feel (`scripts/bench_loop.py`).
    m.py().detach(gather_http::tls::load_trusted_roots);
    Ok(())
}
