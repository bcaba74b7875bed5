//! Python's `asyncio.gather()` family for Rust, on tokio.
#![warn(missing_docs)]
#![forbid(unsafe_code)]

mod cancel;
mod child;
mod driver;
mod error;
mod gather;
mod outcome;
mod progress;
mod task;

pub use crate::cancel::CancelHandle;
pub use crate::child::{InPlace, Launch, Spawned};
pub use crate::error::{Cancelled, GatherError};
pub use crate::gather::{gather, FailFast, Gather, ReturnExceptions};
pub use crate::outcome::{Failure, IntoOutcome, Outcome, OutcomeKind, Panic};
pub use crate::progress::{Event, EventKind};
pub use crate::task::{infallible, spawn, AlwaysOk, Task};
