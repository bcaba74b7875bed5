//! What a request sends besides its URL and the run's header fields: a
//! method other than GET, fields of its own, a body; and whether it may be
//! sent again after a connection was lost once it was written.
//!
//! RFC 9110 section 9.2.2: a client does not retry a non-idempotent
//! request on its own unless it knows the request was not applied, or
//! that its semantics are idempotent anyway. So a POST (or PATCH) is sent
//! again only when the server's answer says it was not processed (an
//! HTTP/2 refused stream or a GOAWAY above its id, handled in `http2`; a
//! 429, 503 or other 5xx, by the fetch layer's retries), or when it never
//! left (the connection could not be made); a connection lost after the
//! request was written is that request's failure, as it may have been
//! processed. An `Idempotency-Key` field (the IETF draft, and the header
//! Stripe, OpenAI and others honour) says the server will not apply it
//! twice: such a request is resent like a GET.

use std::borrow::Cow;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, Method};
use serde_json::value::RawValue;

/// A request's method, its own header fields and its body.
///
/// # Examples
///
/// ```
/// use gather_http::client::Payload;
/// let post = Payload::new("POST", Default::default(), Some(b"{}".to_vec().into())).unwrap();
/// assert!(!post.resendable());
/// assert!(Payload::new("CONNECT", Default::default(), None).is_err());
/// ```
#[derive(Debug, Clone)]
pub struct Payload {
    method: Method,
    /// Sent after the run's fields, replacing those of the same name.
    headers: HeaderMap,
    body: Option<Bytes>,
    /// Its tokens, for a budget that counts them (see [`weight`](Payload::weight)).
    weight: u32,
    /// Its own time for a complete answer, over the run's.
    timeout: Option<std::time::Duration>,
}

/// A request's body as its fields give it (`json`/`body` as JSON, or
/// `body_text`/`body_base64` as bytes).
#[derive(Debug, Clone)]
pub enum BodyField {
    /// JSON text: sent with `Content-Type: application/json` unless the
    /// request's own fields name another type.
    Json(Vec<u8>),
    /// Bytes sent as they are.
    Raw(Vec<u8>),
}

/// The fields of a JSON body that say how many tokens a request may
/// generate at most: OpenAI's Chat Completions (`max_tokens`, and its newer
/// `max_completion_tokens`), Anthropic's Messages (`max_tokens`) and
/// OpenAI's Responses (`max_output_tokens`). The first found counts (see
/// [`Payload::with_asked_tokens`]).
pub const MAX_TOKENS_FIELDS: [&str; 3] =
    ["max_tokens", "max_completion_tokens", "max_output_tokens"];

/// `Idempotency-Key`: a request that carries it may be sent again.
const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");

impl Payload {
    /// A request of `method` (any token but `CONNECT`, which opens a
    /// tunnel rather than asking for a page) with `headers` and `body`.
    pub fn new(method: &str, headers: HeaderMap, body: Option<Bytes>) -> Result<Payload, String> {
        let method = Method::from_bytes(method.as_bytes())
            .map_err(|_| format!("method {method:?} is not an HTTP method"))?;
        if method == Method::CONNECT {
            return Err("method CONNECT opens a tunnel; it is not a request for a page".to_owned());
        }
        // A token is about four bytes of English text: the body's size
        // stands for the prompt until the front door knows better.
        let weight = body.as_ref().map_or(0, |b| b.len().div_ceil(4)) as u32;
        Ok(Payload {
            method,
            headers,
            body,
            weight,
            timeout: None,
        })
    }

    /// A plain GET, for a request whose only field of its own is its
    /// timeout.
    pub fn get() -> Payload {
        Payload::new("GET", HeaderMap::new(), None).expect("GET is a method")
    }

    /// Its own time for a complete answer, over the run's
    /// ([`FetchConfig::timeout`](crate::FetchConfig::timeout)).
    pub fn timeout(&self) -> Option<std::time::Duration> {
        self.timeout
    }

    /// The same request, with `timeout` as its own time for a complete
    /// answer.
    #[must_use = "with_timeout returns the payload with its timeout; the original is unchanged"]
    pub fn with_timeout(mut self, timeout: std::time::Duration) -> Payload {
        self.timeout = Some(timeout);
        self
    }

    /// Its weight in tokens, for the budgets that count tokens (the one a
    /// server announces, `--tokens-per-minute`): by default a quarter of
    /// the body's size in bytes (about a token per four bytes of text).
    /// A front door that knows better (a `max_tokens` in the body, a
    /// weight given with the request) sets it with
    /// [`with_weight`](Payload::with_weight).
    pub fn weight(&self) -> u32 {
        self.weight
    }

    /// The same request, weighing also the `asked` tokens its body asks to
    /// generate at most (the value of one of [`MAX_TOKENS_FIELDS`]): what a
    /// provider reserves for a request when it arrives is its prompt and
    /// that, so the estimate is the body's size in tokens plus `asked`.
    #[must_use = "with_asked_tokens returns the payload with its weight; the original is unchanged"]
    pub fn with_asked_tokens(mut self, asked: u64) -> Payload {
        self.weight = u32::try_from(self.weight as u64 + asked).unwrap_or(u32::MAX);
        self
    }

    /// The same request, weighing also the tokens its JSON body
    /// (`json_body`, as text) asks to generate at most: the value of the
    /// first of [`MAX_TOKENS_FIELDS`] (in their order) that is a whole
    /// number at its top level (see
    /// [`with_asked_tokens`](Payload::with_asked_tokens)). Read without
    /// building the body's value tree (a chat body's messages are only
    /// skipped), and only when the text names such a field.
    #[must_use = "with_tokens_asked_in returns the payload with its weight; the original is unchanged"]
    pub fn with_tokens_asked_in(self, json_body: &str) -> Payload {
        if !json_body.contains("\"max_") {
            return self;
        }
        let mut de = serde_json::Deserializer::from_str(json_body);
        let asked = serde::Deserializer::deserialize_map(&mut de, AskedVisitor).unwrap_or(0);
        self.with_asked_tokens(asked)
    }

    /// The same request, weighing `weight` tokens.
    #[must_use = "with_weight returns the payload with its weight; the original is unchanged"]
    pub fn with_weight(mut self, weight: u32) -> Payload {
        self.weight = weight;
        self
    }

    /// What a request's fields say, by the rules every front door shares
    /// (JSON Lines, Python dicts): the method defaults to GET, or POST when
    /// a body is given; a JSON body says so in `Content-Type` unless
    /// `headers` does. `None` for a plain GET with nothing of its own.
    ///
    /// # Examples
    ///
    /// ```
    /// use gather_http::client::{BodyField, Payload};
    /// let p = Payload::from_fields(None, Default::default(), Some(BodyField::Json(b"{}".to_vec())))
    ///     .unwrap()
    ///     .unwrap();
    /// assert_eq!(p.method(), "POST");
    /// assert_eq!(p.headers()["content-type"], "application/json");
    /// assert!(Payload::from_fields(Some("get"), Default::default(), None).unwrap().is_none());
    /// ```
    pub fn from_fields(
        method: Option<&str>,
        mut headers: HeaderMap,
        body: Option<BodyField>,
    ) -> Result<Option<Payload>, String> {
        let method = method.map(str::to_ascii_uppercase);
        let body = body.map(|body| match body {
            BodyField::Json(text) => {
                if !headers.contains_key(http::header::CONTENT_TYPE) {
                    headers.insert(
                        http::header::CONTENT_TYPE,
                        http::HeaderValue::from_static("application/json"),
                    );
                }
                Bytes::from(text)
            }
            BodyField::Raw(bytes) => Bytes::from(bytes),
        });
        match (method.as_deref(), &body) {
            (None | Some("GET"), None) if headers.is_empty() => Ok(None),
            (method, _) => {
                let method = method.unwrap_or(if body.is_some() { "POST" } else { "GET" });
                Payload::new(method, headers, body).map(Some)
            }
        }
    }

    pub fn method(&self) -> &Method {
        &self.method
    }

    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    pub fn body(&self) -> Option<&Bytes> {
        self.body.as_ref()
    }

    /// May be sent again after a connection was lost once it was written:
    /// an idempotent method (RFC 9110 section 9.2.2: GET, HEAD, OPTIONS,
    /// TRACE, PUT, DELETE), or an `Idempotency-Key` field.
    pub fn resendable(&self) -> bool {
        self.method.is_idempotent() || self.headers.contains_key(IDEMPOTENCY_KEY)
    }

    /// Drops its own field `name` (a credential not to be sent to the
    /// origin a redirect crossed to).
    pub(crate) fn remove_field(&mut self, name: &HeaderName) {
        self.headers.remove(name);
    }

    /// What a redirect with `status` sends next, as browsers and curl do:
    /// 301 and 302 turn a POST into a GET without a body, 303 turns any
    /// method but HEAD into one, 307 and 308 send the same again. `None`
    /// is a plain GET.
    pub fn after_redirect(&self, status: u16) -> Option<Payload> {
        let to_get = match status {
            301 | 302 => self.method == Method::POST,
            303 => self.method != Method::HEAD,
            _ => false,
        };
        if !to_get {
            return Some(self.clone());
        }
        let mut headers = self.headers.clone();
        for name in [
            http::header::CONTENT_TYPE,
            http::header::CONTENT_LENGTH,
            http::header::CONTENT_ENCODING,
        ] {
            headers.remove(name);
        }
        (!headers.is_empty() || self.timeout.is_some()).then(|| Payload {
            method: Method::GET,
            headers,
            body: None,
            weight: 0,
            timeout: self.timeout,
        })
    }
}

/// A header field given as text (`-H`, a request line's `headers`, a
/// Python dict), trimmed and checked: every front door takes the same
/// fields and words the refusal alike.
///
/// The error names the field but never repeats its value, which may be a
/// secret (an API key); the caller says where the field came from.
///
/// # Examples
///
/// ```
/// use gather_http::client::header_field;
/// let (name, value) = header_field(" X-Api-Key ", " k1 ").unwrap();
/// assert_eq!((name.as_str(), value.to_str().unwrap()), ("x-api-key", "k1"));
/// assert_eq!(header_field("a b", "1").unwrap_err(), r#""a b" is not a header name"#);
/// assert!(!header_field("a", "k1\nx").unwrap_err().contains("k1"));
/// ```
pub fn header_field(name: &str, value: &str) -> Result<(HeaderName, http::HeaderValue), String> {
    let name = name.trim();
    let parsed = HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| format!("{name:?} is not a header name"))?;
    let value = http::HeaderValue::from_str(value.trim()).map_err(|_| {
        format!("the value of {parsed} is not a header value (a control character or a newline?)")
    })?;
    Ok((parsed, value))
}

/// `payload` may be sent again (no payload: a GET).
pub(crate) fn resendable(payload: Option<&Payload>) -> bool {
    payload.is_none_or(Payload::resendable)
}

/// `payload`'s weight in tokens (no payload: a GET, none).
pub(crate) fn weight(payload: Option<&Payload>) -> u32 {
    payload.map_or(0, Payload::weight)
}

/// The method's name on the wire.
pub(crate) fn method(payload: Option<&Payload>) -> &str {
    payload.map_or("GET", |p| p.method.as_str())
}

/// The fields a request sends: `run`'s, with `payload`'s own in place of
/// those of the same name.
///
/// Merged as they are written rather than into a map of their own: that
/// map (a clone of the run's fields per request) was most of what a POST
/// with a field of its own cost the engine over a GET.
pub(crate) fn fields<'a>(
    run: &'a HeaderMap,
    payload: Option<&'a Payload>,
) -> impl Iterator<Item = (&'a HeaderName, &'a http::HeaderValue)> + 'a {
    let own = payload.map(|p| &p.headers).filter(|h| !h.is_empty());
    run.iter()
        .filter(move |(name, _)| !own.is_some_and(|own| own.contains_key(*name)))
        .chain(own.into_iter().flatten())
}

/// The answer to `payload` has no body whatever its head says (a HEAD).
pub(crate) fn bodiless(payload: Option<&Payload>) -> bool {
    payload.is_some_and(|p| p.method == Method::HEAD)
}

/// Reads a JSON body's tokens asked for (see
/// [`Payload::with_tokens_asked_in`]).
struct AskedVisitor;

impl<'de> serde::de::Visitor<'de> for AskedVisitor {
    type Value = u64;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<M: serde::de::MapAccess<'de>>(self, mut map: M) -> Result<u64, M::Error> {
        let mut found: [Option<u64>; MAX_TOKENS_FIELDS.len()] = [None; MAX_TOKENS_FIELDS.len()];
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            let value = map.next_value::<&'de RawValue>()?;
            if let Some(at) = MAX_TOKENS_FIELDS.iter().position(|f| *f == key) {
                found[at] = serde_json::from_str(value.get()).ok();
            }
        }
        Ok(found.into_iter().flatten().next().unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn payload(method: &str, headers: &[(&'static str, &'static str)]) -> Payload {
        let mut map = HeaderMap::new();
        for (n, v) in headers {
            map.append(*n, HeaderValue::from_static(v));
        }
        Payload::new(method, map, Some(Bytes::from_static(b"{}"))).unwrap()
    }

    #[test]
    fn only_idempotent_methods_or_an_idempotency_key_are_resendable() {
        for m in ["GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE"] {
            assert!(payload(m, &[]).resendable(), "{m}");
        }
        for m in ["POST", "PATCH", "PURGE"] {
            assert!(!payload(m, &[]).resendable(), "{m}");
        }
        assert!(payload("POST", &[("idempotency-key", "k1")]).resendable());
        assert!(resendable(None), "a plain GET");
    }

    #[test]
    fn redirects_change_the_method_as_browsers_do() {
        let post = payload(
            "POST",
            &[("content-type", "application/json"), ("x-a", "1")],
        );
        for status in [301, 302, 303] {
            let next = post.after_redirect(status).unwrap();
            assert_eq!(
                (next.method(), next.body()),
                (&Method::GET, None),
                "{status}"
            );
            assert!(!next.headers().contains_key("content-type"));
            assert_eq!(next.headers()["x-a"], "1");
        }
        for status in [307, 308] {
            let next = post.after_redirect(status).unwrap();
            assert_eq!(next.method(), &Method::POST);
            assert_eq!(next.body().unwrap().as_ref(), b"{}");
        }
        let put = payload("PUT", &[]);
        assert_eq!(put.after_redirect(302).unwrap().method(), &Method::PUT);
        assert!(
            put.after_redirect(303).is_none(),
            "a plain GET, nothing of its own"
        );
    }

    #[test]
    fn its_own_fields_replace_the_runs() {
        let mut run = HeaderMap::new();
        run.insert("user-agent", HeaderValue::from_static("gather"));
        run.insert("accept", HeaderValue::from_static("*/*"));
        let p = payload("POST", &[("accept", "application/json"), ("x-a", "1")]);
        let sent: Vec<(&str, &str)> = fields(&run, Some(&p))
            .map(|(n, v)| (n.as_str(), v.to_str().unwrap()))
            .collect();
        assert_eq!(
            sent,
            [
                ("user-agent", "gather"),
                ("accept", "application/json"),
                ("x-a", "1")
            ]
        );
        assert_eq!(fields(&run, None).count(), 2, "a GET sends the run's");
    }
}
