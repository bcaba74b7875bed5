//! The properties that make the driver linear: a child is polled only
//! after its own wake, a bounded number of times, and the gather yields
//! once when tokio's budget is spent instead of re-polling every child.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use gather::{gather, Outcome};

/// A child that parks until the test releases it, counting its polls.
struct Parked {
    id: usize,
    board: Arc<Board>,
}

#[derive(Default)]
struct Board {
    polls: Vec<AtomicUsize>,
    released: Vec<std::sync::atomic::AtomicBool>,
    wakers: Mutex<Vec<Option<Waker>>>,
}

impl Board {
    fn new(n: usize) -> Arc<Board> {
        Arc::new(Board {
            polls: (0..n).map(|_| AtomicUsize::new(0)).collect(),
            released: (0..n).map(|_| Default::default()).collect(),
            wakers: Mutex::new(vec![None; n]),
        })
    }
    fn release(&self, id: usize) {
        self.released[id].store(true, Ordering::SeqCst);
        if let Some(w) = self.wakers.lock().unwrap()[id].take() {
            w.wake();
        }
    }
}

impl Future for Parked {
    type Output = Result<usize, ()>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.board.polls[self.id].fetch_add(1, Ordering::SeqCst);
        if self.board.released[self.id].load(Ordering::SeqCst) {
            return Poll::Ready(Ok(self.id));
        }
        self.board.wakers.lock().unwrap()[self.id] = Some(cx.waker().clone());
        Poll::Pending
    }
}

#[tokio::test]
async fn a_child_is_polled_only_after_its_own_wake_even_when_they_trickle_in_reverse() {
    const N: usize = 5_000;
    let board = Board::new(N);
    let children: Vec<_> = (0..N)
        .map(|id| Parked {
            id,
            board: board.clone(),
        })
        .collect();
    let waker_board = board.clone();
    let releaser = tokio::spawn(async move {
        for id in (0..N).rev() {
            waker_board.release(id);
            tokio::task::yield_now().await; // one wake per turn of the gather
        }
    });
    let results = gather(children).await.unwrap();
    releaser.await.unwrap();
    assert_eq!(results, (0..N).collect::<Vec<_>>());
    let polls: Vec<usize> = board
        .polls
        .iter()
        .map(|p| p.load(Ordering::SeqCst))
        .collect();
    // Once at start, once after its own wake (once only, if it was released
    // before it started): no child is ever polled for another child's wake.
    let max = *polls.iter().max().unwrap();
    assert!(
        polls.iter().all(|&p| (1..=2).contains(&p)),
        "polls per child: max {max}"
    );
    assert!(
        polls.iter().filter(|&&p| p == 2).count() > N / 2,
        "most children really waited for their wake"
    );
}

/// Wakes itself and returns Pending `times` times, then finishes.
struct SelfWaking {
    left: usize,
    polls: Arc<AtomicUsize>,
}

impl Future for SelfWaking {
    type Output = Result<(), ()>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.polls.fetch_add(1, Ordering::Relaxed);
        if self.left == 0 {
            return Poll::Ready(Ok(()));
        }
        self.left -= 1;
        cx.waker().wake_by_ref();
        cx.waker().wake_by_ref(); // repeated wakes queue the child once
        Poll::Pending
    }
}

#[tokio::test]
async fn each_child_is_polled_a_bounded_number_of_times() {
    for limit in [usize::MAX, 100] {
        let polls = Arc::new(AtomicUsize::new(0));
        let n = 20_000;
        let children = (0..n).map(|_| SelfWaking {
            left: 1,
            polls: polls.clone(),
        });
        let out = gather(children)
            .limit(limit)
            .return_exceptions()
            .await
            .unwrap();
        assert!(out.iter().all(Outcome::is_ok));
        assert_eq!(
            polls.load(Ordering::Relaxed),
            2 * n,
            "yield-once children are polled exactly twice (limit {limit})"
        );
    }
}

#[tokio::test]
async fn when_the_coop_budget_is_spent_the_gather_yields_instead_of_re_polling() {
    let polls = Arc::new(AtomicUsize::new(0));
    let n = 10_000;
    let children = (0..n).map(|_| {
        let polls = polls.clone();
        async move {
            polls.fetch_add(1, Ordering::Relaxed);
            // Spends one unit of the task's budget; Pending if none is left.
            tokio::task::coop::consume_budget().await;
            Ok::<_, ()>(())
        }
    });
    gather(children).await.unwrap();
    // Had the driver kept polling after the budget ran out, every later
    // child would have answered Pending once and been polled again.
    assert_eq!(
        polls.load(Ordering::Relaxed),
        n,
        "every child finished in its first poll"
    );
}

#[tokio::test]
async fn woken_children_finish_before_new_ones_start_so_slots_are_reused() {
    // 20,000 yield-once children and no limit. Were new children started
    // before woken ones were polled again, all 20,000 would be running at
    // once (a slot, and the child's memory, each). Polling the woken first
    // keeps the number running to about two turns' worth (a turn is 1,024
    // polls or starts).
    let n = 20_000;
    let running = Arc::new(Mutex::new((0usize, 0usize))); // (now, most)
    let seen = running.clone();
    let out = gather((0..n).map(|i| async move {
        tokio::task::yield_now().await;
        Ok::<_, ()>(i)
    }))
    .on_event(move |e| {
        let mut r = seen.lock().unwrap();
        match e.kind {
            gather::progress::EventKind::Started => r.0 += 1,
            gather::progress::EventKind::Finished(_) => r.0 -= 1,
        }
        r.1 = r.1.max(r.0);
    })
    .await
    .unwrap();
    assert_eq!(out, (0..n).collect::<Vec<_>>());
    let most = running.lock().unwrap().1;
    assert!(
        (1..=2 * 1024 + 64).contains(&most),
        "{most} of {n} children were running at once"
    );
}
