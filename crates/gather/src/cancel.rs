//! [`CancelHandle`]: cancel a running operation from somewhere else.
//!
//! Dropping a gather already cancels it. The handle is for the other case:
//! the gather is being awaited by one task and another one (a signal
//! handler, a UI button, a supervisor) decides to stop it, as Python's
//! `gather_future.cancel()` does.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Waker;

const RUNNING: u8 = 0;
const CANCELLED: u8 = 1;
const DONE: u8 = 2;

#[derive(Debug, Default)]
pub(crate) struct CancelState {
    phase: AtomicU8,
    waker: Mutex<Option<Waker>>,
}

impl CancelState {
    /// Registers the operation's waker and tells whether cancellation was
    /// requested. Registering first closes the race with a concurrent
    /// `cancel()`: either we see the flag, or `cancel()` sees our waker.
    ///
    /// The pair: this (lock, store the waker, unlock, then load `phase`)
    /// against [`CancelHandle::cancel`] (CAS `phase`, then lock and take
    /// the waker). If `cancel` takes the lock after this released it, it
    /// finds our waker and wakes it. If it took the lock first, its CAS
    /// happens before our lock (through its unlock), so our load sees
    /// `CANCELLED`. The mutex carries the ordering; `Acquire` on `phase`
    /// adds no obligation (the canceller writes nothing else we read).
    pub(crate) fn poll_cancelled(&self, waker: &Waker) -> bool {
        {
            let mut slot = self.waker.lock().unwrap_or_else(|e| e.into_inner());
            match &*slot {
                Some(w) if w.will_wake(waker) => {}
                _ => *slot = Some(waker.clone()),
            }
        }
        self.phase.load(Ordering::Acquire) == CANCELLED
    }

    /// Marks the operation finished. Returns `false` if a cancellation won
    /// the race, in which case the operation must end as cancelled, since
    /// `cancel()` already told its caller `true`.
    ///
    /// The pair: this CAS `RUNNING -> DONE` against `cancel`'s CAS
    /// `RUNNING -> CANCELLED`. Both are read-modify-writes of one atomic,
    /// so exactly one of them succeeds, whatever the orderings; `AcqRel`
    /// makes whatever the winner did before visible to a loser that reads
    /// its value (nothing relies on that today).
    pub(crate) fn finish(&self) -> bool {
        match self
            .phase
            .compare_exchange(RUNNING, DONE, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => true,
            Err(phase) => phase == DONE,
        }
    }
}

/// Cancels a gather from elsewhere.
///
/// Cheap to clone, `Send + Sync`. Obtained before the gather is awaited,
/// with [`Gather::cancel_handle`](crate::Gather::cancel_handle). A
/// [`wait`](crate::wait()) or an [`as_completed`](crate::as_completed())
/// stream has no handle: it is cancelled by dropping it (or its
/// `Pending`), from the task that owns it.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use gather::gather;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// let mut g = gather((0..3).map(|i| async move {
///     tokio::time::sleep(Duration::from_secs(10)).await;
///     Ok::<_, ()>(i)
/// }));
/// let handle = g.cancel_handle();
/// tokio::spawn(async move {
///     tokio::time::sleep(Duration::from_secs(1)).await;
///     assert!(handle.cancel()); // true: something was running
/// });
/// let err = g.await.unwrap_err();
/// assert!(err.is_cancelled());
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct CancelHandle {
    state: Arc<CancelState>,
}

impl CancelHandle {
    pub(crate) fn new(state: Arc<CancelState>) -> Self {
        CancelHandle { state }
    }

    /// Requests cancellation: every unfinished child is dropped (spawned
    /// ones aborted) the next time the operation runs, which is at once if it
    /// is waiting.
    ///
    /// Returns `true` if this call cancelled the operation; `false` if it had
    /// already finished or been cancelled, as Python's `Future.cancel()`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let mut g = gather::gather([std::future::pending::<Result<(), ()>>()]);
    /// let handle = g.cancel_handle();
    /// assert!(handle.cancel());
    /// assert!(!handle.cancel()); // already cancelled
    /// assert!(g.await.unwrap_err().is_cancelled());
    /// # }
    /// ```
    pub fn cancel(&self) -> bool {
        let cancelled = self
            .state
            .phase
            .compare_exchange(RUNNING, CANCELLED, Ordering::AcqRel, Ordering::Acquire)
            .is_ok();
        if cancelled {
            let waker = self
                .state
                .waker
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take();
            if let Some(w) = waker {
                w.wake();
            }
        }
        cancelled
    }

    /// `true` once cancellation was requested.
    ///
    /// ```
    /// let mut g = gather::gather([async { Ok::<_, ()>(()) }]);
    /// let handle = g.cancel_handle();
    /// assert!(!handle.is_cancelled());
    /// handle.cancel();
    /// assert!(handle.is_cancelled());
    /// ```
    pub fn is_cancelled(&self) -> bool {
        self.state.phase.load(Ordering::Acquire) == CANCELLED
    }

    /// `true` once the operation has finished (cancelled or not).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let mut g = gather::gather([async { Ok::<_, ()>(()) }]);
    /// let handle = g.cancel_handle();
    /// assert!(!handle.is_done());
    /// g.await.unwrap();
    /// assert!(handle.is_done());
    /// # }
    /// ```
    pub fn is_done(&self) -> bool {
        self.state.phase.load(Ordering::Acquire) != RUNNING
    }
}
