//! The errors a gather ends with.
//!
//! A fail-fast gather that stops early still owns the results of the
//! children that had already finished. [`GatherError`] keeps them
//! ([`GatherError::into_partial`]), so an overall timeout or a late failure
//! never throws away work that is done.

use std::fmt;

use crate::outcome::{Failure, OutcomeKind};

/// Why a fail-fast [`gather`](crate::gather()) ended without every value.
///
/// It names the child that caused it ([`index`](GatherError::index), `None`
/// when the whole gather timed out or was cancelled), what went wrong
/// ([`failure`](GatherError::failure)), and keeps the values of the children
/// that had already finished ([`into_partial`](GatherError::into_partial)).
///
/// # Examples
///
/// ```
/// use gather::{gather, Failure};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let err = gather((0..3).map(|i| async move {
///     if i == 1 { Err(format!("child {i} said no")) } else { Ok(i) }
/// }))
/// .await
/// .unwrap_err();
/// assert_eq!(err.index(), Some(1));
/// assert!(matches!(err.failure(), Failure::Error(m) if m == "child 1 said no"));
/// assert_eq!(err.to_string(), "child 1 failed: child 1 said no");
/// assert_eq!(err.into_partial(), vec![Some(0), None, None]);
/// # }
/// ```
pub struct GatherError<E, T = ()> {
    index: Option<usize>,
    failure: Failure<E>,
    partial: Vec<Option<T>>,
}

impl<E, T> GatherError<E, T> {
    pub(crate) fn new(index: Option<usize>, failure: Failure<E>, partial: Vec<Option<T>>) -> Self {
        GatherError {
            index,
            failure,
            partial,
        }
    }

    /// The input position of the child that failed; `None` when the gather
    /// as a whole timed out or was cancelled.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let err = gather::gather((0..2).map(|i| async move { if i == 1 { Err("two") } else { Ok(i) } }))
    ///     .await
    ///     .unwrap_err();
    /// assert_eq!(err.index(), Some(1));
    /// # }
    /// ```
    pub fn index(&self) -> Option<usize> {
        self.index
    }

    /// What went wrong.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let err = gather::gather([async { Err::<(), _>("no") }]).await.unwrap_err();
    /// assert_eq!(err.failure(), &gather::Failure::Error("no"));
    /// # }
    /// ```
    pub fn failure(&self) -> &Failure<E> {
        &self.failure
    }

    /// The kind of failure, for quick tests.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let err = gather::gather([async { Err::<(), _>("no") }]).await.unwrap_err();
    /// assert_eq!(err.kind(), gather::OutcomeKind::Err);
    /// # }
    /// ```
    pub fn kind(&self) -> OutcomeKind {
        self.failure.kind()
    }

    /// `true` when the gather (or the child at [`index`](Self::index)) timed out.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// let err = gather::gather([std::future::pending::<Result<(), ()>>()])
    ///     .timeout(std::time::Duration::from_secs(1))
    ///     .await
    ///     .unwrap_err();
    /// assert!(err.is_timeout());
    /// # }
    /// ```
    pub fn is_timeout(&self) -> bool {
        matches!(self.failure, Failure::TimedOut)
    }

    /// `true` when the gather was cancelled through its
    /// [`CancelHandle`](crate::CancelHandle) (or a child was cancelled).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let err = gather::gather([async { gather::Outcome::<(), ()>::Cancelled }]).await.unwrap_err();
    /// assert!(err.is_cancelled());
    /// # }
    /// ```
    pub fn is_cancelled(&self) -> bool {
        matches!(self.failure, Failure::Cancelled)
    }

    /// The failure, by value (the child's error is `Failure::Error(e)`).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let err = gather::gather([async { Err::<(), _>(String::from("no")) }]).await.unwrap_err();
    /// let gather::Failure::Error(message) = err.into_failure() else { unreachable!() };
    /// assert_eq!(message, "no");
    /// # }
    /// ```
    pub fn into_failure(self) -> Failure<E> {
        self.failure
    }

    /// The values of the children that had finished before the gather
    /// stopped, by input position; `None` for every other child. Its length
    /// is the number of inputs when the input knows its length (a `Vec`,
    /// array, slice or range does), else the number of children started.
    pub fn into_partial(self) -> Vec<Option<T>> {
        self.partial
    }

    /// How many children had finished with a value.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let err = gather::gather((0..2).map(|i| async move { if i == 1 { Err("no") } else { Ok(i) } }))
    ///     .await
    ///     .unwrap_err();
    /// assert_eq!(err.finished(), 1);
    /// # }
    /// ```
    pub fn finished(&self) -> usize {
        self.partial.iter().filter(|v| v.is_some()).count()
    }
}

impl<E: fmt::Debug, T> fmt::Debug for GatherError<E, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GatherError")
            .field("index", &self.index)
            .field("failure", &self.failure)
            .field("finished", &self.finished())
            .finish()
    }
}

impl<E: fmt::Display, T> fmt::Display for GatherError<E, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.index, &self.failure) {
            (Some(i), failure) => write!(f, "child {i} {failure}"),
            (None, Failure::TimedOut) => write!(
                f,
                "gather timed out with {} of {} children finished",
                self.finished(),
                self.partial.len()
            ),
            (None, failure) => write!(f, "gather {failure}"),
        }
    }
}

/// An error for any child error that can be shown: `String`, `&str`,
/// `anyhow::Error` and `Box<dyn Error>` included, so `?` works in a `main`
/// that returns `Result<(), Box<dyn Error>>`. The child's error is in the
/// message ("child 1 failed: page 13: 404") and in
/// [`failure`](GatherError::failure); `source()` is the caught panic, if
/// that is what ended the gather.
///
/// ```
/// fn main() -> Result<(), Box<dyn std::error::Error>> {
///     # let rt = tokio::runtime::Builder::new_current_thread().build()?;
///     # rt.block_on(async {
///     let r = gather::gather([async { Err::<u8, String>("page 13: 404".into()) }]).await;
///     let err: Box<dyn std::error::Error> = r.unwrap_err().into();
///     assert_eq!(err.to_string(), "child 0 failed: page 13: 404");
///     # });
///     Ok(())
/// }
/// ```
impl<E: fmt::Debug + fmt::Display, T> std::error::Error for GatherError<E, T> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.failure {
            Failure::Panicked(p) => Some(p),
            _ => None,
        }
    }
}

/// The operation was cancelled through its [`CancelHandle`](crate::CancelHandle).
///
/// A `return_exceptions` gather that is cancelled ends with this error
/// rather than a list of outcomes, as Python's does.
///
/// # Examples
///
/// ```
/// assert_eq!(gather::Cancelled.to_string(), "cancelled");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Cancelled;

impl fmt::Display for Cancelled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("cancelled")
    }
}

impl std::error::Error for Cancelled {}
