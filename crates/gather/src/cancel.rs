//! [`CancelHandle`]: cancel a running operation from somewhere else.
//!
//! Dropping a gather already cancels it. The handle is for the other case:
//! the gather is being awaited by one task and another one (a signal
//! handler, a UI button, a supervisor) decides to stop it, as Python's
//! `gather_future.cancel()` does.

use std::sync::Arc;
use std::task::Waker;

use crate::sync::{lock, AtomicU8, AtomicUsize, Mutex, Ordering};

const RUNNING: u8 = 0;
const CANCELLED: u8 = 1;
const DONE: u8 = 2;

/// What a gather and its [`CancelHandle`] share. Public only to name it in
/// the hidden methods of [`Launch`](crate::future::Launch).
#[doc(hidden)]
#[derive(Debug)]
pub struct CancelState {
    phase: AtomicU8,
    waker: Mutex<Option<Waker>>,
    /// Spawned children not yet finished, plus one while the input may
    /// still start more. Children that run on their own (spawned tasks)
    /// can all finish while nobody polls the gather: when this reaches 0
    /// the gather's outcome is settled, and a later `cancel()` must not
    /// take effect (Python's `cancel()` returns `False` on a done future).
    unsettled: AtomicUsize,
}

impl Default for CancelState {
    fn default() -> CancelState {
        CancelState {
            phase: AtomicU8::new(RUNNING),
            waker: Mutex::new(None),
            unsettled: AtomicUsize::new(1),
        }
    }
}

impl CancelState {
    /// Children counted unfinished (plus one while the input may start
    /// more); for the models in [`watch`](crate::watch).
    #[cfg(all(test, gather_loom))]
    pub(crate) fn unsettled(&self) -> usize {
        self.unsettled.load(Ordering::SeqCst)
    }

    /// A spawned child started; it will call [`settle_one`](Self::settle_one).
    pub(crate) fn child_started(&self) {
        // Relaxed: only the count matters, and every change is an RMW on
        // this one atomic, so no decrement can miss it; the task that will
        // decrement is spawned after this (the spawn orders the two).
        self.unsettled.fetch_add(1, Ordering::Relaxed);
    }

    /// A spawned child finished, or the input is exhausted: the last of
    /// them settles the gather.
    pub(crate) fn settle_one(&self) {
        // AcqRel, as `Arc`'s count: the decrement that reaches zero sees
        // every other one, whichever thread made it.
        if self.unsettled.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.settle();
        }
    }

    /// The gather's outcome is settled (every child finished, or a
    /// fail-fast child failed): from now on `cancel()` returns `false`.
    pub(crate) fn settle(&self) {
        // The pair: this CAS against `cancel`'s CAS on the same atomic;
        // exactly one of them moves the phase off RUNNING.
        let _ = self
            .phase
            .compare_exchange(RUNNING, DONE, Ordering::AcqRel, Ordering::Acquire);
    }

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
            let mut slot = lock(&self.waker);
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
/// with [`Gather::cancel_handle`](crate::future::Gather::cancel_handle). A
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
    /// A gather whose children all run on their own (it was
    /// [spawned](crate::future::Gather::spawn), or its children are
    /// [`Task`](crate::Task)s from [`spawn`](crate::spawn)) and have all
    /// finished (or, fail-fast, one of which failed) has finished, even if
    /// nobody polled it since: `cancel()` returns `false` and awaiting the
    /// gather gives its results. A child that runs in place finishes only
    /// when the gather polls it.
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
