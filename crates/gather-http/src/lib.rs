//! The fetch engine under `gather fetch`, shared by every front door (the
//! command line, the Python package): connections, HTTP/1.1 and HTTP/2,
//! TLS, proxies, per-origin politeness, content decoding, and the
//! per-request rules (retries, redirects, timeouts, reading or saving the
//! body). A front door builds a [`FetchConfig`], makes one [`Fetcher`]
//! for the run, and calls [`Fetcher::fetch`] for each request; running
//! many at once and keeping their order is the `gather` library's job.
//!
//! Where each decision lives:
//!
//! | decision | module |
//! |---|---|
//! | retries: which answers, how long between | `fetch/retry.rs` |
//! | redirects and their credential rules | `fetch/redirect.rs` |
//! | the body: `--max-bytes`, decoding, keeping, saving | `fetch/read.rs`, `fetch/save.rs`, `decode.rs` |
//! | queue time kept out of timings and timeouts | `fetch/waits.rs` |
//! | per-host limits, rates, `Retry-After` pauses, ALPN | `client/origin.rs` |
//! | the limits servers announce (`x-ratelimit-*`, `RateLimit`), read | [`client::ratelimit`] |
//! | staying under them, and `--tokens-per-minute` | `client/pacing.rs` |
//! | methods, bodies, never sending a POST twice | `client/payload.rs` |
//! | HTTP/1.1 framing; HTTP/2 resends and fault blame | `client/head.rs`, `client/body.rs`, `client/http2.rs` |
//! | proxies (curl's variables and rules) | `client/proxy.rs` |
//! | a run's requests as children: window, cutoff, what each came with | [`jobs`] |
//! | results back in input order, in a bounded buffer | [`order`] |
//! | which URLs are fetched, and their error kinds | [`urls`] |
//! | what HTTPS trusts | [`tls`] |
//! | error kinds a record carries | [`error`] |
//!
//! # Examples
//!
//! ```no_run
//! use gather_http::{FetchConfig, Fetcher};
//! # async fn run(config: FetchConfig) -> Result<(), String> {
//! let fetcher = Fetcher::new(config)?;
//! let url = url::Url::parse("http://127.0.0.1:8080/").unwrap();
//! match fetcher.fetch(0, &url).await {
//!     Ok(page) => println!("{} {} bytes", page.status, page.bytes),
//!     Err(e) => println!("{}: {}", e.kind, e.message),
//! }
//! # Ok(())
//! # }
//! ```

pub mod client;
mod config;
mod decode;
pub mod error;
mod fetch;
pub mod fnv;
pub mod jobs;
pub mod order;
pub mod tls;
pub mod urls;

pub use client::{Politeness, Proxies, Version, Versions};
pub use config::FetchConfig;
pub use error::{FetchError, Kind};
pub use fetch::{Encoding, Fetcher, Page};
