//! The HTTP client alone: the floor under `gather fetch`'s cost per request.
//!
//! `--limit` loops on one thread share the pooled client `gather fetch`
//! uses ([`gather_http::client`]) and GET the URLs of a file, reading each
//! body and keeping nothing: no ordering, no output, no retries, no
//! timeouts. What this reaches against a server is as fast as `gather
//! fetch` could go there; `scripts/bench_cli.py` prints it beside `gather
//! fetch` and wrk, so that the part of the gap to wrk that is the client's
//! own is measured, not guessed.
//!
//! ```sh
//! cargo run --release -p gather-cli --example bare_client -- urls.txt 64
//! ```

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use gather_http::client::Client;
use url::Url;

fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(path), limit) = (args.next(), args.next()) else {
        eprintln!("usage: bare_client URLS_FILE [LIMIT]");
        std::process::exit(2);
    };
    let limit: usize = limit.and_then(|l| l.parse().ok()).unwrap_or(64).max(1);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("bare_client: cannot read {path}: {e}");
            std::process::exit(2);
        }
    };
    let uris: Vec<Url> = match text.lines().map(Url::parse).collect() {
        Ok(u) => u,
        Err(e) => {
            eprintln!("bare_client: {path}: {e}");
            std::process::exit(2);
        }
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread runtime starts");
    let failed = runtime.block_on(async {
        let tls = gather_http::tls::tls_config(Default::default()).expect("the trusted roots load");
        let client = Arc::new(Client::new(tls, limit));
        let headers = Arc::new(http::HeaderMap::new());
        let uris = Arc::new(uris);
        let next = Arc::new(AtomicUsize::new(0));
        let start = Instant::now();
        let loops: Vec<_> = (0..limit)
            .map(|_| {
                let (client, uris, next) = (client.clone(), uris.clone(), next.clone());
                let headers = headers.clone();
                tokio::spawn(async move {
                    let mut failed = 0usize;
                    while let Some(uri) = uris.get(next.fetch_add(1, Ordering::Relaxed)) {
                        let turn = match client.turn(uri, 0).await {
                            Ok(turn) => turn,
                            Err(_) => {
                                failed += 1;
                                continue;
                            }
                        };
                        match client.get(uri, &headers, turn).await {
                            Ok(mut resp) => loop {
                                match resp.body.chunk().await {
                                    Ok(Some(_)) => {}
                                    Ok(None) => break,
                                    Err(_) => {
                                        failed += 1;
                                        break;
                                    }
                                }
                            },
                            Err(_) => failed += 1,
                        }
                    }
                    failed
                })
            })
            .collect();
        let mut failed = 0;
        for l in loops {
            failed += l.await.unwrap_or(1);
        }
        let secs = start.elapsed().as_secs_f64();
        println!(
            "{} requests in {secs:.3} s: {:.0} req/s",
            uris.len(),
            uris.len() as f64 / secs
        );
        failed
    });
    if failed > 0 {
        eprintln!("bare_client: {failed} requests failed");
        std::process::exit(1);
    }
}
