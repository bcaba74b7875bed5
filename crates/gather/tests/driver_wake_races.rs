//! Wake-ups racing the driver, through the public API on real threads.
//!
//! The shape of issue #13: a gather of one child that `join!`s two tokio
//! oneshots, awaited on a multi-thread runtime, while a plain thread sends
//! the first value, spins a random 0-200 iterations, then sends the second.
//! The child re-polls the first oneshot with a waker that `will_wake`, so
//! it reads the second one's state with a plain load: if the driver's
//! clear of the slot's queued flag and the sender's wake cross, the child
//! can read the old state while the wake finds the slot still queued. That
//! gather then never finishes (256 in 2,000,000 before the fix).
//!
//! Two drivers of the same gather: polled in a loop on a plain thread (as the
//! issue's repro did; the driver's clear then lands within nanoseconds of
//! the send, which is what catches the race), and awaited on a multi-thread
//! runtime. A gather still `Pending` well after both values were sent
//! (2,000 polls and 50 ms in the loop; 2 s on the runtime) is counted as
//! hung, and the test fails with the count: it reports a hang, it does not
//! hang. Bounded by count and time: `GATHER_RACE_GATHERS`
//! (default 200,000) and `GATHER_RACE_SECONDS` (default 3), whichever comes
//! first; it stops at the third hang. `scripts/reliability.py` runs it
//! with millions in a release build and records the counts.

use std::future::Future;
use std::sync::mpsc;
use std::task::{Context, Poll};
use std::thread;
use std::time::{Duration, Instant};

use gather::gather;
use tokio::sync::oneshot;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// One job for the sending thread: the two senders and how long to spin
/// between them.
struct Job {
    first: oneshot::Sender<u64>,
    second: oneshot::Sender<u64>,
    spin: u32,
    /// Told once both values are sent.
    sent: mpsc::SyncSender<()>,
}

/// A small xorshift: the spins must vary, and no crate is needed for that.
fn next(x: &mut u64) -> u64 {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    *x
}

/// The thread that sends both values of each job it is given.
fn sending_thread() -> (mpsc::Sender<Job>, thread::JoinHandle<()>) {
    let (jobs, inbox) = mpsc::channel::<Job>();
    let sender = thread::spawn(move || {
        for job in inbox {
            let _ = job.first.send(1);
            for _ in 0..job.spin {
                std::hint::spin_loop();
            }
            let _ = job.second.send(2);
            let _ = job.sent.send(());
        }
    });
    (jobs, sender)
}

/// What a racing gather fails with (never, unless a sender is dropped).
type RaceError = gather::GatherError<oneshot::error::RecvError, u64>;

/// The gather of the issue: one child joining two oneshots. Hands the
/// senders to the sending thread.
fn racing_gather(
    jobs: &mpsc::Sender<Job>,
    seed: &mut u64,
) -> (
    impl Future<Output = Result<Vec<u64>, RaceError>>,
    mpsc::Receiver<()>,
) {
    let (first, r1) = oneshot::channel();
    let (second, r2) = oneshot::channel();
    let (sent, sent_rx) = mpsc::sync_channel(1);
    let spin = (next(seed) % 201) as u32;
    let g = gather([async move {
        let (a, b) = tokio::join!(r1, r2);
        Ok::<_, oneshot::error::RecvError>(a? + b?)
    }]);
    jobs.send(Job {
        first,
        second,
        spin,
        sent,
    })
    .unwrap();
    (g, sent_rx)
}

fn report(shape: &str, ran: u64, slow: u64, hung: u64) {
    println!("figure: race {shape} gathers = {ran}");
    println!("figure: race {shape} hung = {hung}");
    println!("figure: race {shape} slow = {slow}");
    assert_eq!(
        hung, 0,
        "{shape}: {hung} of {ran} gathers never finished although both values were sent (lost wake-up)"
    );
    assert!(ran > 0);
}

#[test]
fn a_gather_polled_in_a_loop_while_another_thread_sends_always_finishes() {
    let gathers: u64 = env_or("GATHER_RACE_GATHERS", 200_000);
    let budget = Duration::from_secs(env_or("GATHER_RACE_SECONDS", 3));
    let (jobs, sender) = sending_thread();
    let mut cx = Context::from_waker(futures::task::noop_waker_ref());
    let start = Instant::now();
    let mut seed = 0x2545_F491_4F6C_DD1D_u64;
    let (mut ran, mut slow, mut hung) = (0u64, 0u64, 0u64);
    while ran < gathers && start.elapsed() < budget && hung < 3 {
        let (g, sent) = racing_gather(&jobs, &mut seed);
        let mut g = std::pin::pin!(g);
        ran += 1;
        // Polls until done. Once both values are sent, a queued child is
        // found by the next poll: 2,000 polls and 50 ms later, it is lost.
        let mut sent_at: Option<(Instant, u32)> = None;
        let out = loop {
            if let Poll::Ready(out) = g.as_mut().poll(&mut cx) {
                break Some(out);
            }
            match &mut sent_at {
                None => {
                    if sent.try_recv().is_ok() {
                        sent_at = Some((Instant::now(), 0));
                    }
                }
                Some((at, polls)) => {
                    *polls += 1;
                    if *polls > 2_000 && at.elapsed() > Duration::from_millis(50) {
                        break None;
                    }
                    if *polls > 100 {
                        slow += u64::from(*polls == 101);
                        thread::yield_now();
                    }
                }
            }
        };
        match out {
            Some(out) => assert_eq!(out.unwrap(), [3]),
            None => hung += 1,
        }
    }
    drop(jobs);
    sender.join().unwrap();
    report("polled in a loop", ran, slow, hung);
}

#[test]
fn a_gather_awaited_on_a_multi_thread_runtime_while_another_thread_sends_always_finishes() {
    let gathers: u64 = env_or("GATHER_RACE_GATHERS", 200_000);
    let budget = Duration::from_secs(env_or("GATHER_RACE_SECONDS", 3));
    let (jobs, sender) = sending_thread();

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .unwrap();
    let (ran, slow, hung) = rt.block_on(async move {
        let start = Instant::now();
        let mut seed = 0x9E37_79B9_7F4A_7C15_u64;
        let (mut ran, mut slow, mut hung) = (0u64, 0u64, 0u64);
        while ran < gathers && start.elapsed() < budget && hung < 3 {
            let (g, sent_rx) = racing_gather(&jobs, &mut seed);
            let mut g = Box::pin(g);
            ran += 1;
            let out = match tokio::time::timeout(Duration::from_millis(200), &mut g).await {
                Ok(out) => out,
                Err(_) => {
                    // Slow or lost: wait until both values are surely sent,
                    // then give the wake-up two more seconds to arrive.
                    sent_rx
                        .recv_timeout(Duration::from_secs(10))
                        .expect("the sending thread did not send within 10 s");
                    match tokio::time::timeout(Duration::from_secs(2), &mut g).await {
                        Ok(out) => {
                            slow += 1;
                            out
                        }
                        Err(_) => {
                            hung += 1;
                            continue;
                        }
                    }
                }
            };
            assert_eq!(out.unwrap(), [3]);
        }
        (ran, slow, hung)
    });
    drop(rt);
    sender.join().unwrap();
    report("on a multi-thread runtime", ran, slow, hung);
}
