//! `gather`: ordering, fail-fast, return_exceptions, panics, cancellation,
//! limits and timeouts, in place and spawned.

use std::cell::Cell;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use crate::support::{ms, sleep_ms, Gauge, Live};
use gather::{gather, infallible, Failure, Outcome, OutcomeKind};

#[tokio::test(start_paused = true)]
async fn results_come_back_in_input_order_whatever_order_children_finish() {
    let v = gather((0..100u64).map(|i| async move {
        sleep_ms(1000 - i * 10).await; // the last input finishes first
        Ok::<_, ()>(i)
    }))
    .await
    .unwrap();
    assert_eq!(v, (0..100).collect::<Vec<_>>());
}

#[tokio::test(start_paused = true)]
async fn children_run_concurrently_not_one_after_the_other() {
    let start = tokio::time::Instant::now();
    gather((0..50).map(|_| async {
        sleep_ms(100).await;
        Ok::<_, ()>(())
    }))
    .await
    .unwrap();
    assert_eq!(start.elapsed(), ms(100));
}

#[tokio::test(start_paused = true)]
async fn fail_fast_returns_the_earliest_failure_in_time_with_its_index() {
    let err = gather((0..10u64).map(|i| async move {
        match i {
            2 => {
                sleep_ms(300).await;
                Err(format!("late {i}"))
            }
            7 => {
                sleep_ms(100).await;
                Err(format!("early {i}"))
            }
            _ => {
                sleep_ms(50).await;
                Ok(i)
            }
        }
    }))
    .await
    .unwrap_err();
    assert_eq!(err.index(), Some(7));
    assert_eq!(err.failure(), &Failure::Error("early 7".to_string()));
    assert_eq!(err.to_string(), "child 7 failed: early 7");
}

#[tokio::test(start_paused = true)]
async fn fail_fast_cancels_the_siblings_at_once() {
    let live = Live::new();
    let finished = Arc::new(AtomicUsize::new(0));
    let err = gather((0..20u64).map(|i| {
        let guard = live.guard();
        let finished = finished.clone();
        async move {
            let _guard = guard;
            if i == 3 {
                sleep_ms(10).await;
                return Err("boom");
            }
            sleep_ms(1000).await;
            finished.fetch_add(1, Ordering::SeqCst);
            Ok(i)
        }
    }))
    .await
    .unwrap_err();
    assert_eq!(err.index(), Some(3));
    assert_eq!(
        live.alive(),
        0,
        "every sibling was dropped when the gather returned"
    );
    sleep_ms(5000).await;
    assert_eq!(
        finished.load(Ordering::SeqCst),
        0,
        "no sibling ran to its end"
    );
}

#[tokio::test(start_paused = true)]
async fn fail_fast_error_keeps_the_results_already_finished() {
    let err = gather((0..4u64).map(|i| async move {
        sleep_ms(10 * (i + 1)).await;
        if i == 2 {
            Err("third")
        } else {
            Ok(i * 100)
        }
    }))
    .await
    .unwrap_err();
    assert_eq!(err.finished(), 2);
    assert_eq!(err.into_partial(), vec![Some(0), Some(100), None, None]);
}

#[tokio::test(start_paused = true)]
async fn return_exceptions_runs_every_child_and_reports_each_kind_of_outcome() {
    let out = gather((0..5u64).map(|i| async move {
        match i {
            0 => Ok(0),
            1 => Err("error"),
            2 => panic!("panic in {i}"),
            3 => {
                sleep_ms(60_000).await;
                Ok(3)
            } // past timeout_each
            _ => {
                sleep_ms(100).await;
                Ok(4)
            }
        }
    }))
    .return_exceptions()
    .timeout_each(ms(1000))
    .await
    .unwrap();
    let kinds: Vec<_> = out.iter().map(Outcome::kind).collect();
    assert_eq!(
        kinds,
        [
            OutcomeKind::Ok,
            OutcomeKind::Err,
            OutcomeKind::Panicked,
            OutcomeKind::TimedOut,
            OutcomeKind::Ok
        ]
    );
    assert_eq!(out[1], Outcome::Err("error"));
    assert!(matches!(&out[2], Outcome::Panicked(p) if p.message() == "panic in 2"));
    assert_eq!(out[4], Outcome::Ok(4));
}

#[tokio::test(start_paused = true)]
async fn a_panic_in_fail_fast_mode_is_the_gathers_error_with_its_message() {
    let err = gather((0..3).map(|i| async move {
        if i == 1 {
            panic!("child broke: {}", i)
        }
        sleep_ms(10).await;
        Ok::<_, std::io::Error>(i)
    }))
    .await
    .unwrap_err();
    assert_eq!(err.index(), Some(1));
    assert_eq!(err.kind(), OutcomeKind::Panicked);
    assert_eq!(err.to_string(), "child 1 panicked: child broke: 1");
    let source = std::error::Error::source(&err).expect("the panic is the source");
    assert_eq!(source.to_string(), "panic: child broke: 1");
}

#[tokio::test]
async fn a_spawned_panic_never_unwinds_through_the_caller() {
    let out = gather((0..3).map(|i| async move {
        if i == 0 {
            panic!("spawned panic")
        }
        Ok::<_, ()>(i)
    }))
    .spawn()
    .return_exceptions()
    .await
    .unwrap();
    assert!(matches!(&out[0], Outcome::Panicked(p) if p.message() == "spawned panic"));
    assert_eq!(out[1..], [Outcome::Ok(1), Outcome::Ok(2)]);
}

#[tokio::test]
async fn empty_input_resolves_at_once_to_an_empty_result() {
    let none: Vec<std::future::Ready<Result<u8, ()>>> = Vec::new();
    assert_eq!(gather(none.clone()).await.unwrap(), Vec::<u8>::new());
    assert!(gather(none.clone())
        .return_exceptions()
        .await
        .unwrap()
        .is_empty());
    assert!(gather(none).spawn().await.unwrap().is_empty());
}

#[tokio::test(start_paused = true)]
async fn dropping_an_in_place_gather_drops_every_unfinished_child() {
    let live = Live::new();
    let g = gather((0..100).map(|_| {
        let guard = live.guard();
        async move {
            let _g = guard;
            sleep_ms(1000).await;
            Ok::<_, ()>(())
        }
    }));
    assert!(tokio::time::timeout(ms(10), g).await.is_err());
    assert_eq!(live.alive(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_a_spawned_gather_aborts_every_task() {
    let live = Live::new();
    let g = gather((0..200).map(|_| {
        let guard = live.guard();
        async move {
            let _g = guard;
            tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
            Ok::<_, ()>(())
        }
    }))
    .spawn();
    assert!(tokio::time::timeout(ms(50), g).await.is_err());
    assert_eq!(
        live.wait_all_dropped().await,
        0,
        "no spawned child outlives its gather"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spawned_and_in_place_give_the_same_results_in_the_same_order() {
    let make = || {
        (0..500u64).map(|i| async move {
            if i % 7 == 0 {
                tokio::task::yield_now().await;
            }
            if i % 50 == 49 {
                Err(i)
            } else {
                Ok(i * 2)
            }
        })
    };
    let in_place = gather(make()).return_exceptions().await.unwrap();
    let spawned = gather(make()).spawn().return_exceptions().await.unwrap();
    assert_eq!(in_place, spawned);
    let limited = gather(make())
        .spawn()
        .limit(7)
        .return_exceptions()
        .await
        .unwrap();
    assert_eq!(in_place, limited);
}

/// Five children: the first fails at once; the others count in `finished`
/// when they end, 100 ms later.
fn first_fails(
    finished: &Arc<AtomicUsize>,
) -> Vec<impl std::future::Future<Output = Result<u64, &'static str>> + Send + 'static> {
    (0..5u64)
        .map(|i| {
            let finished = finished.clone();
            async move {
                if i == 0 {
                    return Err("first");
                }
                sleep_ms(100).await;
                finished.fetch_add(1, Ordering::SeqCst);
                Ok(i)
            }
        })
        .collect()
}

#[tokio::test(start_paused = true)]
async fn keep_siblings_lets_spawned_siblings_run_to_their_end() {
    let finished = Arc::new(AtomicUsize::new(0));
    let err = gather(first_fails(&finished))
        .spawn()
        .keep_siblings()
        .await
        .unwrap_err();
    assert_eq!(err.index(), Some(0));
    sleep_ms(200).await;
    assert_eq!(
        finished.load(Ordering::SeqCst),
        4,
        "siblings finished on their own, as in Python"
    );
}

#[tokio::test(start_paused = true)]
async fn spawned_siblings_are_aborted_by_default_on_the_first_error() {
    let finished = Arc::new(AtomicUsize::new(0));
    let _ = gather(first_fails(&finished)).spawn().await.unwrap_err();
    sleep_ms(200).await;
    assert_eq!(finished.load(Ordering::SeqCst), 0);
}

#[tokio::test(start_paused = true)]
async fn a_cancel_handle_cancels_a_running_gather_and_says_so() {
    let live = Live::new();
    let mut g = gather((0..10).map(|_| {
        let guard = live.guard();
        async move {
            let _g = guard;
            sleep_ms(1000).await;
            Ok::<_, &str>(())
        }
    }));
    let handle = g.cancel_handle();
    let canceller = tokio::spawn(async move {
        sleep_ms(10).await;
        let first = handle.cancel();
        let second = handle.cancel();
        (first, second)
    });
    let err = g.await.unwrap_err();
    assert!(err.is_cancelled());
    assert_eq!(err.index(), None);
    assert_eq!(err.to_string(), "gather was cancelled");
    assert_eq!(canceller.await.unwrap(), (true, false));
    assert_eq!(live.alive(), 0);
}

#[tokio::test]
async fn cancel_returns_false_once_the_gather_is_done() {
    let mut g = gather((0..3).map(|i| async move { Ok::<_, ()>(i) }));
    let handle = g.cancel_handle();
    assert_eq!(g.await.unwrap(), [0, 1, 2]);
    assert!(handle.is_done());
    assert!(!handle.cancel());
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_return_exceptions_gather_ends_as_cancelled_not_with_a_list() {
    let mut g = gather((0..3).map(|_| async {
        sleep_ms(1000).await;
        Ok::<_, ()>(())
    }))
    .return_exceptions();
    let handle = g.cancel_handle();
    tokio::spawn(async move {
        sleep_ms(1).await;
        handle.cancel()
    });
    assert_eq!(g.await, Err(gather::Cancelled));
}

#[tokio::test(start_paused = true)]
async fn limit_is_never_exceeded_and_children_start_lazily_in_input_order() {
    let gauge = Gauge::default();
    let created = Arc::new(AtomicUsize::new(0));
    let order = Arc::new(std::sync::Mutex::new(Vec::new()));
    let inputs = (0..1000u64).map(|i| {
        created.fetch_add(1, Ordering::SeqCst);
        let gauge = gauge.clone();
        let order = order.clone();
        async move {
            order.lock().unwrap().push(i);
            let _running = gauge.enter();
            sleep_ms(1 + (i * 7919) % 13).await;
            Ok::<_, ()>(i)
        }
    });
    let mut g = gather(inputs).limit(8);
    // Before the first poll nothing has been created.
    assert_eq!(created.load(Ordering::SeqCst), 0);
    assert!(futures_poll_once(&mut g).await.is_none());
    assert_eq!(
        created.load(Ordering::SeqCst),
        8,
        "only `limit` futures exist after the first poll"
    );
    let v = g.await.unwrap();
    assert_eq!(v.len(), 1000);
    assert_eq!(gauge.max(), 8);
    assert_eq!(*order.lock().unwrap(), (0..1000).collect::<Vec<_>>());
}

/// Polls a future once; `Some` if it completed.
async fn futures_poll_once<F: std::future::Future + Unpin>(f: &mut F) -> Option<F::Output> {
    std::future::poll_fn(|cx| {
        std::task::Poll::Ready(match std::pin::Pin::new(&mut *f).poll(cx) {
            std::task::Poll::Ready(v) => Some(v),
            std::task::Poll::Pending => None,
        })
    })
    .await
}

#[tokio::test(start_paused = true)]
async fn timeout_each_times_out_only_the_slow_child() {
    let err = gather([10u64, 5000, 20].map(|t| async move {
        sleep_ms(t).await;
        Ok::<_, &str>(t)
    }))
    .timeout_each(ms(1000))
    .await
    .unwrap_err();
    assert_eq!(err.index(), Some(1));
    assert!(err.is_timeout());
    assert_eq!(err.to_string(), "child 1 timed out");
}

#[tokio::test(start_paused = true)]
async fn an_overall_timeout_keeps_the_results_already_finished() {
    let make = || {
        [10u64, 5000, 20, 9000].map(|t| async move {
            sleep_ms(t).await;
            Ok::<_, &str>(t)
        })
    };
    let out = gather(make())
        .return_exceptions()
        .timeout(ms(1000))
        .await
        .unwrap();
    assert_eq!(
        out,
        [
            Outcome::Ok(10),
            Outcome::TimedOut,
            Outcome::Ok(20),
            Outcome::TimedOut
        ]
    );

    let err = gather(make()).timeout(ms(1000)).await.unwrap_err();
    assert!(err.is_timeout());
    assert_eq!(err.index(), None);
    assert_eq!(
        err.to_string(),
        "gather timed out with 2 of 4 children finished"
    );
    assert_eq!(err.into_partial(), [Some(10), None, Some(20), None]);
}

#[tokio::test(start_paused = true)]
async fn an_overall_timeout_with_a_limit_marks_unstarted_children_timed_out() {
    let out = gather((0..5u64).map(|i| async move {
        sleep_ms(100 * (i + 1)).await;
        Ok::<_, ()>(i)
    }))
    .limit(1)
    .return_exceptions()
    .timeout(ms(250))
    .await
    .unwrap();
    assert_eq!(
        out,
        [
            Outcome::Ok(0),
            Outcome::TimedOut,
            Outcome::TimedOut,
            Outcome::TimedOut,
            Outcome::TimedOut
        ]
    );
}

#[tokio::test]
async fn in_place_children_may_borrow_and_need_not_be_send() {
    let local = Rc::new(Cell::new(0));
    let words = ["a".to_string(), "bb".to_string()];
    let lens = gather(words.iter().map(|w| {
        let local = local.clone();
        infallible(async move {
            local.set(local.get() + 1);
            w.len()
        })
    }))
    .await
    .unwrap();
    assert_eq!(lens, [1, 2]);
    assert_eq!(local.get(), 2);
}

#[tokio::test]
async fn errors_are_real_error_types_with_the_childs_error_typed_in_failure() {
    let err = gather([async { Err::<(), _>(std::io::Error::other("disk on fire")) }])
        .await
        .unwrap_err();
    // Typed, without downcasting.
    match err.failure() {
        Failure::Error(e) => assert_eq!(e.kind(), std::io::ErrorKind::Other),
        other => panic!("{other:?}"),
    }
    let boxed: Box<dyn std::error::Error + Send + Sync> = Box::new(err);
    assert_eq!(boxed.to_string(), "child 0 failed: disk on fire");
}

#[tokio::test]
async fn any_displayable_child_error_makes_a_std_error_for_question_mark() {
    // What a Python user writes first: String errors, `?` in a main that
    // returns Box<dyn Error>.
    async fn run() -> Result<Vec<u8>, Box<dyn std::error::Error>> {
        Ok(gather([async { Err::<u8, String>("page 13: 404".into()) }]).await?)
    }
    assert_eq!(
        run().await.unwrap_err().to_string(),
        "child 0 failed: page 13: 404"
    );
    // A caught panic is the source.
    let err = gather([async {
        if true {
            panic!("child broke");
        }
        Ok::<u8, String>(0)
    }])
    .await
    .unwrap_err();
    let boxed: Box<dyn std::error::Error> = Box::new(err);
    assert_eq!(boxed.source().unwrap().to_string(), "panic: child broke");
}

#[tokio::test(start_paused = true)]
async fn children_do_not_start_before_the_gather_is_polled() {
    let started = Arc::new(AtomicBool::new(false));
    let flag = started.clone();
    let g = gather([async move {
        flag.store(true, Ordering::SeqCst);
        Ok::<_, ()>(())
    }]);
    sleep_ms(10).await;
    assert!(!started.load(Ordering::SeqCst));
    g.await.unwrap();
    assert!(started.load(Ordering::SeqCst));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gather_of_send_children_is_send_and_can_be_spawned() {
    // The slab and its hand-built wakers must not take away Send.
    fn send<T: Send>(t: T) -> T {
        t
    }
    let g = send(gather((0..200u64).map(|i| async move {
        tokio::task::yield_now().await;
        Ok::<_, ()>(i * 2)
    })));
    let out = tokio::spawn(g).await.unwrap().unwrap();
    assert_eq!(out, (0..200).map(|i| i * 2).collect::<Vec<_>>());
}

/// An iterator whose `size_hint` claims an exact length it does not have.
struct Lying<I>(I, usize);

impl<I: Iterator> Iterator for Lying<I> {
    type Item = I::Item;
    fn next(&mut self) -> Option<I::Item> {
        self.0.next()
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.1, Some(self.1))
    }
}

#[tokio::test]
async fn an_input_that_lies_about_its_length_still_gives_every_result_in_order() {
    // Slots are allotted from the exact length an input reports; more (or
    // fewer) children than claimed must still all run, in their places.
    for (claimed, real) in [(2, 200), (500, 3), (0, 70)] {
        let children = (0..real).map(|i| async move {
            tokio::task::yield_now().await;
            Ok::<_, ()>(i)
        });
        let out = gather(Lying(children, claimed)).await.unwrap();
        assert_eq!(out, (0..real).collect::<Vec<_>>(), "claimed {claimed}");
    }
}

/// A child that records whether it was ever polled.
fn watched(polled: &Arc<AtomicBool>) -> impl std::future::Future<Output = Result<u8, ()>> {
    let polled = polled.clone();
    async move {
        polled.store(true, Ordering::SeqCst);
        Ok(1)
    }
}

#[tokio::test]
async fn a_zero_timeout_each_never_starts_the_child() {
    // Python: wait_for(coro, 0) times out without running the coroutine.
    let polled = Arc::new(AtomicBool::new(false));
    let out = gather([watched(&polled)])
        .return_exceptions()
        .timeout_each(std::time::Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(out, [Outcome::TimedOut]);
    assert!(!polled.load(Ordering::SeqCst), "the child was polled");
}

#[tokio::test]
async fn a_zero_overall_timeout_never_starts_a_child() {
    let polled = Arc::new(AtomicBool::new(false));
    let err = gather([watched(&polled), watched(&polled)])
        .timeout(std::time::Duration::ZERO)
        .await
        .unwrap_err();
    assert!(err.is_timeout());
    assert!(!polled.load(Ordering::SeqCst), "a child was polled");
    let polled = Arc::new(AtomicBool::new(false));
    let out = gather([watched(&polled)])
        .return_exceptions()
        .timeout(std::time::Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(out, [Outcome::TimedOut]);
    assert!(!polled.load(Ordering::SeqCst), "a child was polled");
}

#[tokio::test]
async fn return_exceptions_results_print_and_branch_in_one_line() {
    // The loop a Python user writes over return_exceptions results.
    let urls = ["a", "b", "c"];
    let results = gather(urls.map(|u| async move {
        if u == "b" {
            Err(format!("{u}: 404"))
        } else {
            Ok(u.len())
        }
    }))
    .return_exceptions()
    .await
    .unwrap();
    let lines: Vec<String> = urls
        .iter()
        .zip(&results)
        .map(|(url, r)| format!("{url} -> {r}"))
        .collect();
    assert_eq!(lines, ["a -> 1", "b -> error: b: 404", "c -> 1"]);
    assert!(results[1].is_err());
    let [a, b, _] = <[_; 3]>::try_from(results).unwrap();
    assert_eq!(a.unwrap(), 1);
    assert_eq!(b.err(), Some(Failure::Error("b: 404".to_string())));
    let unwrapped = std::panic::catch_unwind(|| Outcome::<u8, &str>::TimedOut.unwrap());
    let message = unwrapped.unwrap_err();
    assert_eq!(
        message.downcast_ref::<String>().map(String::as_str),
        Some("called `Outcome::unwrap()` on a child that timed out")
    );
}

#[test]
fn a_zero_timeout_each_over_many_inputs_still_yields_between_turns() {
    // 5,000 inputs never started: the gather yields every 1,024 of them,
    // as it does for polled children, instead of one long turn.
    let mut g = std::pin::pin!(gather((0..5_000u32).map(|i| async move { Ok::<_, ()>(i) }))
        .return_exceptions()
        .timeout_each(std::time::Duration::ZERO));
    let mut cx = std::task::Context::from_waker(futures::task::noop_waker_ref());
    let mut pendings = 0;
    let out = loop {
        match std::future::Future::poll(g.as_mut(), &mut cx) {
            std::task::Poll::Ready(out) => break out.unwrap(),
            std::task::Poll::Pending => pendings += 1,
        }
        assert!(pendings < 100, "never finished");
    };
    assert_eq!(out.len(), 5_000);
    assert!(out.iter().all(|o| *o == Outcome::TimedOut));
    assert_eq!(pendings, 4, "one turn per 1,024 inputs");
}
