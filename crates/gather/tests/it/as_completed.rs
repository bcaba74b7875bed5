//! `as_completed`: `(index, outcome)` in completion order, timeout,
//! resumable after a break.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::support::{ms, sleep_ms, Live};
use gather::{as_completed, Outcome, OutcomeKind};

#[tokio::test(start_paused = true)]
async fn yields_index_and_outcome_in_completion_order() {
    let mut s = as_completed([50u64, 10, 30, 20].map(|t| async move {
        sleep_ms(t).await;
        if t == 30 {
            Err("thirty")
        } else {
            Ok(t)
        }
    }));
    let mut seen = Vec::new();
    while let Some(item) = s.next().await {
        seen.push(item);
    }
    assert_eq!(
        seen,
        [
            (1, Outcome::Ok(10)),
            (3, Outcome::Ok(20)),
            (2, Outcome::Err("thirty")),
            (0, Outcome::Ok(50))
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn can_be_resumed_after_a_break() {
    let mut s = as_completed((0..5u64).map(|i| async move {
        sleep_ms(10 * (5 - i)).await;
        Ok::<_, ()>(i)
    }));
    let mut first = Vec::new();
    while let Some((i, _)) = s.next().await {
        first.push(i);
        if first.len() == 2 {
            break;
        }
    }
    let mut rest = Vec::new();
    while let Some((i, _)) = s.next().await {
        rest.push(i);
    }
    assert_eq!(first, [4, 3]);
    assert_eq!(rest, [2, 1, 0]);
}

#[tokio::test(start_paused = true)]
async fn a_timeout_yields_every_unfinished_child_as_timed_out_then_ends() {
    let live = Live::new();
    let mut s = as_completed([10u64, 9000, 20, 8000].map(|t| {
        let guard = live.guard();
        async move {
            let _g = guard;
            sleep_ms(t).await;
            Ok::<_, ()>(t)
        }
    }))
    .timeout(ms(100));
    let mut seen = Vec::new();
    while let Some(item) = s.next().await {
        seen.push(item);
    }
    assert_eq!(
        seen,
        [
            (0, Outcome::Ok(10)),
            (2, Outcome::Ok(20)),
            (1, Outcome::TimedOut),
            (3, Outcome::TimedOut)
        ]
    );
    assert_eq!(live.alive(), 0);
}

#[tokio::test(start_paused = true)]
async fn dropping_the_stream_cancels_its_children() {
    let live = Live::new();
    let mut s = as_completed([10u64, 9000].map(|t| {
        let guard = live.guard();
        async move {
            let _g = guard;
            sleep_ms(t).await;
            Ok::<_, ()>(t)
        }
    }));
    assert_eq!(s.next().await, Some((0, Outcome::Ok(10))));
    drop(s);
    assert_eq!(live.alive(), 0);
}

#[tokio::test(start_paused = true)]
async fn limit_bounds_how_many_run_at_once() {
    let start = tokio::time::Instant::now();
    let mut s = as_completed((0..4).map(|i| async move {
        sleep_ms(100).await;
        Ok::<_, ()>(i)
    }))
    .limit(2);
    let mut n = 0;
    while s.next().await.is_some() {
        n += 1;
    }
    assert_eq!(n, 4);
    assert_eq!(start.elapsed(), ms(200));
}

#[tokio::test(start_paused = true)]
async fn it_is_a_futures_stream() {
    use futures_core::Stream;
    let mut s = as_completed([1u64].map(|t| async move { Ok::<_, ()>(t) }));
    let item = std::future::poll_fn(|cx| std::pin::Pin::new(&mut s).poll_next(cx)).await;
    assert_eq!(item, Some((0, Outcome::Ok(1))));
}

#[test]
fn an_empty_input_with_a_timeout_ends_at_once_without_a_timer() {
    // No runtime here: arming a timer would panic ("no reactor running").
    let mut s = as_completed(Vec::<std::future::Ready<Result<(), ()>>>::new()).timeout(ms(1000));
    let mut next = std::pin::pin!(s.next());
    let mut cx = std::task::Context::from_waker(futures::task::noop_waker_ref());
    assert_eq!(
        std::future::Future::poll(next.as_mut(), &mut cx),
        std::task::Poll::Ready(None)
    );
}

#[test]
fn spawned_children_run_on_worker_threads_and_come_back_with_their_index() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .unwrap();
    let caller = std::thread::current().id();
    // block_on runs the stream on this thread, not on a worker. Each child
    // waits for its own signal; they are released one at a time in reverse,
    // so the completion order is known whatever the machine's speed.
    let seen = rt.block_on(async {
        let (senders, receivers): (Vec<_>, Vec<_>) = (0..6)
            .map(|_| tokio::sync::oneshot::channel::<()>())
            .unzip();
        let mut s = as_completed(receivers.into_iter().enumerate().map(|(i, go)| async move {
            go.await.map_err(|_| ())?;
            Ok::<_, ()>((i, std::thread::current().id()))
        }))
        .spawn();
        let mut seen = Vec::new();
        for go in senders.into_iter().rev() {
            go.send(()).unwrap();
            let (index, outcome) = s.next().await.unwrap();
            let (value, thread) = outcome.unwrap();
            assert_eq!(index, value);
            assert_ne!(thread, caller, "child {index} ran on the caller's thread");
            seen.push(index);
        }
        assert!(s.next().await.is_none());
        seen
    });
    assert_eq!(seen, [5, 4, 3, 2, 1, 0], "completion order");
}

// Paused clock: the 1 ms child finishes before the 50 ms timeout on any
// machine (under valgrind too), since time only moves when all are idle.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_spawned_stream_ends_after_its_timeout_only_once_the_aborted_tasks_stopped() {
    let live = Live::new();
    let mut s = as_completed((0..3u64).map(|i| {
        let guard = live.guard();
        async move {
            let _guard = guard;
            sleep_ms(if i == 0 { 1 } else { 3_600_000 }).await;
            Ok::<_, ()>(i)
        }
    }))
    .spawn()
    .timeout(ms(50));
    let mut seen = Vec::new();
    while let Some(item) = s.next().await {
        seen.push(item);
    }
    assert_eq!(
        seen,
        [
            (0, Outcome::Ok(0)),
            (1, Outcome::TimedOut),
            (2, Outcome::TimedOut)
        ]
    );
    assert_eq!(
        live.alive(),
        0,
        "an aborted task was still alive at the end"
    );
}

/// Children that never stop being ready: the deadline is read on every
/// poll, so the stream stops at it although it never waits.
#[tokio::test(start_paused = true)]
async fn a_stream_whose_children_keep_being_ready_stops_at_its_deadline() {
    let mut s = as_completed((0..1000usize).map(|i| async move { Ok::<_, ()>(i) }))
        .timeout(Duration::from_millis(50));
    let mut kinds = Vec::new();
    while let Some((index, outcome)) = s.next().await {
        kinds.push((index, outcome.kind()));
        // The consumer's own work between items takes 10 ms.
        tokio::time::advance(Duration::from_millis(10)).await;
    }
    assert_eq!(kinds.len(), 1000, "every input accounted for once");
    let ok = kinds.iter().filter(|(_, k)| *k == OutcomeKind::Ok).count();
    assert_eq!(ok, 5, "items at 0, 10, 20, 30 and 40 ms, then the deadline");
    assert!(kinds[5..].iter().all(|(_, k)| *k == OutcomeKind::TimedOut));
    assert!(kinds.iter().enumerate().all(|(i, (index, _))| i == *index));
}

/// The clock starts at the first poll, not when the stream first waits.
#[tokio::test(start_paused = true)]
async fn the_deadline_counts_from_the_first_poll() {
    let start = tokio::time::Instant::now();
    let mut s = as_completed([0u64, 100].map(|ms| async move {
        tokio::time::sleep(Duration::from_millis(ms)).await;
        Ok::<_, ()>(ms)
    }))
    .timeout(Duration::from_millis(50));
    // The first poll yields at once, without waiting.
    assert_eq!(s.next().await, Some((0, Outcome::Ok(0))));
    tokio::time::advance(Duration::from_millis(40)).await;
    assert_eq!(s.next().await, Some((1, Outcome::TimedOut)));
    assert_eq!(start.elapsed(), Duration::from_millis(50));
}

#[tokio::test(start_paused = true)]
async fn cancel_handle_ends_the_stream_and_a_late_cancel_is_refused() {
    let mut s = as_completed([10u64, 3_600_000, 3_600_000].map(|ms| async move {
        tokio::time::sleep(Duration::from_millis(ms)).await;
        Ok::<_, ()>(ms)
    }));
    let handle = s.cancel_handle();
    assert_eq!(s.next().await, Some((0, Outcome::Ok(10))));
    let h = handle.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(5)).await;
        assert!(h.cancel());
    });
    assert_eq!(s.next().await, None);
    assert!(handle.is_cancelled());

    // Every child finished: the stream is done, cancel() says so.
    let mut s = as_completed([1u64, 2].map(|ms| async move {
        tokio::time::sleep(Duration::from_millis(ms)).await;
        Ok::<_, ()>(ms)
    }));
    let handle = s.cancel_handle();
    while s.next().await.is_some() {}
    assert!(!handle.cancel());
}

/// Spawned children are aborted at a cancel and have stopped when the
/// stream ends: nothing it started outlives it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_spawned_stream_ends_once_its_tasks_have_stopped() {
    struct Alive(Arc<AtomicUsize>);
    impl Drop for Alive {
        fn drop(&mut self) {
            self.0.fetch_sub(1, Ordering::SeqCst);
        }
    }
    let alive = Arc::new(AtomicUsize::new(0));
    let a = alive.clone();
    let mut s = as_completed((0..8).map(move |_| {
        a.fetch_add(1, Ordering::SeqCst);
        let guard = Alive(a.clone());
        async move {
            let _guard = guard;
            std::future::pending::<()>().await;
            Ok::<(), ()>(())
        }
    }))
    .spawn();
    let handle = s.cancel_handle();
    let stream = tokio::spawn(async move { s.next().await.is_none() });
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(handle.cancel());
    assert!(stream.await.unwrap(), "the stream ends at the cancel");
    assert_eq!(
        alive.load(Ordering::SeqCst),
        0,
        "every task stopped before the end"
    );
}
