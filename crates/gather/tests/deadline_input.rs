//! At an overall deadline nothing is built per input not started beyond
//! what the caller asks for: each operation over an input far larger than
//! memory (an endless one where the operation's output allows it) ends, and
//! the bytes it holds do not grow with the input.
//!
//! One test in this binary, because it counts every allocation the process
//! makes. Each step runs on a thread of its own with a bound on its time, so
//! that a regression (walking an endless input) fails instead of hanging.

#[path = "support/counting.rs"]
mod counting;

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use counting::{Counting, IN_USE, PEAK};
use gather::{as_completed, gather, wait, Outcome, ReturnWhen};

#[global_allocator]
static ALLOC: Counting = Counting;

const HOUR: Duration = Duration::from_secs(3600);
const DEADLINE: Duration = Duration::from_millis(50);

/// Children that would each sleep an hour, from an input that counts what
/// is taken from it.
fn children(
    inputs: impl Iterator<Item = u64>,
    taken: &Arc<AtomicUsize>,
) -> impl Iterator<Item = impl Future<Output = Result<u64, ()>>> {
    let taken = taken.clone();
    inputs.map(move |i| {
        taken.fetch_add(1, Ordering::Relaxed);
        async move {
            tokio::time::sleep(HOUR).await;
            Ok(i)
        }
    })
}

/// Runs `step` on a runtime with a paused clock, on a thread of its own;
/// returns what it returns and the peak bytes in use above those in use
/// before it, or fails after a bound on its time.
fn measured<T: Send + 'static>(
    name: &str,
    step: impl FnOnce() -> std::pin::Pin<Box<dyn Future<Output = T>>> + Send + 'static,
) -> (T, isize) {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap();
        let before = IN_USE.load(Ordering::SeqCst);
        PEAK.store(before, Ordering::SeqCst);
        let out = rt.block_on(step());
        let peak = PEAK.load(Ordering::SeqCst) - before;
        let _ = tx.send((out, peak));
    });
    rx.recv_timeout(Duration::from_secs(60))
        .unwrap_or_else(|_| panic!("{name}: still running after 60 s (walking the whole input?)"))
}

#[test]
fn nothing_at_a_deadline_grows_with_the_input() {
    // as_completed over an endless input: the running children, then the
    // rest one per item pulled, in input order.
    let taken = Arc::new(AtomicUsize::new(0));
    let t = taken.clone();
    let (pulled, peak) = measured("as_completed", move || {
        Box::pin(async move {
            let mut s = as_completed(children(0.., &t)).limit(4).timeout(DEADLINE);
            let mut pulled = 0usize;
            while pulled < 200_000 {
                let (index, outcome) = s.next().await.expect("an endless input never ends");
                assert_eq!((index, outcome), (pulled, Outcome::TimedOut));
                pulled += 1;
            }
            pulled
        })
    });
    assert_eq!(pulled, 200_000);
    let taken_n = taken.load(Ordering::SeqCst);
    assert!(
        taken_n <= pulled + 1,
        "as_completed took {taken_n} inputs to yield {pulled}"
    );
    assert!(
        peak < 256 * 1024,
        "as_completed: {peak} bytes at the deadline for 200,000 items pulled"
    );

    // gather, fail-fast, over an endless input: the timeout error, with
    // partial results for the children started, and the rest never walked.
    let taken = Arc::new(AtomicUsize::new(0));
    let t = taken.clone();
    let (partial, peak) = measured("gather", move || {
        Box::pin(async move {
            let err = gather(children(0.., &t))
                .limit(4)
                .timeout(DEADLINE)
                .await
                .unwrap_err();
            assert!(err.is_timeout() && err.index().is_none());
            err.into_partial().len()
        })
    });
    assert_eq!(partial, 4, "one partial slot per child started");
    assert!(taken.load(Ordering::SeqCst) <= 5);
    assert!(peak < 64 * 1024, "gather: {peak} bytes");

    // wait over an endless input: a timeout cancels nothing, and the rest
    // stays in the input; cancelling the pending set drops it unwalked.
    let taken = Arc::new(AtomicUsize::new(0));
    let t = taken.clone();
    let (cancelled, peak) = measured("wait", move || {
        Box::pin(async move {
            let (done, pending) = wait(children(0.., &t), ReturnWhen::AllCompleted)
                .limit(4)
                .timeout(DEADLINE)
                .await;
            assert!(done.is_empty());
            pending.cancel().await
        })
    });
    assert_eq!(cancelled, [0, 1, 2, 3]);
    assert!(taken.load(Ordering::SeqCst) <= 5);
    assert!(peak < 64 * 1024, "wait: {peak} bytes");

    // gather with return_exceptions has one slot per input, so its input
    // must end: 2,000,000 inputs, of which 4 start. Its output is all it
    // builds: the slots, and the vector they are turned into.
    let n = 2_000_000u64;
    let taken = Arc::new(AtomicUsize::new(0));
    let t = taken.clone();
    let ((len, timed_out), peak) = measured("gather return_exceptions", move || {
        Box::pin(async move {
            let out = gather(children(0..n, &t))
                .limit(4)
                .timeout(DEADLINE)
                .return_exceptions()
                .await
                .unwrap();
            let timed_out = out.iter().filter(|o| **o == Outcome::TimedOut).count();
            (out.len(), timed_out)
        })
    });
    assert_eq!((len, timed_out), (n as usize, n as usize));
    let output = n as usize
        * (std::mem::size_of::<Option<Outcome<u64, ()>>>()
            + std::mem::size_of::<Outcome<u64, ()>>());
    assert!(
        peak <= (output + 1024 * 1024) as isize,
        "gather return_exceptions: {peak} bytes for an output of at most {output}"
    );
}
