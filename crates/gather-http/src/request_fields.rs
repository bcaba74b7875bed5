//! **The request format**, one for every front door: the fields of a
//! `gather fetch` JSON Lines request and of a Python `fetch()` dict, and
//! every rule that turns them into a [`Request`].
//!
//! | field | meaning |
//! |---|---|
//! | `url` | absolute, or relative to the run's base URL (required) |
//! | `params` | query parameters, added to the URL's query form-encoded (a list value repeats its name), as `params=` of httpx, requests and aiohttp |
//! | `id` (or `custom_id`) | handed back with the result (kept by the front door) |
//! | `method` | default GET, or POST when a body is given |
//! | `headers` | this request's own fields, over the run's |
//! | `body` (or `json`) | any JSON, sent as JSON (`Content-Type: application/json` unless given) |
//! | `body_text` | a string, sent as its UTF-8 |
//! | `body_base64` | bytes in base64 (surrounding white space ignored), sent decoded |
//! | `tokens` | its weight for a token budget |
//! | `timeout` | its own time for a complete answer, in seconds, over the run's |
//!
//! These are the fields of an OpenAI Batch API input file (`custom_id`,
//! `method`, `url`, `body`), which therefore runs as it is with a base URL.
//! Unknown fields are refused rather than ignored: a typo (`"bdy"`) would
//! otherwise send a request without its body.
//!
//! **Weight.** A budget of tokens per minute counts each request as its
//! `tokens`, or else as a JSON body's `max_tokens` (`max_completion_tokens`,
//! `max_output_tokens`) plus a token per four bytes of body: what a
//! provider reserves for it when it arrives, estimated without a
//! tokenizer.
//!
//! A front door reads its own form (a JSON line, a Python dict) into
//! [`RequestFields`], saying a value of the wrong type with
//! [`RequestFields::wrong_type`], and [`RequestFields::into_request`] does
//! the rest; every refusal is a [`Kind::InvalidRequest`] error with the
//! same message whichever door it came through.

use std::borrow::Cow;
use std::sync::Arc;

use base64::Engine;
use http::header::HeaderMap;
use url::Url;

use crate::client::{header_field, BodyField, Payload};
use crate::error::{FetchError, Kind};
use crate::job::Request;
use crate::urls::UrlParser;

/// The fields a request may have, in the order messages list them.
pub const REQUEST_FIELDS: [&str; 12] = [
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
    "timeout",
    "params",
];

/// The fields that give a body: one at most.
const BODIES: [&str; 4] = ["body", "json", "body_text", "body_base64"];

/// A body, as a front door found it.
#[derive(Debug, Clone)]
pub enum BodyGiven<'a> {
    /// `body` or `json`: JSON text, sent as it is.
    Json(Cow<'a, str>),
    /// `body_text`: sent as its UTF-8.
    Text(Cow<'a, str>),
    /// `body_base64`: decoded here.
    Base64(Cow<'a, str>),
    /// Bytes sent as they are (Python's `body=b"..."`).
    Bytes(Vec<u8>),
}

/// A request's fields, as a front door read them from its own form.
///
/// # Examples
///
/// ```
/// use gather_http::{BodyGiven, RequestFields, UrlParser};
///
/// let mut fields = RequestFields::default();
/// fields.url = Some("https://api.example.com/v1/items".into());
/// fields.give_body("json", BodyGiven::Json(r#"{"name":"a","max_tokens":5}"#.into()));
/// let request = fields.into_request(&mut UrlParser::default(), None).unwrap();
/// let payload = request.payload.unwrap();
/// assert_eq!(payload.method(), "POST");
/// assert_eq!(payload.weight(), 7 + 5); // 27 bytes of body, and max_tokens
/// ```
#[derive(Debug, Clone, Default)]
pub struct RequestFields<'a> {
    pub url: Option<Cow<'a, str>>,
    /// Query parameters, names and values as text (a front door writes a
    /// number or a boolean as JSON does), in order: added to `url`.
    pub params: Vec<(Cow<'a, str>, Cow<'a, str>)>,
    pub method: Option<Cow<'a, str>>,
    /// Its own header fields, names and values as given.
    pub headers: Vec<(Cow<'a, str>, Cow<'a, str>)>,
    /// Every body given, with its field's name: two are refused.
    bodies: Vec<(&'static str, BodyGiven<'a>)>,
    pub tokens: Option<u32>,
    /// Its own time for a complete answer (see
    /// [`set_timeout`](RequestFields::set_timeout)).
    pub timeout: Option<std::time::Duration>,
}

impl<'a> RequestFields<'a> {
    /// `name` if it is a field of a request (its `'static` name), else
    /// `None`.
    pub fn known(name: &str) -> Option<&'static str> {
        REQUEST_FIELDS.iter().copied().find(|f| *f == name)
    }

    /// A body given as the field `name` (one of `body`, `json`,
    /// `body_text`, `body_base64`).
    pub fn give_body(&mut self, name: &str, body: BodyGiven<'a>) {
        let name = BODIES
            .iter()
            .copied()
            .find(|f| *f == name)
            .unwrap_or("body");
        self.bodies.push((name, body));
    }

    /// The refusal of an unknown field.
    pub fn unknown(name: &str) -> FetchError {
        refused(format!(
            "unknown field {name:?} (a request has {})",
            REQUEST_FIELDS.join(", ")
        ))
    }

    /// The refusal of a field given twice.
    pub fn twice(name: &str) -> FetchError {
        refused(format!("field {name:?} is given twice"))
    }

    /// The refusal of a field whose value is not of its type.
    pub fn wrong_type(name: &str) -> FetchError {
        let what = match name {
            "headers" => "an object of names and string values",
            "params" => PARAMS_ARE,
            "tokens" => "a whole number of tokens",
            "timeout" => TIMEOUT_IS,
            _ => "a string",
        };
        refused(format!("{name:?} must be {what}"))
    }

    /// `timeout`, given as a number of `seconds`: more than 0 and under a
    /// year, else refused.
    pub fn set_timeout(&mut self, seconds: f64) -> Result<(), FetchError> {
        match std::time::Duration::try_from_secs_f64(seconds) {
            Ok(d) if seconds > 0.0 && d < std::time::Duration::from_secs(365 * 86_400) => {
                self.timeout = Some(d);
                Ok(())
            }
            _ => Err(refused(format!(
                "\"timeout\" must be {TIMEOUT_IS}, not {seconds}"
            ))),
        }
    }

    /// The request these fields ask for, `url` relative to `base` when it
    /// is relative, by the rules in the module docs.
    pub fn into_request(
        self,
        urls: &mut UrlParser,
        base: Option<&Url>,
    ) -> Result<Request, FetchError> {
        let (url, payload) = self.into_parts()?;
        let url = urls
            .parse_from(&url, base)
            .map_err(|e| FetchError::immediate(e.kind(), e.message()))?;
        Ok(Request {
            url,
            payload: payload.map(Arc::new),
        })
    }

    /// The url as given and what the request sends (`None`: a plain GET),
    /// every rule applied but the URL's: for a front door that reads the
    /// URL later, against a base known only then (a Python `Request` made
    /// before the call that sends it).
    pub fn into_parts(self) -> Result<(Cow<'a, str>, Option<Payload>), FetchError> {
        let Some(mut url) = self.url else {
            return Err(refused("no \"url\"".to_owned()));
        };
        if !self.params.is_empty() {
            url = Cow::Owned(with_params(&url, &self.params));
        }
        if let [(first, _), (second, _), ..] = self.bodies.as_slice() {
            let mut named = [*first, *second];
            named.sort_by_key(|n| BODIES.iter().position(|b| b == n));
            return Err(refused(format!(
                "two bodies ({} and {}): give one of {}",
                named[0],
                named[1],
                BODIES.join(", ")
            )));
        }
        let mut headers = HeaderMap::new();
        for (name, value) in &self.headers {
            let (name, value) =
                header_field(name, value).map_err(|why| refused(format!("\"headers\": {why}")))?;
            headers.append(name, value);
        }
        let mut json = None;
        let body = match self.bodies.into_iter().next().map(|(_, b)| b) {
            None => None,
            Some(BodyGiven::Json(text)) => {
                let body = BodyField::Json(text.as_bytes().to_vec());
                json = Some(text);
                Some(body)
            }
            Some(BodyGiven::Text(text)) => Some(BodyField::Raw(text.into_owned().into_bytes())),
            Some(BodyGiven::Base64(text)) => Some(BodyField::Raw(
                base64::engine::general_purpose::STANDARD
                    .decode(text.trim())
                    .map_err(|e| refused(format!("\"body_base64\" is not base64: {e}")))?,
            )),
            Some(BodyGiven::Bytes(bytes)) => Some(BodyField::Raw(bytes)),
        };
        let payload = Payload::from_fields(self.method.as_deref(), headers, body)
            .map_err(|e| refused(format!("\"method\": {e}")))?
            .map(|p| match self.tokens {
                Some(tokens) => p.with_weight(tokens),
                None => p.with_tokens_asked_in(json.as_deref().unwrap_or("")),
            });
        let payload = match self.timeout {
            Some(timeout) => Some(payload.unwrap_or_else(Payload::get).with_timeout(timeout)),
            None => payload,
        };
        Ok((url, payload))
    }
}

/// `url` with `params` added to its query (after what it has, before a
/// fragment), form-encoded as `urlencode` and `URLSearchParams` encode
/// them (a space as `+`).
fn with_params(url: &str, params: &[(Cow<'_, str>, Cow<'_, str>)]) -> String {
    let (url, fragment) = match url.split_once('#') {
        Some((url, fragment)) => (url, Some(fragment)),
        None => (url, None),
    };
    let query = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish();
    let joint = match url.split_once('?') {
        None => "?",
        Some((_, "")) => "",
        Some((_, q)) if q.ends_with('&') => "",
        Some(_) => "&",
    };
    let mut with = format!("{url}{joint}{query}");
    if let Some(fragment) = fragment {
        with.push('#');
        with.push_str(fragment);
    }
    with
}

/// What `params` must be, as refusals say it.
const PARAMS_ARE: &str =
    "an object of names and values (strings, numbers, booleans, or lists of them)";

/// What a `timeout` must be, as refusals say it.
const TIMEOUT_IS: &str = "a number of seconds, more than 0 (and under a year)";

fn refused(message: String) -> FetchError {
    FetchError::immediate(Kind::InvalidRequest, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(fields: RequestFields<'_>) -> Result<Request, FetchError> {
        let base = Url::parse("http://127.0.0.1:9/api/").unwrap();
        fields.into_request(&mut UrlParser::default(), Some(&base))
    }

    fn with_url(url: &str) -> RequestFields<'_> {
        RequestFields {
            url: Some(url.into()),
            ..RequestFields::default()
        }
    }

    #[test]
    fn a_plain_url_is_a_get_without_a_payload() {
        let r = request(with_url("/v1/items")).unwrap();
        assert_eq!(r.url.as_str(), "http://127.0.0.1:9/v1/items");
        assert!(r.payload.is_none());
    }

    #[test]
    fn bodies_are_sent_as_given_and_weighed() {
        let mut f = with_url("/x");
        f.give_body("body_base64", BodyGiven::Base64(" aGk=\n".into()));
        let p = request(f).unwrap().payload.unwrap();
        assert_eq!(p.body().unwrap().as_ref(), b"hi");
        assert_eq!(p.method(), "POST");
        let mut f = with_url("/x");
        f.give_body(
            "json",
            BodyGiven::Json(r#"{"max_completion_tokens":9,"m":[{"max_tokens":1}]}"#.into()),
        );
        f.tokens = None;
        let p = request(f).unwrap().payload.unwrap();
        assert_eq!(p.headers()["content-type"], "application/json");
        assert_eq!(p.weight(), 13 + 9, "the top-level field, not a nested one");
        let mut f = with_url("/x");
        f.give_body("body_text", BodyGiven::Text("hello".into()));
        f.tokens = Some(100);
        assert_eq!(request(f).unwrap().payload.unwrap().weight(), 100);
    }

    #[test]
    fn params_join_the_query_form_encoded_and_keep_a_fragment() {
        let url_with = |url: &str, params: &[(&str, &str)]| {
            let mut f = with_url(url);
            f.params = params
                .iter()
                .map(|(n, v)| ((*n).into(), (*v).into()))
                .collect();
            request(f).unwrap().url.to_string()
        };
        let two = [("q", "a b&c=d"), ("tag", "x"), ("tag", "é")];
        assert_eq!(
            url_with("/search", &two),
            "http://127.0.0.1:9/search?q=a+b%26c%3Dd&tag=x&tag=%C3%A9"
        );
        assert_eq!(
            url_with("http://h.test/s?page=2#top", &[("q", "1")]),
            "http://h.test/s?page=2&q=1#top"
        );
        assert_eq!(
            url_with("http://h.test/s?", &[("q", "1")]),
            "http://h.test/s?q=1"
        );
        assert_eq!(
            url_with("http://h.test/s?a=1&", &[("q", "")]),
            "http://h.test/s?a=1&q="
        );
        assert_eq!(url_with("/x", &[]), "http://127.0.0.1:9/x");
        // The URL as given, params included: what a Python failure shows.
        let mut f = with_url("http://h.test/s");
        f.params = vec![("q".into(), "1".into())];
        assert_eq!(f.into_parts().unwrap().0, "http://h.test/s?q=1");
    }

    #[test]
    fn refusals_say_what_is_wrong() {
        let message = |f: RequestFields<'_>| request(f).unwrap_err().message;
        assert_eq!(message(RequestFields::default()), "no \"url\"");
        let mut f = with_url("/x");
        f.give_body("body_text", BodyGiven::Text("a".into()));
        f.give_body("json", BodyGiven::Json("{}".into()));
        assert_eq!(
            message(f),
            "two bodies (json and body_text): give one of body, json, body_text, body_base64"
        );
        let mut f = with_url("/x");
        f.give_body("body_base64", BodyGiven::Base64("%%".into()));
        assert!(message(f).starts_with("\"body_base64\" is not base64: "));
        let mut f = with_url("/x");
        f.method = Some("GE T".into());
        assert_eq!(
            message(f),
            "\"method\": method \"GE T\" is not an HTTP method"
        );
        let mut f = with_url("/x");
        f.headers.push(("a b".into(), "1".into()));
        assert_eq!(message(f), "\"headers\": \"a b\" is not a header name");
        assert_eq!(
            RequestFields::unknown("bdy").message,
            "unknown field \"bdy\" (a request has url, id, custom_id, method, headers, body, json, body_text, body_base64, tokens, timeout, params)"
        );
        assert_eq!(
            RequestFields::wrong_type("tokens").message,
            "\"tokens\" must be a whole number of tokens"
        );
        let e = request(with_url("ftp://h/")).unwrap_err();
        assert_eq!(e.kind, Kind::UnsupportedScheme);
    }
}
