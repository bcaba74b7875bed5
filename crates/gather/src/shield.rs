//! [`shield`]: protect a child from the cancellation of whoever awaits it.
//!
//! Python's `shield(aw)` keeps `aw` running when the awaiting task is
//! cancelled. In Rust, cancelling means dropping, and a dropped future
//! cannot keep running, so `shield` spawns the child as a tokio task and
//! awaits its handle; dropping the `Shield` detaches the task instead of
//! aborting it.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::task::AbortHandle;

use crate::outcome::{IntoOutcome, Outcome};
use crate::task::{spawn, Task};

/// Runs `child` as a task that survives the cancellation of the caller.
///
/// - Dropping (cancelling) the returned [`Shield`] leaves the child running
///   to completion on its own.
/// - Cancelling the child itself ([`Shield::cancel_inner`] or its
///   [`AbortHandle`]) makes the `Shield` resolve to [`Outcome::Cancelled`].
/// - `shield(gather(...).spawn()...)`, or of an in-place gather that is
///   `Send + 'static`, keeps the whole gather running.
///
/// # Panics
///
/// Never; outside a tokio runtime it resolves to [`Outcome::Panicked`].
///
/// # Examples
///
/// ```
/// use std::sync::atomic::{AtomicBool, Ordering};
/// use std::sync::Arc;
/// use std::time::Duration;
/// use gather::shield;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// let finished = Arc::new(AtomicBool::new(false));
/// let flag = finished.clone();
/// let outer = shield(async move {
///     tokio::time::sleep(Duration::from_secs(1)).await;
///     flag.store(true, Ordering::SeqCst);
///     Ok::<_, ()>(())
/// });
/// // The caller gives up after 10 ms...
/// assert!(tokio::time::timeout(Duration::from_millis(10), outer).await.is_err());
/// // ...but the shielded child still finishes.
/// tokio::time::sleep(Duration::from_secs(2)).await;
/// assert!(finished.load(Ordering::SeqCst));
/// # }
/// ```
pub fn shield<F>(child: F) -> Shield<F::Output>
where
    F: Future + Send + 'static,
    F::Output: IntoOutcome + Send + 'static,
{
    let mut task = spawn(child);
    task.set_abort_on_drop(false);
    Shield { task }
}

/// The future returned by [`shield`]: awaiting it yields the child's
/// [`Outcome`]; dropping it leaves the child running.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let s: gather::future::Shield<Result<u8, ()>> = gather::shield(async { Ok(1) });
/// assert_eq!(s.await, gather::Outcome::Ok(1));
/// # }
/// ```
#[must_use = "dropping a Shield leaves its child running on its own"]
#[derive(Debug)]
pub struct Shield<R> {
    task: Task<R>,
}

impl<R> Shield<R> {
    /// Cancels the shielded child itself; awaiting the `Shield` then yields
    /// [`Outcome::Cancelled`] (unless the child had already finished).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let s = gather::shield(std::future::pending::<Result<(), ()>>());
    /// s.cancel_inner();
    /// assert_eq!(s.await, gather::Outcome::Cancelled);
    /// # }
    /// ```
    pub fn cancel_inner(&self) {
        self.task.abort();
    }

    /// A handle that cancels the shielded child from elsewhere.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let s = gather::shield(std::future::pending::<Result<(), ()>>());
    /// s.abort_handle().unwrap().abort();
    /// assert_eq!(s.await, gather::Outcome::Cancelled);
    /// # }
    /// ```
    pub fn abort_handle(&self) -> Option<AbortHandle> {
        self.task.abort_handle()
    }
}

impl<R: IntoOutcome> Future for Shield<R> {
    type Output = Outcome<R::Ok, R::Err>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.task).poll(cx)
    }
}
