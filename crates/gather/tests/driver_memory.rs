//! Memory does not grow after children finish: with a limit, slots are
//! reused and finished children are freed, so the bytes in use while the
//! 40,000th child runs equal those while the 2,000th did.
//!
//! One test in this binary, because it counts every allocation the process
//! makes.

#[path = "support/counting.rs"]
mod counting;

use std::sync::atomic::Ordering;

use counting::{Counting, IN_USE};

#[global_allocator]
static ALLOC: Counting = Counting;

#[test]
fn memory_stays_flat_while_children_finish_under_a_limit() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let n = 40_000usize;
        let mut stream = gather::as_completed((0..n).map(|i| async move {
            let scratch = vec![i as u8; 256]; // each child holds some memory
            tokio::task::yield_now().await;
            Ok::<_, ()>(scratch.len())
        }))
        .limit(64);
        let mut at = Vec::new();
        let mut seen = 0;
        while let Some((_, outcome)) = stream.next().await {
            assert_eq!(outcome.ok(), Some(256));
            seen += 1;
            if seen == 2_000 || seen == n - 100 {
                at.push(IN_USE.load(Ordering::Relaxed));
            }
        }
        assert_eq!(seen, n);
        let growth = at[1] - at[0];
        assert!(
            growth.abs() < 16 * 1024,
            "bytes in use grew by {growth} between the 2,000th and the 39,900th child"
        );
    });
}
