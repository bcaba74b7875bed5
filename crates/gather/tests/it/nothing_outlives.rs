//! An end that the caller awaits (an error, a cancel, a timeout) returns
//! only after every task the gather spawned has stopped.
//!
//! tokio's abort only asks: an aborted task's future is dropped later, by
//! whichever worker runs it next. Before, a spawned gather returned its
//! error while the siblings it had aborted were still alive (on a
//! current_thread runtime, always: the runtime could not run them until
//! the caller yielded). Python's gather-cancel and TaskGroup wait for
//! their cancelled children; so does this. Each child here holds a guard
//! that counts it alive until its future is dropped. The clock is paused
//! where timeouts decide the outcome, so a slow machine (valgrind) cannot
//! change it.

use std::time::Duration;

use crate::support::{ms, sleep_ms, Live};
use gather::{gather, Outcome};

/// A child that sleeps for an hour, alive until its future is dropped.
fn sleeper(live: &Live) -> impl std::future::Future<Output = Result<u32, &'static str>> + Send {
    let guard = live.guard();
    async move {
        let _guard = guard;
        sleep_ms(3_600_000).await;
        Ok(0)
    }
}

async fn failing_after(t: u64) -> Result<u32, &'static str> {
    sleep_ms(t).await;
    Err("broken")
}

type Child = std::pin::Pin<Box<dyn std::future::Future<Output = Result<u32, &'static str>> + Send>>;

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_fail_fast_error_returns_after_the_aborted_siblings_stopped() {
    let live = Live::new();
    let err = gather([
        Box::pin(sleeper(&live)) as Child,
        Box::pin(failing_after(10)),
        Box::pin(sleeper(&live)),
    ])
    .spawn()
    .await
    .unwrap_err();
    assert_eq!(err.index(), Some(1));
    assert_eq!(live.alive(), 0, "an aborted sibling was still alive");
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_cancelled_spawned_gather_returns_after_its_tasks_stopped() {
    let live = Live::new();
    let mut g = gather([sleeper(&live), sleeper(&live)]).spawn();
    let handle = g.cancel_handle();
    tokio::spawn(async move {
        sleep_ms(10).await;
        handle.cancel();
    });
    assert!(g.await.unwrap_err().is_cancelled());
    assert_eq!(live.alive(), 0, "a cancelled task was still alive");

    let mut g = gather([sleeper(&live)]).spawn().return_exceptions();
    let handle = g.cancel_handle();
    tokio::spawn(async move {
        sleep_ms(10).await;
        handle.cancel();
    });
    assert!(g.await.is_err());
    assert_eq!(live.alive(), 0, "a cancelled task was still alive");
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn an_overall_timeout_returns_after_the_spawned_tasks_stopped() {
    let live = Live::new();
    let err = gather([sleeper(&live), sleeper(&live)])
        .spawn()
        .timeout(ms(10))
        .await
        .unwrap_err();
    assert!(err.is_timeout());
    assert_eq!(live.alive(), 0);

    let out = gather([sleeper(&live)])
        .spawn()
        .return_exceptions()
        .timeout(ms(10))
        .await
        .unwrap();
    assert_eq!(out, [Outcome::TimedOut]);
    assert_eq!(live.alive(), 0);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_child_past_its_own_deadline_has_stopped_when_the_gather_returns() {
    let live = Live::new();
    let quick = Box::pin(async { Ok(1u32) }) as Child;
    let out = gather([Box::pin(sleeper(&live)) as Child, quick])
        .spawn()
        .return_exceptions()
        .timeout_each(ms(10))
        .await
        .unwrap();
    assert_eq!(out, [Outcome::TimedOut, Outcome::Ok(1)]);
    assert_eq!(live.alive(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_sibling_on_another_worker_is_awaited_too() {
    // The sibling is in the middle of a 20 ms blocking step when the abort
    // comes: its future can only be dropped after that step.
    let live = Live::new();
    let guard = live.guard();
    let busy = Box::pin(async move {
        let _guard = guard;
        loop {
            std::thread::sleep(Duration::from_millis(20));
            tokio::task::yield_now().await;
        }
        #[allow(unreachable_code)]
        Ok(0u32)
    }) as Child;
    let err = gather([busy, Box::pin(failing_after(5))])
        .spawn()
        .await
        .unwrap_err();
    assert_eq!(err.index(), Some(1));
    assert_eq!(live.alive(), 0, "the busy sibling was still alive");
}

/// A `gather::spawn`ed task whose future counts alive until dropped.
fn task(live: &Live) -> gather::Task<Result<u32, &'static str>> {
    gather::spawn(sleeper(live))
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn task_inputs_are_awaited_at_every_awaited_end() {
    let live = Live::new();
    // Fail-fast: the failing child is in place, its siblings are tasks.
    let failing = gather::spawn(failing_after(10));
    let err = gather([task(&live), failing, task(&live)])
        .await
        .unwrap_err();
    assert_eq!(err.index(), Some(1));
    assert_eq!(live.alive(), 0, "a task input outlived the fail-fast error");

    let err = gather([task(&live), task(&live)])
        .timeout(ms(10))
        .await
        .unwrap_err();
    assert!(err.is_timeout());
    assert_eq!(live.alive(), 0, "a task input outlived the timeout");

    let out = gather([task(&live)])
        .return_exceptions()
        .timeout_each(ms(10))
        .await
        .unwrap();
    assert_eq!(out, [Outcome::TimedOut]);
    assert_eq!(
        live.alive(),
        0,
        "a task past its deadline outlived the gather"
    );

    let mut g = gather([task(&live), task(&live)]);
    let handle = g.cancel_handle();
    tokio::spawn(async move {
        sleep_ms(10).await;
        handle.cancel();
    });
    assert!(g.await.unwrap_err().is_cancelled());
    assert_eq!(live.alive(), 0, "a task input outlived the cancel");
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn unstarted_task_inputs_are_awaited_too() {
    // With a limit, the second task is never polled by the gather, but it
    // runs on the runtime all the same: it must stop before the error.
    let live = Live::new();
    let failing = gather::spawn(failing_after(10));
    let err = gather([failing, task(&live)]).limit(1).await.unwrap_err();
    assert_eq!(err.index(), Some(0));
    assert_eq!(
        live.alive(),
        0,
        "an unstarted task input outlived the gather"
    );
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_task_held_by_an_in_place_child_is_awaited_too() {
    // A nested spawned gather inside an in-place child: its tasks are
    // aborted when the child is dropped, and awaited by the outer gather.
    let live = Live::new();
    let inner = gather([sleeper(&live), sleeper(&live)]).spawn();
    let holder = Box::pin(async move { inner.await.map(|_| 0u32).map_err(|_| "inner") }) as Child;
    let err = gather([holder, Box::pin(failing_after(10))])
        .await
        .unwrap_err();
    assert_eq!(err.index(), Some(1));
    assert_eq!(
        live.alive(),
        0,
        "a nested gather's task outlived the outer gather"
    );
}
