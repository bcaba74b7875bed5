//! Stress: a million children in place and spawned, 10,000 nested gathers,
//! TaskGroups whose children spawn children. Each reports the peak memory
//! per child and checks that memory returns to its start level afterwards.
//!
//! Ignored by default (seconds in release, much longer in debug); run by
//! `scripts/reliability.py`:
//!
//! ```sh
//! cargo test --release -p gather --test stress -- --ignored --nocapture --test-threads 1
//! ```
//!
//! Figures are printed as `figure: NAME = VALUE` lines.

#[path = "support/counting.rs"]
mod counting;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use counting::{Counting, IN_USE, PEAK};
use gather::{gather, infallible, TaskGroup};

#[global_allocator]
static ALLOC: Counting = Counting;

/// The tests share the counters: one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

/// Runs `body`, returning (peak bytes above the start, bytes still in use
/// above the start afterwards).
fn measured(body: impl FnOnce()) -> (isize, isize) {
    let start = IN_USE.load(Ordering::SeqCst);
    PEAK.store(start, Ordering::SeqCst);
    body();
    (
        PEAK.load(Ordering::SeqCst) - start,
        IN_USE.load(Ordering::SeqCst) - start,
    )
}

fn report(name: &str, value: impl std::fmt::Display) {
    println!("figure: {name} = {value}");
}

/// Memory that may stay behind: the runtime's own caches, a few KiB.
const SLACK: isize = 256 * 1024;

#[test]
#[ignore = "stress: run by scripts/reliability.py"]
fn a_million_children_in_place() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let n = 1_000_000;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let t = std::time::Instant::now();
    let (peak, left) = measured(|| {
        let v = rt
            .block_on(gather((0..n as u32).map(|i| {
                infallible(async move {
                    tokio::task::yield_now().await;
                    i
                })
            })))
            .unwrap();
        assert_eq!(v.len(), n);
        assert!(v.iter().enumerate().all(|(i, &x)| x == i as u32));
    });
    report(
        "in_place_1m_seconds",
        format!("{:.2}", t.elapsed().as_secs_f64()),
    );
    report("in_place_1m_peak_bytes_per_child", peak / n as isize);
    report("in_place_1m_bytes_left_after", left);
    assert!(
        left < SLACK,
        "memory did not return to its start level: {left} bytes left"
    );
}

#[test]
#[ignore = "stress: run by scripts/reliability.py"]
fn a_million_children_spawned() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let n = 1_000_000;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    // Warm the runtime's worker caches so they do not count as left over.
    rt.block_on(gather((0..1000u32).map(|i| infallible(async move { i }))).spawn())
        .unwrap();
    let t = std::time::Instant::now();
    let (peak, left) = measured(|| {
        let v = rt
            .block_on(
                gather((0..n as u32).map(|i| {
                    infallible(async move {
                        tokio::task::yield_now().await;
                        i
                    })
                }))
                .spawn(),
            )
            .unwrap();
        assert_eq!(v.len(), n);
        assert!(v.iter().enumerate().all(|(i, &x)| x == i as u32));
    });
    report(
        "spawned_1m_seconds",
        format!("{:.2}", t.elapsed().as_secs_f64()),
    );
    report("spawned_1m_peak_bytes_per_child", peak / n as isize);
    report("spawned_1m_bytes_left_after", left);
    assert!(
        left < 4 * SLACK,
        "memory did not return to its start level: {left} bytes left"
    );
}

#[test]
#[ignore = "stress: run by scripts/reliability.py"]
fn ten_thousand_nested_gathers() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (peak, left) = measured(|| {
        let sums = rt
            .block_on(gather((0..10_000u64).map(|g| async move {
                let v = gather((0..10u64).map(|i| {
                    infallible(async move {
                        tokio::task::yield_now().await;
                        g * 10 + i
                    })
                }))
                .limit(4)
                .await?;
                Ok::<_, gather::GatherError<std::convert::Infallible, u64>>(v.iter().sum::<u64>())
            })))
            .unwrap();
        assert_eq!(sums.len(), 10_000);
        assert_eq!(sums[7], (70..80).sum::<u64>());
    });
    report(
        "nested_10k_gathers_peak_bytes_per_inner_gather",
        peak / 10_000,
    );
    report("nested_10k_gathers_bytes_left_after", left);
    assert!(left < SLACK);
}

#[test]
#[ignore = "stress: run by scripts/reliability.py"]
fn task_groups_whose_children_spawn_children() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let done = Arc::new(AtomicUsize::new(0));
    let d = done.clone();
    let (peak, left) = measured(|| {
        rt.block_on(TaskGroup::<()>::run(|tg| async move {
            for _ in 0..1_000 {
                let (tg2, d) = (tg.clone(), d.clone());
                tg.spawn(async move {
                    for _ in 0..10 {
                        let d = d.clone();
                        tg2.spawn(async move {
                            tokio::task::yield_now().await;
                            d.fetch_add(1, Ordering::SeqCst);
                            Ok(())
                        })
                        .unwrap();
                    }
                    Ok(())
                })
                .unwrap();
            }
            Ok(())
        }))
        .unwrap();
    });
    assert_eq!(done.load(Ordering::SeqCst), 10_000);
    report(
        "task_group_11k_children_peak_bytes_per_child",
        peak / 11_000,
    );
    report("task_group_11k_children_bytes_left_after", left);
    assert!(left < 4 * SLACK);
}
