//! One call's run: its requests read from Python on a thread of their own,
//! fetched by the engine on the shared runtime, and their results handed
//! to Python in batches.
//!
//! Three parties, and what each does with the GIL:
//!
//! - The **feeder** (a thread per run) reads `requests` in chunks of
//!   [`CHUNK`] items, holding the GIL only while it reads a chunk: a
//!   generator of a million items is read as requests start, never held
//!   whole, and the event loop runs between chunks.
//! - The **collector** (a task on the runtime) starts requests through
//!   `gather::as_completed` with `limit`, and puts each result in the
//!   mailbox, in input order when the run is ordered. It never takes the
//!   GIL: when the mailbox gets its first result, the waker Python left
//!   is called from a blocking-pool thread, which does.
//! - **Python** (the event loop's thread) takes what the mailbox holds, a
//!   batch at a time ([`Run::take`]), and makes the objects. While it
//!   waits it holds nothing: it awaits a future the waker completes.
//!
//! A request starts only while it is within `window` of the results taken,
//! so a consumer that stops reading (an `async for` that is slow, or
//! abandoned) stops the requests too, and memory stays bounded.
//!
//! Cancelling ([`Run::cancel`], or dropping the run) aborts the collector,
//! which aborts every request in flight (their connections are closed as
//! their futures drop), and the feeder stops at its next chunk.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use gather::Outcome;
use gather_http::order::{ByPosition, Written};
use gather_http::urls::UrlParser;
use gather_http::{FetchError, Fetcher, Kind, Page};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString, PyTuple};

use crate::options;
use crate::requests::{self, Item, Refused};
use crate::response::{Failure, Response};
use crate::runtime::runtime;

/// Items read from `requests` per hold of the GIL.
const CHUNK: usize = 256;
/// Results handed to Python per [`Run::take`]: the loop's other tasks run
/// between batches.
const BATCH: usize = 2048;

/// A chunk of items, and whether `requests` ended after it; or what it
/// raised.
type Chunk = Result<(Vec<Item>, bool), PyErr>;

/// A finished request, with what Python needs to report it.
struct Finished {
    index: usize,
    result: Result<Page, Failed>,
    meta: Meta,
}

/// Why a request has no page.
enum Failed {
    Fetch(FetchError),
    Refused(Refused),
}

/// What the request was, for its response or its error.
#[derive(Default)]
struct Meta {
    given: String,
    id: Option<Py<PyAny>>,
}

/// The mailbox between the collector and Python.
#[derive(Default)]
struct Mailbox {
    ready: VecDeque<Finished>,
    /// Every result is in `ready` (or was taken).
    complete: bool,
    /// What iterating `requests` raised: raised by the next `take`.
    input_error: Option<PyErr>,
    /// Called (with the GIL, from a blocking-pool thread) when `ready` gets
    /// a result or the run ends, then forgotten.
    waker: Option<Py<PyAny>>,
}

struct Shared {
    mailbox: Mutex<Mailbox>,
    /// For [`Run::wait`]: signalled with the waker.
    changed: Condvar,
    cancelled: AtomicBool,
    /// Results taken by Python: requests wait to be within the window of it.
    taken: Written,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Mailbox> {
        self.mailbox.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Wakes whoever waits for the mailbox: a thread in [`Run::wait`], and
    /// the Python waker. Called with the mailbox locked, which is released
    /// before Python is called.
    fn wake(&self, mut mailbox: MutexGuard<'_, Mailbox>) {
        let waker = mailbox.waker.take();
        drop(mailbox);
        self.changed.notify_all();
        if let Some(waker) = waker {
            // Off the runtime's workers: taking the GIL may wait for the
            // event loop's thread to give it up (up to Python's switch
            // interval), and a worker must not wait.
            let call = move || {
                Python::attach(|py| {
                    // A loop that is closed refuses the call: nobody waits.
                    let _ = waker.call0(py);
                })
            };
            if let Ok(handle) = tokio::runtime::Handle::try_current() {
                handle.spawn_blocking(call);
            } else {
                call();
            }
        }
    }
}

/// A run of `fetch()`, `as_completed()`, `stream()` or `fetch_sync()`.
#[pyclass(module = "gather_fetch._engine")]
pub struct Run {
    shared: Arc<Shared>,
    collector: Option<tokio::task::AbortHandle>,
}

#[pymethods]
impl Run {
    /// Starts fetching `requests` (any iterable) as `options` (the
    /// keyword arguments of the Python signature) say; results in input
    /// order when `ordered`.
    #[new]
    fn new(
        requests: &Bound<'_, PyAny>,
        ordered: bool,
        options: &Bound<'_, PyDict>,
    ) -> PyResult<Run> {
        if requests.is_instance_of::<PyString>() || requests.is_instance_of::<PyDict>() {
            return Err(PyTypeError::new_err(format!(
                "requests must be an iterable of requests (URLs, dicts or Requests), not a single {}: \
                 wrap it in a list",
                requests.get_type().name()?
            )));
        }
        let iter = requests.try_iter().map_err(|_| {
            PyTypeError::new_err(format!(
                "requests must be an iterable of requests (URLs, dicts or Requests), not {}",
                requests
                    .get_type()
                    .name()
                    .map_or_else(|_| "?".to_owned(), |n| n.to_string())
            ))
        })?;
        let options = options::read(options)?;
        let runtime = runtime()?;
        let fetcher = {
            let _enter = runtime.enter();
            Fetcher::new(options.config.clone()).map_err(pyo3::exceptions::PyValueError::new_err)?
        };
        let shared = Arc::new(Shared {
            mailbox: Mutex::default(),
            changed: Condvar::new(),
            cancelled: AtomicBool::new(false),
            taken: Written::default(),
        });
        let (tx, rx) = sync_channel(2);
        let iter = iter.unbind();
        let feeder_shared = shared.clone();
        std::thread::Builder::new()
            .name("gather-fetch-input".to_owned())
            .spawn(move || feed(iter, tx, &feeder_shared))
            .map_err(|e| {
                pyo3::exceptions::PyRuntimeError::new_err(format!("cannot start a thread: {e}"))
            })?;
        let collector = runtime.spawn(collect(
            rx,
            Arc::new(fetcher),
            options.config.limit,
            options.window,
            ordered,
            shared.clone(),
        ));
        Ok(Run {
            shared,
            collector: Some(collector.abort_handle()),
        })
    }

    /// The results ready now, as `(index, Response | Failure)` pairs (at
    /// most a batch); `[]` when none is ready yet, `None` once every
    /// result was taken. Raises what iterating `requests` raised.
    fn take<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyList>>> {
        let (batch, complete) = {
            let mut mailbox = self.shared.lock();
            if let Some(e) = mailbox.input_error.take() {
                return Err(e);
            }
            let n = mailbox.ready.len().min(BATCH);
            let batch: Vec<Finished> = mailbox.ready.drain(..n).collect();
            (batch, mailbox.complete && mailbox.ready.is_empty())
        };
        if batch.is_empty() && complete {
            return Ok(None);
        }
        if !batch.is_empty() {
            let taken = self.shared.taken.get() + batch.len();
            self.shared.taken.set(taken);
        }
        let list = PyList::empty(py);
        for done in batch {
            let value = match done.result {
                Ok(page) => Py::new(py, Response::new(done.index, done.meta.id, page))?.into_any(),
                Err(failed) => {
                    let (kind, message, elapsed, retries) = match failed {
                        Failed::Fetch(e) => (e.kind.as_str(), e.message, e.elapsed, e.retries),
                        Failed::Refused(r) => (r.kind, r.message, Duration::ZERO, 0),
                    };
                    let failure = Failure {
                        kind,
                        message,
                        index: done.index,
                        url: done.meta.given,
                        id: done.meta.id,
                        elapsed: elapsed.as_secs_f64(),
                        retries,
                    };
                    Py::new(py, failure)?.into_any()
                }
            };
            list.append(PyTuple::new(
                py,
                [done.index.into_pyobject(py)?.into_any().unbind(), value],
            )?)?;
        }
        Ok(Some(list))
    }

    /// Calls `waker()` (once, from another thread) as soon as [`take`]
    /// has something to give: at once if it has now.
    ///
    /// [`take`]: Run::take
    fn on_ready(&self, py: Python<'_>, waker: Py<PyAny>) -> PyResult<()> {
        let mut mailbox = self.shared.lock();
        if !mailbox.ready.is_empty() || mailbox.complete || mailbox.input_error.is_some() {
            drop(mailbox);
            waker.call0(py)?;
            return Ok(());
        }
        mailbox.waker = Some(waker);
        Ok(())
    }

    /// Waits, without the GIL, up to `timeout` seconds for [`take`] to
    /// have something to give (for `fetch_sync`, which returns to Python
    /// between waits so that Ctrl-C is seen).
    ///
    /// [`take`]: Run::take
    fn wait(&self, py: Python<'_>, timeout: f64) {
        let timeout = Duration::from_secs_f64(timeout.clamp(0.0, 3600.0));
        py.detach(|| {
            let mailbox = self.shared.lock();
            let _unused = self
                .shared
                .changed
                .wait_timeout_while(mailbox, timeout, |m| {
                    m.ready.is_empty() && !m.complete && m.input_error.is_none()
                })
                .unwrap_or_else(|e| e.into_inner());
        });
    }

    /// Stops the run: no request starts after it, those in flight are
    /// dropped with their connections, results not taken are forgotten.
    /// Calling it again does nothing.
    fn cancel(&mut self) {
        self.stop();
    }
}

impl Run {
    /// Aborts the collector (and with it every request in flight), stops
    /// the feeder, and ends the mailbox: whoever waits on it is woken and
    /// finds the run over.
    fn stop(&mut self) {
        self.shared.cancelled.store(true, Ordering::SeqCst);
        let Some(collector) = self.collector.take() else {
            return;
        };
        collector.abort();
        let mut mailbox = self.shared.lock();
        mailbox.ready.clear();
        mailbox.complete = true;
        self.shared.wake(mailbox);
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The feeder: reads `requests` a chunk at a time until it ends, raises,
/// or the run is cancelled (its receiver gone).
fn feed(iter: Py<pyo3::types::PyIterator>, tx: SyncSender<Chunk>, shared: &Shared) {
    let mut urls = UrlParser::default();
    loop {
        if shared.cancelled.load(Ordering::SeqCst) {
            break;
        }
        let chunk = Python::attach(|py| -> Chunk {
            let mut iter = iter.bind(py).clone();
            let mut items = Vec::with_capacity(CHUNK);
            for _ in 0..CHUNK {
                match iter.next() {
                    Some(Ok(item)) => items.push(requests::read(&item, &mut urls)),
                    Some(Err(e)) => return Err(e),
                    None => return Ok((items, true)),
                }
            }
            Ok((items, false))
        });
        let last = !matches!(chunk, Ok((_, false)));
        if tx.send(chunk).is_err() || last {
            break;
        }
    }
    // The iterator is dropped with the GIL (a generator's `finally` runs).
    Python::attach(|_| drop(iter));
}

/// The collector: starts the requests under `limit` and `window`, and
/// puts each result in the mailbox.
async fn collect(
    rx: Receiver<Chunk>,
    fetcher: Arc<Fetcher>,
    limit: usize,
    window: usize,
    ordered: bool,
    shared: Arc<Shared>,
) {
    let meta: Arc<Mutex<ByPosition<Meta>>> = Arc::default();
    let mut pending: VecDeque<Item> = VecDeque::new();
    let mut ended = false;
    let mut index = 0usize;
    let items = {
        let shared = shared.clone();
        std::iter::from_fn(move || loop {
            if let Some(item) = pending.pop_front() {
                let at = index;
                index += 1;
                return Some((at, item));
            }
            if ended {
                return None;
            }
            // Usually ready: the feeder reads a chunk ahead. When it is not,
            // the wait is handed off so the worker's other tasks go on.
            match tokio::task::block_in_place(|| rx.recv()) {
                Ok(Ok((items, last))) => {
                    pending.extend(items);
                    ended = last;
                }
                Ok(Err(e)) => {
                    ended = true;
                    let mut mailbox = shared.lock();
                    mailbox.input_error = Some(e);
                    shared.wake(mailbox);
                }
                Err(_) => ended = true,
            }
        })
    };
    let requests = {
        let meta = meta.clone();
        let shared = shared.clone();
        items.map(move |(index, item)| {
            let Item { url, given, id } = item;
            lock(&meta).insert(index, Meta { given, id });
            let (fetcher, shared) = (fetcher.clone(), shared.clone());
            async move {
                // Not started while too far ahead of what Python took.
                shared
                    .taken
                    .wait_until(|taken| index < taken + window)
                    .await;
                match url {
                    Ok(url) => fetcher.fetch(index, &url).await.map_err(Failed::Fetch),
                    Err(refused) => Err(Failed::Refused(refused)),
                }
            }
        })
    };
    let mut results = gather::as_completed(requests).limit(limit).spawn();
    let mut reorder: ByPosition<Finished> = ByPosition::default();
    while let Some((index, outcome)) = results.next().await {
        let result = match outcome {
            Outcome::Ok(page) => Ok(page),
            Outcome::Err(failed) => Err(failed),
            Outcome::Panicked(panic) => Err(Failed::Fetch(FetchError::immediate(
                Kind::Internal,
                format!("a bug in gather-fetch: {panic}"),
            ))),
            Outcome::TimedOut | Outcome::Cancelled => Err(Failed::Fetch(FetchError::immediate(
                Kind::Cancelled,
                "cancelled".to_owned(),
            ))),
        };
        let meta = {
            let mut meta = lock(&meta);
            let taken = meta.take(index).unwrap_or_default();
            meta.skip_empty();
            taken
        };
        let finished = Finished {
            index,
            result,
            meta,
        };
        let mut mailbox = shared.lock();
        let was_empty = mailbox.ready.is_empty();
        if ordered {
            reorder.insert(index, finished);
            while let Some(next) = reorder.pop_first() {
                mailbox.ready.push_back(next);
            }
        } else {
            mailbox.ready.push_back(finished);
        }
        if was_empty && !mailbox.ready.is_empty() {
            shared.wake(mailbox);
        }
    }
    let mut mailbox = shared.lock();
    mailbox.complete = true;
    shared.wake(mailbox);
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
