//! A response's status line and header fields, and what they decide: where
//! the body ends, and whether the connection can carry another request.
//!
//! `httparse` reads the syntax; the rules that follow it are RFC 9112's
//! (section 6.3): no body for 204 and 304, `Transfer-Encoding` over
//! `Content-Length` (and then the connection is not reused, as the RFC
//! requires of such a message), a `Content-Length` that is not one number is
//! an error rather than a guess, and a body with neither is read until the
//! server closes.

use std::mem::MaybeUninit;

use super::body::Framing;

/// Header fields parsed without an allocation; a head with more is parsed
/// again with room for as many as it has lines (rare, and bounded by
/// [`MAX_HEAD`]).
const FIELDS_INLINE: usize = 128;
/// The largest response head (status line and fields), in bytes: curl's
/// limit. The bound is on size, not on the number of fields.
pub const MAX_HEAD: usize = 300 * 1024;

/// The HTTP version an answer came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    Http10,
    Http11,
    Http2,
}

impl Version {
    /// As curl's `%{http_version}` writes it: `1.0`, `1.1`, `2`.
    pub fn as_str(self) -> &'static str {
        match self {
            Version::Http10 => "1.0",
            Version::Http11 => "1.1",
            Version::Http2 => "2",
        }
    }
}

/// What the client uses of a response head.
#[derive(Debug, Clone, PartialEq)]
pub struct Head {
    pub status: u16,
    pub version: Version,
    pub framing: Framing,
    /// The connection can carry another request once the body is read.
    pub keep_alive: bool,
    /// `Location`, as sent.
    pub location: Option<Vec<u8>>,
    /// `Retry-After`, as sent.
    pub retry_after: Option<Vec<u8>>,
    /// `Content-Encoding`, as sent (several fields joined with ", ").
    pub content_encoding: Option<Vec<u8>>,
    /// The limits the answer announced (`x-ratelimit-*`, `RateLimit`...;
    /// see `ratelimit`), when it had such fields. Boxed, as `fields` is.
    pub announced: Option<Box<super::ratelimit::Announced>>,
    /// Every field, when the client keeps them (`parse_keeping`; the
    /// Python package's `Response.headers`).
    pub fields: Option<crate::Fields>,
}

/// A response head that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid(pub String);

/// The outcome of parsing the bytes buffered so far.
#[derive(Debug, PartialEq)]
pub enum Parsed {
    /// A final answer whose head is the first `len` bytes.
    Head(Head, usize),
    /// An informational (1xx) answer of `len` bytes, to be skipped.
    Informational(usize),
    /// The head is not complete yet.
    Partial,
}

/// Parses the response head at the start of `buf`.
pub fn parse(buf: &[u8]) -> Result<Parsed, Invalid> {
    parse_keeping(buf, false)
}

/// [`parse`], keeping every field of the head in [`Head::fields`] when
/// `keep_fields` (obs-folds unfolded; a field `http` cannot hold, a name
/// or value with bytes no field may carry, is left out).
pub fn parse_keeping(buf: &[u8], keep_fields: bool) -> Result<Parsed, Invalid> {
    // Left uninitialised for httparse to fill: zeroing 128 fields (4 KiB)
    // on every parse showed up in the profile of a run against nginx.
    let mut fields = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; FIELDS_INLINE];
    if let Some(parsed) = parse_into(buf, &mut fields, keep_fields) {
        return parsed;
    }
    // More fields than that: at most one per line.
    let lines = buf.iter().filter(|&&b| b == b'\n').count() + 1;
    let mut fields = Vec::with_capacity(lines);
    fields.resize_with(lines, MaybeUninit::uninit);
    parse_into(buf, &mut fields, keep_fields).unwrap_or_else(|| {
        Err(Invalid(
            "response head with more fields than lines".to_owned(),
        ))
    })
}

/// [`parse`] with room for `fields.len()` fields: `None` if that is too few.
fn parse_into<'b>(
    buf: &'b [u8],
    fields: &mut [MaybeUninit<httparse::Header<'b>>],
    keep_fields: bool,
) -> Option<Result<Parsed, Invalid>> {
    let mut response = httparse::Response::new(&mut []);
    // RFC 9112 section 5.2: a user agent that receives obs-fold in a
    // response replaces each with SP (see `unfold`) rather than failing.
    let parsed = httparse::ParserConfig::default()
        .allow_obsolete_multiline_headers_in_responses(true)
        .parse_response_with_uninit_headers(&mut response, buf, fields);
    match parsed {
        Ok(httparse::Status::Complete(len)) => Some(read_head(&response, len, keep_fields)),
        Ok(httparse::Status::Partial) if buf.len() > MAX_HEAD => Some(Err(Invalid(format!(
            "response head over {} KiB",
            MAX_HEAD / 1024
        )))),
        Ok(httparse::Status::Partial) => Some(Ok(Parsed::Partial)),
        Err(httparse::Error::TooManyHeaders) => None,
        Err(e) => Some(Err(Invalid(format!("invalid response head: {e}")))),
    }
}

/// What the complete head of `len` bytes in `response` decides.
fn read_head(
    response: &httparse::Response<'_, '_>,
    len: usize,
    keep_fields: bool,
) -> Result<Parsed, Invalid> {
    let status = response.code.unwrap_or_default();
    match status {
        101 => {
            return Err(Invalid(
                "101 Switching Protocols to a request that asked for no upgrade".to_owned(),
            ))
        }
        100..=199 => return Ok(Parsed::Informational(len)),
        _ => {}
    }
    let http10 = response.version == Some(0);
    let mut length: Option<u64> = None;
    // Every transfer coding, in order, over all the fields.
    let mut transfer_codings: Option<Vec<Vec<u8>>> = None;
    let (mut close, mut keep_alive_token) = (false, false);
    let (mut location, mut retry_after) = (None, None);
    let mut content_encoding: Option<Vec<u8>> = None;
    let mut limits: Option<super::ratelimit::Reader> = None;
    for field in response.headers.iter() {
        let name = field.name;
        if super::ratelimit::is_limit_field(name.as_bytes()) {
            limits
                .get_or_insert_with(Default::default)
                .field(name, &unfold(field.value));
            continue;
        }
        if name.eq_ignore_ascii_case("content-length") {
            let field_value = unfold(field.value);
            for value in list(&field_value) {
                let n = content_length(value).ok_or_else(|| invalid_length(&field_value))?;
                if length.is_some_and(|l| l != n) {
                    return Err(Invalid(
                        "response with conflicting Content-Length values".to_owned(),
                    ));
                }
                length = Some(n);
            }
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            let codings = transfer_codings.get_or_insert_with(Vec::new);
            codings.extend(list(&unfold(field.value)).map(<[u8]>::to_vec));
        } else if name.eq_ignore_ascii_case("connection") {
            for token in list(&unfold(field.value)) {
                close |= token.eq_ignore_ascii_case(b"close");
                keep_alive_token |= token.eq_ignore_ascii_case(b"keep-alive");
            }
        } else if name.eq_ignore_ascii_case("location") {
            location = Some(unfold(field.value).trim_ascii().to_vec());
        } else if name.eq_ignore_ascii_case("retry-after") {
            retry_after = Some(unfold(field.value).trim_ascii().to_vec());
        } else if name.eq_ignore_ascii_case("content-encoding") {
            let value = unfold(field.value);
            match &mut content_encoding {
                Some(joined) => {
                    joined.extend_from_slice(b", ");
                    joined.extend_from_slice(&value);
                }
                None => content_encoding = Some(value.into_owned()),
            }
        }
    }
    // Only `chunked` is decoded here. Any other transfer coding (gzip
    // under chunked, or in place of it) would hand back encoded bytes as
    // the body: an error, not a success with the wrong bytes.
    let transfer_encoding = transfer_codings.is_some();
    if let Some(codings) = &transfer_codings {
        if !matches!(codings.as_slice(), [only] if only.eq_ignore_ascii_case(b"chunked")) {
            let named: Vec<String> = codings
                .iter()
                .map(|c| String::from_utf8_lossy(c).into_owned())
                .collect();
            return Err(Invalid(format!(
                "Transfer-Encoding {:?}: only chunked is supported (another transfer coding would hand back encoded bytes)",
                named.join(", ")
            )));
        }
    }
    let framing = if status == 204 || status == 304 {
        Framing::Empty
    } else if transfer_encoding {
        Framing::Chunked
    } else if let Some(n) = length {
        Framing::Length(n)
    } else {
        Framing::Close
    };
    let keep_alive = !close
        && (!http10 || keep_alive_token)
        && framing != Framing::Close
        && !(transfer_encoding && length.is_some());
    let head = Head {
        status,
        version: if http10 {
            Version::Http10
        } else {
            Version::Http11
        },
        framing,
        keep_alive,
        location,
        retry_after,
        content_encoding,
        announced: limits.and_then(|l| l.finish()).map(Box::new),
        fields: keep_fields.then(|| kept(response.headers, len)),
    };
    Ok(Parsed::Head(head, len))
}

/// Every field of a head of `len` bytes, in order (see `Fields`: names in
/// lower case, looked up without regard to case).
fn kept(fields: &[httparse::Header<'_>], len: usize) -> crate::Fields {
    crate::Fields::with_capacity(
        fields
            .iter()
            .map(|field| (field.name.as_bytes(), unfold(field.value))),
        len,
    )
}

/// The elements of a comma-separated field value, without the spaces
/// around them; empty elements skipped.
fn list(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|&b| b == b',')
        .map(|item| item.trim_ascii())
        .filter(|item| !item.is_empty())
}

/// A field value with each obs-fold (a line break followed by spaces or
/// tabs) replaced by spaces, as RFC 9112 section 5.2 asks of a user agent;
/// borrowed as it is when it has no line break (every modern server).
fn unfold(value: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    if !value.iter().any(|&b| b == b'\r' || b == b'\n') {
        return std::borrow::Cow::Borrowed(value);
    }
    std::borrow::Cow::Owned(
        value
            .iter()
            .map(|&b| if b == b'\r' || b == b'\n' { b' ' } else { b })
            .collect(),
    )
}

fn content_length(value: &[u8]) -> Option<u64> {
    if value.is_empty() || value.len() > 19 || !value.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(value).ok()?.parse().ok()
}

fn invalid_length(value: &[u8]) -> Invalid {
    Invalid(format!(
        "invalid Content-Length {:?}",
        String::from_utf8_lossy(value)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(text: &str) -> Head {
        match parse(text.as_bytes()) {
            Ok(Parsed::Head(head, len)) => {
                assert_eq!(len, text.find("\r\n\r\n").unwrap() + 4);
                head
            }
            other => panic!("{text:?}: {other:?}"),
        }
    }

    fn error(text: &str) -> String {
        match parse(text.as_bytes()) {
            Err(Invalid(e)) => e,
            other => panic!("{text:?}: {other:?}"),
        }
    }

    #[test]
    fn content_length_frames_a_keep_alive_body() {
        let h = head("HTTP/1.1 200 OK\r\nServer: x\r\nContent-Length: 42\r\n\r\nbody");
        assert_eq!(
            (h.status, h.framing, h.keep_alive),
            (200, Framing::Length(42), true)
        );
        // The same length repeated is one length.
        let h = head("HTTP/1.1 200 OK\r\ncontent-length: 7, 7\r\nContent-Length: 7\r\n\r\n");
        assert_eq!(h.framing, Framing::Length(7));
    }

    #[test]
    fn chunked_wins_over_content_length_and_the_connection_is_not_reused() {
        let h = head("HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\n\r\n");
        assert_eq!((h.framing, h.keep_alive), (Framing::Chunked, true));
        let h = head("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n");
        assert_eq!((h.framing, h.keep_alive), (Framing::Chunked, false));
    }

    #[test]
    fn no_length_means_until_close_and_no_body_for_204_and_304() {
        let h = head("HTTP/1.1 200 OK\r\n\r\n");
        assert_eq!((h.framing, h.keep_alive), (Framing::Close, false));
        for status in [204, 304] {
            let h = head(&format!(
                "HTTP/1.1 {status} X\r\nContent-Length: 10\r\n\r\n"
            ));
            assert_eq!((h.framing, h.keep_alive), (Framing::Empty, true));
        }
    }

    #[test]
    fn connection_tokens_and_http_1_0_decide_reuse() {
        assert!(
            !head("HTTP/1.1 200 OK\r\nConnection: Close\r\nContent-Length: 0\r\n\r\n").keep_alive
        );
        assert!(
            !head("HTTP/1.1 200 OK\r\nConnection: x, close\r\nContent-Length: 0\r\n\r\n")
                .keep_alive
        );
        assert!(!head("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n").keep_alive);
        assert!(
            head("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n")
                .keep_alive
        );
    }

    #[test]
    fn location_and_retry_after_are_kept_as_sent() {
        let h = head("HTTP/1.1 302 Found\r\nLocation: /next?\u{e9}\r\nRetry-After: 3\r\nContent-Length: 0\r\n\r\n");
        assert_eq!(h.location.as_deref(), Some("/next?\u{e9}".as_bytes()));
        assert_eq!(h.retry_after.as_deref(), Some(&b"3"[..]));
    }

    #[test]
    fn informational_answers_are_skipped_and_101_is_refused() {
        let text = "HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\nHTTP/1.1 200 OK\r\n";
        assert_eq!(
            parse(text.as_bytes()),
            Ok(Parsed::Informational(text.find("HTTP/1.1 200").unwrap()))
        );
        assert!(error("HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n").contains("101"));
    }

    #[test]
    fn partial_heads_wait_for_more_up_to_a_bound() {
        assert_eq!(parse(b"HTTP/1.1 200 OK\r\nContent-Le"), Ok(Parsed::Partial));
        assert_eq!(parse(b""), Ok(Parsed::Partial));
        let endless = format!("HTTP/1.1 200 OK\r\nX: {}", "y".repeat(MAX_HEAD));
        assert!(error(&endless).contains("over 300 KiB"));
    }

    #[test]
    fn bad_heads_and_lengths_are_errors_naming_what_is_wrong() {
        assert!(error("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n")
            .contains("invalid Content-Length \"-1\""));
        assert!(
            error("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n")
                .contains("conflicting")
        );
        assert!(
            error("HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n")
                .contains("invalid")
        );
        assert!(error("SSH-2.0-OpenSSH\r\n\r\n").contains("invalid response head"));
    }

    #[test]
    fn regression_a_head_with_many_fields_is_read_the_limit_is_its_size() {
        // 128 fields used to be the limit; curl allows 300 KB of head.
        let many: String = (0..5_000).map(|i| format!("X-{i}: v\r\n")).collect();
        let h = head(&format!(
            "HTTP/1.1 200 OK\r\n{many}Content-Length: 3\r\n\r\n"
        ));
        assert_eq!(h.framing, Framing::Length(3));
    }

    #[test]
    fn regression_a_transfer_coding_other_than_chunked_is_an_error() {
        for te in [
            "gzip",
            "gzip, chunked",
            "chunked, gzip",
            "identity",
            "chunked, chunked",
        ] {
            let e = error(&format!(
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: {te}\r\n\r\n"
            ));
            assert!(e.contains("only chunked is supported"), "{te}: {e}");
        }
        // Split over two fields, the same.
        let e = error(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n",
        );
        assert!(e.contains("gzip, chunked"), "{e}");
    }

    #[test]
    fn regression_obsolete_line_folding_is_unfolded_not_refused() {
        let h = head("HTTP/1.1 302 Found\r\nLocation: /next\r\nX-Long: a\r\n b\r\nContent-Length:\r\n 0\r\nContent-Encoding: gzip,\r\n\tbr\r\n\r\n");
        assert_eq!(h.status, 302);
        assert_eq!(h.framing, Framing::Length(0));
        assert_eq!(h.location.as_deref(), Some(&b"/next"[..]));
        // Two codings once unfolded (a line break became two spaces).
        assert_eq!(h.content_encoding.as_deref(), Some(&b"gzip,  \tbr"[..]));
    }

    /// Kept fields: every one, in order, repeated names kept apart, an
    /// obs-fold unfolded; and none kept unless asked for.
    #[test]
    fn every_field_is_kept_when_asked_for() {
        let text = "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=latin-1\r\nSet-Cookie: a=1\r\nset-cookie: b=2\r\nX-Folded: one\r\n two\r\nContent-Length: 0\r\n\r\n";
        let Ok(Parsed::Head(head, _)) = parse_keeping(text.as_bytes(), true) else {
            panic!("{text:?} did not parse");
        };
        let fields = head.fields.expect("kept");
        assert_eq!(
            fields.get("content-type"),
            Some(&b"text/html; charset=latin-1"[..])
        );
        let cookies: Vec<_> = fields.get_all("Set-Cookie").collect();
        assert_eq!(cookies, [b"a=1", b"b=2"]);
        assert_eq!(fields.get("x-folded"), Some(&b"one   two"[..]));
        assert_eq!(fields.len(), 5);
        let Ok(Parsed::Head(head, _)) = parse(text.as_bytes()) else {
            panic!("{text:?} did not parse");
        };
        assert!(head.fields.is_none());
    }
}
