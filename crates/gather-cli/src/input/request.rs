//! What a line asks for: a URL line (a GET, or what `-X`, `-d` and
//! `--json` say for every URL line), or a JSON Lines request.
//!
//! A request line is one JSON object:
//!
//! ```text
//! {"id": "a1", "method": "POST", "url": "/v1/embeddings", "headers": {"x-a": "1"}, "body": {"input": "hi"}}
//! ```
//!
//! | field | meaning |
//! |---|---|
//! | `url` | absolute, or relative to `--base-url` (required) |
//! | `id` (or `custom_id`) | any JSON, echoed in the line's record |
//! | `method` | default GET, or POST when a body is given |
//! | `headers` | an object of this request's own fields, over the run's `-H` |
//! | `body` (or `json`) | any JSON, sent as JSON (`Content-Type: application/json` unless given) |
//! | `body_text` | a string, sent as its UTF-8 |
//! | `body_base64` | bytes in base64, sent decoded |
//! | `tokens` | its weight for a token budget (see below) |
//!
//! **Weight.** A budget of tokens per minute (one a server announces, or
//! `--tokens-per-minute`) counts each request as its `tokens`, or else as
//! a JSON body's `max_tokens` (`max_completion_tokens`,
//! `max_output_tokens`) plus a token per four bytes of body: what a
//! provider reserves for it when it arrives, estimated without a
//! tokenizer. The estimate errs high for most text, so the run waits a
//! little rather than collecting 429s.
//!
//! These are the fields of an OpenAI Batch API input file (`custom_id`,
//! `method`, `url`, `body`), which therefore runs as it is with
//! `--base-url`, and those a Python `fetch()` dict has (the rules both
//! apply are the engine's [`Payload::from_fields`]). Unknown fields are
//! refused rather than ignored: a typo (`"bdy"`) would otherwise send a
//! request without its body.
//!
//! A line that cannot be sent is not an error of the run: it becomes that
//! line's error record (`invalid_request`, or `invalid_url`), at its
//! index, and every other line is fetched.

use std::sync::Arc;

use base64::Engine;
use gather_http::client::{BodyField, Payload};
use gather_http::urls::UrlParser;
use gather_http::{FetchError, Kind};
use http::header::{HeaderMap, HeaderName, HeaderValue};
use std::borrow::Cow;
use std::collections::BTreeMap;

use serde_json::value::RawValue;
use serde_json::Value;
use url::Url;

use super::Job;

/// How lines become requests: the run's flags that say so.
#[derive(Debug, Clone, Default)]
pub(crate) struct Rules {
    /// `--base-url`: what a relative `url` is relative to.
    pub(crate) base: Option<Url>,
    /// `--jsonl`: every line is a request object; a plain URL line is an
    /// error (without it, a line is one when it starts with `{`).
    pub(crate) jsonl: bool,
    /// `-X`, `-d`, `--json`: what every URL line sends (`None`: a GET).
    pub(crate) url_lines: Option<Arc<Payload>>,
}

/// A line, read: where it goes and what it sends.
pub(crate) struct Request {
    pub(crate) url: Url,
    pub(crate) payload: Option<Arc<Payload>>,
}

/// The fields a request line may have.
const FIELDS: [&str; 10] = [
    "url",
    "id",
    "custom_id",
    "method",
    "headers",
    "body",
    "json",
    "body_text",
    "body_base64",
    "tokens",
];

impl Rules {
    /// Reads `job`'s line. A request line's `url` (as given) replaces the
    /// job's text and its `id` is kept, for the record, even when the
    /// line cannot be sent.
    pub(crate) fn read(&self, job: &mut Job, urls: &mut UrlParser) -> Result<Request, FetchError> {
        if !job.raw.starts_with('{') {
            if self.jsonl {
                return Err(refused(
                    "not a JSON object (--jsonl: every line is a request)".to_owned(),
                ));
            }
            let url = urls
                .parse_from(&job.raw, self.base.as_ref())
                .map_err(|e| FetchError::immediate(e.kind(), e.message()))?;
            return Ok(Request {
                url,
                payload: self.url_lines.clone(),
            });
        }
        // The line is taken out while its values are borrowed from it; a
        // line whose url is not reached stays the record's url.
        let line = std::mem::take(&mut job.raw);
        let read = self.read_object(&line, job, urls);
        if job.raw.is_empty() {
            job.raw = line;
        }
        read
    }

    fn read_object(
        &self,
        line: &str,
        job: &mut Job,
        urls: &mut UrlParser,
    ) -> Result<Request, FetchError> {
        // The values are borrowed as their JSON text, not built into a
        // tree: a line is read once per request, and building every value
        // (a chat body's messages) was most of what a request line cost
        // over a URL line.
        let fields = match serde_json::from_str::<BTreeMap<String, &RawValue>>(line) {
            Ok(fields) => fields,
            Err(e) if e.is_data() => return Err(refused("not a JSON object".to_owned())),
            Err(e) => return Err(refused(format!("not JSON: {e}"))),
        };
        let given = |name: &str| fields.get(name).copied().filter(|v| v.get() != "null");
        if let Some(id) = given("id").or_else(|| given("custom_id")) {
            job.id = Some(canonical(id));
        }
        match given("url").map(|u| serde_json::from_str::<Cow<'_, str>>(u.get())) {
            Some(Ok(url)) => job.raw = url.into_owned(),
            Some(Err(_)) => return Err(refused("\"url\" must be a string".to_owned())),
            None => return Err(refused("no \"url\"".to_owned())),
        }
        let payload = payload(&fields)?;
        let url = urls
            .parse_from(&job.raw, self.base.as_ref())
            .map_err(|e| FetchError::immediate(e.kind(), e.message()))?;
        Ok(Request {
            url,
            payload: payload.map(Arc::new),
        })
    }
}

/// `value`'s compact JSON, as a record writes an id and `--resume` reads
/// it back: a string without escapes is already that; anything else is
/// written again.
fn canonical(value: &RawValue) -> Box<str> {
    let text = value.get();
    if text.starts_with('"') && !text.contains('\\') {
        return text.into();
    }
    serde_json::from_str::<Value>(text)
        .map_or_else(|_| text.into(), |v| v.to_string().into_boxed_str())
}

fn refused(message: String) -> FetchError {
    FetchError::immediate(Kind::InvalidRequest, message)
}

/// The method, fields and body a request line gives.
fn payload(fields: &BTreeMap<String, &RawValue>) -> Result<Option<Payload>, FetchError> {
    if let Some(unknown) = fields.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return Err(refused(format!(
            "unknown field {unknown:?} (a request has {})",
            FIELDS.join(", ")
        )));
    }
    let given = |name: &str| fields.get(name).copied().filter(|v| v.get() != "null");
    let mut headers = HeaderMap::new();
    if let Some(given) = given("headers") {
        let map = serde_json::from_str::<BTreeMap<String, String>>(given.get()).map_err(|_| {
            refused("\"headers\" must be an object of names and string values".to_owned())
        })?;
        for (name, value) in map {
            let name = HeaderName::from_bytes(name.trim().as_bytes())
                .map_err(|_| refused(format!("\"headers\": {name:?} is not a header name")))?;
            let value = HeaderValue::from_str(value.trim()).map_err(|_| {
                refused(format!(
                    "\"headers\"[{name:?}]: {value:?} is not a header value"
                ))
            })?;
            headers.append(name, value);
        }
    }
    let bodies: Vec<&str> = ["body", "json", "body_text", "body_base64"]
        .into_iter()
        .filter(|name| given(name).is_some())
        .collect();
    if bodies.len() > 1 {
        return Err(refused(format!(
            "two bodies ({}): give one of body, json, body_text, body_base64",
            bodies.join(" and ")
        )));
    }
    let string = |name: &str, raw: &RawValue| {
        serde_json::from_str::<String>(raw.get())
            .map_err(|_| refused(format!("{name:?} must be a string")))
    };
    let json_body = ["body", "json"].into_iter().find_map(given);
    let body = match bodies.first().copied() {
        None => None,
        Some(name @ "body_text") => Some(BodyField::Raw(
            string(name, given(name).expect("present"))?.into_bytes(),
        )),
        Some(name @ "body_base64") => {
            let text = string(name, given(name).expect("present"))?;
            Some(BodyField::Raw(
                base64::engine::general_purpose::STANDARD
                    .decode(text.trim())
                    .map_err(|e| refused(format!("\"body_base64\" is not base64: {e}")))?,
            ))
        }
        // Sent as written in the line (JSON either way; curl's --json
        // sends its text as given too).
        Some(_) => json_body.map(|raw| BodyField::Json(raw.get().as_bytes().to_vec())),
    };
    let method = match given("method") {
        None => None,
        Some(m) => Some(string("method", m)?),
    };
    let tokens = match given("tokens") {
        None => None,
        Some(t) => Some(
            serde_json::from_str::<u32>(t.get())
                .map_err(|_| refused("\"tokens\" must be a whole number of tokens".to_owned()))?,
        ),
    };
    let payload = Payload::from_fields(method.as_deref(), headers, body)
        .map_err(|e| refused(format!("\"method\": {e}")))?;
    Ok(payload.map(|p| {
        let weight = tokens.unwrap_or_else(|| weight(json_body.map(RawValue::get), &p));
        p.with_weight(weight)
    }))
}

/// A request's token estimate: what its JSON body (`body`, as text) asks
/// to generate at most, plus a token per four bytes of body.
pub(crate) fn weight(body: Option<&str>, payload: &Payload) -> u32 {
    let asked = body
        .filter(|b| b.contains("\"max_"))
        .and_then(|b| serde_json::from_str::<BTreeMap<String, &RawValue>>(b).ok())
        .and_then(|b| {
            ["max_tokens", "max_completion_tokens", "max_output_tokens"]
                .into_iter()
                .find_map(|k| serde_json::from_str::<u64>(b.get(k)?.get()).ok())
        })
        .unwrap_or(0);
    let sent = payload.body().map_or(0, |b| b.len().div_ceil(4)) as u64;
    u32::try_from(asked + sent).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(line: &str) -> Job {
        Job {
            index: 0,
            line: 1,
            raw: line.to_owned(),
            id: None,
        }
    }

    fn read_line(rules: &Rules, line: &str) -> (Job, Result<Request, FetchError>) {
        let mut job = job(line);
        let read = rules.read(&mut job, &mut UrlParser::default());
        (job, read)
    }

    #[test]
    fn an_openai_batch_line_runs_against_the_base_url() {
        let rules = Rules {
            base: Some(Url::parse("http://127.0.0.1:9/api/").unwrap()),
            ..Rules::default()
        };
        let (job, read) = read_line(
            &rules,
            r#"{"custom_id": "request-1", "method": "POST", "url": "/v1/chat/completions", "body": {"model": "m", "max_tokens": 5}}"#,
        );
        let request = read.unwrap();
        assert_eq!(
            request.url.as_str(),
            "http://127.0.0.1:9/v1/chat/completions"
        );
        assert_eq!(
            job.raw, "/v1/chat/completions",
            "the record's url is as given"
        );
        assert_eq!(job.id.as_deref(), Some(r#""request-1""#));
        let payload = request.payload.unwrap();
        assert_eq!(payload.method(), "POST");
        assert_eq!(payload.headers()["content-type"], "application/json");
        assert_eq!(
            payload.body().unwrap().as_ref(),
            br#"{"model": "m", "max_tokens": 5}"#,
            "as written in the line"
        );
        assert_eq!(payload.weight(), 5 + 8, "max_tokens, and 31 bytes / 4");
        let (_, read) = read_line(&rules, r#"{"url": "/x", "body": {"a": 1}, "tokens": 70}"#);
        assert_eq!(read.unwrap().payload.unwrap().weight(), 70, "given");
    }

    #[test]
    fn raw_bodies_and_a_method_default() {
        let rules = Rules::default();
        let (_, read) = read_line(&rules, r#"{"url": "http://a.test/", "body_text": "a=1"}"#);
        let payload = read.unwrap().payload.unwrap();
        assert_eq!(payload.method(), "POST");
        assert!(!payload.headers().contains_key("content-type"));
        let (_, read) = read_line(
            &rules,
            r#"{"url": "http://a.test/", "method": "put", "body_base64": "AAEC"}"#,
        );
        let payload = read.unwrap().payload.unwrap();
        assert_eq!(payload.method(), "PUT");
        assert_eq!(payload.body().unwrap().as_ref(), &[0, 1, 2]);
        let (_, read) = read_line(&rules, r#"{"url": "http://a.test/", "id": 7}"#);
        assert!(read.unwrap().payload.is_none(), "a plain GET");
    }

    #[test]
    fn bad_lines_are_refused_naming_what_is_wrong_and_keep_their_id() {
        let rules = Rules::default();
        for (line, why) in [
            (r#"{"url": "http://a.test/""#, "not JSON"),
            (r#"{"id": 3}"#, "no \"url\""),
            (
                r#"{"id": 3, "url": "http://a.test/", "body": 1, "body_text": "x"}"#,
                "two bodies",
            ),
            (
                r#"{"id": 3, "url": "http://a.test/", "bdy": 1}"#,
                "unknown field \"bdy\"",
            ),
            (
                r#"{"id": 3, "url": "http://a.test/", "headers": {"a b": "1"}}"#,
                "is not a header name",
            ),
            (
                r#"{"id": 3, "url": "http://a.test/", "method": "CONNECT"}"#,
                "\"method\"",
            ),
            (
                r#"{"id": 3, "url": "http://a.test/", "body_base64": "!!"}"#,
                "not base64",
            ),
        ] {
            let (job, read) = read_line(&rules, line);
            let e = read.err().unwrap_or_else(|| panic!("{line} was accepted"));
            assert_eq!(e.kind, Kind::InvalidRequest, "{line}");
            assert!(e.message.contains(why), "{line}: {}", e.message);
            if line.contains("\"id\": 3") {
                assert_eq!(job.id.as_deref(), Some("3"), "{line}");
            }
        }
        let (_, read) = read_line(&rules, r#"{"url": "/v1/x"}"#);
        assert_eq!(
            read.err().unwrap().kind,
            Kind::InvalidUrl,
            "relative without --base-url"
        );
    }

    #[test]
    fn jsonl_refuses_plain_lines_and_url_lines_take_the_flags_payload() {
        let jsonl = Rules {
            jsonl: true,
            ..Rules::default()
        };
        let (_, read) = read_line(&jsonl, "http://a.test/");
        assert_eq!(read.err().unwrap().kind, Kind::InvalidRequest);
        let post = Payload::new("POST", HeaderMap::new(), Some(b"a=1".to_vec().into())).unwrap();
        let flags = Rules {
            url_lines: Some(Arc::new(post)),
            ..Rules::default()
        };
        let (_, read) = read_line(&flags, "http://a.test/");
        assert_eq!(read.unwrap().payload.unwrap().method(), "POST");
    }
}
