//! `TaskGroup`: dynamic spawning, group failure, error groups, early cancel.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex};

use crate::support::{sleep_ms, Live};
use gather::{Failure, SpawnError, TaskGroup};

#[tokio::test(start_paused = true)]
async fn children_spawned_from_children_are_all_waited_for() {
    let count = Arc::new(AtomicUsize::new(0));
    let c = count.clone();
    let out = TaskGroup::<String>::run(|tg| async move {
        for i in 0..3u64 {
            let tg2 = tg.clone();
            let c = c.clone();
            tg.spawn(async move {
                sleep_ms(10 * i).await;
                for _ in 0..2 {
                    let c = c.clone();
                    tg2.spawn(async move {
                        sleep_ms(50).await;
                        c.fetch_add(1, Ordering::SeqCst);
                        Ok(())
                    })
                    .map_err(|e| e.to_string())?;
                }
                c.fetch_add(1, Ordering::SeqCst);
                Ok(())
            })
            .unwrap();
        }
        Ok("body done")
    })
    .await
    .unwrap();
    assert_eq!(out, Some("body done"));
    assert_eq!(
        count.load(Ordering::SeqCst),
        9,
        "3 children and 6 grandchildren all finished before run returned"
    );
}

#[tokio::test(start_paused = true)]
async fn the_first_error_cancels_the_siblings_and_the_body() {
    let live = Live::new();
    let body_finished = Arc::new(AtomicUsize::new(0));
    let bf = body_finished.clone();
    let l = live.clone();
    let err = TaskGroup::<&str>::run(|tg| async move {
        for _ in 0..5 {
            let g = l.guard();
            tg.spawn(async move {
                let _g = g;
                sleep_ms(10_000).await;
                Ok(())
            })
            .unwrap();
        }
        tg.spawn(async {
            sleep_ms(10).await;
            Err::<(), _>("broken")
        })
        .unwrap();
        let body_guard = l.guard();
        sleep_ms(10_000).await;
        drop(body_guard);
        bf.fetch_add(1, Ordering::SeqCst);
        Ok(())
    })
    .await
    .unwrap_err();
    assert_eq!(err.len(), 1);
    assert_eq!(err.errors()[0].0, Some(5));
    assert_eq!(err.errors()[0].1, Failure::Error("broken"));
    assert_eq!(
        live.alive(),
        0,
        "siblings and body were dropped before run returned"
    );
    assert_eq!(body_finished.load(Ordering::SeqCst), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_error_that_happened_is_returned_not_just_the_first() {
    // Two children fail at the same moment on two worker threads; both
    // errors are in the group's error, as in Python's ExceptionGroup.
    let barrier = Arc::new(Barrier::new(2));
    let err = TaskGroup::<String>::run(|tg| async move {
        for i in 0..2 {
            let b = barrier.clone();
            tg.spawn(async move {
                b.wait();
                Err::<(), _>(format!("child {i}"))
            })
            .unwrap();
        }
        Ok(())
    })
    .await
    .unwrap_err();
    assert_eq!(err.len(), 2);
    let mut children: Vec<_> = err.errors().iter().map(|(c, _)| c.unwrap()).collect();
    children.sort();
    assert_eq!(children, [0, 1]);
    assert!(err
        .to_string()
        .starts_with("task group failed with 2 errors: "));
}

#[tokio::test(start_paused = true)]
async fn the_body_failing_cancels_the_children_and_is_reported() {
    let live = Live::new();
    let l = live.clone();
    let err = TaskGroup::<&str>::run(|tg| async move {
        let g = l.guard();
        tg.spawn(async move {
            let _g = g;
            sleep_ms(10_000).await;
            Ok(())
        })
        .unwrap();
        sleep_ms(5).await;
        Err::<(), _>("body failed")
    })
    .await
    .unwrap_err();
    assert_eq!(err.errors()[0], (None, Failure::Error("body failed")));
    assert_eq!(
        err.to_string(),
        "task group failed with 1 error: body failed: body failed"
    );
    assert_eq!(live.alive(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_child_that_is_merely_cancelled_does_not_abort_the_group() {
    let finished = Arc::new(AtomicUsize::new(0));
    let f = finished.clone();
    let out = TaskGroup::<&str>::run(|tg| async move {
        let slow = tg
            .spawn(async {
                sleep_ms(10_000).await;
                Ok(1)
            })
            .unwrap();
        let f2 = f.clone();
        tg.spawn(async move {
            sleep_ms(100).await;
            f2.fetch_add(1, Ordering::SeqCst);
            Ok(2)
        })
        .unwrap();
        slow.abort();
        assert_eq!(slow.await, None);
        Ok(())
    })
    .await;
    assert_eq!(out.unwrap(), Some(()));
    assert_eq!(finished.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn a_panicking_child_fails_the_group_with_its_message() {
    let err = TaskGroup::<()>::run(|tg| async move {
        tg.spawn(async {
            panic!("group child panic");
            #[allow(unreachable_code)]
            Ok(())
        })
        .unwrap();
        Ok(())
    })
    .await
    .unwrap_err();
    assert!(
        matches!(&err.errors()[0].1, Failure::Panicked(p) if p.message() == "group child panic")
    );
}

#[tokio::test(start_paused = true)]
async fn spawning_into_a_failed_or_finished_group_is_an_error_not_a_panic() {
    let kept = Arc::new(Mutex::new(None));
    let k = kept.clone();
    let refused = Arc::new(Mutex::new(None));
    let r = refused.clone();
    let _ = TaskGroup::<&str>::run(|tg| async move {
        *k.lock().unwrap() = Some(tg.clone());
        let tg2 = tg.clone();
        tg.spawn(async move {
            sleep_ms(10).await;
            Err::<(), _>("fail")
        })
        .unwrap();
        tg.spawn(async move {
            // Still running when the group fails: it cannot spawn anymore.
            sleep_ms(20).await;
            *r.lock().unwrap() = Some(tg2.spawn(async { Ok(()) }).map(|_| ()));
            Ok(())
        })
        .unwrap();
        Ok(())
    })
    .await;
    // The second child was aborted before it could try; spawn directly.
    let tg = kept.lock().unwrap().take().unwrap();
    assert_eq!(tg.spawn(async { Ok(()) }).unwrap_err(), SpawnError::Failed);
    assert!(
        refused.lock().unwrap().is_none(),
        "the aborted child never ran its spawn"
    );

    let kept = Arc::new(Mutex::new(None));
    let k = kept.clone();
    TaskGroup::<()>::run(|tg| async move {
        *k.lock().unwrap() = Some(tg);
        Ok(())
    })
    .await
    .unwrap();
    let tg = kept.lock().unwrap().take().unwrap();
    let err = tg.spawn(async { Ok(()) }).unwrap_err();
    assert_eq!(err, SpawnError::Finished);
    assert_eq!(
        err.to_string(),
        "cannot spawn into a task group that has finished"
    );
}

#[tokio::test(start_paused = true)]
async fn finished_children_are_released_at_once() {
    let live = Live::new();
    let l = live.clone();
    TaskGroup::<()>::run(|tg| async move {
        for _ in 0..100 {
            let g = l.guard();
            // The handle is dropped: the group alone owns the child.
            drop(
                tg.spawn(async move {
                    let _g = g;
                    sleep_ms(10).await;
                    Ok(vec![0u8; 1024])
                })
                .unwrap(),
            );
        }
        sleep_ms(50).await;
        assert_eq!(
            l.alive(),
            0,
            "every finished child's future is gone while the group is still open"
        );
        assert_eq!(tg.running(), 0);
        Ok(())
    })
    .await
    .unwrap();
}

#[tokio::test(start_paused = true)]
async fn the_group_can_be_cancelled_early_without_an_error() {
    let live = Live::new();
    let l = live.clone();
    let out = TaskGroup::<&str>::run(|tg| async move {
        for _ in 0..10 {
            let g = l.guard();
            tg.spawn(async move {
                let _g = g;
                sleep_ms(10_000).await;
                Ok(())
            })
            .unwrap();
        }
        let tg2 = tg.clone();
        tg.spawn(async move {
            sleep_ms(10).await;
            assert!(tg2.cancel());
            Ok(())
        })
        .unwrap();
        sleep_ms(10_000).await;
        Ok(())
    })
    .await;
    assert!(
        matches!(out, Ok(None)),
        "cancelled before the body finished: Ok(None)"
    );
    assert_eq!(live.alive(), 0);
}

#[tokio::test(start_paused = true)]
async fn dropping_run_aborts_every_child() {
    let live = Live::new();
    let l = live.clone();
    let run = TaskGroup::<()>::run(|tg| async move {
        for _ in 0..10 {
            let g = l.guard();
            tg.spawn(async move {
                let _g = g;
                sleep_ms(10_000).await;
                Ok(())
            })
            .unwrap();
        }
        Ok(())
    });
    assert!(tokio::time::timeout(crate::support::ms(10), run)
        .await
        .is_err());
    assert_eq!(live.wait_all_dropped().await, 0);
}

#[tokio::test(start_paused = true)]
async fn group_tasks_yield_their_values() {
    let out = TaskGroup::<()>::run(|tg| async move {
        let tasks: Vec<_> = (0..5u64)
            .map(|i| {
                tg.spawn(async move {
                    sleep_ms(50 - i * 10).await;
                    Ok(i * i)
                })
                .unwrap()
            })
            .collect();
        let mut values = Vec::new();
        for t in tasks {
            values.push(t.await.unwrap());
        }
        Ok(values)
    })
    .await
    .unwrap();
    assert_eq!(out, Some(vec![0, 1, 4, 9, 16]));
}

#[tokio::test(flavor = "current_thread")]
async fn children_that_fail_in_the_same_turn_are_all_reported_on_one_thread() {
    // Python 3.11: both tasks run before the group's done-callback cancels
    // anything, so the ExceptionGroup holds both errors.
    let err = TaskGroup::<&str>::run(|tg| async move {
        tg.spawn(async { Err::<(), _>("first") }).unwrap();
        tg.spawn(async { Err::<(), _>("second") }).unwrap();
        Ok(())
    })
    .await
    .unwrap_err();
    assert_eq!(
        err.errors(),
        [
            (Some(0), Failure::Error("first")),
            (Some(1), Failure::Error("second"))
        ]
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_body_that_fails_after_a_child_failed_is_reported_with_it() {
    let err = TaskGroup::<&str>::run(|tg| async move {
        tg.spawn(async { Err::<(), _>("child") }).unwrap();
        // The child runs and fails here; the body's next step was already
        // scheduled, as in Python, and its error is kept too.
        tokio::task::yield_now().await;
        Err::<(), _>("body")
    })
    .await
    .unwrap_err();
    assert_eq!(
        err.errors(),
        [
            (Some(0), Failure::Error("child")),
            (None, Failure::Error("body"))
        ]
    );
}
