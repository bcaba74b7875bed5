//! One URL, fetched robustly: per-request timeout, retries with
//! exponential backoff and jitter for connection failures, 429 and 5xx
//! (honouring `Retry-After`), redirects up to a limit, and a body size cap
//! enforced while streaming, so an endless body is an error, not an
//! out-of-memory crash.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::{Client, StatusCode};
use url::Url;

use crate::config::FetchConfig;

/// A fetched page.
#[derive(Debug)]
pub struct Page {
    pub final_url: String,
    pub status: u16,
    pub bytes: u64,
    /// Kept only when the body is printed (`--body`).
    pub body: Option<Vec<u8>>,
    /// Where the body was saved (`--save-dir`).
    pub saved: Option<PathBuf>,
    pub elapsed: Duration,
    pub retries: u32,
}

/// Why a URL has no page.
#[derive(Debug, Clone)]
pub struct FetchError {
    pub kind: &'static str,
    pub message: String,
    pub elapsed: Duration,
    pub retries: u32,
}

impl std::fmt::Display for FetchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.kind)
    }
}

impl std::error::Error for FetchError {}

impl FetchError {
    /// A failure before any request was made (or whose timing does not
    /// apply): no time elapsed, no retries.
    pub fn immediate(kind: &'static str, message: String) -> FetchError {
        FetchError {
            kind,
            message,
            elapsed: Duration::ZERO,
            retries: 0,
        }
    }
}

/// Shares one connection pool between all requests.
pub struct Fetcher {
    client: Client,
    config: FetchConfig,
    jitter: AtomicU64,
}

impl Fetcher {
    pub fn new(config: FetchConfig) -> Result<Fetcher, String> {
        let mut builder = Client::builder();
        if let Some(pem) = &config.cacert {
            let certs =
                reqwest::Certificate::from_pem_bundle(pem).map_err(|e| format!("--cacert: {e}"))?;
            for cert in certs {
                builder = builder.add_root_certificate(cert);
            }
        }
        let client = builder
            .redirect(reqwest::redirect::Policy::limited(config.max_redirects))
            .timeout(config.timeout)
            .connect_timeout(config.timeout)
            .default_headers(config.headers.clone())
            .user_agent(config.user_agent.clone())
            .pool_max_idle_per_host(config.limit)
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0x9E37_79B9_7F4A_7C15, |d| d.as_nanos() as u64)
            | 1;
        Ok(Fetcher {
            client,
            config,
            jitter: AtomicU64::new(seed),
        })
    }

    /// A number in [0.5, 1.5) for jitter: xorshift, good enough to spread
    /// retries apart, not for anything else.
    fn jitter_factor(&self) -> f64 {
        let mut x = self.jitter.load(Ordering::Relaxed);
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.jitter.store(x, Ordering::Relaxed);
        0.5 + (x >> 11) as f64 / (1u64 << 53) as f64
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let base = self.config.retry_base.as_secs_f64() * 2f64.powi(attempt as i32);
        Duration::from_secs_f64((base * self.jitter_factor()).min(MAX_BACKOFF.as_secs_f64()))
    }

    /// Fetches `url` (the job at `index`), retrying as configured.
    pub async fn fetch(&self, index: usize, url: &Url) -> Result<Page, FetchError> {
        let start = Instant::now();
        let mut retries = 0;
        loop {
            let attempt = self.attempt(index, url).await;
            let wait = match &attempt {
                Ok((page, after))
                    if retryable_status(page.status) && retries < self.config.retries =>
                {
                    Some(after.unwrap_or_else(|| self.backoff(retries)))
                }
                Err(e) if e.kind == "connect" && retries < self.config.retries => {
                    Some(self.backoff(retries))
                }
                _ => None,
            };
            match wait {
                Some(wait) => {
                    tokio::time::sleep(wait).await;
                    retries += 1;
                }
                None => {
                    let elapsed = start.elapsed();
                    return match attempt {
                        Ok((page, _)) if self.config.fail_on_status && page.status >= 400 => {
                            Err(FetchError {
                                kind: "status",
                                message: format!("HTTP status {}", page.status),
                                elapsed,
                                retries,
                            })
                        }
                        Ok((page, _)) => Ok(Page {
                            elapsed,
                            retries,
                            ..page
                        }),
                        Err(e) => Err(FetchError {
                            elapsed,
                            retries,
                            ..e
                        }),
                    };
                }
            }
        }
    }

    /// One request: the page, and the server's `Retry-After` if it sent one.
    async fn attempt(
        &self,
        index: usize,
        url: &Url,
    ) -> Result<(Page, Option<Duration>), FetchError> {
        let fail = FetchError::immediate;
        let mut resp = self
            .client
            .get(url.clone())
            .send()
            .await
            .map_err(|e| fail(classify(&e), describe(&e)))?;
        let max = self.config.max_bytes;
        if let Some(len) = resp.content_length() {
            if len > max {
                return Err(fail(
                    "body_too_large",
                    format!("body of {len} bytes is over --max-bytes {max}"),
                ));
            }
        }
        let keep = self.config.body || self.config.save_dir.is_some();
        let mut body = Vec::new();
        let mut bytes: u64 = 0;
        // Once the head has arrived, any failure (a reset, a short body) is
        // a body error: the server answered, so it is not retried.
        let body_error = |e: reqwest::Error| {
            fail(
                if e.is_timeout() { "timeout" } else { "body" },
                describe(&e),
            )
        };
        while let Some(chunk) = resp.chunk().await.map_err(body_error)? {
            bytes += chunk.len() as u64;
            if bytes > max {
                return Err(fail(
                    "body_too_large",
                    format!("body is over --max-bytes {max}"),
                ));
            }
            if keep {
                body.extend_from_slice(&chunk);
            }
        }
        let saved = match &self.config.save_dir {
            Some(dir) => {
                let path = dir.join(format!("{index}.body"));
                tokio::fs::write(&path, &body)
                    .await
                    .map_err(|e| fail("save", format!("cannot write {}: {e}", path.display())))?;
                Some(path)
            }
            None => None,
        };
        let page = Page {
            final_url: resp.url().to_string(),
            status: resp.status().as_u16(),
            bytes,
            body: self.config.body.then_some(body),
            saved,
            elapsed: Duration::ZERO,
            retries: 0,
        };
        let after = retryable_status(page.status)
            .then(|| retry_after(resp.headers()))
            .flatten();
        Ok((page, after))
    }
}

/// The longest wait between two attempts, including a server's `Retry-After`.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

fn retryable_status(status: u16) -> bool {
    status == StatusCode::TOO_MANY_REQUESTS.as_u16() || (500..600).contains(&status)
}

/// `Retry-After` in seconds (an HTTP date falls back to backoff), capped.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let secs: u64 = headers
        .get(RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(Duration::from_secs(secs).min(MAX_BACKOFF))
}

/// The kind of an error from sending a request (before any answer), for
/// the record's `error.kind`.
fn classify(e: &reqwest::Error) -> &'static str {
    if e.is_timeout() {
        return "timeout";
    }
    if e.is_redirect() {
        return "redirect";
    }
    if e.is_connect() || connection_lost(e) {
        return "connect";
    }
    if e.is_body() || e.is_decode() {
        return "body";
    }
    "request"
}

/// A reset, refused or closed connection, wherever it is in the chain.
fn connection_lost(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind::*;
            if matches!(
                io.kind(),
                ConnectionReset
                    | ConnectionRefused
                    | ConnectionAborted
                    | BrokenPipe
                    | UnexpectedEof
            ) {
                return true;
            }
        }
        let text = err.to_string();
        if text.contains("connection closed before message completed")
            || text.contains("connection reset")
        {
            return true;
        }
        source = err.source();
    }
    false
}

/// The whole chain of messages, which reqwest keeps in its sources.
fn describe(e: &reqwest::Error) -> String {
    let mut out = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(err) = source {
        let text = err.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = err.source();
    }
    out
}
