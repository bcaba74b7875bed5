//! CPU-bound work: `to_thread` and `CpuPool` as gather children.

mod support;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use gather::{gather, spawn_cpu, to_thread, CpuPool, Outcome};

fn busy(n: u64) -> u64 {
    (0..n).fold(0u64, |a, x| a.wrapping_mul(31).wrapping_add(x))
}

#[tokio::test]
async fn to_thread_children_gather_in_input_order() {
    let v = gather((0..8u64).map(|i| to_thread(move || Ok::<_, ()>(busy(10_000 * (8 - i)) ^ i))))
        .await
        .unwrap();
    let expected: Vec<_> = (0..8u64).map(|i| busy(10_000 * (8 - i)) ^ i).collect();
    assert_eq!(v, expected);
}

#[tokio::test]
async fn a_panic_on_a_thread_comes_back_as_an_outcome() {
    let out = to_thread(|| -> Result<(), ()> { panic!("thread panic") }).await;
    assert!(matches!(out, Outcome::Panicked(p) if p.message() == "thread panic"));
    let out = spawn_cpu(|| -> Result<(), ()> { panic!("pool panic") }).await;
    assert!(matches!(out, Outcome::Panicked(p) if p.message() == "pool panic"));
}

#[tokio::test]
async fn cancelling_the_awaiting_side_returns_at_once_and_the_thread_finishes_on_its_own() {
    let (release, gate) = mpsc::channel::<()>();
    let finished = Arc::new(AtomicBool::new(false));
    let f = finished.clone();
    let task = to_thread(move || {
        gate.recv_timeout(Duration::from_secs(5)).ok();
        f.store(true, Ordering::SeqCst);
        Ok::<_, ()>(())
    });
    // The caller gives up: this returns at once although the thread is blocked.
    assert!(tokio::time::timeout(Duration::from_millis(20), task)
        .await
        .is_err());
    assert!(!finished.load(Ordering::SeqCst));
    release.send(()).unwrap();
    for _ in 0..500 {
        if finished.load(Ordering::SeqCst) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        finished.load(Ordering::SeqCst),
        "the thread ran to its end on its own"
    );
}

#[tokio::test]
async fn a_cpu_pool_gathers_heavy_children_in_input_order() {
    let pool = CpuPool::new(2).unwrap();
    assert_eq!(pool.threads(), 2);
    let v = gather((0..16u64).map(|i| pool.spawn(move || Ok::<_, ()>(busy(50_000) ^ i))))
        .limit(4)
        .await
        .unwrap();
    assert_eq!(v, (0..16u64).map(|i| busy(50_000) ^ i).collect::<Vec<_>>());
}

#[tokio::test]
async fn a_pool_job_dropped_before_it_starts_never_runs() {
    let pool = CpuPool::new(1).unwrap();
    let (release, gate) = mpsc::channel::<()>();
    let blocker = pool.spawn(move || {
        gate.recv_timeout(Duration::from_secs(5)).ok();
        Ok::<_, ()>(())
    });
    let ran = Arc::new(AtomicUsize::new(0));
    let r = ran.clone();
    let skipped = pool.spawn(move || {
        r.fetch_add(1, Ordering::SeqCst);
        Ok::<_, ()>(())
    });
    drop(skipped);
    release.send(()).unwrap();
    assert_eq!(blocker.await, Outcome::Ok(()));
    // A job queued after the skipped one proves the queue moved past it.
    assert_eq!(pool.spawn(|| Ok::<_, ()>(1)).await, Outcome::Ok(1));
    assert_eq!(ran.load(Ordering::SeqCst), 0);
}

#[test]
fn outside_a_runtime_to_thread_reports_instead_of_panicking() {
    let task = to_thread(|| Ok::<_, ()>(()));
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let out = rt.block_on(task);
    assert!(matches!(out, Outcome::Panicked(p) if p.message().contains("runtime")));
}
