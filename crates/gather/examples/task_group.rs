//! A `TaskGroup`: children spawned dynamically (children spawning
//! children), then a group whose first error cancels the rest and reports
//! every error.
//!
//! ```sh
//! cargo run --example task_group
//! ```

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use gather::{Failure, TaskGroup};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    // 1. A crawl: each page "links" to two more, three levels deep.
    let fetched = Arc::new(AtomicUsize::new(0));
    let f = fetched.clone();
    let result = TaskGroup::<String>::run(|tg| async move {
        // Spawning (not awaiting) itself: a recursive `async fn` would need
        // boxing, a function returning an `impl Future` does not.
        #[allow(clippy::manual_async_fn)]
        fn crawl(
            tg: TaskGroup<String>,
            depth: u32,
            fetched: Arc<AtomicUsize>,
        ) -> impl std::future::Future<Output = Result<(), String>> + Send + 'static {
            async move {
                tokio::time::sleep(Duration::from_millis(20)).await;
                fetched.fetch_add(1, Ordering::SeqCst);
                if depth < 3 {
                    for _ in 0..2 {
                        tg.spawn(crawl(tg.clone(), depth + 1, fetched.clone()))
                            .map_err(|e| e.to_string())?;
                    }
                }
                Ok(())
            }
        }
        tg.spawn(crawl(tg.clone(), 0, f))
            .map_err(|e| e.to_string())?;
        Ok("crawl started")
    })
    .await;
    println!(
        "crawl: {:?}, {} pages fetched by children spawned from children",
        result.map(|v| v.unwrap_or_default()),
        fetched.load(Ordering::SeqCst)
    );

    // 2. One child fails: its siblings and the body are cancelled.
    let finished = Arc::new(AtomicUsize::new(0));
    let f = finished.clone();
    let err = TaskGroup::<String>::run(|tg| async move {
        for i in 0..5u64 {
            let f = f.clone();
            tg.spawn(async move {
                tokio::time::sleep(Duration::from_millis(100 * (i + 1))).await;
                if i == 1 {
                    return Err(format!("child {i}: upstream said 503"));
                }
                f.fetch_add(1, Ordering::SeqCst);
                Ok(())
            })
            .map_err(|e| e.to_string())?;
        }
        tokio::time::sleep(Duration::from_secs(10)).await;
        println!("(never printed: the body was cancelled)");
        Ok(())
    })
    .await
    .unwrap_err();
    println!("group failed: {err}");
    println!(
        "children that finished before the failure: {}",
        finished.load(Ordering::SeqCst)
    );

    // 3. Two failures at the same moment on two worker threads: both are
    // reported. (The barrier blocks each worker for an instant so that the
    // race is certain in a demo; real code would not block a worker.)
    let barrier = Arc::new(std::sync::Barrier::new(2));
    let err = TaskGroup::<String>::run(|tg| async move {
        for i in 0..2 {
            let b = barrier.clone();
            tg.spawn(async move {
                b.wait();
                Err::<(), _>(format!("worker {i} failed"))
            })
            .map_err(|e| e.to_string())?;
        }
        Ok(())
    })
    .await
    .unwrap_err();
    let errors: Vec<String> = err
        .errors()
        .iter()
        .map(|(child, f)| match f {
            Failure::Error(e) => format!("child {child:?}: {e}"),
            other => format!("child {child:?}: {other:?}"),
        })
        .collect();
    println!(
        "every error, not just the first ({}): {errors:?}",
        err.len()
    );
}
