//! The HTTP/1.1 client under `gather fetch`: GET only, keep-alive
//! connections pooled per origin, HTTPS by rustls.
//!
//! Why not hyper, which this crate used before: measured against a local
//! nginx on this project's 2-core machine, hyper's pooled client spent
//! ~5.4 µs of user CPU per request, where a plain loop over a tokio socket
//! with `httparse` spent ~1.4; with the server sharing the cores, that was
//! the difference between 0.6x and 0.8x of wrk's rate. A fetch tool needs
//! one method, one protocol version, no request body, no upgrades: what is
//! left is reading an answer correctly, and that is the part written with
//! care here, in pieces that are tested on their own:
//!
//! - [`head`]: the status line and fields (`httparse`), and what they decide
//!   (RFC 9112 section 6.3): where the body ends, whether the connection is
//!   reused. Informational answers are skipped; malformed lengths are errors.
//! - [`body`]: a decoder without I/O for `Content-Length`, chunked (sizes,
//!   extensions, trailers, each bounded) and close-delimited bodies.
//! - `conn`: a connection, its buffer and the request it writes.
//! - `pool`: idle connections, capped in total.
//!
//! A connection goes back to the pool only when its answer was read to the
//! end and said nothing against reuse; dropping a [`Body`] part-way (a
//! timeout, a cancelled run) closes it. A pooled connection the server has
//! closed meanwhile is noticed when the request on it gets no answer at
//! all, and that request is sent again once on a new connection (it is a
//! GET), as browsers do.

pub mod body;
mod conn;
pub mod head;
mod pool;
pub mod proxy;

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use base64::Engine;
use http::{HeaderMap, HeaderValue};
use url::{Position, Url};

use body::{Decoded, Decoder};
use conn::Conn;
pub use head::Head;
use pool::Pool;
use proxy::Proxies;

/// Sends GETs over pooled HTTP/1.1 connections.
pub struct Client {
    pool: Pool,
    tls: tokio_rustls::TlsConnector,
    proxies: Proxies,
}

impl Client {
    /// A client trusting what `tls` trusts and keeping at most `max_idle`
    /// idle connections.
    pub fn new(mut tls: rustls::ClientConfig, max_idle: usize) -> Client {
        tls.alpn_protocols = vec![b"http/1.1".to_vec()];
        Client {
            pool: Pool::new(max_idle),
            tls: tokio_rustls::TlsConnector::from(Arc::new(tls)),
            proxies: Proxies::none(),
        }
    }

    /// The same client, sending each URL through the proxy `proxies`
    /// choose for it.
    pub fn with_proxies(mut self, proxies: Proxies) -> Client {
        self.proxies = proxies;
        self
    }

    /// Sends a GET for `url` (http or https) with `headers`, and reads the
    /// answer's head; the body is read from the [`Response`].
    ///
    /// # Cancel safety
    ///
    /// Dropping the future closes the connection it was using; the pool
    /// only ever holds connections with nothing in flight.
    pub async fn get(&self, url: &Url, headers: &HeaderMap) -> Result<Response<'_>, Error> {
        let tls = match url.scheme() {
            "http" => false,
            "https" => true,
            other => {
                return Err(Error::new(
                    ErrorKind::Protocol,
                    format!("cannot request a {other}: URL: only http and https"),
                ))
            }
        };
        let authority = &url[Position::BeforeHost..Position::AfterPort];
        let proxy = self.proxies.for_url(url);
        // Through an HTTP proxy, a plain request goes to the proxy in
        // absolute form, on a connection to the proxy that serves every
        // origin; an https one goes through a tunnel to its origin, which
        // is then a connection like any other.
        let forwarded = proxy.filter(|_| !tls);
        let (key, target) = match forwarded {
            None => (Cow::Borrowed(authority), request_target(url)),
            Some(proxy) => (
                Cow::Owned(format!("via {}", proxy.authority)),
                Cow::Owned(format!(
                    "{}://{authority}{}",
                    url.scheme(),
                    request_target(url)
                )),
            ),
        };
        // A pooled connection that has anything to read before we ask
        // (late bytes of the last answer, or the server's close) is
        // dropped: those bytes would be read as this request's answer.
        let mut pooled = self.pool.take(tls, &key);
        while pooled.as_mut().is_some_and(|c| !c.is_quiet()) {
            pooled = self.pool.take(tls, &key);
        }
        if let Some(mut conn) = pooled {
            match conn.exchange(&target, authority, headers).await {
                Ok(head) => return Ok(self.response(conn, head)),
                // Closed by the server while idle: try a new connection.
                Err(e) if e.unanswered => {}
                Err(e) => return Err(e),
            }
        }
        let connector = tls.then_some(&self.tls);
        // Boxed: the connect and TLS handshake state is over a kilobyte,
        // and inline it would be part of (and copied with) every request's
        // future, though most requests take a pooled connection instead.
        let mut conn = Box::pin(Conn::connect(url, connector, &key, proxy.map(|p| &**p))).await?;
        let head = conn.exchange(&target, authority, headers).await?;
        Ok(self.response(conn, head))
    }

    fn response(&self, conn: Conn, head: Head) -> Response<'_> {
        let body = Body {
            decoder: Decoder::new(head.framing),
            keep_alive: head.keep_alive,
            conn: Some(conn),
            pool: &self.pool,
        };
        Response { head, body }
    }
}

/// An answer: its head, read; its body, to read.
pub struct Response<'c> {
    pub head: Head,
    pub body: Body<'c>,
}

/// The body of an answer, read in pieces as they arrive.
///
/// Read to the end, its connection goes back to the pool (if the answer
/// allows); dropped before that, the connection is closed.
pub struct Body<'c> {
    conn: Option<Conn>,
    decoder: Decoder,
    keep_alive: bool,
    pool: &'c Pool,
}

impl Body<'_> {
    /// Its length, when the answer gave one.
    pub fn length(&self) -> Option<u64> {
        self.decoder.remaining()
    }

    /// The next piece of the body, `None` at its end.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future is dropping a read: the body can still be
    /// dropped (closing the connection) but its bytes may be lost, so read
    /// on only if it was not cancelled.
    pub async fn chunk(&mut self) -> Result<Option<&[u8]>, Error> {
        let (start, end) = loop {
            let Some(conn) = self.conn.as_mut() else {
                return Ok(None);
            };
            let (used, step) = self
                .decoder
                .decode(conn.buffered())
                .map_err(|e| Error::new(ErrorKind::Body, e.to_string()))?;
            match step {
                Decoded::Data { start, end } => {
                    let at = conn.position();
                    conn.consume(used);
                    break (at + start, at + end);
                }
                Decoded::Done => {
                    conn.consume(used);
                    self.finish();
                    return Ok(None);
                }
                Decoded::More => {
                    conn.consume(used);
                    let read = conn.fill().await.map_err(|e| {
                        Error::new(
                            ErrorKind::Body,
                            format!("connection lost during the body: {e}"),
                        )
                    })?;
                    if read == 0 {
                        self.decoder
                            .end_of_stream()
                            .map_err(|e| Error::new(ErrorKind::Body, e.to_string()))?;
                        self.finish();
                        return Ok(None);
                    }
                }
            }
        };
        // Taken out of the loop: a slice returned from inside it would hold
        // the borrow of `self.conn` across the loop's other iterations.
        let conn = self.conn.as_ref().expect("set while reading");
        Ok(Some(conn.read(start..end)))
    }

    /// Reads the rest of the body and drops it, so that the connection can
    /// be reused; gives up (closing it) past `max` bytes or on an error.
    pub async fn drain(mut self, max: u64) {
        let mut seen = 0u64;
        while let Ok(Some(piece)) = self.chunk().await {
            seen += piece.len() as u64;
            if seen > max {
                return;
            }
        }
    }

    /// The body is complete: its connection goes back to the pool if the
    /// answer allows.
    fn finish(&mut self) {
        if let Some(mut conn) = self.conn.take() {
            if self.keep_alive && conn.reset_for_reuse() {
                self.pool.put(conn);
            }
        }
    }
}

/// What went wrong, by when it went wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// No connection: the name did not resolve, the port refused, ...
    Connect,
    /// The TLS handshake failed: a certificate refused, no common version.
    Tls,
    /// The connection closed or reset before the answer's head was read.
    Lost,
    /// The answer's head is not HTTP/1.x the client can read.
    Protocol,
    /// The proxy refused to open a tunnel (`CONNECT`), or answered it
    /// with something that is not HTTP.
    Proxy,
    /// The head was read, but the body was cut short or broke its framing.
    Body,
}

/// A request that got no usable answer.
#[derive(Debug, Clone)]
pub struct Error {
    pub kind: ErrorKind,
    pub message: String,
    /// Not a byte of answer came back: sending again is safe.
    unanswered: bool,
}

impl Error {
    fn new(kind: ErrorKind, message: String) -> Error {
        Error {
            kind,
            message,
            unanswered: false,
        }
    }

    fn unanswered(message: String) -> Error {
        Error {
            kind: ErrorKind::Lost,
            message,
            unanswered: true,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

/// `url`'s path and query as a request target: no fragment, and the few
/// ASCII characters the WHATWG rules leave bare (`|`, `^`, `{`...) but
/// RFC 3986 does not allow, encoded as a browser does on the wire.
pub fn request_target(url: &Url) -> Cow<'_, str> {
    let text = &url[Position::BeforePath..Position::AfterQuery];
    if text.bytes().all(is_uri_byte) {
        return Cow::Borrowed(text);
    }
    let mut encoded = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if c.is_ascii() && is_uri_byte(c as u8) {
            encoded.push(c);
        } else {
            let mut buf = [0; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                encoded.push_str(&format!("%{b:02X}"));
            }
        }
    }
    Cow::Owned(encoded)
}

/// RFC 3986's unreserved and reserved characters, and `%`.
fn is_uri_byte(b: u8) -> bool {
    URI_BYTES[b as usize]
}

/// [`is_uri_byte`] as a table: it runs on every byte of every request
/// target, and the search through the list of symbols for each `/`, `-`
/// and `.` cost ~200 instructions per request.
const URI_BYTES: [bool; 256] = {
    let mut table = [false; 256];
    let symbols = b"-._~:/?#[]@!$&'()*+,;=%";
    let mut i = 0;
    while i < symbols.len() {
        table[symbols[i] as usize] = true;
        i += 1;
    }
    let mut b = 0;
    while b < 256 {
        if (b as u8).is_ascii_alphanumeric() {
            table[b] = true;
        }
        b += 1;
    }
    table
};

#[cfg(test)]
mod tests {
    use super::*;

    fn target(text: &str) -> String {
        request_target(&Url::parse(text).unwrap()).into_owned()
    }

    #[test]
    fn the_uri_byte_table_is_rfc_3986s_characters_and_percent() {
        for b in 0..=255u8 {
            let want = b.is_ascii_alphanumeric() || b"-._~:/?#[]@!$&'()*+,;=%".contains(&b);
            assert_eq!(is_uri_byte(b), want, "byte {b:#04x}");
        }
    }

    #[test]
    fn request_targets_drop_the_fragment_and_encode_what_http_refuses() {
        assert_eq!(
            target("http://h.test:8080/a/b?q=1&r=%20#frag"),
            "/a/b?q=1&r=%20"
        );
        // The URL parser leaves `|`, `^`, `{`, `}` and a backquote bare in
        // a query; the request carries them encoded.
        assert_eq!(
            target("http://h.test/a|b?q={x}^`y"),
            "/a%7Cb?q=%7Bx%7D%5E%60y"
        );
        assert_eq!(target("https://h.test/caf\u{e9}"), "/caf%C3%A9");
        assert_eq!(target("http://u:p@[::1]:8080"), "/");
    }
}

/// Whether `url` has a user name or password.
pub fn has_credentials(url: &Url) -> bool {
    !url.username().is_empty() || url.password().is_some()
}

/// `Basic ...` for a URL with a user name or password: an origin's
/// `Authorization`, or a proxy's `Proxy-Authorization`.
pub fn basic_auth(url: &Url) -> Option<HeaderValue> {
    if !has_credentials(url) {
        return None;
    }
    let decode = |s: &str| percent_encoding::percent_decode_str(s).collect::<Vec<u8>>();
    let mut pair = decode(url.username());
    pair.push(b':');
    pair.extend(decode(url.password().unwrap_or("")));
    let encoded = base64::engine::general_purpose::STANDARD.encode(pair);
    let mut value = HeaderValue::try_from(format!("Basic {encoded}")).ok()?;
    value.set_sensitive(true);
    Some(value)
}

#[cfg(test)]
mod credential_tests {
    use super::*;

    #[test]
    fn credentials_in_a_url_become_basic_auth() {
        let url = Url::parse("http://us%20er:p%40ss@h.test:81/x?y").unwrap();
        // base64("us er:p@ss")
        assert_eq!(basic_auth(&url).unwrap(), "Basic dXMgZXI6cEBzcw==");
        let user_only = Url::parse("http://me@h.test/").unwrap();
        assert_eq!(basic_auth(&user_only).unwrap(), "Basic bWU6"); // "me:"
        assert!(basic_auth(&Url::parse("http://h.test/").unwrap()).is_none());
    }
}
