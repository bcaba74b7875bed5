//! Why CPU-heavy work must not run on the event loop, and the fix.
//!
//! ```sh
//! cargo run --release --example cpu_bound          # 8 jobs of ~40 ms each
//! cargo run --example cpu_bound -- JOBS MILLIS
//! ```
//!
//! A neighbour task ticks every millisecond and records its worst delay.
//! First the jobs run as plain gather children on the event loop: the
//! neighbour starves. Then through `to_thread` and the CPU pool: it keeps
//! ticking, and the jobs run in parallel on the cores.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use gather::executor::CpuPool;
use gather::{gather, infallible, to_thread};

/// Busy work for about `millis` ms (calibrated once).
fn crunch(rounds: u64) -> u64 {
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    for i in 0..rounds {
        x = x.rotate_left(5) ^ i.wrapping_mul(0x2545_F491_4F6C_DD1D);
    }
    x
}

fn calibrate(millis: u64) -> u64 {
    let probe = 2_000_000;
    let start = Instant::now();
    std::hint::black_box(crunch(probe));
    let per_ms = probe as f64 / start.elapsed().as_secs_f64() / 1000.0;
    (per_ms * millis as f64) as u64
}

/// Runs `work` while a neighbour ticks every ms; returns (time, worst tick delay).
async fn with_neighbour<F: std::future::Future<Output = ()>>(work: F) -> (Duration, Duration) {
    let worst = Arc::new(AtomicU64::new(0));
    let w = worst.clone();
    let neighbour = tokio::spawn(async move {
        let mut last = Instant::now();
        loop {
            tokio::time::sleep(Duration::from_millis(1)).await;
            let now = Instant::now();
            w.fetch_max((now - last).as_micros() as u64, Ordering::Relaxed);
            last = now;
        }
    });
    tokio::time::sleep(Duration::from_millis(5)).await;
    worst.store(0, Ordering::Relaxed);
    let start = Instant::now();
    work.await;
    let took = start.elapsed();
    tokio::time::sleep(Duration::from_millis(3)).await; // let the neighbour report the last gap
    neighbour.abort();
    (took, Duration::from_micros(worst.load(Ordering::Relaxed)))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1).map(|a| a.parse::<u64>());
    let jobs = args.next().transpose()?.unwrap_or(8);
    let millis = args.next().transpose()?.unwrap_or(40);
    let rounds = calibrate(millis);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());

    // One event-loop thread, as in Python's asyncio.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        println!("{jobs} jobs of ~{millis} ms each; the neighbour should tick every 1 ms; {cores} cores\n");
        let (t, worst) = with_neighbour(async {
            gather((0..jobs).map(|i| infallible(async move { crunch(rounds + i) }))).await.unwrap();
        })
        .await;
        println!("on the event loop     {:>7.0} ms   neighbour's worst wait {:>6.1} ms   (blocked)", t.as_secs_f64() * 1e3, worst.as_secs_f64() * 1e3);
        let on_loop = t;

        let (t, worst) = with_neighbour(async {
            gather((0..jobs).map(|i| to_thread(move || crunch(rounds + i)))).await.unwrap();
        })
        .await;
        println!("to_thread             {:>7.0} ms   neighbour's worst wait {:>6.1} ms", t.as_secs_f64() * 1e3, worst.as_secs_f64() * 1e3);

        let pool = CpuPool::global();
        let (t, worst) = with_neighbour(async {
            gather((0..jobs).map(|i| pool.spawn(move || crunch(rounds + i)))).await.unwrap();
        })
        .await;
        println!("CPU pool ({} threads)  {:>7.0} ms   neighbour's worst wait {:>6.1} ms", pool.threads(), t.as_secs_f64() * 1e3, worst.as_secs_f64() * 1e3);
        println!("\nspeed-up of the CPU pool over the event loop: {:.2}x", on_loop.as_secs_f64() / t.as_secs_f64());
    });
    Ok(())
}
