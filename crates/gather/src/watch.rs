//! How a [`Task`](crate::Task) given to a gather as a child tells the
//! gather that it finished, so that a late `cancel()` sees a done gather.
//!
//! A spawned task runs on its own: every child of a gather of `Task`s can
//! finish while nobody polls the gather. Python's `gather(...).cancel()`
//! then returns `False` and the results are delivered, because it asks the
//! children themselves. Our [`CancelHandle`](crate::CancelHandle) cannot
//! reach the children (they live inside the gather's future, on another
//! thread), so the children come to it instead: the gather counts its
//! unfinished children in its [`CancelState`], and a `Task` that the gather
//! polls *as a child* hands the gather its [`Report`], through which the
//! task's own future settles its count the moment it ends, on whichever
//! thread runs it.
//!
//! The hand-over needs no new API: while the driver polls a child of a
//! watched gather it puts that child's address in a thread-local
//! ([`polling`]); a `Task` that returns `Pending` and finds its own
//! address there (and its own type: a wrapper that merely starts with a
//! task is not the task) is that child, and registers. Everything else
//! (a task awaited deep inside an `async` block) is not, and is settled by
//! the driver when the child it belongs to finishes.

use std::cell::RefCell;
use std::sync::Arc;

use crate::cancel::CancelState;
use crate::sync::{lock, Mutex};

/// What a task spawned by [`spawn`](crate::spawn) shares with its
/// [`Task`](crate::Task) handle: whether a gather watches it, or how it
/// ended if it ended first.
#[derive(Debug)]
pub(crate) struct Report {
    // A mutex, not atomics: the two sides (the task ending, the gather
    // starting to watch) each run once, and the lock makes "watch, then
    // end" and "end, then watch" the only two orders, each handled below.
    state: Mutex<Reported>,
}

#[derive(Debug, Default)]
enum Reported {
    #[default]
    Unwatched,
    Watched {
        gather: Arc<CancelState>,
        fail_fast: bool,
    },
    Finished {
        failed: bool,
    },
}

impl Report {
    pub(crate) fn new() -> Report {
        Report {
            state: Mutex::new(Reported::Unwatched),
        }
    }

    /// The task's future ended; `failed` if with an error or a panic. Called
    /// once, on the thread that ran it.
    pub(crate) fn finished(&self, failed: bool) {
        let previous = std::mem::replace(&mut *lock(&self.state), Reported::Finished { failed });
        if let Reported::Watched { gather, fail_fast } = previous {
            settle(&gather, fail_fast, failed);
        }
    }

    /// The gather `gather` holds this task as a child: the driver counted
    /// the child unfinished when it started it, and from now on the task
    /// settles that count itself, when it ends.
    fn watch(&self, gather: &Arc<CancelState>, fail_fast: bool) {
        let mut state = lock(&self.state);
        match &*state {
            Reported::Watched { gather: g, .. } if Arc::ptr_eq(g, gather) => {}
            // Not watched yet, or by an earlier gather that has ended (a
            // task polled by `&mut` in one gather, then given to another).
            Reported::Unwatched | Reported::Watched { .. } => {
                *state = Reported::Watched {
                    gather: gather.clone(),
                    fail_fast,
                };
            }
            // It ended between its poll and now: settled at once.
            Reported::Finished { failed } => {
                let failed = *failed;
                drop(state);
                settle(gather, fail_fast, failed);
            }
        }
    }
}

/// One child of a watched gather has finished (or the task holding it has).
pub(crate) fn settle(gather: &CancelState, fail_fast: bool, failed: bool) {
    if fail_fast && failed {
        // A fail-fast gather is decided by its first failure.
        gather.settle();
    } else {
        gather.settle_one();
    }
}

/// The child the driver is polling, for a task to recognise itself.
struct Polling {
    gather: Arc<CancelState>,
    fail_fast: bool,
    child: usize,
    child_type: &'static str,
    /// Set by the task that is the child, when it registered.
    watched: bool,
}

thread_local! {
    static POLLING: RefCell<Option<Polling>> = const { RefCell::new(None) };
}

/// Runs `poll` (the poll of the child at `child`, of type `C`) with the
/// child announced to the tasks it may be; returns what `poll` returned,
/// and whether the child is a task that registered with `gather` (it then
/// settles its own count).
pub(crate) fn polling<C, T>(
    gather: &Arc<CancelState>,
    fail_fast: bool,
    child: *const C,
    poll: impl FnOnce() -> T,
) -> (T, bool) {
    let this = Polling {
        gather: gather.clone(),
        fail_fast,
        child: child as *const () as usize,
        child_type: std::any::type_name::<C>(),
        watched: false,
    };
    // Nested gathers poll their children inside ours: restore the outer
    // child afterwards, even if `poll` unwinds.
    struct Restore(Option<Option<Polling>>);
    impl Drop for Restore {
        fn drop(&mut self) {
            if let Some(outer) = self.0.take() {
                let _ = POLLING.try_with(|p| *p.borrow_mut() = outer);
            }
        }
    }
    let mut restore = Restore(POLLING.try_with(|p| p.borrow_mut().replace(this)).ok());
    let out = poll();
    let watched = match restore.0.take() {
        Some(outer) => POLLING
            .try_with(|p| std::mem::replace(&mut *p.borrow_mut(), outer))
            .ok()
            .flatten()
            .is_some_and(|p| p.watched),
        None => false,
    };
    (out, watched)
}

/// Called by a [`Task`](crate::Task) at `task` (of type `T`) whose poll
/// returned `Pending`: if the driver is polling it as a child, it hands the
/// gather its `report`.
pub(crate) fn offer<T>(task: *const T, report: &Report) {
    let _ = POLLING.try_with(|p| {
        let Ok(mut p) = p.try_borrow_mut() else {
            return;
        };
        let Some(p) = p.as_mut() else { return };
        if p.child == task as *const () as usize && p.child_type == std::any::type_name::<T>() {
            report.watch(&p.gather, p.fail_fast);
            p.watched = true;
        }
    });
}

#[cfg(all(test, gather_loom))]
mod loom_tests {
    //! Every interleaving of a task ending on its worker against the
    //! gather registering it, the input running out, and a `cancel()`.
    use super::*;
    use crate::cancel::CancelHandle;

    /// A gather with a cancel handle that has started one `Task` child
    /// (counted by the driver at launch), and that child's report.
    fn one_task_child() -> (Arc<CancelState>, Arc<Report>) {
        let gather = Arc::new(CancelState::default());
        gather.child_started();
        (gather, Arc::new(Report::new()))
    }

    #[test]
    fn loom_a_task_that_ends_before_or_after_it_registers_settles_once() {
        loom::model(|| {
            let (gather, report) = one_task_child();
            let task = {
                let report = report.clone();
                loom::thread::spawn(move || report.finished(false))
            };
            // The gather's thread: the child's poll returned Pending, so it
            // registers; then the input runs out.
            report.watch(&gather, true);
            gather.settle_one();
            task.join().unwrap();
            // Every child ended and the input is exhausted: done, exactly
            // once (a second settle would wrap the count).
            assert_eq!(gather.unsettled(), 0, "settled twice, or never");
            assert!(
                !CancelHandle::new(gather.clone()).cancel(),
                "cancel() took effect on a done gather"
            );
        });
    }

    #[test]
    fn loom_a_cancel_racing_the_last_task_is_all_or_nothing() {
        loom::model(|| {
            let (gather, report) = one_task_child();
            report.watch(&gather, false);
            gather.settle_one();
            let task = {
                let report = report.clone();
                loom::thread::spawn(move || report.finished(false))
            };
            let handle = CancelHandle::new(gather.clone());
            let cancelled = handle.cancel();
            task.join().unwrap();
            // The gather's own end, when it is next polled: it ends
            // cancelled exactly when cancel() said it took effect.
            assert_eq!(gather.finish(), !cancelled);
        });
    }

    #[test]
    fn loom_a_failing_task_settles_a_fail_fast_gather_with_a_sibling_running() {
        loom::model(|| {
            let (gather, report) = one_task_child();
            gather.child_started(); // a sibling that never ends
            gather.settle_one(); // the input is exhausted
            let task = {
                let report = report.clone();
                loom::thread::spawn(move || report.finished(true))
            };
            report.watch(&gather, true);
            task.join().unwrap();
            assert!(!CancelHandle::new(gather.clone()).cancel());
        });
    }
}
