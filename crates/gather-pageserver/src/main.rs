//! `gather-pageserver`: the loopback page server as a process, for scripts
//! (the reliability run points `gather fetch` at it).
//!
//! ```sh
//! gather-pageserver [--latency-ms N] [--for SECONDS] [--http2]
//!                   [--api-rpm N [--api-tpm N] [--api-burst-s S] [--api-headers openai|anthropic|ietf|none]
//!                    [--api-key KEY] [--api-fail-every N] [--api-latency-ms MS]]
//!                   [--workers W --service-ms S [--shed-after Q]]
//! ```
//!
//! With `--workers`, `/page/N` comes from a site of limited capacity (the
//! crate's `capacity` module): W requests served at once, S ms each, the
//! rest queued first come first served, and beyond Q waiting refused with
//! 503. `GET /stats` says what it saw from the server's side,
//! `GET /capacity?workers=N` changes its workers mid-run, and
//! `GET /reset-stats` starts the count again. `--latency-ms` is a site of
//! unlimited capacity whose every page takes that long.
//!
//! With `--api-rpm`, `/v1/...` is a rate-limited JSON API (the crate's
//! `api` module; `GET /v1/stats` says what it has done).
//!
//! Prints `http://127.0.0.1:PORT` on its first line (and with `--http2`
//! the h2c server's, on the second), then serves until killed, or for
//! `--for` seconds (default 600: it never outlives a forgotten script by
//! long).

use std::time::Duration;

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn text_arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    let i = args.iter().position(|a| a == name)?;
    args.get(i + 1).cloned()
}

/// The API's limits, when `--api-rpm` is given.
fn api() -> Option<gather_pageserver::api::ApiLimits> {
    use gather_pageserver::api::{ApiLimits, Family};
    text_arg("--api-rpm")?;
    let family = text_arg("--api-headers").unwrap_or_else(|| "openai".to_owned());
    let Some(family) = Family::parse(&family) else {
        eprintln!("error: --api-headers {family:?}: openai, anthropic, ietf or none");
        std::process::exit(2);
    };
    Some(ApiLimits {
        requests_per_minute: arg("--api-rpm", 1200),
        tokens_per_minute: text_arg("--api-tpm").map(|_| arg("--api-tpm", 0)),
        burst_seconds: text_arg("--api-burst-s")
            .and_then(|s| s.parse().ok())
            .unwrap_or(1.0),
        family,
        key: text_arg("--api-key"),
        fail_every: arg("--api-fail-every", 0),
        latency: Duration::from_millis(arg("--api-latency-ms", 0)),
    })
}

fn main() {
    let latency = Duration::from_millis(arg("--latency-ms", 0));
    let lifetime = Duration::from_secs(arg("--for", 600));
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            std::process::exit(2);
        }
    };
    rt.block_on(async {
        let started = match (api(), text_arg("--workers")) {
            (Some(limits), _) => gather_pageserver::Server::start_api(limits).await,
            (None, Some(_)) => {
                let config = gather_pageserver::capacity::CapacityConfig {
                    workers: arg("--workers", 1).max(1) as usize,
                    service: Duration::from_millis(arg("--service-ms", 0)),
                    shed_after: text_arg("--shed-after").map(|_| arg("--shed-after", 0) as usize),
                };
                gather_pageserver::Server::start_capacity(config).await
            }
            (None, None) => gather_pageserver::Server::start(latency).await,
        };
        let server = match started {
            Ok(s) => s,
            Err(e) => {
                eprintln!("error: cannot listen on 127.0.0.1: {e}");
                std::process::exit(2);
            }
        };
        println!("http://{}", server.addr());
        // Kept until the end: dropping it stops it.
        let _h2 = if std::env::args().any(|a| a == "--http2") {
            match gather_pageserver::http2::Http2Server::start(Default::default()).await {
                Ok(h2) => {
                    println!("{}", h2.url(""));
                    Some(h2)
                }
                Err(e) => {
                    eprintln!("error: cannot listen on 127.0.0.1: {e}");
                    std::process::exit(2);
                }
            }
        } else {
            None
        };
        use std::io::Write;
        let _ = std::io::stdout().flush();
        tokio::time::sleep(lifetime).await;
    });
}
