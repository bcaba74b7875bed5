//! The time a request waits for its turns (`--per-host`, `--rate`, a
//! paused host): not the request's own, so neither in its `elapsed_ms` nor
//! against its `--timeout`.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The time a request spent waiting for turns: in all (`queued`, which its
/// `elapsed_ms` leaves out), and during the current attempt's later hops
/// (redirects), which that attempt's `--timeout` does not count.
///
/// Atomics rather than `Cell`s only so that the request's future is
/// `Send`: one task owns it, and its moves between threads are ordered by
/// the runtime, so `Relaxed` is enough. Three words, in every request's
/// future: times are nanoseconds after one epoch for the process.
#[derive(Default)]
pub(super) struct Waits {
    /// When the hop's wait going on began, or was last credited to the
    /// timer (0: no wait going on).
    since: AtomicU64,
    /// Waited in hops and not yet credited to the timer, in nanoseconds.
    credit: AtomicU64,
    /// Waited in all, in nanoseconds.
    queued: AtomicU64,
}

impl Waits {
    /// Nanoseconds since the epoch, plus one (never 0). tokio's clock, so
    /// that tests on paused time see the waits they make.
    fn now() -> u64 {
        static EPOCH: std::sync::OnceLock<tokio::time::Instant> = std::sync::OnceLock::new();
        let epoch = *EPOCH.get_or_init(tokio::time::Instant::now);
        epoch.elapsed().as_nanos() as u64 + 1
    }

    /// A new attempt: nothing to credit to its timer yet.
    pub(super) fn start_attempt(&self) {
        self.since.store(0, Ordering::Relaxed);
        self.credit.store(0, Ordering::Relaxed);
    }

    /// Awaits an attempt's first turn (before its timer starts), counting
    /// it as queued.
    pub(super) async fn queue<T>(&self, wait: impl Future<Output = T>) -> T {
        let began = Waits::now();
        let done = wait.await;
        self.queued
            .fetch_add(Waits::now() - began, Ordering::Relaxed);
        done
    }

    /// Awaits a hop's turn (while the attempt's timer runs), counting it
    /// as queued and crediting it to the timer.
    pub(super) async fn during<T>(&self, wait: impl Future<Output = T>) -> T {
        let began = Waits::now();
        self.since.store(began, Ordering::Relaxed);
        let done = wait.await;
        let now = Waits::now();
        let since = self.since.swap(0, Ordering::Relaxed);
        if since != 0 {
            self.credit
                .fetch_add(now.saturating_sub(since), Ordering::Relaxed);
        }
        self.queued.fetch_add(now - began, Ordering::Relaxed);
        done
    }

    /// The time to credit to the timer since the last call, a hop's wait
    /// going on included.
    pub(super) fn take(&self) -> Duration {
        let mut waited = self.credit.swap(0, Ordering::Relaxed);
        let since = self.since.load(Ordering::Relaxed);
        if since != 0 {
            let now = Waits::now();
            waited += now.saturating_sub(since);
            self.since.store(now, Ordering::Relaxed);
        }
        Duration::from_nanos(waited)
    }

    /// Waited for turns in all.
    pub(super) fn queued(&self) -> Duration {
        Duration::from_nanos(self.queued.load(Ordering::Relaxed))
    }
}
