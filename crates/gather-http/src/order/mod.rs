//! Results in input order: the parts every front door's in-order output
//! is built from. Requests finish in any order; [`ByPosition`] holds each
//! result until those before it are handed on, and [`Written`] counts
//! what was handed on, so that a request far ahead of it waits before
//! starting. That wait is what keeps the buffer bounded (by the limit plus
//! the reorder window) however slow one early request is.
//!
//! The CLI writes lines with them (its `OrderedWriter`); the Python
//! package yields items with them (`gather_fetch.stream`).

mod by_position;
mod window;

use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::Notify;

pub use by_position::ByPosition;
pub(crate) use window::Window;

/// How many results have been handed on in order (lines written, items
/// yielded), for the requests that wait to start until they are within the
/// reorder window of it: what bounds a reorder buffer.
///
/// Every line sets it, and almost no request ever waits, so setting it is
/// a store and a load: the waiters are counted, and woken only when there
/// are some. (A `watch` channel, used before, locks eight mutexes on every
/// send to wake no one; it showed in the profile of a run against nginx.)
#[derive(Debug, Default)]
pub struct Written {
    count: AtomicUsize,
    waiting: AtomicUsize,
    changed: Notify,
    /// Bytes the front door holds of results waiting for an earlier one.
    held: AtomicUsize,
}

impl Written {
    /// Sets the count, waking the requests waiting for it.
    pub fn set(&self, count: usize) {
        // The pair: this store of `count` then load of `waiting`, against
        // `wait_until`'s increment of `waiting` then load of `count` (the
        // store-buffering shape). With SeqCst on all four there is one
        // total order, so either this load sees the waiter (and wakes it:
        // its `Notified` was created before its load, and tokio's
        // `notify_waiters` reaches every `Notified` created before the
        // call), or the waiter's load comes after this store and sees the
        // new count. Anything weaker lets both read the old values: a
        // request that never starts.
        self.count.store(count, Ordering::SeqCst);
        if self.waiting.load(Ordering::SeqCst) > 0 {
            self.changed.notify_waiters();
        }
    }

    /// Lines written so far.
    pub fn get(&self) -> usize {
        self.count.load(Ordering::SeqCst)
    }

    /// The front door holds `bytes` more of results waiting for an earlier
    /// one (see [`FetchConfig::REORDER_BYTES`](crate::FetchConfig)).
    pub fn hold(&self, bytes: usize) {
        // Relaxed: a count, read by the requests deciding whether to
        // start; what wakes them is `set`.
        self.held.fetch_add(bytes, Ordering::Relaxed);
    }

    /// The front door no longer holds `bytes` of them (handed on); called
    /// before the [`set`](Written::set) that hands them on, which wakes the
    /// requests waiting for room.
    pub fn release(&self, bytes: usize) {
        self.held.fetch_sub(bytes, Ordering::Relaxed);
    }

    /// Bytes held of results waiting for an earlier one.
    pub fn held(&self) -> usize {
        self.held.load(Ordering::Relaxed)
    }

    /// Returns once `ready(lines written)` holds.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future stops the wait; nothing is lost.
    pub async fn wait_until(&self, ready: impl Fn(usize) -> bool) {
        if ready(self.get()) {
            return;
        }
        self.waiting.fetch_add(1, Ordering::SeqCst);
        struct Leave<'a>(&'a AtomicUsize);
        impl Drop for Leave<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::SeqCst);
            }
        }
        let _leave = Leave(&self.waiting);
        loop {
            // Registered before the check, so a `set` after it wakes us.
            let changed = self.changed.notified();
            let mut changed = std::pin::pin!(changed);
            changed.as_mut().enable();
            if ready(self.get()) {
                return;
            }
            changed.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[tokio::test]
    async fn a_request_waiting_for_the_window_starts_once_enough_lines_are_written() {
        let written = Arc::new(Written::default());
        let waiter = tokio::spawn({
            let written = written.clone();
            async move { written.wait_until(|w| w >= 3).await }
        });
        // Each set wakes the waiter (it is counted in `waiting`), which
        // checks its condition and waits on: it must not return before 3.
        for count in 1..3 {
            written.set(count);
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            assert!(
                !waiter.is_finished(),
                "returned at {count} lines written, before the 3 it waits for"
            );
        }
        assert_eq!(written.waiting.load(Ordering::SeqCst), 1);
        written.set(3);
        tokio::time::timeout(std::time::Duration::from_secs(5), waiter)
            .await
            .expect("woken when the count is reached")
            .unwrap();
        assert_eq!(written.waiting.load(Ordering::SeqCst), 0);

        // A wait that is dropped is no longer counted, so sets stay cheap.
        let dropped = tokio::time::timeout(
            std::time::Duration::from_millis(10),
            written.wait_until(|w| w >= 100),
        );
        assert!(dropped.await.is_err());
        assert_eq!(written.waiting.load(Ordering::SeqCst), 0);
        // Already satisfied: returns without waiting.
        written.wait_until(|w| w >= 3).await;
    }
}
