//! The fetch engine under `gather fetch`, shared by every front door (the
//! command line, the Python package): a whole run of requests, and under
//! it connections, HTTP/1.1 and HTTP/2, TLS, proxies, per-origin
//! politeness, content decoding, and the per-request rules (retries,
//! redirects, timeouts, reading or saving the body).
//!
//! A front door only translates. It builds a [`FetchConfig`] from its
//! users' words, starting from [`FetchConfig::default()`] (every default
//! lives there), makes one [`Fetcher`] for the run, and starts a [`Run`]
//! over its [`Job`]s: the limit, the reorder window, fail-fast, the overall
//! deadline, a stop that loses nothing, panics and timeouts as errors, and
//! the counts of a summary are the run's. Errors are in the engine's words
//! and name the [`Setting`] that governs them, for each door to say in its
//! own ([`ConfigError`], [`FetchError::setting`]).
//!
//! Where each decision lives:
//!
//! | decision | module |
//! |---|---|
//! | a run: limit, window, fail-fast, deadline, stop, counts | [`run`](Run) (`run.rs`), on `jobs.rs` |
//! | which request starts next: a queue per full origin | `dispatch.rs` |
//! | every default of a run, and the checks of files it names | [`FetchConfig`] (`config.rs`) |
//! | retries: which answers, how long between | `fetch/retry.rs` |
//! | redirects and their credential rules | `fetch/redirect.rs` |
//! | the body: the size limit, decoding, keeping, saving | `fetch/read.rs`, `fetch/save.rs`, `decode.rs` |
//! | queue time kept out of timings and timeouts | `fetch/waits.rs` |
//! | a stop that loses nothing | `fetch/stop.rs` |
//! | per-origin windows that adapt to the latency a site shows | `client/window.rs` |
//! | per-host limits, rates, `Retry-After` pauses, ALPN | `client/origin.rs` |
//! | the limits servers announce (`x-ratelimit-*`, `RateLimit`), read | `client/ratelimit.rs` |
//! | staying under them, and a token budget | `client/pacing.rs` |
//! | the request format (JSON Lines, Python dicts) and its rules | `request_fields.rs` ([`RequestFields`]) |
//! | methods, bodies, never sending a POST twice | `client/payload.rs` |
//! | HTTP/1.1 framing; HTTP/2 resends and fault blame | `client/head.rs`, `client/body.rs`, `client/http2.rs` |
//! | proxies (curl's variables and rules) | `client/proxy.rs` |
//! | results back in input order, in a bounded buffer | `order/` ([`ByPosition`], [`Written`]) |
//! | which URLs are fetched, and their error kinds | `urls.rs` ([`UrlParser`]) |
//! | what HTTPS trusts | [`tls`] |
//! | error kinds | `error.rs` ([`Kind`]) |
//!
//! # Examples
//!
//! ```no_run
//! use gather_http::{FetchConfig, Fetcher};
//! # async fn run() -> Result<(), gather_http::ConfigError> {
//! let fetcher = Fetcher::new(FetchConfig::default())?;
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
mod dispatch;
mod error;
mod fetch;
mod fields;
mod job;
mod jobs;
pub mod open_files;
mod order;
mod request_fields;
mod run;
pub mod tls;
#[cfg(test)]
mod url_properties;
mod urls;

pub use client::{PerHost, Politeness, Proxies, Version, Versions};
pub use client::{WindowLog, WindowMove, WindowStatus, WindowWhy};
pub use config::{ClientIdentity, FetchConfig};
pub use error::{ConfigError, FetchError, Kind, Setting};
pub use fetch::{Encoding, Fetcher, Hop, Page};
pub use fields::Fields;
pub use order::{ByPosition, Written};
pub use request_fields::{BodyGiven, RequestFields, REQUEST_FIELDS};
pub use run::{Counts, Finished, Job, Request, Run, RunBuilder};
pub use urls::{parse as parse_url, InvalidUrl, UrlParser};
