//! A small HTTP/1.1 server on 127.0.0.1 for `gather demo`, the examples and
//! the tests, and its HTTP/2 side ([`http2`]) for the faults only HTTP/2
//! has (GOAWAY, refused streams, flow control).
//!
//! Hand-written on tokio's TCP rather than on hyper because its job is to
//! misbehave on purpose: reset connections, never answer, trickle a body,
//! cut one short. Those are exactly what a well-behaved server library
//! makes hard. It binds loopback only, on a random port, and stops when the
//! [`Server`] is dropped.
//!
//! Routes (any method; a request's `Content-Length` body is read, and
//! `?delay_ms=N` delays any answer):
//!
//! | path | answer |
//! |---|---|
//! | `/page/N` | 200, a small HTML page naming N |
//! | `/status/CODE` | that status, a short body |
//! | `/flaky/KEY?fail=K` | 500 for the first K requests to KEY, then 200 |
//! | `/limited/KEY?retry_after=S` | 429 with `Retry-After: S` the first time, then 200 |
//! | `/reset` | the connection is reset without an answer |
//! | `/hang` | never answers (until the client goes away) |
//! | `/trickle?bytes=N&every_ms=M` | N bytes, one every M ms |
//! | `/truncated` | promises 100 bytes, sends 50, closes |
//! | `/big?bytes=N` | N bytes |
//! | `/endless` | a chunked body with no length that goes on (up to 1 GiB) |
//! | `/redirect-loop` | 302 to itself |
//! | `/redirect/N` | N redirects, then `/page/0` |
//! | `/redirect-to/PORT/PATH` | 302 (or `?code=N`) to `http://127.0.0.1:PORT/PATH` (another origin when PORT is another server's) |
//! | `/redirect-with-credentials/PORT/PATH` | 302 to `http://intruder:pw@127.0.0.1:PORT/PATH` |
//! | `/headers` | 200, the request's header lines as its body |
//! | `/target` | 200, the request target as sent (path and query) as its body |
//! | `/set-cookie/NAME/VALUE` | 200 with `Set-Cookie: NAME=VALUE; Path=/` (and `?domain=D` adds `Domain=D`) |
//! | `/login/NAME/VALUE` | 302 to `/headers`, setting that cookie on the way |
//! | `/binary` | bytes that are not UTF-8 |
//! | `/encoded/CODING` | `fixtures/page.txt` sent with `Content-Encoding`: `gzip`, `deflate` (zlib), `deflate-raw` (raw deflate, labelled `deflate`), `br`, `zstd`, `identity`; `corrupt` (a cut gzip stream), `unknown` (`compress`) |
//! | `/gzip-bomb` | 10 MiB of zeros, gzip'd to ~10 KiB |
//! | `/accept-encoding` | the request's `Accept-Encoding`, as its body |
//! | `/echo` | 200: the method on the first line, then the request's body as sent |
//! | `/drop-after-read/KEY` | reads the request (body included), counts it as processed under KEY, and closes the connection without an answer |
//! | `/count/KEY` | 200: how many requests `/drop-after-read/KEY` and `/echo?key=KEY` processed, as its body |
//! | `/v1/...` | with [`Server::start_api`]: a rate-limited JSON API (see [`api`]) |

#![warn(missing_docs)]

pub mod api;
pub mod capacity;
pub mod http2;
pub mod http2_script;

/// The encoded bodies `/encoded/CODING` and `/gzip-bomb` send, made by the
/// reference encoders (see `fixtures/README.md`), for tests of decoders.
pub mod fixtures {
    /// The decoded text of every `PAGE_*` body.
    pub const PAGE: &[u8] = include_bytes!("../fixtures/page.txt");
    /// `PAGE`, gzip.
    pub const PAGE_GZIP: &[u8] = include_bytes!("../fixtures/page.gz");
    /// `PAGE`, zlib (HTTP's `deflate`).
    pub const PAGE_ZLIB: &[u8] = include_bytes!("../fixtures/page.zlib");
    /// `PAGE`, raw deflate (what some servers send as `deflate`).
    pub const PAGE_DEFLATE_RAW: &[u8] = include_bytes!("../fixtures/page.deflate");
    /// `PAGE`, brotli.
    pub const PAGE_BROTLI: &[u8] = include_bytes!("../fixtures/page.br");
    /// `PAGE`, zstd.
    pub const PAGE_ZSTD: &[u8] = include_bytes!("../fixtures/page.zst");
    /// 10 MiB of zeros, gzip.
    pub const BOMB_GZIP: &[u8] = include_bytes!("../fixtures/bomb.gz");
    /// The decoded size of [`BOMB_GZIP`].
    pub const BOMB_SIZE: u64 = 10 << 20;
}

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// A running server; stops (and closes every connection) when dropped.
pub struct Server {
    addr: SocketAddr,
    accept: JoinHandle<()>,
    state: Arc<State>,
}

#[derive(Default)]
struct State {
    /// Latency added to every `/page/N` answer.
    page_delay: Duration,
    counters: Mutex<HashMap<String, u64>>,
    requests: AtomicU64,
    connections: Mutex<Vec<JoinHandle<()>>>,
    /// A second handle on each connection's socket, while its task lives,
    /// to count those open (see `Open`); the most ever open at once.
    sockets: Mutex<HashMap<u64, std::net::TcpStream>>,
    next_id: AtomicU64,
    peak: AtomicU64,
    /// When each request's head arrived, and its target.
    arrivals: Mutex<Vec<(Instant, String)>>,
    /// The `/v1/` API, when started with one.
    api: Option<api::Api>,
    /// `/page/N` served by a site of limited capacity, when started with one.
    capacity: Option<capacity::Capacity>,
}

/// A connection in the count of those open: its socket, a second handle
/// on it, stays in the state's table while the connection's task lives.
struct Open {
    state: Arc<State>,
    id: u64,
}

impl Open {
    /// Counts `stream` as open, and the peak as the number of sockets in
    /// the table whose client has not closed them. That is asked of the
    /// kernel (a peek), not of the tasks: a client that closes one
    /// connection and opens the next sends its close first, and on
    /// loopback it has arrived; the task that would notice it may not
    /// have run yet.
    fn new(state: Arc<State>, stream: &TcpStream) -> Option<Open> {
        use std::os::fd::AsFd;
        let socket = std::net::TcpStream::from(stream.as_fd().try_clone_to_owned().ok()?);
        socket.set_nonblocking(true).ok()?;
        let id = state.next_id.fetch_add(1, Ordering::SeqCst);
        let mut sockets = state.sockets.lock().unwrap_or_else(|e| e.into_inner());
        sockets.insert(id, socket);
        let open = sockets
            .values()
            .filter(|s| client_has_not_closed(s))
            .count() as u64;
        state.peak.fetch_max(open, Ordering::SeqCst);
        drop(sockets);
        Some(Open { state, id })
    }
}

/// `false` once the client's close (or reset) has arrived and nothing
/// before it is left to read.
fn client_has_not_closed(socket: &std::net::TcpStream) -> bool {
    let mut byte = [0u8; 1];
    match socket.peek(&mut byte) {
        Ok(0) => false,
        Ok(_) => true,
        Err(e) => e.kind() == io::ErrorKind::WouldBlock,
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        let mut sockets = self.state.sockets.lock().unwrap_or_else(|e| e.into_inner());
        sockets.remove(&self.id);
    }
}

impl Server {
    /// Starts a server on `127.0.0.1:0`; `/page/N` answers after
    /// `page_delay`. Must be called inside a tokio runtime.
    pub async fn start(page_delay: Duration) -> io::Result<Server> {
        Server::start_with(State {
            page_delay,
            ..State::default()
        })
        .await
    }

    /// Starts a server whose `/v1/` paths are a rate-limited JSON API with
    /// `limits` (see [`api`]); the other routes are as [`start`](Server::start)'s.
    pub async fn start_api(limits: api::ApiLimits) -> io::Result<Server> {
        Server::start_with(State {
            api: Some(api::Api::new(limits)),
            ..State::default()
        })
        .await
    }

    /// Starts a server whose `/page/N` answers come from a site of limited
    /// capacity (see [`capacity`]): `/stats` says what it saw, and
    /// `/capacity?workers=N` changes its workers.
    pub async fn start_capacity(config: capacity::CapacityConfig) -> io::Result<Server> {
        Server::start_with(State {
            capacity: Some(capacity::Capacity::new(config)),
            ..State::default()
        })
        .await
    }

    /// The site of limited capacity, when started with one.
    pub fn capacity(&self) -> Option<&capacity::Capacity> {
        self.state.capacity.as_ref()
    }

    /// What the API has done so far (zeros without one).
    pub fn api_stats(&self) -> api::ApiStats {
        self.state
            .api
            .as_ref()
            .map(api::Api::stats)
            .unwrap_or_default()
    }

    async fn start_with(state: State) -> io::Result<Server> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(state);
        let s = state.clone();
        let accept = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let conn = tokio::spawn(serve_connection(stream, s.clone()));
                let mut conns = s.connections.lock().unwrap_or_else(|e| e.into_inner());
                conns.retain(|c| !c.is_finished());
                conns.push(conn);
            }
        });
        Ok(Server {
            addr,
            accept,
            state,
        })
    }

    /// The server's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT` followed by `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Requests answered or refused so far.
    pub fn requests(&self) -> u64 {
        self.state.requests.load(Ordering::SeqCst)
    }

    /// The most connections that were ever open at once, counted each time
    /// a connection's first request arrives: those the server has not
    /// closed and whose client has not closed them (asked of the kernel,
    /// so a close that has arrived counts even if no task has read it).
    pub fn peak_connections(&self) -> u64 {
        self.state.peak.load(Ordering::SeqCst)
    }

    /// Each request's target (path and query) and when its head arrived,
    /// in the order they arrived.
    pub fn arrivals(&self) -> Vec<(Instant, String)> {
        self.state
            .arrivals
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.accept.abort();
        for conn in self
            .state
            .connections
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
        {
            conn.abort();
        }
    }
}

/// The longest request head accepted; longer ones get 431.
const MAX_HEAD: usize = 16 * 1024;
/// How long a `/hang` request is held at most.
const HANG_FOR: Duration = Duration::from_secs(120);

async fn serve_connection(mut stream: TcpStream, state: Arc<State>) {
    // Counted from its first request: a connection opened and closed
    // unused (a client's probe) is not one the client kept.
    let mut open = None;
    let mut buf = Vec::with_capacity(1024);
    loop {
        // Read one request head, then its body (a Content-Length's worth;
        // none for most requests).
        let head_end = loop {
            if let Some(i) = find_head_end(&buf) {
                break i;
            }
            if buf.len() > MAX_HEAD {
                let _ = respond(&mut stream, 431, "text/plain", b"head too large", true).await;
                return;
            }
            let mut chunk = [0u8; 4096];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
        buf.drain(..head_end + 4);
        let length = content_length(&head);
        if length > MAX_BODY {
            let _ = respond(&mut stream, 413, "text/plain", b"body too large", true).await;
            return;
        }
        while buf.len() < length {
            let mut chunk = [0u8; 4096];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        let body: Vec<u8> = buf.drain(..length).collect();
        state.requests.fetch_add(1, Ordering::SeqCst);
        if open.is_none() {
            open = Open::new(state.clone(), &stream);
        }
        let target = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
        state
            .arrivals
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((Instant::now(), target.clone()));
        let close = head.to_ascii_lowercase().contains("connection: close");
        match answer(&mut stream, &state, &head, &body, &target, close).await {
            Ok(true) if !close => continue,
            _ => return,
        }
    }
}

/// The largest request body read; larger ones get 413.
const MAX_BODY: usize = 16 << 20;

/// A request head's `Content-Length`, or 0.
fn content_length(head: &str) -> usize {
    head.split("\r\n")
        .skip(1)
        .filter_map(|line| line.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, value)| value.trim().parse().ok())
        .unwrap_or(0)
}

fn find_head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n")
}

fn query(target: &str, key: &str) -> Option<u64> {
    let q = target.split_once('?')?.1;
    q.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == key).then(|| v.parse().ok()).flatten()
    })
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        302 => "Found",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

async fn respond(
    stream: &mut TcpStream,
    status: u16,
    content_type: &str,
    body: &[u8],
    close: bool,
) -> io::Result<()> {
    respond_with(stream, status, content_type, body, close, "").await
}

async fn respond_with(
    stream: &mut TcpStream,
    status: u16,
    content_type: &str,
    body: &[u8],
    close: bool,
    extra: &str,
) -> io::Result<()> {
    let head = format!(
        "HTTP/1.1 {status} {}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\n{extra}{}\r\n",
        reason(status),
        body.len(),
        if close { "connection: close\r\n" } else { "" },
    );
    // One write: a separate head and body would meet Nagle's algorithm and
    // the client's delayed ACK, adding ~40 ms to every answer.
    let mut message = Vec::with_capacity(head.len() + body.len());
    message.extend_from_slice(head.as_bytes());
    message.extend_from_slice(body);
    stream.write_all(&message).await?;
    stream.flush().await
}

/// A 302 to `location`.
async fn redirect(stream: &mut TcpStream, location: &str, close: bool) -> io::Result<()> {
    let header = format!("location: {location}\r\n");
    respond_with(stream, 302, "text/plain", b"", close, &header).await
}

/// Answers one request; `Ok(true)` if the connection can serve another.
async fn answer(
    stream: &mut TcpStream,
    state: &State,
    head: &str,
    body: &[u8],
    target: &str,
    close: bool,
) -> io::Result<bool> {
    if let Some(ms) = query(target, "delay_ms") {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    let path = target.split('?').next().unwrap_or("/");
    if let (Some(api), true) = (&state.api, path.starts_with("/v1/")) {
        let answer = api.answer(head, target, body);
        tokio::time::sleep(answer.delay).await;
        respond_with(
            stream,
            answer.status,
            "application/json",
            &answer.body,
            close,
            &answer.fields,
        )
        .await?;
        return Ok(true);
    }
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match parts.as_slice() {
        ["page", _] if state.capacity.is_some() => {
            let site = state.capacity.as_ref().expect("matched");
            if let capacity::Served::Shed = site.serve().await {
                let extra = "retry-after: 1\r\n";
                respond_with(stream, 503, "text/plain", b"busy\n", close, extra).await?;
                return Ok(true);
            }
            // A page of the size the benchmarks fetch from nginx.
            let page = &fixtures::PAGE[..fixtures::PAGE.len().min(5436)];
            respond(stream, 200, "text/html; charset=utf-8", page, close).await?;
        }
        ["stats"] => {
            let site = state.capacity.as_ref().map(capacity::Capacity::stats_json);
            let body = format!(
                "{{\"requests\":{},\"peak_connections\":{},\"capacity\":{}}}",
                state.requests.load(Ordering::SeqCst),
                state.peak.load(Ordering::SeqCst),
                site.as_deref().unwrap_or("null")
            );
            respond(stream, 200, "application/json", body.as_bytes(), close).await?;
        }
        ["capacity"] => match (&state.capacity, query(target, "workers")) {
            (Some(site), Some(workers)) => {
                site.set_workers(workers as usize);
                respond(stream, 200, "text/plain", b"ok\n", close).await?;
            }
            _ => {
                respond(
                    stream,
                    400,
                    "text/plain",
                    b"workers=N, with capacity\n",
                    close,
                )
                .await?
            }
        },
        ["reset-stats"] => {
            if let Some(site) = &state.capacity {
                site.reset();
            }
            state.peak.store(0, Ordering::SeqCst);
            respond(stream, 200, "text/plain", b"ok\n", close).await?;
        }
        ["page", n] => {
            tokio::time::sleep(state.page_delay).await;
            let body = format!("<!doctype html><title>page {n}</title><p>This is page {n}.</p>\n");
            respond(
                stream,
                200,
                "text/html; charset=utf-8",
                body.as_bytes(),
                close,
            )
            .await?;
        }
        ["status", code] => {
            let code: u16 = code.parse().unwrap_or(400);
            respond(
                stream,
                code,
                "text/plain",
                format!("status {code}\n").as_bytes(),
                close,
            )
            .await?;
        }
        ["flaky", key] => {
            let fail = query(target, "fail").unwrap_or(1);
            let n = bump(state, &format!("flaky/{key}"));
            if n <= fail {
                respond(stream, 500, "text/plain", b"try again\n", close).await?;
            } else {
                respond(stream, 200, "text/plain", b"recovered\n", close).await?;
            }
        }
        ["limited", key] => {
            let after = query(target, "retry_after").unwrap_or(1);
            if bump(state, &format!("limited/{key}")) == 1 {
                let extra = format!("retry-after: {after}\r\n");
                respond_with(stream, 429, "text/plain", b"slow down\n", close, &extra).await?;
            } else {
                respond(stream, 200, "text/plain", b"welcome back\n", close).await?;
            }
        }
        ["reset"] => {
            // A zero linger turns the close into a TCP reset. (tokio
            // deprecates set_linger because a non-zero linger blocks the
            // thread on drop; a zero one resets at once and never blocks.)
            #[allow(deprecated)]
            let _ = stream.set_linger(Some(Duration::ZERO));
            return Ok(false);
        }
        ["hang"] => {
            let mut sink = [0u8; 64];
            let _ = tokio::time::timeout(HANG_FOR, async {
                while let Ok(n) = stream.read(&mut sink).await {
                    if n == 0 {
                        break;
                    }
                }
            })
            .await;
            return Ok(false);
        }
        ["trickle"] => {
            let bytes = query(target, "bytes").unwrap_or(10);
            let every = Duration::from_millis(query(target, "every_ms").unwrap_or(100));
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {bytes}\r\n\r\n"
            );
            stream.write_all(head.as_bytes()).await?;
            for _ in 0..bytes {
                tokio::time::sleep(every).await;
                stream.write_all(b".").await?;
            }
        }
        ["truncated"] => {
            let head = "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 100\r\nconnection: close\r\n\r\n";
            stream.write_all(head.as_bytes()).await?;
            stream.write_all(&[b'x'; 50]).await?;
            return Ok(false);
        }
        ["big"] => {
            let bytes = query(target, "bytes").unwrap_or(1 << 20) as usize;
            respond(
                stream,
                200,
                "application/octet-stream",
                &vec![b'b'; bytes],
                close,
            )
            .await?;
        }
        ["endless"] => {
            let head = "HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\ntransfer-encoding: chunked\r\n\r\n";
            stream.write_all(head.as_bytes()).await?;
            let chunk = format!("{:x}\r\n{}\r\n", 64 * 1024, "e".repeat(64 * 1024));
            // Bounded so that a client that never stops reading still ends.
            for _ in 0..(1 << 14) {
                stream.write_all(chunk.as_bytes()).await?;
            }
            return Ok(false);
        }
        ["redirect-loop"] => redirect(stream, "/redirect-loop", close).await?,
        ["redirect", n] => {
            let n: u32 = n.parse().unwrap_or(0);
            let next = if n <= 1 {
                "/page/0".to_owned()
            } else {
                format!("/redirect/{}", n - 1)
            };
            redirect(stream, &next, close).await?;
        }
        ["redirect-to", port, rest @ ..] => {
            // `?code=307` (or 301, 303, 308) for another redirect status.
            let next = format!("http://127.0.0.1:{port}/{}", rest.join("/"));
            let code = query(target, "code").unwrap_or(302) as u16;
            let header = format!("location: {next}\r\n");
            respond_with(stream, code, "text/plain", b"", close, &header).await?;
        }
        ["redirect-with-credentials", port, rest @ ..] => {
            // A Location that carries credentials of its own.
            let next = format!("http://intruder:pw@127.0.0.1:{port}/{}", rest.join("/"));
            redirect(stream, &next, close).await?;
        }
        ["echo"] => {
            let method = head.split_whitespace().next().unwrap_or("");
            if let Some(key) = target
                .split_once("key=")
                .map(|(_, k)| k.split('&').next().unwrap_or(k))
            {
                bump(state, &format!("processed/{key}"));
            }
            let mut echoed = format!("{method}\n").into_bytes();
            echoed.extend_from_slice(body);
            respond(stream, 200, "application/octet-stream", &echoed, close).await?;
        }
        ["drop-after-read", key] => {
            bump(state, &format!("processed/{key}"));
            return Ok(false);
        }
        ["count", key] => {
            let n = state
                .counters
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(&format!("processed/{key}"))
                .copied()
                .unwrap_or(0);
            respond(stream, 200, "text/plain", n.to_string().as_bytes(), close).await?;
        }
        ["set-cookie", name, value] => {
            let domain = target
                .split_once("domain=")
                .map(|(_, d)| format!("; Domain={}", d.split('&').next().unwrap_or(d)))
                .unwrap_or_default();
            let header = format!("set-cookie: {name}={value}; Path=/{domain}\r\n");
            respond_with(stream, 200, "text/plain", b"set\n", close, &header).await?;
        }
        ["login", name, value] => {
            let header =
                format!("location: /headers\r\nset-cookie: {name}={value}; Path=/; HttpOnly\r\n");
            respond_with(stream, 302, "text/plain", b"", close, &header).await?;
        }
        ["target"] => {
            respond(stream, 200, "text/plain", target.as_bytes(), close).await?;
        }
        ["headers"] => {
            // Everything after the request line, one header per line.
            let lines = head.split_once("\r\n").map_or("", |(_, h)| h);
            let body = format!("{}\n", lines.replace("\r\n", "\n"));
            respond(stream, 200, "text/plain", body.as_bytes(), close).await?;
        }
        ["binary"] => {
            respond(
                stream,
                200,
                "application/octet-stream",
                &[0xff, 0xfe, 0x00, 0x80, b'a', 0xc3],
                close,
            )
            .await?;
        }
        ["encoded", coding] => {
            // The same text, as each coding sends it (fixtures/README.md).
            let (name, body): (&str, &[u8]) = match *coding {
                "gzip" => ("gzip", fixtures::PAGE_GZIP),
                "deflate" => ("deflate", fixtures::PAGE_ZLIB),
                "deflate-raw" => ("deflate", fixtures::PAGE_DEFLATE_RAW),
                "br" => ("br", fixtures::PAGE_BROTLI),
                "zstd" => ("zstd", fixtures::PAGE_ZSTD),
                "identity" => ("identity", fixtures::PAGE),
                "corrupt" => ("gzip", &fixtures::PAGE_GZIP[..100]),
                "unknown" => ("compress", b"not really compressed\n"),
                _ => ("", &[]),
            };
            if name.is_empty() {
                respond(stream, 404, "text/plain", b"no such coding\n", close).await?;
            } else {
                let header = format!("content-encoding: {name}\r\n");
                respond_with(stream, 200, "text/plain", body, close, &header).await?;
            }
        }
        ["gzip-bomb"] => {
            // 10 MiB of zeros in ~10 KiB.
            let header = "content-encoding: gzip\r\n";
            let body = fixtures::BOMB_GZIP;
            respond_with(stream, 200, "application/octet-stream", body, close, header).await?;
        }
        ["accept-encoding"] => {
            // What the client asked for, as sent (empty if nothing).
            let asked = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("accept-encoding")
                        .then(|| v.trim().to_owned())
                })
                .unwrap_or_default();
            respond(stream, 200, "text/plain", asked.as_bytes(), close).await?;
        }
        _ => respond(stream, 404, "text/plain", b"not found\n", close).await?,
    }
    Ok(true)
}

fn bump(state: &State, key: &str) -> u64 {
    let mut counters = state.counters.lock().unwrap_or_else(|e| e.into_inner());
    let n = counters.entry(key.to_owned()).or_insert(0);
    *n += 1;
    *n
}
