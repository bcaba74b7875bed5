//! A huge gather stays fair to the other tasks on its thread: it yields
//! after a bounded amount of work per turn, even when every child is ready.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

/// Ready on its second poll, without touching tokio's budget.
struct YieldOnce(bool);

impl Future for YieldOnce {
    type Output = Result<(), ()>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if self.0 {
            return Poll::Ready(Ok(()));
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

#[test]
fn a_neighbour_task_keeps_running_while_a_large_gather_runs() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let neighbour_runs = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicBool::new(false));
    rt.block_on(async {
        let (runs, stop) = (neighbour_runs.clone(), done.clone());
        let neighbour = tokio::spawn(async move {
            while !stop.load(Ordering::SeqCst) {
                runs.fetch_add(1, Ordering::SeqCst);
                // Not `tokio::task::yield_now`: tokio defers that wake-up
                // until it next polls its I/O driver, which would measure
                // tokio's deferral rather than the gather's yielding.
                YieldOnce(false).await.unwrap();
            }
        });
        // Give the neighbour its first turn, then run the gather as a task.
        YieldOnce(false).await.unwrap();
        let before = neighbour_runs.load(Ordering::SeqCst);
        let g = tokio::spawn(gather::gather((0..200_000).map(|_| YieldOnce(false))));
        g.await.unwrap().unwrap();
        let during = neighbour_runs.load(Ordering::SeqCst) - before;
        done.store(true, Ordering::SeqCst);
        neighbour.await.unwrap();
        // 200,000 children need 400,000 polls: at 1,024 units of work per
        // turn that is hundreds of turns, and the neighbour gets some.
        assert!(
            during >= 100,
            "the neighbour ran only {during} times during the gather"
        );
    });
}
