//! One JSON line per URL: a page's, or an error's.

use base64::Engine;

use crate::input::Job;
use gather_http::FetchError;
use gather_http::Page;
use gather_http::Version;

/// What a page's record holds besides its status and timings.
#[derive(Debug, Clone, Default)]
pub(crate) struct Shape {
    /// `--keep-header`: the answer's fields kept in `"headers"`.
    pub(crate) keep_headers: Vec<http::HeaderName>,
}

/// The answer says its body is JSON: `application/json`, or a type with
/// the `+json` suffix (RFC 6839: `application/problem+json`).
pub(crate) fn is_json(page: &Page) -> bool {
    let Some(value) = page.headers.as_ref().and_then(|h| h.get("content-type")) else {
        return false;
    };
    let essence = value
        .split(|&b| b == b';')
        .next()
        .unwrap_or_default()
        .trim_ascii();
    let essence = String::from_utf8_lossy(essence).to_ascii_lowercase();
    essence == "application/json" || essence.ends_with("+json")
}

/// One output line for a page.
///
/// Written field by field rather than through a `serde_json::Value`: this
/// runs once per URL, and building a map of values first cost more than
/// the rest of the line's work (a tenth of the client's instructions per
/// request under callgrind). The fields and their order are the README's;
/// a unit test checks the bytes against serde_json's own.
pub(crate) fn page_line(job: &Job, page: &Page, shape: &Shape) -> String {
    let mut line = Record::new(job);
    line.string("final_url", &page.final_url);
    line.number("status", page.status);
    // Known ASCII: one copy of the whole field rather than a key and an
    // escaped string.
    line.0.extend_from_slice(match page.version {
        Version::Http10 => br#","http_version":"1.0""#,
        Version::Http11 => br#","http_version":"1.1""#,
        Version::Http2 => br#","http_version":"2""#,
    });
    line.number("bytes", page.bytes);
    if let Some(encoding) = &page.encoding {
        line.string("encoding", &encoding.name);
        if let Some(wire) = encoding.wire_bytes {
            line.number("wire_bytes", wire);
        }
    }
    line.millis("elapsed_ms", page.elapsed);
    line.number("retries", page.retries);
    if let (false, Some(headers)) = (shape.keep_headers.is_empty(), &page.headers) {
        line.key("headers");
        line.0.push(b'{');
        let mut first = true;
        for name in &shape.keep_headers {
            let mut values = headers.get_all(name.as_str()).peekable();
            if values.peek().is_none() {
                continue;
            }
            let joined: Vec<String> = values
                .map(|v| String::from_utf8_lossy(v).into_owned())
                .collect();
            if !first {
                line.0.push(b',');
            }
            first = false;
            line.str(name.as_str());
            line.0.push(b':');
            line.str(&joined.join(", "));
        }
        line.0.push(b'}');
    }
    if let Some(body) = &page.body {
        // A JSON answer is embedded as JSON, written again on one line (a
        // pretty-printed answer has newlines, which a line cannot).
        let json = is_json(page)
            .then(|| serde_json::from_slice::<serde_json::Value>(body).ok())
            .flatten();
        match (json, std::str::from_utf8(body)) {
            (Some(json), _) => {
                line.key("json");
                // Writing into a Vec cannot fail.
                let _ = serde_json::to_writer(&mut line.0, &json);
            }
            (None, Ok(text)) => line.string("body", text),
            (None, Err(_)) => line.string(
                "body_base64",
                &base64::engine::general_purpose::STANDARD.encode(body),
            ),
        }
    }
    if let Some(path) = &page.saved {
        line.string("saved", &path.display().to_string());
    }
    line.finish()
}

/// One output line for a URL that failed.
pub(crate) fn error_line(job: &Job, error: &FetchError) -> String {
    let mut line = Record::new(job);
    line.key("error");
    line.0.extend_from_slice(b"{\"kind\":");
    line.str(error.kind.as_str());
    line.0.extend_from_slice(b",\"message\":");
    line.str(&crate::config::message(error));
    line.0.push(b'}');
    line.millis("elapsed_ms", error.elapsed);
    line.number("retries", error.retries);
    line.finish()
}

/// A JSON object being written, opened with the fields every record has.
struct Record(Vec<u8>);

impl Record {
    fn new(job: &Job) -> Record {
        let url = &job.raw;
        let mut record = Record(Vec::with_capacity(128 + url.len() * 2));
        record.0.extend_from_slice(b"{\"index\":");
        record
            .0
            .extend_from_slice(itoa::Buffer::new().format(job.index).as_bytes());
        record.string("url", url);
        if let Some(id) = &job.id {
            // Compact JSON already, as the request line gave it.
            record.key("id");
            record.0.extend_from_slice(id.as_bytes());
        }
        record
    }

    fn key(&mut self, key: &str) {
        self.0.extend_from_slice(b",\"");
        self.0.extend_from_slice(key.as_bytes()); // our own keys: nothing to escape
        self.0.extend_from_slice(b"\":");
    }

    /// A JSON string, escaped as serde_json escapes it.
    fn str(&mut self, value: &str) {
        // Most strings here are URLs, with nothing to escape: copied as
        // they are. The check has no early exit so that it compiles to
        // vector instructions; serde_json's byte-by-byte escaping loop was
        // the largest single cost of a record (callgrind: ~400 instructions
        // for a 36-byte URL).
        let plain = !value.bytes().fold(false, |esc, b| {
            esc | (b < 0x20) | (b == b'"') | (b == b'\\')
        });
        if plain {
            self.0.reserve(value.len() + 2);
            self.0.push(b'"');
            self.0.extend_from_slice(value.as_bytes());
            self.0.push(b'"');
            return;
        }
        // Writing into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut self.0, value);
    }

    fn string(&mut self, key: &str, value: &str) {
        self.key(key);
        self.str(value);
    }

    fn number(&mut self, key: &str, value: impl Into<u64>) {
        self.key(key);
        self.0
            .extend_from_slice(itoa::Buffer::new().format(value.into()).as_bytes());
    }

    /// A duration in milliseconds to the microsecond (`12.5`, `3.0`,
    /// `0.042`): the bytes serde_json writes for that as an `f64` (a test
    /// holds it to them), written from integers. Formatting the float took
    /// more of the CPU per URL than any other field.
    fn millis(&mut self, key: &str, elapsed: std::time::Duration) {
        self.key(key);
        let micros = (elapsed.as_nanos() + 500) / 1000;
        let mut digits = itoa::Buffer::new();
        self.0
            .extend_from_slice(digits.format(micros / 1000).as_bytes());
        self.0.push(b'.');
        let fraction = (micros % 1000) as u16;
        let text = [
            b'0' + (fraction / 100) as u8,
            b'0' + (fraction / 10 % 10) as u8,
            b'0' + (fraction % 10) as u8,
        ];
        // At least one digit after the point, as a float has; no trailing
        // zeros after the first.
        let keep = 3 - text[1..].iter().rev().take_while(|&&d| d == b'0').count();
        self.0.extend_from_slice(&text[..keep]);
    }

    fn finish(mut self) -> String {
        self.0.push(b'}');
        // Only `&str`s and numbers went in, so this is UTF-8; a lossy
        // conversion keeps that a non-issue rather than a panic.
        String::from_utf8(self.0)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::parse;
    fn page(body: Option<&[u8]>, saved: Option<&str>, elapsed_us: u64) -> Page {
        Page {
            final_url: "http://h.test/a?q=\"x\"".into(),
            status: 404,
            version: gather_http::Version::Http2,
            bytes: 12_345,
            encoding: None,
            body: body.map(<[u8]>::to_vec),
            saved: saved.map(Into::into),
            headers: None,
            history: None,
            elapsed: std::time::Duration::from_micros(elapsed_us),
            retries: 2,
        }
    }
    /// What records held before they were written from integers: the
    /// milliseconds as an `f64`, to the microsecond.
    fn millis_f64(d: std::time::Duration) -> f64 {
        (d.as_secs_f64() * 1e6).round() / 1e3
    }
    #[test]
    fn milliseconds_are_written_as_serde_json_writes_the_float() {
        use std::time::Duration;
        let mut cases: Vec<Duration> = [
            0,
            1,
            499,
            500,
            999,
            1_000,
            1_500,
            10_000,
            100_000,
            999_999,
            1_000_000,
            1_000_500,
            12_345_678,
            3_000_000_000,
            86_400_123_456_789,
        ]
        .into_iter()
        .map(Duration::from_nanos)
        .collect();
        // Every fraction of a millisecond, on a few whole parts.
        for whole in [0u64, 1, 7, 1234] {
            cases.extend((0..1000).map(|us| Duration::from_micros(whole * 1000 + us)));
        }
        for d in cases {
            let mut ours = Record(Vec::new());
            ours.millis("t", d);
            let theirs = format!(",\"t\":{}", serde_json::to_string(&millis_f64(d)).unwrap());
            assert_eq!(String::from_utf8(ours.0).unwrap(), theirs, "{d:?}");
        }
    }
    #[test]
    fn strings_are_escaped_as_serde_json_escapes_them() {
        let chars = (0u32..0x80).chain([0xe9, 0x2028, 0xfeff, 0x1f600]);
        for c in chars.filter_map(char::from_u32) {
            let long = format!("http://h.test/{}{c}{}", "a".repeat(40), "b".repeat(40));
            for text in [c.to_string(), format!("http://h.test/a{c}b"), long] {
                let mut ours = Record(Vec::new());
                ours.str(&text);
                let theirs = serde_json::to_string(&text).unwrap();
                assert_eq!(String::from_utf8(ours.0).unwrap(), theirs, "{c:?}");
            }
        }
    }
    /// The hand-written records are exactly what serde_json makes of the
    /// same fields, in the same order (escapes, floats, base64 included).
    #[test]
    fn records_match_serde_json_field_for_field() {
        use serde_json::json;
        let job = &parse("http://h.test/a?q=\"x\"&\u{e9}\\t\n")[0];
        for (body, saved, us) in [
            (None, None, 0),
            (Some(&b"caf\xc3\xa9 \"quoted\"\n\x01"[..]), None, 1_500),
            (Some(&b"\xff\xfe binary"[..]), None, 123_456_789),
            (None, Some("out/7.body"), 3),
        ] {
            let p = page(body, saved, us);
            let mut want = json!({
                "index": job.index, "url": job.raw, "final_url": p.final_url,
                "status": p.status, "http_version": "2", "bytes": p.bytes,
                "elapsed_ms": millis_f64(p.elapsed), "retries": p.retries,
            });
            let m = want.as_object_mut().unwrap();
            match body.map(std::str::from_utf8) {
                Some(Ok(text)) => drop(m.insert("body".into(), json!(text))),
                Some(Err(_)) => drop(m.insert(
                    "body_base64".into(),
                    json!(base64::engine::general_purpose::STANDARD.encode(body.unwrap())),
                )),
                None => {}
            }
            if let Some(s) = saved {
                m.insert("saved".into(), json!(s));
            }
            let line = page_line(job, &p, &Shape::default());
            assert_eq!(line, want.to_string());
        }
        let mut error =
            FetchError::immediate(gather_http::Kind::Connect, "refused \"here\"\u{7}".into());
        error.elapsed = std::time::Duration::from_millis(2);
        error.retries = 1;
        let want = json!({
            "index": job.index, "url": job.raw,
            "error": { "kind": "connect", "message": error.message },
            "elapsed_ms": 2.0, "retries": 1,
        });
        assert_eq!(error_line(job, &error), want.to_string());
    }
}
