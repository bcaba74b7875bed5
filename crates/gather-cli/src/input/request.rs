//! What a line asks for: a URL line (a GET, or what `-X`, `-d` and
//! `--json` say for every URL line), or a JSON Lines request.
//!
//! A request line is one JSON object, in the engine's request format
//! ([`RequestFields`], whose docs list the fields and the rules):
//!
//! ```text
//! {"id": "a1", "method": "POST", "url": "/v1/embeddings", "headers": {"x-a": "1"}, "body": {"input": "hi"}}
//! ```
//!
//! This file reads a line into those fields, in place: a JSON body is
//! sent as written in the line (curl's `--json` sends its text as given
//! too), and the `id` is kept as its compact JSON for the record. The
//! rules, and every message of a refusal, are the engine's, shared with
//! the Python package.
//!
//! A line that cannot be sent is not an error of the run: it becomes that
//! line's error record (`invalid_request`, or `invalid_url`), at its
//! index, and every other line is fetched.

use std::sync::Arc;

use std::borrow::Cow;
use std::collections::BTreeMap;

use gather_http::client::Payload;
use gather_http::REQUEST_FIELDS as FIELDS;
use gather_http::{BodyGiven, FetchError, Kind, Request, RequestFields, UrlParser};

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
        let fields = Fields::read(line)?;
        if let Some(id) = fields.given(ID).or_else(|| fields.given(CUSTOM_ID)) {
            job.id = Some(canonical(id));
        }
        if let Some(url) = fields.given(URL) {
            match serde_json::from_str::<Cow<'_, str>>(url.get()) {
                Ok(url) => job.raw = url.into_owned(),
                Err(_) => return Err(RequestFields::wrong_type("url")),
            }
        }
        if let Some(problem) = fields.problem {
            return Err(problem);
        }
        let mut request = fields.request()?;
        request.url = fields.given(URL).map(|_| Cow::Borrowed(job.raw.as_str()));
        request.into_request(urls, self.base.as_ref())
    }
}

// Positions in `FIELDS`.
const URL: usize = 0;
const ID: usize = 1;
const CUSTOM_ID: usize = 2;
const METHOD: usize = 3;
const HEADERS: usize = 4;
const BODY: usize = 5;
const JSON: usize = 6;
const BODY_TEXT: usize = 7;
const BODY_BASE64: usize = 8;
const TOKENS: usize = 9;
const TIMEOUT: usize = 10;
const PARAMS: usize = 11;

/// A request line's fields, each as its JSON text borrowed from the line.
///
/// Read with a visitor of its own rather than into a map: a line is read
/// once per request, and a map of owned keys (a `BTreeMap<String, _>`)
/// cost four allocations a line and more instructions than the rest of
/// the request's reading. The values are not built into a tree either (a
/// chat body's messages are only sent on, as written).
///
/// An unknown or repeated field does not stop the reading: it is kept as
/// the line's [`problem`](Fields::problem), refused once the id is known,
/// so that the error record still carries it.
struct Fields<'a> {
    given: [Option<&'a RawValue>; FIELDS.len()],
    problem: Option<FetchError>,
}

impl<'a> Fields<'a> {
    fn read(line: &'a str) -> Result<Fields<'a>, FetchError> {
        let mut de = serde_json::Deserializer::from_str(line);
        let fields = serde::Deserializer::deserialize_map(&mut de, FieldsVisitor)
            .and_then(|fields| de.end().map(|()| fields));
        match fields {
            Ok(fields) => Ok(fields),
            Err(e) if e.is_data() => Err(refused("not a JSON object".to_owned())),
            Err(e) => Err(refused(format!("not JSON: {e}"))),
        }
    }

    /// The field at `at` (a position in `FIELDS`), unless absent or `null`.
    fn given(&self, at: usize) -> Option<&'a RawValue> {
        self.given[at].filter(|v| v.get() != "null")
    }

    /// The engine's fields of the request, but its url (whose text the
    /// caller keeps): each value checked to be of its field's type.
    fn request(&self) -> Result<RequestFields<'a>, FetchError> {
        let string = |at: usize| -> Result<Option<Cow<'a, str>>, FetchError> {
            self.given(at)
                .map(|raw| {
                    serde_json::from_str::<Cow<'a, str>>(raw.get())
                        .map_err(|_| RequestFields::wrong_type(FIELDS[at]))
                })
                .transpose()
        };
        let mut request = RequestFields::default();
        request.method = string(METHOD)?;
        if let Some(given) = self.given(HEADERS) {
            let map = serde_json::from_str::<BTreeMap<String, String>>(given.get())
                .map_err(|_| RequestFields::wrong_type("headers"))?;
            request.headers = map
                .into_iter()
                .map(|(name, value)| (name.into(), value.into()))
                .collect();
        }
        for at in [BODY, JSON, BODY_TEXT, BODY_BASE64] {
            let Some(raw) = self.given(at) else { continue };
            let body = match at {
                BODY_TEXT => BodyGiven::Text(string(at)?.unwrap_or_default()),
                BODY_BASE64 => BodyGiven::Base64(string(at)?.unwrap_or_default()),
                // Sent as written in the line.
                _ => BodyGiven::Json(raw.get().into()),
            };
            request.give_body(FIELDS[at], body);
        }
        if let Some(tokens) = self.given(TOKENS) {
            let tokens = serde_json::from_str::<u32>(tokens.get())
                .map_err(|_| RequestFields::wrong_type("tokens"))?;
            request.tokens = Some(tokens);
        }
        if let Some(timeout) = self.given(TIMEOUT) {
            let seconds = serde_json::from_str::<f64>(timeout.get())
                .map_err(|_| RequestFields::wrong_type("timeout"))?;
            request.set_timeout(seconds)?;
        }
        if let Some(params) = self.given(PARAMS) {
            request.params =
                params_of(params).ok_or_else(|| RequestFields::wrong_type("params"))?;
        }
        Ok(request)
    }
}

/// A line's `params`, in its order: each value a string, a number or a
/// boolean (a number as JSON writes it), or a list of them (the name once per
/// value); `None` for anything else.
fn params_of(raw: &RawValue) -> Option<Vec<(Cow<'static, str>, Cow<'static, str>)>> {
    // As pairs, not a `Value`: an object `Value` sorts its names.
    let pairs = serde_json::from_str::<Pairs>(raw.get()).ok()?.0;
    let mut params = Vec::with_capacity(pairs.len());
    for (name, value) in pairs {
        let values = match value {
            Value::Array(values) => values,
            one => vec![one],
        };
        for value in values {
            let text = match value {
                Value::String(s) => s,
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                _ => return None,
            };
            params.push((Cow::Owned(name.clone()), Cow::Owned(text)));
        }
    }
    Some(params)
}

/// A JSON object's members, in the order written.
struct Pairs(Vec<(String, Value)>);

impl<'de> serde::Deserialize<'de> for Pairs {
    fn deserialize<D: serde::Deserializer<'de>>(de: D) -> Result<Pairs, D::Error> {
        struct PairsVisitor;
        impl<'de> serde::de::Visitor<'de> for PairsVisitor {
            type Value = Pairs;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<M: serde::de::MapAccess<'de>>(
                self,
                mut map: M,
            ) -> Result<Pairs, M::Error> {
                let mut pairs = Vec::new();
                while let Some(pair) = map.next_entry::<String, Value>()? {
                    pairs.push(pair);
                }
                Ok(Pairs(pairs))
            }
        }
        de.deserialize_map(PairsVisitor)
    }
}

struct FieldsVisitor;

impl<'de> serde::de::Visitor<'de> for FieldsVisitor {
    type Value = Fields<'de>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<M: serde::de::MapAccess<'de>>(self, mut map: M) -> Result<Fields<'de>, M::Error> {
        let mut fields = Fields {
            given: [None; FIELDS.len()],
            problem: None,
        };
        while let Some(key) = map.next_key::<Key<'de>>()? {
            let value = map.next_value::<&'de RawValue>()?;
            let problem = match FIELDS.iter().position(|f| *f == key.0) {
                Some(at) if fields.given[at].is_none() => {
                    fields.given[at] = Some(value);
                    continue;
                }
                // serde_json would keep the last; which one was meant is
                // not ours to guess.
                Some(_) => RequestFields::twice(&key.0),
                None => RequestFields::unknown(&key.0),
            };
            fields.problem.get_or_insert(problem);
        }
        Ok(fields)
    }
}

/// A key, borrowed from the line unless it has escapes.
struct Key<'a>(Cow<'a, str>);

impl<'de> serde::Deserialize<'de> for Key<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(de: D) -> Result<Key<'de>, D::Error> {
        struct KeyVisitor;
        impl<'de> serde::de::Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a field name")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
        }
        de.deserialize_str(KeyVisitor)
    }
}

/// `value`'s compact JSON, as a record writes an id and `--resume` reads
/// it back: a string without escapes, or a whole number, is already that;
/// anything else is written again.
fn canonical(value: &RawValue) -> Box<str> {
    let text = value.get();
    let digits = text.strip_prefix('-').unwrap_or(text);
    let whole = !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit());
    if whole || (text.starts_with('"') && !text.contains('\\')) {
        return text.into();
    }
    serde_json::from_str::<Value>(text)
        .map_or_else(|_| text.into(), |v| v.to_string().into_boxed_str())
}

fn refused(message: String) -> FetchError {
    FetchError::immediate(Kind::InvalidRequest, message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::header::HeaderMap;
    use std::sync::Arc;

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
    fn params_join_the_url_in_the_lines_order() {
        let rules = Rules::default();
        let (job, read) = read_line(
            &rules,
            r#"{"url": "http://a.test/s?x=0", "params": {"q": "a b", "n": 2.50, "ok": true, "tag": ["b", "a"]}}"#,
        );
        assert_eq!(
            read.unwrap().url.as_str(),
            "http://a.test/s?x=0&q=a+b&n=2.5&ok=true&tag=b&tag=a"
        );
        assert_eq!(
            job.raw, "http://a.test/s?x=0",
            "the record's url is as given"
        );
        for bad in [
            r#"{"url": "http://a.test/", "params": ["q"]}"#,
            r#"{"url": "http://a.test/", "params": {"q": null}}"#,
            r#"{"url": "http://a.test/", "params": {"q": {"r": 1}}}"#,
            r#"{"url": "http://a.test/", "params": {"q": [[1]]}}"#,
        ] {
            let e = read_line(&rules, bad).1.unwrap_err();
            assert_eq!(e.kind, Kind::InvalidRequest, "{bad}");
            assert!(
                e.message.starts_with("\"params\" must be an object"),
                "{bad}: {}",
                e.message
            );
        }
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
    fn fields_are_read_in_place_and_a_repeated_one_is_refused() {
        let rules = Rules::default();
        // A key with an escape is the same key.
        let (job, read) = read_line(&rules, r#"{"\u0075rl": "http://a.test/", "id": -12}"#);
        assert_eq!(read.unwrap().url.as_str(), "http://a.test/");
        assert_eq!(job.id.as_deref(), Some("-12"), "a whole number as written");
        let (job, _) = read_line(&rules, r#"{"url": "http://a.test/", "id": 1.50}"#);
        assert_eq!(
            job.id.as_deref(),
            Some("1.5"),
            "other numbers written again"
        );
        let (job, _) = read_line(&rules, r#"{"url": "http://a.test/", "id": "a\u0062"}"#);
        assert_eq!(job.id.as_deref(), Some(r#""ab""#));
        let (_, read) = read_line(
            &rules,
            r#"{"url": "http://a.test/", "url": "http://b.test/"}"#,
        );
        let e = read.expect_err("refused");
        assert_eq!(e.kind, Kind::InvalidRequest);
        assert_eq!(e.message, r#"field "url" is given twice"#);
        let (_, read) = read_line(&rules, r#"{"url": "http://a.test/"} {}"#);
        assert!(read
            .expect_err("refused")
            .message
            .starts_with("not JSON: trailing"));
        let (_, read) = read_line(&rules, r#"{"url": "http://a.test/", "bdy": 1}"#);
        assert_eq!(
            read.expect_err("refused").message,
            r#"unknown field "bdy" (a request has url, id, custom_id, method, headers, body, json, body_text, body_base64, tokens, timeout, params)"#
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
