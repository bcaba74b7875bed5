//! HTTP/2: many requests to one origin multiplexed over one connection.
//!
//! Framing, HPACK, flow control and the stream limit are the `h2` crate's
//! (the one hyper uses); what is decided here is what a fetch tool needs
//! on top of it:
//!
//! - **One connection per origin**, shared by every request to it; `h2`
//!   queues the requests past the server's `SETTINGS_MAX_CONCURRENT_STREAMS`
//!   and opens them as streams end, so the server's limit holds whatever
//!   `--limit` is.
//! - **Unanswered requests are sent again.** A stream above a `GOAWAY`'s
//!   last stream id, or reset with `REFUSED_STREAM`, was not processed
//!   (RFC 9113 sections 6.8 and 8.7); one cut by the connection's end
//!   before its answer may have been, but a GET may be sent twice (RFC
//!   9110 section 9.2.2). Either way the request goes out again, inside
//!   the same attempt (up to 3 times): on a new connection if this one is
//!   going away, on the same one after a `REFUSED_STREAM` (a server sends
//!   one for streams opened before its stream limit was read, which says
//!   nothing against the connection). So it is neither
//!   reported twice nor lost, and is not counted as a retry. A stream
//!   reset with another code is the server's refusal: a failed attempt,
//!   which `--retries` decides about.
//! - **Flow control**: each piece of a body is released to the window as
//!   soon as it is taken, so a slow reader of one stream does not stall the
//!   others, and the windows are larger than the protocol's 64 KiB default,
//!   which would cap a single download at one window per round trip.
//! - **One malformed answer fails one request.** Where `h2` raises a
//!   malformed answer as an error of the whole connection, the request
//!   whose answer it was fails (`protocol`, not sent again), and the others
//!   on the connection, which the server had not answered, go again on a
//!   new one: [`frames`] tells which frame `h2` was reading. Errors say who
//!   closed or reset what, and why.
//! - **Requests carry no connection-specific fields** (`Connection`,
//!   `Keep-Alive`, `Transfer-Encoding`, ...), which HTTP/2 forbids: they are
//!   left out of what `-H` gave, and a `Host` given with `-H` becomes the
//!   `:authority`, as curl does.

mod frames;

use std::future::poll_fn;
use std::sync::Arc;

use bytes::Bytes;
use h2::client::SendRequest;
use h2::{Reason, RecvStream};
use http::header::{self, HeaderMap, HeaderName};

use super::body::Framing;
use super::conn::Stream;
use super::head::{Head, Version, MAX_HEAD};
use super::payload::Payload;
use super::{Error, ErrorKind};

/// Each stream's receive window: 1 MiB, so one large body is not held to
/// 64 KiB per round trip.
const STREAM_WINDOW: u32 = 1 << 20;
/// The connection's receive window, shared by its streams.
const CONNECTION_WINDOW: u32 = 16 << 20;

/// How many DATA frames `h2` may hold unread before it takes the server
/// for an attacker, in its units: a frame of fewer than 256 bytes costs
/// 256 less its length until it is read. Its own default follows the
/// connection window (half of it), which a stream's window of one-byte
/// frames, arrived while the runtime was busy elsewhere, overran
/// (`too_many_data_frames`, 3 runs in 10 with other connections busy). So
/// that a stream's whole window is accepted in the smallest frames, the
/// budget is that window at the highest cost, 255 a byte. A million
/// one-byte frames held unread peaked at 80 MB for client and server
/// together (`gather-cli/tests/it/cli_http2_faults.rs`, under GNU time); the 16 MiB
/// connection window in one-byte frames would let a server make the client
/// hold more than a gigabyte, so past one stream's window of them a
/// connection is still refused (`ENHANCE_YOUR_CALM`).
const DATA_FRAME_BUDGET: usize = STREAM_WINDOW as usize * 255;

/// A live HTTP/2 connection: a handle to open streams on, and the task
/// that drives its frames.
pub struct Connection {
    pub send: SendRequest<Bytes>,
    driver: tokio::task::AbortHandle,
    /// What the server sent, as `h2` read it.
    seen: Arc<frames::Seen>,
}

impl Drop for Connection {
    fn drop(&mut self) {
        // Nothing outlives the run: the driver would end by itself once
        // every handle and stream is gone, but not before a server that
        // never closes lets it.
        self.driver.abort();
    }
}

/// Speaks HTTP/2 over `stream` (after ALPN chose `h2`, or with prior
/// knowledge on plain TCP).
pub async fn handshake(stream: Stream, authority: &str) -> Result<Connection, Error> {
    let seen = Arc::new(frames::Seen::default());
    let (send, connection) = h2::client::Builder::new()
        .enable_push(false)
        .initial_window_size(STREAM_WINDOW)
        .initial_connection_window_size(CONNECTION_WINDOW)
        .data_frame_budget(DATA_FRAME_BUDGET)
        .max_header_list_size(MAX_HEAD as u32)
        .handshake::<_, Bytes>(frames::Watched::new(stream, seen.clone()))
        .await
        .map_err(|e| {
            Error::new(
                ErrorKind::Connect,
                format!("HTTP/2 handshake with {authority} failed: {e}"),
            )
        })?;
    let driver = tokio::spawn(async move {
        // Its end (the server closed, GOAWAY, an error) reaches every open
        // stream as that stream's error.
        let _ = connection.await;
    });
    Ok(Connection {
        send,
        driver: driver.abort_handle(),
        seen,
    })
}

/// Why a request over HTTP/2 got no answer.
pub enum Unanswered {
    /// The connection is gone, or going (GOAWAY), and the server did not
    /// answer: send the request again on a new connection.
    ConnectionGone(Error),
    /// The server refused this one stream (`REFUSED_STREAM`, as one does
    /// when a client opens streams before it has read the server's
    /// limit): send it again on the same connection.
    StreamRefused(Error),
    /// The server's GOAWAY named a last stream below this one's: it was not
    /// processed, and is sent again on a new connection, whatever its
    /// method.
    AboveGoaway(Error),
    /// gather closed the connection over a frame the server sent on another
    /// stream (a malformed answer, HEADERS on a stream never opened): this
    /// request was not answered and is sent again on a new connection, but
    /// once only, since a server that broke HTTP/2 on one connection will
    /// most likely break it on the next.
    Declared(Error),
    /// Anything else.
    Failed(Error),
}

/// Sends a GET for `uri` with `headers` on `connection` (or the request
/// `payload` describes: its method and body), and waits for the answer's
/// head.
pub async fn send(
    connection: &Arc<Connection>,
    uri: http::Uri,
    headers: &HeaderMap,
    payload: Option<&Payload>,
    keep_fields: bool,
) -> Result<(Head, Body), Unanswered> {
    let seen = &connection.seen;
    let request = request(uri, headers, payload).map_err(Unanswered::Failed)?;
    let body = payload.and_then(Payload::body);
    let ready = connection.send.clone().ready();
    // `ready` waits for a stream the server allows: with none, for ever.
    let mut send = tokio::select! {
        biased;
        ready = ready => ready.map_err(|e| classify(e, None, seen, "before the request was sent"))?,
        () = seen.none_allowed() => return Err(Unanswered::Failed(no_streams())),
    };
    let (answer, mut stream) = send
        .send_request(request, body.is_none())
        .map_err(|e| classify(e, None, seen, "before the request was sent"))?;
    let id = u32::from(answer.stream_id());
    if let Some(body) = body {
        // Queued by `h2`, and sent as the stream's flow-control window
        // allows, while the answer is awaited.
        stream
            .send_data(body.clone(), true)
            .map_err(|e| classify(e, Some(id), seen, "sending the request's body"))?;
    }
    let answer = answer
        .await
        .map_err(|e| classify(e, Some(id), seen, "before the answer"))?;
    let (parts, stream) = answer.into_parts();
    let body = Body::new(stream, id, connection.clone());
    let mut head = head(&parts, body.stream.is_end_stream());
    if keep_fields {
        head.fields = Some(crate::Fields::from(&parts.headers));
    }
    Ok((head, body))
}

/// What an `h2` error on stream `id` (`None`: before it had one) means for
/// the request, and the message that says who did what.
///
/// - The server closed the connection (`GOAWAY`) or it was lost: not
///   answered, sent again on a new connection. Past a GOAWAY's last stream
///   it was not processed; cut by the connection's end it may have been,
///   but a GET can be sent twice (RFC 9110 section 9.2.2), as browsers do.
/// - The server refused the stream (`REFUSED_STREAM`): sent again on the
///   same connection, unless the server allows no streams at all.
/// - gather closed the connection (its own `GOAWAY`, as `h2` does on most
///   malformed answers): this request's answer was the malformed one (the
///   frame `h2` was reading when it gave up was on this stream), or the
///   server broke the connection itself (a frame on stream 0): `protocol`,
///   not sent again; another request's answer was: sent again on a new
///   connection, since the server had not answered this one.
/// - gather reset the stream (a malformed answer `h2` took as an error of
///   its stream alone): `protocol`.
/// - The server reset the stream with another code: its refusal, a failed
///   attempt that `--retries` decides about.
fn classify(e: h2::Error, id: Option<u32>, seen: &frames::Seen, when: &str) -> Unanswered {
    let reason = e
        .reason()
        .map_or_else(|| "-".to_owned(), |r| format!("{r:?}"));
    let lost = |message: String| Error::new(ErrorKind::Lost, message);
    let protocol = |message: String| Error::new(ErrorKind::Protocol, message);
    if seen.answered_in_http1() {
        // Not sent again: it would get the same answer.
        return Unanswered::Failed(protocol(
            "the server answered in HTTP/1.x: it does not speak HTTP/2 unasked (h2c with prior \
             knowledge); ask it in HTTP/1.1"
                .to_owned(),
        ));
    }
    if e.is_io() {
        return Unanswered::ConnectionGone(lost(format!("HTTP/2 connection lost {when}: {e}")));
    }
    if e.is_go_away() && e.is_remote() {
        return Unanswered::AboveGoaway(lost(format!(
            "HTTP/2: the server closed the connection (GOAWAY {reason}) {when}"
        )));
    }
    if e.is_go_away() {
        let closed = format!("HTTP/2: gather closed the connection (GOAWAY {reason}) {when}");
        return match seen.last_frame() {
            Some((kind, stream)) if Some(stream) == id => Unanswered::Failed(protocol(format!(
                "{closed}: the server's answer to this request was malformed ({} frame: {e})",
                frame_name(kind)
            ))),
            Some((kind, stream)) if stream != 0 && id.is_some() => {
                Unanswered::Declared(protocol(format!(
                    "{closed}: the server broke HTTP/2 on another stream ({} frame on stream {stream}: {e}), while this one was in flight",
                    frame_name(kind)
                )))
            }
            Some((kind, _)) => Unanswered::Failed(protocol(format!(
                "{closed}: the server broke HTTP/2 on the connection itself ({} frame: {e})",
                frame_name(kind)
            ))),
            None => Unanswered::Failed(protocol(format!("{closed}: {e}"))),
        };
    }
    if e.is_reset() && e.is_remote() && e.reason() == Some(Reason::REFUSED_STREAM) {
        if seen.no_streams() {
            return Unanswered::Failed(no_streams());
        }
        return Unanswered::StreamRefused(lost(format!(
            "HTTP/2: the server refused the stream (REFUSED_STREAM) {when}"
        )));
    }
    if e.is_reset() && e.is_library() {
        return Unanswered::Failed(protocol(format!(
            "HTTP/2: the server's answer was malformed, and gather reset the stream ({reason}) {when}: {e}"
        )));
    }
    if e.is_reset() {
        return Unanswered::Failed(lost(format!(
            "HTTP/2: the server reset the stream ({reason}) {when}"
        )));
    }
    Unanswered::Failed(protocol(format!("HTTP/2 {when}: {e}")))
}

/// The error of a server whose `SETTINGS_MAX_CONCURRENT_STREAMS` is 0.
fn no_streams() -> Error {
    Error::new(
        ErrorKind::Connect,
        "HTTP/2: the server allows no streams (SETTINGS_MAX_CONCURRENT_STREAMS 0), so no request can be sent".to_owned(),
    )
}

fn frame_name(kind: u8) -> &'static str {
    match kind {
        frames::DATA => "DATA",
        frames::HEADERS => "HEADERS",
        frames::CONTINUATION => "CONTINUATION",
        0x2 => "PRIORITY",
        0x3 => "RST_STREAM",
        0x4 => "SETTINGS",
        0x5 => "PUSH_PROMISE",
        0x6 => "PING",
        0x7 => "GOAWAY",
        0x8 => "WINDOW_UPDATE",
        _ => "unknown",
    }
}

/// The request `h2` sends: `METHOD uri` with the run's `headers` and
/// `payload`'s own over them, less the fields HTTP/2 has no place for.
fn request(
    uri: http::Uri,
    headers: &HeaderMap,
    payload: Option<&Payload>,
) -> Result<http::Request<()>, Error> {
    let host = super::payload::fields(headers, payload).find(|(name, _)| *name == header::HOST);
    let uri = match host.map(|(_, h)| h.to_str()) {
        // A Host given with -H names the authority, as curl sends it.
        Some(Ok(host)) => {
            let mut parts = uri.into_parts();
            parts.authority =
                Some(host.parse().map_err(|e| {
                    Error::new(ErrorKind::Protocol, format!("-H Host {host:?}: {e}"))
                })?);
            http::Uri::from_parts(parts)
                .map_err(|e| Error::new(ErrorKind::Protocol, format!("-H Host {host:?}: {e}")))?
        }
        _ => uri,
    };
    let mut request = http::Request::new(());
    *request.uri_mut() = uri;
    *request.version_mut() = http::Version::HTTP_2;
    if let Some(payload) = payload {
        *request.method_mut() = payload.method().clone();
    }
    let fields = request.headers_mut();
    for (name, value) in super::payload::fields(headers, payload) {
        if !connection_specific(name, value) {
            fields.append(name, value.clone());
        }
    }
    Ok(request)
}

/// A field HTTP/2 forbids in a request (RFC 9113 section 8.2.2), or `Host`
/// (sent as `:authority`).
fn connection_specific(name: &HeaderName, value: &http::HeaderValue) -> bool {
    name == header::HOST
        || name == header::CONNECTION
        || name == header::TRANSFER_ENCODING
        || name == header::UPGRADE
        || name.as_str() == "keep-alive"
        || name.as_str() == "proxy-connection"
        || (name == header::TE && value != "trailers")
}

/// What the client uses of an HTTP/2 answer's head.
fn head(parts: &http::response::Parts, ended: bool) -> Head {
    let field = |name: header::HeaderName| {
        let mut values = parts.headers.get_all(name).iter();
        let first = values.next()?.as_bytes().trim_ascii().to_vec();
        Some(values.fold(first, |mut joined, v| {
            joined.extend_from_slice(b", ");
            joined.extend_from_slice(v.as_bytes().trim_ascii());
            joined
        }))
    };
    // `h2` checks that the DATA frames add up to a Content-Length, so the
    // length only serves `--max-bytes`' early refusal and the progress.
    let length = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.trim().parse::<u64>().ok());
    let framing = match (ended, length) {
        (true, _) => Framing::Empty,
        (false, Some(n)) => Framing::Length(n),
        (false, None) => Framing::Close,
    };
    Head {
        status: parts.status.as_u16(),
        version: Version::Http2,
        framing,
        keep_alive: true,
        location: field(header::LOCATION),
        retry_after: field(header::RETRY_AFTER),
        content_encoding: field(header::CONTENT_ENCODING),
        announced: announced(&parts.headers),
        fields: None,
    }
}

/// The limits an answer's fields announce (see `ratelimit`).
fn announced(fields: &http::HeaderMap) -> Option<Box<super::ratelimit::Announced>> {
    let mut limits: Option<super::ratelimit::Reader> = None;
    for (name, value) in fields {
        if super::ratelimit::is_limit_field(name.as_str().as_bytes()) {
            limits
                .get_or_insert_with(Default::default)
                .field(name.as_str(), value.as_bytes());
        }
    }
    limits.and_then(|l| l.finish()).map(Box::new)
}

/// An HTTP/2 answer's body, read as its DATA frames arrive.
pub struct Body {
    stream: RecvStream,
    /// Its stream's id: with what the connection's reader saw, to say
    /// whose fault a broken body was.
    id: u32,
    /// Its connection, whose driver runs while any of its answers is
    /// being read: the origin forgets a connection after a GOAWAY, and
    /// the last request to hold it may be one sent again elsewhere, while
    /// the answers below the GOAWAY's last stream are still coming on it.
    /// (Before, dropping it there stopped the driver, and those answers
    /// failed as "stream closed because of a broken pipe".)
    connection: Arc<Connection>,
    /// The last piece handed out; its bytes were already given back to the
    /// flow-control window.
    piece: Bytes,
}

impl Body {
    fn new(stream: RecvStream, id: u32, connection: Arc<Connection>) -> Body {
        Body {
            stream,
            id,
            connection,
            piece: Bytes::new(),
        }
    }

    /// The next piece, `None` at the end of the stream.
    pub async fn chunk(&mut self) -> Result<Option<&[u8]>, Error> {
        loop {
            let Some(piece) = poll_fn(|cx| self.stream.poll_data(cx)).await else {
                return Ok(None);
            };
            let piece = piece.map_err(|e| {
                let e = match classify(e, Some(self.id), &self.connection.seen, "during the body") {
                    Unanswered::ConnectionGone(e)
                    | Unanswered::StreamRefused(e)
                    | Unanswered::AboveGoaway(e)
                    | Unanswered::Declared(e)
                    | Unanswered::Failed(e) => e,
                };
                Error::new(ErrorKind::Body, e.message)
            })?;
            // Given back at once: the caller takes the bytes before asking
            // for more, and a window held until then would only slow the
            // sender down.
            let _ = self.stream.flow_control().release_capacity(piece.len());
            if piece.is_empty() {
                continue;
            }
            self.piece = piece;
            return Ok(Some(&self.piece));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn requests_leave_out_connection_fields_and_take_host_as_authority() {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
        headers.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        headers.insert(header::TE, HeaderValue::from_static("gzip"));
        headers.insert(header::USER_AGENT, HeaderValue::from_static("gather"));
        let r = request("https://a.test/x?y".parse().unwrap(), &headers, None).unwrap();
        assert_eq!(r.uri(), "https://a.test/x?y");
        assert_eq!(r.headers().len(), 1, "{:?}", r.headers());
        assert_eq!(r.headers()[header::USER_AGENT], "gather");

        headers.insert(header::HOST, HeaderValue::from_static("b.test:8443"));
        headers.insert(header::TE, HeaderValue::from_static("trailers"));
        let r = request("https://a.test/x".parse().unwrap(), &headers, None).unwrap();
        assert_eq!(r.uri(), "https://b.test:8443/x");
        assert_eq!(r.headers()[header::TE], "trailers");
        assert!(!r.headers().contains_key(header::HOST));
    }

    #[test]
    fn a_head_joins_repeated_fields_and_knows_an_empty_body() {
        let mut answer = http::Response::new(());
        *answer.status_mut() = http::StatusCode::TOO_MANY_REQUESTS;
        let h = answer.headers_mut();
        h.append(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        h.append(header::CONTENT_ENCODING, HeaderValue::from_static("br"));
        h.append(header::RETRY_AFTER, HeaderValue::from_static(" 3 "));
        h.append(header::CONTENT_LENGTH, HeaderValue::from_static("12"));
        let (parts, ()) = answer.into_parts();
        let got = head(&parts, false);
        assert_eq!(got.status, 429);
        assert_eq!(got.version, Version::Http2);
        assert_eq!(got.content_encoding.as_deref(), Some(&b"gzip, br"[..]));
        assert_eq!(got.retry_after.as_deref(), Some(&b"3"[..]));
        assert_eq!(got.framing, Framing::Length(12));
        assert_eq!(head(&parts, true).framing, Framing::Empty);
    }
}
