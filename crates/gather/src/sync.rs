//! The synchronisation the wake-up path and the cancel handle use: std's,
//! or under `--cfg gather_loom` the loom model checker's, so that the tests
//! in [`wake`](crate::wake) and [`watch`](crate::watch) can explore every
//! interleaving of wakers and the driver, and of tasks ending against a
//! gather's `cancel()` (`RUSTFLAGS="--cfg gather_loom" cargo test -p gather --lib --release loom`).
//!
//! The reference count of a block of wakers is one of these atomics, so the
//! model covers it. `Arc` stays std's in both: `Waker::from` needs a std
//! `Arc`, and the queue's `Arc` is not what the model checks.

#[cfg(gather_loom)]
pub(crate) use loom::sync::atomic::{fence, AtomicBool, AtomicU8, AtomicUsize, Ordering};
#[cfg(gather_loom)]
pub(crate) use loom::sync::Mutex;

#[cfg(not(gather_loom))]
pub(crate) use std::sync::atomic::{fence, AtomicBool, AtomicU8, AtomicUsize, Ordering};
#[cfg(not(gather_loom))]
pub(crate) use std::sync::Mutex;

/// Locks, ignoring poisoning: nothing in the wake-up path can panic while
/// holding the lock.
#[cfg(not(gather_loom))]
pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(gather_loom)]
pub(crate) fn lock<T>(m: &Mutex<T>) -> loom::sync::MutexGuard<'_, T> {
    m.lock().unwrap()
}
