//! How one child is started and watched.
//!
//! Every operation runs its children through the same two pieces:
//!
//! - a [`Launch`] strategy turns an input future into a running child:
//!   [`InPlace`] keeps it as it is (polled inside the operation's own future,
//!   so it may borrow and need not be `Send`), [`Spawned`] makes it a tokio
//!   task (parallel on worker threads, aborted when dropped);
//! - a [`Guard`] watches that child so that a panic is caught and becomes
//!   [`Outcome::Panicked`], an optional per-child deadline becomes
//!   [`Outcome::TimedOut`], and (with the `tracing` feature) every poll
//!   happens inside a span carrying the child's index. The driver keeps the
//!   guard beside the child in its slot; [`Guarded`] joins the two into one
//!   future for a spawned task.
//!
//! Keeping these apart from the driver is what lets in-place and spawned
//! gathers share one driver, and therefore give the same results in the same
//! order.

use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use pin_project_lite::pin_project;
use tokio::time::Sleep;

use crate::cancel::CancelState;
use crate::outcome::{IntoOutcome, Outcome, Panic};
use crate::task::Task;

/// What watches a child: its panic guard, optional deadline and span.
///
/// Kept apart from the child so that the driver can store it beside the
/// child in its slot: the child (often 100+ bytes) is then moved into the
/// slot as it comes from the input, not first into a wrapper. [`Guarded`]
/// puts the two together for a spawned task.
#[derive(Default)]
pub(crate) struct Guard {
    // Boxed so that children without a timeout stay small: a `Sleep` is
    // larger than most children.
    deadline: Option<Pin<Box<Sleep>>>,
    #[cfg(feature = "tracing")]
    span: Option<tracing::Span>,
}

impl Guard {
    /// `timeout` starts counting now. `span` asks for a tracing span
    /// carrying `index` (ignored without the `tracing` feature).
    #[inline]
    pub(crate) fn new(timeout: Option<Duration>, index: usize, span: bool) -> Guard {
        #[cfg(feature = "tracing")]
        let span = span.then(|| tracing::debug_span!("gather.child", index));
        #[cfg(not(feature = "tracing"))]
        let _ = (span, index);
        Guard {
            deadline: timeout.map(|d| Box::pin(tokio::time::sleep(d))),
            #[cfg(feature = "tracing")]
            span,
        }
    }

    /// Polls `child` under this guard: a panic becomes
    /// [`Outcome::Panicked`], a passed deadline [`Outcome::TimedOut`].
    #[inline]
    pub(crate) fn poll<C>(
        &mut self,
        child: Pin<&mut C>,
        cx: &mut Context<'_>,
    ) -> Poll<GuardedOutput<C>>
    where
        C: Future,
        C::Output: IntoOutcome,
    {
        #[cfg(feature = "tracing")]
        let _entered = self.span.as_ref().map(|s| s.enter());
        // The child is never polled again after a panic: the driver drops it
        // as soon as this returns Ready, so AssertUnwindSafe cannot expose a
        // half-updated child.
        match catch_unwind(AssertUnwindSafe(|| child.poll(cx))) {
            Ok(Poll::Ready(out)) => Poll::Ready(out.into_outcome()),
            Err(payload) => Poll::Ready(Outcome::Panicked(Panic::from_payload(payload))),
            Ok(Poll::Pending) => match &mut self.deadline {
                Some(deadline) => deadline.as_mut().poll(cx).map(|()| Outcome::TimedOut),
                None => Poll::Pending,
            },
        }
    }
}

/// Drops the child in `slot` in place, catching a panic from its `Drop`.
///
/// A finished child is dropped by the operation, after the `catch_unwind`
/// around its last poll: a `Drop` that panics would otherwise unwind
/// through the caller's `poll` and leave the operation half-updated.
/// `Pin::set` is an assignment, and an assignment whose old value panics in
/// `Drop` still writes the new one while unwinding, so the slot is `None`
/// afterwards either way and the child is never dropped twice.
pub(crate) fn drop_caught<C>(mut slot: Pin<&mut Option<C>>) -> Result<(), Panic> {
    catch_unwind(AssertUnwindSafe(|| slot.set(None))).map_err(Panic::from_payload)
}

/// Drops `value` (an unstarted child, or the rest of an operation's input),
/// catching a panic from its `Drop`: the operation is ending and reports
/// its own outcome, so the panic unwinds through no caller.
pub(crate) fn drop_unwinding_nowhere<T>(value: T) {
    let _ = catch_unwind(AssertUnwindSafe(move || drop(value)));
}

/// What a guarded child resolves to.
pub(crate) type GuardedOutput<C> = Outcome<
    <<C as Future>::Output as IntoOutcome>::Ok,
    <<C as Future>::Output as IntoOutcome>::Err,
>;

pin_project! {
    /// A child with its [`Guard`], as one future. The child is dropped as
    /// soon as it finishes, under the guard: a panic in its `Drop` is
    /// reported as [`Outcome::Panicked`] like a panic in its `poll`.
    pub(crate) struct Guarded<C> {
        #[pin]
        child: Option<C>,
        guard: Guard,
    }
}

impl<C> Guarded<C> {
    /// Wraps `child`; see [`Guard::new`].
    pub(crate) fn new(child: C, timeout: Option<Duration>, index: usize, span: bool) -> Self {
        Guarded {
            child: Some(child),
            guard: Guard::new(timeout, index, span),
        }
    }
}

impl<C> Future for Guarded<C>
where
    C: Future,
    C::Output: IntoOutcome,
{
    type Output = GuardedOutput<C>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        // `None` only once it has returned Ready: a future polled after
        // that may answer anything but must not misbehave.
        let Some(child) = this.child.as_mut().as_pin_mut() else {
            return Poll::Pending;
        };
        let outcome = std::task::ready!(this.guard.poll(child, cx));
        Poll::Ready(match drop_caught(this.child) {
            Ok(()) => outcome,
            Err(panic) => Outcome::Panicked(panic),
        })
    }
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::InPlace {}
    impl Sealed for super::Spawned {}
}

/// How an operation runs its children: [`InPlace`] (the default) or
/// [`Spawned`]. Sealed: the two strategies are the crate's.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let in_place: gather::future::Gather<_, gather::future::InPlace, _> = gather::gather([async { Ok::<_, ()>(1) }]);
/// let spawned: gather::future::Gather<_, gather::future::Spawned, _> = gather::gather([async { Ok::<_, ()>(1) }]).spawn();
/// assert_eq!(in_place.await.unwrap(), spawned.await.unwrap());
/// # }
/// ```
pub trait Launch<F>: sealed::Sealed {
    /// The child's value.
    type Ok;
    /// The child's own error.
    type Err;
    /// The running child.
    #[doc(hidden)]
    type Child: Future<Output: IntoOutcome<Ok = Self::Ok, Err = Self::Err>>;
    #[doc(hidden)]
    fn launch(&mut self, child: F, index: usize) -> Self::Child;
    /// Called on each running child when a fail-fast operation ends on a
    /// failure, just before the child is dropped: `true` if the child was
    /// detached to run on (and must not be stopped).
    #[doc(hidden)]
    fn release(&self, _child: Pin<&mut Self::Child>) -> bool {
        false
    }
    /// Called on a child the operation gives up on, just before it is
    /// dropped: a future that ends once the child has really stopped, if
    /// it runs elsewhere (an aborted task). An in-place child stops when
    /// it is dropped: `None`.
    #[doc(hidden)]
    fn stop(&self, _child: Pin<&mut Self::Child>) -> Option<Stopping> {
        None
    }
    /// Called at the gather's first poll when it has a cancel handle:
    /// children that finish on their own (spawned) report to `state`, so
    /// that a `cancel()` after they all finished does not take effect.
    /// `true` asks the driver to count the children's ends itself (in
    /// place, a child ends when the driver sees it end, unless it is a
    /// task that reports its own: see `crate::watch`).
    #[doc(hidden)]
    fn watch(&mut self, _state: &Arc<CancelState>, _fail_fast: bool) -> bool {
        true
    }
    /// Called once, when the input has no more children.
    #[doc(hidden)]
    fn input_exhausted(&self) {}
}

pub use crate::task::Stopping;

/// Children are polled inside the operation's own future: no `'static`, no
/// `Send`, borrows allowed, any executor. Concurrency without parallelism.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let local = String::from("borrowed");
/// let g: gather::future::Gather<_, gather::future::InPlace, _> = gather::gather([async { Ok::<_, ()>(local.len()) }]);
/// assert_eq!(g.await.unwrap(), [8]);
/// # }
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct InPlace;

impl<F> Launch<F> for InPlace
where
    F: Future,
    F::Output: IntoOutcome,
{
    type Ok = <F::Output as IntoOutcome>::Ok;
    type Err = <F::Output as IntoOutcome>::Err;
    type Child = F;

    #[inline]
    fn launch(&mut self, child: F, _index: usize) -> F {
        child
    }
}

/// Children are tokio tasks: they run in parallel on the runtime's worker
/// threads and are aborted when the operation is dropped or cancelled.
/// Results are still delivered by input index.
///
/// ```
/// # #[tokio::main(flavor = "multi_thread", worker_threads = 2)] async fn main() {
/// let g: gather::future::Gather<_, gather::future::Spawned, _> =
///     gather::gather((0..3).map(|i| async move { Ok::<_, ()>(i) })).spawn();
/// assert_eq!(g.await.unwrap(), [0, 1, 2]);
/// # }
/// ```
#[derive(Debug, Clone, Default)]
pub struct Spawned {
    pub(crate) keep_siblings: bool,
    /// The gather's cancel state, when it has a handle, and whether a
    /// failure settles it (fail-fast).
    watch: Option<(Arc<CancelState>, bool)>,
}

impl<F> Launch<F> for Spawned
where
    F: Future + Send + 'static,
    F::Output: IntoOutcome,
    <F::Output as IntoOutcome>::Ok: Send + 'static,
    <F::Output as IntoOutcome>::Err: Send + 'static,
{
    type Ok = <F::Output as IntoOutcome>::Ok;
    type Err = <F::Output as IntoOutcome>::Err;
    type Child = Task<Outcome<Self::Ok, Self::Err>>;

    fn launch(&mut self, child: F, index: usize) -> Self::Child {
        // The guard (and its span) runs inside the task, so the span covers
        // the child's own polls on whichever worker runs it.
        let guarded = Guarded::new(child, None, index, true);
        let Some((state, fail_fast)) = &self.watch else {
            return crate::task::spawn_child(guarded);
        };
        let (state, fail_fast) = (state.clone(), *fail_fast);
        state.child_started();
        crate::task::spawn_child(async move {
            let outcome = guarded.await;
            if fail_fast && !outcome.is_ok() {
                state.settle();
            } else {
                state.settle_one();
            }
            outcome
        })
    }

    fn watch(&mut self, state: &Arc<CancelState>, fail_fast: bool) -> bool {
        self.watch = Some((state.clone(), fail_fast));
        false
    }

    fn input_exhausted(&self) {
        if let Some((state, _)) = &self.watch {
            state.settle_one();
        }
    }

    fn release(&self, child: Pin<&mut Self::Child>) -> bool {
        if self.keep_siblings {
            child.get_mut().set_abort_on_drop(false);
        }
        self.keep_siblings
    }

    fn stop(&self, child: Pin<&mut Self::Child>) -> Option<Stopping> {
        let handle = child.get_mut().abort_and_take()?;
        Some(Box::pin(async move {
            // Whatever it ended with (cancelled, or finished just before the
            // abort) is not wanted: only that it has ended.
            let _ = handle.await;
        }))
    }
}
