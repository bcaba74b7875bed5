//! `gather demo`: the seed's claim, made visible. Serve pages on
//! 127.0.0.1, fetch them one after the other, then all at once with
//! `gather`, and show both times. Then call a rate-limited API on the same
//! server with the same requests twice, paced by the limits its answers
//! announce and as a flood, and show what each cost.

mod api;
mod pages;

use std::time::Duration;

// tokio's clock, the one every wait and timeout in the run is measured
// on: a single clock, so that elapsed times agree with timeouts (and read
// the paused time in tests).
use tokio::time::Instant;

use gather_http::client::{BodyField, Payload};
use gather_http::{FetchConfig, Fetcher};

use crate::args::DemoArgs;
use crate::config::refused;
use crate::exit::{self, Exit};
use pages::Pages;

/// `gather demo`: how it ended, for `main` to say and exit with.
pub(crate) async fn demo(a: DemoArgs) -> Exit {
    let pages = a.pages.max(1);
    let latency = Duration::from_millis(a.latency_ms);
    let server = match Pages::start(latency, a.api_rate as f64).await {
        Ok(s) => s,
        Err(e) => return Exit::usage(format!("cannot start the demo server on 127.0.0.1: {e}")),
    };
    let fetcher = match Fetcher::new(config(&a)) {
        Ok(f) => f,
        Err(e) => return Exit::usage(refused(e)),
    };
    let urls: Vec<url::Url> = (0..pages)
        .map(|i| {
            url::Url::parse(&server.url(&format!("/page/{i}"))).expect("a loopback URL is valid")
        })
        .collect();

    println!(
        "gather demo: {pages} pages from a local server at http://{}, each answering in {} ms\n",
        server.addr(),
        a.latency_ms
    );
    if let Err(exit) = pages_section(&a, &fetcher, &urls).await {
        return exit;
    }
    if a.api_requests > 0 {
        if let Err(exit) = api_section(&a, &server).await {
            return exit;
        }
    }
    println!(
        "\nNow try your own list:  gather fetch urls.txt -o pages.jsonl   (gather fetch --help)"
    );
    Exit::OK
}

/// The demo's fetch configuration: its own server on 127.0.0.1, no proxy,
/// no host limit (the demo shows what --limit does).
fn config(a: &DemoArgs) -> FetchConfig {
    // The engine's defaults otherwise: no proxy (its server is on
    // 127.0.0.1), HTTP/2 where TLS agrees on it.
    FetchConfig {
        limit: a.limit.max(1),
        retry_base: Duration::from_millis(100),
        max_bytes: Some(1 << 20),
        user_agent: concat!("gather-demo/", env!("CARGO_PKG_VERSION")).to_owned(),
        fail_on_status: true,
        body: true,
        // The demo shows what --limit does: its own server, no host limit.
        politeness: gather_http::Politeness::NONE,
        ..FetchConfig::default()
    }
}

/// The pages, one after the other and then gathered.
async fn pages_section(a: &DemoArgs, fetcher: &Fetcher, urls: &[url::Url]) -> Result<(), Exit> {
    let pages = urls.len();
    let start = Instant::now();
    for (i, url) in urls.iter().enumerate() {
        if let Err(e) = fetcher.fetch(i, url).await {
            return Err(Exit::new(exit::FAILED, format!("page {i}: {e}")));
        }
    }
    let one_by_one = start.elapsed();
    println!(
        "  {:<24}{pages:>6} pages  {:>8.3} s",
        "one after the other",
        one_by_one.as_secs_f64()
    );

    let start = Instant::now();
    let results = gather::gather(urls.iter().enumerate().map(|(i, u)| fetcher.fetch(i, u)))
        .limit(a.limit.max(1))
        .await;
    let gathered = start.elapsed();
    let pages_back = results.map_err(|e| Exit::new(exit::FAILED, e.to_string()))?;
    println!(
        "  {:<24}{pages:>6} pages  {:>8.3} s   {:.1}x faster",
        format!("with gather (limit {})", a.limit.max(1)),
        gathered.as_secs_f64(),
        one_by_one.as_secs_f64() / gathered.as_secs_f64().max(1e-9)
    );

    println!("\nResults come back in input order:");
    for (i, page) in pages_back.iter().take(3).enumerate() {
        let title = page
            .body
            .as_deref()
            .and_then(|b| std::str::from_utf8(b).ok())
            .and_then(|t| t.split("<title>").nth(1)?.split("</title>").next())
            .unwrap_or("?");
        println!("  [{i}] {} {} bytes  \"{title}\"", page.status, page.bytes);
    }
    if pages > 3 {
        println!("  ... {} more", pages - 3);
    }
    Ok(())
}

/// The same POSTs to the server's rate-limited API, paced by the limits
/// its answers announce, then as a flood that does not read them; each
/// with `--retries 10`.
async fn api_section(a: &DemoArgs, server: &Pages) -> Result<(), Exit> {
    let n = a.api_requests;
    println!(
        "\nCalling a rate-limited API: {n} POSTs; the server allows {} a second (a second's worth at once)\nand says so in OpenAI's x-ratelimit-* fields. Each run retries a 429 up to 10 times.\n",
        a.api_rate
    );
    let url =
        url::Url::parse(&server.url("/v1/chat/completions")).expect("a loopback URL is valid");
    let payloads: Vec<Payload> = (0..n)
        .map(|i| {
            let body = format!(
                "{{\"messages\": [{{\"role\": \"user\", \"content\": \"question {i}\"}}]}}"
            );
            Payload::from_fields(
                None,
                Default::default(),
                Some(BodyField::Json(body.into_bytes())),
            )
            .expect("a POST")
            .expect("a body")
        })
        .collect();
    for (label, read) in [
        ("paced by the server's fields", true),
        ("a flood (--no-server-limits)", false),
    ] {
        let mut config = config(a);
        config.retries = 10;
        config.fail_on_status = false;
        config.body = false;
        config.politeness.server_limits = read;
        // As `gather fetch`: a window per host that adapts from 8, which
        // also holds the first burst to 8 until the server's first answer
        // says its limits (without it, a limit under --limit a second
        // would refuse the first burst's excess).
        config.politeness.per_host = gather_http::PerHost::Auto;
        let fetcher = Fetcher::new(config).map_err(|e| Exit::usage(refused(e)))?;
        server.api().reset();
        let start = Instant::now();
        let results = gather::gather(
            payloads
                .iter()
                .enumerate()
                .map(|(i, p)| fetcher.send(i, &url, p)),
        )
        .limit(a.limit.max(1))
        .await
        .map_err(|e| Exit::new(exit::FAILED, e.to_string()))?;
        let took = start.elapsed();
        let done = results.iter().filter(|p| p.status == 200).count();
        let counts = server.api().reset();
        println!(
            "  {label:<30}{done:>5} of {n} answered  {:>7.2} s   {:>5} refused (429)",
            took.as_secs_f64(),
            counts.refused
        );
    }
    let best = n.saturating_sub(a.api_rate as usize) as f64 / a.api_rate as f64;
    println!("  (the limit allows {n} in {best:.2} s at best)");
    Ok(())
}
