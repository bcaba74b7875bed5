//! [`as_completed`]: a stream of `(index, outcome)` in completion order.
//!
//! Python's `as_completed` yields awaitables and its timeout raises
//! `TimeoutError` from the loop. A Rust stream can carry the index and the
//! outcome directly, so each item says which child it was; when the timeout
//! expires, every unfinished child is dropped and yielded once as
//! `(index, Outcome::TimedOut)`, so every input is accounted for exactly
//! once before the stream ends.
//!
//! # Why the rest is handed out as it is pulled
//!
//! Python raises one `TimeoutError` and forgets the rest; ours yields each
//! unfinished child as timed out, which a caller writing one line per input
//! (as `gather fetch` does) needs. So that this costs nothing per input
//! when the input is far larger than memory, or endless, the running
//! children are yielded first (at most as many as were running), then the
//! inputs never started are taken from the input one per item pulled,
//! never started, and never all at once: a caller that stops pulling stops
//! the walk. Dropping the stream drops the rest unwalked.

use std::collections::VecDeque;
use std::future::Future;
use std::ops::ControlFlow;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_core::Stream;
use std::sync::Arc;

use crate::cancel::{CancelHandle, CancelState};
use crate::child::{InPlace, Launch, Spawned};
use crate::deadline::Deadline;
use crate::driver::{Driver, Ending};
use crate::outcome::{IntoOutcome, Outcome};
use crate::progress::Event;

/// Runs every child concurrently and yields `(index, outcome)` as each one
/// finishes.
///
/// The stream can be consumed with [`AsCompleted::next`] (no extra crate
/// needed) or as a [`futures_core::Stream`]. Breaking out of a loop leaves
/// the remaining children in the stream: loop again to resume.
///
/// # Cancellation
///
/// Dropping the stream drops every unfinished child. Children make progress
/// only while the stream is polled. A [`cancel_handle`](AsCompleted::cancel_handle)
/// ends it from elsewhere.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use gather::as_completed;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// let mut stream = as_completed([30u64, 10, 20].map(|ms| async move {
///     tokio::time::sleep(Duration::from_millis(ms)).await;
///     Ok::<_, ()>(ms)
/// }));
/// let mut order = Vec::new();
/// while let Some((index, outcome)) = stream.next().await {
///     order.push((index, outcome.ok().unwrap()));
/// }
/// assert_eq!(order, [(1, 10), (2, 20), (0, 30)]);
/// # }
/// ```
pub fn as_completed<I>(children: I) -> AsCompleted<I::IntoIter, InPlace>
where
    I: IntoIterator,
    I::Item: Future,
    <I::Item as Future>::Output: IntoOutcome,
{
    AsCompleted {
        driver: Driver::new(children.into_iter(), InPlace),
        deadline: Deadline::default(),
        expired: VecDeque::new(),
        expiring: false,
        ended: false,
        cancel: None,
        polled: false,
    }
}

/// The stream returned by [`as_completed`].
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let mut s: gather::future::AsCompleted<_> = gather::as_completed([async { Ok::<_, ()>(1) }]);
/// assert_eq!(s.next().await.map(|(i, o)| (i, o.ok())), Some((0, Some(1))));
/// assert!(s.next().await.is_none());
/// # }
/// ```
#[must_use = "streams do nothing unless polled; dropping it cancels its children"]
pub struct AsCompleted<I: Iterator, L: Launch<I::Item> = InPlace> {
    driver: Driver<I, L>,
    deadline: Deadline,
    /// Children running at the timeout, still to be yielded as `TimedOut`.
    expired: VecDeque<usize>,
    /// After the timeout: the inputs never started are being yielded as
    /// `TimedOut`, one taken from the input per item.
    expiring: bool,
    ended: bool,
    cancel: Option<Arc<CancelState>>,
    /// Whether the first poll (which sets up the cancel handle) happened.
    polled: bool,
}

impl<I: Iterator, L: Launch<I::Item>> Unpin for AsCompleted<I, L> {}

impl<I: Iterator, L: Launch<I::Item>> AsCompleted<I, L> {
    /// Stops waiting `timeout` after the first poll: every unfinished child
    /// is dropped and yielded as `(index, Outcome::TimedOut)`, in index
    /// order, then the stream ends.
    ///
    /// The clock is read on every poll, so a stream whose children keep
    /// being ready stops at the deadline too. The children running then are
    /// yielded first; the inputs never started follow one per item pulled,
    /// each taken from the input only then and never started: an input far
    /// larger than memory costs nothing more at the deadline, and an
    /// endless one yields `TimedOut` for as long as it is pulled (Python's
    /// `as_completed` raises one `TimeoutError` instead; break out of the
    /// loop on the first `TimedOut` for that).
    ///
    /// ```
    /// use std::time::Duration;
    /// use gather::{as_completed, Outcome};
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// let mut s = as_completed([1u64, 60].map(|s| async move {
    ///     tokio::time::sleep(Duration::from_secs(s)).await;
    ///     Ok::<_, ()>(s)
    /// }))
    /// .timeout(Duration::from_secs(5));
    /// assert_eq!(s.next().await, Some((0, Outcome::Ok(1))));
    /// assert_eq!(s.next().await, Some((1, Outcome::TimedOut)));
    /// assert_eq!(s.next().await, None);
    /// # }
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.deadline.set(timeout);
        self
    }

    /// Gives each child at most `timeout` from its start; a child that runs
    /// longer is dropped and yielded as [`Outcome::TimedOut`]. Python's
    /// `wait_for` around each awaitable.
    ///
    /// ```
    /// use std::time::Duration;
    /// use gather::{as_completed, Outcome};
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// let mut s = as_completed([1u64, 60].map(|s| async move {
    ///     tokio::time::sleep(Duration::from_secs(s)).await;
    ///     Ok::<_, ()>(s)
    /// }))
    /// .timeout_each(Duration::from_secs(5));
    /// assert_eq!(s.next().await, Some((0, Outcome::Ok(1))));
    /// assert_eq!(s.next().await, Some((1, Outcome::TimedOut)));
    /// # }
    /// ```
    pub fn timeout_each(mut self, timeout: Duration) -> Self {
        self.driver.config.child_timeout = Some(timeout);
        self
    }

    /// Calls `observer` when each child starts and when it finishes, with
    /// running counts. See [`Event`]: every child that starts gets exactly
    /// one `Finished`, however the stream ends.
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let events = Arc::new(AtomicUsize::new(0));
    /// let seen = events.clone();
    /// let mut s = gather::as_completed((0..3).map(|i| async move { Ok::<_, ()>(i) }))
    ///     .on_event(move |_| { seen.fetch_add(1, Ordering::Relaxed); });
    /// while s.next().await.is_some() {}
    /// assert_eq!(events.load(Ordering::Relaxed), 6); // a start and an end each
    /// # }
    /// ```
    pub fn on_event(mut self, observer: impl FnMut(&Event) + Send + 'static) -> Self {
        self.driver.config.observer = Some(Box::new(observer));
        self
    }

    /// A handle that ends this stream from elsewhere. After
    /// [`cancel`](CancelHandle::cancel) every unfinished child is dropped
    /// (spawned ones aborted and awaited) and the stream ends: `next()`
    /// returns `None`, as the `async for` over Python's `as_completed` ends
    /// when its task is cancelled. `cancel()` returns `false` once every
    /// child has finished.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let mut s = gather::as_completed([0, 1].map(|i| async move {
    ///     if i == 1 { std::future::pending::<()>().await }
    ///     Ok::<_, ()>(i)
    /// }));
    /// let handle = s.cancel_handle();
    /// assert_eq!(s.next().await.map(|(i, _)| i), Some(0));
    /// assert!(handle.cancel());
    /// assert!(s.next().await.is_none());
    /// # }
    /// ```
    pub fn cancel_handle(&mut self) -> CancelHandle {
        CancelHandle::new(self.cancel.get_or_insert_with(Arc::default).clone())
    }

    /// Runs at most `n` children at once, starting the rest lazily in input
    /// order. `0` is taken as `1`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let mut s = gather::as_completed((0..100).map(|i| async move { Ok::<_, ()>(i) })).limit(4);
    /// let mut n = 0;
    /// while s.next().await.is_some() { n += 1; }
    /// assert_eq!(n, 100);
    /// # }
    /// ```
    pub fn limit(mut self, n: usize) -> Self {
        self.driver.config.limit = n.max(1);
        self
    }

    /// The next finished child, or `None` when all have been yielded (and,
    /// after a timeout, every spawned task it aborted has stopped).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let mut s = gather::as_completed([async { Err::<(), _>("no") }]);
    /// assert_eq!(s.next().await, Some((0, gather::Outcome::Err("no"))));
    /// # }
    /// ```
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: if the future is dropped before it resolves, no outcome
    /// is lost; the next call yields it.
    pub async fn next(&mut self) -> Option<(usize, Outcome<L::Ok, L::Err>)> {
        std::future::poll_fn(|cx| Pin::new(&mut *self).poll_next(cx)).await
    }
}

impl<I> AsCompleted<I, InPlace>
where
    I: Iterator,
    I::Item: Future + Send + 'static,
    <I::Item as Future>::Output: IntoOutcome,
    <<I::Item as Future>::Output as IntoOutcome>::Ok: Send + 'static,
    <<I::Item as Future>::Output as IntoOutcome>::Err: Send + 'static,
{
    /// Runs each child as a tokio task, so children run in parallel on the
    /// runtime's worker threads; outcomes still come with their index, in
    /// completion order. Every unfinished task is aborted when the stream
    /// is dropped, and after a timeout the stream ends only once the tasks
    /// it aborted have stopped.
    ///
    /// Children must be `Send + 'static`. Outside a tokio runtime each child
    /// ends as [`Outcome::Panicked`] with a message saying so.
    ///
    /// ```
    /// # #[tokio::main(flavor = "multi_thread", worker_threads = 2)] async fn main() {
    /// let mut s = gather::as_completed((0..4u64).map(|i| async move { Ok::<_, ()>(i * i) })).spawn();
    /// let mut squares = Vec::new();
    /// while let Some((i, outcome)) = s.next().await {
    ///     squares.push((i, outcome.unwrap()));
    /// }
    /// squares.sort();
    /// assert_eq!(squares, [(0, 0), (1, 1), (2, 4), (3, 9)]);
    /// # }
    /// ```
    pub fn spawn(self) -> AsCompleted<I, Spawned> {
        AsCompleted {
            driver: self.driver.relaunch(Spawned::default()),
            deadline: self.deadline,
            expired: VecDeque::new(),
            expiring: false,
            ended: false,
            cancel: self.cancel,
            polled: false,
        }
    }
}

impl<I: Iterator, L: Launch<I::Item>> AsCompleted<I, L> {
    /// The next child stopped by the timeout: a running one, then the next
    /// input never started; `None` once there are none left.
    fn next_expired(&mut self) -> Option<usize> {
        if let Some(index) = self.expired.pop_front() {
            return Some(index);
        }
        if self.expiring {
            if let Some(index) = self.driver.expire_next() {
                return Some(index);
            }
            self.expiring = false;
        }
        None
    }

    /// Ends the run as `ending` says (see [`Ending`]); the stream then
    /// yields what the timeout stopped, if anything, and ends.
    fn end(&mut self, ending: Ending) {
        let queue = &mut self.expired;
        self.driver.finish(ending, |index| queue.push_back(index));
        self.expiring = ending == Ending::TimedOut;
        self.ended = true;
        self.deadline.disarm();
        if let Some(cancel) = &self.cancel {
            // Settled: a later `cancel()` returns `false`.
            cancel.finish();
        }
    }
}

impl<I: Iterator, L: Launch<I::Item>> Stream for AsCompleted<I, L> {
    type Item = (usize, Outcome<L::Ok, L::Err>);

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.ended {
            if let Some(index) = this.next_expired() {
                return Poll::Ready(Some((index, Outcome::TimedOut)));
            }
            // Nothing the stream started outlives its end.
            std::task::ready!(this.driver.poll_stopped(cx));
            return Poll::Ready(None);
        }
        if !this.polled {
            this.polled = true;
            // Before any child starts, the children's ends are counted in
            // the handle's state, so that a late cancel() sees the end.
            if let Some(cancel) = &this.cancel {
                this.driver.watch(cancel, false);
            }
        }
        if this
            .cancel
            .as_ref()
            .is_some_and(|c| c.poll_cancelled(cx.waker()))
        {
            this.end(Ending::Cancelled);
            return Pin::new(this).poll_next(cx);
        }
        // Read on every poll: children that keep being ready cannot run
        // the stream past its deadline.
        if this.deadline.passed() {
            this.end(Ending::TimedOut);
            return Pin::new(this).poll_next(cx);
        }
        let mut next = None;
        let drive = this.driver.poll_drive(cx, |index, outcome| {
            next = Some((index, outcome));
            ControlFlow::Break(())
        });
        match drive {
            Poll::Ready(ControlFlow::Break(())) => Poll::Ready(next),
            Poll::Ready(ControlFlow::Continue(())) => {
                this.end(Ending::Completed);
                Poll::Ready(None)
            }
            Poll::Pending if this.deadline.poll_passed(cx) => {
                this.end(Ending::TimedOut);
                Pin::new(this).poll_next(cx)
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let known = self.expired.len() + self.driver.running() + self.driver.unstarted_hint();
        (known, None)
    }
}
