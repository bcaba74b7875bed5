//! One connection: a TCP (or TLS) stream, its read buffer, and the request
//! and answer heads that cross it.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::task::{Context, Poll};

use http::HeaderMap;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use url::{Host, Url};

use super::body::Framing;
use super::head::{self, Head, Parsed};
use super::payload::{self, Payload};
use super::proxy::Proxy;
use super::{Error, ErrorKind};

/// Said when a server's own certificate is a CA's (`basicConstraints`
/// CA:TRUE), as a self-signed `openssl req -x509` certificate is by
/// default, and it is not one the user gave: given as trusted, it is
/// accepted (see the `tls` module), as curl on OpenSSL accepts it.
const CA_AS_LEAF_HINT: &str =
    "; the server's certificate is a self-signed CA certificate (CA:TRUE) \
used as its own: to trust this server, add that very certificate to the trusted ones (the CA file)";

/// What a connection's buffer starts with; a 2 KiB page and its head
/// arrive in one read.
const BUFFER: usize = 16 * 1024;
/// Read at least this much at a time (the buffer grows to make room).
const MIN_READ: usize = 4 * 1024;

/// A transport to an origin (or to a proxy): plain TCP, or TLS over it.
pub enum Stream {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl Stream {
    /// The TLS handshake agreed on HTTP/2 (ALPN `h2`).
    pub fn negotiated_h2(&self) -> bool {
        match self {
            Stream::Plain(_) => false,
            Stream::Tls(tls) => tls.get_ref().1.alpn_protocol() == Some(b"h2"),
        }
    }
}

/// An open transport, before any request: what [`Conn::new`] (HTTP/1.1)
/// or an HTTP/2 handshake takes over.
pub struct Opened {
    pub stream: Stream,
    tls: bool,
    /// `Proxy-Authorization` for each request, when the transport is to a
    /// proxy that forwards plain requests.
    proxy_authorization: Option<http::HeaderValue>,
}

pub struct Conn {
    stream: Stream,
    /// Bytes read; those before `start` are consumed.
    buf: Vec<u8>,
    start: usize,
    /// The request being sent, its allocation reused.
    out: Vec<u8>,
    tls: bool,
    /// What the pool knows it by: the origin's `host:port`, or `via` and
    /// the proxy's for a connection to a proxy in absolute form.
    authority: Box<str>,
    /// `Proxy-Authorization` for each request: only on a connection to a
    /// proxy that forwards plain requests (a tunnel carries it once, in
    /// its `CONNECT`).
    proxy_authorization: Option<http::HeaderValue>,
}

impl Opened {
    /// Connects to `url`'s host and port, over TLS for https; through
    /// `proxy` when given (a `CONNECT` tunnel for https). `authority`
    /// names the origin in errors.
    pub async fn connect(
        url: &Url,
        tls: Option<&TlsConnector>,
        authority: &str,
        proxy: Option<&Proxy>,
    ) -> Result<Opened, Error> {
        let port = url.port_or_known_default().unwrap_or(80);
        let host = url.host().ok_or_else(|| {
            Error::new(
                ErrorKind::Connect,
                format!("no host to connect to in {url}"),
            )
        })?;
        let tcp = match proxy {
            None => match host {
                Host::Domain(name) => TcpStream::connect((name, port)).await,
                Host::Ipv4(ip) => TcpStream::connect(SocketAddr::from((ip, port))).await,
                Host::Ipv6(ip) => TcpStream::connect(SocketAddr::from((ip, port))).await,
            }
            .map_err(|e| {
                Error::new(
                    ErrorKind::Connect,
                    format!("cannot connect to {authority}: {e}"),
                )
            })?,
            Some(proxy) => TcpStream::connect(proxy.addr()).await.map_err(|e| {
                Error::new(
                    ErrorKind::Connect,
                    format!("cannot connect to proxy {}: {e}", proxy.authority),
                )
            })?,
        };
        let tcp = match (proxy, tls) {
            (Some(proxy), Some(_)) => {
                let target = match host {
                    Host::Ipv6(ip) => format!("[{ip}]:{port}"),
                    Host::Ipv4(ip) => format!("{ip}:{port}"),
                    Host::Domain(name) => format!("{name}:{port}"),
                };
                tunnel(tcp, &target, proxy).await?
            }
            _ => tcp,
        };
        let proxy_authorization = match (proxy, tls) {
            (Some(proxy), None) => proxy.authorization.clone(),
            _ => None,
        };
        // A request is one write: nothing to gain from holding it back.
        let _ = tcp.set_nodelay(true);
        let stream = match tls {
            None => Stream::Plain(tcp),
            Some(connector) => {
                let name = match host {
                    Host::Domain(name) => rustls::pki_types::ServerName::try_from(name.to_owned())
                        .map_err(|e| {
                            Error::new(
                                ErrorKind::Tls,
                                format!("{name} is not a TLS server name: {e}"),
                            )
                        })?,
                    Host::Ipv4(ip) => IpAddr::from(ip).into(),
                    Host::Ipv6(ip) => IpAddr::from(ip).into(),
                };
                let tls = connector.connect(name, tcp).await.map_err(|e| {
                    // rustls's own errors (a certificate refused, no common
                    // protocol) come as InvalidData; the rest are the
                    // connection's.
                    let kind = match e.kind() {
                        io::ErrorKind::InvalidData => ErrorKind::Tls,
                        _ => ErrorKind::Connect,
                    };
                    let mut message = format!("TLS handshake with {authority} failed: {e}");
                    if message.contains("CaUsedAsEndEntity") {
                        message.push_str(CA_AS_LEAF_HINT);
                    }
                    Error::new(kind, message)
                })?;
                Stream::Tls(Box::new(tls))
            }
        };
        Ok(Opened {
            stream,
            tls: tls.is_some(),
            proxy_authorization,
        })
    }
}

impl Conn {
    /// An HTTP/1.1 connection over `opened`; `authority` is what the pool
    /// will know it by.
    pub fn new(opened: Opened, authority: &str) -> Conn {
        Conn {
            stream: opened.stream,
            buf: Vec::with_capacity(BUFFER),
            start: 0,
            out: Vec::with_capacity(256),
            tls: opened.tls,
            authority: authority.into(),
            proxy_authorization: opened.proxy_authorization,
        }
    }

    /// `true` when nothing waits to be read on this idle connection: no
    /// bytes the server sent after its last answer ended, no end of stream.
    /// One non-blocking read attempt (TLS records that carry no data, such
    /// as session tickets, are consumed by it and leave it quiet).
    pub fn is_quiet(&mut self) -> bool {
        let mut cx = Context::from_waker(std::task::Waker::noop());
        let mut probe = [0u8; 1];
        let mut probe = ReadBuf::new(&mut probe);
        matches!(
            Pin::new(&mut self.stream).poll_read(&mut cx, &mut probe),
            Poll::Pending
        )
    }

    pub fn is_to(&self, tls: bool, authority: &str) -> bool {
        self.tls == tls && &*self.authority == authority
    }

    /// Writes a GET for `target` with `headers` (and `Host: host`, unless
    /// they have one), or the request `payload` describes, then reads the
    /// answer's head.
    pub async fn exchange(
        &mut self,
        target: &str,
        host: &str,
        headers: &HeaderMap,
        payload: Option<&Payload>,
        keep_fields: bool,
    ) -> Result<Head, Error> {
        self.out.clear();
        let proxy_auth = self.proxy_authorization.as_ref();
        encode(&mut self.out, target, host, headers, payload, proxy_auth);
        let sent = async {
            self.stream.write_all(&self.out).await?;
            self.stream.flush().await
        };
        sent.await
            .map_err(|e| Error::unanswered(format!("connection lost sending the request: {e}")))?;
        let mut head = self.read_head(keep_fields).await?;
        if payload::bodiless(payload) {
            // The answer to a HEAD has no body, whatever its length says.
            head.framing = Framing::Empty;
        }
        Ok(head)
    }

    async fn read_head(&mut self, keep_fields: bool) -> Result<Head, Error> {
        let mut answered = false;
        loop {
            match head::parse_keeping(&self.buf[self.start..], keep_fields) {
                Ok(Parsed::Head(head, len)) => {
                    self.start += len;
                    return Ok(head);
                }
                Ok(Parsed::Informational(len)) => {
                    self.start += len;
                    continue;
                }
                Ok(Parsed::Partial) => {}
                Err(head::Invalid(e)) => return Err(Error::new(ErrorKind::Protocol, e)),
            }
            let lost = |what: String| match answered {
                false => Error::unanswered(format!("{what} before any answer")),
                true => Error::new(
                    ErrorKind::Lost,
                    format!("{what} in the middle of the answer's head"),
                ),
            };
            match self.fill().await {
                Ok(0) => return Err(lost("connection closed".to_owned())),
                Ok(_) => answered = true,
                Err(e) => return Err(lost(format!("connection lost ({e})"))),
            }
        }
    }

    /// The unconsumed bytes.
    pub fn buffered(&self) -> &[u8] {
        &self.buf[self.start..]
    }

    /// Where the unconsumed bytes start in the buffer.
    pub fn position(&self) -> usize {
        self.start
    }

    /// Bytes of the buffer, consumed or not.
    pub fn read(&self, range: std::ops::Range<usize>) -> &[u8] {
        &self.buf[range]
    }

    pub fn consume(&mut self, n: usize) {
        self.start += n;
    }

    /// Reads more bytes after those buffered: how many (0 at the end of
    /// the stream).
    pub async fn fill(&mut self) -> io::Result<usize> {
        if self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        } else if self.start > 0 && self.buf.capacity() - self.buf.len() < MIN_READ {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.reserve(MIN_READ);
        self.stream.read_buf(&mut self.buf).await
    }

    /// Readies the connection for another request: `false` if bytes are
    /// left unread (it cannot be reused); else the buffer is emptied, and
    /// back to its usual size if a large head grew it.
    pub fn reset_for_reuse(&mut self) -> bool {
        if self.start != self.buf.len() {
            return false;
        }
        self.buf.clear();
        self.start = 0;
        if self.buf.capacity() > 4 * BUFFER {
            self.buf = Vec::with_capacity(BUFFER);
        }
        true
    }
}

/// Asks `proxy`, on `tcp`, for a tunnel to `target` (`host:port`), and
/// returns the stream once the proxy said yes (any 2xx).
async fn tunnel(mut tcp: TcpStream, target: &str, proxy: &Proxy) -> Result<TcpStream, Error> {
    let at = &proxy.authority;
    let mut request = format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n").into_bytes();
    if let Some(auth) = &proxy.authorization {
        request.extend_from_slice(b"Proxy-Authorization: ");
        request.extend_from_slice(auth.as_bytes());
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"\r\n");
    let lost = |e: io::Error| {
        Error::new(
            ErrorKind::Connect,
            format!("proxy {at}: connection lost asking for a tunnel to {target}: {e}"),
        )
    };
    tcp.write_all(&request).await.map_err(lost)?;
    let mut buf = Vec::with_capacity(1024);
    loop {
        match head::parse(&buf) {
            Ok(Parsed::Head(head, len)) => {
                if !(200..300).contains(&head.status) {
                    let hint = match head.status {
                        407 => " (it wants credentials: give them in the proxy URL, http://user:password@host:port)",
                        _ => "",
                    };
                    return Err(Error::new(
                        ErrorKind::Proxy,
                        format!(
                            "proxy {at} refused a tunnel to {target}: {}{hint}",
                            head.status
                        ),
                    ));
                }
                if len != buf.len() {
                    return Err(Error::new(
                        ErrorKind::Proxy,
                        format!("proxy {at} sent bytes after its answer to CONNECT {target}"),
                    ));
                }
                return Ok(tcp);
            }
            Ok(Parsed::Informational(len)) => {
                buf.drain(..len);
                continue;
            }
            Ok(Parsed::Partial) => {}
            Err(head::Invalid(e)) => {
                return Err(Error::new(
                    ErrorKind::Proxy,
                    format!("proxy {at} answered CONNECT {target} with {e}"),
                ))
            }
        }
        buf.reserve(1024);
        if tcp.read_buf(&mut buf).await.map_err(lost)? == 0 {
            return Err(Error::new(
                ErrorKind::Proxy,
                format!("proxy {at} closed the connection before answering CONNECT {target}"),
            ));
        }
    }
}

/// A request's head: `METHOD target HTTP/1.1`, `Host` (unless a field
/// names one), the run's `headers` with `payload`'s own over them, and
/// `Proxy-Authorization` when given.
///
/// Names and values come from a `HeaderMap`, which holds no CR or LF, so
/// nothing here can split the head.
fn encode(
    out: &mut Vec<u8>,
    target: &str,
    authority: &str,
    headers: &HeaderMap,
    payload: Option<&Payload>,
    proxy_authorization: Option<&http::HeaderValue>,
) {
    out.extend_from_slice(payload::method(payload).as_bytes());
    out.push(b' ');
    out.extend_from_slice(target.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    let host_given = headers.contains_key(http::header::HOST)
        || payload.is_some_and(|p| p.headers().contains_key(http::header::HOST));
    if !host_given {
        out.extend_from_slice(b"Host: ");
        out.extend_from_slice(authority.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    for (name, value) in payload::fields(headers, payload) {
        // The body's framing is this client's to say.
        if payload.is_some()
            && (name == http::header::CONTENT_LENGTH || name == http::header::TRANSFER_ENCODING)
        {
            continue;
        }
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if let Some(value) = proxy_authorization {
        out.extend_from_slice(b"Proxy-Authorization: ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    let body = payload.and_then(Payload::body);
    // A body, or a method that has one (a POST with none says 0, as RFC
    // 9110 section 8.6 asks).
    let framed = body.is_some()
        || payload.is_some_and(|p| matches!(p.method().as_str(), "POST" | "PUT" | "PATCH"));
    if framed {
        out.extend_from_slice(b"Content-Length: ");
        out.extend_from_slice(body.map_or(0, |b| b.len()).to_string().as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    if let Some(body) = body {
        out.extend_from_slice(body);
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::header::{HeaderName, HeaderValue};

    #[test]
    fn a_get_has_host_then_the_given_headers() {
        let mut headers = HeaderMap::new();
        headers.insert(
            HeaderName::from_static("user-agent"),
            HeaderValue::from_static("gather"),
        );
        let mut out = Vec::new();
        encode(&mut out, "/a?b", "h.test:81", &headers, None, None);
        assert_eq!(
            out,
            b"GET /a?b HTTP/1.1\r\nHost: h.test:81\r\nuser-agent: gather\r\n\r\n"
        );
        headers.insert(http::header::HOST, HeaderValue::from_static("other.test"));
        out.clear();
        encode(&mut out, "/", "h.test", &headers, None, None);
        assert_eq!(
            out,
            b"GET / HTTP/1.1\r\nuser-agent: gather\r\nhost: other.test\r\n\r\n"
        );
    }

    #[test]
    fn a_post_carries_its_length_and_body_and_only_its_own_framing() {
        let mut headers = HeaderMap::new();
        headers.insert(
            http::header::CONTENT_LENGTH,
            HeaderValue::from_static("999"),
        );
        headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        let post = Payload::new(
            "POST",
            HeaderMap::new(),
            Some(bytes::Bytes::from_static(b"{\"a\":1}")),
        )
        .unwrap();
        let mut out = Vec::new();
        encode(&mut out, "/v1", "h.test", &headers, Some(&post), None);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "POST /v1 HTTP/1.1\r\nHost: h.test\r\ncontent-type: application/json\r\nContent-Length: 7\r\n\r\n{\"a\":1}"
        );
        let empty = Payload::new("POST", HeaderMap::new(), None).unwrap();
        let mut out = Vec::new();
        encode(
            &mut out,
            "/",
            "h.test",
            &HeaderMap::new(),
            Some(&empty),
            None,
        );
        assert!(out.ends_with(b"Content-Length: 0\r\n\r\n"));
        let delete = Payload::new("DELETE", HeaderMap::new(), None).unwrap();
        let mut out = Vec::new();
        encode(
            &mut out,
            "/x",
            "h.test",
            &HeaderMap::new(),
            Some(&delete),
            None,
        );
        assert_eq!(out, b"DELETE /x HTTP/1.1\r\nHost: h.test\r\n\r\n");
    }
}
