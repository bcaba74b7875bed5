//! CPU-bound and blocking work: [`to_thread`] and [`CpuPool`].
//!
//! A gather runs its children on the event loop; a child that computes for
//! 100 ms blocks every other task on that thread for 100 ms. Python's answer
//! is `asyncio.to_thread` and `loop.run_in_executor`; these are the Rust
//! ones. Both return futures that are ordinary gather children.
//!
//! - [`to_thread`] uses tokio's blocking pool: many
//!   threads, meant for blocking calls (file systems, C libraries).
//! - [`CpuPool`] has one thread per core: meant for heavy computation, where
//!   more threads than cores only adds switching.
//!
//! # Plain functions and fallible ones
//!
//! Each entry point comes in two forms, because a function's own `Result`
//! means two different things to a gather:
//!
//! | the function | use | the future resolves to | in a fail-fast gather |
//! |---|---|---|---|
//! | any `FnOnce() -> T` | [`to_thread`], [`CpuPool::spawn`], [`spawn_cpu`] | `Result<T, Panic>` | a panic ends the gather |
//! | `FnOnce() -> Result<T, E>` | [`try_to_thread`], [`CpuPool::try_spawn`], [`try_spawn_cpu`] | [`Outcome<T, E>`] | an `Err` or a panic ends the gather |
//!
//! The plain form is Python's `await asyncio.to_thread(f)`: the value, or
//! `?` on the panic. Given a fallible function it still works, but the
//! function's `Err` is then a *value* (`Ok(Err(e))`), not a failure, so a
//! gather would not stop on it: use the `try_` form for those.
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
use tokio::task::JoinHandle;

use crate::outcome::{IntoOutcome, Outcome, Panic};

/// Runs the blocking function `f` on tokio's blocking thread pool, as
/// Python's `asyncio.to_thread`, and resolves to its value.
///
/// `f` may return anything; a panic in `f` comes back as `Err(Panic)`, so
/// `to_thread(f).await?` reads as Python's `await asyncio.to_thread(f)`.
/// For a function that returns a `Result` whose `Err` should fail a
/// gather, use [`try_to_thread`]. Dropping the returned future returns at
/// once: `f` is skipped if it had not started, and otherwise finishes on
/// its thread. With the `tracing` feature, `f` runs inside the caller's
/// current span.
///
/// # Panics
///
/// Never; outside a tokio runtime it resolves to `Err(Panic)` saying so.
///
/// # Examples
///
/// ```
/// use gather::{gather, to_thread};
///
/// fn fib(n: u64) -> u64 {
///     if n < 2 { n } else { fib(n - 1) + fib(n - 2) }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let n = to_thread(|| fib(20)).await?; // n = await asyncio.to_thread(fib, 20)
/// assert_eq!(n, 6765);
///
/// let all = gather((10..13).map(|n| to_thread(move || fib(n)))).await?;
/// assert_eq!(all, [55, 89, 144]);
/// # Ok(()) }
/// ```
pub fn to_thread<F, T>(f: F) -> ToThread<Result<T, Panic>>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let context = CallerContext::capture();
    ToThread::start(
        move || catch_unwind(AssertUnwindSafe(|| context.run(f))).map_err(Panic::from_payload),
        Err,
    )
}

/// Runs the fallible blocking function `f` on tokio's blocking thread pool
/// and resolves to its [`Outcome`]: its `Err` and its panic are failures,
/// as a child's are, so a fail-fast gather stops on either.
///
/// Otherwise as [`to_thread`].
///
/// # Examples
///
/// ```
/// use gather::{gather, try_to_thread};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let dir = std::env::temp_dir();
/// let reads = ["no-such-file-1", "no-such-file-2"]
///     .map(|name| { let path = dir.join(name); try_to_thread(move || std::fs::read(path)) });
/// let err = gather(reads).await.unwrap_err();
/// assert!(err.to_string().contains("No such file"));
/// # }
/// ```
pub fn try_to_thread<F, R>(f: F) -> ToThread<Outcome<R::Ok, R::Err>>
where
    F: FnOnce() -> R + Send + 'static,
    R: IntoOutcome,
    R::Ok: Send + 'static,
    R::Err: Send + 'static,
{
    let context = CallerContext::capture();
    ToThread::start(
        move || match catch_unwind(AssertUnwindSafe(|| context.run(f))) {
            Ok(r) => r.into_outcome(),
            Err(payload) => Outcome::Panicked(Panic::from_payload(payload)),
        },
        Outcome::Panicked,
    )
}

/// A function running on tokio's blocking pool, from [`to_thread`]
/// or [`try_to_thread`]; resolves to `O`.
///
/// Dropping it returns at once: the function is skipped if it has not
/// started, and otherwise finishes on its thread.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let job: gather::executor::ToThread<Result<u8, gather::Panic>> = gather::to_thread(|| 7);
/// assert_eq!(job.await.unwrap(), 7);
/// # }
/// ```
#[must_use = "dropping a ToThread skips the function if it has not started; await it"]
#[derive(Debug)]
pub struct ToThread<O> {
    /// `None` once it has completed, or when there was no runtime.
    job: Option<JoinHandle<O>>,
    /// Builds the output when the job cannot run.
    failed: fn(Panic) -> O,
    /// Why there is no job: no runtime (`None` once reported).
    no_runtime: Option<String>,
}

impl<O: Send + 'static> ToThread<O> {
    fn start(job: impl FnOnce() -> O + Send + 'static, failed: fn(Panic) -> O) -> ToThread<O> {
        match Handle::try_current() {
            Ok(handle) => ToThread {
                job: Some(handle.spawn_blocking(job)),
                failed,
                no_runtime: None,
            },
            Err(e) => ToThread {
                job: None,
                failed,
                no_runtime: Some(e.to_string()),
            },
        }
    }
}

impl<O> Unpin for ToThread<O> {}

impl<O> Future for ToThread<O> {
    type Output = O;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<O> {
        let Some(job) = self.job.as_mut() else {
            let why = self
                .no_runtime
                .take()
                .expect("`ToThread` polled after it completed");
            return Poll::Ready((self.failed)(Panic::from_payload(Box::new(why))));
        };
        // The function's panic is caught on its thread; a `JoinError` here
        // means the job never ran (the runtime shut down first).
        let out = std::task::ready!(Pin::new(job).poll(cx));
        self.job = None;
        Poll::Ready(out.unwrap_or_else(|_| {
            (self.failed)(Panic::from_payload(Box::new(
                "the job never ran: its runtime shut down first",
            )))
        }))
    }
}

impl<O> Drop for ToThread<O> {
    fn drop(&mut self) {
        // Skips the function if it has not started; a started one runs on.
        if let Some(job) = &self.job {
            job.abort();
        }
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
/// use gather::{gather, executor::CpuPool};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let pool = CpuPool::global();
/// let squares = gather((0..8u64).map(|i| pool.spawn(move || i * i)))
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
    /// let pool = gather::executor::CpuPool::new(2).unwrap();
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
    /// assert!(gather::executor::CpuPool::global().threads() >= 1);
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
    /// assert_eq!(gather::executor::CpuPool::new(0).unwrap().threads(), 1);
    /// ```
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Queues `f` to run on the pool; the returned [`CpuTask`] resolves to
    /// its value, or to `Err(Panic)` if it panicked. For a function whose
    /// `Err` should fail a gather, use [`try_spawn`](CpuPool::try_spawn).
    /// With the `tracing` feature, `f` runs inside the caller's current
    /// span.
    ///
    /// Dropping the `CpuTask` before `f` starts means `f` never runs.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let pool = gather::executor::CpuPool::new(1).unwrap();
    /// assert_eq!(pool.spawn(|| 6 * 7).await.unwrap(), 42);
    /// let out = pool.spawn(|| -> u8 { panic!("in the pool") }).await;
    /// assert_eq!(out.unwrap_err().message(), "in the pool");
    /// # }
    /// ```
    pub fn spawn<F, T>(&self, f: F) -> CpuTask<Result<T, Panic>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.queue(f, Ok, Err)
    }

    /// Queues the fallible `f` to run on the pool; the returned [`CpuTask`]
    /// resolves to its [`Outcome`]: its `Err` and its panic are failures,
    /// as a child's are. Otherwise as [`spawn`](CpuPool::spawn).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let pool = gather::executor::CpuPool::new(1).unwrap();
    /// let out = pool.try_spawn(|| "x".parse::<u8>()).await;
    /// assert!(out.is_err());
    /// # }
    /// ```
    pub fn try_spawn<F, R>(&self, f: F) -> CpuTask<Outcome<R::Ok, R::Err>>
    where
        F: FnOnce() -> R + Send + 'static,
        R: IntoOutcome + 'static,
        R::Ok: Send + 'static,
        R::Err: Send + 'static,
    {
        self.queue(f, R::into_outcome, Outcome::Panicked)
    }

    fn queue<F, T, O>(&self, f: F, done: fn(T) -> O, panicked: fn(Panic) -> O) -> CpuTask<O>
    where
        F: FnOnce() -> T + Send + 'static,
        T: 'static,
        O: Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let context = CallerContext::capture();
        let job: Job = Box::new(move || {
            if tx.is_closed() {
                return; // the awaiting side is gone: skip the work
            }
            let out = match catch_unwind(AssertUnwindSafe(|| context.run(f))) {
                Ok(value) => done(value),
                Err(payload) => panicked(Panic::from_payload(payload)),
            };
            let _ = tx.send(out);
        });
        // Sending fails only if every worker thread has exited, which
        // happens only if they all panicked outside a job: the task then
        // resolves to a `Panic` saying so.
        let _ = self.sender.send(job);
        CpuTask { rx, panicked }
    }
}

/// Runs `f` on the [global](CpuPool::global) CPU pool; see
/// [`CpuPool::spawn`].
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let n = gather::executor::spawn_cpu(|| 2 + 2).await;
/// assert_eq!(n.unwrap(), 4);
/// # }
/// ```
pub fn spawn_cpu<F, T>(f: F) -> CpuTask<Result<T, Panic>>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    CpuPool::global().spawn(f)
}

/// Runs the fallible `f` on the [global](CpuPool::global) CPU pool; see
/// [`CpuPool::try_spawn`].
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let n = gather::executor::try_spawn_cpu(|| "4".parse::<u8>()).await;
/// assert_eq!(n, gather::Outcome::Ok(4));
/// # }
/// ```
pub fn try_spawn_cpu<F, R>(f: F) -> CpuTask<Outcome<R::Ok, R::Err>>
where
    F: FnOnce() -> R + Send + 'static,
    R: IntoOutcome + 'static,
    R::Ok: Send + 'static,
    R::Err: Send + 'static,
{
    CpuPool::global().try_spawn(f)
}

/// A job on a [`CpuPool`], from [`CpuPool::spawn`] (resolves to
/// `Result<T, Panic>`) or [`CpuPool::try_spawn`] (resolves to an
/// [`Outcome`]). Dropping it before the job starts cancels the job.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let task: gather::executor::CpuTask<Result<u32, gather::Panic>> = gather::executor::spawn_cpu(|| 7);
/// assert_eq!(task.await.unwrap(), 7);
/// # }
/// ```
#[must_use = "dropping a CpuTask cancels the job if it has not started; await it"]
#[derive(Debug)]
pub struct CpuTask<O> {
    rx: oneshot::Receiver<O>,
    panicked: fn(Panic) -> O,
}

impl<O> Future for CpuTask<O> {
    type Output = O;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<O> {
        let panicked = self.panicked;
        Pin::new(&mut self.rx).poll(cx).map(|r| {
            r.unwrap_or_else(|_| {
                panicked(Panic::from_payload(Box::new(
                    "the job never ran: every thread of its pool has exited",
                )))
            })
        })
    }
}
