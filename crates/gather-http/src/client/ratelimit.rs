//! The limits a server announces in its answers' header fields, read into
//! one shape whatever family wrote them, for `pacing` (client/pacing.rs) to
//! stay under.
//!
//! | family | fields | the rate is |
//! |---|---|---|
//! | OpenAI | `x-ratelimit-{limit,remaining,reset}-{requests,tokens}`; reset as a Go duration (`1s`, `6m0s`, `20ms`) | the limit per minute |
//! | Anthropic | `anthropic-ratelimit-{requests,tokens,input-tokens}-{limit,remaining,reset}`; reset as an RFC 3339 time | the limit per minute |
//! | IETF (draft-ietf-httpapi-ratelimit-headers) | `RateLimit-Policy: "name";q=100;w=60` and `RateLimit: "name";r=50;t=30`; or the earlier drafts' `RateLimit-Limit`, `-Remaining`, `-Reset` | `q` per `w` seconds |
//!
//! OpenAI and Anthropic document their limits as per minute (requests
//! and tokens per minute) and give no window in the fields, so the rate is
//! the limit over 60 s. The reset they give is *not* used to derive a
//! rate: a limit announced per minute but enforced per second (as OpenAI
//! says it may be) resets within a second, and the rate such a reading
//! gives is many times too high. A policy whose name mentions tokens is
//! the token budget; any other is the request budget (the strictest of
//! several).
//!
//! Values that cannot be read are ignored, field by field: a hostile or
//! broken field makes the client less informed, never fail.

use std::time::{Duration, SystemTime};

/// What one answer announced.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Announced {
    pub requests: Option<Window>,
    pub tokens: Option<Window>,
    /// `retry-after-ms` (OpenAI's, finer than `Retry-After`).
    pub retry_after_ms: Option<u64>,
}

/// One budget's state as the server saw it when it answered.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Window {
    /// What is left now.
    pub remaining: Option<u64>,
    /// Units per second the budget refills at, when known.
    pub rate: Option<f64>,
    /// When it is whole again (or, for a fixed window, reset).
    pub reset: Option<Duration>,
}

impl Window {
    fn is_empty(&self) -> bool {
        *self == Window::default()
    }
}

/// `true` when a field of this (lower-case) name may announce a limit:
/// the one test made of every field of every answer.
pub fn is_limit_field(name: &[u8]) -> bool {
    name.len() >= 9
        && (name[..9].eq_ignore_ascii_case(b"ratelimit")
            || name.len() > 12 && name[..12].eq_ignore_ascii_case(b"x-ratelimit-")
            || name.len() > 20 && name[..20].eq_ignore_ascii_case(b"anthropic-ratelimit-")
            || name.eq_ignore_ascii_case(b"retry-after-ms"))
}

/// Reads the limit fields of one answer, given one at a time.
#[derive(Debug, Default)]
pub struct Reader {
    announced: Announced,
    /// The limits OpenAI or Anthropic gave, for their rates.
    request_limit: Option<u64>,
    token_limit: Option<u64>,
    input_tokens: Option<Window>,
    input_token_limit: Option<u64>,
    /// IETF policies (name, quota, window) and states (name, remaining,
    /// reset), matched by name at the end.
    policies: Vec<(String, u64, u64)>,
    states: Vec<(String, u64, u64)>,
}

/// Which budget a field is about.
#[derive(Clone, Copy)]
enum Budget {
    Requests,
    Tokens,
    /// Anthropic's input tokens: the token budget when no combined one
    /// is given.
    InputTokens,
}

impl Reader {
    /// One field; `name` in any case.
    pub fn field(&mut self, name: &str, value: &[u8]) {
        let Ok(value) = std::str::from_utf8(value) else {
            return;
        };
        let value = value.trim();
        let name = name.to_ascii_lowercase();
        if name == "retry-after-ms" {
            self.announced.retry_after_ms = value
                .parse::<f64>()
                .ok()
                .filter(|ms| ms.is_finite() && *ms >= 0.0)
                .map(|ms| ms.ceil() as u64);
        } else if let Some(rest) = name.strip_prefix("x-ratelimit-") {
            // x-ratelimit-remaining-requests
            let Some((what, budget)) = rest.rsplit_once('-') else {
                return;
            };
            let budget = match budget {
                "requests" => Budget::Requests,
                "tokens" => Budget::Tokens,
                _ => return,
            };
            self.vendor(budget, what, value, go_duration);
        } else if let Some(rest) = name.strip_prefix("anthropic-ratelimit-") {
            // anthropic-ratelimit-requests-remaining; tokens (or, without
            // them, input tokens) are the token budget.
            let Some((budget, what)) = rest.rsplit_once('-') else {
                return;
            };
            let budget = match budget {
                "requests" => Budget::Requests,
                "tokens" => Budget::Tokens,
                "input-tokens" => Budget::InputTokens,
                _ => return,
            };
            self.vendor(budget, what, value, until_rfc3339);
        } else if name == "ratelimit-policy" {
            self.policies
                .extend(items(value).filter_map(|(name, params)| {
                    Some((name, param(&params, "q")?, param(&params, "w").unwrap_or(1)))
                }));
            if let Ok(q) = value
                .split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .parse::<u64>()
            {
                // The earlier drafts' `100;w=60`.
                let w = param(value, "w").unwrap_or(1);
                self.policies.push((String::new(), q, w));
            }
        } else if name == "ratelimit" {
            self.states
                .extend(items(value).filter_map(|(name, params)| {
                    Some((name, param(&params, "r")?, param(&params, "t").unwrap_or(0)))
                }));
        } else if name == "ratelimit-remaining" {
            let w = self.announced.requests.get_or_insert_with(Window::default);
            w.remaining = value.parse().ok();
        } else if name == "ratelimit-reset" {
            let w = self.announced.requests.get_or_insert_with(Window::default);
            w.reset = value.parse().ok().map(Duration::from_secs);
        } else if name == "ratelimit-limit" {
            if let Ok(q) = value
                .split([',', ';'])
                .next()
                .unwrap_or_default()
                .trim()
                .parse::<u64>()
            {
                let w = param(value, "w");
                self.policies.push((String::new(), q, w.unwrap_or(60)));
            }
        }
    }

    fn vendor(
        &mut self,
        budget: Budget,
        what: &str,
        value: &str,
        reset: fn(&str) -> Option<Duration>,
    ) {
        let window = match budget {
            Budget::Requests => self.announced.requests.get_or_insert_with(Window::default),
            Budget::Tokens => self.announced.tokens.get_or_insert_with(Window::default),
            Budget::InputTokens => self.input_tokens.get_or_insert_with(Window::default),
        };
        match what {
            "limit" => {
                let limit = value.parse().ok();
                match budget {
                    Budget::Requests => self.request_limit = limit,
                    Budget::Tokens => self.token_limit = limit,
                    Budget::InputTokens => self.input_token_limit = limit,
                }
            }
            "remaining" => window.remaining = value.parse().ok(),
            "reset" => window.reset = reset(value),
            _ => {}
        }
    }

    /// What the fields said, or `None` if they said nothing usable.
    pub fn finish(mut self) -> Option<Announced> {
        if self.announced.tokens.is_none() {
            self.announced.tokens = self.input_tokens;
            self.token_limit = self.input_token_limit;
        }
        let per_minute = |limit: Option<u64>| limit.filter(|&l| l > 0).map(|l| l as f64 / 60.0);
        if let Some(w) = &mut self.announced.requests {
            w.rate = w.rate.or(per_minute(self.request_limit));
        }
        if let Some(w) = &mut self.announced.tokens {
            w.rate = w.rate.or(per_minute(self.token_limit));
        }
        // IETF: each state with its policy (by name; a lone one of each
        // match whatever their names).
        let lone = self.policies.len() == 1;
        for (name, remaining, reset) in &self.states {
            let policy = self
                .policies
                .iter()
                .find(|(n, ..)| n == name || lone)
                .map(|&(_, q, w)| q as f64 / w.max(1) as f64);
            let window = Window {
                remaining: Some(*remaining),
                rate: policy,
                reset: Some(Duration::from_secs(*reset)),
            };
            let slot = if name.contains("token") {
                &mut self.announced.tokens
            } else {
                &mut self.announced.requests
            };
            // The strictest of several request budgets: the least left.
            if slot
                .and_then(|w| w.remaining)
                .is_none_or(|r| *remaining < r)
            {
                *slot = Some(window);
            }
        }
        if self.states.is_empty() {
            // The earlier drafts: a policy and the `-Remaining` field.
            if let (Some(w), Some(&(_, q, win))) =
                (&mut self.announced.requests, self.policies.first())
            {
                w.rate = w.rate.or(Some(q as f64 / win.max(1) as f64));
            }
        }
        for slot in [&mut self.announced.requests, &mut self.announced.tokens] {
            if slot.is_some_and(|w| w.is_empty() || w.remaining.is_none() && w.rate.is_none()) {
                *slot = None;
            }
        }
        let a = self.announced;
        (a.requests.is_some() || a.tokens.is_some() || a.retry_after_ms.is_some()).then_some(a)
    }
}

/// The items of a structured-field list: `"name";a=1;b=2, "other";a=3`,
/// each as its name (unquoted) and its parameters' text.
fn items(value: &str) -> impl Iterator<Item = (String, String)> + '_ {
    value.split(',').filter_map(|item| {
        let item = item.trim();
        let (name, params) = item.split_once(';').unwrap_or((item, ""));
        let name = name.trim();
        let name = name.strip_prefix('"')?.strip_suffix('"')?;
        Some((name.to_owned(), params.to_owned()))
    })
}

/// Parameter `key`'s integer in `a=1;key=2`.
fn param(params: &str, key: &str) -> Option<u64> {
    params.split(';').find_map(|p| {
        let (k, v) = p.split_once('=')?;
        (k.trim() == key).then(|| v.trim().parse().ok()).flatten()
    })
}

/// A Go duration as OpenAI writes resets: `1s`, `6m0s`, `20ms`, `1h2m3.5s`.
pub fn go_duration(text: &str) -> Option<Duration> {
    let mut rest = text.trim();
    if rest.is_empty() {
        return None;
    }
    let mut secs = 0.0f64;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let n: f64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 1e-3,
            "us" | "µs" => 1e-6,
            "ns" => 1e-9,
            _ => return None,
        };
        rest = &rest[unit_len..];
        secs += n * scale;
    }
    (secs.is_finite() && secs < 1e9).then(|| Duration::from_secs_f64(secs))
}

/// How long until an RFC 3339 time (`2026-12-05T23:50:00Z`, with a
/// fraction or an offset), as Anthropic writes resets; zero if it is past.
fn until_rfc3339(text: &str) -> Option<Duration> {
    let at = rfc3339_unix(text)?;
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .ok()?
        .as_secs_f64();
    Some(Duration::from_secs_f64((at - now).clamp(0.0, 1e9)))
}

/// Seconds since 1970 of an RFC 3339 time.
fn rfc3339_unix(text: &str) -> Option<f64> {
    let b = text.trim().as_bytes();
    let num = |range: std::ops::Range<usize>| -> Option<i64> {
        std::str::from_utf8(b.get(range)?).ok()?.parse().ok()
    };
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, s) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    let mut i = 19;
    let mut fraction = 0.0;
    if b.get(i) == Some(&b'.') {
        let end = b[i + 1..].iter().position(|c| !c.is_ascii_digit())? + i + 1;
        fraction = format!("0{}", std::str::from_utf8(&b[i..end]).ok()?)
            .parse()
            .ok()?;
        i = end;
    }
    let offset = match b.get(i)? {
        b'Z' | b'z' => 0,
        sign @ (b'+' | b'-') => {
            let o = num(i + 1..i + 3)? * 3600 + num(i + 4..i + 6)? * 60;
            if *sign == b'+' {
                o
            } else {
                -o
            }
        }
        _ => return None,
    };
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if mo <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some((days * 86_400 + h * 3600 + mi * 60 + s - offset) as f64 + fraction)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(fields: &[(&str, &str)]) -> Option<Announced> {
        let mut r = Reader::default();
        for (n, v) in fields {
            r.field(n, v.as_bytes());
        }
        r.finish()
    }

    #[test]
    fn openai_fields_give_remaining_and_a_per_minute_rate() {
        let a = read(&[
            ("x-ratelimit-limit-requests", "1200"),
            ("x-ratelimit-remaining-requests", "19"),
            ("x-ratelimit-reset-requests", "50ms"),
            ("x-ratelimit-limit-tokens", "60000"),
            ("x-ratelimit-remaining-tokens", "900"),
            ("x-ratelimit-reset-tokens", "6m0s"),
            ("retry-after-ms", "120"),
        ])
        .unwrap();
        let r = a.requests.unwrap();
        assert_eq!(r.remaining, Some(19));
        assert_eq!(r.rate, Some(20.0));
        assert_eq!(r.reset, Some(Duration::from_millis(50)));
        let t = a.tokens.unwrap();
        assert_eq!((t.remaining, t.rate), (Some(900), Some(1000.0)));
        assert_eq!(t.reset, Some(Duration::from_secs(360)));
        assert_eq!(a.retry_after_ms, Some(120));
    }

    #[test]
    fn go_durations_as_openai_writes_them() {
        for (text, ms) in [
            ("1s", 1000),
            ("6m0s", 360_000),
            ("20ms", 20),
            ("1h2m3.5s", 3_723_500),
            ("0.5s", 500),
        ] {
            assert_eq!(go_duration(text), Some(Duration::from_millis(ms)), "{text}");
        }
        for bad in ["", "5", "1x", "s", "1.2.3s", "-1s"] {
            assert_eq!(go_duration(bad), None, "{bad}");
        }
    }

    #[test]
    fn anthropic_fields_with_an_rfc3339_reset() {
        // Checked against Python's datetime.
        assert_eq!(rfc3339_unix("1970-01-01T00:00:00Z"), Some(0.0));
        assert_eq!(rfc3339_unix("2000-03-01T00:00:00Z"), Some(951_868_800.0));
        assert_eq!(
            rfc3339_unix("2026-12-05T23:50:00.5+01:00"),
            Some(1_796_511_000.5)
        );
        assert_eq!(rfc3339_unix("2026-13-05T23:50:00Z"), None);
        let a = read(&[
            ("anthropic-ratelimit-requests-limit", "50"),
            ("anthropic-ratelimit-requests-remaining", "49"),
            ("anthropic-ratelimit-input-tokens-limit", "30000"),
            ("anthropic-ratelimit-input-tokens-remaining", "29000"),
        ])
        .unwrap();
        assert_eq!(a.requests.unwrap().rate, Some(50.0 / 60.0));
        assert_eq!(a.tokens.unwrap().remaining, Some(29000));
        let mut r = Reader::default();
        r.field("anthropic-ratelimit-requests-remaining", b"3");
        r.field(
            "anthropic-ratelimit-requests-reset",
            b"2000-01-01T00:00:00Z",
        );
        assert_eq!(
            r.finish().unwrap().requests.unwrap().reset,
            Some(Duration::ZERO),
            "past: now"
        );
    }

    #[test]
    fn ietf_policies_and_states_by_name() {
        let a = read(&[
            (
                "RateLimit-Policy",
                "\"burst\";q=100;w=60, \"tokens\";q=6000;w=60",
            ),
            ("RateLimit", "\"burst\";r=40;t=12, \"tokens\";r=5000;t=10"),
        ])
        .unwrap();
        let r = a.requests.unwrap();
        assert_eq!((r.remaining, r.rate), (Some(40), Some(100.0 / 60.0)));
        assert_eq!(r.reset, Some(Duration::from_secs(12)));
        assert_eq!(a.tokens.unwrap().remaining, Some(5000));
        let old = read(&[
            ("RateLimit-Limit", "10"),
            ("RateLimit-Remaining", "3"),
            ("RateLimit-Reset", "7"),
        ])
        .unwrap();
        let r = old.requests.unwrap();
        assert_eq!(
            (r.remaining, r.reset),
            (Some(3), Some(Duration::from_secs(7)))
        );
        assert!(r.rate.is_some());
    }

    #[test]
    fn garbage_is_ignored_not_fatal() {
        assert_eq!(read(&[("x-ratelimit-remaining-requests", "lots")]), None);
        assert_eq!(read(&[("RateLimit", "\"a\";r=;t=x")]), None);
        assert_eq!(read(&[("x-ratelimit-remaining-bananas", "3")]), None);
        assert!(is_limit_field(b"X-RateLimit-Remaining-Requests"));
        assert!(is_limit_field(b"ratelimit"));
        assert!(!is_limit_field(b"content-type"));
    }
}
