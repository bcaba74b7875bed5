//! A `cancel()` that comes after every child finished must not take
//! effect, nor throw the results away.
//!
//! Spawned children run on their own: they can all finish while nobody
//! polls the gather. Python's `gather(...).cancel()` then returns `False`
//! and the results are delivered; before, ours returned `true` and the
//! gather ended `Cancelled`, its finished results discarded.

use std::time::Duration;

use futures::FutureExt;
use gather::{gather, Outcome};

/// Lets the runtime's other tasks run to their ends (bounded).
async fn let_tasks_run() {
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_late_cancel_of_a_finished_spawned_gather_returns_false_and_keeps_the_results() {
    let mut g = gather((0..3u32).map(|i| async move { Ok::<_, ()>(i * 10) })).spawn();
    let handle = g.cancel_handle();
    assert!(
        (&mut g).now_or_never().is_none(),
        "the tasks are spawned, not run yet"
    );
    let_tasks_run().await;
    assert!(handle.is_done(), "every child finished: the gather is done");
    assert!(
        !handle.cancel(),
        "cancel() took effect on a finished gather"
    );
    assert_eq!(g.await.unwrap(), [0, 10, 20]);
}

#[tokio::test(flavor = "current_thread")]
async fn the_same_in_return_exceptions_mode() {
    let mut g = gather((0..2u32).map(|i| async move {
        if i == 0 {
            Ok(1)
        } else {
            Err("no")
        }
    }))
    .spawn()
    .return_exceptions();
    let handle = g.cancel_handle();
    assert!((&mut g).now_or_never().is_none());
    let_tasks_run().await;
    assert!(!handle.cancel());
    assert_eq!(g.await.unwrap(), [Outcome::Ok(1), Outcome::Err("no")]);
}

#[tokio::test(flavor = "current_thread")]
async fn a_fail_fast_failure_settles_the_gather_before_the_others_finish() {
    // Python: the gather's future is done with the exception as soon as a
    // child raises; cancel() then returns False.
    let mut g = gather((0..2u32).map(|i| async move {
        if i == 0 {
            Err("broken")
        } else {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            Ok(i)
        }
    }))
    .spawn();
    let handle = g.cancel_handle();
    assert!((&mut g).now_or_never().is_none());
    let_tasks_run().await;
    assert!(!handle.cancel());
    let err = g.await.unwrap_err();
    assert_eq!(err.index(), Some(0));
    assert!(!err.is_cancelled());
}

#[tokio::test(flavor = "current_thread")]
async fn a_cancel_while_a_spawned_child_still_runs_takes_effect() {
    let mut g = gather((0..2u64).map(|i| async move {
        tokio::time::sleep(Duration::from_millis(if i == 0 { 0 } else { 3_600_000 })).await;
        Ok::<_, ()>(i)
    }))
    .spawn();
    let handle = g.cancel_handle();
    assert!((&mut g).now_or_never().is_none());
    let_tasks_run().await;
    assert!(!handle.is_done());
    assert!(handle.cancel());
    assert!(g.await.unwrap_err().is_cancelled());
}

/// A child task of the tests below.
type Child = gather::Task<Result<u32, &'static str>>;

/// `gather::spawn` tasks that finish (or fail) when `go` is sent.
fn gated_tasks(n: u32, fail: Option<u32>) -> (tokio::sync::watch::Sender<bool>, Vec<Child>) {
    let (go, gate) = tokio::sync::watch::channel(false);
    let tasks = (0..n)
        .map(|i| {
            let mut gate = gate.clone();
            gather::spawn(async move {
                let _ = gate.wait_for(|go| *go).await;
                if Some(i) == fail {
                    Err("broken")
                } else {
                    Ok(i * 10)
                }
            })
        })
        .collect();
    (go, tasks)
}

#[tokio::test(flavor = "current_thread")]
async fn a_late_cancel_of_a_gather_of_finished_tasks_returns_false_and_keeps_the_results() {
    let (go, tasks) = gated_tasks(3, None);
    let mut g = gather(tasks);
    let handle = g.cancel_handle();
    assert!(
        (&mut g).now_or_never().is_none(),
        "the tasks wait for the gate"
    );
    // They all finish while nobody polls the gather.
    go.send(true).unwrap();
    let_tasks_run().await;
    assert!(handle.is_done(), "every task finished: the gather is done");
    assert!(
        !handle.cancel(),
        "cancel() took effect on a finished gather"
    );
    assert_eq!(g.await.unwrap(), [0, 10, 20]);
}

#[tokio::test(flavor = "current_thread")]
async fn a_late_cancel_of_finished_tasks_keeps_their_results_in_return_exceptions_mode() {
    let (go, tasks) = gated_tasks(2, Some(1));
    let mut g = gather(tasks).return_exceptions();
    let handle = g.cancel_handle();
    assert!((&mut g).now_or_never().is_none());
    go.send(true).unwrap();
    let_tasks_run().await;
    assert!(!handle.cancel());
    assert_eq!(g.await.unwrap(), [Outcome::Ok(0), Outcome::Err("broken")]);
}

#[tokio::test(flavor = "current_thread")]
async fn a_failed_task_settles_a_fail_fast_gather_of_tasks() {
    let (go, mut tasks) = gated_tasks(1, Some(0));
    // A sibling that never ends: only the failure settles the gather.
    tasks.push(gather::spawn(std::future::pending::<
        Result<u32, &'static str>,
    >()));
    let mut g = gather(tasks);
    let handle = g.cancel_handle();
    assert!((&mut g).now_or_never().is_none());
    go.send(true).unwrap();
    let_tasks_run().await;
    assert!(!handle.cancel());
    let err = g.await.unwrap_err();
    assert_eq!(err.index(), Some(0));
}

#[tokio::test(flavor = "current_thread")]
async fn a_cancel_while_a_task_still_runs_takes_effect() {
    let (go, mut tasks) = gated_tasks(2, None);
    tasks.push(gather::spawn(std::future::pending::<
        Result<u32, &'static str>,
    >()));
    let mut g = gather(tasks);
    let handle = g.cancel_handle();
    assert!((&mut g).now_or_never().is_none());
    go.send(true).unwrap();
    let_tasks_run().await;
    assert!(!handle.is_done());
    assert!(handle.cancel());
    assert!(g.await.unwrap_err().is_cancelled());
}

#[tokio::test(flavor = "current_thread")]
async fn a_task_awaited_inside_a_child_does_not_settle_the_child() {
    // The child awaits a task and then has more to do: the task's end is
    // not the child's, so a cancel after it still takes effect.
    let (go, mut tasks) = gated_tasks(1, None);
    let task = tasks.pop().unwrap();
    let child = async move {
        let v = task.await.into_result().map_err(|_| "task")?;
        std::future::pending::<()>().await;
        Ok::<u32, &'static str>(v)
    };
    let mut g = gather([child]);
    let handle = g.cancel_handle();
    assert!((&mut g).now_or_never().is_none());
    go.send(true).unwrap();
    let_tasks_run().await;
    assert!(
        !handle.is_done(),
        "the child is not done: it was settled by its inner task"
    );
    assert!(handle.cancel());
    assert!(g.await.unwrap_err().is_cancelled());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gather_of_tasks_settles_on_a_multi_thread_runtime() {
    // The tasks end on other workers, concurrently with each other.
    for _ in 0..200 {
        let (go, tasks) = gated_tasks(8, None);
        let mut g = gather(tasks);
        let handle = g.cancel_handle();
        assert!((&mut g).now_or_never().is_none());
        go.send(true).unwrap();
        let mut spins = 0;
        while !handle.is_done() {
            spins += 1;
            assert!(spins < 10_000, "the gather never settled");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        assert!(!handle.cancel());
        assert_eq!(g.await.unwrap(), [0, 10, 20, 30, 40, 50, 60, 70]);
    }
}
