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
            // `"name";q=100;w=60`, or the earlier drafts' `100;w=60`.
            self.policies.extend(list(value).iter().filter_map(|item| {
                let w = param(item, "w").unwrap_or(1);
                match name_of(item) {
                    Some(name) => Some((name, param(item, "q")?, w)),
                    None => Some((String::new(), integer(&item.bare_item)?, w)),
                }
            }));
        } else if name == "ratelimit" {
            self.states.extend(list(value).iter().filter_map(|item| {
                let r = param(item, "r")?;
                Some((name_of(item)?, r, param(item, "t").unwrap_or(0)))
            }));
        } else if name == "ratelimit-remaining" {
            let w = self.announced.requests.get_or_insert_with(Window::default);
            w.remaining = value.parse().ok();
        } else if name == "ratelimit-reset" {
            let w = self.announced.requests.get_or_insert_with(Window::default);
            w.reset = value.parse().ok().map(Duration::from_secs);
        } else if name == "ratelimit-limit" {
            // The earlier drafts' `10, 10;w=1, 50;w=60`: the first quota,
            // in the first window given (a minute if none is).
            let items = list(value);
            if let Some(q) = items.first().and_then(|i| integer(&i.bare_item)) {
                let w = items.iter().find_map(|i| param(i, "w")).unwrap_or(60);
                self.policies.push((String::new(), q, w));
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

/// The items of a structured-field list (RFC 9651, by `sfv`), inner lists
/// left out; none when the value is not one (a broken field is ignored).
fn list(value: &str) -> Vec<sfv::Item> {
    sfv::Parser::new(value)
        .parse_list::<sfv::List>()
        .map(|list| {
            list.into_iter()
                .filter_map(|entry| match entry {
                    sfv::ListEntry::Item(item) => Some(item),
                    sfv::ListEntry::InnerList(_) => None,
                })
                .collect()
        })
        .unwrap_or_default()
}

/// A policy's or a state's name: the item's string or token.
fn name_of(item: &sfv::Item) -> Option<String> {
    match &item.bare_item {
        sfv::BareItem::String(s) => Some(s.as_str().to_owned()),
        sfv::BareItem::Token(t) => Some(t.as_str().to_owned()),
        _ => None,
    }
}

/// A bare item's value as a count (an integer, 0 or more).
fn integer(bare: &sfv::BareItem) -> Option<u64> {
    u64::try_from(i64::from(bare.as_integer()?)).ok()
}

/// Parameter `key`'s count: `w` in `"name";q=100;w=60`.
fn param(item: &sfv::Item, key: &str) -> Option<u64> {
    integer(item.params.get(key)?)
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

/// Seconds since 1970 of an RFC 3339 time (by the `time` crate).
fn rfc3339_unix(text: &str) -> Option<f64> {
    let at =
        time::OffsetDateTime::parse(text.trim(), &time::format_description::well_known::Rfc3339)
            .ok()?;
    Some(at.unix_timestamp_nanos() as f64 / 1e9)
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

    /// The fields are structured fields (RFC 9651), read as such: a quoted
    /// name may hold a comma or a semicolon, and a token is a name too.
    /// (Split on `,` and `;`, as they were before, neither the policy nor
    /// the state below was read.)
    #[test]
    fn ietf_fields_are_read_as_structured_fields() {
        let a = read(&[
            (
                "RateLimit-Policy",
                "\"per-key, daily\";q=1000;w=86400, tokens;q=6000;w=60",
            ),
            ("RateLimit", "\"per-key, daily\";r=999;t=60"),
        ])
        .unwrap();
        let r = a.requests.unwrap();
        assert_eq!((r.remaining, r.rate), (Some(999), Some(1000.0 / 86400.0)));
        assert!(read(&[("RateLimit", "\"unterminated;r=1")]).is_none());
        // The earlier drafts' forms.
        let old = read(&[("RateLimit-Policy", "100;w=10"), ("RateLimit", "\"x\";r=4")]).unwrap();
        assert_eq!(old.requests.unwrap().rate, Some(10.0));
        let limit = read(&[
            ("RateLimit-Limit", "10, 10;w=1, 50;w=60"),
            ("RateLimit-Remaining", "3"),
        ])
        .unwrap();
        assert_eq!(limit.requests.unwrap().rate, Some(10.0));
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
