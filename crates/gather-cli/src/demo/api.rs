//! The demo's rate-limited API: `POST /v1/...` on the demo's server, a
//! request budget of `per_second` a second with a second's worth of burst
//! (a limit per minute enforced per second), announced in OpenAI's
//! `x-ratelimit-*` fields; a request that does not fit gets a 429 with
//! `retry-after-ms`. Just what the demo's second section shows: the full
//! API (tokens, other header families, faults, an API key) is the test
//! server's, `gather-pageserver`, which the installed binary does not carry.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The budget, and what was answered.
pub(crate) struct Api {
    state: Mutex<State>,
    per_second: f64,
}

struct State {
    level: f64,
    at: Instant,
    processed: u64,
    refused: u64,
}

/// Requests the API processed and refused (429) so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Counts {
    pub(crate) processed: u64,
    pub(crate) refused: u64,
}

impl Api {
    pub(crate) fn new(per_second: f64) -> Api {
        Api {
            state: Mutex::new(State {
                level: per_second,
                at: Instant::now(),
                processed: 0,
                refused: 0,
            }),
            per_second,
        }
    }

    /// The state, even if a thread panicked holding it (the demo's server
    /// goes on answering).
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts, and starts them again with a full budget (for the next run).
    pub(crate) fn reset(&self) -> Counts {
        let mut s = self.state();
        let counts = Counts {
            processed: s.processed,
            refused: s.refused,
        };
        *s = State {
            level: self.per_second,
            at: Instant::now(),
            processed: 0,
            refused: 0,
        };
        counts
    }

    /// The answer to one request: status, extra header lines, body.
    pub(crate) fn answer(&self) -> (u16, String, String) {
        let mut s = self.state();
        let now = Instant::now();
        let cap = self.per_second;
        s.level = (s.level + self.per_second * (now - s.at).as_secs_f64()).min(cap);
        s.at = now;
        let fits = s.level >= 1.0;
        if fits {
            s.level -= 1.0;
            s.processed += 1;
        } else {
            s.refused += 1;
        }
        let until_full = Duration::from_secs_f64((cap - s.level) / self.per_second);
        let mut fields = format!(
            "x-ratelimit-limit-requests: {}\r\nx-ratelimit-remaining-requests: {}\r\nx-ratelimit-reset-requests: {}ms\r\n",
            (self.per_second * 60.0).round() as u64,
            s.level.max(0.0).floor() as u64,
            until_full.as_millis()
        );
        if fits {
            let body = format!("{{\"answer\": {}}}", s.processed);
            (200, fields, body)
        } else {
            let wait = ((1.0 - s.level) / self.per_second * 1000.0).ceil() as u64;
            fields.push_str(&format!(
                "retry-after: {}\r\nretry-after-ms: {wait}\r\n",
                wait.div_ceil(1000)
            ));
            (
                429,
                fields,
                "{\"error\": {\"message\": \"rate limit reached\"}}".to_owned(),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_s_worth_then_429s_saying_when() {
        let api = Api::new(5.0);
        for _ in 0..5 {
            assert_eq!(api.answer().0, 200);
        }
        let (status, fields, _) = api.answer();
        assert_eq!(status, 429);
        assert!(
            fields.contains("x-ratelimit-limit-requests: 300\r\n"),
            "{fields}"
        );
        assert!(fields.contains("retry-after-ms: "), "{fields}");
        assert_eq!(
            api.reset(),
            Counts {
                processed: 5,
                refused: 1
            }
        );
    }
}
