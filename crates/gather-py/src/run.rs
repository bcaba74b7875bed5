//! One call's run: its requests read from Python, fetched by the engine on
//! the shared runtime, and their results handed to Python in batches.
//!
//! No thread of the engine ever takes the GIL. A thread that is not
//! Python's, taking the GIL while the interpreter shuts down, is ended by
//! CPython in the middle of Rust code, and the process aborts: so every
//! call into Python happens on a Python thread that called in.
//!
//! - **Python** (the event loop's thread, or `fetch_sync`'s) reads
//!   `requests` a chunk of [`CHUNK`] items at a time into the input
//!   channel when it has room ([`Run::pump`]: a generator of a million
//!   items is read as requests start, never held whole), and takes the
//!   results ready, a batch at a time ([`Run::take`]).
//! - The **collector** (a task on the runtime) runs the requests as the
//!   engine's [`gather_http::Run`] (as the command line does) and puts each result in
//!   the mailbox, in input order when the run is ordered.
//! - They meet at a **pipe**: the collector writes a byte when a result
//!   has waited in the mailbox for [`GATHERED_FOR`] or a batch is ready
//!   (the loop is woken for a batch, not for each result), when the run
//!   ends, or when the input channel has room; the event loop
//!   watches its other end (`loop.add_reader`), as asyncio's own
//!   self-pipe is watched. `fetch_sync` waits on a condition variable
//!   instead, with the GIL released.
//!
//! A request starts only while it is within `window` of the results taken
//! and the results not yet taken hold less than the run's byte budget
//! (`FetchConfig::REORDER_BYTES`), so a consumer that stops reading (an
//! `async for` that is slow, or abandoned) stops the requests too, and
//! memory stays bounded.
//!
//! Cancelling ([`Run::cancel`], or dropping the run) aborts the collector,
//! which aborts every request in flight (their connections are closed as
//! their futures drop).

use std::collections::VecDeque;
use std::io::PipeReader;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, RecvError, SyncSender, TryRecvError};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use gather_http::{ByPosition, Fetcher, Finished, Job, Request};
use gather_http::{UrlParser, Written};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyIterator, PyList, PyString, PyTuple};
use tokio::time::Instant;

use crate::client::Client;
use crate::options;
use crate::requests::{self, Item};
use crate::response::{Done, Meta};
use crate::runtime::runtime;
use crate::signal::Signal;

/// Items read from `requests` at a time.
const CHUNK: usize = 256;
/// Chunks read ahead of the requests started.
const CHUNKS_AHEAD: usize = 2;
/// Results handed to Python per [`Run::take`]: the loop's other tasks run
/// between batches (the Python side yields to the loop after each), so a
/// batch is what one turn of the loop spends on results: 256 pages of
/// 5.4 KB made into objects take about a millisecond (2,048 made a 1 ms
/// ticker 24 ms late; `scripts/bench_loop.py`).
const BATCH: usize = 256;

/// How long a result waits in the mailbox for others before Python is
/// told of them (unless a whole [`BATCH`] is ready first): what the loop
/// is woken for is a batch, not each result (see [`next_result`]).
const GATHERED_FOR: Duration = Duration::from_millis(1);

/// The mailbox between the collector and Python.
#[derive(Default)]
struct Mailbox {
    ready: VecDeque<Done>,
    /// Every result is in `ready` (or was taken).
    complete: bool,
    /// Times the collector said something happened, for [`Run::wait`].
    events: u64,
}

struct Shared {
    mailbox: Mutex<Mailbox>,
    /// For [`Run::wait`]: notified with each event.
    changed: Condvar,
    /// The pipe the collector tells Python through.
    signal: Signal,
    /// Chunks in the input channel (Python sends while there are fewer
    /// than [`CHUNKS_AHEAD`]).
    queued: AtomicUsize,
    /// Results taken by Python: requests wait to be within the window of it.
    taken: Arc<Written>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Mailbox> {
        self.mailbox.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Tells Python something happened (a result, the end, room for
    /// input): a byte in the pipe unless one is waiting, and the condition
    /// variable. Called with the mailbox locked.
    fn wake(&self, mut mailbox: MutexGuard<'_, Mailbox>) {
        mailbox.events += 1;
        drop(mailbox);
        self.changed.notify_all();
        self.signal.raise();
    }
}

/// A run of `fetch()`, `as_completed()`, `stream()` or `fetch_sync()`.
#[pyclass(module = "gather_fetch._engine")]
pub struct Run {
    shared: Arc<Shared>,
    collector: Option<tokio::task::AbortHandle>,
    /// The requests not read yet; `None` once they ended.
    requests: Option<Py<PyIterator>>,
    /// Where chunks of them go; dropped with the last (the collector then
    /// knows the input ended).
    input: Option<SyncSender<Vec<Item>>>,
    urls: UrlParser,
    base_url: Option<url::Url>,
    /// The pipe's end the event loop watches.
    pipe: PipeReader,
}

#[pymethods]
impl Run {
    /// Starts fetching `requests` (any iterable) as `options` (the
    /// keyword arguments of the Python signature) say; results in input
    /// order when `ordered`.
    ///
    /// With `client`, the run is one of that client's calls: on its
    /// connections and per-origin state (a share of its fetcher), with its
    /// configuration; `options` then holds only the call's `window`.
    #[new]
    #[pyo3(signature = (requests, ordered, options, client = None))]
    fn new(
        requests: &Bound<'_, PyAny>,
        ordered: bool,
        options: &Bound<'_, PyDict>,
        client: Option<PyRef<'_, Client>>,
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
        let runtime = runtime()?;
        let options::Engine {
            fetcher,
            window,
            base_url,
        } = match client {
            Some(client) => {
                let window = options::window(options)?.unwrap_or(client.window);
                options::Engine {
                    fetcher: client.share()?,
                    window,
                    base_url: client.base_url.clone(),
                }
            }
            None => options::read(options)?.engine(requests.py(), runtime)?,
        };
        let (signal, reader) = Signal::new()?;
        let shared = Arc::new(Shared {
            mailbox: Mutex::default(),
            changed: Condvar::new(),
            signal,
            queued: AtomicUsize::new(0),
            taken: Arc::default(),
        });
        let (tx, rx) = sync_channel(CHUNKS_AHEAD);
        let collector = runtime.spawn(collect(
            rx,
            Arc::new(fetcher),
            window,
            ordered,
            shared.clone(),
        ));
        Ok(Run {
            shared,
            collector: Some(collector.abort_handle()),
            requests: Some(iter.unbind()),
            input: Some(tx),
            urls: UrlParser::default(),
            base_url,
            pipe: reader,
        })
    }

    /// Reads `requests` into the input channel while it has room, a chunk
    /// at a time. Raises what iterating `requests` raises (the caller then
    /// cancels the run).
    fn pump(&mut self, py: Python<'_>) -> PyResult<()> {
        while self.shared.queued.load(Ordering::Acquire) < CHUNKS_AHEAD {
            let Some(requests) = &self.requests else {
                return Ok(());
            };
            let mut iter = requests.bind(py).clone();
            let mut items = Vec::with_capacity(CHUNK);
            let mut ended = false;
            for _ in 0..CHUNK {
                match iter.next() {
                    Some(item) => items.push(requests::read(
                        &item?,
                        &mut self.urls,
                        self.base_url.as_ref(),
                    )),
                    None => {
                        ended = true;
                        break;
                    }
                }
            }
            if !items.is_empty() {
                self.shared.queued.fetch_add(1, Ordering::AcqRel);
                let sent = self.input.as_ref().map(|tx| tx.try_send(items));
                if !matches!(sent, Some(Ok(()))) {
                    // The collector is gone (cancelled): nothing to feed.
                    self.requests = None;
                    self.input = None;
                    return Ok(());
                }
            }
            if ended {
                self.requests = None;
                self.input = None;
            }
        }
        Ok(())
    }

    /// The pipe's end to watch (`loop.add_reader`): readable when
    /// [`take`](Run::take) or [`pump`](Run::pump) has something to do.
    fn fileno(&self) -> i32 {
        use std::os::fd::AsRawFd;
        self.pipe.as_raw_fd()
    }

    /// Says the pipe was read: the next event writes to it again.
    fn ack(&self) {
        self.shared.signal.ack();
    }

    /// The results ready now, as `(index, Response | Failure)` pairs (at
    /// most a batch); `[]` when none is ready yet, `None` once every
    /// result was taken. Raises what iterating `requests` raised.
    fn take<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyList>>> {
        let (batch, complete) = {
            let mut mailbox = self.shared.lock();
            let n = mailbox.ready.len().min(BATCH);
            let batch: Vec<Done> = mailbox.ready.drain(..n).collect();
            (batch, mailbox.complete && mailbox.ready.is_empty())
        };
        if batch.is_empty() && complete {
            return Ok(None);
        }
        if !batch.is_empty() {
            // Released before the count moves on, which wakes the requests
            // waiting for room.
            self.shared.taken.release(batch.iter().map(held_size).sum());
            let taken = self.shared.taken.get() + batch.len();
            self.shared.taken.set(taken);
        }
        let list = PyList::empty(py);
        for done in batch {
            let index = done.index;
            let value = done.into_python(py)?;
            list.append(PyTuple::new(
                py,
                [index.into_pyobject(py)?.into_any().unbind(), value],
            )?)?;
        }
        Ok(Some(list))
    }

    /// Waits, without the GIL, up to `timeout` seconds for an event after
    /// the `seen`th (for `fetch_sync`, which returns to Python between
    /// waits so that Ctrl-C is seen); returns the count of events.
    fn wait(&self, py: Python<'_>, seen: u64, timeout: f64) -> u64 {
        let timeout = Duration::from_secs_f64(timeout.clamp(0.0, 3600.0));
        py.detach(|| {
            let mailbox = self.shared.lock();
            let (mailbox, _) = self
                .shared
                .changed
                .wait_timeout_while(mailbox, timeout, |m| m.events == seen && !m.complete)
                .unwrap_or_else(|e| e.into_inner());
            mailbox.events
        })
    }

    /// Stops the run: no request starts after it, those in flight are
    /// dropped with their connections, results not taken are forgotten.
    /// Calling it again does nothing.
    fn cancel(&mut self) {
        self.stop();
    }
}

impl Run {
    /// Aborts the collector (and with it every request in flight), drops
    /// the requests not read, and ends the mailbox: whoever waits on it is
    /// woken and finds the run over.
    fn stop(&mut self) {
        self.requests = None;
        self.input = None;
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

/// The collector: runs the requests as the engine's [`gather_http::Run`] (within
/// `window` of the results Python took, as the command line's within its
/// window of the lines written), and puts each result in the mailbox.
async fn collect(
    rx: Receiver<Vec<Item>>,
    fetcher: Arc<Fetcher>,
    window: usize,
    ordered: bool,
    shared: Arc<Shared>,
) {
    let mut pending: VecDeque<Item> = VecDeque::new();
    let mut ended = false;
    let mut index = 0usize;
    let jobs = {
        let shared = shared.clone();
        std::iter::from_fn(move || loop {
            if let Some(item) = pending.pop_front() {
                let Item {
                    url,
                    payload,
                    given,
                    id,
                } = item;
                let at = index;
                index += 1;
                return Some(Job {
                    index: at,
                    request: url.map(|url| Request {
                        url,
                        payload: payload.map(Arc::new),
                    }),
                    meta: Meta { given, id },
                });
            }
            if ended {
                return None;
            }
            // Usually ready: Python reads chunks ahead. When it is not,
            // the wait is handed off so the worker's other tasks go on.
            // Only then: `block_in_place` hands the worker's tasks to
            // another thread even when the chunk is already there.
            let received = match rx.try_recv() {
                Ok(items) => Ok(items),
                Err(TryRecvError::Empty) => tokio::task::block_in_place(|| rx.recv()),
                Err(TryRecvError::Disconnected) => Err(RecvError),
            };
            match received {
                Ok(items) => {
                    pending.extend(items);
                    // Room for another chunk: Python is told to read it.
                    shared.queued.fetch_sub(1, Ordering::AcqRel);
                    shared.wake(shared.lock());
                }
                // Python dropped its end: the input ended (or the run).
                Err(_) => ended = true,
            }
        })
    };
    // Not started while too far ahead of what Python took.
    let mut run = gather_http::Run::builder(fetcher)
        .reorder(shared.taken.clone())
        .reorder_window(window)
        .start(jobs);
    let mut reorder: ByPosition<Done> = ByPosition::default();
    // When Python is to be told of the results in the mailbox it was not
    // told of yet (`None`: none wait).
    let mut tell_by: Option<Instant> = None;
    while let Some(Finished {
        position,
        meta,
        result,
    }) = next_result(&mut run, &shared, &mut tell_by).await
    {
        let done = Done {
            index: position,
            result,
            meta,
        };
        let mut mailbox = shared.lock();
        let before = mailbox.ready.len();
        // Held until Python takes it: counted against the run's budget
        // for what waits to be handed on (`take` releases it).
        shared.taken.hold(held_size(&done));
        if ordered {
            reorder.insert(position, done);
            while let Some(next) = reorder.pop_first() {
                mailbox.ready.push_back(next);
            }
        } else {
            mailbox.ready.push_back(done);
        }
        if before < BATCH && mailbox.ready.len() >= BATCH {
            // A whole batch is ready: Python is told now.
            tell_by = None;
            shared.wake(mailbox);
        } else if tell_by.is_none() && mailbox.ready.len() > before {
            tell_by = Some(Instant::now() + GATHERED_FOR);
        }
    }
    let mut mailbox = shared.lock();
    mailbox.complete = true;
    shared.wake(mailbox);
}

/// The run's next result. While it is not ready, Python is told of the
/// results waiting in the mailbox once `tell_by` comes.
///
/// Python is told when a result has waited [`GATHERED_FOR`] (or a whole
/// batch is ready), not at each result: told of each, it took results two
/// at a time against a local nginx (10,000 turns of the loop for 20,000
/// pages), each turn a write to the pipe, two context switches, a future
/// made and resolved, which was the larger part of the package's CPU per
/// request above the engine's. The deadline is set by the first result
/// Python was not told of, so a steady trickle of results does not put
/// it off.
///
/// # Cancel safety
///
/// Dropped while waiting (the collector aborted), it loses no result:
/// those it had are in the mailbox.
async fn next_result(
    run: &mut gather_http::Run<Meta>,
    shared: &Shared,
    tell_by: &mut Option<Instant>,
) -> Option<Finished<Meta>> {
    let tell = |tell_by: &mut Option<Instant>| {
        *tell_by = None;
        let mailbox = shared.lock();
        if !mailbox.ready.is_empty() {
            shared.wake(mailbox);
        }
    };
    // Due already (results kept coming, so the timer below was never
    // polled): told now.
    if tell_by.is_some_and(|by| Instant::now() >= by) {
        tell(tell_by);
    }
    let next = run.next();
    tokio::pin!(next);
    let Some(by) = *tell_by else {
        return next.await;
    };
    tokio::select! {
        biased;
        finished = &mut next => finished,
        () = tokio::time::sleep_until(by) => {
            tell(tell_by);
            next.await
        }
    }
}

/// About what a result waiting for an earlier one holds: its body, and
/// the rest of its answer.
fn held_size(done: &Done) -> usize {
    let body = match &done.result {
        Ok(page) => page.body.as_ref().map_or(0, Vec::len),
        Err(_) => 0,
    };
    body + std::mem::size_of::<Done>()
}
