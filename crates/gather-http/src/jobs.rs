//! A run's requests as the children [`Run`](crate::Run) hands to
//! `gather::as_completed`.
//!
//! [`children`] turns [`Job`]s (a request, or why it cannot be sent, and
//! what the front door attaches to it: the CLI its input line, the Python
//! package the item's `id`) into futures, made lazily in input order as
//! the operation pulls them under its limit. Each one:
//!
//! - waits until it is within the reorder window of the results handed on
//!   ([`Window`]), which is what bounds the buffer that puts results back
//!   in input order ([`order`](crate::order));
//! - is not started past a cutoff, when one is given (fail-fast: the
//!   position of the first failure), and ends (as cancelled) when a cutoff
//!   before it comes while it waits for its turn or is on the wire: its
//!   result would be dropped anyway;
//! - sends its request as its payload says ([`Fetcher::send`], or
//!   [`Fetcher::fetch`] for a plain GET).
//!
//! What the front door attached is kept aside, in [`Started`], by
//! position, not carried through the future: a child's result may be a
//! panic or a cancellation, which carries nothing, and the front door
//! still owes that position its line.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};

use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::Notify;

use crate::dispatch::Dispatch;
use crate::error::{FetchError, Kind};
use crate::fetch::{Fetcher, Page};
use crate::order::{ByPosition, Window};

pub use crate::job::{Job, Request};

/// What the front door attached to each request started and not yet
/// taken back, and the request's position, by the order the requests were
/// made in (the operation's index for them, which is not their position
/// when a request to a full origin was passed: [`crate::dispatch`]).
#[derive(Debug)]
pub struct Started<M> {
    by_position: Arc<Mutex<ByPosition<(usize, M)>>>,
}

impl<M> Clone for Started<M> {
    fn clone(&self) -> Self {
        Started {
            by_position: self.by_position.clone(),
        }
    }
}

impl<M> Started<M> {
    /// The position of the request made `made`th and what it came with,
    /// once its result is in (`None` if it was taken already).
    pub fn take(&self, made: usize) -> Option<(usize, M)> {
        let mut held = self.lock();
        let meta = held.take(made);
        held.skip_empty();
        meta
    }

    /// Requests started and not yet taken back.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// No request is started and not taken back.
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    fn lock(&self) -> MutexGuard<'_, ByPosition<(usize, M)>> {
        // A panic in a request is its result: the table goes on.
        self.by_position.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// `jobs` as children for `gather::as_completed`, in input order except
/// where a request to a full origin is passed by those to origins with
/// room ([`crate::dispatch`]; each one's position is its place in `jobs`),
/// and the table of what they came with and their positions. `cutoff`: a request at a position after it is not started
/// (it ends [`Kind::Cancelled`], which no record carries).
///
pub fn children<M, I>(
    fetcher: Arc<Fetcher>,
    jobs: I,
    window: Window,
    cutoff: Option<Arc<Cutoff>>,
) -> (
    impl Iterator<Item = impl Future<Output = Result<Page, FetchError>> + Send + 'static>
        + Send
        + 'static,
    Started<M>,
)
where
    I: Iterator<Item = Job<M>> + Send + 'static,
    M: Send + 'static,
{
    let started = Started {
        by_position: Arc::default(),
    };
    let table = started.clone();
    let limit = fetcher.config().limit;
    let read_ahead = window.size.min(fetcher.config().window());
    let dispatch = Dispatch::new(jobs, fetcher.clone(), window.clone(), read_ahead, limit);
    let mut made = 0;
    let children = dispatch.map(move |(pos, job, load)| {
        table.lock().insert(made, (pos, job.meta));
        made += 1;
        let (index, request) = (job.index, job.request);
        let (fetcher, window, cutoff) = (fetcher.clone(), window.clone(), cutoff.clone());
        // Made only when the operation starts it (lazily, under its limit).
        async move {
            // Counted on its origin until it ends.
            let _load = load;
            // Not started while too far ahead of the next result to hand
            // on: this is what bounds the reorder buffer.
            window.wait_for_room(pos).await;
            if cutoff.as_ref().is_some_and(|c| c.passed(pos)) {
                return Err(cancelled());
            }
            let send = async move {
                match request? {
                    Request {
                        url,
                        payload: Some(payload),
                    } => fetcher.send(index, &url, &payload).await,
                    Request { url, payload: None } => fetcher.fetch(index, &url).await,
                }
            };
            match cutoff {
                None => send.await,
                // Boxed: only fail-fast runs watch for the cutoff.
                Some(cutoff) => Box::pin(cutoff.unless_passed(pos, send)).await,
            }
        }
    });
    (children, started)
}

fn cancelled() -> FetchError {
    FetchError::immediate(Kind::Cancelled, "cancelled".to_owned())
}

/// Fail-fast's cutoff: the position of the earliest failure so far; the
/// requests after it end.
#[derive(Debug)]
pub(crate) struct Cutoff {
    at: AtomicUsize,
    changed: Notify,
}

impl Cutoff {
    /// No failure yet.
    pub(crate) fn new() -> Cutoff {
        Cutoff {
            at: AtomicUsize::new(usize::MAX),
            changed: Notify::new(),
        }
    }

    /// The earliest failure's position, if there was one.
    pub(crate) fn get(&self) -> Option<usize> {
        Some(self.at.load(Ordering::SeqCst)).filter(|&at| at != usize::MAX)
    }

    /// A failure at `pos`: the requests after the earliest failure end.
    pub(crate) fn cut(&self, pos: usize) {
        // The pair: this store then `notify_waiters`, against `waiting`'s
        // registration then load. A waiter registered before the store is
        // woken; one registered after sees the new value.
        self.at.fetch_min(pos, Ordering::SeqCst);
        self.changed.notify_waiters();
    }

    fn passed(&self, pos: usize) -> bool {
        pos > self.at.load(Ordering::SeqCst)
    }

    /// `request`'s result, unless a cutoff before `pos` comes first: then
    /// `request` is dropped (a turn given back, a connection closed) and
    /// the result is cancelled.
    async fn unless_passed<F>(&self, pos: usize, request: F) -> Result<Page, FetchError>
    where
        F: Future<Output = Result<Page, FetchError>>,
    {
        let passed = async {
            loop {
                let changed = self.changed.notified();
                let mut changed = std::pin::pin!(changed);
                changed.as_mut().enable();
                if self.passed(pos) {
                    return;
                }
                changed.await;
            }
        };
        tokio::select! {
            biased;
            result = request => result,
            () = passed => Err(cancelled()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::order::Written;
    use std::time::Duration;
    use url::Url;

    fn fetcher() -> Arc<Fetcher> {
        let config = crate::FetchConfig {
            limit: 4,
            timeout: Duration::from_secs(5),
            body: true,
            versions: crate::Versions::Http1Only,
            politeness: crate::Politeness::NONE,
            ..Default::default()
        };
        Arc::new(Fetcher::new(config).unwrap())
    }

    fn get(
        server: &gather_pageserver::Server,
        path: &str,
        meta: &'static str,
    ) -> Job<&'static str> {
        let url = Url::parse(&server.url(path)).unwrap();
        Job {
            index: 0,
            request: Ok(Request { url, payload: None }),
            meta,
        }
    }

    /// Each result comes back with what its job came with, a request
    /// refused before it was sent included; one past the window waits for
    /// the results before it to be handed on; one past the cutoff is not
    /// sent.
    #[tokio::test]
    async fn results_come_back_with_their_jobs_within_the_window_and_cutoff() {
        let server = gather_pageserver::Server::start(Duration::ZERO)
            .await
            .unwrap();
        let refused = Job {
            index: 1,
            request: Err(FetchError::immediate(Kind::InvalidUrl, "no host".into())),
            meta: "refused",
        };
        let jobs = vec![
            get(&server, "/page/0", "first"),
            refused,
            get(&server, "/page/2", "third"),
            get(&server, "/page/3", "past the cutoff"),
        ];
        let handed_on = Arc::new(Written::default());
        let window = Window {
            handed_on: handed_on.clone(),
            size: 2,
            bytes: usize::MAX,
        };
        let cutoff = Arc::new(Cutoff::new());
        cutoff.cut(2);
        let (requests, started) = children(fetcher(), jobs.into_iter(), window, Some(cutoff));
        let mut results = gather::as_completed(requests).limit(4);
        let mut seen = Vec::new();
        // Positions 0 and 1 are within the window; 2 and 3 wait for them.
        for _ in 0..2 {
            let (made, outcome) = results.next().await.unwrap();
            let (pos, meta) = started.take(made).unwrap();
            seen.push((pos, meta, outcome.is_ok()));
        }
        seen.sort();
        assert_eq!(seen, [(0, "first", true), (1, "refused", false)]);
        assert_eq!(started.len(), 2, "the two waiting are held");
        handed_on.set(2);
        let mut rest = Vec::new();
        while let Some((made, outcome)) = results.next().await {
            let kind = match outcome {
                gather::Outcome::Err(e) => Some(e.kind),
                _ => None,
            };
            let (pos, meta) = started.take(made).unwrap();
            rest.push((pos, meta, kind));
        }
        rest.sort_by_key(|(pos, ..)| *pos);
        assert_eq!(
            rest,
            [
                (2, "third", None),
                (3, "past the cutoff", Some(Kind::Cancelled))
            ]
        );
        assert!(started.is_empty());
    }
}
