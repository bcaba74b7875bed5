//! What became of one child: [`Outcome`], and the [`IntoOutcome`] conversion
//! that lets a child return either a `Result` or an `Outcome`.
//!
//! Python's `gather(..., return_exceptions=True)` puts a value or an exception
//! object into each slot. Rust has no exceptions, so each slot holds an
//! `Outcome`: the value, the child's own error, a panic, a timeout or a
//! cancellation, each a variant you can match on instead of an `isinstance`
//! test.

use std::any::Any;
use std::fmt;
use std::sync::Mutex;

/// The end of one child: its value, its error, or why it has neither.
///
/// # Examples
///
/// ```
/// use gather::{gather, Outcome};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let outcomes = gather((0..2u32).map(|i| async move {
///     if i == 0 { Ok(1) } else { Err("boom") }
/// }))
/// .return_exceptions()
/// .await
/// .unwrap();
/// assert_eq!(outcomes[0], Outcome::Ok(1));
/// assert_eq!(outcomes[1], Outcome::Err("boom"));
/// # }
/// ```
#[derive(Debug, PartialEq)]
#[must_use = "an outcome may hold an error; match on it or call .into_result()"]
pub enum Outcome<T, E> {
    /// The child finished with a value.
    Ok(T),
    /// The child finished with its own error.
    Err(E),
    /// The child panicked; the panic was caught and is reported here.
    Panicked(Panic),
    /// The child ran past its per-child timeout, or past the overall timeout.
    TimedOut,
    /// The child was cancelled before it finished (aborted task, runtime shut
    /// down, or its gather cancelled).
    Cancelled,
}

/// The kind of an [`Outcome`], without its payload: cheap to copy into a
/// progress event or a counter.
///
/// # Examples
///
/// ```
/// use gather::{Outcome, OutcomeKind};
/// let o: Outcome<u8, ()> = Outcome::TimedOut;
/// assert_eq!(o.kind(), OutcomeKind::TimedOut);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OutcomeKind {
    /// See [`Outcome::Ok`].
    Ok,
    /// See [`Outcome::Err`].
    Err,
    /// See [`Outcome::Panicked`].
    Panicked,
    /// See [`Outcome::TimedOut`].
    TimedOut,
    /// See [`Outcome::Cancelled`].
    Cancelled,
}

impl fmt::Display for OutcomeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            OutcomeKind::Ok => "ok",
            OutcomeKind::Err => "error",
            OutcomeKind::Panicked => "panicked",
            OutcomeKind::TimedOut => "timed out",
            OutcomeKind::Cancelled => "cancelled",
        })
    }
}

/// Why a child has no value: everything in [`Outcome`] but `Ok`.
///
/// # Examples
///
/// ```
/// use gather::{Failure, Outcome};
/// let o: Outcome<u8, &str> = Outcome::Err("no");
/// assert!(matches!(o.into_result(), Err(Failure::Error("no"))));
/// ```
#[derive(Debug, PartialEq)]
pub enum Failure<E> {
    /// The child's own error.
    Error(E),
    /// The child panicked.
    Panicked(Panic),
    /// The child, or the whole operation, timed out.
    TimedOut,
    /// The child, or the whole operation, was cancelled.
    Cancelled,
}

impl<E> Failure<E> {
    /// The kind of this failure.
    ///
    /// ```
    /// use gather::{Failure, OutcomeKind};
    /// assert_eq!(Failure::<()>::Cancelled.kind(), OutcomeKind::Cancelled);
    /// ```
    pub fn kind(&self) -> OutcomeKind {
        match self {
            Failure::Error(_) => OutcomeKind::Err,
            Failure::Panicked(_) => OutcomeKind::Panicked,
            Failure::TimedOut => OutcomeKind::TimedOut,
            Failure::Cancelled => OutcomeKind::Cancelled,
        }
    }
}

impl<E: fmt::Debug> Failure<E> {
    /// As the `Display` form ("failed: ...", "timed out"), with the error's
    /// `Debug` form: what `Outcome::unwrap` can say with `E: Debug` only.
    fn debug_words(&self) -> String {
        match self {
            Failure::Error(e) => format!("failed: {e:?}"),
            Failure::Panicked(p) => format!("panicked: {}", p.message()),
            Failure::TimedOut => "timed out".to_owned(),
            Failure::Cancelled => "was cancelled".to_owned(),
        }
    }
}

impl<E: fmt::Display> fmt::Display for Failure<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Error(e) => write!(f, "failed: {e}"),
            Failure::Panicked(p) => write!(f, "panicked: {}", p.message()),
            Failure::TimedOut => f.write_str("timed out"),
            Failure::Cancelled => f.write_str("was cancelled"),
        }
    }
}

/// An error for any child error that can be shown (`String` and `anyhow`
/// included); the child's error is in the message, a panic is the source.
impl<E: fmt::Debug + fmt::Display> std::error::Error for Failure<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Failure::Panicked(p) => Some(p),
            _ => None,
        }
    }
}

impl<T, E> Outcome<T, E> {
    /// The kind of this outcome.
    ///
    /// ```
    /// use gather::{Outcome, OutcomeKind};
    /// assert_eq!(Outcome::<u8, ()>::Ok(1).kind(), OutcomeKind::Ok);
    /// ```
    pub fn kind(&self) -> OutcomeKind {
        match self {
            Outcome::Ok(_) => OutcomeKind::Ok,
            Outcome::Err(_) => OutcomeKind::Err,
            Outcome::Panicked(_) => OutcomeKind::Panicked,
            Outcome::TimedOut => OutcomeKind::TimedOut,
            Outcome::Cancelled => OutcomeKind::Cancelled,
        }
    }

    /// `true` for [`Outcome::Ok`].
    ///
    /// ```
    /// use gather::Outcome;
    /// assert!(Outcome::<u8, ()>::Ok(1).is_ok());
    /// ```
    pub fn is_ok(&self) -> bool {
        matches!(self, Outcome::Ok(_))
    }

    /// The value, if there is one.
    ///
    /// ```
    /// use gather::Outcome;
    /// assert_eq!(Outcome::<u8, ()>::Ok(1).ok(), Some(1));
    /// assert_eq!(Outcome::<u8, ()>::Cancelled.ok(), None);
    /// ```
    pub fn ok(self) -> Option<T> {
        match self {
            Outcome::Ok(v) => Some(v),
            _ => None,
        }
    }

    /// `true` for every outcome but [`Outcome::Ok`]: an error, a panic, a
    /// timeout or a cancellation.
    ///
    /// ```
    /// use gather::Outcome;
    /// assert!(Outcome::<u8, ()>::TimedOut.is_err());
    /// ```
    pub fn is_err(&self) -> bool {
        !self.is_ok()
    }

    /// The failure, if the child did not succeed: its own error, a panic,
    /// a timeout or a cancellation (Python's "the exception", with
    /// `return_exceptions=True`).
    ///
    /// ```
    /// use gather::{Failure, Outcome};
    /// assert_eq!(Outcome::<u8, &str>::Err("404").err(), Some(Failure::Error("404")));
    /// assert_eq!(Outcome::<u8, &str>::Ok(1).err(), None);
    /// ```
    pub fn err(self) -> Option<Failure<E>> {
        self.into_result().err()
    }

    /// The value.
    ///
    /// # Panics
    ///
    /// If the child did not succeed, with its failure in the message, as
    /// `Result::unwrap` does.
    ///
    /// ```
    /// use gather::Outcome;
    /// assert_eq!(Outcome::<u8, ()>::Ok(1).unwrap(), 1);
    /// ```
    #[track_caller]
    pub fn unwrap(self) -> T
    where
        E: fmt::Debug,
    {
        match self.into_result() {
            Ok(v) => v,
            Err(f) => panic!(
                "called `Outcome::unwrap()` on a child that {}",
                f.debug_words()
            ),
        }
    }

    /// The value.
    ///
    /// # Panics
    ///
    /// If the child did not succeed, with `message` and its failure.
    ///
    /// ```
    /// use gather::Outcome;
    /// assert_eq!(Outcome::<u8, ()>::Ok(1).expect("page 1"), 1);
    /// ```
    #[track_caller]
    pub fn expect(self, message: &str) -> T
    where
        E: fmt::Debug,
    {
        match self.into_result() {
            Ok(v) => v,
            Err(f) => panic!("{message}: the child {}", f.debug_words()),
        }
    }

    /// Splits the value from every kind of failure.
    ///
    /// ```
    /// use gather::{Failure, Outcome};
    /// assert_eq!(Outcome::<u8, ()>::TimedOut.into_result(), Err(Failure::TimedOut));
    /// ```
    pub fn into_result(self) -> Result<T, Failure<E>> {
        match self {
            Outcome::Ok(v) => Ok(v),
            Outcome::Err(e) => Err(Failure::Error(e)),
            Outcome::Panicked(p) => Err(Failure::Panicked(p)),
            Outcome::TimedOut => Err(Failure::TimedOut),
            Outcome::Cancelled => Err(Failure::Cancelled),
        }
    }

    /// Maps the value, keeping every failure as it is.
    ///
    /// ```
    /// use gather::Outcome;
    /// assert_eq!(Outcome::<u8, ()>::Ok(2).map(|v| v * 2), Outcome::Ok(4));
    /// ```
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Outcome<U, E> {
        match self {
            Outcome::Ok(v) => Outcome::Ok(f(v)),
            Outcome::Err(e) => Outcome::Err(e),
            Outcome::Panicked(p) => Outcome::Panicked(p),
            Outcome::TimedOut => Outcome::TimedOut,
            Outcome::Cancelled => Outcome::Cancelled,
        }
    }
}

/// The value as it is, or the failure as "error: ...", "panicked: ...",
/// "timed out" or "cancelled": what Python prints for a
/// `return_exceptions=True` result, value or exception, in one line.
///
/// ```
/// use gather::Outcome;
/// assert_eq!(Outcome::<u8, &str>::Ok(7).to_string(), "7");
/// assert_eq!(Outcome::<u8, &str>::Err("404").to_string(), "error: 404");
/// assert_eq!(Outcome::<u8, &str>::TimedOut.to_string(), "timed out");
/// ```
impl<T: fmt::Display, E: fmt::Display> fmt::Display for Outcome<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Ok(v) => v.fmt(f),
            Outcome::Err(e) => write!(f, "error: {e}"),
            Outcome::Panicked(p) => write!(f, "panicked: {}", p.message()),
            Outcome::TimedOut => f.write_str("timed out"),
            Outcome::Cancelled => f.write_str("cancelled"),
        }
    }
}

impl<T, E> From<Failure<E>> for Outcome<T, E> {
    fn from(f: Failure<E>) -> Self {
        match f {
            Failure::Error(e) => Outcome::Err(e),
            Failure::Panicked(p) => Outcome::Panicked(p),
            Failure::TimedOut => Outcome::TimedOut,
            Failure::Cancelled => Outcome::Cancelled,
        }
    }
}

/// What a child may return: a `Result<T, E>` or an [`Outcome<T, E>`].
///
/// Every operation in this crate accepts children whose output implements
/// this trait, so a plain `async { Ok::<_, MyError>(x) }` works, and so does
/// a [`Task`](crate::Task) (which reports panics and cancellation as an
/// `Outcome`). For a child that cannot fail, wrap it with
/// [`infallible`](crate::infallible).
///
/// # Examples
///
/// ```
/// use gather::{IntoOutcome, Outcome};
/// assert_eq!(Ok::<u8, ()>(1).into_outcome(), Outcome::Ok(1));
/// ```
#[diagnostic::on_unimplemented(
    message = "a child must return `Result<T, E>` or `gather::Outcome<T, E>`, not `{Self}`",
    label = "this child's future returns `{Self}`",
    note = "for a future that cannot fail, wrap it: `gather::infallible(fut)` (e.g. `gather(xs.map(|x| gather::infallible(double(x))))`)",
    note = "or return `Ok::<_, std::convert::Infallible>(value)` from the child"
)]
pub trait IntoOutcome {
    /// The value of a successful child.
    type Ok;
    /// The child's own error.
    type Err;
    /// Converts into an [`Outcome`].
    fn into_outcome(self) -> Outcome<Self::Ok, Self::Err>;
    /// Whether [`into_outcome`](IntoOutcome::into_outcome) would give
    /// `Outcome::Ok`, without converting.
    #[doc(hidden)]
    fn is_success(&self) -> bool {
        true
    }
}

impl<T, E> IntoOutcome for Result<T, E> {
    type Ok = T;
    type Err = E;
    #[inline]
    fn into_outcome(self) -> Outcome<T, E> {
        match self {
            Ok(v) => Outcome::Ok(v),
            Err(e) => Outcome::Err(e),
        }
    }
    #[inline]
    fn is_success(&self) -> bool {
        self.is_ok()
    }
}

impl<T, E> IntoOutcome for Outcome<T, E> {
    type Ok = T;
    type Err = E;
    #[inline]
    fn into_outcome(self) -> Outcome<T, E> {
        self
    }
    #[inline]
    fn is_success(&self) -> bool {
        self.is_ok()
    }
}

/// A caught panic: its message, and its payload to resume it with.
///
/// A panic inside a child never unwinds through the code awaiting the
/// gather; it comes back as [`Outcome::Panicked`] or as the gather's error.
/// Call [`Panic::resume`] to re-raise it where you choose.
///
/// # Examples
///
/// ```
/// use gather::Panic;
/// let p = Panic::from_payload(Box::new("oh no"));
/// assert_eq!(p.message(), "oh no");
/// assert_eq!(p.to_string(), "panic: oh no");
/// ```
pub struct Panic {
    // Boxed: an `Outcome` is stored per child, and a panic is rare, so it
    // should cost one pointer in every slot, not a String and a Mutex.
    inner: Box<PanicInner>,
}

struct PanicInner {
    message: String,
    // A Mutex so that `Panic` (and every error that carries one) is `Sync`,
    // as `Box<dyn Error + Send + Sync>` and anyhow require; the payload
    // itself is only `Send`.
    payload: Mutex<Option<Box<dyn Any + Send>>>,
}

impl Panic {
    /// Wraps the payload that `catch_unwind` or a `JoinError` returned.
    ///
    /// ```
    /// let payload = std::panic::catch_unwind(|| panic!("caught {}", 1)).unwrap_err();
    /// assert_eq!(gather::Panic::from_payload(payload).message(), "caught 1");
    /// ```
    pub fn from_payload(payload: Box<dyn Any + Send>) -> Panic {
        let message = if let Some(s) = payload.downcast_ref::<&'static str>() {
            (*s).to_owned()
        } else if let Some(s) = payload.downcast_ref::<String>() {
            s.clone()
        } else {
            "panic payload is not a string".to_owned()
        };
        Panic {
            inner: Box::new(PanicInner {
                message,
                payload: Mutex::new(Some(payload)),
            }),
        }
    }

    /// The panic's message (`"panic payload is not a string"` when the
    /// payload was neither `&str` nor `String`).
    ///
    /// ```
    /// assert_eq!(gather::Panic::from_payload(Box::new(42)).message(), "panic payload is not a string");
    /// ```
    pub fn message(&self) -> &str {
        &self.inner.message
    }

    /// Re-raises the panic on the current thread with its original payload.
    ///
    /// ```should_panic
    /// gather::Panic::from_payload(Box::new("again")).resume();
    /// ```
    pub fn resume(self) -> ! {
        let PanicInner { message, payload } = *self.inner;
        let payload = payload
            .into_inner()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .unwrap_or_else(|| Box::new(message));
        std::panic::resume_unwind(payload)
    }
}

impl PartialEq for Panic {
    /// Two panics are equal when their messages are.
    fn eq(&self, other: &Panic) -> bool {
        self.message() == other.message()
    }
}

impl fmt::Debug for Panic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Panic")
            .field("message", &self.message())
            .finish()
    }
}

impl fmt::Display for Panic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "panic: {}", self.message())
    }
}

impl std::error::Error for Panic {}
