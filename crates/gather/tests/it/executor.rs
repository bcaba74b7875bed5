//! CPU-bound work: `to_thread` and `CpuPool` as gather children.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use gather::executor::{spawn_cpu, try_spawn_cpu, CpuPool};
use gather::{gather, to_thread, try_to_thread, GatherError, Outcome, Panic};

fn busy(n: u64) -> u64 {
    (0..n).fold(0u64, |a, x| a.wrapping_mul(31).wrapping_add(x))
}

#[tokio::test]
async fn to_thread_children_gather_in_input_order() {
    let v = gather((0..8u64).map(|i| to_thread(move || busy(10_000 * (8 - i)) ^ i)))
        .await
        .unwrap();
    let expected: Vec<_> = (0..8u64).map(|i| busy(10_000 * (8 - i)) ^ i).collect();
    assert_eq!(v, expected);
}

#[tokio::test]
async fn a_plain_function_resolves_to_its_value_and_a_panic_to_err() {
    // `await asyncio.to_thread(fib, 30)`: any `FnOnce() -> T`, no `Ok` wrapping.
    assert_eq!(to_thread(|| busy(10)).await.unwrap(), busy(10));
    assert_eq!(spawn_cpu(|| "pool").await.unwrap(), "pool");
    let out: Result<(), Panic> = to_thread(|| panic!("thread panic")).await;
    assert_eq!(out.unwrap_err().message(), "thread panic");
    let out: Result<(), Panic> = spawn_cpu(|| panic!("pool panic")).await;
    assert_eq!(out.unwrap_err().message(), "pool panic");
}

#[tokio::test]
async fn a_panic_on_a_thread_fails_a_fail_fast_gather() {
    let jobs = (0..3u8).map(|i| {
        to_thread(move || {
            if i == 1 {
                panic!("job 1");
            }
            i
        })
    });
    let err: GatherError<Panic, u8> = gather(jobs).await.unwrap_err();
    assert_eq!(err.index(), Some(1));
    assert_eq!(err.to_string(), "child 1 failed: panic: job 1");
}

#[tokio::test]
async fn the_try_forms_make_the_functions_err_a_failure() {
    let out = try_to_thread(|| -> Result<(), ()> { panic!("thread panic") }).await;
    assert!(matches!(out, Outcome::Panicked(p) if p.message() == "thread panic"));
    let out = try_spawn_cpu(|| -> Result<(), ()> { panic!("pool panic") }).await;
    assert!(matches!(out, Outcome::Panicked(p) if p.message() == "pool panic"));
    assert_eq!(try_spawn_cpu(|| "7".parse::<u8>()).await, Outcome::Ok(7));

    // The plain form hands a fallible function's `Err` back as a value...
    let plain = gather((0..2).map(|i| to_thread(move || if i == 0 { Err("bad") } else { Ok(i) })))
        .await
        .unwrap();
    assert_eq!(plain, [Err("bad"), Ok(1)]);
    // ...the try form stops the gather on it.
    let err =
        gather((0..2).map(|i| try_to_thread(move || if i == 0 { Err("bad") } else { Ok(i) })))
            .await
            .unwrap_err();
    assert_eq!(err.to_string(), "child 0 failed: bad");
    let err =
        gather((0..2).map(|i| try_spawn_cpu(move || if i == 0 { Err("bad") } else { Ok(i) })))
            .await
            .unwrap_err();
    assert_eq!(err.index(), Some(0));
}

#[tokio::test]
async fn cancelling_the_awaiting_side_returns_at_once_and_the_thread_finishes_on_its_own() {
    let (release, gate) = mpsc::channel::<()>();
    let finished = Arc::new(AtomicBool::new(false));
    let f = finished.clone();
    let task = to_thread(move || {
        gate.recv_timeout(Duration::from_secs(5)).ok();
        f.store(true, Ordering::SeqCst);
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
    let v = gather((0..16u64).map(|i| pool.spawn(move || busy(50_000) ^ i)))
        .limit(4)
        .await
        .unwrap();
    assert_eq!(v, (0..16u64).map(|i| busy(50_000) ^ i).collect::<Vec<_>>());
}

#[tokio::test]
async fn a_pool_job_dropped_before_it_starts_never_runs() {
    let pool = CpuPool::new(1).unwrap();
    let (release, gate) = mpsc::channel::<()>();
    let blocker = pool.try_spawn(move || {
        gate.recv_timeout(Duration::from_secs(5)).ok();
        Ok::<_, ()>(())
    });
    let ran = Arc::new(AtomicUsize::new(0));
    let r = ran.clone();
    let skipped = pool.spawn(move || {
        r.fetch_add(1, Ordering::SeqCst);
    });
    drop(skipped);
    release.send(()).unwrap();
    assert_eq!(blocker.await, Outcome::Ok(()));
    // A job queued after the skipped one proves the queue moved past it.
    assert_eq!(pool.spawn(|| 1).await.unwrap(), 1);
    assert_eq!(ran.load(Ordering::SeqCst), 0);
}

#[test]
fn outside_a_runtime_to_thread_reports_instead_of_panicking() {
    let plain = to_thread(|| ());
    let fallible = try_to_thread(|| Ok::<_, ()>(()));
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let out = rt.block_on(plain);
    assert!(out.unwrap_err().message().contains("runtime"));
    let out = rt.block_on(fallible);
    assert!(matches!(out, Outcome::Panicked(p) if p.message().contains("runtime")));
}

#[test]
fn a_job_whose_runtime_shut_down_before_it_started_reports_it() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let handle = rt.handle().clone();
    rt.shutdown_background();
    // The handle still enters the context, but its blocking pool refuses work.
    let queued = {
        let _entered = handle.enter();
        to_thread(|| "never")
    };
    let other = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let panic = other.block_on(queued).unwrap_err();
    assert!(panic.message().contains("never ran"), "{panic:?}");
}
