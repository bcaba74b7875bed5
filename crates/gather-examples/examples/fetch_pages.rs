//! The seed's first snippet in Rust: fetch many pages concurrently, get the
//! results back in input order; then the same with one failing URL, in
//! both error modes.
//!
//! ```sh
//! cargo run -p gather-examples --example fetch_pages                # pages served on 127.0.0.1, no network needed
//! cargo run -p gather-examples --example fetch_pages -- URL [URL..] # your own URLs
//! ```
//!
//! Python's version:
//!
//! ```python
//! async def fetch_page(session, url):
//!     async with session.get(url) as response:
//!         return await response.text()
//!
//! results = await asyncio.gather(*[fetch_page(session, url) for url in urls])
//! ```

use std::time::{Duration, Instant};

use gather::{gather, Outcome};
use gather_pageserver::Server;

async fn fetch_page(client: &reqwest::Client, url: &str) -> Result<String, reqwest::Error> {
    client
        .get(url)
        .send()
        .await?
        .error_for_status()?
        .text()
        .await
}

fn title(page: &str) -> &str {
    page.split("<title>")
        .nth(1)
        .and_then(|t| t.split("</title>").next())
        .unwrap_or("(no title)")
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let client = reqwest::Client::new();
    let args: Vec<String> = std::env::args().skip(1).collect();

    // With no URLs given, serve pages locally, each answering in 100 ms.
    let server = Server::start(Duration::from_millis(100)).await?;
    let urls: Vec<String> = if args.is_empty() {
        (1..=10)
            .map(|i| server.url(&format!("/page/{i}")))
            .collect()
    } else {
        args
    };

    // 1. Every page at once; results in input order.
    let start = Instant::now();
    let pages = gather(urls.iter().map(|u| fetch_page(&client, u))).await?;
    println!(
        "fetched {} pages in {} ms, in input order:",
        pages.len(),
        start.elapsed().as_millis()
    );
    for (url, page) in urls.iter().zip(&pages) {
        println!("  {url} -> {} bytes, title {:?}", page.len(), title(page));
    }

    // 2. One URL fails. Fail-fast: the first error ends the gather and names the child.
    let with_failure = [
        server.url("/page/1"),
        server.url("/status/404"),
        server.url("/page/3"),
    ];
    match gather(with_failure.iter().map(|u| fetch_page(&client, u))).await {
        Ok(_) => println!("\nfail-fast: no error?"),
        Err(e) => println!("\nfail-fast: {e}"),
    }

    // 3. return_exceptions: every page is fetched; the failure comes back as a value.
    let outcomes = gather(with_failure.iter().map(|u| fetch_page(&client, u)))
        .return_exceptions()
        .await?;
    println!("return_exceptions:");
    for (i, outcome) in outcomes.iter().enumerate() {
        match outcome {
            Outcome::Ok(page) => println!("  [{i}] ok: {:?}", title(page)),
            Outcome::Err(e) => println!("  [{i}] error: {e}"),
            other => println!("  [{i}] {:?}", other.kind()),
        }
    }
    Ok(())
}
