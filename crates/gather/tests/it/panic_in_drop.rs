//! A child that panics in its `Drop`, not in its `poll`.
//!
//! A finished child is dropped by the operation, after the `catch_unwind`
//! that guards its poll. Before the fix that drop's panic unwound through
//! the caller's `poll` once, and the gather answered `Pending` for ever
//! after. Now every operation drops finished children under a guard and
//! reports the panic as that child's: `Outcome::Panicked`, the gather's
//! error, or an entry of the `ErrorGroup`; `gather!` too.

use std::future::Future;
use std::task::{Context, Poll};

use futures::FutureExt;
use gather::{as_completed, gather, wait, Failure, Outcome, ReturnWhen, TaskGroup};

/// Panics when dropped.
struct Bomb(&'static str);

impl Drop for Bomb {
    fn drop(&mut self) {
        panic!("{} panicked in Drop", self.0);
    }
}

/// A child that returns `Ok(value)` when first polled (or never, if
/// `value` is `None`) and panics when the operation drops it afterwards.
/// A struct, not an async block: an async block drops its locals inside its
/// own last poll, which the poll guard already covers.
struct BombChild {
    value: Option<u32>,
    _bomb: Bomb,
}

impl Future for BombChild {
    type Output = Result<u32, String>;
    fn poll(self: std::pin::Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Self::Output> {
        match self.value {
            Some(v) => Poll::Ready(Ok(v)),
            None => Poll::Pending,
        }
    }
}

fn bomb(value: u32) -> BombChild {
    BombChild {
        value: Some(value),
        _bomb: Bomb("the child"),
    }
}

/// A child that never finishes and panics when dropped.
fn pending_bomb(name: &'static str) -> BombChild {
    BombChild {
        value: None,
        _bomb: Bomb(name),
    }
}

/// Children of different shapes in one gather.
type Child = std::pin::Pin<Box<dyn Future<Output = Result<u32, String>> + Send>>;

fn is_drop_panic(o: &Outcome<u32, String>) -> bool {
    matches!(o, Outcome::Panicked(p) if p.message() == "the child panicked in Drop")
}

#[tokio::test]
async fn gather_reports_a_panic_in_a_finished_childs_drop_as_its_failure() {
    let err = gather([Box::pin(async { Ok(1u32) }) as Child, Box::pin(bomb(2))])
        .await
        .unwrap_err();
    assert_eq!(err.index(), Some(1));
    assert!(matches!(err.failure(), Failure::Panicked(_)), "{err}");
}

#[tokio::test]
async fn return_exceptions_gives_the_drop_panic_in_its_slot_and_the_rest_finish() {
    let all = gather([
        Box::pin(async { Ok(0u32) }) as Child,
        Box::pin(bomb(1)),
        Box::pin(async { Ok(2) }),
    ])
    .return_exceptions()
    .await
    .unwrap();
    assert_eq!(all[0], Outcome::Ok(0));
    assert!(is_drop_panic(&all[1]), "{:?}", all[1]);
    assert_eq!(all[2], Outcome::Ok(2));
}

#[tokio::test]
async fn a_directly_gathered_child_whose_drop_panics_is_reported() {
    // The child future itself holds the bomb: it is dropped by the slab.
    let all = gather([bomb(7), bomb(8)])
        .return_exceptions()
        .await
        .unwrap();
    assert!(all.iter().all(is_drop_panic), "{all:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spawned_gather_reports_a_drop_panic_too() {
    let all = gather([bomb(1), bomb(2)])
        .spawn()
        .return_exceptions()
        .await
        .unwrap();
    assert!(all.iter().all(is_drop_panic), "{all:?}");
}

#[tokio::test]
async fn a_sibling_that_panics_in_drop_when_cancelled_does_not_unwind_through_the_gather() {
    // Child 0 fails at once; child 1, still running, is dropped by the
    // fail-fast end and panics in its Drop. The gather reports child 0.
    let err = gather([
        Box::pin(async { Err("first".to_string()) }) as Child,
        Box::pin(pending_bomb("the sibling")),
    ])
    .await
    .unwrap_err();
    assert_eq!(err.index(), Some(0));
    assert_eq!(err.to_string(), "child 0 failed: first");
}

#[tokio::test]
async fn dropping_a_gather_whose_children_panic_in_drop_does_not_panic() {
    let g = gather([pending_bomb("a running child"), pending_bomb("another")]);
    let mut g = Box::pin(g);
    assert!(g.as_mut().now_or_never().is_none());
    // Dropping the gather drops the running children, whose Drop panics.
    drop(g);
    // With a limit, the second child has not started when it is dropped.
    let mut g = Box::pin(gather([pending_bomb("running"), pending_bomb("unstarted")]).limit(1));
    assert!(g.as_mut().now_or_never().is_none());
    drop(g);
    // And a cancelled one, through its handle.
    let mut g = Box::pin(gather([pending_bomb("a cancelled child")]));
    let handle = g.cancel_handle();
    assert!(g.as_mut().now_or_never().is_none());
    assert!(handle.cancel());
    assert!(g.await.unwrap_err().is_cancelled());
}

#[tokio::test]
async fn wait_puts_a_drop_panic_in_done() {
    let (done, pending) = wait([bomb(1), bomb(2)], ReturnWhen::AllCompleted).await;
    assert!(pending.is_empty());
    assert_eq!(done.len(), 2);
    assert!(done.iter().all(|(_, o)| is_drop_panic(o)), "{done:?}");
}

#[tokio::test]
async fn as_completed_yields_a_drop_panic_and_goes_on() {
    let mut s = as_completed([bomb(1), bomb(2)]);
    let mut seen = Vec::new();
    while let Some((index, outcome)) = s.next().await {
        assert!(is_drop_panic(&outcome), "{outcome:?}");
        seen.push(index);
    }
    seen.sort();
    assert_eq!(seen, [0, 1]);
}

#[tokio::test]
async fn a_task_group_child_whose_drop_panics_fails_the_group() {
    let err = TaskGroup::<String>::run(|tg| async move {
        tg.spawn(bomb(1)).unwrap();
        Ok(())
    })
    .await
    .unwrap_err();
    assert_eq!(err.len(), 1, "{err}");
    assert_eq!(err.errors()[0].0, Some(0));
    assert!(
        matches!(&err.errors()[0].1, Failure::Panicked(p) if p.message() == "the child panicked in Drop"),
        "{err}"
    );
}

#[tokio::test]
async fn a_task_group_body_whose_drop_panics_fails_the_group() {
    let b = Bomb("the body");
    let err = TaskGroup::<String>::run(|_tg| async move {
        let _b = b;
        Ok(())
    })
    .await
    .unwrap_err();
    assert_eq!(err.len(), 1, "{err}");
    assert_eq!(err.errors()[0].0, None);
}

#[tokio::test]
async fn gather_macro_reports_a_drop_panic_as_the_childs_error() {
    let err = gather::gather!(async { Ok::<u32, String>(1) }, bomb(2))
        .await
        .unwrap_err();
    assert_eq!(err.index(), Some(1));
    assert!(matches!(err.failure(), Failure::Panicked(_)), "{err}");
}
