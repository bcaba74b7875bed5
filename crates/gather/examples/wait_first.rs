//! `wait(FirstCompleted)` with a timeout, re-waiting the pending set until
//! everything is done, as Python's `asyncio.wait` loop.
//!
//! ```sh
//! cargo run --example wait_first
//! ```

use std::time::{Duration, Instant};

use gather::{wait, Outcome, ReturnWhen};

#[tokio::main]
async fn main() {
    let start = Instant::now();
    let delays = [250u64, 50, 400, 100, 600];
    let children = delays.map(|ms| async move {
        tokio::time::sleep(Duration::from_millis(ms)).await;
        if ms == 400 {
            Err(format!("server slow at {ms} ms"))
        } else {
            Ok(ms)
        }
    });

    let mut pending = wait(children, ReturnWhen::FirstCompleted)
        .timeout(Duration::from_millis(200))
        .await;
    let mut round = 1;
    loop {
        let (done, rest) = pending;
        let at = start.elapsed().as_millis();
        if done.is_empty() {
            println!(
                "round {round} at {at:>4} ms: timed out, {} still pending (nothing cancelled)",
                rest.len()
            );
        }
        for (index, outcome) in &done {
            match outcome {
                Outcome::Ok(ms) => {
                    println!("round {round} at {at:>4} ms: child {index} done ({ms} ms)")
                }
                Outcome::Err(e) => {
                    println!("round {round} at {at:>4} ms: child {index} failed: {e}")
                }
                other => println!(
                    "round {round} at {at:>4} ms: child {index} {}",
                    other.kind()
                ),
            }
        }
        if rest.is_empty() {
            break;
        }
        round += 1;
        pending = wait(rest, ReturnWhen::FirstCompleted)
            .timeout(Duration::from_millis(200))
            .await;
    }
    println!(
        "all {} children accounted for in {round} rounds",
        delays.len()
    );
}
