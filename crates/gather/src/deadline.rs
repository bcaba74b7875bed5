//! [`Deadline`]: the overall timeout every operation shares.
//!
//! # Why a clock read on every poll, and a timer only when waiting
//!
//! The deadline starts at the operation's first poll, as the docs of each
//! `timeout` say, and is compared with the clock on every poll: an
//! operation whose children keep being ready (an `as_completed` stream
//! pulled in a loop that never waits) must stop at its deadline too, not
//! only when it next has nothing to do. A timer is armed only when the
//! operation is about to return `Pending`, so an input that is empty or
//! done at once needs no timer (nor a runtime), and the clock is read only
//! when a timeout was set: the success path of an operation without one is
//! unchanged.
//!
//! The clock is tokio's, so a test with a paused clock sees the same time
//! as the timer.
//!
//! # Why each operation holds one, not the driver
//!
//! How the deadline is kept is written once, here; what it *means* is
//! each operation's, and that is why the operation consults it rather
//! than the shared `Driver`: `gather` ends with `TimedOut` (or its partial
//! results) and is read before a turn, so children that keep being ready
//! cannot run it past the deadline; `as_completed` goes on yielding, the
//! children running then as `TimedOut` and the rest of the input one per
//! item pulled; `wait` reads it only after its turn, since Python's
//! `asyncio.wait` counts in `done` every child that finished by the time
//! it returns. A driver that owned it would need a mode for each of the
//! three.

use std::future::Future;
use std::pin::Pin;
use std::task::Context;
use std::time::Duration;

use tokio::time::{Instant, Sleep};

/// An optional overall timeout, started at the first poll.
#[derive(Default)]
pub(crate) struct Deadline {
    timeout: Option<Duration>,
    /// When it passes; set at the first [`passed`](Self::passed). `None`
    /// with a timeout set means not started yet.
    at: Option<Instant>,
    /// Armed at the first [`poll_passed`](Self::poll_passed).
    timer: Option<Pin<Box<Sleep>>>,
}

impl Deadline {
    /// Sets the timeout, before the first poll.
    pub(crate) fn set(&mut self, timeout: Duration) {
        self.timeout = Some(timeout);
    }

    /// Starts the clock, at the first call; later calls do nothing.
    pub(crate) fn start(&mut self) {
        if let (Some(timeout), None) = (self.timeout, self.at) {
            // A timeout too long to add to the clock never expires.
            self.at = Instant::now().checked_add(timeout);
            if self.at.is_none() {
                self.timeout = None;
            }
        }
    }

    /// Starts the clock at the first call, then tells whether the deadline
    /// has passed. Call it at the top of every poll.
    pub(crate) fn passed(&mut self) -> bool {
        self.start();
        self.at.is_some_and(|at| Instant::now() >= at)
    }

    /// Before returning `Pending`: arms the timer (once) so that `cx` is
    /// woken at the deadline, and tells whether it has passed meanwhile.
    pub(crate) fn poll_passed(&mut self, cx: &mut Context<'_>) -> bool {
        let Some(at) = self.at else {
            return false;
        };
        self.timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(at)))
            .as_mut()
            .poll(cx)
            .is_ready()
    }

    /// The operation ended: the timer is no longer needed.
    pub(crate) fn disarm(&mut self) {
        self.timeout = None;
        self.timer = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn starts_at_the_first_poll_and_is_read_on_every_poll() {
        let mut d = Deadline::default();
        d.set(Duration::from_secs(5));
        // Time before the first poll does not count.
        tokio::time::advance(Duration::from_secs(60)).await;
        assert!(!d.passed());
        tokio::time::advance(Duration::from_secs(4)).await;
        assert!(!d.passed());
        // Passed without any timer having been armed or polled.
        tokio::time::advance(Duration::from_secs(1)).await;
        assert!(d.passed());
    }

    #[tokio::test(start_paused = true)]
    async fn the_timer_wakes_at_the_deadline() {
        let mut d = Deadline::default();
        d.set(Duration::from_secs(5));
        assert!(!d.passed());
        let start = Instant::now();
        std::future::poll_fn(|cx| {
            if d.poll_passed(cx) {
                std::task::Poll::Ready(())
            } else {
                std::task::Poll::Pending
            }
        })
        .await;
        assert_eq!(start.elapsed(), Duration::from_secs(5));
    }

    #[test]
    fn no_timeout_needs_no_clock_and_an_endless_one_never_passes() {
        let mut none = Deadline::default();
        assert!(!none.passed());
        let mut endless = Deadline::default();
        endless.set(Duration::MAX);
        assert!(!endless.passed());
        assert!(!endless.passed());
        let mut zero = Deadline::default();
        zero.set(Duration::ZERO);
        // Zero has passed at the first poll: nothing starts.
        assert!(zero.passed());
    }
}
