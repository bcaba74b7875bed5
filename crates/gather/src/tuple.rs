//! The heterogeneous form: [`gather!`](crate::gather!) over a fixed list
//! of futures of different types, returning a tuple.
//!
//! It agrees with the list form and with Python's
//! `user, posts = await asyncio.gather(get_user(1), get_posts(1))`: the
//! children return `Result`s (or [`Outcome`]s), the first failure ends the
//! gather, names the argument's position and drops the others at once,
//! and [`return_exceptions`](TupleGather::return_exceptions) gives every
//! child's [`Outcome`] instead. Panics are caught, as in the list form.
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
use crate::gather::{FailFast, ReturnExceptions};
use crate::outcome::{IntoOutcome, Outcome, Panic};

/// A child's output, as its outcome.
type SlotOutcome<F> = Outcome<
    <<F as Future>::Output as IntoOutcome>::Ok,
    <<F as Future>::Output as IntoOutcome>::Err,
>;

#[doc(hidden)]
pub enum Slot<F: Future>
where
    F::Output: IntoOutcome,
{
    Running(Pin<Box<F>>),
    /// Finished (`Some`), or given up on or taken (`None`).
    Done(Option<SlotOutcome<F>>),
}

// The future is boxed and outputs are never pinned, so a slot can move.
impl<F: Future> Unpin for Slot<F> where F::Output: IntoOutcome {}

impl<F: Future> Slot<F>
where
    F::Output: IntoOutcome,
{
    #[doc(hidden)]
    pub fn new(f: F) -> Self {
        Slot::Running(Box::pin(f))
    }

    /// Polls if still running, catching a panic: `true` once done.
    fn poll_done(&mut self, cx: &mut Context<'_>) -> bool {
        let Slot::Running(f) = self else {
            return true;
        };
        let outcome = match catch_unwind(AssertUnwindSafe(|| f.as_mut().poll(cx))) {
            Err(payload) => Outcome::Panicked(Panic::from_payload(payload)),
            Ok(Poll::Pending) => return false,
            Ok(Poll::Ready(out)) => out.into_outcome(),
        };
        // The finished child is dropped here, under a guard of its own: a
        // panic in its `Drop` is that child's failure, not an unwind
        // through the caller. (An assignment whose old value panics in
        // `Drop` still writes the new value, so the slot is `Done`.)
        let dropped = catch_unwind(AssertUnwindSafe(|| *self = Slot::Done(None)));
        *self = Slot::Done(Some(match dropped {
            Ok(()) => outcome,
            Err(payload) => Outcome::Panicked(Panic::from_payload(payload)),
        }));
        true
    }

    /// `true` when it finished with anything but a value.
    fn failed(&self) -> bool {
        matches!(self, Slot::Done(Some(o)) if !o.is_ok())
    }

    /// Drops the child if it is still running (a sibling failed); a panic
    /// in its `Drop` is not heard, as in the list form.
    fn cancel(&mut self) {
        if let Slot::Running(_) = self {
            let _ = catch_unwind(AssertUnwindSafe(|| *self = Slot::Done(None)));
        }
    }

    fn take(&mut self) -> SlotOutcome<F> {
        match self {
            Slot::Done(o) => o.take().expect("tuple gather: outcome taken twice"),
            Slot::Running(_) => unreachable!("tuple gather: outcome taken before it was ready"),
        }
    }
}

/// The future behind [`gather!`](crate::gather!): fail-fast by default
/// (`M` is [`FailFast`]), or [`ReturnExceptions`].
#[must_use = "a gather does nothing until awaited; dropping it cancels every child"]
pub struct TupleGather<S, M = FailFast> {
    slots: S,
    done: bool,
    _mode: PhantomData<fn() -> M>,
}

impl<S> TupleGather<S, FailFast> {
    #[doc(hidden)]
    pub fn new(slots: S) -> Self {
        TupleGather {
            slots,
            done: false,
            _mode: PhantomData,
        }
    }

    /// Switches to `return_exceptions` mode, as Python's
    /// `gather(a, b, return_exceptions=True)`: every child runs to its end
    /// and the gather resolves to a tuple of their [`Outcome`]s, in
    /// argument order. The children may then have different error types.
    ///
    /// ```
    /// use gather::Outcome;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let (n, s) = gather::gather!(
    ///     async { Ok::<_, String>(1) },
    ///     async { Err::<&str, _>(std::io::Error::other("no")) },
    /// )
    /// .return_exceptions()
    /// .await;
    /// assert_eq!(n, Outcome::Ok(1));
    /// assert!(matches!(s, Outcome::Err(e) if e.to_string() == "no"));
    /// # }
    /// ```
    pub fn return_exceptions(self) -> TupleGather<S, ReturnExceptions> {
        TupleGather {
            slots: self.slots,
            done: self.done,
            _mode: PhantomData,
        }
    }
}

impl<S, M> Unpin for TupleGather<S, M> {}

macro_rules! impl_tuple {
    ($($F:ident $i:tt),+) => {
        impl<E, $($F),+> Future for TupleGather<($(Slot<$F>,)+), FailFast>
        where
            $($F: Future, $F::Output: IntoOutcome<Err = E>,)+
        {
            type Output = Result<($(<$F::Output as IntoOutcome>::Ok,)+), GatherError<E>>;

            fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
                let this = self.get_mut();
                assert!(!this.done, "`gather!` polled after it completed");
                let slots = &mut this.slots;
                let mut all = true;
                let mut failed = None;
                $(
                    if failed.is_none() {
                        if slots.$i.poll_done(cx) {
                            if slots.$i.failed() {
                                failed = Some($i);
                            }
                        } else {
                            all = false;
                        }
                    }
                )+
                if let Some(index) = failed {
                    // The first failure ends the gather: the siblings still
                    // running are dropped now, not when the gather is.
                    this.done = true;
                    $( slots.$i.cancel(); )+
                    let failure = match index {
                        $( $i => slots.$i.take().into_result().err(), )+
                        _ => unreachable!(),
                    };
                    let failure = failure.expect("a failed slot holds a failure");
                    return Poll::Ready(Err(GatherError::new(Some(index), failure, Vec::new())));
                }
                if all {
                    this.done = true;
                    Poll::Ready(Ok(($(
                        slots.$i.take().ok().expect("every slot holds a value"),
                    )+)))
                } else {
                    Poll::Pending
                }
            }
        }

        impl<$($F),+> Future for TupleGather<($(Slot<$F>,)+), ReturnExceptions>
        where
            $($F: Future, $F::Output: IntoOutcome,)+
        {
            type Output = ($(SlotOutcome<$F>,)+);

            fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
                let this = self.get_mut();
                assert!(!this.done, "`gather!` polled after it completed");
                let slots = &mut this.slots;
                let mut all = true;
                $( all &= slots.$i.poll_done(cx); )+
                if all {
                    this.done = true;
                    Poll::Ready(($(slots.$i.take(),)+))
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
/// resolves to a tuple of their values, in argument order: Python's
/// `user, posts = await asyncio.gather(get_user(1), get_posts(1))`.
///
/// Each child returns a `Result<T, E>` (or an [`Outcome`](crate::Outcome)),
/// all with one error type `E`. As the list form [`gather()`](crate::gather()):
/// the first failure (an error or a caught panic) ends the gather, drops
/// the children still running, and is returned as a
/// [`GatherError`](crate::GatherError) naming the argument's position;
/// [`.return_exceptions()`](crate::future::TupleGather::return_exceptions)
/// resolves to a tuple of every child's [`Outcome`](crate::Outcome)
/// instead, and allows different error types. Fail-fast needs one error
/// type, as the list form does: give a child that cannot fail that type
/// (`async { Ok::<_, MyError>(v) }`), or wrap every child in
/// [`infallible`](crate::infallible) when none can fail. To join futures
/// of any output, as `tokio::join!` does, use `tokio::join!`.
///
/// # Examples
///
/// ```
/// use gather::gather;
///
/// async fn get_user(id: u32) -> Result<String, String> { Ok(format!("user {id}")) }
/// async fn get_posts(id: u32) -> Result<Vec<u32>, String> { Ok(vec![id, id + 1]) }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let (user, posts) = gather!(get_user(1), get_posts(1)).await?;
/// assert_eq!((user.as_str(), posts.len()), ("user 1", 2));
///
/// let err = gather!(get_user(1), async { Err::<u8, _>("no".to_string()) })
///     .await
///     .unwrap_err();
/// assert_eq!(err.index(), Some(1));
/// assert_eq!(err.to_string(), "child 1 failed: no");
///
/// // A child that cannot fail, beside one that can:
/// let (n, user) = gather!(async { Ok::<_, String>(7) }, get_user(2)).await?;
/// assert_eq!((n, user.as_str()), (7, "user 2"));
/// # Ok(()) }
/// ```
///
/// # Panics
///
/// A panicking child never unwinds through the caller: it is the gather's
/// failure (`Outcome::Panicked` with `return_exceptions`). Polling the
/// gather again after it completed panics.
#[macro_export]
macro_rules! gather {
    ($($future:expr),+ $(,)?) => {
        $crate::future::TupleGather::new(($($crate::__private::Slot::new($future),)+))
    };
}

/// The former name of the fail-fast tuple form: [`gather!`](crate::gather!)
/// now fails fast itself.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// #[allow(deprecated)]
/// let ok = gather::try_gather!(async { Ok::<_, String>(1) }, async { Ok("two") }).await;
/// assert_eq!(ok.unwrap(), (1, "two"));
/// # }
/// ```
#[deprecated(
    since = "0.2.0",
    note = "`gather!` now fails fast on `Result` children: write `gather!(...)`"
)]
#[macro_export]
macro_rules! try_gather {
    ($($future:expr),+ $(,)?) => {
        $crate::gather!($($future),+)
    };
}
