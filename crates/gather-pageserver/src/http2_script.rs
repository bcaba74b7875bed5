//! An HTTP/2 server that writes its frames by hand, for the answers no
//! HTTP/2 library will send: malformed heads, a body in one-byte DATA
//! frames, a server that allows no streams. h2c with prior knowledge on
//! 127.0.0.1.
//!
//! [`http2`](crate::http2) is built on the `h2` crate's server, which
//! refuses to write what a client must survive reading. Here requests are
//! read frame by frame (their HPACK decoded by the `hpack` crate, so that
//! each is known by its path), and answers are written as bytes: every
//! field as a literal *without indexing*, which leaves the client's HPACK
//! table as it was, so one malformed answer does not garble the next. Flow
//! control is honoured (the client's `SETTINGS_INITIAL_WINDOW_SIZE` and
//! `WINDOW_UPDATE`s), so what the client allowed is exactly what it gets.
//!
//! Routes:
//!
//! | path | answer |
//! |---|---|
//! | `/page/N?delay_ms=D` | 200 and a small page, after D ms |
//! | `/malformed/upper` | a head with an upper-case field name (`X-Upper`) |
//! | `/malformed/crlf` | a head whose field value holds CR LF |
//! | `/malformed/status` | a head whose `:status` is `abc` |
//! | `/malformed/pseudo-after` | a regular field before `:status` |
//! | `/malformed/connection` | a head with `connection: close` (forbidden in HTTP/2) |
//! | `/tiny-frames?bytes=N` | 200 and N bytes, one DATA frame per byte; with `&pad=P` each frame padded with P zero bytes; with `&yield=1` the answer lets the other streams' go between its frames, so that bodies on one connection interleave |
//! | `/unopened-stream` | an answer's HEADERS on a stream the client never opened (this one's + 2) |
//! | `/even-stream` | an answer's HEADERS on stream 2, a server-initiated stream never promised |
//! | `/priority-flood?n=N` | N PRIORITY frames (default 10,000) making the request's stream depend on itself, then no answer |
//!
//! Every request to a path is counted ([`ScriptedHttp2::requests`]).

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Notify};
use tokio::task::JoinHandle;

const DATA: u8 = 0x0;
const HEADERS: u8 = 0x1;
const RST_STREAM: u8 = 0x3;
const SETTINGS: u8 = 0x4;
const PING: u8 = 0x6;
const GOAWAY: u8 = 0x7;
const WINDOW_UPDATE: u8 = 0x8;
const CONTINUATION: u8 = 0x9;

const END_STREAM: u8 = 0x1;
const ACK: u8 = 0x1;
const END_HEADERS: u8 = 0x4;
const PADDED: u8 = 0x8;
const PRIORITY: u8 = 0x20;
/// The PRIORITY frame's type (the flag of the same value is HEADERS').
const PRIORITY_FRAME: u8 = 0x2;

const SETTINGS_MAX_CONCURRENT_STREAMS: u16 = 0x3;
const SETTINGS_INITIAL_WINDOW_SIZE: u16 = 0x4;
const REFUSED_STREAM: u32 = 0x7;

/// Frames larger than this from the client end the connection.
const MAX_FRAME: usize = 1 << 20;

/// A scripted h2c server on 127.0.0.1; stops (closing every connection)
/// when dropped.
pub struct ScriptedHttp2 {
    addr: SocketAddr,
    accept: JoinHandle<()>,
    shared: Arc<Shared>,
}

struct Shared {
    /// `SETTINGS_MAX_CONCURRENT_STREAMS` sent to clients; streams past it
    /// are refused.
    max_streams: Option<u32>,
    requests: Mutex<HashMap<String, u64>>,
    /// DATA frames queued for writing, on every connection.
    data_frames: std::sync::atomic::AtomicU64,
    /// Connections accepted.
    connections: std::sync::atomic::AtomicU64,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl Shared {
    fn spawn(&self, task: impl std::future::Future<Output = ()> + Send + 'static) {
        let mut tasks = self.tasks.lock().unwrap_or_else(|e| e.into_inner());
        tasks.retain(|t| !t.is_finished());
        tasks.push(tokio::spawn(task));
    }
}

impl ScriptedHttp2 {
    /// Starts the server on `127.0.0.1:0`; with `max_streams`, its SETTINGS
    /// say `SETTINGS_MAX_CONCURRENT_STREAMS` (0: no stream at all). Must be
    /// called inside a tokio runtime.
    pub async fn start(max_streams: Option<u32>) -> io::Result<ScriptedHttp2> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            max_streams,
            requests: Mutex::new(HashMap::new()),
            data_frames: Default::default(),
            connections: Default::default(),
            tasks: Mutex::new(Vec::new()),
        });
        let s = shared.clone();
        let accept = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let _ = stream.set_nodelay(true);
                s.connections
                    .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                s.spawn(connection(stream, s.clone()));
            }
        });
        Ok(ScriptedHttp2 {
            addr,
            accept,
            shared,
        })
    }

    /// `http://127.0.0.1:PORT` followed by `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// DATA frames handed to the connections' writers so far.
    pub fn data_frames_sent(&self) -> u64 {
        self.shared
            .data_frames
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> u64 {
        self.shared
            .connections
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    /// How many requests for `path` (with its query) arrived, on every
    /// connection.
    pub fn requests(&self, path: &str) -> u64 {
        let requests = self
            .shared
            .requests
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        requests.get(path).copied().unwrap_or(0)
    }
}

impl Drop for ScriptedHttp2 {
    fn drop(&mut self) {
        self.accept.abort();
        let mut tasks = self.shared.tasks.lock().unwrap_or_else(|e| e.into_inner());
        for task in tasks.drain(..) {
            task.abort();
        }
    }
}

/// The send windows the client granted: the connection's and each
/// stream's, as RFC 9113 section 6.9 keeps them.
struct Windows {
    connection: i64,
    initial: i64,
    streams: HashMap<u32, i64>,
}

struct Flow {
    windows: Mutex<Windows>,
    grown: Notify,
}

impl Flow {
    /// Takes up to `want` bytes of window for `stream`, waiting while
    /// either window is empty.
    async fn take(&self, stream: u32, want: usize) -> usize {
        loop {
            let grown = self.grown.notified();
            {
                let mut w = self.windows.lock().unwrap_or_else(|e| e.into_inner());
                let initial = w.initial;
                let own = *w.streams.entry(stream).or_insert(initial);
                let can = own.min(w.connection).min(want as i64);
                if can > 0 {
                    w.connection -= can;
                    *w.streams.get_mut(&stream).expect("inserted above") -= can;
                    return can as usize;
                }
            }
            grown.await;
        }
    }
}

async fn connection(stream: TcpStream, shared: Arc<Shared>) {
    let (mut read, mut write) = stream.into_split();
    let (frames, mut queue) = mpsc::unbounded_channel::<Vec<u8>>();
    let writer = tokio::spawn(async move {
        while let Some(bytes) = queue.recv().await {
            if write.write_all(&bytes).await.is_err() {
                break;
            }
        }
    });
    let flow = Arc::new(Flow {
        windows: Mutex::new(Windows {
            connection: 65_535,
            initial: 65_535,
            streams: HashMap::new(),
        }),
        grown: Notify::new(),
    });
    let mut preface = [0u8; 24];
    if read.read_exact(&mut preface).await.is_err() {
        writer.abort();
        return;
    }
    let mut settings = Vec::new();
    if let Some(n) = shared.max_streams {
        settings.extend_from_slice(&SETTINGS_MAX_CONCURRENT_STREAMS.to_be_bytes());
        settings.extend_from_slice(&n.to_be_bytes());
    }
    let _ = frames.send(frame(SETTINGS, 0, 0, &settings));
    let mut decoder = hpack::Decoder::new();
    // A header block in progress: its stream and the bytes so far.
    let mut block: Option<(u32, Vec<u8>)> = None;
    let mut answers = Vec::new();
    loop {
        let mut head = [0u8; 9];
        if read.read_exact(&mut head).await.is_err() {
            break;
        }
        let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
        let (kind, flags) = (head[3], head[4]);
        let id = u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff;
        if len > MAX_FRAME {
            break;
        }
        let mut payload = vec![0u8; len];
        if read.read_exact(&mut payload).await.is_err() {
            break;
        }
        match kind {
            SETTINGS if flags & ACK == 0 => {
                for setting in payload.chunks_exact(6) {
                    let key = u16::from_be_bytes([setting[0], setting[1]]);
                    let value =
                        u32::from_be_bytes([setting[2], setting[3], setting[4], setting[5]]);
                    if key == SETTINGS_INITIAL_WINDOW_SIZE {
                        let mut w = flow.windows.lock().unwrap_or_else(|e| e.into_inner());
                        let change = i64::from(value) - w.initial;
                        w.initial = i64::from(value);
                        for window in w.streams.values_mut() {
                            *window += change;
                        }
                    }
                }
                let _ = frames.send(frame(SETTINGS, ACK, 0, &[]));
                flow.grown.notify_waiters();
            }
            PING if flags & ACK == 0 => {
                let _ = frames.send(frame(PING, ACK, 0, &payload));
            }
            WINDOW_UPDATE if payload.len() == 4 => {
                let grow = i64::from(
                    u32::from_be_bytes([payload[0], payload[1], payload[2], payload[3]])
                        & 0x7fff_ffff,
                );
                {
                    let mut w = flow.windows.lock().unwrap_or_else(|e| e.into_inner());
                    if id == 0 {
                        w.connection += grow;
                    } else {
                        let initial = w.initial;
                        *w.streams.entry(id).or_insert(initial) += grow;
                    }
                }
                flow.grown.notify_waiters();
            }
            HEADERS => {
                let mut fragment = &payload[..];
                if flags & PADDED != 0 && !fragment.is_empty() {
                    let pad = fragment[0] as usize;
                    fragment = &fragment[1..fragment.len().saturating_sub(pad)];
                }
                if flags & PRIORITY != 0 && fragment.len() >= 5 {
                    fragment = &fragment[5..];
                }
                block = Some((id, fragment.to_vec()));
            }
            CONTINUATION => {
                if let Some((_, bytes)) = &mut block {
                    bytes.extend_from_slice(&payload);
                }
            }
            GOAWAY => break,
            RST_STREAM | DATA => {}
            _ => {}
        }
        if matches!(kind, HEADERS | CONTINUATION) && flags & END_HEADERS != 0 {
            let Some((stream, bytes)) = block.take() else {
                continue;
            };
            let Ok(fields) = decoder.decode(&bytes) else {
                break;
            };
            let path = fields
                .iter()
                .find(|(name, _)| name == b":path")
                .map(|(_, value)| String::from_utf8_lossy(value).into_owned())
                .unwrap_or_default();
            {
                let mut requests = shared.requests.lock().unwrap_or_else(|e| e.into_inner());
                *requests.entry(path.clone()).or_default() += 1;
            }
            if shared.max_streams == Some(0) {
                let _ = frames.send(frame(RST_STREAM, 0, stream, &REFUSED_STREAM.to_be_bytes()));
                continue;
            }
            answers.push(tokio::spawn(answer(
                path,
                stream,
                frames.clone(),
                flow.clone(),
                shared.clone(),
            )));
        }
    }
    for answer in answers {
        answer.abort();
    }
    drop(frames);
    let _ = writer.await;
}

/// Answers the request for `path` on `stream`.
async fn answer(
    path: String,
    stream: u32,
    frames: mpsc::UnboundedSender<Vec<u8>>,
    flow: Arc<Flow>,
    shared: Arc<Shared>,
) {
    let (route, query) = path.split_once('?').unwrap_or((&path, ""));
    let number = |name: &str| -> Option<u64> {
        query
            .split('&')
            .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('=')?.parse().ok())
    };
    let head = |fields: &[(&[u8], &[u8])], end: bool| {
        let mut block = Vec::new();
        for (name, value) in fields {
            literal(&mut block, name, value);
        }
        frame(
            HEADERS,
            END_HEADERS | if end { END_STREAM } else { 0 },
            stream,
            &block,
        )
    };
    let malformed = |fields: &[(&[u8], &[u8])]| {
        let _ = frames.send(head(fields, true));
    };
    match route {
        "/malformed/upper" => malformed(&[(b":status", b"200"), (b"X-Upper", b"1")]),
        "/malformed/crlf" => malformed(&[(b":status", b"200"), (b"x-split", b"a\r\nb")]),
        "/malformed/status" => malformed(&[(b":status", b"abc")]),
        "/malformed/pseudo-after" => malformed(&[(b"x-first", b"1"), (b":status", b"200")]),
        "/malformed/connection" => malformed(&[(b":status", b"200"), (b"connection", b"close")]),
        "/unopened-stream" | "/even-stream" => {
            let on = if route == "/even-stream" {
                2
            } else {
                stream + 2
            };
            let mut block = Vec::new();
            literal(&mut block, b":status", b"200");
            let _ = frames.send(frame(HEADERS, END_HEADERS | END_STREAM, on, &block));
        }
        "/priority-flood" => {
            // Exclusive bit clear, the stream's own id as its dependency,
            // weight 16: a stream error each (RFC 9113 section 5.3.1).
            let mut payload = stream.to_be_bytes().to_vec();
            payload.push(15);
            for _ in 0..number("n").unwrap_or(10_000) {
                if frames
                    .send(frame(PRIORITY_FRAME, 0, stream, &payload))
                    .is_err()
                {
                    return;
                }
            }
        }
        "/tiny-frames" => {
            let bytes = number("bytes").unwrap_or(1024);
            let interleave = number("yield") == Some(1);
            let length = bytes.to_string();
            let _ = frames.send(head(
                &[(b":status", b"200"), (b"content-length", length.as_bytes())],
                bytes == 0,
            ));
            // With `pad=P`: each frame padded with P zeros, its payload
            // the Pad Length, the byte and the padding.
            let pad = number("pad").map(|p| p.min(255) as u8);
            let payload = match pad {
                Some(p) => [&[p, b'x'][..], &vec![0; p.into()]].concat(),
                None => b"x".to_vec(),
            };
            for i in 0..bytes {
                let mut window = 0;
                while window < payload.len() {
                    window += flow.take(stream, payload.len() - window).await;
                }
                let mut flags = if i + 1 == bytes { END_STREAM } else { 0 };
                if pad.is_some() {
                    flags |= PADDED;
                }
                if frames.send(frame(DATA, flags, stream, &payload)).is_err() {
                    return;
                }
                shared
                    .data_frames
                    .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                if interleave {
                    tokio::task::yield_now().await;
                }
            }
        }
        _ => {
            if let Some(ms) = number("delay_ms") {
                tokio::time::sleep(Duration::from_millis(ms.min(60_000))).await;
            }
            let page = format!("<html><body>{path}</body></html>\n");
            let length = page.len().to_string();
            let _ = frames.send(head(
                &[
                    (b":status", b"200"),
                    (b"content-type", b"text/html"),
                    (b"content-length", length.as_bytes()),
                ],
                false,
            ));
            let mut sent = 0;
            while sent < page.len() {
                let n = flow.take(stream, page.len() - sent).await;
                let end = sent + n == page.len();
                let bytes = &page.as_bytes()[sent..sent + n];
                let flags = if end { END_STREAM } else { 0 };
                if frames.send(frame(DATA, flags, stream, bytes)).is_err() {
                    return;
                }
                sent += n;
            }
        }
    }
}

/// A frame: its 9-byte header and `payload`.
fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = (payload.len() as u32).to_be_bytes();
    let mut out = Vec::with_capacity(9 + payload.len());
    out.extend_from_slice(&len[1..]);
    out.push(kind);
    out.push(flags);
    out.extend_from_slice(&(stream & 0x7fff_ffff).to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// A field as an HPACK literal without indexing, with a new name and no
/// Huffman coding (RFC 7541 section 6.2.2): the decoder's table is left
/// as it was, whatever the field holds.
fn literal(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.push(0x00);
    string(out, name);
    string(out, value);
}

/// An HPACK string literal, not Huffman coded (RFC 7541 section 5.2).
fn string(out: &mut Vec<u8>, bytes: &[u8]) {
    integer(out, 7, 0x00, bytes.len());
    out.extend_from_slice(bytes);
}

/// An HPACK integer with an `n`-bit prefix (RFC 7541 section 5.1).
fn integer(out: &mut Vec<u8>, n: u32, high: u8, value: usize) {
    let max = (1usize << n) - 1;
    if value < max {
        out.push(high | value as u8);
        return;
    }
    out.push(high | max as u8);
    let mut rest = value - max;
    while rest >= 128 {
        out.push((rest % 128) as u8 | 0x80);
        rest /= 128;
    }
    out.push(rest as u8);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_decode_as_written_and_leave_the_table_alone() {
        let mut block = Vec::new();
        literal(&mut block, b":status", b"200");
        literal(&mut block, b"x-long", &[b'a'; 300]);
        let mut decoder = hpack::Decoder::new();
        let fields = decoder.decode(&block).unwrap();
        assert_eq!(fields[0], (b":status".to_vec(), b"200".to_vec()));
        assert_eq!(fields[1].1.len(), 300);
        // Decoded again from an empty table: nothing was indexed.
        assert_eq!(decoder.decode(&block).unwrap(), fields);
    }
}
