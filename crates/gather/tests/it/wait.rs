//! `wait`: `(done, pending)` on FirstCompleted, FirstException and
//! AllCompleted, with a timeout that cancels nothing.

use crate::support::{ms, sleep_ms, Live};
use gather::{spawn, wait, Outcome, ReturnWhen};

fn sleepers(times: &[u64]) -> Vec<impl std::future::Future<Output = Result<u64, String>>> {
    times
        .iter()
        .map(|&t| async move {
            sleep_ms(t).await;
            Ok(t)
        })
        .collect()
}

#[tokio::test(start_paused = true)]
async fn first_completed_returns_the_first_child_and_the_rest_pending() {
    let (done, pending) = wait(sleepers(&[300, 100, 200]), ReturnWhen::FirstCompleted).await;
    assert_eq!(done, [(1, Outcome::Ok(100))]);
    assert_eq!(pending.len(), 2);
}

#[tokio::test(start_paused = true)]
async fn pending_can_be_waited_on_again_until_empty() {
    let (_, pending) = wait(sleepers(&[300, 100, 200]), ReturnWhen::FirstCompleted).await;
    let (done, pending) = wait(pending, ReturnWhen::FirstCompleted).await;
    assert_eq!(done, [(2, Outcome::Ok(200))]);
    let (done, pending) = wait(pending, ReturnWhen::AllCompleted).await;
    assert_eq!(done, [(0, Outcome::Ok(300))]);
    assert!(pending.is_empty());
    assert_eq!(pending.len(), 0);
}

#[tokio::test(start_paused = true)]
async fn pending_can_be_awaited_for_everything_left() {
    let (_, pending) = wait(sleepers(&[30, 10, 20]), ReturnWhen::FirstCompleted).await;
    let rest = pending.await;
    assert_eq!(rest, [(2, Outcome::Ok(20)), (0, Outcome::Ok(30))]);
}

#[tokio::test(start_paused = true)]
async fn first_exception_returns_at_the_first_failure_without_raising_it() {
    let children = (0..4u64).map(|i| async move {
        sleep_ms(100 * (i + 1)).await;
        if i == 1 {
            Err(format!("child {i} failed"))
        } else {
            Ok(i)
        }
    });
    let (done, pending) = wait(children, ReturnWhen::FirstException).await;
    assert_eq!(
        done,
        [
            (0, Outcome::Ok(0)),
            (1, Outcome::Err("child 1 failed".to_string()))
        ]
    );
    assert_eq!(pending.len(), 2);
}

#[tokio::test(start_paused = true)]
async fn first_exception_ignores_cancelled_children() {
    let children = (0..3u64).map(|i| async move {
        sleep_ms(10 * (i + 1)).await;
        if i == 0 {
            Outcome::<u64, String>::Cancelled
        } else {
            Outcome::Ok(i)
        }
    });
    let (done, pending) = wait(children, ReturnWhen::FirstException).await;
    assert_eq!(
        done.len(),
        3,
        "a cancellation is not an exception: it waited for all"
    );
    assert_eq!(done[0], (0, Outcome::Cancelled));
    assert!(pending.is_empty());
}

#[tokio::test(start_paused = true)]
async fn first_exception_with_no_failure_behaves_as_all_completed() {
    let (done, pending) = wait(sleepers(&[3, 1, 2]), ReturnWhen::FirstException).await;
    assert_eq!(done.len(), 3);
    assert!(pending.is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_panic_is_returned_in_done_not_raised() {
    let children = (0..2).map(|i| async move {
        if i == 0 {
            panic!("waited panic")
        }
        Ok::<_, ()>(i)
    });
    let (done, _) = wait(children, ReturnWhen::AllCompleted).await;
    assert!(done.iter().any(
        |(i, o)| *i == 0 && matches!(o, Outcome::Panicked(p) if p.message() == "waited panic")
    ));
}

#[tokio::test(start_paused = true)]
async fn a_timeout_returns_what_is_done_and_cancels_nothing() {
    let live = Live::new();
    let children: Vec<_> = [100u64, 5000]
        .iter()
        .map(|&t| {
            let guard = live.guard();
            async move {
                let _g = guard;
                sleep_ms(t).await;
                Ok::<_, ()>(t)
            }
        })
        .collect();
    let (done, pending) = wait(children, ReturnWhen::AllCompleted)
        .timeout(ms(1000))
        .await;
    assert_eq!(done, [(0, Outcome::Ok(100))]);
    assert_eq!(live.alive(), 1, "the unfinished child is still there");
    assert_eq!(pending.await, [(1, Outcome::Ok(5000))]);
}

#[tokio::test(start_paused = true)]
async fn dropping_pending_cancels_its_children() {
    let live = Live::new();
    let children: Vec<_> = [10u64, 5000, 6000]
        .iter()
        .map(|&t| {
            let guard = live.guard();
            async move {
                let _g = guard;
                sleep_ms(t).await;
                Ok::<_, ()>(t)
            }
        })
        .collect();
    let (_, pending) = wait(children, ReturnWhen::FirstCompleted).await;
    assert_eq!(live.alive(), 2);
    drop(pending);
    assert_eq!(live.alive(), 0);
}

#[tokio::test]
async fn empty_input_returns_at_once() {
    let none: Vec<std::future::Ready<Result<(), ()>>> = Vec::new();
    let (done, pending) = wait(none, ReturnWhen::FirstCompleted).await;
    assert!(done.is_empty() && pending.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spawned_tasks_keep_running_between_waits() {
    let tasks: Vec<_> = (0..4u64)
        .map(|i| {
            spawn(async move {
                // 60 ms apart: a task first polled late on a loaded
                // machine must still finish in this order.
                tokio::time::sleep(ms(60 * (i + 1))).await;
                Ok::<_, ()>(i)
            })
        })
        .collect();
    let (done, pending) = wait(tasks, ReturnWhen::FirstCompleted).await;
    assert_eq!(done[0].0, 0);
    // Nobody polls `pending` for a while; spawned tasks still finish.
    tokio::time::sleep(ms(400)).await;
    let (done, pending) = wait(pending, ReturnWhen::FirstCompleted)
        .timeout(ms(1))
        .await;
    assert!(!done.is_empty());
    let rest = pending.await;
    assert_eq!(done.len() + rest.len(), 3);
}

/// A child of the tests below.
type Child = std::pin::Pin<Box<dyn std::future::Future<Output = Result<u64, String>>>>;

/// Children that finish at `ms` (all in one turn when equal), or never.
fn at(times: &[Option<u64>]) -> Vec<Child> {
    times
        .iter()
        .map(|&t| -> Child {
            Box::pin(async move {
                match t {
                    Some(t) => {
                        sleep_ms(t).await;
                        Ok(t)
                    }
                    None => std::future::pending().await,
                }
            })
        })
        .collect()
}

// On the paused clock: both deadlines are the same instant. On the real
// one, a slow machine (the test under valgrind in CI) polled the second
// child a millisecond after the first, so its 0 ms timer fell due a turn
// later and only one was done.
#[tokio::test(start_paused = true)]
async fn first_completed_returns_every_child_ready_at_once() {
    // Python: three tasks, two finish in the same loop iteration -> 2 done.
    let (done, pending) = wait(at(&[Some(0), Some(0), None]), ReturnWhen::FirstCompleted).await;
    assert_eq!(done, [(0, Outcome::Ok(0)), (1, Outcome::Ok(0))]);
    assert_eq!(pending.len(), 1);
}

#[tokio::test(start_paused = true)]
async fn first_completed_returns_every_child_woken_in_the_same_turn() {
    let (done, pending) = wait(
        at(&[Some(20), Some(10), Some(10), None]),
        ReturnWhen::FirstCompleted,
    )
    .await;
    let mut indices: Vec<usize> = done.iter().map(|(i, _)| *i).collect();
    indices.sort();
    assert_eq!(indices, [1, 2], "{done:?}");
    assert_eq!(pending.len(), 2);
}

#[tokio::test]
async fn first_exception_returns_every_failure_of_the_same_turn() {
    let kids: Vec<Child> = vec![
        Box::pin(async { Err("a".to_string()) }),
        Box::pin(async { Err("b".to_string()) }),
        Box::pin(std::future::pending()),
    ];
    let (done, pending) = wait(kids, ReturnWhen::FirstException).await;
    assert_eq!(
        done,
        [
            (0, Outcome::Err("a".to_string())),
            (1, Outcome::Err("b".to_string()))
        ]
    );
    assert_eq!(pending.len(), 1);
}

#[tokio::test(start_paused = true)]
async fn pending_lists_the_indices_of_its_running_children() {
    let (_, mut pending) = wait(
        at(&[None, Some(1), None, Some(5)]),
        ReturnWhen::FirstCompleted,
    )
    .await;
    assert_eq!(pending.indices(), [0, 2, 3]);
    let (done, mut pending) = wait(pending, ReturnWhen::FirstCompleted).await;
    assert_eq!(done, [(3, Outcome::Ok(5))]);
    assert_eq!(pending.indices(), [0, 2]);
}

#[tokio::test(start_paused = true)]
async fn cancelling_pending_drops_its_children_and_names_them() {
    let live = Live::new();
    let children: Vec<_> = [10u64, 5000, 6000]
        .iter()
        .map(|&t| {
            let guard = live.guard();
            async move {
                let _g = guard;
                sleep_ms(t).await;
                Ok::<_, ()>(t)
            }
        })
        .collect();
    let (done, pending) = wait(children, ReturnWhen::FirstCompleted).await;
    // for t in done: t.result()
    let values: Vec<u64> = done
        .into_iter()
        .map(|(_, o)| o.into_result().unwrap())
        .collect();
    assert_eq!(values, [10]);
    assert_eq!(live.alive(), 2);
    // for t in pending: t.cancel()
    assert_eq!(pending.cancel().await, [1, 2]);
    assert_eq!(live.alive(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_pending_spawned_tasks_returns_once_they_have_stopped() {
    let live = Live::new();
    let (started_tx, mut started) = tokio::sync::mpsc::unbounded_channel();
    let tasks: Vec<_> = (0..3u64)
        .map(|i| {
            let guard = live.guard();
            let started_tx = started_tx.clone();
            spawn(async move {
                let _g = guard;
                let _ = started_tx.send(i);
                if i > 0 {
                    std::future::pending::<()>().await;
                }
                Ok::<_, ()>(i)
            })
        })
        .collect();
    for _ in 0..3 {
        started.recv().await.unwrap();
    }
    let (done, pending) = wait(tasks, ReturnWhen::FirstCompleted).await;
    assert_eq!(done, [(0, Outcome::Ok(0))]);
    assert_eq!(pending.cancel().await, [1, 2]);
    // tokio's abort is asynchronous; `cancel` awaited the tasks' ends.
    assert_eq!(
        live.alive(),
        0,
        "a cancelled task outlived pending.cancel()"
    );
}
