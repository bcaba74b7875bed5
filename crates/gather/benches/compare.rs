//! One measurement per process, for `scripts/bench.py`: gathers `--n`
//! children of `--shape` with `--peer`, `--runs` times, and prints one JSON
//! line with every run's time and the process's peak memory.
//!
//! ```sh
//! cargo bench -p gather --bench compare -- --peer gather --shape sleep --n 100000 --runs 5
//! cargo bench -p gather --bench compare -- --fair --n 1000000   # a neighbour's worst tick delay
//! ```
//!
//! With no arguments it prints a quick table at 10k children.

mod children;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use children::{make, run, Shape, PEERS};

fn peak_rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn runtime(workers: usize) -> tokio::runtime::Runtime {
    if workers == 0 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .enable_all()
            .build()
            .unwrap()
    }
}

fn measure(peer: &str, shape: Shape, n: usize, runs: usize, workers: usize) -> Vec<f64> {
    let rt = runtime(workers);
    (0..runs)
        .map(|_| {
            let (kids, feeder) = make(shape, n);
            let start = Instant::now();
            rt.block_on(run(peer, kids, feeder));
            start.elapsed().as_secs_f64()
        })
        .collect()
}

/// The worst delay of a task that ticks every 1 ms while a gather of `n`
/// yield-once children runs on the same current_thread runtime.
fn fairness(n: usize) -> (f64, f64) {
    let rt = runtime(0);
    rt.block_on(async {
        let worst = Arc::new(AtomicU64::new(0));
        let w = worst.clone();
        let ticker = tokio::spawn(async move {
            let mut interval = tokio::time::interval(Duration::from_millis(1));
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut last = Instant::now();
            loop {
                interval.tick().await;
                let now = Instant::now();
                w.fetch_max((now - last).as_micros() as u64, Ordering::Relaxed);
                last = now;
            }
        });
        // The children's data is made before the measured window: making a
        // million of them is the harness's work, done in one go, and it
        // used to be counted as the gather's stall (11 of 12 ms).
        let (kids, feeder) = make(Shape::Yield, n);
        tokio::time::sleep(Duration::from_millis(5)).await;
        worst.store(0, Ordering::Relaxed);
        let start = Instant::now();
        run("gather", kids, feeder).await;
        let took = start.elapsed().as_secs_f64();
        ticker.abort();
        (worst.load(Ordering::Relaxed) as f64 / 1000.0, took)
    })
}

fn arg<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(String::as_str)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let n: usize = arg(&args, "--n")
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    if args.iter().any(|a| a == "--fair") {
        let (worst_ms, took) = fairness(n);
        println!("{{\"fair\":true,\"n\":{n},\"worst_tick_ms\":{worst_ms:.3},\"seconds\":{took:.4},\"peak_rss_kb\":{}}}", peak_rss_kb());
        return;
    }
    let runs: usize = arg(&args, "--runs")
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let workers: usize = arg(&args, "--workers")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    match arg(&args, "--peer") {
        Some(peer) => {
            let shape = arg(&args, "--shape")
                .and_then(Shape::parse)
                .expect("--shape ready|yield|sleep|trickle|cpu");
            let times = measure(peer, shape, n, runs, workers);
            let list: Vec<String> = times.iter().map(|t| format!("{t:.6}")).collect();
            println!(
                "{{\"peer\":\"{peer}\",\"shape\":\"{}\",\"n\":{n},\"workers\":{workers},\"seconds\":[{}],\"peak_rss_kb\":{}}}",
                arg(&args, "--shape").unwrap_or(""),
                list.join(","),
                peak_rss_kb()
            );
        }
        None => {
            // `cargo bench` with no arguments: a quick look, same process.
            println!("{:<20} {:>10} {:>10} {:>10} {:>10}   (median of 3, ms, {n} children, current_thread)", "peer", "ready", "yield", "sleep", "trickle");
            for peer in PEERS {
                let mut row = format!("{peer:<20}");
                for shape in [Shape::Ready, Shape::Yield, Shape::Sleep, Shape::Trickle] {
                    let mut t = measure(peer, shape, n, 3, 0);
                    t.sort_by(f64::total_cmp);
                    row.push_str(&format!(" {:>10.2}", t[1] * 1e3));
                }
                println!("{row}");
            }
        }
    }
}
