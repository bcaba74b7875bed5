//! `shield`: the outer's cancellation leaves the inner running; the
//! inner's cancellation cancels the outer.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use crate::support::{ms, sleep_ms};
use gather::{gather, shield, Outcome};

#[tokio::test(start_paused = true)]
async fn cancelling_the_outer_leaves_the_inner_running_to_completion() {
    let done = Arc::new(AtomicUsize::new(0));
    let d = done.clone();
    let outer = shield(async move {
        sleep_ms(100).await;
        d.fetch_add(1, Ordering::SeqCst);
        Ok::<_, ()>(())
    });
    assert!(tokio::time::timeout(ms(10), outer).await.is_err());
    sleep_ms(200).await;
    assert_eq!(done.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn cancelling_the_inner_cancels_the_outer() {
    let outer = shield(async {
        sleep_ms(10_000).await;
        Ok::<_, ()>(())
    });
    outer.cancel_inner();
    assert_eq!(outer.await, Outcome::Cancelled);
}

#[tokio::test(start_paused = true)]
async fn the_outer_returns_the_inners_value() {
    assert_eq!(shield(async { Ok::<_, ()>(7) }).await, Outcome::Ok(7));
}

#[tokio::test(start_paused = true)]
async fn a_shielded_gather_keeps_every_child_running() {
    let done = Arc::new(AtomicUsize::new(0));
    let children: Vec<_> = (0..10)
        .map(|_| {
            let done = done.clone();
            async move {
                sleep_ms(100).await;
                done.fetch_add(1, Ordering::SeqCst);
                Ok::<_, ()>(())
            }
        })
        .collect();
    let outer = shield(gather(children));
    assert!(tokio::time::timeout(ms(10), outer).await.is_err());
    sleep_ms(200).await;
    assert_eq!(done.load(Ordering::SeqCst), 10);
}

#[tokio::test]
async fn a_panic_in_the_inner_is_an_outcome() {
    let out = shield(async {
        panic!("inner panic");
        #[allow(unreachable_code)]
        Ok::<(), ()>(())
    })
    .await;
    assert!(matches!(out, Outcome::Panicked(p) if p.message() == "inner panic"));
}
