//! A rate-limited JSON API, as the providers people call with thousands of
//! POSTs run them: a request budget and a token budget, announced in one of
//! the three header families clients read, 429s with `Retry-After` when a
//! request does not fit, an API key, a 500 now and then, and a count of
//! requests processed twice (the cost a careless retry makes).
//!
//! Every path under `/v1/` is the same endpoint (`/v1/chat/completions`,
//! `/v1/embeddings`, `/v1/messages`...), except `GET /v1/stats`, which
//! answers the counts as JSON.
//!
//! **Budgets.** Each is a token bucket refilled at its limit per minute
//! and holding `burst_seconds` of refill: 60 is a minute's worth at once,
//! 1 is "a limit per minute enforced per second", as OpenAI says its
//! limits may be. A request costs one request and its tokens: its body's
//! `max_tokens` (or `max_completion_tokens`, `max_output_tokens`) plus one
//! per four bytes of body. Both are taken when it arrives, as providers
//! reserve them; one that does not fit takes nothing and gets a 429 saying
//! when it would.
//!
//! A request without a body (a GET, as a geocoding or search API takes
//! them) is a lookup: it costs one request and no tokens.
//!
//! **Processed twice** is judged by the body (each request of a test's
//! file has a body of its own, so a body processed again was sent again),
//! or for a request without one by its path and query.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use serde_json::{json, Value};

/// Which fields announce the limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// `x-ratelimit-{limit,remaining,reset}-{requests,tokens}`, resets as Go
    /// durations; 429s carry `retry-after` and `retry-after-ms`.
    OpenAi,
    /// `anthropic-ratelimit-{requests,tokens}-{limit,remaining,reset}`,
    /// resets as RFC 3339 times; 429s carry `retry-after`.
    Anthropic,
    /// `RateLimit-Policy` and `RateLimit` (draft-ietf-httpapi-ratelimit-headers).
    Ietf,
    /// None: only a 429's `retry-after` says anything.
    Silent,
}

impl Family {
    /// `openai`, `anthropic`, `ietf` or `none`.
    pub fn parse(name: &str) -> Option<Family> {
        match name {
            "openai" => Some(Family::OpenAi),
            "anthropic" => Some(Family::Anthropic),
            "ietf" => Some(Family::Ietf),
            "none" => Some(Family::Silent),
            _ => None,
        }
    }
}

/// The API's limits and habits.
#[derive(Debug, Clone)]
pub struct ApiLimits {
    /// Requests a minute.
    pub requests_per_minute: u64,
    /// `None`: no token budget.
    pub tokens_per_minute: Option<u64>,
    /// Seconds of refill a bucket holds (see the module's docs).
    pub burst_seconds: f64,
    /// Which fields announce the limits.
    pub family: Family,
    /// A key the request must carry (`Authorization: Bearer KEY` or
    /// `x-api-key: KEY`); 401 otherwise.
    pub key: Option<String>,
    /// Every this many requests that fit, one gets a 500 before it is
    /// processed (0: never).
    pub fail_every: u64,
    /// How long a processed request takes to answer.
    pub latency: Duration,
}

impl Default for ApiLimits {
    fn default() -> ApiLimits {
        ApiLimits {
            requests_per_minute: 1200,
            tokens_per_minute: None,
            burst_seconds: 1.0,
            family: Family::OpenAi,
            key: None,
            fail_every: 0,
            latency: Duration::ZERO,
        }
    }
}

/// What the API has done so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ApiStats {
    /// Requests answered 200 (processed).
    pub processed: u64,
    /// Of those, bodies processed before: sent twice.
    pub duplicates: u64,
    /// 429s sent.
    pub limited: u64,
    /// 500s sent (not processed).
    pub failed: u64,
    /// 401s sent.
    pub unauthorized: u64,
}

struct Bucket {
    level: f64,
    cap: f64,
    per_second: f64,
    at: Instant,
}

impl Bucket {
    fn new(per_minute: u64, burst_seconds: f64) -> Bucket {
        let per_second = per_minute as f64 / 60.0;
        let cap = (per_second * burst_seconds).max(1.0);
        Bucket {
            level: cap,
            cap,
            per_second,
            at: Instant::now(),
        }
    }

    fn refill(&mut self, now: Instant) {
        self.level = (self.level + self.per_second * (now - self.at).as_secs_f64()).min(self.cap);
        self.at = now;
    }

    /// How long until `n` fits (`n` over the cap: until it is full).
    fn wait_for(&self, n: f64) -> Duration {
        let need = n.min(self.cap) - self.level;
        Duration::from_secs_f64((need / self.per_second).max(0.0))
    }

    /// How long until it is full again.
    fn until_full(&self) -> Duration {
        Duration::from_secs_f64(((self.cap - self.level) / self.per_second).max(0.0))
    }
}

/// The API's state.
pub(crate) struct Api {
    limits: ApiLimits,
    state: Mutex<State>,
}

struct State {
    requests: Bucket,
    tokens: Option<Bucket>,
    stats: ApiStats,
    fitted: u64,
    /// How often each body (by hash) was processed.
    seen: HashMap<u64, u32>,
}

/// An answer: status, body, and extra header lines.
pub(crate) struct Answer {
    pub status: u16,
    pub body: Vec<u8>,
    pub fields: String,
    /// Wait this long before answering (a processed request's latency).
    pub delay: Duration,
}

impl Api {
    pub(crate) fn new(limits: ApiLimits) -> Api {
        let state = State {
            requests: Bucket::new(limits.requests_per_minute, limits.burst_seconds),
            tokens: limits
                .tokens_per_minute
                .map(|t| Bucket::new(t, limits.burst_seconds)),
            stats: ApiStats::default(),
            fitted: 0,
            seen: HashMap::new(),
        };
        Api {
            limits,
            state: Mutex::new(state),
        }
    }

    pub(crate) fn stats(&self) -> ApiStats {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).stats
    }

    /// Answers a request for `target` (path and query) with `head` (its
    /// request line and fields) and `body`.
    pub(crate) fn answer(&self, head: &str, target: &str, body: &[u8]) -> Answer {
        let path = target.split('?').next().unwrap_or(target);
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if path == "/v1/stats" {
            let s = state.stats;
            let body = json!({
                "processed": s.processed, "duplicates": s.duplicates, "limited": s.limited,
                "failed": s.failed, "unauthorized": s.unauthorized,
            });
            return json_answer(200, &body, String::new());
        }
        if let Some(key) = &self.limits.key {
            let fields = head.to_ascii_lowercase();
            let given = fields.lines().skip(1).find_map(|line| {
                let (name, value) = line.split_once(':')?;
                let value = value.trim();
                match name.trim() {
                    "authorization" => value.strip_prefix("bearer ").map(str::to_owned),
                    "x-api-key" => Some(value.to_owned()),
                    _ => None,
                }
            });
            if given.as_deref() != Some(key.to_ascii_lowercase().as_str()) {
                state.stats.unauthorized += 1;
                let error =
                    json!({"error": {"type": "invalid_api_key", "message": "no valid API key"}});
                return json_answer(401, &error, String::new());
            }
        }
        let request: Value = match serde_json::from_slice(body) {
            _ if body.is_empty() => Value::Null,
            Ok(v) => v,
            Err(e) => {
                let error = json!({"error": {"type": "invalid_request_error", "message": format!("body is not JSON: {e}")}});
                return json_answer(400, &error, String::new());
            }
        };
        let asked = ["max_tokens", "max_completion_tokens", "max_output_tokens"]
            .into_iter()
            .find_map(|k| request.get(k)?.as_u64())
            .unwrap_or(0);
        let prompt = body.len().div_ceil(4) as u64;
        // What makes the request the one it is, for "processed twice".
        let request_key = if body.is_empty() {
            fnv(target.as_bytes())
        } else {
            fnv(body)
        };
        let cost = (asked + prompt) as f64;
        let now = Instant::now();
        let State {
            requests, tokens, ..
        } = &mut *state;
        requests.refill(now);
        if let Some(t) = tokens.as_mut() {
            t.refill(now);
        }
        let short =
            requests.level < 1.0 || tokens.as_ref().is_some_and(|t| t.level < cost.min(t.cap));
        if short {
            let wait = requests
                .wait_for(1.0)
                .max(tokens.as_ref().map_or(Duration::ZERO, |t| t.wait_for(cost)));
            let mut fields = self.fields(&state);
            fields.push_str(&format!(
                "retry-after: {}\r\n",
                wait.as_secs_f64().ceil().max(1.0) as u64
            ));
            if self.limits.family == Family::OpenAi {
                fields.push_str(&format!("retry-after-ms: {}\r\n", wait.as_millis().max(1)));
            }
            state.stats.limited += 1;
            let error =
                json!({"error": {"type": "rate_limit_exceeded", "message": "rate limit reached"}});
            return json_answer(429, &error, fields);
        }
        state.fitted += 1;
        if self.limits.fail_every > 0 && state.fitted.is_multiple_of(self.limits.fail_every) {
            state.stats.failed += 1;
            let error = json!({"error": {"type": "server_error", "message": "try again"}});
            let fields = self.fields(&state);
            return json_answer(500, &error, fields);
        }
        state.requests.level -= 1.0;
        if let Some(t) = &mut state.tokens {
            t.level -= cost;
        }
        let n = state.stats.processed;
        state.stats.processed += 1;
        let times = state.seen.entry(request_key).or_insert(0);
        *times += 1;
        if *times > 1 {
            state.stats.duplicates += 1;
        }
        let completion = asked.min(16);
        let answer = json!({
            "id": format!("cmpl-{n}"),
            "object": "chat.completion",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": format!("answer {n}")}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion},
        });
        let fields = self.fields(&state);
        Answer {
            delay: self.limits.latency,
            ..json_answer(200, &answer, fields)
        }
    }

    /// The limit fields of the API's family, for the state now.
    fn fields(&self, state: &State) -> String {
        let budgets = [
            (
                "requests",
                Some(&state.requests),
                Some(self.limits.requests_per_minute),
            ),
            (
                "tokens",
                state.tokens.as_ref(),
                self.limits.tokens_per_minute,
            ),
        ];
        let mut out = String::new();
        match self.limits.family {
            Family::Silent => {}
            Family::OpenAi => {
                for (name, bucket, limit) in budgets {
                    if let (Some(b), Some(limit)) = (bucket, limit) {
                        out.push_str(&format!(
                            "x-ratelimit-limit-{name}: {limit}\r\nx-ratelimit-remaining-{name}: {}\r\nx-ratelimit-reset-{name}: {}\r\n",
                            b.level.max(0.0).floor() as u64,
                            go_duration(b.until_full())
                        ));
                    }
                }
            }
            Family::Anthropic => {
                for (name, bucket, limit) in budgets {
                    if let (Some(b), Some(limit)) = (bucket, limit) {
                        out.push_str(&format!(
                            "anthropic-ratelimit-{name}-limit: {limit}\r\nanthropic-ratelimit-{name}-remaining: {}\r\nanthropic-ratelimit-{name}-reset: {}\r\n",
                            b.level.max(0.0).floor() as u64,
                            rfc3339(SystemTime::now() + b.until_full())
                        ));
                    }
                }
            }
            Family::Ietf => {
                let (mut policies, mut states) = (Vec::new(), Vec::new());
                for (name, bucket, limit) in budgets {
                    if let (Some(b), Some(limit)) = (bucket, limit) {
                        policies.push(format!("\"{name}\";q={limit};w=60"));
                        states.push(format!(
                            "\"{name}\";r={};t={}",
                            b.level.max(0.0).floor() as u64,
                            b.until_full().as_secs_f64().ceil() as u64
                        ));
                    }
                }
                out.push_str(&format!(
                    "ratelimit-policy: {}\r\nratelimit: {}\r\n",
                    policies.join(", "),
                    states.join(", ")
                ));
            }
        }
        out
    }
}

fn json_answer(status: u16, body: &Value, fields: String) -> Answer {
    Answer {
        status,
        body: body.to_string().into_bytes(),
        fields,
        delay: Duration::ZERO,
    }
}

/// As Go (and OpenAI) write durations: `1s`, `6m0s`, `20ms`.
fn go_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let secs = d.as_secs_f64();
    let minutes = (secs / 60.0).floor() as u64;
    let rest = secs - minutes as f64 * 60.0;
    let rest = format!("{:.3}", rest);
    let rest = rest.trim_end_matches('0').trim_end_matches('.');
    if minutes > 0 {
        format!("{minutes}m{rest}s")
    } else {
        format!("{rest}s")
    }
}

/// An RFC 3339 time in UTC, to the second.
fn rfc3339(t: SystemTime) -> String {
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs()) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_times_as_the_providers_write_them() {
        assert_eq!(go_duration(Duration::from_millis(20)), "20ms");
        assert_eq!(go_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(go_duration(Duration::from_secs(360)), "6m0s");
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_511_000);
        assert_eq!(rfc3339(t), "2026-12-05T22:50:00Z");
    }

    #[test]
    fn a_budget_is_spent_then_refused_with_when_to_come_back() {
        let api = Api::new(ApiLimits {
            requests_per_minute: 120,
            burst_seconds: 1.0,
            ..ApiLimits::default()
        });
        let head = "POST /v1/x HTTP/1.1\r\nhost: a";
        let first = api.answer(head, "/v1/x", br#"{"n":1}"#);
        assert_eq!(first.status, 200);
        assert!(
            first
                .fields
                .contains("x-ratelimit-remaining-requests: 1\r\n"),
            "{}",
            first.fields
        );
        assert_eq!(api.answer(head, "/v1/x", br#"{"n":2}"#).status, 200);
        let refused = api.answer(head, "/v1/x", br#"{"n":3}"#);
        assert_eq!(refused.status, 429);
        assert!(
            refused.fields.contains("retry-after-ms: "),
            "{}",
            refused.fields
        );
        assert_eq!(api.answer(head, "/v1/x", br#"{"n":1}"#).status, 429);
        let stats = api.stats();
        assert_eq!(
            (stats.processed, stats.limited, stats.duplicates),
            (2, 2, 0)
        );
    }
}
