//! Progress events: one when each child starts, one when it ends.
//!
//! Events are delivered synchronously from inside the operation's poll, in
//! the order they happen, to a callback set with
//! [`Gather::on_event`](crate::future::Gather::on_event). The cost when no callback
//! is set is one branch per child; with one, a call per start and per end.
//! That is cheap enough to drive a progress bar (keep the callback short: it
//! runs on the same task as the children).

use crate::outcome::OutcomeKind;

/// What happened to one child, and the running totals after it.
///
/// # Examples
///
/// ```
/// use gather::gather;
/// use gather::progress::EventKind;
/// use std::sync::{Arc, Mutex};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let log = Arc::new(Mutex::new(Vec::new()));
/// let sink = log.clone();
/// gather((0..2).map(|i| async move { Ok::<_, ()>(i) }))
///     .on_event(move |e| sink.lock().unwrap().push((e.index, e.kind)))
///     .await
///     .unwrap();
/// let log = log.lock().unwrap();
/// assert_eq!(log.len(), 4);
/// assert!(log.contains(&(1, EventKind::Finished(gather::OutcomeKind::Ok))));
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Event {
    /// The child's input position.
    pub index: usize,
    /// Started, or finished with which kind of outcome.
    pub kind: EventKind,
    /// Children started so far (including this one).
    pub started: usize,
    /// Children finished so far (including this one).
    pub finished: usize,
    /// The number of children, when the input knew it (an exact
    /// `size_hint`, as every `Vec`, range and slice iterator gives).
    pub total: Option<usize>,
}

/// The two things that happen to a child.
///
/// ```
/// use gather::progress::EventKind;
/// use gather::OutcomeKind;
/// assert_ne!(EventKind::Started, EventKind::Finished(OutcomeKind::Ok));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// The child was started (launched and about to be polled first).
    Started,
    /// The child ended; `TimedOut`/`Cancelled` also cover children stopped
    /// by an overall timeout or a cancellation.
    Finished(OutcomeKind),
}

/// A progress callback.
pub(crate) type Observer = Box<dyn FnMut(&Event) + Send>;
