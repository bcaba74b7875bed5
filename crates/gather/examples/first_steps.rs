//! The seed article's programs, as a Python user writes them right after
//! reading it: each Python snippet, then the Rust. The "pages" are
//! simulated (a short sleep), so this runs anywhere; `gather-examples`'s
//! `fetch_pages` does the same over real HTTP.
//!
//! ```sh
//! cargo run -p gather --example first_steps
//! ```

use std::error::Error;
use std::time::{Duration, Instant};

use gather::gather;

/// ```python
/// async def fetch_page(session, url):
///     async with session.get(url) as response:
///         return await response.text()
/// ```
async fn fetch_page(url: &str) -> Result<String, String> {
    tokio::time::sleep(Duration::from_millis(100)).await; // the request
    if url.ends_with("404") {
        return Err(format!("{url}: 404 Not Found"));
    }
    Ok(format!("<html>{url}</html>"))
}

/// A coroutine that cannot fail.
async fn double(x: u32) -> u32 {
    x * 2
}

/// CPU-bound work, for a thread.
fn fib(n: u64) -> u64 {
    if n < 2 {
        n
    } else {
        fib(n - 1) + fib(n - 2)
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    // urls = ["https://example.com/page1", ...]
    // results = await asyncio.gather(*[fetch_page(session, url) for url in urls])
    // print(results)
    let urls = [
        "https://example.com/page1",
        "https://example.com/page2",
        "https://example.com/page3",
    ];
    let start = Instant::now();
    let results = gather(urls.iter().map(|url| fetch_page(url))).await?;
    println!("{results:?}");
    println!(
        "3 pages in {} ms, not 300: they ran at once",
        start.elapsed().as_millis() / 10 * 10
    );

    // One URL fails: the first error ends the gather (and cancels the
    // rest), and `?` would return it from main. Here we print it instead.
    let urls = [
        "https://example.com/page1",
        "https://example.com/404",
        "https://example.com/page3",
    ];
    match gather(urls.iter().map(|url| fetch_page(url))).await {
        Ok(pages) => println!("{pages:?}"),
        Err(e) => println!("fail-fast: {e}"),
    }

    // results = await asyncio.gather(*coros, return_exceptions=True)
    // for url, r in zip(urls, results):
    //     print(url, "->", r)
    let results = gather(urls.iter().map(|url| fetch_page(url)))
        .return_exceptions()
        .await?;
    for (url, r) in urls.iter().zip(&results) {
        println!("{url} -> {r}");
    }
    let failed = results.iter().filter(|r| r.is_err()).count();
    println!("{failed} of {} failed", results.len());

    // Coroutines that return plain values:
    // await asyncio.gather(*(double(x) for x in range(1, 4)))
    let doubled = gather((1..=3).map(|x| gather::infallible(double(x)))).await?;
    println!("doubled: {doubled:?}");

    // n = await asyncio.to_thread(fib, 25)
    let n = gather::to_thread(|| fib(25)).await?;
    println!("fib(25) = {n}");

    // done, pending = await asyncio.wait(tasks, return_when=FIRST_COMPLETED)
    // for t in done: print(t.result())
    // for t in pending: t.cancel()
    let tasks = urls.map(|url| {
        gather::spawn(async move {
            if !url.ends_with("page1") {
                tokio::time::sleep(Duration::from_secs(3600)).await;
            }
            fetch_page(url).await
        })
    });
    let (done, pending) = gather::wait(tasks, gather::ReturnWhen::FirstCompleted).await;
    for (index, outcome) in done {
        println!("done: {index} -> {}", outcome.into_result()?);
    }
    println!("cancelled: {:?}", pending.cancel().await);

    // gather_future.cancel(): from elsewhere, while it runs.
    let mut slow = gather(urls.iter().map(|url| async move {
        tokio::time::sleep(Duration::from_secs(3600)).await;
        fetch_page(url).await
    }));
    let handle = slow.cancel_handle();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(50)).await;
        println!("cancel() returned {}", handle.cancel());
    });
    match slow.await {
        Err(e) if e.is_cancelled() => println!("the gather was cancelled"),
        other => println!("unexpected: {other:?}"),
    }
    Ok(())
}
