//! A child's memory (its box, its waker) is released when it finishes, not
//! when the gather is dropped: a gather of a million finished children used
//! to free a million wakers in its drop, in one pass, at the end.
//!
//! One test in this binary, because it counts every free the process makes.

#[path = "support/counting.rs"]
mod counting;

use std::sync::atomic::Ordering;

use counting::{Counting, FREES};

#[global_allocator]
static ALLOC: Counting = Counting;

#[test]
fn dropping_a_finished_gather_frees_nothing_per_child() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let n = 20_000usize;
        // No limit: every child is started (and holds a slot) at once.
        let mut stream = gather::as_completed((0..n).map(|i| async move {
            tokio::task::yield_now().await;
            Ok::<_, ()>(i)
        }));
        let mut seen = 0;
        while let Some((_, outcome)) = stream.next().await {
            assert!(outcome.is_ok());
            seen += 1;
        }
        assert_eq!(seen, n);
        let before = FREES.load(Ordering::Relaxed);
        drop(stream);
        let freed = FREES.load(Ordering::Relaxed) - before;
        // The slot table, the ready queue and its buffers: a handful.
        assert!(
            freed < 32,
            "dropping a finished gather of {n} children freed {freed} blocks"
        );
    });
}
