//! The slots' wakers are built by hand, 64 to an allocation, and counted on
//! their block: a waker a child kept must stay valid after its child, its
//! chunk and its whole gather are gone, and the block must be freed once the
//! last one goes. CI runs this binary under valgrind, which reports any read
//! of freed memory or any block never freed.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use gather::{gather, Outcome};

/// Wakers that children handed out, as a timer or a socket would keep them.
type Kept = Arc<Mutex<Vec<Waker>>>;

/// Keeps a clone of its waker, then finishes on its second poll.
struct KeepsWaker {
    kept: Kept,
    polled: bool,
}

impl Future for KeepsWaker {
    type Output = Result<usize, ()>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if self.polled {
            return Poll::Ready(Ok(1));
        }
        self.polled = true;
        self.kept.lock().unwrap().push(cx.waker().clone());
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

#[tokio::test]
async fn wakers_kept_past_the_gather_stay_valid_and_are_freed_with_the_last() {
    let kept: Kept = Arc::default();
    let n = 300; // five blocks of wakers, the last one partly used
    let out = gather((0..n).map(|_| KeepsWaker {
        kept: kept.clone(),
        polled: false,
    }))
    .await
    .unwrap();
    assert_eq!(out.len(), n);
    // The gather, its slots and its chunks are gone; the wakers are not.
    let wakers = std::mem::take(&mut *kept.lock().unwrap());
    assert_eq!(wakers.len(), n);
    for (i, w) in wakers.iter().enumerate() {
        w.wake_by_ref(); // queues into a queue nobody drains: harmless
        assert!(w.will_wake(&w.clone()), "waker {i} changed identity");
    }
    // Slots of one gather have distinct wakers.
    assert!(!wakers[0].will_wake(&wakers[1]));
    // Woken by value and dropped, half each way: every block is freed once
    // (valgrind checks there is no leak and no double free).
    for (i, w) in wakers.into_iter().enumerate() {
        if i % 2 == 0 {
            w.wake();
        } else {
            drop(w);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_gathers_wakers_fire_from_other_threads_after_it_is_dropped() {
    let kept: Kept = Arc::default();
    let (tx, rx) = std::sync::mpsc::channel::<Vec<Waker>>();
    // Another thread holds the wakers and fires them after the gather is
    // gone, as a reactor thread would.
    let reactor = std::thread::spawn(move || {
        let wakers = rx.recv().unwrap();
        for w in &wakers {
            w.wake_by_ref();
        }
        drop(wakers);
    });
    let stuck = gather((0..130).map(|i| {
        let kept = kept.clone();
        std::future::poll_fn(move |cx| {
            kept.lock().unwrap().push(cx.waker().clone());
            if i == 129 {
                Poll::Ready(Err(()))
            } else {
                Poll::<Result<(), ()>>::Pending
            }
        })
    }))
    .return_exceptions();
    let started = tokio::time::timeout(std::time::Duration::from_millis(50), stuck).await;
    assert!(started.is_err(), "the pending children cannot finish");
    // Dropped by the timeout: every child and chunk is gone.
    tx.send(std::mem::take(&mut *kept.lock().unwrap())).unwrap();
    reactor.join().unwrap();
}

#[tokio::test]
async fn a_stale_wake_of_a_reused_slot_polls_the_new_child_harmlessly() {
    // limit(1): one slot, reused by each child in turn. The first child's
    // waker, kept and woken while the second child runs, can only cause a
    // spurious poll, which futures must tolerate.
    let kept: Kept = Arc::default();
    let stale = kept.clone();
    let out = gather((0..3).map(|i| {
        let kept = kept.clone();
        let stale = stale.clone();
        let mut polls = 0;
        std::future::poll_fn(move |cx| {
            polls += 1;
            if i == 0 {
                kept.lock().unwrap().push(cx.waker().clone());
                return Poll::Ready(Ok::<_, ()>(polls));
            }
            if polls == 1 {
                // Wake through the first child's (stale) waker only.
                for w in stale.lock().unwrap().iter() {
                    w.wake_by_ref();
                }
                return Poll::Pending;
            }
            Poll::Ready(Ok(polls))
        })
    }))
    .limit(1)
    .return_exceptions()
    .await
    .unwrap();
    assert_eq!(out, [Outcome::Ok(1), Outcome::Ok(2), Outcome::Ok(2)]);
}
