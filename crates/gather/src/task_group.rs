//! [`TaskGroup`]: spawn children dynamically, wait for all, fail as a group.
//!
//! The Rust form of Python 3.11's `async with asyncio.TaskGroup() as tg:`.
//! The `async with` block becomes the body closure given to
//! [`TaskGroup::run`]; `tg.create_task(coro)` becomes
//! [`TaskGroup::spawn`].
//!
//! # Design
//!
//! Children are tokio tasks. The group does not keep their join handles:
//! each child carries a guard that tells the group when the child's future
//! is dropped, whether it finished or was aborted. The group keeps only an
//! abort handle per *running* child, removed the moment it ends, so a
//! finished child's memory is released at once, and `run` returns only when
//! every child's future is really gone: nothing outlives its group.
//!
//! All shared state (phase, running children, errors, the waker of `run`)
//! is behind one mutex: no atomics and no lock-free check, so every
//! ordering between children, `spawn`, `cancel` and `run` is the lock's.
//! Wakers and abort handles are called after it is released.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use tokio::runtime::Handle;
use tokio::task::{AbortHandle, JoinHandle};

use crate::child::Guarded;
use crate::outcome::{Failure, Outcome};

/// A group of tasks that succeed or fail together. See [`TaskGroup::run`].
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let out = gather::TaskGroup::<()>::run(|tg: gather::TaskGroup<()>| async move {
///     tg.spawn(async { Ok(()) }).unwrap();
///     Ok(1)
/// })
/// .await;
/// assert_eq!(out.unwrap(), Some(1));
/// # }
/// ```
///
/// The value handed to the body is a cheap, cloneable handle: move clones
/// into children so that they can spawn more.
pub struct TaskGroup<E> {
    shared: Arc<Shared<E>>,
}

impl<E> Clone for TaskGroup<E> {
    fn clone(&self) -> Self {
        TaskGroup {
            shared: self.shared.clone(),
        }
    }
}

impl<E> fmt::Debug for TaskGroup<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.shared.lock();
        f.debug_struct("TaskGroup")
            .field("phase", &state.phase)
            .field("running", &state.running.len())
            .field("errors", &state.errors.len())
            .finish()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Open,
    Failed,
    Cancelled,
    Closed,
}

struct Shared<E> {
    state: Mutex<State<E>>,
}

struct State<E> {
    phase: Phase,
    /// Set once every running child has been aborted. A failure does not
    /// abort at once: `run` does it at its next poll (see `report`).
    aborted: bool,
    /// Abort handles of running children, by id. `None` while the child
    /// is being spawned.
    running: HashMap<usize, Option<AbortHandle>>,
    spawned: usize,
    errors: Vec<(Option<usize>, Failure<E>)>,
    waker: Option<Waker>,
}

impl<E> Shared<E> {
    fn lock(&self) -> MutexGuard<'_, State<E>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Moves an open group to `phase` and aborts every child now (a
    /// cancellation, or `run` dropped). Returns whether the group was open.
    fn close_with(&self, phase: Phase) -> bool {
        let (was_open, handles, waker) = {
            let mut state = self.lock();
            let was_open = state.phase == Phase::Open;
            if was_open {
                state.phase = phase;
            }
            (
                was_open,
                Self::take_to_abort(&mut state),
                state.waker.take(),
            )
        };
        for h in handles {
            h.abort();
        }
        if let Some(w) = waker {
            w.wake();
        }
        was_open
    }

    /// The abort handles of every running child, unless that was done
    /// already; from then on `spawn` aborts a child it registers late.
    fn take_to_abort(state: &mut State<E>) -> Vec<AbortHandle> {
        if std::mem::replace(&mut state.aborted, true) {
            return Vec::new();
        }
        state.running.values().flatten().cloned().collect()
    }

    /// Aborts every running child if the group has failed and that is not
    /// done yet. Called by `run` after it gave the body its last poll.
    fn abort_after_failure(&self) {
        let handles = {
            let mut state = self.lock();
            if state.phase != Phase::Failed {
                return;
            }
            Self::take_to_abort(&mut state)
        };
        for h in handles {
            h.abort();
        }
    }

    /// Records a failure. The first one fails the group (no more spawns)
    /// and wakes `run`, which cancels the rest at its next poll rather than
    /// here, inside the failing child's task: as in Python, whose
    /// TaskGroup cancels from a done-callback that runs after the steps
    /// already scheduled, children (and the body) that fail in that same
    /// turn are reported too, on any runtime flavour.
    fn report(&self, child: Option<usize>, failure: Failure<E>) {
        if matches!(failure, Failure::Cancelled) {
            // A child that was merely cancelled does not fail the group.
            return;
        }
        let waker = {
            let mut state = self.lock();
            state.errors.push((child, failure));
            if state.phase == Phase::Open {
                state.phase = Phase::Failed;
                state.waker.take()
            } else {
                None
            }
        };
        if let Some(w) = waker {
            w.wake();
        }
    }

    fn wake(state: &mut State<E>) {
        if let Some(w) = state.waker.take() {
            w.wake();
        }
    }
}

/// Tells the group a child's future is gone, however it went.
struct ChildGuard<E> {
    shared: Arc<Shared<E>>,
    id: usize,
}

impl<E> Drop for ChildGuard<E> {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        state.running.remove(&self.id);
        if state.running.is_empty() {
            Shared::wake(&mut state);
        }
    }
}

/// Why [`TaskGroup::spawn`] refused a child.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use gather::{SpawnError, TaskGroup};
/// TaskGroup::<()>::run(|tg| async move {
///     tg.cancel();
///     assert_eq!(tg.spawn(async { Ok(()) }).unwrap_err(), SpawnError::Cancelled);
///     Ok(())
/// })
/// .await
/// .unwrap();
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpawnError {
    /// A child (or the body) failed; the group is shutting down.
    Failed,
    /// The group was cancelled.
    Cancelled,
    /// The group has finished.
    Finished,
    /// There is no tokio runtime on this thread to spawn on.
    NoRuntime,
}

impl SpawnError {
    fn message(self) -> &'static str {
        match self {
            SpawnError::Failed => "cannot spawn into a task group that has failed",
            SpawnError::Cancelled => "cannot spawn into a task group that was cancelled",
            SpawnError::Finished => "cannot spawn into a task group that has finished",
            SpawnError::NoRuntime => "cannot spawn a task group child outside a tokio runtime",
        }
    }
}

impl fmt::Display for SpawnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for SpawnError {}

/// So that `tg.spawn(child)?` works in a body whose error is a `String`
/// (`Box<dyn Error>` and `anyhow::Error` take any `Error` already).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let out = gather::TaskGroup::<String>::run(|tg| async move {
///     tg.spawn(async { Ok(1) })?;
///     Ok(())
/// })
/// .await;
/// assert!(out.is_ok());
/// # }
/// ```
impl From<SpawnError> for String {
    fn from(e: SpawnError) -> String {
        e.to_string()
    }
}

/// So that `tg.spawn(child)?` works in a body whose error is a `&str`.
impl From<SpawnError> for &'static str {
    fn from(e: SpawnError) -> &'static str {
        e.message()
    }
}

/// Every error a [`TaskGroup`] saw, in the order they happened: Python's
/// `ExceptionGroup`.
///
/// Each entry names the child by spawn order (`None` for the body).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let err = gather::TaskGroup::<&str>::run(|tg| async move {
///     tg.spawn(async { Err::<(), _>("child") }).unwrap();
///     Ok(())
/// })
/// .await
/// .unwrap_err();
/// assert_eq!(err.len(), 1);
/// assert!(!err.is_empty());
/// assert_eq!(err.errors()[0], (Some(0), gather::Failure::Error("child")));
/// assert_eq!(err.into_errors().len(), 1);
/// # }
/// ```
pub struct ErrorGroup<E> {
    errors: Vec<(Option<usize>, Failure<E>)>,
}

impl<E> ErrorGroup<E> {
    /// The errors, each with the index of the child (in spawn order) or
    /// `None` for the body.
    pub fn errors(&self) -> &[(Option<usize>, Failure<E>)] {
        &self.errors
    }

    /// The errors, by value.
    pub fn into_errors(self) -> Vec<(Option<usize>, Failure<E>)> {
        self.errors
    }

    /// How many errors there were (at least one).
    pub fn len(&self) -> usize {
        self.errors.len()
    }

    /// Always `false`: a group error holds at least one error.
    pub fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }
}

impl<E: fmt::Debug> fmt::Debug for ErrorGroup<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ErrorGroup")
            .field("errors", &self.errors)
            .finish()
    }
}

impl<E: fmt::Display> fmt::Display for ErrorGroup<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.errors.len();
        write!(
            f,
            "task group failed with {n} error{}",
            if n == 1 { "" } else { "s" }
        )?;
        for (i, (child, failure)) in self.errors.iter().enumerate() {
            f.write_str(if i == 0 { ": " } else { "; " })?;
            match child {
                Some(c) => write!(f, "child {c} {failure}")?,
                None => write!(f, "body {failure}")?,
            }
        }
        Ok(())
    }
}

/// An error for any child error that can be shown (`String` and `anyhow`
/// included); every error is in the message, the first one's panic (if it
/// was one) is the source.
impl<E: fmt::Debug + fmt::Display> std::error::Error for ErrorGroup<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self.errors.first() {
            Some((_, Failure::Panicked(p))) => Some(p),
            _ => None,
        }
    }
}

/// A handle to one child of a [`TaskGroup`]; awaiting it yields the
/// child's value, or `None` if it failed (its error is in the group's
/// [`ErrorGroup`]) or was cancelled.
///
/// Dropping it does not cancel the child: the group owns its children.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// gather::TaskGroup::<()>::run(|tg| async move {
///     let t: gather::GroupTask<u8> = tg.spawn(async { Ok(3) }).unwrap();
///     assert_eq!(t.await, Some(3));
///     Ok(())
/// })
/// .await
/// .unwrap();
/// # }
/// ```
#[derive(Debug)]
pub struct GroupTask<T> {
    handle: JoinHandle<Option<T>>,
}

impl<T> GroupTask<T> {
    /// Cancels this one child, as Python's `task.cancel()`. A child that is
    /// merely cancelled does not fail its group.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let out = gather::TaskGroup::<()>::run(|tg| async move {
    ///     let t = tg.spawn(std::future::pending::<Result<(), ()>>()).unwrap();
    ///     t.abort();
    ///     assert_eq!(t.await, None);
    ///     Ok("the group is fine")
    /// })
    /// .await;
    /// assert_eq!(out.unwrap(), Some("the group is fine"));
    /// # }
    /// ```
    pub fn abort(&self) {
        self.handle.abort();
    }
}

impl<T> Future for GroupTask<T> {
    type Output = Option<T>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        Pin::new(&mut self.handle)
            .poll(cx)
            .map(|r| r.ok().flatten())
    }
}

impl<E: Send + 'static> TaskGroup<E> {
    /// Runs `body` with a new group, then waits for every child spawned into
    /// it (including children spawned by children).
    ///
    /// - The first real failure (an error, a panic) of a child or of the body
    ///   cancels every other child and the body at the group's next turn
    ///   (the `run` future's next poll, which the failure wakes), not from
    ///   inside the failing child: children already scheduled, and the
    ///   body's step, run first, as in Python 3.11, whose TaskGroup cancels
    ///   from a done-callback. `run` then returns an [`ErrorGroup`] of
    ///   *every* failure that happened before the cancellation took effect,
    ///   on every runtime flavour.
    /// - A child that was merely cancelled does not fail the group.
    /// - [`cancel`](TaskGroup::cancel) stops everything early without an
    ///   error: `run` returns `Ok(None)` if the body had not finished,
    ///   `Ok(Some(value))` if it had.
    ///
    /// # Cancellation
    ///
    /// Awaited to its end (a value, an error, a cancel), `run` returns only
    /// after every child's future is gone: nothing outlives its group.
    /// Dropping the `run` future cannot wait: it drops the body and aborts
    /// every child, and each child stops at its next `.await` on whichever
    /// worker runs it next (one in the middle of a blocking step finishes
    /// that step first). Use [`cancel`](TaskGroup::cancel) and await `run`
    /// to know when they are gone.
    ///
    /// # Examples
    ///
    /// ```
    /// use gather::TaskGroup;
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let total = TaskGroup::<String>::run(|tg| async move {
    ///     let a = tg.spawn(async { Ok(1) }).unwrap();
    ///     let b = tg.spawn(async { Ok(2) }).unwrap();
    ///     Ok(a.await.unwrap_or(0) + b.await.unwrap_or(0))
    /// })
    /// .await
    /// .unwrap();
    /// assert_eq!(total, Some(3));
    ///
    /// // The first failure cancels the rest, at the group's next turn:
    /// // children that fail before then (here the second, already
    /// // scheduled, as in Python) are reported too.
    /// let err = TaskGroup::<String>::run(|tg| async move {
    ///     tg.spawn(async { Err::<(), _>("first".to_string()) }).unwrap();
    ///     tg.spawn(async { Err::<(), _>("second".to_string()) }).unwrap();
    ///     Ok(())
    /// })
    /// .await
    /// .unwrap_err();
    /// assert_eq!(
    ///     err.to_string(),
    ///     "task group failed with 2 errors: child 0 failed: first; child 1 failed: second"
    /// );
    /// # }
    /// ```
    pub async fn run<B, Fut, R>(body: B) -> Result<Option<R>, ErrorGroup<E>>
    where
        B: FnOnce(TaskGroup<E>) -> Fut,
        Fut: Future<Output = Result<R, E>>,
    {
        let group = TaskGroup {
            shared: Arc::new(Shared {
                state: Mutex::new(State {
                    phase: Phase::Open,
                    aborted: false,
                    running: HashMap::new(),
                    spawned: 0,
                    errors: Vec::new(),
                    waker: None,
                }),
            }),
        };
        // Dropping `run` early aborts every child.
        struct AbortOnDrop<E>(Arc<Shared<E>>);
        impl<E> Drop for AbortOnDrop<E> {
            fn drop(&mut self) {
                self.0.close_with(Phase::Cancelled);
            }
        }
        let _abort = AbortOnDrop(group.shared.clone());

        let mut body = Some(Box::pin(Guarded::new(body(group.clone()), None, 0, false)));
        let mut value = None;
        std::future::poll_fn(|cx| {
            let phase = || group.shared.lock().phase;
            // The body runs while the group is open, and gets one last poll
            // when a failure has not been acted on yet: its step was
            // scheduled in the same turn, as in Python, so an error it
            // raises there is reported beside the child's.
            let may_run = {
                let state = group.shared.lock();
                state.phase == Phase::Open || (state.phase == Phase::Failed && !state.aborted)
            };
            if let Some(b) = &mut body {
                if may_run {
                    if let Poll::Ready(outcome) = b.as_mut().poll(cx) {
                        body = None;
                        match outcome.into_result() {
                            Ok(v) => value = Some(v),
                            Err(f) => group.shared.report(None, f),
                        }
                    }
                }
            }
            // Checked after the poll too: the body may have failed or
            // cancelled its own group. Dropped outside the lock, since its
            // drop may touch the group.
            if body.is_some() && phase() != Phase::Open {
                body = None;
            }
            // A failure takes effect now: every other child is aborted.
            group.shared.abort_after_failure();
            let mut state = group.shared.lock();
            if body.is_none() && state.running.is_empty() {
                return Poll::Ready(());
            }
            state.waker = Some(cx.waker().clone());
            Poll::Pending
        })
        .await;

        let mut state = group.shared.lock();
        if state.phase == Phase::Open {
            state.phase = Phase::Closed;
        }
        let errors = std::mem::take(&mut state.errors);
        if errors.is_empty() {
            Ok(value)
        } else {
            Err(ErrorGroup { errors })
        }
    }

    /// Spawns `child` into the group, as Python's `tg.create_task`.
    ///
    /// Returns a [`GroupTask`] to await the child's value, or a
    /// [`SpawnError`] if the group has failed, was cancelled or has finished
    /// (never a panic).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// gather::TaskGroup::<std::io::Error>::run(|tg| async move {
    ///     let child = tg.spawn(async { Ok("from a child") }).expect("the group is open");
    ///     assert_eq!(child.await, Some("from a child"));
    ///     Ok(())
    /// })
    /// .await
    /// .unwrap();
    /// # }
    /// ```
    pub fn spawn<F, T>(&self, child: F) -> Result<GroupTask<T>, SpawnError>
    where
        F: Future<Output = Result<T, E>> + Send + 'static,
        T: Send + 'static,
    {
        let runtime = Handle::try_current().map_err(|_| SpawnError::NoRuntime)?;
        let id = {
            let mut state = self.shared.lock();
            match state.phase {
                Phase::Open => {}
                Phase::Failed => return Err(SpawnError::Failed),
                Phase::Cancelled => return Err(SpawnError::Cancelled),
                Phase::Closed => return Err(SpawnError::Finished),
            }
            let id = state.spawned;
            state.spawned += 1;
            // Reserved before the spawn; the abort handle is filled in below.
            state.running.insert(id, None);
            id
        };
        // Created outside the task so that it runs even if the task is
        // dropped before its first poll.
        let guard = ChildGuard {
            shared: self.shared.clone(),
            id,
        };
        let shared = self.shared.clone();
        let handle = runtime.spawn(async move {
            let _guard = guard;
            match Guarded::new(child, None, id, true).await {
                Outcome::Ok(v) => Some(v),
                other => {
                    if let Err(f) = other.into_result() {
                        shared.report(Some(id), f);
                    }
                    None
                }
            }
        });
        let abort = handle.abort_handle();
        let mut state = self.shared.lock();
        if let Some(slot) = state.running.get_mut(&id) {
            *slot = Some(abort.clone());
            if state.aborted {
                // The group aborted its children while this one was being
                // spawned, before its handle was here to be found.
                drop(state);
                abort.abort();
            }
        }
        Ok(GroupTask { handle })
    }

    /// Cancels the group early, without an error: every child is aborted
    /// and the body dropped; [`run`](TaskGroup::run) returns `Ok`. Returns
    /// `false` if the group had already failed, been cancelled or finished.
    ///
    /// ```
    /// use std::time::Duration;
    /// use gather::TaskGroup;
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// let out = TaskGroup::<()>::run(|tg| async move {
    ///     tg.spawn(async {
    ///         tokio::time::sleep(Duration::from_secs(3600)).await;
    ///         Ok(())
    ///     })
    ///     .unwrap();
    ///     assert!(tg.cancel());
    ///     std::future::pending::<Result<(), ()>>().await
    /// })
    /// .await;
    /// assert!(matches!(out, Ok(None)));
    /// # }
    /// ```
    pub fn cancel(&self) -> bool {
        self.shared.close_with(Phase::Cancelled)
    }

    /// Children currently running.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// gather::TaskGroup::<()>::run(|tg| async move {
    ///     tg.spawn(std::future::pending::<Result<(), ()>>()).unwrap();
    ///     assert_eq!(tg.running(), 1);
    ///     tg.cancel();
    ///     Ok(())
    /// })
    /// .await
    /// .unwrap();
    /// # }
    /// ```
    pub fn running(&self) -> usize {
        self.shared.lock().running.len()
    }
}
