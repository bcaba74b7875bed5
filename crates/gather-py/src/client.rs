//! `gather_fetch.Client`'s native half: one engine held across calls, as
//! an `aiohttp.ClientSession` or an `httpx.AsyncClient` is.
//!
//! A client owns a [`Fetcher`]: its connections, TLS roots, each origin's
//! window and pacing, and the configuration. Each call on it runs on a
//! [`Fetcher::share`] of that fetcher, with a stop of its own, so that
//! cancelling one call (or one being dropped) stops that call only, and
//! the next call finds the connections the last one left open.
//!
//! Single requests (`client.get(url)`) do not each get a run with a pipe
//! of its own: 500 of them at once under `asyncio.gather` would take 1,000
//! file descriptors, past the 1,024 a desktop allows by default. Each is a
//! task on the runtime, running a one-request engine [`Run`](gather_http::Run)
//! (so its panics, timeouts and errors are the engine's, as in a call's);
//! its result goes to the client's one mailbox, under its ticket, and the
//! client's one pipe tells the event loop ([`Signal`]).

use std::collections::HashMap;
use std::io::PipeReader;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use gather_http::{Fetcher, Job, Request, UrlParser};
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyTuple};
use tokio::task::AbortHandle;

use crate::options;
use crate::requests;
use crate::response::{Done, Meta};
use crate::runtime::runtime;
use crate::signal::Signal;

/// A client: the engine held across calls.
#[pyclass(module = "gather_fetch._engine", frozen)]
pub struct Client {
    fetcher: Arc<Fetcher>,
    /// A call's default reorder window.
    pub window: usize,
    pub base_url: Option<url::Url>,
    /// The process that made it: a forked child has none of its threads.
    pid: u32,
    /// That process's runtime, where single requests run (taken once: a
    /// single request checks `pid` already, and looking the runtime up
    /// again cost it a lock and a `getpid` call).
    runtime: &'static tokio::runtime::Runtime,
    singles: Arc<Singles>,
    pipe: PipeReader,
    /// Single requests in flight, by ticket, and the next ticket.
    in_flight: Mutex<InFlight>,
}

#[derive(Default)]
struct InFlight {
    tasks: HashMap<u64, AbortHandle>,
    /// Set by [`Client::close`]: nothing more is sent.
    closed: bool,
}

/// Where single requests' results wait for Python.
struct Singles {
    ready: Mutex<Vec<(u64, Done)>>,
    signal: Signal,
}

static TICKETS: AtomicU64 = AtomicU64::new(0);

impl Client {
    /// A fetcher for one call: the client's connections and per-origin
    /// state, with a stop of its own.
    pub fn share(&self) -> PyResult<Fetcher> {
        self.check_usable()?;
        Ok(self.fetcher.share())
    }

    fn check_usable(&self) -> PyResult<()> {
        if self.pid != std::process::id() {
            return Err(PyRuntimeError::new_err(
                "this Client was made in another process (before a fork): make one in this process",
            ));
        }
        if lock(&self.in_flight).closed {
            return Err(PyRuntimeError::new_err("the Client is closed"));
        }
        Ok(())
    }
}

#[pymethods]
impl Client {
    /// A client configured by `options` (the keyword arguments of
    /// `gather_fetch.Client`), checked here as a call's are.
    #[new]
    fn new(options: &Bound<'_, PyDict>) -> PyResult<Client> {
        let runtime = runtime()?;
        let engine = options::read(options)?.engine(options.py(), runtime)?;
        let (signal, pipe) = Signal::new()?;
        Ok(Client {
            fetcher: Arc::new(engine.fetcher),
            window: engine.window,
            base_url: engine.base_url,
            pid: std::process::id(),
            runtime,
            singles: Arc::new(Singles {
                ready: Mutex::default(),
                signal,
            }),
            pipe,
            in_flight: Mutex::default(),
        })
    }

    /// Sends one request (`item`: a URL, a dict, a `Request`); its result
    /// comes from [`take`](Client::take) under the ticket returned.
    fn send(&self, item: &Bound<'_, PyAny>) -> PyResult<u64> {
        self.check_usable()?;
        let item = requests::read(item, &mut UrlParser::default(), self.base_url.as_ref());
        let ticket = TICKETS.fetch_add(1, Ordering::Relaxed);
        let job = Job {
            index: 0,
            request: item.url.map(|url| Request {
                url,
                payload: item.payload.map(Arc::new),
            }),
            meta: Meta {
                given: item.given,
                id: item.id,
            },
        };
        let fetcher = Arc::new(self.fetcher.share());
        let singles = self.singles.clone();
        let task = self.runtime.spawn(async move {
            let mut run = gather_http::Run::builder(fetcher)
                .in_place(true)
                .start(std::iter::once(job));
            if let Some(finished) = run.next().await {
                let done = Done {
                    index: 0,
                    result: finished.result,
                    meta: finished.meta,
                };
                lock(&singles.ready).push((ticket, done));
                singles.signal.raise();
            }
        });
        let mut in_flight = lock(&self.in_flight);
        if !task.is_finished() {
            in_flight.tasks.insert(ticket, task.abort_handle());
        }
        Ok(ticket)
    }

    /// The pipe's end to watch (`loop.add_reader`): readable when
    /// [`take`](Client::take) has results.
    fn fileno(&self) -> i32 {
        use std::os::fd::AsRawFd;
        self.pipe.as_raw_fd()
    }

    /// Says the pipe was read: the next result writes to it again.
    fn ack(&self) {
        self.singles.signal.ack();
    }

    /// The single requests' results ready now, as `(ticket, Response |
    /// Failure)` pairs.
    fn take<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let ready = std::mem::take(&mut *lock(&self.singles.ready));
        {
            let mut in_flight = lock(&self.in_flight);
            for (ticket, _) in &ready {
                in_flight.tasks.remove(ticket);
            }
        }
        let list = PyList::empty(py);
        for (ticket, done) in ready {
            let value = done.into_python(py)?;
            list.append(PyTuple::new(
                py,
                [ticket.into_pyobject(py)?.into_any().unbind(), value],
            )?)?;
        }
        Ok(list)
    }

    /// Cancels the single request `ticket` (its awaiting task was
    /// cancelled): dropped with its connection if in flight.
    fn cancel(&self, ticket: u64) {
        if let Some(task) = lock(&self.in_flight).tasks.remove(&ticket) {
            task.abort();
        }
    }

    /// Closes the client: the single requests in flight are cancelled, no
    /// call starts after it, and the connections close once the calls
    /// still running (each holding its share) end.
    fn close(&self) {
        let tasks = {
            let mut in_flight = lock(&self.in_flight);
            in_flight.closed = true;
            std::mem::take(&mut in_flight.tasks)
        };
        for task in tasks.into_values() {
            task.abort();
        }
        self.fetcher.stop_starting();
    }

    /// `True` once [`close`](Client::close)d.
    #[getter]
    fn closed(&self) -> bool {
        lock(&self.in_flight).closed
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        let in_flight = self.in_flight.get_mut().unwrap_or_else(|e| e.into_inner());
        for task in in_flight.tasks.values() {
            task.abort();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
