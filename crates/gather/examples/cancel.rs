//! Cancelling a running gather, and what each child saw.
//!
//! ```sh
//! cargo run --example cancel
//! ```
//!
//! Python: `fut = asyncio.gather(...); fut.cancel()`. Here a
//! `CancelHandle` cancels from another task; each child notices through
//! its own drop, which is how cancellation reaches a Rust future.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gather::gather;

/// Records how a child ended: finished, or dropped while running.
struct Witness {
    index: usize,
    start: Instant,
    finished: bool,
    log: Arc<Mutex<Vec<String>>>,
}

impl Drop for Witness {
    fn drop(&mut self) {
        let at = self.start.elapsed().as_millis();
        let what = if self.finished {
            "finished"
        } else {
            "cancelled"
        };
        self.log
            .lock()
            .unwrap()
            .push(format!("child {} {what} at {at} ms", self.index));
    }
}

#[tokio::main]
async fn main() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let start = Instant::now();
    let mut g = gather((0..5).map(|index| {
        let log = log.clone();
        async move {
            let mut witness = Witness {
                index,
                start,
                finished: false,
                log,
            };
            tokio::time::sleep(Duration::from_millis(100 * (index as u64 + 1))).await;
            witness.finished = true;
            Ok::<_, std::io::Error>(index)
        }
    }));
    let handle = g.cancel_handle();
    let canceller = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let cancelled = handle.cancel();
        println!("cancel() at 250 ms returned {cancelled}");
        let again = handle.cancel();
        println!("cancel() again returned {again} (already cancelled)");
    });
    let result = g.await;
    canceller.await.unwrap();
    match result {
        Ok(v) => println!("gather finished: {v:?}"),
        Err(e) => {
            let message = e.to_string();
            println!(
                "gather ended: {message}; results that had finished: {:?}",
                e.into_partial()
            );
        }
    }
    for line in log.lock().unwrap().iter() {
        println!("  {line}");
    }
}
