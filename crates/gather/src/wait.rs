//! [`wait`]: run children until a condition, get back `(done, pending)`.
//!
//! # Compared with Python
//!
//! Python's `asyncio.wait` takes tasks that run on the event loop whether
//! or not anyone awaits them. Here, children run in place: the
//! [`Pending`] set makes progress while it is being waited on or awaited,
//! and **dropping it cancels its children**. To have children run on their
//! own between waits, pass spawned [`Task`](crate::Task)s
//! (`children.map(gather::spawn)`). Passed by value they belong to the
//! `Wait` and its `Pending`, and are aborted when either is dropped; pass
//! them by `&mut` (or [detach](crate::Task::detach) them) to keep them
//! running after the wait is given up. An empty input returns at once
//! instead of raising `ValueError`.
//!
//! As Python's `done` holds every task that is done when `wait` returns,
//! ours holds every child that finished in the turn that met the
//! condition: two children ready at once are both in `done`.

use std::future::Future;
use std::ops::ControlFlow;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use crate::child::{InPlace, Launch, Spawned};
use crate::deadline::Deadline;
use crate::driver::{Driver, Ending};
use crate::outcome::{IntoOutcome, Outcome};
use crate::progress::Event;

/// Finished children: each one's input index and outcome, in completion order.
type Done<L, F> = Vec<(usize, Outcome<<L as Launch<F>>::Ok, <L as Launch<F>>::Err>)>;

/// When [`wait`] returns, as Python's `FIRST_COMPLETED`, `FIRST_EXCEPTION`
/// and `ALL_COMPLETED`.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let (done, _) = gather::wait([async { Err::<(), _>("x") }], gather::ReturnWhen::FirstException).await;
/// assert_eq!(done[0], (0, gather::Outcome::Err("x")));
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReturnWhen {
    /// As soon as any child finishes, however it finishes.
    FirstCompleted,
    /// As soon as any child fails (an error, a panic or a per-child
    /// timeout), or when all have finished if none fails. A cancelled child
    /// does not count as a failure.
    FirstException,
    /// When every child has finished.
    AllCompleted,
}

/// Runs `children` until `when` is met (or the [`timeout`](Wait::timeout)
/// expires) and returns `(done, pending)`.
///
/// `done` holds each finished child's input index and [`Outcome`], in the
/// order they finished: with `FirstCompleted` or `FirstException`, every
/// child that finished in the turn that met the condition, not only the
/// first. Errors are returned there, never raised by `wait`.
/// `pending` holds the unfinished ones: pass it to `wait` again, or await
/// it for the rest. A timeout cancels nothing.
///
/// # Cancellation
///
/// Dropping the `Wait` future or the returned [`Pending`] drops the
/// children it holds.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use gather::{wait, ReturnWhen};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// let children = [3u64, 1, 2].map(|s| async move {
///     tokio::time::sleep(Duration::from_secs(s)).await;
///     Ok::<_, ()>(s)
/// });
/// let (done, pending) = wait(children, ReturnWhen::FirstCompleted).await;
/// assert_eq!(done.len(), 1);
/// assert_eq!(done[0].0, 1); // the child at index 1 slept least
/// assert_eq!(pending.len(), 2);
///
/// let (done, pending) = wait(pending, ReturnWhen::AllCompleted).await;
/// assert_eq!(done.iter().map(|(i, _)| *i).collect::<Vec<_>>(), [2, 0]);
/// assert!(pending.is_empty());
/// # }
/// ```
pub fn wait<P: IntoPending>(children: P, when: ReturnWhen) -> Wait<P::Iter, P::Launch> {
    Wait {
        pending: Some(children.into_pending()),
        when,
        deadline: Deadline::default(),
        done: Vec::new(),
    }
}

/// Children not yet finished, returned by [`wait`].
///
/// Pass it to [`wait`] again, or await it to run every remaining child to
/// its end (`Vec<(index, Outcome)>` in completion order). Dropping it
/// cancels them.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let (_, pending) = gather::wait([async { Ok::<_, ()>(1) }], gather::ReturnWhen::AllCompleted).await;
/// assert!(pending.await.is_empty());
/// # }
/// ```
#[must_use = "dropping Pending cancels its children; wait on it or await it"]
pub struct Pending<I: Iterator, L: Launch<I::Item> = InPlace> {
    driver: Driver<I, L>,
    /// Outcomes collected while the set is awaited to its end.
    done: Done<L, I::Item>,
}

impl<I: Iterator, L: Launch<I::Item>> Unpin for Pending<I, L> {}

impl<I: Iterator, L: Launch<I::Item>> Pending<I, L> {
    /// Children still unfinished: running ones, plus the rest of the input
    /// when it knows its length.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let kids = [0, 1].map(|i| async move {
    ///     if i == 1 { std::future::pending::<()>().await }
    ///     Ok::<_, ()>(i)
    /// });
    /// let (done, pending) = gather::wait(kids, gather::ReturnWhen::FirstCompleted).await;
    /// assert_eq!((done.len(), pending.len()), (1, 1));
    /// # }
    /// ```
    pub fn len(&self) -> usize {
        self.driver.running() + self.driver.unstarted_hint()
    }

    /// `true` when every child has finished.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let (_, pending) = gather::wait([async { Ok::<_, ()>(()) }], gather::ReturnWhen::AllCompleted).await;
    /// assert!(pending.is_empty());
    /// # }
    /// ```
    pub fn is_empty(&self) -> bool {
        self.driver.is_idle()
    }

    /// The input index of each running child, ascending: what Python's
    /// `for t in pending` goes over. Children of the input not started yet
    /// (with [`limit`](Wait::limit)) are not listed.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let kids = [0, 1, 2].map(|i| async move {
    ///     if i != 1 { std::future::pending::<()>().await }
    ///     Ok::<_, ()>(i)
    /// });
    /// let (_, mut pending) = gather::wait(kids, gather::ReturnWhen::FirstCompleted).await;
    /// assert_eq!(pending.indices(), [0, 2]);
    /// # }
    /// ```
    pub fn indices(&mut self) -> Vec<usize> {
        self.driver.running_indices()
    }

    /// Cancels every unfinished child, as Python's `for t in pending:
    /// t.cancel()`, and resolves to the input indices of the running ones
    /// it cancelled, ascending; the rest of the input is dropped unstarted.
    ///
    /// In-place children are dropped at once. Spawned ones (the
    /// [`Task`](crate::Task)s this set owns) are aborted, and the future
    /// resolves only once each has stopped: nothing this set started
    /// outlives the `await`. Dropping the `Pending` also cancels, but
    /// cannot wait for spawned children to stop.
    ///
    /// ```
    /// use gather::{wait, ReturnWhen};
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let kids = [0, 1, 2].map(|i| async move {
    ///     if i != 1 { std::future::pending::<()>().await }
    ///     Ok::<_, ()>(i)
    /// });
    /// let (done, pending) = wait(kids, ReturnWhen::FirstCompleted).await;
    /// for (index, outcome) in done {
    ///     println!("{index}: {}", outcome.into_result().unwrap()); // t.result()
    /// }
    /// assert_eq!(pending.cancel().await, [0, 2]);
    /// # }
    /// ```
    pub async fn cancel(mut self) -> Vec<usize> {
        let cancelled = self.driver.running_indices();
        self.driver.finish(Ending::Cancelled, |_| {});
        std::future::poll_fn(|cx| self.driver.poll_stopped(cx)).await;
        cancelled
    }
}

impl<I: Iterator, L: Launch<I::Item>> Future for Pending<I, L> {
    type Output = Done<L, I::Item>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let done = &mut this.done;
        let drive = this.driver.poll_drive(cx, |index, outcome| {
            done.push((index, outcome));
            ControlFlow::Continue(())
        });
        drive.map(|_| std::mem::take(&mut this.done))
    }
}

/// Converts what [`wait`] accepts: any `IntoIterator` of children, or the
/// [`Pending`] set a previous `wait` returned.
///
/// ```
/// use gather::future::IntoPending;
/// let pending = vec![async { Ok::<_, ()>(1) }].into_pending();
/// assert!(!pending.is_empty());
/// ```
#[diagnostic::on_unimplemented(
    message = "`wait` takes futures that return `Result<T, E>` or `gather::Outcome<T, E>` (or the `Pending` of a previous wait), not `{Self}`",
    label = "not an iterable of such futures",
    note = "for futures that cannot fail, wrap each one: `children.map(gather::infallible)`"
)]
pub trait IntoPending {
    /// The input iterator.
    type Iter: Iterator;
    /// How children run.
    type Launch: Launch<<Self::Iter as Iterator>::Item>;
    /// Performs the conversion.
    fn into_pending(self) -> Pending<Self::Iter, Self::Launch>;
}

impl<T> IntoPending for T
where
    T: IntoIterator,
    T::Item: Future,
    <T::Item as Future>::Output: IntoOutcome,
{
    type Iter = T::IntoIter;
    type Launch = InPlace;
    fn into_pending(self) -> Pending<T::IntoIter, InPlace> {
        Pending {
            driver: Driver::new(self.into_iter(), InPlace),
            done: Vec::new(),
        }
    }
}

impl<I: Iterator, L: Launch<I::Item>> IntoPending for Pending<I, L> {
    type Iter = I;
    type Launch = L;
    fn into_pending(self) -> Self {
        self
    }
}

/// The future returned by [`wait`].
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let w = gather::wait([async { Ok::<_, ()>(1) }], gather::ReturnWhen::AllCompleted);
/// let (done, pending) = w.await;
/// assert_eq!(done.len(), 1);
/// assert!(pending.is_empty());
/// # }
/// ```
#[must_use = "wait does nothing until awaited; dropping it cancels its children"]
pub struct Wait<I: Iterator, L: Launch<I::Item>> {
    pending: Option<Pending<I, L>>,
    when: ReturnWhen,
    deadline: Deadline,
    done: Done<L, I::Item>,
}

impl<I: Iterator, L: Launch<I::Item>> Unpin for Wait<I, L> {}

impl<I: Iterator, L: Launch<I::Item>> Wait<I, L> {
    /// Returns after at most `timeout` (from the first poll) whatever is
    /// done by then; nothing is cancelled, the rest stays in `pending`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use gather::{wait, ReturnWhen};
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// let slow = [async {
    ///     tokio::time::sleep(Duration::from_secs(60)).await;
    ///     Ok::<_, ()>(())
    /// }];
    /// let (done, pending) = wait(slow, ReturnWhen::AllCompleted)
    ///     .timeout(Duration::from_secs(1))
    ///     .await;
    /// assert!(done.is_empty());
    /// assert_eq!(pending.len(), 1);
    /// # }
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.deadline.set(timeout);
        self
    }

    /// Gives each child at most `timeout` from its start (children not
    /// started yet, and those a later `wait` on the same [`Pending`]
    /// starts); a child that runs longer is dropped and its outcome in
    /// `done` is [`Outcome::TimedOut`], which counts as a failure for
    /// [`ReturnWhen::FirstException`].
    ///
    /// ```
    /// use std::time::Duration;
    /// use gather::{wait, Outcome, ReturnWhen};
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// let slow = [async {
    ///     tokio::time::sleep(Duration::from_secs(60)).await;
    ///     Ok::<_, ()>(())
    /// }];
    /// let (done, _) = wait(slow, ReturnWhen::AllCompleted)
    ///     .timeout_each(Duration::from_secs(1))
    ///     .await;
    /// assert_eq!(done, [(0, Outcome::TimedOut)]);
    /// # }
    /// ```
    pub fn timeout_each(mut self, timeout: Duration) -> Self {
        if let Some(p) = &mut self.pending {
            p.driver.config.child_timeout = Some(timeout);
        }
        self
    }

    /// Calls `observer` when each child starts and when it finishes, with
    /// running counts (see [`Event`]). The observer stays with the
    /// [`Pending`] set, so a later `wait` on it reports on, and a child
    /// still running when the set is dropped or cancelled is reported
    /// `Finished(Cancelled)`.
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let finished = Arc::new(AtomicUsize::new(0));
    /// let seen = finished.clone();
    /// let kids = (0..4).map(|i| async move { Ok::<_, ()>(i) });
    /// let _ = gather::wait(kids, gather::ReturnWhen::AllCompleted)
    ///     .on_event(move |e| seen.store(e.finished, Ordering::Relaxed))
    ///     .await;
    /// assert_eq!(finished.load(Ordering::Relaxed), 4);
    /// # }
    /// ```
    pub fn on_event(mut self, observer: impl FnMut(&Event) + Send + 'static) -> Self {
        if let Some(p) = &mut self.pending {
            p.driver.config.observer = Some(Box::new(observer));
        }
        self
    }

    /// Runs at most `n` children at once (only applies to children not
    /// started yet). `0` is taken as `1`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let kids = (0..10).map(|i| async move { Ok::<_, ()>(i) });
    /// let (done, _) = gather::wait(kids, gather::ReturnWhen::AllCompleted).limit(2).await;
    /// assert_eq!(done.len(), 10);
    /// # }
    /// ```
    pub fn limit(mut self, n: usize) -> Self {
        if let Some(p) = &mut self.pending {
            p.driver.config.limit = n.max(1);
        }
        self
    }
}

impl<I> Wait<I, InPlace>
where
    I: Iterator,
    I::Item: Future + Send + 'static,
    <I::Item as Future>::Output: IntoOutcome,
    <<I::Item as Future>::Output as IntoOutcome>::Ok: Send + 'static,
    <<I::Item as Future>::Output as IntoOutcome>::Err: Send + 'static,
{
    /// Runs each child as a tokio task, so children run in parallel on the
    /// runtime's worker threads, and keep running between waits as
    /// Python's tasks do while nobody awaits them. The [`Pending`] set owns
    /// the tasks: dropping it aborts them, [`Pending::cancel`] aborts them
    /// and waits until they have stopped.
    ///
    /// # Panics
    ///
    /// If the children already started in place: the `Pending` of an
    /// earlier `wait` that was not spawned cannot move its running children
    /// onto threads. Spawn the first `wait` instead.
    ///
    /// ```
    /// use gather::{wait, ReturnWhen};
    /// # #[tokio::main(flavor = "multi_thread", worker_threads = 2)] async fn main() {
    /// let kids = (0..4u64).map(|i| async move { Ok::<_, ()>(i * i) });
    /// let (done, pending) = wait(kids, ReturnWhen::AllCompleted).spawn().await;
    /// assert_eq!(done.len(), 4);
    /// assert!(pending.is_empty());
    /// # }
    /// ```
    pub fn spawn(mut self) -> Wait<I, Spawned> {
        let pending = self
            .pending
            .take()
            .expect("`Wait` polled after it completed");
        assert!(
            pending.driver.started() == 0,
            "`Wait::spawn` on children already running in place (the `Pending` of an earlier wait that was not spawned)"
        );
        let Pending { driver, done } = pending;
        Wait {
            pending: Some(Pending {
                driver: driver.relaunch(Spawned::default()),
                done: Vec::new(),
            }),
            when: self.when,
            deadline: std::mem::take(&mut self.deadline),
            done: {
                debug_assert!(done.is_empty());
                Vec::new()
            },
        }
    }
}

impl<I: Iterator, L: Launch<I::Item>> Future for Wait<I, L> {
    type Output = (Done<L, I::Item>, Pending<I, L>);

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let pending = this
            .pending
            .as_mut()
            .expect("`Wait` polled after it completed");
        // The clock starts at the first poll.
        this.deadline.start();
        let when = this.when;
        let done = &mut this.done;
        let mut met = false;
        // The condition does not stop the turn: like Python's `done`, which
        // holds every task that finished by the time `wait` returns, ours
        // holds every child that finished in the turn that met it (the
        // children woken so far, and those started in it).
        let drive = pending.driver.poll_drive(cx, |index, outcome| {
            met |= match when {
                ReturnWhen::FirstCompleted => true,
                ReturnWhen::FirstException => matches!(
                    outcome,
                    Outcome::Err(_) | Outcome::Panicked(_) | Outcome::TimedOut
                ),
                ReturnWhen::AllCompleted => false,
            };
            done.push((index, outcome));
            ControlFlow::Continue(())
        });
        // Read on every poll (children that keep being ready cannot run
        // the wait past it); the timer is armed only when something is left
        // to wait for, so an empty input needs no timer (nor a runtime).
        let expired =
            drive.is_pending() && !met && (this.deadline.passed() || this.deadline.poll_passed(cx));
        if drive.is_ready() || met || expired {
            let pending = this.pending.take().expect("checked above");
            Poll::Ready((std::mem::take(&mut this.done), pending))
        } else {
            Poll::Pending
        }
    }
}
