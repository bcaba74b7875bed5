//! [`as_completed`]: a stream of `(index, outcome)` in completion order.
//!
//! Python's `as_completed` yields awaitables and its timeout raises
//! `TimeoutError` from the loop. A Rust stream can carry the index and the
//! outcome directly, so each item says which child it was; when the timeout
//! expires, every unfinished child is dropped and yielded once as
//! `(index, Outcome::TimedOut)`, so every input is accounted for exactly
//! once before the stream ends.

use std::ops::ControlFlow;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use std::{collections::VecDeque, future::Future};

use futures_core::Stream;
use tokio::time::Sleep;

use crate::child::{InPlace, Launch, Spawned};
use crate::driver::{Driver, Ending};
use crate::outcome::{IntoOutcome, Outcome};

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
/// only while the stream is polled.
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
        timeout: None,
        deadline: None,
        expired: VecDeque::new(),
        ended: false,
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
    timeout: Option<Duration>,
    deadline: Option<Pin<Box<Sleep>>>,
    /// Children stopped by the timeout, still to be yielded as `TimedOut`.
    expired: VecDeque<usize>,
    ended: bool,
}

impl<I: Iterator, L: Launch<I::Item>> Unpin for AsCompleted<I, L> {}

impl<I: Iterator, L: Launch<I::Item>> AsCompleted<I, L> {
    /// Stops waiting `timeout` after the first poll: every unfinished child
    /// is dropped and yielded as `(index, Outcome::TimedOut)`, in index
    /// order, then the stream ends.
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
        self.timeout = Some(timeout);
        self
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
            timeout: self.timeout,
            deadline: None,
            expired: VecDeque::new(),
            ended: false,
        }
    }
}

impl<I: Iterator, L: Launch<I::Item>> Stream for AsCompleted<I, L> {
    type Item = (usize, Outcome<L::Ok, L::Err>);

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if let Some(index) = this.expired.pop_front() {
            return Poll::Ready(Some((index, Outcome::TimedOut)));
        }
        if this.ended {
            // Nothing the stream started outlives its end.
            std::task::ready!(this.driver.poll_stopped(cx));
            return Poll::Ready(None);
        }
        let mut next = None;
        let drive = this.driver.poll_drive(cx, |index, outcome| {
            next = Some((index, outcome));
            ControlFlow::Break(())
        });
        match drive {
            Poll::Ready(ControlFlow::Break(())) => Poll::Ready(next),
            Poll::Ready(ControlFlow::Continue(())) => {
                this.ended = true;
                this.deadline = None;
                Poll::Ready(None)
            }
            Poll::Pending => {
                // Armed at the first poll that has something to wait for:
                // an empty input needs no timer (nor a runtime).
                if this.deadline.is_none() {
                    this.deadline = this.timeout.map(|d| Box::pin(tokio::time::sleep(d)));
                }
                let expired = this
                    .deadline
                    .as_mut()
                    .is_some_and(|d| d.as_mut().poll(cx).is_ready());
                if !expired {
                    return Poll::Pending;
                }
                let queue = &mut this.expired;
                this.driver
                    .finish(Ending::TimedOut, |index| queue.push_back(index));
                this.ended = true;
                this.deadline = None;
                Poll::Ready(
                    this.expired
                        .pop_front()
                        .map(|index| (index, Outcome::TimedOut)),
                )
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let known = self.expired.len() + self.driver.running() + self.driver.unstarted_hint();
        (known, None)
    }
}
