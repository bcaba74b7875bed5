//! The fault server's HTTP/2 side: h2c with prior knowledge on 127.0.0.1,
//! or HTTP/2 over any stream a caller accepted (a TLS stream whose ALPN
//! chose `h2`), with the faults a client must survive: a stream limit, a
//! `GOAWAY` after so many streams, streams refused with `REFUSED_STREAM`,
//! and bodies larger than a flow-control window. It counts what a test
//! checks: connections, streams at once (the most ever open), streams
//! refused, and how many times each path was answered.
//!
//! Built on the `h2` crate's server, as the client is on its client: no
//! framing is written here.
//!
//! Routes: `/page/N` (a small page; `?delay_ms=` holds it, and
//! `?body_delay_ms=` holds its body after the head is sent), `/big?bytes=N`
//! (N bytes, sent as the client's window allows), `/status/N`,
//! `/encoded/CODING` (the [`fixtures`](crate::fixtures) page in `gzip`,
//! `deflate`, `br` or `zstd`), `/redirect/N` (N redirects, then
//! `/page/0`), `/limited/KEY` (429 with `Retry-After: 1`, every time).
//! Started with [`Http2Server::start_api`], every path under `/v1/` is
//! the rate-limited API of [`api`](crate::api), as the HTTP/1.1 server's
//! is: providers serve theirs over HTTP/2, where many requests share one
//! connection and a client's pacing cannot lean on its connection count.

use std::collections::{HashMap, HashSet};
use std::future::{poll_fn, Future};
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use h2::server::SendResponse;
use h2::{Reason, SendStream};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// What the server does wrong, on purpose.
#[derive(Debug, Clone, Copy)]
pub struct Faults {
    /// `SETTINGS_MAX_CONCURRENT_STREAMS`.
    pub max_concurrent_streams: u32,
    /// After this many streams on one connection, a graceful `GOAWAY` (as
    /// nginx sends at `keepalive_requests`): the streams in flight are
    /// answered, and the client must open a new connection for the rest.
    pub goaway_after: Option<u64>,
    /// After this many streams on the server's first connection, an
    /// abrupt `GOAWAY` naming the last stream accepted, and the connection
    /// closes: the streams the client sent after it were not processed,
    /// and those still being answered are cut; all must be sent again.
    pub abrupt_goaway_after: Option<u64>,
    /// Every Nth stream of the server (counted over all connections) is
    /// reset with `REFUSED_STREAM` before it is processed, unless its
    /// target was refused before: each target is refused at most once, so
    /// a client that sends it again gets its answer.
    pub refuse_every: Option<u64>,
}

impl Default for Faults {
    fn default() -> Faults {
        Faults {
            max_concurrent_streams: 100,
            goaway_after: None,
            abrupt_goaway_after: None,
            refuse_every: None,
        }
    }
}

/// What the server counted.
#[derive(Default)]
pub struct Stats {
    connections: AtomicU64,
    streams: AtomicU64,
    open: AtomicU64,
    peak: AtomicU64,
    refused: AtomicU64,
    refused_targets: Mutex<HashSet<String>>,
    answered: Mutex<HashMap<String, u64>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Stats {
    /// HTTP/2 connections opened (handshakes completed).
    pub fn connections(&self) -> u64 {
        self.connections.load(Ordering::SeqCst)
    }

    /// Streams received, refused ones included.
    pub fn streams(&self) -> u64 {
        self.streams.load(Ordering::SeqCst)
    }

    /// The most streams ever being answered at once, over all connections.
    pub fn peak_streams(&self) -> u64 {
        self.peak.load(Ordering::SeqCst)
    }

    /// Streams reset with `REFUSED_STREAM`.
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::SeqCst)
    }

    /// How many times each path (with its query) was answered.
    pub fn answered(&self) -> HashMap<String, u64> {
        self.answered
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// An h2c server on 127.0.0.1; stops (closing every connection) when
/// dropped.
pub struct Http2Server {
    addr: SocketAddr,
    /// The accept loop, when the server has a listener of its own.
    accept: Option<JoinHandle<()>>,
    shared: Arc<Shared>,
}

struct Shared {
    faults: Faults,
    stats: Stats,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    api: Option<crate::api::Api>,
}

impl Http2Server {
    /// Starts an h2c (prior knowledge) server on `127.0.0.1:0`. Must be
    /// called inside a tokio runtime.
    pub async fn start(faults: Faults) -> io::Result<Http2Server> {
        Http2Server::listen(Shared::new(faults, None)).await
    }

    /// Starts an h2c server whose `/v1/` paths are the rate-limited API
    /// `limits` describe (see [`api`](crate::api)); the other paths are
    /// as [`start`](Http2Server::start)'s.
    pub async fn start_api(limits: crate::api::ApiLimits) -> io::Result<Http2Server> {
        Http2Server::listen(Shared::new(
            Faults::default(),
            Some(crate::api::Api::new(limits)),
        ))
        .await
    }

    /// What the API counted (zeros for a server without one).
    pub fn api_stats(&self) -> crate::api::ApiStats {
        self.shared
            .api
            .as_ref()
            .map(crate::api::Api::stats)
            .unwrap_or_default()
    }

    async fn listen(shared: Arc<Shared>) -> io::Result<Http2Server> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let s = shared.clone();
        let accept = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let _ = stream.set_nodelay(true);
                s.spawn(serve(stream, s.clone()));
            }
        });
        Ok(Http2Server {
            addr,
            accept: Some(accept),
            shared,
        })
    }

    /// A server with `faults` that serves only the streams given to
    /// [`serve`](Http2Server::serve) (its address is unused).
    pub fn without_listener(faults: Faults) -> Http2Server {
        Http2Server {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            accept: None,
            shared: Shared::new(faults, None),
        }
    }

    /// Speaks HTTP/2 on `io` (a stream already accepted, e.g. TLS with
    /// ALPN `h2`), with this server's faults and counts.
    pub fn serve<T>(&self, io: T)
    where
        T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        self.shared.spawn(serve(io, self.shared.clone()));
    }

    /// `http://127.0.0.1:PORT` followed by `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// What the server counted so far.
    pub fn stats(&self) -> &Stats {
        &self.shared.stats
    }
}

impl Shared {
    fn new(faults: Faults, api: Option<crate::api::Api>) -> Arc<Shared> {
        Arc::new(Shared {
            faults,
            stats: Stats::default(),
            tasks: Mutex::new(Vec::new()),
            api,
        })
    }

    fn spawn(&self, task: impl std::future::Future<Output = ()> + Send + 'static) {
        let mut tasks = self.tasks.lock().unwrap_or_else(|e| e.into_inner());
        tasks.retain(|t| !t.is_finished());
        tasks.push(tokio::spawn(task));
    }
}

impl Drop for Http2Server {
    fn drop(&mut self) {
        if let Some(accept) = &self.accept {
            accept.abort();
        }
        let mut tasks = self.shared.tasks.lock().unwrap_or_else(|e| e.into_inner());
        for task in tasks.drain(..) {
            task.abort();
        }
    }
}

/// How long a `/page` is held at most (`delay_ms`).
const MAX_DELAY: Duration = Duration::from_secs(60);

async fn serve<T>(io: T, shared: Arc<Shared>)
where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let faults = shared.faults;
    let handshake = h2::server::Builder::new()
        .max_concurrent_streams(faults.max_concurrent_streams)
        .handshake::<_, Bytes>(io);
    let Ok(Ok(mut connection)) = tokio::time::timeout(Duration::from_secs(10), handshake).await
    else {
        return;
    };
    let first = shared.stats.connections.fetch_add(1, Ordering::SeqCst) == 0;
    let mut on_this_connection = 0u64;
    while let Some(accepted) = connection.accept().await {
        let Ok((request, mut respond)) = accepted else {
            break;
        };
        let n = shared.stats.streams.fetch_add(1, Ordering::SeqCst) + 1;
        on_this_connection += 1;
        let target = request
            .uri()
            .path_and_query()
            .map_or("/".to_owned(), |p| p.as_str().to_owned());
        if faults.refuse_every.is_some_and(|k| n.is_multiple_of(k))
            && lock(&shared.stats.refused_targets).insert(target.clone())
        {
            shared.stats.refused.fetch_add(1, Ordering::SeqCst);
            respond.send_reset(Reason::REFUSED_STREAM);
            continue;
        }
        let (parts, body) = request.into_parts();
        if shared.api.is_some() && target.starts_with("/v1/") {
            shared.spawn(answer_api(target, parts, body, respond, shared.clone()));
        } else {
            let echo = (parts.method.to_string(), body);
            shared.spawn(answer(target, echo, respond, shared.clone()));
        }
        if faults.goaway_after == Some(on_this_connection) {
            connection.graceful_shutdown();
        }
        if first && faults.abrupt_goaway_after == Some(on_this_connection) {
            connection.abrupt_shutdown(Reason::NO_ERROR);
        }
    }
    // The answers still being sent need the connection driven.
    let _ = poll_fn(|cx| connection.poll_closed(cx)).await;
}

/// Counts a stream as being answered until its last frame is queued:
/// after that the client may open the next, and this one must not count.
struct OpenStream<'a>(&'a Stats);

impl<'a> OpenStream<'a> {
    fn new(stats: &'a Stats) -> OpenStream<'a> {
        let open = stats.open.fetch_add(1, Ordering::SeqCst) + 1;
        stats.peak.fetch_max(open, Ordering::SeqCst);
        OpenStream(stats)
    }
}

impl Drop for OpenStream<'_> {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn answer(
    target: String,
    (method, mut request_body): (String, h2::RecvStream),
    mut respond: SendResponse<Bytes>,
    shared: Arc<Shared>,
) {
    let stats = &shared.stats;
    let mut open = Some(OpenStream::new(stats));
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let param = |key: &str| {
        query
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .find(|(k, _)| *k == key)
            .and_then(|(_, v)| v.parse::<u64>().ok())
    };
    if let Some(ms) = param("delay_ms") {
        let mut delay =
            std::pin::pin!(tokio::time::sleep(Duration::from_millis(ms).min(MAX_DELAY)));
        // A stream the client reset, or whose connection closed, while it
        // was held is no longer open: it is not counted on.
        let reset = poll_fn(|cx| {
            if respond.poll_reset(cx).is_ready() {
                return std::task::Poll::Ready(true);
            }
            delay.as_mut().poll(cx).map(|()| false)
        })
        .await;
        if reset {
            return;
        }
    }
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let mut extra: Option<(&str, String)> = None;
    let (status, body) = match parts.as_slice() {
        ["echo"] => {
            // The method, then the request's body as it came.
            let mut echoed = format!("{method}\n").into_bytes();
            while let Some(Ok(data)) = request_body.data().await {
                let _ = request_body.flow_control().release_capacity(data.len());
                echoed.extend_from_slice(&data);
            }
            (200, Bytes::from(echoed))
        }
        ["page", n] => (
            200,
            Bytes::from(format!(
                "<!doctype html><title>page {n}</title><p>This is page {n}.</p>\n"
            )),
        ),
        ["encoded", coding] => {
            use crate::fixtures::*;
            let (name, body) = match *coding {
                "gzip" => ("gzip", PAGE_GZIP),
                "br" => ("br", PAGE_BROTLI),
                "zstd" => ("zstd", PAGE_ZSTD),
                _ => ("deflate", PAGE_ZLIB),
            };
            extra = Some(("content-encoding", name.to_owned()));
            (200, Bytes::from_static(body))
        }
        ["redirect", n] => {
            let n: u32 = n.parse().unwrap_or(0);
            let to = match n {
                0 | 1 => "/page/0".to_owned(),
                n => format!("/redirect/{}", n - 1),
            };
            extra = Some(("location", to));
            (302, Bytes::new())
        }
        ["limited", _] => {
            extra = Some(("retry-after", "1".to_owned()));
            (429, Bytes::from_static(b"slow down\n"))
        }
        ["big"] => (
            200,
            Bytes::from(vec![b'b'; param("bytes").unwrap_or(1 << 20) as usize]),
        ),
        ["status", code] => (code.parse().unwrap_or(400), Bytes::from_static(b"status\n")),
        _ => (404, Bytes::from_static(b"not found\n")),
    };
    let mut response = http::Response::builder()
        .status(status)
        .header("content-type", "text/plain")
        .header("content-length", body.len());
    if let Some((name, value)) = extra {
        response = response.header(name, value);
    }
    let response = response.body(()).expect("a valid response");
    if body.is_empty() {
        open = None;
    }
    if let Ok(send) = respond.send_response(response, body.is_empty()) {
        if let Some(ms) = param("body_delay_ms") {
            // The head is out; the body follows after a while.
            tokio::time::sleep(Duration::from_millis(ms).min(MAX_DELAY)).await;
        }
        if send_body(send, body, &mut open).await.is_ok() {
            let mut answered = stats.answered.lock().unwrap_or_else(|e| e.into_inner());
            *answered.entry(target.clone()).or_default() += 1;
        }
    }
    drop(open);
}

/// A request to the API: its body read whole, its fields written as the
/// head the API reads (for the key), and the API's answer sent back with
/// its limit fields, after its latency.
async fn answer_api(
    target: String,
    parts: http::request::Parts,
    mut request_body: h2::RecvStream,
    mut respond: SendResponse<Bytes>,
    shared: Arc<Shared>,
) {
    let Some(api) = &shared.api else { return };
    let mut open = Some(OpenStream::new(&shared.stats));
    let mut body = Vec::new();
    while let Some(data) = request_body.data().await {
        let Ok(data) = data else { return };
        let _ = request_body.flow_control().release_capacity(data.len());
        body.extend_from_slice(&data);
    }
    let mut head = format!("{} {target} HTTP/2\r\n", parts.method);
    for (name, value) in &parts.headers {
        head.push_str(&format!(
            "{name}: {}\r\n",
            String::from_utf8_lossy(value.as_bytes())
        ));
    }
    let answer = api.answer(&head, &target, &body);
    if !answer.delay.is_zero() {
        tokio::time::sleep(answer.delay).await;
    }
    let mut response = http::Response::builder()
        .status(answer.status)
        .header("content-type", "application/json")
        .header("content-length", answer.body.len());
    for line in answer.fields.split("\r\n") {
        if let Some((name, value)) = line.split_once(':') {
            response = response.header(name.trim(), value.trim());
        }
    }
    let Ok(response) = response.body(()) else {
        return;
    };
    if let Ok(send) = respond.send_response(response, answer.body.is_empty()) {
        if send_body(send, Bytes::from(answer.body), &mut open)
            .await
            .is_ok()
        {
            let mut answered = lock(&shared.stats.answered);
            *answered.entry(target).or_default() += 1;
        }
    }
}

/// Sends `body` as the client's flow-control windows allow; `open` is
/// dropped just before the last piece goes.
async fn send_body(
    mut send: SendStream<Bytes>,
    mut body: Bytes,
    open: &mut Option<OpenStream<'_>>,
) -> Result<(), h2::Error> {
    while !body.is_empty() {
        send.reserve_capacity(body.len().min(1 << 16));
        let granted = match poll_fn(|cx| send.poll_capacity(cx)).await {
            Some(granted) => granted?,
            None => return Err(h2::Error::from(Reason::CANCEL)),
        };
        if granted == 0 {
            continue;
        }
        let piece = body.split_to(granted.min(body.len()));
        if body.is_empty() {
            *open = None;
        }
        send.send_data(piece, body.is_empty())?;
    }
    Ok(())
}
