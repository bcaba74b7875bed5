//! CPU-bound work: [`to_thread`] and [`CpuPool`].
//!
//! A gather runs its children on the event loop; a child that computes for
//! 100 ms blocks every other task on that thread for 100 ms. Python's answer
//! is `asyncio.to_thread` and `loop.run_in_executor`; these are the Rust
//! ones. Both return futures that are ordinary gather children.
//!
//! - [`to_thread`] uses tokio's blocking pool: many threads, meant for
//!   blocking calls (file systems, C libraries).
//! - [`CpuPool`] has one thread per core: meant for heavy computation, where
//!   more threads than cores only adds switching.
//!
//! Cancelling the awaiting side returns at once; a job that has already
//! started finishes on its own thread (threads cannot be interrupted), and
//! a job that has not started yet is skipped.

use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll};

use tokio::runtime::Handle;
use tokio::sync::oneshot;

use crate::outcome::{IntoOutcome, Outcome, Panic};
use crate::task::Task;

/// Runs the blocking function `f` on tokio's blocking thread pool, as
/// Python's `asyncio.to_thread`.
///
/// `f` returns a `Result` (or an [`Outcome`]); a panic in `f` comes back as
/// [`Outcome::Panicked`]. Dropping the returned [`Task`] returns at once: `f`
/// is skipped if it had not started, and otherwise finishes on its thread.
/// With the `tracing` feature, `f` runs inside the caller's current span.
///
/// # Panics
///
/// Never; outside a tokio runtime it resolves to [`Outcome::Panicked`].
///
/// # Examples
///
/// ```
/// use gather::{gather, to_thread};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let sums = gather((0..4u64).map(|i| to_thread(move || Ok::<_, ()>((0..=i * 1000).sum::<u64>()))))
///     .await
///     .unwrap();
/// assert_eq!(sums[1], 500_500);
/// # }
/// ```
pub fn to_thread<F, R>(f: F) -> Task<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: IntoOutcome + Send + 'static,
{
    let context = CallerContext::capture();
    match Handle::try_current() {
        Ok(handle) => Task::new(handle.spawn_blocking(move || context.run(f))),
        Err(e) => Task::failed(e.to_string()),
    }
}

/// What work sent to another thread carries from its caller: as Python's
/// `to_thread` runs the function in a copy of the caller's contextvars,
/// with the `tracing` feature the caller's current span is entered there
/// and the caller's subscriber is that thread's default while it runs.
/// Without the feature, nothing.
struct CallerContext {
    #[cfg(feature = "tracing")]
    span: tracing::Span,
    #[cfg(feature = "tracing")]
    dispatch: tracing::Dispatch,
}

impl CallerContext {
    fn capture() -> CallerContext {
        CallerContext {
            #[cfg(feature = "tracing")]
            span: tracing::Span::current(),
            #[cfg(feature = "tracing")]
            dispatch: tracing::dispatcher::get_default(|d| d.clone()),
        }
    }

    /// Runs `f` in this context, on the current thread.
    #[inline]
    fn run<R>(self, f: impl FnOnce() -> R) -> R {
        #[cfg(feature = "tracing")]
        return tracing::dispatcher::with_default(&self.dispatch, || self.span.in_scope(f));
        #[cfg(not(feature = "tracing"))]
        f()
    }
}

type Job = Box<dyn FnOnce() + Send>;

/// A fixed pool of threads for CPU-heavy work, one per core by default.
///
/// Jobs are queued and run in submission order by the first free thread.
/// [`CpuPool::spawn`] returns a [`CpuTask`] that can be gathered like any
/// child. Dropping every handle to the pool lets its threads exit once the
/// queue is empty.
///
/// # Examples
///
/// ```
/// use gather::{gather, CpuPool};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let pool = CpuPool::global();
/// let squares = gather((0..8u64).map(|i| pool.spawn(move || Ok::<_, ()>(i * i))))
///     .await
///     .unwrap();
/// assert_eq!(squares, [0, 1, 4, 9, 16, 25, 36, 49]);
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct CpuPool {
    sender: mpsc::Sender<Job>,
    threads: usize,
}

impl CpuPool {
    /// A pool of `threads` threads (`0` is taken as `1`).
    ///
    /// ```
    /// let pool = gather::CpuPool::new(2).unwrap();
    /// assert_eq!(pool.threads(), 2);
    /// ```
    ///
    /// # Errors
    ///
    /// The operating system's error if not even one thread could be
    /// started. If only some could, the pool runs with those.
    pub fn new(threads: usize) -> std::io::Result<CpuPool> {
        let (sender, receiver) = mpsc::channel::<Job>();
        let receiver = Arc::new(Mutex::new(receiver));
        let mut started = 0;
        let mut first_error = None;
        for n in 0..threads.max(1) {
            let receiver = receiver.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("gather-cpu-{n}"))
                .spawn(move || loop {
                    // The lock is held only while taking a job, not while
                    // running it.
                    let job = receiver.lock().unwrap_or_else(|e| e.into_inner()).recv();
                    match job {
                        Ok(job) => job(),
                        Err(_) => return, // every sender is gone
                    }
                });
            match spawned {
                Ok(_) => started += 1,
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        match (started, first_error) {
            (0, Some(e)) => Err(e),
            _ => Ok(CpuPool {
                sender,
                threads: started,
            }),
        }
    }

    /// The process-wide pool, with one thread per core
    /// (`std::thread::available_parallelism`), started on first use.
    ///
    /// ```
    /// assert!(gather::CpuPool::global().threads() >= 1);
    /// ```
    ///
    /// # Panics
    ///
    /// If the operating system refuses to start a single thread.
    pub fn global() -> &'static CpuPool {
        static GLOBAL: OnceLock<CpuPool> = OnceLock::new();
        GLOBAL.get_or_init(|| {
            let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
            CpuPool::new(cores).expect("gather: cannot start any thread for the global CPU pool")
        })
    }

    /// How many threads the pool runs.
    ///
    /// ```
    /// assert_eq!(gather::CpuPool::new(0).unwrap().threads(), 1);
    /// ```
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Queues `f` to run on the pool; the returned [`CpuTask`] resolves to
    /// its [`Outcome`] (a panic in `f` is [`Outcome::Panicked`]). With the
    /// `tracing` feature, `f` runs inside the caller's current span.
    ///
    /// Dropping the `CpuTask` before `f` starts means `f` never runs.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let pool = gather::CpuPool::new(1).unwrap();
    /// let out = pool.spawn(|| -> Result<u8, ()> { panic!("in the pool") }).await;
    /// assert!(matches!(out, gather::Outcome::Panicked(p) if p.message() == "in the pool"));
    /// # }
    /// ```
    pub fn spawn<F, R>(&self, f: F) -> CpuTask<R::Ok, R::Err>
    where
        F: FnOnce() -> R + Send + 'static,
        R: IntoOutcome,
        R::Ok: Send + 'static,
        R::Err: Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let context = CallerContext::capture();
        let job: Job = Box::new(move || {
            if tx.is_closed() {
                return; // the awaiting side is gone: skip the work
            }
            let outcome = match catch_unwind(AssertUnwindSafe(|| context.run(f))) {
                Ok(r) => r.into_outcome(),
                Err(payload) => Outcome::Panicked(Panic::from_payload(payload)),
            };
            let _ = tx.send(outcome);
        });
        // Sending fails only if every worker thread has exited, which
        // happens only if they all panicked outside a job: the task then
        // resolves to `Cancelled`.
        let _ = self.sender.send(job);
        CpuTask { rx }
    }
}

/// Runs `f` on the [global](CpuPool::global) CPU pool.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let n = gather::spawn_cpu(|| Ok::<_, ()>(2 + 2)).await;
/// assert_eq!(n.ok(), Some(4));
/// # }
/// ```
pub fn spawn_cpu<F, R>(f: F) -> CpuTask<R::Ok, R::Err>
where
    F: FnOnce() -> R + Send + 'static,
    R: IntoOutcome,
    R::Ok: Send + 'static,
    R::Err: Send + 'static,
{
    CpuPool::global().spawn(f)
}

/// A job on a [`CpuPool`]; resolves to its [`Outcome`]. Dropping it before
/// the job starts cancels the job.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let task: gather::CpuTask<u32, ()> = gather::spawn_cpu(|| Ok(7));
/// assert_eq!(task.await, gather::Outcome::Ok(7));
/// # }
/// ```
#[must_use = "dropping a CpuTask cancels the job if it has not started"]
#[derive(Debug)]
pub struct CpuTask<T, E> {
    rx: oneshot::Receiver<Outcome<T, E>>,
}

impl<T, E> Future for CpuTask<T, E> {
    type Output = Outcome<T, E>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.rx)
            .poll(cx)
            .map(|r| r.unwrap_or(Outcome::Cancelled))
    }
}
