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
//! - **Requests carry no connection-specific fields** (`Connection`,
//!   `Keep-Alive`, `Transfer-Encoding`, ...), which HTTP/2 forbids: they are
//!   left out of what `-H` gave, and a `Host` given with `-H` becomes the
//!   `:authority`, as curl does.

use std::future::poll_fn;

use bytes::Bytes;
use h2::client::SendRequest;
use h2::{Reason, RecvStream};
use http::header::{self, HeaderMap, HeaderName};

use super::body::Framing;
use super::conn::Stream;
use super::head::{Head, Version, MAX_HEAD};
use super::{Error, ErrorKind};

/// Each stream's receive window: 1 MiB, so one large body is not held to
/// 64 KiB per round trip.
const STREAM_WINDOW: u32 = 1 << 20;
/// The connection's receive window, shared by its streams.
const CONNECTION_WINDOW: u32 = 16 << 20;

/// A live HTTP/2 connection: a handle to open streams on, and the task
/// that drives its frames.
pub struct Connection {
    pub send: SendRequest<Bytes>,
    driver: tokio::task::AbortHandle,
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
    let (send, connection) = h2::client::Builder::new()
        .enable_push(false)
        .initial_window_size(STREAM_WINDOW)
        .initial_connection_window_size(CONNECTION_WINDOW)
        .max_header_list_size(MAX_HEAD as u32)
        .handshake::<_, Bytes>(stream)
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
    /// Anything else.
    Failed(Error),
}

/// Sends a GET for `uri` with `headers` on `send`, and waits for the
/// answer's head.
pub async fn get(
    send: &SendRequest<Bytes>,
    uri: http::Uri,
    headers: &HeaderMap,
) -> Result<(Head, Body), Unanswered> {
    let request = request(uri, headers).map_err(Unanswered::Failed)?;
    let mut send =
        send.clone().ready().await.map_err(|e| {
            Unanswered::ConnectionGone(stream_error(e, "before the request was sent"))
        })?;
    let (answer, _) = send
        .send_request(request, true)
        .map_err(|e| Unanswered::ConnectionGone(stream_error(e, "before the request was sent")))?;
    let answer = answer.await.map_err(|e| {
        // Not answered, and not refused on purpose: the request goes out
        // again. Past a GOAWAY's last stream, or with REFUSED_STREAM, it
        // was not processed; cut by the connection's end (a close after
        // GOAWAY, a reset socket), it may have been, but a GET can be sent
        // twice (RFC 9110 section 9.2.2), as browsers do. A stream reset
        // with another code is the server's answer, and fails.
        let gone = e.is_io() || (e.is_go_away() && e.is_remote());
        let refused = e.is_reset() && e.reason() == Some(Reason::REFUSED_STREAM);
        let e = stream_error(e, "before the answer");
        match (gone, refused) {
            (true, _) => Unanswered::ConnectionGone(e),
            (false, true) => Unanswered::StreamRefused(e),
            (false, false) => Unanswered::Failed(e),
        }
    })?;
    let (parts, stream) = answer.into_parts();
    Ok((head(&parts, stream.is_end_stream()), Body::new(stream)))
}

/// The request `h2` sends: `GET uri` with `headers`, less the fields
/// HTTP/2 has no place for.
fn request(uri: http::Uri, headers: &HeaderMap) -> Result<http::Request<()>, Error> {
    let uri = match headers.get(header::HOST).map(|h| h.to_str()) {
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
    let fields = request.headers_mut();
    for (name, value) in headers {
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
    }
}

fn stream_error(e: h2::Error, when: &str) -> Error {
    let message = if e.is_go_away() {
        format!("HTTP/2 connection closed by the server (GOAWAY {e}) {when}")
    } else if e.is_reset() {
        format!("HTTP/2 stream reset ({e}) {when}")
    } else {
        format!("HTTP/2 connection lost ({e}) {when}")
    };
    Error::new(ErrorKind::Lost, message)
}

/// An HTTP/2 answer's body, read as its DATA frames arrive.
pub struct Body {
    stream: RecvStream,
    /// The last piece handed out; its bytes were already given back to the
    /// flow-control window.
    piece: Bytes,
}

impl Body {
    fn new(stream: RecvStream) -> Body {
        Body {
            stream,
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
                Error::new(
                    ErrorKind::Body,
                    format!("HTTP/2 stream ended during the body: {e}"),
                )
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
        let r = request("https://a.test/x?y".parse().unwrap(), &headers).unwrap();
        assert_eq!(r.uri(), "https://a.test/x?y");
        assert_eq!(r.headers().len(), 1, "{:?}", r.headers());
        assert_eq!(r.headers()[header::USER_AGENT], "gather");

        headers.insert(header::HOST, HeaderValue::from_static("b.test:8443"));
        headers.insert(header::TE, HeaderValue::from_static("trailers"));
        let r = request("https://a.test/x".parse().unwrap(), &headers).unwrap();
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
