//! A whole run of requests, as every front door runs one: the requests
//! started lazily in input order under a limit, each result handed back
//! with what the front door attached to its request, and the rules of a
//! run applied in one place.
//!
//! A front door translates: the command line turns lines into [`Job`]s and
//! [`Finished`] results into JSON lines; the Python package turns items
//! into jobs and results into objects. Everything between is here:
//!
//! - **the limit and the reorder window**: requests start in input order,
//!   none further than the window ahead of the next result to hand on
//!   (when the front door hands results on in order: [`RunBuilder::reorder`];
//!   otherwise a window's worth at once), which bounds what it holds; at
//!   most [`FetchConfig::limit`](crate::FetchConfig) are on the wire at
//!   once, each taking the limit's permit with its origin's turn, so a
//!   request waiting for a slow origin holds back no other origin's;
//! - **fail-fast** ([`RunBuilder::fail_fast`], `gather()`'s default): the
//!   earliest failure in input order is [`Run::failed_at`]; no request after
//!   it starts, and results after it are dropped, not handed back;
//! - **the overall deadline** ([`RunBuilder::total_timeout`]): every request
//!   not finished by then comes back as a [`Kind::TotalTimeout`] error;
//! - **panics and cancellations as values**: a request that panicked comes
//!   back as a [`Kind::Internal`] error, never unwinding into the front
//!   door;
//! - **a stop that loses nothing** ([`Run::stop_starting`], a first
//!   Ctrl-C): nothing new starts, the requests in flight finish, and those
//!   that never started are not handed back (a resumed run sends them);
//! - **the counts a summary needs** ([`Run::counts`]).
//!
//! An abort is dropping the run: every request in flight is dropped with
//! its connection.
//!
//! Built on the `gather` library's `as_completed`: what runs many futures
//! at once is the library's job, what a run of requests means is this
//! module's.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use gather::Outcome;

use crate::error::{FetchError, Kind, Setting};
use crate::fetch::{Fetcher, Page};
use crate::jobs::{self, Cutoff, Started};
use crate::order::Window;
use crate::order::Written;

pub use crate::job::{Job, Request};

/// Requests started at once (each a future of about a kilobyte), in
/// multiples of the limit.
const STARTED_PER_LIMIT: usize = 4;

/// The results of a run's requests, in the order they finish: boxed once
/// per run, so that a [`Run`] has one type whichever way its requests run.
type Results = Pin<Box<dyn futures_core::Stream<Item = (usize, Outcome<Page, FetchError>)> + Send>>;

/// A finished request, handed back by [`Run::next`].
#[derive(Debug)]
pub struct Finished<M> {
    /// Its place among the run's jobs (0 for the first job given, whatever
    /// its [`Job::index`]).
    pub position: usize,
    /// What the front door attached to its job.
    pub meta: M,
    /// The page, or why there is none.
    pub result: Result<Page, FetchError>,
}

/// What a run's results came to so far: the numbers of a summary.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Answered with a status under 400.
    pub ok: usize,
    /// Answered with a status of 400 or more (a page, not a failure, unless
    /// [`FetchConfig::fail_on_status`](crate::FetchConfig)).
    pub http_errors: usize,
    /// Failed: no page.
    pub failed: usize,
    /// Of all these, the requests that took at least one retry.
    pub retried: usize,
    /// Finished after a fail-fast failure before them, and dropped.
    pub discarded: usize,
}

impl Counts {
    /// Results handed back.
    pub fn done(&self) -> usize {
        self.ok + self.http_errors + self.failed
    }
}

/// How a run is to go: made by [`Run::builder`], started by
/// [`RunBuilder::start`].
#[must_use = "a RunBuilder does nothing until `.start(jobs)`"]
pub struct RunBuilder {
    fetcher: Arc<Fetcher>,
    window: Option<(Arc<Written>, usize)>,
    reorder_bytes: usize,
    total_timeout: Option<Duration>,
    fail_fast: bool,
    in_place: bool,
}

impl RunBuilder {
    /// Results are handed on in input order, and `handed_on` counts them
    /// (lines written, items taken): a request starts only within the
    /// reorder window of it (by default [`FetchConfig::window`]), which is
    /// what bounds the results a front door holds to put them in order.
    ///
    /// [`FetchConfig::window`]: crate::FetchConfig::window
    pub fn reorder(mut self, handed_on: Arc<Written>) -> Self {
        let size = self.fetcher.config().window();
        self.window = Some((handed_on, size));
        self
    }

    /// The reorder window's size, instead of the default (at least 1); with
    /// [`reorder`](RunBuilder::reorder).
    pub fn reorder_window(mut self, size: usize) -> Self {
        if let Some((_, window)) = &mut self.window {
            *window = size.max(1);
        }
        self
    }

    /// The most the front door is to hold of results waiting for an
    /// earlier one, in bytes, as it tells [`Written::hold`] (by default
    /// [`FetchConfig::REORDER_BYTES`]): past it, only the next result to
    /// hand on starts; with [`reorder`](RunBuilder::reorder).
    ///
    /// [`FetchConfig::REORDER_BYTES`]: crate::FetchConfig::REORDER_BYTES
    pub fn reorder_bytes(mut self, bytes: usize) -> Self {
        self.reorder_bytes = bytes;
        self
    }

    /// An overall deadline, from the first [`Run::next`]: every request not
    /// finished by then comes back as a [`Kind::TotalTimeout`] error (those
    /// never started too, without being started), then the run ends.
    pub fn total_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.total_timeout = timeout;
        self
    }

    /// The first failure ends the run, as `asyncio.gather()` by default: no
    /// request after it (in input order) starts, and results after it are
    /// dropped ([`Counts::discarded`]). Results before it still come back,
    /// so that a front door loses no work ahead of the failure.
    pub fn fail_fast(mut self, fail_fast: bool) -> Self {
        self.fail_fast = fail_fast;
        self
    }

    /// The requests are polled where the results are taken, instead of
    /// each being a task of the runtime: on one thread, a task per request
    /// would only add an allocation, a trip through the scheduler and a
    /// wake-up per request (about 5% of the CPU per request against a local
    /// nginx). On a pool, tasks spread the requests over the workers.
    pub fn in_place(mut self, in_place: bool) -> Self {
        self.in_place = in_place;
        self
    }

    /// Starts the run over `jobs`, read lazily as requests start: the jobs
    /// started and not yet handed back are the only ones in memory.
    pub fn start<M, I>(self, jobs: I) -> Run<M>
    where
        I: Iterator<Item = Job<M>> + Send + 'static,
        M: Send + 'static,
    {
        let stopping: Arc<AtomicBool> = Arc::default();
        // Relaxed: the flag orders nothing else; a job read just after it
        // is set starts nothing (the fetcher stopped first).
        let jobs = jobs.take_while({
            let stopping = stopping.clone();
            move |_| !stopping.load(Ordering::Relaxed)
        });
        let cutoff = self.fail_fast.then(|| Arc::new(Cutoff::new()));
        // Requests started at once: a few times the limit, so that the
        // wire stays full while some wait for an origin's turn, a rate or
        // a retry (the limit itself is on the wire: the client's, taken
        // with an origin's turn). Requests to a full origin wait as jobs,
        // not started (`dispatch`), so that those to other origins go on.
        let started_at_once = self
            .fetcher
            .config()
            .limit
            .saturating_mul(STARTED_PER_LIMIT);
        let (window, started_at_once) = match self.window {
            Some((handed_on, size)) => {
                let bytes = self.reorder_bytes;
                (
                    Window {
                        handed_on,
                        size,
                        bytes,
                    },
                    started_at_once.min(size),
                )
            }
            None => {
                let handed_on = Arc::default();
                let window = Window {
                    handed_on,
                    size: usize::MAX,
                    bytes: usize::MAX,
                };
                (window, started_at_once)
            }
        };
        let fetcher = self.fetcher.clone();
        let (requests, started) = jobs::children(fetcher, jobs, window, cutoff.clone());
        let limit = started_at_once;
        let results: Results = if self.in_place {
            // Boxed: a request's future is most of a kilobyte
            // (`a_request_future_fits_mallocs_thread_cache`), moved once into
            // its box rather than into the stream's slots.
            let s = gather::as_completed(requests.map(Box::pin)).limit(limit);
            match self.total_timeout {
                Some(t) => Box::pin(s.timeout(t)),
                None => Box::pin(s),
            }
        } else {
            // Each request a task, aborted if the run is dropped.
            let s = gather::as_completed(requests).limit(limit).spawn();
            match self.total_timeout {
                Some(t) => Box::pin(s.timeout(t)),
                None => Box::pin(s),
            }
        };
        Run {
            results,
            started,
            fetcher: self.fetcher,
            cutoff,
            stopping,
            counts: Counts::default(),
            total_timeout: self.total_timeout,
            timed_out: false,
        }
    }
}

/// A run of requests, started by [`RunBuilder::start`]; its results come
/// from [`Run::next`] as they finish.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use gather_http::{FetchConfig, FetchError, Fetcher, Job, Kind, Request, Run};
/// # async fn run(urls: Vec<url::Url>) {
/// let fetcher = Arc::new(Fetcher::new(FetchConfig::default()).unwrap());
/// let jobs = urls.into_iter().enumerate().map(|(index, url)| Job {
///     index,
///     request: Ok(Request { url: url.clone(), payload: None }),
///     meta: url,
/// });
/// let mut run = Run::builder(fetcher).fail_fast(true).start(jobs);
/// while let Some(done) = run.next().await {
///     match done.result {
///         Ok(page) => println!("{} {}", done.meta, page.status),
///         Err(e) => println!("{} {e}", done.meta),
///     }
/// }
/// println!("{} ok, {} failed", run.counts().ok, run.counts().failed);
/// # }
/// ```
///
/// # Cancel safety
///
/// [`Run::next`] is cancel safe: a `select!` that drops it loses no
/// result. Dropping the run drops every request in flight, and stops its
/// [`Fetcher`] (nothing more starts through it): a fetcher is one run's.
/// Runs that share connections and per-origin state (a long-lived
/// client's calls) each take a [`Fetcher::share`] of one fetcher.
#[must_use = "a Run makes progress only while `.next()` is awaited"]
pub struct Run<M> {
    results: Results,
    started: Started<M>,
    fetcher: Arc<Fetcher>,
    /// With fail-fast: the earliest failure's position so far; no request
    /// after it starts.
    cutoff: Option<Arc<Cutoff>>,
    /// Set by [`Run::stop_starting`]: the jobs are not read further.
    stopping: Arc<AtomicBool>,
    counts: Counts,
    total_timeout: Option<Duration>,
    timed_out: bool,
}

impl<M> Drop for Run<M> {
    /// The abort: the fetcher stops first, so that no request waiting for
    /// a turn takes one of the permits the requests dropped next give
    /// back (it would be sent, by a task not yet aborted); then the
    /// requests are dropped with their connections.
    fn drop(&mut self) {
        self.fetcher.stop_starting();
    }
}

impl Run<()> {
    /// How a run over `fetcher`'s requests is to go; by default, as
    /// completed (no reorder window), every result handed back (not
    /// fail-fast), no overall deadline, each request a task.
    pub fn builder(fetcher: Arc<Fetcher>) -> RunBuilder {
        RunBuilder {
            fetcher,
            window: None,
            reorder_bytes: crate::FetchConfig::REORDER_BYTES,
            total_timeout: None,
            fail_fast: false,
            in_place: false,
        }
    }
}

impl<M> Run<M> {
    /// The next finished request, as it finishes; `None` once every job
    /// given came back (or was dropped by fail-fast or a stop).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a result is taken from the stream only when it is
    /// returned.
    pub async fn next(&mut self) -> Option<Finished<M>> {
        loop {
            let (made, outcome) =
                std::future::poll_fn(|cx| self.results.as_mut().poll_next(cx)).await?;
            // Every request is in the table from when its child was made.
            let (position, meta) = self.started.take(made)?;
            let result = match outcome {
                Outcome::Ok(page) => Ok(page),
                Outcome::Err(e) => Err(e),
                Outcome::TimedOut => {
                    self.timed_out = true;
                    let message = match self.total_timeout {
                        Some(t) => format!(
                            "the total timeout of {t:?} expired before this request finished"
                        ),
                        None => "the total timeout expired before this request finished".to_owned(),
                    };
                    Err(FetchError::immediate(Kind::TotalTimeout, message)
                        .about(Setting::TotalTimeout))
                }
                Outcome::Panicked(panic) => Err(FetchError::immediate(
                    Kind::Internal,
                    format!("a bug in gather (a panic): {}", panic.message()),
                )),
                _ => Err(FetchError::immediate(
                    Kind::Cancelled,
                    "cancelled".to_owned(),
                )),
            };
            if self.is_stopping() && matches!(&result, Err(e) if e.kind == Kind::Cancelled) {
                // Never sent (or dropped before it could be): not a result,
                // and a resumed run sends it.
                continue;
            }
            if self.failed_at().is_some_and(|cut| position > cut) {
                // After the failure that ends the run.
                if result.is_ok() {
                    self.counts.discarded += 1;
                }
                continue;
            }
            self.count(position, &result);
            return Some(Finished {
                position,
                meta,
                result,
            });
        }
    }

    fn count(&mut self, position: usize, result: &Result<Page, FetchError>) {
        let retries = match result {
            Ok(page) if page.status >= 400 => {
                self.counts.http_errors += 1;
                page.retries
            }
            Ok(page) => {
                self.counts.ok += 1;
                page.retries
            }
            Err(e) => {
                self.counts.failed += 1;
                if let Some(cutoff) = &self.cutoff {
                    if !matches!(e.kind, Kind::TotalTimeout | Kind::Cancelled) {
                        cutoff.cut(position);
                    }
                }
                e.retries
            }
        };
        if retries > 0 {
            self.counts.retried += 1;
        }
    }

    /// With fail-fast: the position of the earliest failure so far, which
    /// ends the run once every result before it is handed back.
    pub fn failed_at(&self) -> Option<usize> {
        self.cutoff.as_ref()?.get()
    }

    /// Stops starting requests, for a run that ends without losing what
    /// was done (a first Ctrl-C): the jobs are not read further, a request
    /// waiting for its turn, a rate or a retry ends unsent and is not
    /// handed back, and those in flight go on to their answer (within the
    /// request timeout), so that a request that may not be sent twice is
    /// answered. Cannot be undone; dropping the run is the abort.
    pub fn stop_starting(&self) {
        self.fetcher.stop_starting();
        self.stopping.store(true, Ordering::Relaxed);
    }

    /// [`stop_starting`](Run::stop_starting) was called.
    pub fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::Relaxed)
    }

    /// The overall deadline expired.
    pub fn timed_out(&self) -> bool {
        self.timed_out
    }

    /// Requests started and not yet handed back (nor dropped).
    pub fn in_flight(&self) -> usize {
        self.started.len()
    }

    /// What the results handed back came to so far.
    pub fn counts(&self) -> Counts {
        self.counts
    }
}
