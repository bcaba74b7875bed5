//! `as_completed`: `(index, outcome)` in completion order, timeout,
//! resumable after a break.

mod support;

use gather::{as_completed, Outcome};
use support::{ms, sleep_ms, Live};

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
