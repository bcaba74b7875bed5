//! The HTTP client under `gather fetch`: GET, or any method with a body
//! ([`Payload`]); HTTP/1.1 over keep-alive
//! connections pooled per origin, HTTP/2 over one connection per origin;
//! HTTPS by rustls.
//!
//! Why not hyper, which this crate used before: measured against a local
//! nginx on this project's 2-core machine, hyper's pooled client spent
//! ~5.4 µs of user CPU per request, where a plain loop over a tokio socket
//! with `httparse` spent ~1.4; with the server sharing the cores, that was
//! the difference between 0.6x and 0.8x of wrk's rate. A fetch tool needs
//! requests of a known size, no upgrades: what is left is reading an
//! answer correctly, and that is the part written with care here, in
//! pieces that are tested on their own:
//!
//! - `head`: the status line and fields (`httparse`), and what they decide
//!   (RFC 9112 section 6.3): where the body ends, whether the connection is
//!   reused. Informational answers are skipped; malformed lengths are errors.
//! - `body`: a decoder without I/O for `Content-Length`, chunked (sizes,
//!   extensions, trailers, each bounded) and close-delimited bodies.
//! - `conn`: a transport (TCP, TLS, a proxy's tunnel), and an HTTP/1.1
//!   connection over it: its buffer and the request it writes.
//! - `http2`: HTTP/2 on the `h2` crate (hyper's own): framing, HPACK and
//!   flow control are not written here, only what a fetch tool decides
//!   above them (which requests to send again after GOAWAY or a refused
//!   stream).
//! - `origin`: per origin, the protocol it speaks (ALPN decides, once,
//!   for the first request), its HTTP/2 connection, `--per-host`, the
//!   rates and a `Retry-After` pause.
//! - `pool`: idle HTTP/1.1 connections, capped in total.
//! - `payload`: a method, fields and a body, and whether a request may be
//!   sent again (RFC 9110 section 9.2.2).
//!
//! A connection goes back to the pool only when its answer was read to the
//! end and said nothing against reuse; dropping a [`Body`] part-way (a
//! timeout, a cancelled run) closes it (resets its HTTP/2 stream). A
//! pooled connection the server has closed meanwhile is noticed when the
//! request on it gets no answer at all, and that request is sent again
//! once on a new connection if it may be (a GET, or any idempotent
//! request), as browsers do; a POST is not: it may have been processed.

mod auth;
pub(crate) mod body;
mod conn;
mod error;
pub(crate) mod head;
mod http2;
pub(crate) mod origin;
mod pacing;
mod payload;
mod pool;
pub(crate) mod proxy;
pub(crate) mod ratelimit;
mod target;
pub(crate) mod window;

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use http::HeaderMap;
use url::{Position, Url};

pub(crate) use auth::{basic_auth, has_credentials};
use body::{Decoded, Decoder};
use conn::{Conn, Opened};
pub use error::{Error, ErrorKind};
pub use head::{Head, Version};
use http2::Unanswered;
use origin::Origins;
pub use origin::{PerHost, Politeness, Turn, WindowLog};
pub use payload::{header_field, BodyField, Payload, MAX_TOKENS_FIELDS};
pub(crate) use payload::{resendable, weight};
use pool::Pool;
pub use proxy::Proxies;
pub(crate) use target::request_target;
pub use window::{Move as WindowMove, Status as WindowStatus, Why as WindowWhy};

/// Which HTTP versions the client speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Versions {
    /// HTTP/2 where a TLS handshake agrees on it (ALPN), else HTTP/1.1.
    Negotiate,
    /// HTTP/1.1 only (`--http1.1`).
    Http1Only,
    /// As `Negotiate`, and HTTP/2 without asking on plain-text
    /// connections (`--http2-prior-knowledge`, "h2c").
    PriorKnowledge,
}

/// Sends requests over HTTP/1.1 connections pooled per origin, or over one
/// HTTP/2 connection per origin.
pub struct Client {
    pool: Pool,
    /// ALPN offering only `http/1.1`.
    tls_h1: tokio_rustls::TlsConnector,
    /// ALPN offering `h2`, then `http/1.1`.
    tls_any: tokio_rustls::TlsConnector,
    versions: Versions,
    origins: Origins,
    proxies: Proxies,
    /// Keep every field of each answer's head ([`Head::fields`]).
    keep_fields: bool,
    /// The run's limit.
    limit: usize,
    window_log: Option<WindowLog>,
}

/// How many times one request is sent again, inside one attempt, after an
/// HTTP/2 server said it did not process it.
const UNPROCESSED_RESENDS: u32 = 3;

/// How many times one request is sent again on a new connection, inside
/// one attempt, after gather closed the connection over another stream's
/// frame (as curl and nghttp2 do: a server that broke HTTP/2 once is not
/// trusted to do better on the next connection; more is `--retries`').
const DECLARED_RESENDS: u32 = 1;

impl Client {
    /// A client trusting what `tls` trusts, for a run of at most `limit`
    /// requests at once: it keeps at most `limit` idle HTTP/1.1
    /// connections, and an origin's adaptive window grows to `limit` at
    /// most (and to `window::MOST`).
    pub fn new(tls: rustls::ClientConfig, limit: usize) -> Client {
        let mut h1 = tls.clone();
        h1.alpn_protocols = vec![b"http/1.1".to_vec()];
        let mut any = tls;
        any.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Client {
            pool: Pool::new(limit),
            limit,
            tls_h1: tokio_rustls::TlsConnector::from(Arc::new(h1)),
            tls_any: tokio_rustls::TlsConnector::from(Arc::new(any)),
            versions: Versions::Negotiate,
            origins: Origins::new(Politeness::NONE, limit),
            proxies: Proxies::none(),
            keep_fields: false,
            window_log: None,
        }
    }

    /// The same client, keeping every header field of each answer in
    /// [`Head::fields`] (by default only those it acts on are read).
    pub fn with_header_fields(mut self, keep: bool) -> Client {
        self.keep_fields = keep;
        self
    }

    /// The same client, sending each URL through the proxy `proxies`
    /// choose for it.
    pub fn with_proxies(mut self, proxies: Proxies) -> Client {
        self.proxies = proxies;
        self
    }

    /// The same client, speaking `versions`.
    pub fn with_versions(mut self, versions: Versions) -> Client {
        self.versions = versions;
        self
    }

    /// The same client, holding to `rules` per origin and overall.
    pub fn with_politeness(mut self, rules: Politeness) -> Client {
        self.origins = Origins::new(rules, self.limit).with_log(self.window_log.clone());
        self
    }

    /// The same client, telling `log` when an origin's window moves (set
    /// before [`with_politeness`](Client::with_politeness)).
    pub fn with_window_log(mut self, log: Option<WindowLog>) -> Client {
        self.window_log = log;
        self
    }

    /// The adaptive windows of the origins it has requests to, busiest
    /// first.
    pub fn windows(&self) -> Vec<(String, WindowStatus)> {
        self.origins.windows()
    }

    /// `url`'s origin failed a request as an overloaded server fails (a
    /// connection refused or reset, a timeout): its window halves.
    pub fn overloaded(&self, url: &Url) {
        if let Ok((tls, authority, may_h2)) = self.route(url) {
            self.origins.overloaded(tls, authority, may_h2);
        }
    }

    /// The origin a request for `url` goes to (`None` for a URL it cannot
    /// request): what a run's dispatch groups requests by.
    pub fn origin(&self, url: &Url) -> Option<Arc<origin::Origin>> {
        let (tls, authority, may_h2) = self.route(url).ok()?;
        Some(self.origins.origin(tls, authority, may_h2))
    }

    /// Where a request for `url` goes: over TLS or not, the origin's
    /// `host:port`, and whether it could be HTTP/2.
    fn route<'u>(&self, url: &'u Url) -> Result<(bool, &'u str, bool), Error> {
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
        // A plain request through a proxy is HTTP/1.1 to the proxy; https
        // through one is a tunnel to the origin, like a direct connection.
        let may_h2 = match (self.versions, tls) {
            (Versions::Http1Only, _) => false,
            (_, true) => true,
            (Versions::PriorKnowledge, false) => self.proxies.for_url(url).is_none(),
            (Versions::Negotiate, false) => false,
        };
        Ok((tls, authority, may_h2))
    }

    /// Waits for `url`'s turn: `--per-host`, `--rate`, `--rate-per-host`
    /// and a host's `Retry-After`. What it returns is given to
    /// [`get`](Client::get), which holds it until the body is read.
    /// `weight`: the request's tokens, for the budgets that count them
    /// ([`Payload::weight`]).
    pub async fn turn(&self, url: &Url, weight: u32) -> Result<Turn, Error> {
        let (tls, authority, may_h2) = self.route(url)?;
        match self.origins.turn_now(tls, authority, may_h2, weight) {
            Ok(turn) => Ok(turn),
            // Boxed: the waits' state (a permit, a lock, a timer) is only
            // needed when a request must wait, and inline it would be part
            // of every request's future.
            Err(origin) => Ok(Box::pin(self.origins.turn_at(origin, weight)).await),
        }
    }

    /// Holds every request to `url`'s origin for `wait` (its server said
    /// `Retry-After`).
    pub fn pause(&self, url: &Url, wait: Duration) {
        if let Ok((tls, authority, may_h2)) = self.route(url) {
            // With the origin's own `may_h2`: an entry swept meanwhile is
            // made again as `turn` would make it.
            self.origins.pause(tls, authority, may_h2, wait);
        }
    }

    /// Sends a GET for `url` (http or https) with `headers`, and reads the
    /// answer's head; the body is read from the [`Response`]. `turn` is
    /// `url`'s, from [`turn`](Client::turn): its origin says where the
    /// request goes (the URL is not taken apart twice).
    ///
    /// # Cancel safety
    ///
    /// Dropping the future closes the HTTP/1.1 connection it was using, or
    /// resets its HTTP/2 stream; the pool only ever holds connections with
    /// nothing in flight.
    //
    // A plain fn returning an async block: an async fn keeps its arguments
    // twice in its state, and every request's future holds this one.
    #[allow(clippy::manual_async_fn)]
    pub fn get<'c: 'r, 'r>(
        &'c self,
        url: &'r Url,
        headers: &'r HeaderMap,
        turn: Turn,
    ) -> impl std::future::Future<Output = Result<Response<'c>, Error>> + Send + 'r {
        self.send(url, headers, None, turn)
    }

    /// [`get`](Client::get), or the request `payload` describes (its
    /// method and body; its fields are the caller's to merge into
    /// `headers`). A request that may not be sent twice
    /// ([`Payload::resendable`]) is not sent again when a pooled
    /// connection closes under it.
    ///
    /// # Cancel safety
    ///
    /// As [`get`](Client::get).
    #[allow(clippy::manual_async_fn)]
    pub fn send<'c: 'r, 'r>(
        &'c self,
        url: &'r Url,
        headers: &'r HeaderMap,
        payload: Option<&'r Payload>,
        turn: Turn,
    ) -> impl std::future::Future<Output = Result<Response<'c>, Error>> + Send + 'r {
        async move {
            // `turn` was taken for `url`: its origin says where it goes.
            let (tls, may_h2) = (turn.origin.is_tls(), turn.origin.may_h2());
            // Unless the origin is known to speak only HTTP/1.1: its
            // protocol may be unknown again (its HTTP/2 connection went
            // away since this turn was taken), and then this request waits
            // for the next connection like the others.
            if may_h2 && !turn.origin.is_http1() {
                // Boxed: the HTTP/2 path and the probe's connect are over a
                // kilobyte, and inline they would be part of every HTTP/1.1
                // request's future too.
                return Box::pin(self.send_h2(url, headers, payload, turn)).await;
            }
            let authority = turn.origin.authority();
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
                match conn
                    .exchange(&target, authority, headers, payload, self.keep_fields)
                    .await
                {
                    Ok(head) => return Ok(self.response(conn, head, turn)),
                    // Closed by the server while idle: try a new connection,
                    // unless the request may have been processed.
                    Err(e) if e.unanswered && payload::resendable(payload) => {}
                    Err(e) => return Err(not_sent_again(e, payload)),
                }
            }
            let connector = tls.then_some(&self.tls_h1);
            // Boxed: the connect and TLS handshake state is over a kilobyte,
            // and inline it would be part of (and copied with) every request's
            // future, though most requests take a pooled connection instead.
            let opened =
                Box::pin(Opened::connect(url, connector, &key, proxy.map(|p| &**p))).await?;
            let mut conn = Conn::new(opened, &key);
            let head = conn
                .exchange(&target, authority, headers, payload, self.keep_fields)
                .await
                .map_err(|e| not_sent_again(e, payload))?;
            Ok(self.response(conn, head, turn))
        }
    }

    /// [`send`](Client::send) to an origin that speaks HTTP/2 or may: over
    /// its connection, opening it first if this request is the probe (or
    /// the last one went away). An origin that turns out to speak only
    /// HTTP/1.1 is answered over the connection the probe opened.
    async fn send_h2(
        &self,
        url: &Url,
        headers: &HeaderMap,
        payload: Option<&Payload>,
        mut turn: Turn,
    ) -> Result<Response<'_>, Error> {
        let origin = turn.origin.clone();
        let authority = origin.authority();
        let uri: http::Uri = format!("{}://{authority}{}", url.scheme(), request_target(url))
            .parse()
            .map_err(|e| Error::new(ErrorKind::Protocol, format!("{url}: {e}")))?;
        let tls = origin.is_tls();
        let mut resends = 0;
        let mut declared = 0;
        let mut gone: Option<Arc<http2::Connection>> = None;
        loop {
            let current = turn
                .origin
                .http2()
                .filter(|c| !gone.as_ref().is_some_and(|g| Arc::ptr_eq(g, c)));
            let connection = match current {
                Some(connection) => connection,
                None => {
                    if !turn.origin.probe_failed() {
                        turn.claim_probe().await;
                    }
                    // Another request may have opened the next one while
                    // this one waited.
                    if let Some(c) = turn.origin.http2() {
                        if !gone.as_ref().is_some_and(|g| Arc::ptr_eq(g, &c)) {
                            turn.end_probe();
                            gone = None;
                            continue;
                        }
                    }
                    let proxy = self.proxies.for_url(url);
                    let connector = tls.then_some(&self.tls_any);
                    let opened =
                        Opened::connect(url, connector, authority, proxy.map(|p| &**p)).await?;
                    if tls && !opened.stream.negotiated_h2() {
                        // The server chose HTTP/1.1: so be it, from now on.
                        turn.origin.set_http1();
                        turn.hold(false).await;
                        turn.end_probe();
                        let mut conn = Conn::new(opened, authority);
                        let target = request_target(url);
                        let head = conn
                            .exchange(&target, authority, headers, payload, self.keep_fields)
                            .await
                            .map_err(|e| not_sent_again(e, payload))?;
                        return Ok(self.response(conn, head, turn));
                    }
                    let connection = Arc::new(http2::handshake(opened.stream, authority).await?);
                    turn.origin.set_http2(connection.clone());
                    // The others go on before this one takes its permit:
                    // after a GOAWAY, the requests sent again hold theirs
                    // while they wait for this connection.
                    turn.end_probe();
                    turn.hold(true).await;
                    connection
                }
            };
            match http2::send(&connection, uri.clone(), headers, payload, self.keep_fields).await {
                Ok((head, body)) => {
                    let length = Decoder::new(head.framing).remaining();
                    return Ok(Response {
                        head,
                        body: Body {
                            wire: Wire::H2 { body, length },
                            turn,
                        },
                    });
                }
                Err(Unanswered::ConnectionGone(e) | Unanswered::Declared(e))
                    if !payload::resendable(payload) =>
                {
                    // Lost (or closed by gather over another stream's
                    // malformed answer) after it was sent: it may have been
                    // processed.
                    turn.origin.forget_http2(&connection);
                    return Err(not_sent_again(
                        Error::new(ErrorKind::Lost, e.message),
                        payload,
                    ));
                }
                Err(Unanswered::ConnectionGone(e) | Unanswered::AboveGoaway(e)) => {
                    turn.origin.forget_http2(&connection);
                    resends += 1;
                    if resends > UNPROCESSED_RESENDS {
                        return Err(e);
                    }
                    gone = Some(connection);
                }
                Err(Unanswered::Declared(e)) => {
                    turn.origin.forget_http2(&connection);
                    declared += 1;
                    // Sent on `declared` connections so far, each closed.
                    if declared > DECLARED_RESENDS {
                        return Err(Error::new(
                            e.kind,
                            format!("{} (sent on {declared} connections)", e.message),
                        ));
                    }
                    gone = Some(connection);
                }
                Err(Unanswered::StreamRefused(e)) => {
                    resends += 1;
                    if resends > UNPROCESSED_RESENDS {
                        return Err(e);
                    }
                }
                Err(Unanswered::Failed(e)) => return Err(e),
            }
        }
    }

    fn response(&self, conn: Conn, head: Head, turn: Turn) -> Response<'_> {
        let body = Body {
            wire: Wire::H1 {
                decoder: Decoder::new(head.framing),
                keep_alive: head.keep_alive,
                conn: Some(conn),
                pool: &self.pool,
            },
            turn,
        };
        Response { head, body }
    }
}

/// An answer: its head, read; its body, to read.
pub struct Response<'c> {
    pub head: Head,
    pub body: Body<'c>,
}

impl Response<'_> {
    /// Tells its origin's pacing what the answer says of the server's
    /// budgets (the limits it announced, or none; a 429 gives the
    /// request's weight back): the requests after it are paced by it.
    /// Called once per answer, redirects and GETs included.
    pub fn answered(&self) {
        self.body
            .turn
            .answered(self.head.announced.as_deref(), self.head.status);
    }
}

/// The body of an answer, read in pieces as they arrive.
///
/// Read to the end, an HTTP/1.1 connection goes back to the pool (if the
/// answer allows); dropped before that, the connection is closed (an
/// HTTP/2 stream is reset). The request's turn is held until then.
pub struct Body<'c> {
    wire: Wire<'c>,
    turn: Turn,
}

enum Wire<'c> {
    H1 {
        conn: Option<Conn>,
        decoder: Decoder,
        keep_alive: bool,
        pool: &'c Pool,
    },
    H2 {
        body: http2::Body,
        length: Option<u64>,
    },
}

impl Body<'_> {
    /// Its length, when the answer gave one.
    pub fn length(&self) -> Option<u64> {
        match &self.wire {
            Wire::H1 { decoder, .. } => decoder.remaining(),
            Wire::H2 { length, .. } => *length,
        }
    }

    /// The next piece of the body, `None` at its end.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future is dropping a read: the body can still be
    /// dropped (closing the connection) but its bytes may be lost, so read
    /// on only if it was not cancelled.
    pub async fn chunk(&mut self) -> Result<Option<&[u8]>, Error> {
        let (conn, decoder, keep_alive, pool) = match &mut self.wire {
            Wire::H2 { body, .. } => return body.chunk().await,
            Wire::H1 {
                conn,
                decoder,
                keep_alive,
                pool,
            } => (conn, decoder, *keep_alive, *pool),
        };
        let (start, end) = loop {
            let Some(c) = conn.as_mut() else {
                return Ok(None);
            };
            let (used, step) = decoder
                .decode(c.buffered())
                .map_err(|e| Error::new(ErrorKind::Body, e.to_string()))?;
            match step {
                Decoded::Data { start, end } => {
                    let at = c.position();
                    c.consume(used);
                    break (at + start, at + end);
                }
                Decoded::Done => {
                    c.consume(used);
                    finish(conn, keep_alive, pool);
                    return Ok(None);
                }
                Decoded::More => {
                    c.consume(used);
                    let read = c.fill().await.map_err(|e| {
                        Error::new(
                            ErrorKind::Body,
                            format!("connection lost during the body: {e}"),
                        )
                    })?;
                    if read == 0 {
                        decoder
                            .end_of_stream()
                            .map_err(|e| Error::new(ErrorKind::Body, e.to_string()))?;
                        finish(conn, keep_alive, pool);
                        return Ok(None);
                    }
                }
            }
        };
        // Taken out of the loop: a slice returned from inside it would hold
        // the borrow of `conn` across the loop's other iterations.
        let c = conn.as_ref().expect("set while reading");
        Ok(Some(c.read(start..end)))
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
}

/// Locks `m` for the client's modules: a panic elsewhere while it was held
/// leaves state that is still whole (every update under these locks is
/// one assignment or one push or pop).
fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// An HTTP/1.1 body is complete: its connection goes back to the pool if
/// the answer allows.
fn finish(conn: &mut Option<Conn>, keep_alive: bool, pool: &Pool) {
    if let Some(mut c) = conn.take() {
        if keep_alive && c.reset_for_reuse() {
            pool.put(c);
        }
    }
}

/// `e`, a connection lost under a request that may not be sent twice,
/// with words saying why it was not sent again.
fn not_sent_again(mut e: Error, payload: Option<&Payload>) -> Error {
    if e.kind == ErrorKind::Lost && !payload::resendable(payload) {
        e.message = format!(
            "{} (a {} is not sent again once written: it may have been processed; \
             an Idempotency-Key field allows it)",
            e.message,
            payload::method(payload)
        );
        e.unanswered = false;
    }
    e
}
