//! [`gather`]: run many children concurrently, get every result back in
//! input order.
//!
//! # Design
//!
//! A `Gather` is a builder until it is first polled and a future after.
//! The two modes are two types ([`FailFast`] and [`ReturnExceptions`])
//! rather than a flag, because they have different outputs: `Vec<T>` or a
//! [`GatherError`], against `Vec<Outcome<T, E>>`. Both run on the shared
//! [driver](crate::driver), in place or spawned, so every combination gives
//! the same results in the same order.
//!
//! # On failure
//!
//! What happens to the other children when a gather ends is decided in one
//! place, [`Driver::finish`](crate::driver::Driver::finish), by how it
//! ended ([`Ending`]):
//!
//! - **a child fails** (fail-fast): the others are dropped, spawned ones
//!   aborted; with `.spawn().keep_siblings()` they are detached instead and
//!   run on (Python's `gather`). The error names the child; the results
//!   already in are kept in [`GatherError::into_partial`].
//! - **cancelled** through a [`CancelHandle`]: every unfinished child is
//!   dropped or aborted; `Err(Cancelled)`.
//! - **the overall timeout**: the same, and in `return_exceptions` mode each
//!   stopped child's slot says `TimedOut`; finished results are kept.
//! - **a child's own timeout** (`timeout_each`) is that child's failure.
//!
//! Every one of these ends returns only after each spawned task it aborted
//! has stopped. Dropping the gather is not an end it can wait for: in-place
//! children are dropped at once, spawned ones aborted.

use std::future::Future;
use std::marker::PhantomData;
use std::ops::ControlFlow;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use crate::cancel::{CancelHandle, CancelState};
use crate::child::{InPlace, Launch, Spawned};
use crate::deadline::Deadline;
use crate::driver::{Driver, Ending, WORK_PER_TURN};
use crate::error::{Cancelled, GatherError};
use crate::outcome::{Failure, IntoOutcome, Outcome};
use crate::progress::Event;

/// Runs every child concurrently and returns their results in input order.
///
/// The Rust form of Python's `asyncio.gather(*aws)`. Children are futures
/// returning `Result<T, E>` (or [`Outcome<T, E>`]); wrap infallible ones in
/// [`infallible`](crate::infallible).
///
/// - **Fail-fast** (default): resolves to `Ok(Vec<T>)` in input order, or to
///   the first failure in time as a [`GatherError`] naming the child's index.
///   The other children are cancelled at once, as in Python's `TaskGroup`
///   (Python's `gather` lets them run on; see [`Gather::keep_siblings`]).
/// - **[`return_exceptions`](Gather::return_exceptions)**: every child runs to
///   its end and each slot holds its [`Outcome`].
///
/// # Ordering
///
/// Results are placed by input index, whatever order children finish in.
///
/// # Cancellation
///
/// Dropping the gather drops every unfinished child (aborts spawned ones).
/// A [`CancelHandle`] does the same from elsewhere. Children start when the
/// gather is first polled, not when `gather` is called.
///
/// Nothing outlives an end you await: an error, a cancel through the
/// handle or a timeout returns only once every task the gather spawned and
/// aborted has stopped (its future dropped), as Python's gather waits for
/// its cancelled children. On success there is nothing to wait for.
/// Dropping cannot wait: in-place children are gone when the drop returns;
/// spawned ones are aborted, and each stops at its next `.await` on
/// whichever worker runs it next (one in the middle of a blocking step
/// finishes that step first). To know when they are gone, cancel through
/// the [`CancelHandle`] and await the gather instead of dropping it.
///
/// # Panics
///
/// A panicking child never unwinds through the caller: it becomes
/// [`Outcome::Panicked`] or the gather's error. That holds for a panic in
/// the child's `Drop` too (a finished child is dropped under the same
/// guard as its polls); a child that panics in `Drop` while the gather is
/// cancelled, timed out, failed or dropped is dropped all the same, and
/// its panic is discarded, since the gather has its own end to report.
/// Timeouts need a tokio
/// runtime with the time driver enabled; setting one and polling outside
/// tokio panics, as `tokio::time::sleep` does. Polling the gather again
/// after it has completed panics, as most futures do.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use gather::gather;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// // Children finish in reverse order; results come back in input order.
/// let results = gather((1..=3u64).map(|i| async move {
///     tokio::time::sleep(Duration::from_millis(100 / i)).await;
///     Ok::<_, std::io::Error>(i * 10)
/// }))
/// .await
/// .unwrap();
/// assert_eq!(results, [10, 20, 30]);
/// # }
/// ```
pub fn gather<I>(children: I) -> Gather<I::IntoIter, InPlace, FailFast>
where
    I: IntoIterator,
    I::Item: Future,
    <I::Item as Future>::Output: IntoOutcome,
{
    Gather {
        driver: Driver::new(children.into_iter(), InPlace),
        results: Vec::new(),
        deadline: Deadline::default(),
        cancel: None,
        done: false,
        expiring: false,
        end: None,
        _mode: PhantomData,
    }
}

/// Mode marker: the first failure ends the gather. See [`gather`].
///
/// ```
/// let _g: gather::future::Gather<_, gather::future::InPlace, gather::future::FailFast> = gather::gather([async { Ok::<_, ()>(1) }]);
/// ```
#[derive(Debug)]
pub enum FailFast {}

/// Mode marker: every child runs to its end; see [`Gather::return_exceptions`].
///
/// ```
/// let _g: gather::future::Gather<_, gather::future::InPlace, gather::future::ReturnExceptions> =
///     gather::gather([async { Ok::<_, ()>(1) }]).return_exceptions();
/// ```
#[derive(Debug)]
pub enum ReturnExceptions {}

/// The future returned by [`gather`]; also its builder.
///
/// Configure it with the methods below, then `.await` it.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let g = gather::gather((0..10).map(|i| async move { Ok::<_, ()>(i) })).limit(3);
/// assert_eq!(g.await.unwrap().len(), 10);
/// # }
/// ```
#[must_use = "a gather does nothing until awaited; dropping it cancels every child"]
pub struct Gather<I: Iterator, L: Launch<I::Item>, M> {
    driver: Driver<I, L>,
    results: Vec<Option<Outcome<L::Ok, L::Err>>>,
    deadline: Deadline,
    cancel: Option<Arc<CancelState>>,
    done: bool,
    /// After the overall timeout in `return_exceptions` mode: the inputs
    /// never started are still being stored as `TimedOut`.
    expiring: bool,
    /// How the run ended, kept while the children it gave up on stop.
    end: Option<End<L::Err>>,
    _mode: PhantomData<fn() -> M>,
}

// Children are boxed inside the driver and nothing else is ever pinned, so a
// `Gather` can move freely whatever its parts are.
impl<I: Iterator, L: Launch<I::Item>, M> Unpin for Gather<I, L, M> {}

/// How a gather ended, before it is turned into the mode's output.
enum End<E> {
    Completed,
    Failed(usize, Failure<E>),
    TimedOut,
    Cancelled,
}

impl<E> End<E> {
    /// What the driver does with the children left: see [`Ending`].
    fn ending(&self) -> Ending {
        match self {
            End::Completed => Ending::Completed,
            End::Failed(..) => Ending::Failed,
            End::TimedOut => Ending::TimedOut,
            End::Cancelled => Ending::Cancelled,
        }
    }
}

impl<I: Iterator, L: Launch<I::Item>, M> Gather<I, L, M> {
    fn with_mode<M2>(self) -> Gather<I, L, M2> {
        Gather {
            driver: self.driver,
            results: self.results,
            deadline: self.deadline,
            cancel: self.cancel,
            done: self.done,
            expiring: self.expiring,
            end: self.end,
            _mode: PhantomData,
        }
    }

    /// Runs at most `n` children at once. The rest start lazily, in input
    /// order, as running ones finish: a million inputs never means a million
    /// started futures. `0` is taken as `1`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let v = gather::gather((0..100).map(|i| async move { Ok::<_, ()>(i) }))
    ///     .limit(8)
    ///     .await
    ///     .unwrap();
    /// assert_eq!(v.len(), 100);
    /// # }
    /// ```
    pub fn limit(mut self, n: usize) -> Self {
        self.driver.config.limit = n.max(1);
        self
    }

    /// Gives each child at most `timeout` from its start; a child that runs
    /// longer is dropped and its outcome is [`Outcome::TimedOut`] (in
    /// fail-fast mode, the gather's error).
    ///
    /// ```
    /// use std::time::Duration;
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// let err = gather::gather([async {
    ///     tokio::time::sleep(Duration::from_secs(60)).await;
    ///     Ok::<_, ()>(())
    /// }])
    /// .timeout_each(Duration::from_secs(1))
    /// .await
    /// .unwrap_err();
    /// assert!(err.is_timeout() && err.index() == Some(0));
    /// # }
    /// ```
    pub fn timeout_each(mut self, timeout: Duration) -> Self {
        self.driver.config.child_timeout = Some(timeout);
        self
    }

    /// Gives the whole gather at most `timeout` from its first poll. When it
    /// expires, unfinished children are dropped; the results already
    /// finished are kept: in [`GatherError::into_partial`] in fail-fast mode,
    /// beside [`Outcome::TimedOut`] slots in `return_exceptions` mode.
    /// (Python's `asyncio.timeout(gather(...))` throws them all away.)
    ///
    /// The clock starts at the first poll and is read on every poll, so
    /// children that never stop being ready cannot run past it. At the
    /// deadline nothing is built per input not started beyond the output:
    /// fail-fast drops the rest of the input without walking it (the
    /// partial results cover the inputs when their number is known, else
    /// the children started); `return_exceptions` stores each remaining
    /// input as [`Outcome::TimedOut`] in turns of bounded work, never
    /// starting it, so an endless input never ends there.
    ///
    /// ```
    /// use std::time::Duration;
    /// use gather::Outcome;
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// let out = gather::gather((1..=2u64).map(|s| async move {
    ///     tokio::time::sleep(Duration::from_secs(s * 10)).await;
    ///     Ok::<_, ()>(s)
    /// }))
    /// .return_exceptions()
    /// .timeout(Duration::from_secs(15))
    /// .await
    /// .unwrap();
    /// assert_eq!(out, [Outcome::Ok(1), Outcome::TimedOut]);
    /// # }
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.deadline.set(timeout);
        self
    }

    /// Calls `observer` when each child starts and when it finishes, with
    /// running counts: enough to drive a progress bar. See [`Event`].
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let done = Arc::new(AtomicUsize::new(0));
    /// let d = done.clone();
    /// gather::gather((0..5).map(|i| async move { Ok::<_, ()>(i) }))
    ///     .on_event(move |e| if let gather::progress::EventKind::Finished(_) = e.kind {
    ///         d.store(e.finished, Ordering::SeqCst);
    ///     })
    ///     .await
    ///     .unwrap();
    /// assert_eq!(done.load(Ordering::SeqCst), 5);
    /// # }
    /// ```
    pub fn on_event(mut self, observer: impl FnMut(&Event) + Send + 'static) -> Self {
        self.driver.config.observer = Some(Box::new(observer));
        self
    }

    /// A handle that cancels this gather from elsewhere. See [`CancelHandle`].
    ///
    /// ```
    /// let mut g = gather::gather([async { Ok::<_, ()>(()) }]);
    /// let handle = g.cancel_handle();
    /// assert!(!handle.is_done());
    /// ```
    pub fn cancel_handle(&mut self) -> CancelHandle {
        CancelHandle::new(self.cancel.get_or_insert_with(Arc::default).clone())
    }

    /// Switches to `return_exceptions` mode, as Python's
    /// `gather(..., return_exceptions=True)`: every child runs to its end and
    /// the gather resolves to one [`Outcome`] per child, in input order.
    ///
    /// It resolves to `Err(Cancelled)` only when cancelled through its
    /// [`CancelHandle`], as Python's gather raises `CancelledError`.
    ///
    /// ```
    /// use gather::Outcome;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let out = gather::gather((0..3).map(|i| async move {
    ///     if i == 1 { panic!("child {i} broke") }
    ///     if i == 2 { return Err("bad input") }
    ///     Ok(i)
    /// }))
    /// .return_exceptions()
    /// .await
    /// .unwrap();
    /// assert_eq!(out[0], Outcome::Ok(0));
    /// assert!(matches!(&out[1], Outcome::Panicked(p) if p.message() == "child 1 broke"));
    /// assert_eq!(out[2], Outcome::Err("bad input"));
    /// # }
    /// ```
    pub fn return_exceptions(self) -> Gather<I, L, ReturnExceptions> {
        self.with_mode()
    }

    fn finish_cancel_state(&self) -> bool {
        self.cancel.as_ref().is_none_or(|c| c.finish())
    }

    fn store(
        results: &mut Vec<Option<Outcome<L::Ok, L::Err>>>,
        index: usize,
        outcome: Outcome<L::Ok, L::Err>,
    ) {
        if results.len() <= index {
            results.resize_with(index + 1, || None);
        }
        results[index] = Some(outcome);
    }

    /// Drives the children; shared by both modes.
    fn poll_end(&mut self, cx: &mut Context<'_>, fail_fast: bool) -> Poll<End<L::Err>> {
        assert!(!self.done, "`Gather` polled after it completed");
        if let Some(cancel) = &self.cancel {
            if cancel.poll_cancelled(cx.waker()) {
                return Poll::Ready(End::Cancelled);
            }
        }
        // Read on every poll, so that children that keep being ready
        // cannot run past it. A zero timeout ends the gather before any
        // child starts, as Python's `wait_for(gather(...), 0)` cancels
        // tasks that never ran.
        if self.deadline.passed() {
            return Poll::Ready(End::TimedOut);
        }
        if self.driver.started() == 0 && self.results.capacity() == 0 {
            self.results.reserve_exact(self.driver.total().unwrap_or(0));
            // Before any child starts: the children's ends are counted in
            // the handle's state, so that a late cancel() sees a finished
            // gather (spawned children and `Task` inputs settle their own).
            if let Some(cancel) = &self.cancel {
                self.driver.watch(cancel, fail_fast);
            }
        }
        let results = &mut self.results;
        let mut failure = None;
        let drive = self.driver.poll_drive(cx, |index, outcome| {
            if fail_fast && !outcome.is_ok() {
                if let Err(f) = outcome.into_result() {
                    failure = Some((index, f));
                }
                return ControlFlow::Break(());
            }
            Self::store(results, index, outcome);
            ControlFlow::Continue(())
        });
        match drive {
            Poll::Ready(ControlFlow::Continue(())) => Poll::Ready(End::Completed),
            Poll::Ready(ControlFlow::Break(())) => match failure {
                Some((index, f)) => Poll::Ready(End::Failed(index, f)),
                None => Poll::Ready(End::Completed),
            },
            Poll::Pending if self.deadline.poll_passed(cx) => Poll::Ready(End::TimedOut),
            Poll::Pending => Poll::Pending,
        }
    }

    /// Drives the run to its end, then stops what is left as that end says
    /// ([`Driver::finish`]: children a timeout stops are stored as
    /// `TimedOut`, which fail-fast's partial results leave out as not ok),
    /// and is `Ready` only once every spawned task it aborted has stopped:
    /// nothing the gather started outlives it. Shared by both modes.
    fn poll_over(&mut self, cx: &mut Context<'_>, fail_fast: bool) -> Poll<End<L::Err>> {
        if !self.done {
            let end = std::task::ready!(self.poll_end(cx, fail_fast));
            let end = self.settle(end);
            let results = &mut self.results;
            self.driver.finish(end.ending(), |index| {
                Self::store(results, index, Outcome::TimedOut)
            });
            // Only `return_exceptions` has a slot for every input.
            self.expiring = matches!(end, End::TimedOut) && !fail_fast;
            if !self.expiring {
                self.driver.drop_rest();
            }
            self.end = Some(end);
        }
        while self.expiring {
            // The same bound on a turn as the driver's, so that a long rest
            // of the input does not hold the thread.
            for _ in 0..WORK_PER_TURN {
                let Some(index) = self.driver.expire_next() else {
                    self.expiring = false;
                    break;
                };
                Self::store(&mut self.results, index, Outcome::TimedOut);
            }
            if self.expiring {
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
        }
        std::task::ready!(self.driver.poll_stopped(cx));
        Poll::Ready(self.end.take().expect("`Gather` polled after it completed"))
    }

    /// Ends the run: settles the cancel handle (a late `cancel()` that
    /// returned `true` wins) and marks the future done.
    fn settle(&mut self, end: End<L::Err>) -> End<L::Err> {
        self.done = true;
        self.deadline.disarm();
        if self.finish_cancel_state() {
            end
        } else {
            End::Cancelled
        }
    }
}

impl<I, M> Gather<I, InPlace, M>
where
    I: Iterator,
    I::Item: Future + Send + 'static,
    <I::Item as Future>::Output: IntoOutcome,
    <<I::Item as Future>::Output as IntoOutcome>::Ok: Send + 'static,
    <<I::Item as Future>::Output as IntoOutcome>::Err: Send + 'static,
{
    /// Runs each child as a tokio task, so children run in parallel on the
    /// runtime's worker threads. Results still come back in input order,
    /// and every child is aborted when the gather is dropped or cancelled.
    ///
    /// Children must be `Send + 'static`. Outside a tokio runtime each child
    /// ends as [`Outcome::Panicked`] with a message saying so.
    ///
    /// ```
    /// # #[tokio::main(flavor = "multi_thread", worker_threads = 2)] async fn main() {
    /// let v = gather::gather((0..4u64).map(|i| async move { Ok::<_, ()>(i * i) }))
    ///     .spawn()
    ///     .await
    ///     .unwrap();
    /// assert_eq!(v, [0, 1, 4, 9]);
    /// # }
    /// ```
    pub fn spawn(self) -> Gather<I, Spawned, M> {
        Gather {
            driver: self.driver.relaunch(Spawned::default()),
            results: Vec::new(),
            deadline: self.deadline,
            cancel: self.cancel,
            done: false,
            expiring: false,
            end: None,
            _mode: PhantomData,
        }
    }
}

impl<I: Iterator> Gather<I, Spawned, FailFast>
where
    Spawned: Launch<I::Item>,
{
    /// Python's behaviour on the first error: the gather returns it at once
    /// but the other running children are *not* aborted; they are detached
    /// and run to their end on their own (their results are discarded).
    /// Children not yet started because of [`limit`](Gather::limit) are
    /// never started.
    ///
    /// Only for spawned gathers: an in-place child cannot run once its
    /// gather has returned. The default cancels the siblings, as Python's
    /// `TaskGroup` does.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let err = gather::gather((0..3).map(|i| async move {
    ///     if i == 0 { Err("first") } else { Ok(i) }
    /// }))
    /// .spawn()
    /// .keep_siblings()
    /// .await
    /// .unwrap_err();
    /// assert_eq!(err.index(), Some(0));
    /// # }
    /// ```
    pub fn keep_siblings(mut self) -> Self {
        self.driver.launcher_mut().keep_siblings = true;
        self
    }
}

impl<I: Iterator, L: Launch<I::Item>> Future for Gather<I, L, FailFast> {
    type Output = Result<Vec<L::Ok>, GatherError<L::Err, L::Ok>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let end = std::task::ready!(self.poll_over(cx, true));
        // Aligned with the input when its length is known.
        let len = self.driver.started().max(self.driver.total().unwrap_or(0));
        let mut results = std::mem::take(&mut self.results);
        results.resize_with(len, || None);
        let partial = || -> Vec<Option<L::Ok>> {
            results
                .into_iter()
                .map(|o| o.and_then(Outcome::ok))
                .collect()
        };
        Poll::Ready(match end {
            End::Completed => Ok(partial().into_iter().flatten().collect()),
            End::Failed(index, f) => Err(GatherError::new(Some(index), f, partial())),
            End::TimedOut => Err(GatherError::new(None, Failure::TimedOut, partial())),
            End::Cancelled => Err(GatherError::new(None, Failure::Cancelled, partial())),
        })
    }
}

impl<I: Iterator, L: Launch<I::Item>> Future for Gather<I, L, ReturnExceptions> {
    type Output = Result<Vec<Outcome<L::Ok, L::Err>>, Cancelled>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let end = std::task::ready!(self.poll_over(cx, false));
        let results = std::mem::take(&mut self.results);
        Poll::Ready(match end {
            End::Cancelled => Err(Cancelled),
            End::TimedOut | End::Completed | End::Failed(..) => Ok(results
                .into_iter()
                .map(|o| o.unwrap_or(Outcome::Cancelled))
                .collect()),
        })
    }
}
