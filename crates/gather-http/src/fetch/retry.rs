//! When an attempt is tried again (`--retries`): which answers, after how
//! long (exponential backoff with jitter, or the server's `Retry-After`),
//! capped.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use http::StatusCode;

use crate::client::Head;

/// The longest wait between two attempts, including a server's `Retry-After`.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

pub(super) fn retryable_status(status: u16) -> bool {
    status == StatusCode::TOO_MANY_REQUESTS.as_u16() || (500..600).contains(&status)
}

/// `retry-after-ms` (OpenAI's, finer), or `Retry-After` in seconds (an
/// HTTP date falls back to backoff), capped.
pub(super) fn retry_after(head: &Head) -> Option<Duration> {
    if let Some(ms) = head.announced.as_ref().and_then(|a| a.retry_after_ms) {
        return Some(Duration::from_millis(ms).min(MAX_BACKOFF));
    }
    let value = std::str::from_utf8(head.retry_after.as_deref()?)
        .ok()?
        .trim();
    after(value, std::time::SystemTime::now()).map(|wait| wait.min(MAX_BACKOFF))
}

/// A `Retry-After` value (RFC 9110 section 10.2.3) as a wait from `now`:
/// seconds, or an HTTP date (`Wed, 21 Oct 2026 07:28:00 GMT`, by the
/// `httpdate` crate; a date past is no wait).
fn after(value: &str, now: std::time::SystemTime) -> Option<Duration> {
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Backoff between attempts: `base` doubled each retry, times a jitter
/// factor, at most [`MAX_BACKOFF`].
pub(super) struct Backoff {
    base: Duration,
    jitter: AtomicU64,
}

impl Backoff {
    pub(super) fn new(base: Duration) -> Backoff {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0x9E37_79B9_7F4A_7C15, |d| d.as_nanos() as u64)
            | 1;
        Backoff {
            base,
            jitter: AtomicU64::new(seed),
        }
    }

    /// A number in [0.5, 1.5) for jitter: xorshift, good enough to spread
    /// retries apart, not for anything else.
    ///
    /// Relaxed load and store, not a read-modify-write: the state orders
    /// nothing else, and two retries racing here may draw the same factor,
    /// which only makes their jitter alike once.
    fn jitter_factor(&self) -> f64 {
        let mut x = self.jitter.load(Ordering::Relaxed);
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.jitter.store(x, Ordering::Relaxed);
        0.5 + (x >> 11) as f64 / (1u64 << 53) as f64
    }

    /// The wait before retry number `attempt` (0 for the first).
    pub(super) fn wait(&self, attempt: u32) -> Duration {
        let base = self.base.as_secs_f64() * 2f64.powi(attempt as i32);
        Duration::from_secs_f64((base * self.jitter_factor()).min(MAX_BACKOFF.as_secs_f64()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// `Retry-After` is seconds or an HTTP date (RFC 9110 section 10.2.3):
    /// a date is a wait until it, and one past is no wait.
    #[test]
    fn retry_after_is_seconds_or_an_http_date() {
        let now = httpdate::parse_http_date("Sun, 06 Dec 2026 07:00:00 GMT").unwrap();
        assert_eq!(after("120", now), Some(Duration::from_secs(120)));
        assert_eq!(
            after("Sun, 06 Dec 2026 07:00:30 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            after("Sun, 06 Dec 2026 06:59:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(after("soon", now), None);
        assert_eq!(after("-1", now), None);
    }
}
