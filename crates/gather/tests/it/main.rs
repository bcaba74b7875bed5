//! The library's integration tests, one binary: one module per operation
//! or behaviour, sharing `support`. (Apart, each file was a binary of its
//! own linking tokio: linking them one by one was most of the tests'
//! build time.) Tests that need a process of their own stay apart: those
//! with a counting global allocator (`deadline_input`, `driver_memory`,
//! `driver_release`, `stress`), the release-mode race test
//! (`driver_wake_races`) and `compile_fail`.

#[path = "../support/mod.rs"]
mod support;

mod as_completed;
mod cancel_late;
mod driver_fairness;
mod driver_wakers;
mod driver_wakeups;
mod examples;
mod executor;
mod executor_spans;
mod gather;
mod nothing_outlives;
mod panic_in_drop;
mod progress;
mod progress_endings;
mod progress_spans;
mod properties;
mod readme;
mod shield;
mod task_group;
mod tuple;
mod wait;
