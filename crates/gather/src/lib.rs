//! Python's `asyncio.gather()` family for Rust, on tokio.
//!
//! Start many futures at once, get every result back **in input order**,
//! and choose what a failure does: end the gather (the default), or let
//! every child finish and get each error back as a value
//! ([`return_exceptions`](future::Gather::return_exceptions)). Panics, timeouts and
//! cancellations are values too, never crashes.
//!
//! ```
//! use std::time::Duration;
//! use gather::{gather, Outcome};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
//! async fn fetch(page: u32) -> Result<String, String> {
//!     tokio::time::sleep(Duration::from_millis(100)).await; // some I/O
//!     if page == 13 { Err(format!("page {page}: 404")) } else { Ok(format!("page {page}")) }
//! }
//!
//! // All three run at once: about 100 ms in total, not 300.
//! let pages = gather([1, 2, 3].map(fetch)).await.unwrap();
//! assert_eq!(pages, ["page 1", "page 2", "page 3"]);
//!
//! // Fail-fast: the first error ends the gather and names the child.
//! let err = gather([1, 13, 3].map(fetch)).await.unwrap_err();
//! assert_eq!(err.index(), Some(1));
//! assert_eq!(err.to_string(), "child 1 failed: page 13: 404");
//!
//! // return_exceptions: every child finishes; errors come back as values.
//! let all = gather([1, 13, 3].map(fetch)).return_exceptions().await.unwrap();
//! assert_eq!(all[1], Outcome::Err("page 13: 404".to_string()));
//!
//! // At most 2 at a time, each at most 1 s, the whole at most 10 s.
//! let pages = gather((1..=10).map(fetch))
//!     .limit(2)
//!     .timeout_each(Duration::from_secs(1))
//!     .timeout(Duration::from_secs(10))
//!     .await
//!     .unwrap();
//! assert_eq!(pages.len(), 10);
//! # }
//! ```
//!
//! That is all a first program needs: [`gather()`] and its builder methods,
//! [`GatherError`] (an `Error` whenever the children's error is `Debug +
//! Display`, so `?` works in a `main` returning `Box<dyn Error>`), and
//! [`Outcome`] for `return_exceptions`. A child that cannot fail is wrapped
//! in [`infallible`]; blocking or CPU-heavy work goes through
//! [`to_thread`]. The rest, by what you need next:
//!
//! - more control over when to stop: [`wait()`], [`as_completed()`],
//!   [`TaskGroup`], [`shield()`], [`CancelHandle`], [`spawn()`];
//! - the futures these return, to store or name them: [`future`];
//! - a progress bar: [`progress`]; a pool of one thread per core:
//!   [`executor`].
//!
//! # From asyncio to `gather`
//!
//! | asyncio | `gather` | ordering | cancellation | panics |
//! |---|---|---|---|---|
//! | `await gather(*aws)` | [`gather(aws).await`](gather()) → `Result<Vec<T>, GatherError>` | input order | dropping cancels every child; first error cancels siblings | the gather's error |
//! | `gather(*aws, return_exceptions=True)` | [`gather(aws).return_exceptions()`](future::Gather::return_exceptions) → `Vec<Outcome>` | input order | dropping cancels every child | [`Outcome::Panicked`] |
//! | `gather(...)` with tasks (parallel) | [`.spawn()`](future::Gather::spawn) | input order | every task aborted on drop | as above |
//! | `gather(...)` keeping siblings on error | [`.spawn().keep_siblings()`](future::Gather::keep_siblings) | input order | siblings detached on first error | as above |
//! | `Semaphore` around each child | [`.limit(n)`](future::Gather::limit) | input order | unstarted children never start | as above |
//! | `wait_for(aw, t)` per child | [`.timeout_each(t)`](future::Gather::timeout_each) | input order | the child is dropped at `t` | as above |
//! | `timeout(t)` around `gather` | [`.timeout(t)`](future::Gather::timeout) | input order | unfinished children dropped, **finished results kept** | as above |
//! | `fut.cancel()` | [`CancelHandle::cancel`] | - | returns `false` once done | - |
//! | `wait(aws, return_when=...)` | [`wait(aws, ReturnWhen::...)`](wait()) → `(done, pending)` | completion order, with indices | a timeout cancels nothing; **dropping `pending` cancels it** | [`Outcome::Panicked`] in `done` |
//! | `as_completed(aws, timeout=t)` | [`as_completed(aws).timeout(t)`](as_completed()) stream of `(index, Outcome)` | completion order | dropping cancels; timeout yields the rest as `TimedOut` | [`Outcome::Panicked`] |
//! | `shield(aw)` | [`shield(aw)`](shield()) | - | dropping the outer leaves the inner running | [`Outcome::Panicked`] |
//! | `async with TaskGroup() as tg` | [`TaskGroup::run(\|tg\| ...)`](TaskGroup::run) | spawn order | first error cancels siblings and body | in the [`ErrorGroup`] |
//! | `tg.create_task(coro)` | [`tg.spawn(fut)`](TaskGroup::spawn) | - | owned by the group | as above |
//! | `asyncio.to_thread(f)` | [`to_thread(f)`](to_thread()) → `Result<T, Panic>`; [`try_to_thread`] for fallible `f` | - | awaiting side returns at once; thread finishes | `Err(Panic)` / [`Outcome::Panicked`] |
//! | `run_in_executor(pool, f)` | [`CpuPool::spawn`](executor::CpuPool::spawn), [`spawn_cpu`](executor::spawn_cpu) | - | skipped if not started | as above |
//! | `create_task(coro)` | [`spawn(fut)`](spawn()) → [`Task`] | - | **aborted on drop** (`.detach()` to keep) | [`Outcome::Panicked`] |
//! | `gather(a, b, c)` of different types | [`gather!(a, b, c)`](gather!) → `Result<(A, B, C), GatherError>`; `.return_exceptions()` → `(Outcome, ..)` | argument order | first error drops the siblings; dropping cancels | the gather's error / [`Outcome::Panicked`] |
//!
//! See [`asyncio_guide`] for the side-by-side guide and every deliberate
//! difference from Python.
//!
//! # One vocabulary for every operation
//!
//! The builders use the same words wherever they mean the same thing:
//!
//! | word | [`gather()`] | [`as_completed()`] | [`wait()`] | [`gather!`] |
//! |---|---|---|---|---|
//! | `limit(n)` | yes | yes | yes | - |
//! | `timeout(t)` (overall, from the first poll) | yes | yes | yes | - |
//! | `timeout_each(t)` | yes | yes | yes | - |
//! | `on_event(f)` | yes | yes | yes | - |
//! | `spawn()` | yes | yes | yes | - |
//! | `cancel_handle()` | yes | yes | - | - |
//! | `return_exceptions()` | yes | - | - | yes |
//! | `keep_siblings()` (after `spawn()`) | yes | - | - | - |
//!
//! Where a word is missing, it would not mean anything: `as_completed` and
//! `wait` always hand failures back as values (there is nothing to
//! *return* as exceptions) and never end on a child's failure (no siblings
//! to keep); `wait` is cancelled through what it returns
//! ([`Pending::cancel`](future::Pending::cancel), or dropping it), since a
//! handle on the `Wait` would stop only the waiting. The tuple form has a
//! few children of different types, fixed at compile time: the limits,
//! timeouts and events of the list forms are for many children, and its
//! children run in place (they may borrow).
//!
//! # Children
//!
//! A child is any future whose output is a `Result<T, E>` or an
//! [`Outcome<T, E>`] (see [`IntoOutcome`]); wrap a future that cannot fail
//! with [`infallible`]. By default children run **in place**: polled inside
//! the gather's own future, so they may borrow local data, need not be
//! `Send`, and run on any executor (timeouts need tokio's timer). With
//! [`.spawn()`](future::Gather::spawn) they are tokio tasks running in parallel on
//! worker threads; the results are the same, in the same order.
//!
//! # Progress and tracing
//!
//! [`Gather::on_event`](future::Gather::on_event) reports each child's start and end with running
//! counts (see [`Event`](progress::Event)). With the `tracing` feature each child is polled
//! inside a `gather.child` span carrying its `index`.
//!
//! # Performance
//!
//! Only children that were woken are polled (per-child wakers feeding a
//! ready queue), and they are polled before new children start, so
//! finished children free their slots for the next inputs. Children live
//! pinned in chunks of 64 beside one shared block of their wakers: no
//! allocation per child. Finished children are dropped at once, and with
//! [`limit`](future::Gather::limit) children start lazily; the cost per child does
//! not grow with the number of children. When tokio's cooperative budget is
//! spent the whole gather yields once, so a huge gather stays fair to the
//! other tasks on its thread.
#![warn(missing_docs)]
// `unsafe` is allowed in two modules only, where the benchmarks show it
// pays: `wake` (wakers built by hand, sixty-four to an allocation) and
// `slab` (children pinned in chunks). Each block says why it is sound.
#![deny(unsafe_code)]
#![warn(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]

mod as_completed;
mod cancel;
mod child;
mod deadline;
mod driver;
mod error;
pub mod executor;
mod gather;
mod outcome;
pub mod progress;
mod shield;
mod slab;
mod sync;
mod task;
mod task_group;
mod tuple;
mod wait;
mod wake;
mod watch;

pub use crate::as_completed::as_completed;
pub use crate::cancel::CancelHandle;
pub use crate::error::{Cancelled, GatherError};
pub use crate::executor::{to_thread, try_to_thread};
pub use crate::gather::gather;
pub use crate::outcome::{Failure, IntoOutcome, Outcome, OutcomeKind, Panic};
pub use crate::shield::shield;
pub use crate::task::{infallible, spawn, Task};
pub use crate::task_group::{ErrorGroup, GroupTask, SpawnError, TaskGroup};
pub use crate::wait::{wait, ReturnWhen};

pub mod future {
    //! The futures and streams the functions return, and how they run their
    //! children: types you name only to store one or to write a generic
    //! signature.
    //!
    //! [`gather()`](crate::gather()) returns a [`Gather`], whose mode
    //! ([`FailFast`] or [`ReturnExceptions`]) and launch ([`InPlace`] or
    //! [`Spawned`], through the sealed [`Launch`]) are type parameters;
    //! [`wait()`](crate::wait()) returns a [`Wait`] that resolves to the `done`
    //! list and a [`Pending`] set; [`as_completed()`](crate::as_completed())
    //! an [`AsCompleted`] stream; [`gather!`](crate::gather!) a
    //! [`TupleGather`]; [`shield()`](crate::shield()) a [`Shield`];
    //! [`infallible()`](crate::infallible()) an [`AlwaysOk`].
    //!
    //! ```
    //! use std::future::Ready;
    //! use gather::future::{FailFast, Gather, InPlace};
    //!
    //! type Pages = std::array::IntoIter<Ready<Result<u32, String>>, 2>;
    //!
    //! // A gather kept in a struct field, to be awaited later.
    //! struct Job {
    //!     pages: Gather<Pages, InPlace, FailFast>,
    //! }
    //! # #[tokio::main(flavor = "current_thread")] async fn main() {
    //! let job = Job { pages: gather::gather([std::future::ready(Ok(1)), std::future::ready(Ok(2))]) };
    //! assert_eq!(job.pages.await.unwrap(), [1, 2]);
    //! # }
    //! ```

    pub use crate::as_completed::AsCompleted;
    pub use crate::child::{InPlace, Launch, Spawned};
    pub use crate::gather::{FailFast, Gather, ReturnExceptions};
    pub use crate::shield::Shield;
    pub use crate::task::AlwaysOk;
    pub use crate::tuple::TupleGather;
    pub use crate::wait::{IntoPending, Pending, Wait};
}

// The guide for Python users, published with the crate's docs; every
// Rust snippet in it runs as a doctest, so it cannot drift from the API.
#[doc = include_str!("../docs/asyncio.md")]
pub mod asyncio_guide {}

#[doc(hidden)]
pub mod __private {
    pub use crate::cancel::CancelState;
    pub use crate::tuple::Slot;
}
