//! The heterogeneous forms: [`gather!`](crate::gather!) and
//! [`try_gather!`](crate::try_gather!) over a fixed list of futures of
//! different types, returning a tuple.
//!
//! A tuple is small and fixed, so each poll simply polls every unfinished
//! child; the ready-queue driver pays off only for many children. Each
//! child is boxed once, which keeps the implementation free of `unsafe`
//! pin projection.

use std::future::Future;
use std::marker::PhantomData;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::error::GatherError;
use crate::outcome::{Failure, IntoOutcome, Panic};

#[doc(hidden)]
pub enum Slot<F: Future> {
    Running(Pin<Box<F>>),
    Done(Option<F::Output>),
}

// The future is boxed and outputs are never pinned, so a slot can move.
impl<F: Future> Unpin for Slot<F> {}

impl<F: Future> Slot<F> {
    #[doc(hidden)]
    pub fn new(f: F) -> Self {
        Slot::Running(Box::pin(f))
    }

    /// Polls if still running; `true` once done.
    fn poll_done(&mut self, cx: &mut Context<'_>) -> bool {
        match self {
            Slot::Running(f) => match f.as_mut().poll(cx) {
                Poll::Ready(v) => {
                    *self = Slot::Done(Some(v));
                    true
                }
                Poll::Pending => false,
            },
            Slot::Done(_) => true,
        }
    }

    fn take(&mut self) -> F::Output {
        match self {
            Slot::Done(v) => v.take().expect("tuple gather: value taken twice"),
            Slot::Running(_) => unreachable!("tuple gather: value taken before it was ready"),
        }
    }
}

#[doc(hidden)]
pub enum TrySlot<F: Future>
where
    F::Output: IntoOutcome,
{
    Running(Pin<Box<F>>),
    Done(Option<<F::Output as IntoOutcome>::Ok>),
}

impl<F: Future> Unpin for TrySlot<F> where F::Output: IntoOutcome {}

impl<F: Future> TrySlot<F>
where
    F::Output: IntoOutcome,
{
    #[doc(hidden)]
    pub fn new(f: F) -> Self {
        TrySlot::Running(Box::pin(f))
    }

    /// Polls if still running, catching a panic: `Ok(true)` once done,
    /// `Err` on the child's failure.
    fn poll_done(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Result<bool, Failure<<F::Output as IntoOutcome>::Err>> {
        let TrySlot::Running(f) = self else {
            return Ok(true);
        };
        let out = match catch_unwind(AssertUnwindSafe(|| f.as_mut().poll(cx))) {
            Err(payload) => return Err(Failure::Panicked(Panic::from_payload(payload))),
            Ok(Poll::Pending) => return Ok(false),
            Ok(Poll::Ready(out)) => out.into_outcome(),
        };
        // The finished child is dropped here, under a guard of its own: a
        // panic in its `Drop` is that child's failure, not an unwind
        // through the caller. (An assignment whose old value panics in
        // `Drop` still writes the new value, so the slot is `Done`.)
        if let Err(payload) = catch_unwind(AssertUnwindSafe(|| *self = TrySlot::Done(None))) {
            return Err(Failure::Panicked(Panic::from_payload(payload)));
        }
        match out.into_result() {
            Ok(v) => {
                *self = TrySlot::Done(Some(v));
                Ok(true)
            }
            Err(failure) => Err(failure),
        }
    }

    fn take(&mut self) -> <F::Output as IntoOutcome>::Ok {
        match self {
            TrySlot::Done(v) => v.take().expect("try_gather: value taken twice"),
            TrySlot::Running(_) => unreachable!("try_gather: value taken before it was ready"),
        }
    }
}

/// The future behind [`gather!`](crate::gather!).
#[doc(hidden)]
#[must_use = "futures do nothing unless awaited"]
pub struct TupleGather<S> {
    #[doc(hidden)]
    pub slots: S,
}

/// The future behind [`try_gather!`](crate::try_gather!).
#[doc(hidden)]
#[must_use = "futures do nothing unless awaited"]
pub struct TryTupleGather<S, E> {
    #[doc(hidden)]
    pub slots: S,
    #[doc(hidden)]
    pub failed: bool,
    #[doc(hidden)]
    pub error: PhantomData<fn() -> E>,
}

macro_rules! impl_tuple {
    ($($F:ident $i:tt),+) => {
        impl<$($F: Future),+> Future for TupleGather<($(Slot<$F>,)+)> {
            type Output = ($($F::Output,)+);

            fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
                let slots = &mut self.get_mut().slots;
                let mut all = true;
                $( all &= slots.$i.poll_done(cx); )+
                if all {
                    Poll::Ready(($(slots.$i.take(),)+))
                } else {
                    Poll::Pending
                }
            }
        }

        impl<E, $($F),+> Future for TryTupleGather<($(TrySlot<$F>,)+), E>
        where
            $($F: Future, $F::Output: IntoOutcome<Err = E>,)+
        {
            type Output = Result<($(<$F::Output as IntoOutcome>::Ok,)+), GatherError<E>>;

            fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
                let this = self.get_mut();
                assert!(!this.failed, "`try_gather!` polled after it completed");
                let slots = &mut this.slots;
                let mut all = true;
                $(
                    match slots.$i.poll_done(cx) {
                        Ok(done) => all &= done,
                        Err(failure) => {
                            this.failed = true;
                            return Poll::Ready(Err(GatherError::new(Some($i), failure, Vec::new())));
                        }
                    }
                )+
                if all {
                    Poll::Ready(Ok(($(slots.$i.take(),)+)))
                } else {
                    Poll::Pending
                }
            }
        }
    };
}

impl_tuple!(F0 0);
impl_tuple!(F0 0, F1 1);
impl_tuple!(F0 0, F1 1, F2 2);
impl_tuple!(F0 0, F1 1, F2 2, F3 3);
impl_tuple!(F0 0, F1 1, F2 2, F3 3, F4 4);
impl_tuple!(F0 0, F1 1, F2 2, F3 3, F4 4, F5 5);
impl_tuple!(F0 0, F1 1, F2 2, F3 3, F4 4, F5 5, F6 6);
impl_tuple!(F0 0, F1 1, F2 2, F3 3, F4 4, F5 5, F6 6, F7 7);
impl_tuple!(F0 0, F1 1, F2 2, F3 3, F4 4, F5 5, F6 6, F7 7, F8 8);
impl_tuple!(F0 0, F1 1, F2 2, F3 3, F4 4, F5 5, F6 6, F7 7, F8 8, F9 9);
impl_tuple!(F0 0, F1 1, F2 2, F3 3, F4 4, F5 5, F6 6, F7 7, F8 8, F9 9, F10 10);
impl_tuple!(F0 0, F1 1, F2 2, F3 3, F4 4, F5 5, F6 6, F7 7, F8 8, F9 9, F10 10, F11 11);

/// Runs up to 12 futures of different types concurrently, in place, and
/// returns their outputs as a tuple, in argument order.
///
/// The futures' outputs can be anything; a panic propagates to the caller
/// (as with `tokio::join!`). For children that return `Result`, with
/// fail-fast and caught panics, use [`try_gather!`](crate::try_gather!).
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let (n, s) = gather::gather!(async { 1 }, async { "two" }).await;
/// assert_eq!((n, s), (1, "two"));
/// # }
/// ```
#[macro_export]
macro_rules! gather {
    ($($future:expr),+ $(,)?) => {
        $crate::__private::TupleGather {
            slots: ($($crate::__private::Slot::new($future),)+),
        }
    };
}

/// Runs up to 12 fallible futures of different value types (one shared
/// error type) concurrently, in place; resolves to a tuple of their values,
/// or to the first failure as a [`GatherError`] naming the argument's
/// position. A panicking child is caught and reported as the error.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let ok = gather::try_gather!(async { Ok::<_, String>(1) }, async { Ok("two") }).await;
/// assert_eq!(ok.unwrap(), (1, "two"));
///
/// let err = gather::try_gather!(
///     async { Ok::<u8, String>(1) },
///     async { Err::<&str, _>("no".to_string()) },
/// )
/// .await
/// .unwrap_err();
/// assert_eq!(err.index(), Some(1));
/// # }
/// ```
#[macro_export]
macro_rules! try_gather {
    ($($future:expr),+ $(,)?) => {
        $crate::__private::TryTupleGather {
            slots: ($($crate::__private::TrySlot::new($future),)+),
            failed: false,
            error: ::core::marker::PhantomData,
        }
    };
}
