//! Stopping a run without losing what was done: after
//! [`Fetcher::stop_starting`](super::Fetcher::stop_starting) no request
//! starts, and those in flight go on to their answer.
//!
//! A front door stops this way on a first Ctrl-C. A request that has not
//! taken its turn yet (waiting for a permit, a rate, a paced budget or a
//! retry's backoff) ends unsent, as [`Kind::Cancelled`](crate::Kind::Cancelled),
//! which a record never carries: its line is left for `--resume`. One in
//! flight is not touched: a POST may have been written already, and its
//! answer is the only way to know it was processed (a resumed run would
//! otherwise send it a second time). GETs in flight finish too, within
//! their `--timeout`, rather than each being watched for the stop: that
//! watch (a registration with a `Notify` per request) cost every request
//! ~730 instructions and an allocation, measured with callgrind, to save
//! a user a second Ctrl-C.

use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use tokio::sync::futures::Notified;
use tokio::sync::Notify;

use crate::error::{FetchError, Kind};

#[derive(Default)]
pub(super) struct Stop {
    stopping: AtomicBool,
    notify: Notify,
}

/// Where a request waiting on [`Stop`] keeps its registration: made (and
/// boxed, off the request's future) only when it first has to wait.
pub(super) type Waiter<'a> = Option<Pin<Box<Notified<'a>>>>;

impl Stop {
    /// From now on nothing starts; every waiter is woken to see it.
    pub(super) fn stop(&self) {
        // Release pairs with the Acquire in `is_stopping`: a waiter woken
        // by `notify_waiters` sees the flag set.
        self.stopping.store(true, Ordering::Release);
        self.notify.notify_waiters();
    }

    pub(super) fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::Acquire)
    }

    /// `true` once stopping, else registers `cx` to be woken when it
    /// begins (in `waiter`, kept by the caller across polls).
    pub(super) fn poll_stopping<'a>(
        &'a self,
        waiter: &mut Waiter<'a>,
        cx: &mut Context<'_>,
    ) -> bool {
        if self.is_stopping() {
            return true;
        }
        let notified = waiter.get_or_insert_with(|| {
            let mut notified = Box::pin(self.notify.notified());
            // Registered before the flag is read again, so a `stop`
            // between the two is not missed.
            notified.as_mut().enable();
            notified
        });
        self.is_stopping() || notified.as_mut().poll(cx).is_ready()
    }

    /// `step`'s output, or `None` if stopping has begun when it is polled:
    /// for a wait that others' progress wakes (a permit given back by a
    /// request that ends, a rate's timer, an answer to the paced budget),
    /// since the requests in flight go on to their end after a stop, and
    /// each one that ends wakes the next waiter, which then sees it. No
    /// registration per request: most requests wait for their turn.
    pub(super) async fn unless_stopped<F: Future>(&self, step: F) -> Option<F::Output> {
        let mut step = std::pin::pin!(step);
        poll_fn(|cx| match self.is_stopping() {
            true => Poll::Ready(None),
            false => step.as_mut().poll(cx).map(Some),
        })
        .await
    }

    /// `step`'s output, or `None` if stopping begins before it is ready,
    /// woken for it: for a wait nothing else may end soon (a retry's
    /// backoff, up to 30 s).
    pub(super) async fn unless_stopping<F: Future>(&self, step: F) -> Option<F::Output> {
        let mut step = std::pin::pin!(step);
        let mut waiter: Waiter<'_> = None;
        poll_fn(|cx| {
            if self.is_stopping() {
                return Poll::Ready(None);
            }
            if let Poll::Ready(out) = step.as_mut().poll(cx) {
                return Poll::Ready(Some(out));
            }
            match self.poll_stopping(&mut waiter, cx) {
                true => Poll::Ready(None),
                false => Poll::Pending,
            }
        })
        .await
    }
}

/// The end of a request that was not sent (or may be sent again) when the
/// run stopped.
pub(super) fn not_sent() -> FetchError {
    FetchError::immediate(Kind::Cancelled, "not sent: the run was stopping".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn a_step_waiting_when_stopping_begins_ends_without_its_output() {
        let stop = std::sync::Arc::new(Stop::default());
        let waiting = tokio::spawn({
            let stop = stop.clone();
            async move {
                stop.unless_stopping(tokio::time::sleep(Duration::from_secs(60)))
                    .await
            }
        });
        tokio::time::sleep(Duration::from_secs(1)).await;
        stop.stop();
        assert_eq!(waiting.await.unwrap(), None, "woken, and told");
        assert_eq!(
            stop.unless_stopping(async { 1 }).await,
            None,
            "after: none starts"
        );
    }

    #[tokio::test]
    async fn a_ready_step_is_not_held_back() {
        let stop = Stop::default();
        assert_eq!(stop.unless_stopping(async { 7 }).await, Some(7));
        assert_eq!(stop.unless_stopped(async { 7 }).await, Some(7));
    }
}
