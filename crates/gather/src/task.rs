//! [`spawn`] and [`Task`]: a tokio task whose handle aborts it when dropped
//! and reports its end as an [`Outcome`].
//!
//! tokio's `JoinHandle` detaches its task when dropped, which lets work
//! outlive the code that started it. `Task` takes the structured default
//! instead: drop the handle and the task is aborted; call
//! [`Task::detach`] when you really want it to run on.

use std::cell::RefCell;
use std::future::Future;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::runtime::Handle;
use tokio::task::{AbortHandle, JoinError, JoinHandle};

use crate::outcome::{IntoOutcome, Outcome, Panic};
use crate::watch::Report;

/// Spawns `future` on the current tokio runtime and returns a [`Task`] that
/// aborts it when dropped.
///
/// The task's panic or abortion is reported as [`Outcome::Panicked`] or
/// [`Outcome::Cancelled`], never re-raised. Tasks can be gathered, waited
/// on, or raced like any other child.
///
/// # Panics
///
/// Never. Called outside a tokio runtime, the returned task resolves at
/// once to [`Outcome::Panicked`] with a message saying so.
///
/// # Examples
///
/// ```
/// use gather::{spawn, Outcome};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let task = spawn(async { Ok::<_, std::io::Error>(6 * 7) });
/// assert_eq!(task.await.ok(), Some(42));
/// # }
/// ```
pub fn spawn<F>(future: F) -> Task<F::Output>
where
    F: Future + Send + 'static,
    F::Output: IntoOutcome + Send + 'static,
{
    match Handle::try_current() {
        Ok(handle) => {
            let report = Arc::new(Report::new());
            let reporting = Reporting {
                future,
                report: Some(report.clone()),
            };
            Task::new(handle.spawn(reporting), Some(report))
        }
        Err(e) => Task::failed(e.to_string()),
    }
}

/// Spawns `future` for a [`Spawned`](crate::future::Spawned) gather, which counts
/// its children's ends itself: no [`Report`].
pub(crate) fn spawn_child<F>(future: F) -> Task<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    match Handle::try_current() {
        Ok(handle) => Task::new(handle.spawn(future), None),
        Err(e) => Task::failed(e.to_string()),
    }
}

pin_project_lite::pin_project! {
    /// A spawned future that reports its end (see [`crate::watch`]).
    struct Reporting<F> {
        #[pin]
        future: F,
        // `None` once reported.
        report: Option<Arc<Report>>,
    }

    impl<F> PinnedDrop for Reporting<F> {
        fn drop(this: Pin<&mut Self>) {
            // Dropped unfinished: aborted, which is not a failure.
            if let Some(report) = this.project().report.take() {
                report.finished(false);
            }
        }
    }
}

impl<F: Future> Future for Reporting<F>
where
    F::Output: IntoOutcome,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        // A panic is a failure, and the report must say so before tokio
        // catches it (it drops the future only after).
        let polled = match catch_unwind(AssertUnwindSafe(|| this.future.poll(cx))) {
            Ok(polled) => polled,
            Err(payload) => {
                if let Some(report) = this.report.take() {
                    report.finished(true);
                }
                resume_unwind(payload)
            }
        };
        let out = std::task::ready!(polled);
        if let Some(report) = this.report.take() {
            report.finished(!out.is_success());
        }
        Poll::Ready(out)
    }
}

/// A spawned task, aborted when dropped unless [detached](Task::detach).
///
/// Awaiting it yields an [`Outcome`]: the task's value or error, a caught
/// panic, or `Cancelled` if it was aborted.
///
/// # Cancel safety
///
/// Dropping the `Task` aborts the task; awaiting it again after a `select!`
/// branch was taken is fine.
///
/// # Examples
///
/// ```
/// use gather::{spawn, Outcome};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let task = spawn(async {
///     tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
///     Ok::<(), ()>(())
/// });
/// task.abort();
/// assert_eq!(task.await, Outcome::Cancelled);
/// # }
/// ```
#[must_use = "dropping a Task aborts it; use .detach() to let it run on"]
#[derive(Debug)]
pub struct Task<R> {
    inner: Inner<R>,
    abort_on_drop: bool,
}

#[derive(Debug)]
enum Inner<R> {
    Running(Running<R>),
    Failed(Option<String>),
}

#[derive(Debug)]
struct Running<R> {
    handle: JoinHandle<R>,
    /// How to wait for the task once aborted; made where `R: Send +
    /// 'static` is known, so that `Task` itself needs no bounds.
    stopping: fn(JoinHandle<R>) -> Stopping,
    /// Set for tasks from [`spawn`]: how the task tells a gather that holds
    /// this handle as a child that it has ended (see [`crate::watch`]).
    report: Option<Arc<Report>>,
}

/// A child that was told to stop, and ends once it has (an aborted task,
/// awaited until tokio has dropped it).
#[doc(hidden)]
pub type Stopping = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Waits for an aborted task's end, whatever it was.
fn stopping<R: Send + 'static>(handle: JoinHandle<R>) -> Stopping {
    Box::pin(async move {
        let _ = handle.await;
    })
}

thread_local! {
    /// One list per open [`AbortScope`], innermost last; empty the rest of
    /// the time.
    static ABORTED: RefCell<Vec<Vec<Stopping>>> = const { RefCell::new(Vec::new()) };
}

/// While open, every [`Task`] dropped on this thread (and so aborted) is
/// collected as a [`Stopping`] instead of being let go.
///
/// tokio's abort is asynchronous: a dropped `Task` may still be running
/// when its owner returns. An operation that ends by cancel, timeout or
/// failure drops its running children inside a scope, and awaits what the
/// scope collected before it returns: `Task`s passed as children, and any
/// a child held (a nested spawned gather's), stop before the operation
/// ends. Only those paths open a scope, so the success path pays nothing;
/// dropping a `Task` outside one costs a thread-local read.
///
/// A marker with nothing to drop: the driver's hot path holds an
/// `Option<AbortScope>`, and drop glue there cost a call per child. So it
/// must be [exited](AbortScope::exit); nothing can unwind in between, as
/// children are dropped under `catch_unwind` (`drop_caught`).
#[must_use = "a scope must be exited, or it collects every later aborted task"]
pub(crate) struct AbortScope(());

impl AbortScope {
    pub(crate) fn enter() -> AbortScope {
        let _ = ABORTED.try_with(|a| a.borrow_mut().push(Vec::new()));
        AbortScope(())
    }

    /// Closes the scope; returns what it collected.
    pub(crate) fn exit(self) -> Vec<Stopping> {
        ABORTED
            .try_with(|a| a.borrow_mut().pop())
            .ok()
            .flatten()
            .unwrap_or_default()
    }
}

/// Hands an aborted task to the open [`AbortScope`], if any.
fn collect_aborted(stopping: impl FnOnce() -> Stopping) {
    let _ = ABORTED.try_with(|a| {
        if let Ok(mut a) = a.try_borrow_mut() {
            if let Some(innermost) = a.last_mut() {
                innermost.push(stopping());
            }
        }
    });
}

impl<R> Task<R> {
    pub(crate) fn new(handle: JoinHandle<R>, report: Option<Arc<Report>>) -> Task<R>
    where
        R: Send + 'static,
    {
        Task {
            inner: Inner::Running(Running {
                handle,
                stopping: stopping::<R>,
                report,
            }),
            abort_on_drop: true,
        }
    }

    pub(crate) fn failed(message: String) -> Task<R> {
        Task {
            inner: Inner::Failed(Some(message)),
            abort_on_drop: true,
        }
    }

    pub(crate) fn set_abort_on_drop(&mut self, abort: bool) {
        self.abort_on_drop = abort;
    }

    /// Aborts the task and hands back its join handle, to await until it
    /// has really stopped (tokio's abort only asks); `None` if it never
    /// started. The `Task` is left finished, with nothing to abort.
    pub(crate) fn abort_and_take(&mut self) -> Option<JoinHandle<R>> {
        match std::mem::replace(&mut self.inner, Inner::Failed(None)) {
            Inner::Running(Running { handle, .. }) => {
                handle.abort();
                Some(handle)
            }
            Inner::Failed(_) => None,
        }
    }

    /// Lets the task run to its end on its own; its result is discarded.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// gather::spawn(async { Ok::<(), ()>(()) }).detach();
    /// # }
    /// ```
    pub fn detach(mut self) {
        self.abort_on_drop = false;
    }

    /// Aborts the task; awaiting it then yields [`Outcome::Cancelled`]
    /// (unless it had already finished).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let t = gather::spawn(std::future::pending::<Result<(), ()>>());
    /// t.abort();
    /// assert_eq!(t.await, gather::Outcome::Cancelled);
    /// # }
    /// ```
    pub fn abort(&self) {
        if let Inner::Running(Running { handle: h, .. }) = &self.inner {
            h.abort();
        }
    }

    /// A handle that can abort the task from elsewhere (`None` if it never
    /// started because there was no runtime).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let t = gather::spawn(std::future::pending::<Result<(), ()>>());
    /// t.abort_handle().unwrap().abort();
    /// assert_eq!(t.await, gather::Outcome::Cancelled);
    /// # }
    /// ```
    pub fn abort_handle(&self) -> Option<AbortHandle> {
        match &self.inner {
            Inner::Running(r) => Some(r.handle.abort_handle()),
            Inner::Failed(_) => None,
        }
    }

    /// `true` once the task has ended (awaiting it will not wait).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let t = gather::spawn(async { Ok::<_, ()>(()) });
    /// tokio::task::yield_now().await;
    /// assert!(t.is_finished());
    /// # }
    /// ```
    pub fn is_finished(&self) -> bool {
        match &self.inner {
            Inner::Running(r) => r.handle.is_finished(),
            Inner::Failed(_) => true,
        }
    }
}

pub(crate) fn join_outcome<R: IntoOutcome>(result: Result<R, JoinError>) -> Outcome<R::Ok, R::Err> {
    match result {
        Ok(r) => r.into_outcome(),
        Err(e) if e.is_panic() => Outcome::Panicked(Panic::from_payload(e.into_panic())),
        Err(_) => Outcome::Cancelled,
    }
}

impl<R: IntoOutcome> Future for Task<R> {
    type Output = Outcome<R::Ok, R::Err>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this: *const Self = &*self;
        match &mut self.inner {
            Inner::Running(running) => {
                let polled = Pin::new(&mut running.handle).poll(cx);
                if polled.is_pending() {
                    if let Some(report) = &running.report {
                        crate::watch::offer(this, report);
                    }
                }
                polled.map(join_outcome)
            }
            Inner::Failed(m) => Poll::Ready(Outcome::Panicked(Panic::from_payload(Box::new(
                m.take()
                    .unwrap_or_else(|| "task polled after completion".to_owned()),
            )))),
        }
    }
}

impl<R> Drop for Task<R> {
    fn drop(&mut self) {
        if !self.abort_on_drop {
            return;
        }
        if let Inner::Running(Running {
            handle, stopping, ..
        }) = std::mem::replace(&mut self.inner, Inner::Failed(None))
        {
            handle.abort();
            if !handle.is_finished() {
                collect_aborted(|| stopping(handle));
            }
        }
    }
}

/// Wraps a future that cannot fail so that it can be a child:
/// its output `T` becomes `Ok::<T, Infallible>(T)`.
///
/// # Examples
///
/// ```
/// use gather::{gather, infallible};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let v = gather((1..=3).map(|i| infallible(async move { i * 10 }))).await.unwrap();
/// assert_eq!(v, [10, 20, 30]);
/// # }
/// ```
pub fn infallible<F: Future>(future: F) -> AlwaysOk<F> {
    AlwaysOk { future }
}

pin_project_lite::pin_project! {
    /// The future returned by [`infallible`].
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let f: gather::future::AlwaysOk<_> = gather::infallible(async { 5 });
    /// assert_eq!(f.await, Ok(5));
    /// # }
    /// ```
    #[must_use = "futures do nothing unless awaited"]
    #[derive(Debug)]
    pub struct AlwaysOk<F> {
        #[pin]
        future: F,
    }
}

impl<F: Future> Future for AlwaysOk<F> {
    type Output = Result<F::Output, std::convert::Infallible>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.project().future.poll(cx).map(Ok)
    }
}
