//! What the server sent, frame by frame, as `h2` reads it: which frame
//! `h2` was reading when it gave up on the connection, and the server's
//! stream limit.
//!
//! # Why a reader between the socket and `h2`
//!
//! RFC 9113 section 8.1.1 makes a malformed answer an error of its own
//! stream, but `h2` raises some malformations (those found while decoding
//! HPACK: an upper-case name, CR or LF in a value, a `:status` that is no
//! number) as an error of the whole connection: it sends
//! `GOAWAY(PROTOCOL_ERROR)` and every stream on it fails with the same
//! error, which does not say whose answer it was. The requests whose answer
//! had not come were not processed as far as the client knows and can go
//! again on a new connection; the one whose answer was malformed must not,
//! or it would take the next connection down too. To tell them apart, this
//! reader hands `h2` at most one frame per read: `h2` reads again only
//! once it has decoded every frame it holds, so when it gives up, the last
//! frame handed out is the one it was decoding. Its stream is the culprit.
//! The cost is a copy of what is received and a read call per frame
//! (against a local nginx: see `docs/benchmarks.md`).
//!
//! The same reader sees the server's `SETTINGS`, so that a server allowing
//! no streams at all is named at once rather than waited on.
//!
//! # Why small DATA frames are joined
//!
//! `h2` holds each DATA frame it has read until the body's reader takes it,
//! at a cost of about a hundred bytes a frame besides its payload. A server
//! that sends a body in one-byte frames faster than the reader is
//! scheduled (a busy runtime, other connections) made the client hold 200
//! times the body's size: 8 bodies of 1 MiB took 232 MB. So a run of
//! whole DATA frames in the buffer that begins with a small one is handed
//! to `h2` with each stream's frames joined (up to 16 KiB a frame, the
//! largest `h2` accepts by default): frame boundaries carry no meaning in
//! HTTP/2 (an intermediary may re-frame a body), each stream's bytes keep
//! their order, and flow control counts the same bytes. Joining across the
//! run, not only consecutive frames of one stream, is what holds bodies
//! interleaved on one connection (four bodies of 512 KiB in alternating
//! one-byte frames took 212 MB joined only when consecutive). Padding is
//! kept as padding, since flow control counts it (a padded frame's body is
//! joined, and its padding added to the joined frame's), and PING,
//! PRIORITY and WINDOW_UPDATE frames within a run (which mean the same
//! before or after a DATA frame) go as they came without ending it, so
//! that a server cannot escape the joining by sending one between each
//! one-byte frame. A run that begins with a frame of 1 KiB or more goes as
//! it came.

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;

pub const DATA: u8 = 0x0;
pub const HEADERS: u8 = 0x1;
const PRIORITY: u8 = 0x2;
const SETTINGS: u8 = 0x4;
const PING: u8 = 0x6;
const WINDOW_UPDATE: u8 = 0x8;
pub const CONTINUATION: u8 = 0x9;
const ACK: u8 = 0x1;
const SETTINGS_MAX_CONCURRENT_STREAMS: u16 = 0x3;

/// A frame header's size.
const HEAD: usize = 9;
const PADDED: u8 = 0x8;
const END_STREAM: u8 = 0x1;
/// Not a flag of the protocol: a joined frame that is full.
const CLOSED: u8 = 0x80;
/// The most padding a frame can carry: a Pad Length of 255, and its own
/// byte.
const MAX_PADDING: usize = 256;
/// A DATA frame shorter than this may be joined with the next ones.
const SMALL: usize = 1024;
/// The largest frame joined: `h2`'s default SETTINGS_MAX_FRAME_SIZE.
const JOINED: usize = 16 << 10;
/// What is read from the socket at once.
const BUFFER: usize = 64 << 10;

/// What the reader saw, shared with the requests on the connection.
#[derive(Debug)]
pub struct Seen {
    /// The last frame handed to `h2`: its type in bits 32..40, its stream
    /// in the low 31 bits; `u64::MAX` before the first.
    last: AtomicU64,
    /// The server's `SETTINGS_MAX_CONCURRENT_STREAMS`, `u32::MAX` until it
    /// names one.
    max_streams: AtomicU32,
    /// Woken when the server allows no streams.
    none_allowed: Notify,
    /// The server's first bytes were an HTTP/1 answer (`HTTP/1.1 400 ...`
    /// to the h2c preface): it does not speak HTTP/2 here.
    http1: AtomicBool,
}

impl Default for Seen {
    fn default() -> Seen {
        Seen {
            last: AtomicU64::new(u64::MAX),
            max_streams: AtomicU32::new(u32::MAX),
            none_allowed: Notify::new(),
            http1: AtomicBool::new(false),
        }
    }
}

impl Seen {
    /// The type and stream of the last frame handed to `h2`.
    ///
    /// Read after `h2` reported the connection's end to a request: the
    /// store it pairs with ([`Watched`]'s `Release`) happened before `h2`
    /// decoded that frame, and `h2` hands its error to the request through
    /// its own lock, so this `Acquire` load sees it.
    pub fn last_frame(&self) -> Option<(u8, u32)> {
        let last = self.last.load(Ordering::Acquire);
        (last != u64::MAX).then_some(((last >> 32) as u8, last as u32))
    }

    /// `true` when the server answered in HTTP/1 instead of HTTP/2.
    pub fn answered_in_http1(&self) -> bool {
        // Relaxed: read after `h2` reported the connection's end, which
        // the store happened before (see `last_frame`).
        self.http1.load(Ordering::Relaxed)
    }

    /// `true` once the server said it allows no streams.
    pub fn no_streams(&self) -> bool {
        self.max_streams.load(Ordering::Acquire) == 0
    }

    /// Resolves once the server says it allows no streams.
    pub async fn none_allowed(&self) {
        loop {
            let told = self.none_allowed.notified();
            if self.no_streams() {
                return;
            }
            told.await;
        }
    }

    fn saw(&self, kind: u8, stream: u32) {
        // Release: pairs with `last_frame`'s Acquire (see there).
        self.last.store(
            (u64::from(kind) << 32) | u64::from(stream),
            Ordering::Release,
        );
    }

    fn settings(&self, payload: &[u8]) {
        for setting in payload.chunks_exact(6) {
            if u16::from_be_bytes([setting[0], setting[1]]) == SETTINGS_MAX_CONCURRENT_STREAMS {
                let n = u32::from_be_bytes([setting[2], setting[3], setting[4], setting[5]]);
                // Release: pairs with `no_streams`' Acquire; the flag is all
                // it publishes.
                self.max_streams.store(n, Ordering::Release);
                if n == 0 {
                    self.none_allowed.notify_waiters();
                }
            }
        }
    }
}

/// The connection's stream, handing what it reads to `h2` one frame at a
/// time and telling [`Seen`] about each. Writes pass through.
pub struct Watched<S> {
    io: S,
    buf: Box<[u8]>,
    /// Received and not yet handed out: `buf[start..end]`.
    start: usize,
    end: usize,
    /// Bytes of the current frame still to hand out; 0 at a frame's start.
    left: usize,
    eof: bool,
    /// Frames made of small DATA frames (see the module's docs), handed
    /// out from `joined[joined_at..]` before the buffer, one per read:
    /// `joined_frames` holds where each starts and ends, its kind and its
    /// stream.
    joined: Vec<u8>,
    joined_at: usize,
    joined_frames: VecDeque<(usize, usize, u8, u32)>,
    /// Scratch for the joining, kept for its allocations: the frames being
    /// joined, and where each frame's body is in the buffer, its length
    /// and its joined frame.
    joining: Vec<Joining>,
    pieces: Vec<(usize, usize, usize)>,
    /// The server's first bytes are still to be looked at.
    first: bool,
    seen: Arc<Seen>,
}

impl<S> Watched<S> {
    pub fn new(io: S, seen: Arc<Seen>) -> Watched<S> {
        Watched {
            io,
            buf: vec![0; BUFFER].into_boxed_slice(),
            start: 0,
            end: 0,
            left: 0,
            eof: false,
            joined: Vec::new(),
            joined_at: 0,
            joined_frames: VecDeque::new(),
            joining: Vec::new(),
            pieces: Vec::new(),
            first: true,
            seen,
        }
    }
}

/// A frame being joined from small DATA frames of one stream, or a frame
/// of another kind within the run, which goes as it came.
#[derive(Debug)]
struct Joining {
    /// DATA, or the kind of a frame that goes as it came.
    kind: u8,
    stream: u32,
    /// `END_STREAM` once a frame that ends the stream is in; [`CLOSED`]
    /// once full.
    flags: u8,
    /// Bytes of the body.
    data: usize,
    /// Bytes flow control counts besides the body: the padding of the
    /// frames joined, and each one's Pad Length field.
    padding: usize,
    /// Where its header goes in `Watched::joined`.
    at: usize,
    /// Body bytes copied so far.
    filled: usize,
}

impl Joining {
    /// Its payload's length (what flow control counts).
    fn len(&self) -> usize {
        self.data + self.padding
    }

    /// Its length with its header.
    fn size(&self) -> usize {
        if self.kind == DATA {
            HEAD + self.len()
        } else {
            // A frame as it came: `data` is all of it.
            self.data
        }
    }
}

/// The body within a DATA frame's payload (`Some((from, len))`), or
/// `None` when its padding is malformed (left for `h2` to refuse).
fn data_of(payload: &[u8], flags: u8) -> Option<(usize, usize)> {
    if flags & PADDED == 0 {
        return Some((0, payload.len()));
    }
    let pad = usize::from(*payload.first()?);
    let len = payload.len().checked_sub(1 + pad)?;
    Some((1, len))
}

impl<S> Watched<S> {
    /// If the frame at the buffer's start is a small DATA frame, and the
    /// run of whole DATA frames it begins (in the buffer) holds several of
    /// some stream's, joins each stream's into frames of at most
    /// [`JOINED`] bytes (taking the run from the buffer), queues them in
    /// `self.joined` in the order their streams first came, and returns
    /// `true`.
    ///
    /// Each stream's bytes keep their order, and a frame that ends its
    /// stream ends its joined frame; only the interleaving of different
    /// streams changes, which means nothing in HTTP/2 (each stream is its
    /// own sequence). Flow control counts a DATA frame's whole payload,
    /// padding included, and `h2` gives back to the server what it
    /// counted: so the padding of the frames joined (and their Pad Length
    /// fields) becomes the joined frame's padding, at most 256 bytes of it
    /// (a Pad Length is one byte); a frame whose padding would not fit
    /// starts a joined frame of its own.
    fn join_small_data(&mut self) -> bool {
        let held = &self.buf[self.start..self.end];
        let header = |at: usize| -> Option<(usize, u8, u8, u32)> {
            let b = held.get(at..at + HEAD)?;
            let len = u32::from_be_bytes([0, b[0], b[1], b[2]]) as usize;
            let stream = u32::from_be_bytes([b[5], b[6], b[7], b[8]]) & 0x7fff_ffff;
            Some((len, b[3], b[4], stream))
        };
        match header(0) {
            Some((len, DATA, _, _)) if len < SMALL => {}
            _ => return false,
        }
        // The run, frame by frame, each given to its stream's open joined
        // frame (the search goes from the newest: a stream's frames
        // usually follow each other).
        let (joining, pieces) = (&mut self.joining, &mut self.pieces);
        joining.clear();
        pieces.clear();
        let mut at = 0;
        while let Some((len, kind, flags, stream)) = header(at) {
            if held.len() < at + HEAD + len {
                break;
            }
            if matches!(kind, PRIORITY | PING | WINDOW_UPDATE) {
                // Frames about no stream's body, which mean the same
                // before or after a DATA frame: a server that sends one
                // between each one-byte frame is not to escape the
                // joining. They go as they came, in their order.
                joining.push(Joining {
                    kind,
                    stream,
                    flags: CLOSED,
                    data: HEAD + len,
                    padding: 0,
                    at: 0,
                    filled: 0,
                });
                pieces.push((at, HEAD + len, joining.len() - 1));
                at += HEAD + len;
                continue;
            }
            if kind != DATA {
                break;
            }
            let payload = &held[at + HEAD..at + HEAD + len];
            let Some((from, data)) = data_of(payload, flags) else {
                break;
            };
            let padding = len - data;
            let open = joining
                .iter()
                .rposition(|j| j.stream == stream && j.flags & (END_STREAM | CLOSED) == 0);
            let into = match open {
                Some(i)
                    if joining[i].len() + len <= JOINED
                        && joining[i].padding + padding <= MAX_PADDING =>
                {
                    i
                }
                _ => {
                    if let Some(i) = open {
                        // Full: closed, as if it had ended the stream.
                        joining[i].flags |= CLOSED;
                    }
                    joining.push(Joining {
                        kind: DATA,
                        stream,
                        flags: 0,
                        data: 0,
                        padding: 0,
                        at: 0,
                        filled: 0,
                    });
                    joining.len() - 1
                }
            };
            joining[into].data += data;
            joining[into].padding += padding;
            joining[into].flags |= flags & END_STREAM;
            pieces.push((at + HEAD + from, data, into));
            at += HEAD + len;
        }
        if joining.len() == pieces.len() {
            // Nothing to join: the frames go as they came.
            return false;
        }
        let mut total = 0;
        for j in joining.iter_mut() {
            j.at = total;
            total += j.size();
        }
        // Zeros: the padding's bytes, which must be zero.
        self.joined.clear();
        self.joined.resize(total, 0);
        self.joined_frames.clear();
        for j in joining.iter_mut() {
            self.joined_frames
                .push_back((j.at, j.at + j.size(), j.kind, j.stream));
            if j.kind != DATA {
                continue;
            }
            let head = &mut self.joined[j.at..j.at + HEAD];
            head[..3].copy_from_slice(&(j.len() as u32).to_be_bytes()[1..]);
            head[3] = DATA;
            head[4] = j.flags & END_STREAM;
            head[5..].copy_from_slice(&j.stream.to_be_bytes());
            if j.padding > 0 {
                head[4] |= PADDED;
                // The Pad Length field is one of the padding's bytes.
                self.joined[j.at + HEAD] = (j.padding - 1) as u8;
                j.filled = 1;
            }
        }
        for &(from, len, into) in pieces.iter() {
            let j = &mut joining[into];
            let to = if j.kind == DATA {
                j.at + HEAD + j.filled
            } else {
                j.at
            };
            self.joined[to..to + len].copy_from_slice(&held[from..from + len]);
            j.filled += len;
        }
        self.joined_at = 0;
        self.start += at;
        true
    }
}

impl<S: AsyncRead + Unpin> Watched<S> {
    /// Reads more from the socket into the buffer; `Ready(Ok(false))` at
    /// its end.
    fn fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<bool>> {
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        let mut room = ReadBuf::new(&mut self.buf[self.end..]);
        std::task::ready!(Pin::new(&mut self.io).poll_read(cx, &mut room))?;
        let n = room.filled().len();
        self.end += n;
        if self.first && (self.end >= 5 || n == 0) {
            self.first = false;
            if self.buf[..self.end].starts_with(b"HTTP/") {
                self.seen.http1.store(true, Ordering::Relaxed);
            }
        }
        Poll::Ready(Ok(n > 0))
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        loop {
            if let Some(&(start, end, kind, stream)) = this.joined_frames.front() {
                if this.joined_at == start {
                    this.seen.saw(kind, stream);
                }
                let n = (end - this.joined_at).min(out.remaining());
                out.put_slice(&this.joined[this.joined_at..this.joined_at + n]);
                this.joined_at += n;
                if this.joined_at == end {
                    this.joined_frames.pop_front();
                }
                return Poll::Ready(Ok(()));
            }
            if this.left == 0 && !this.eof && this.join_small_data() {
                continue;
            }
            let held = this.end - this.start;
            if this.left == 0 && !this.eof {
                // At a frame's start: its header, and a SETTINGS frame whole.
                if held >= HEAD {
                    let b = &this.buf[this.start..this.end];
                    let len = u32::from_be_bytes([0, b[0], b[1], b[2]]) as usize;
                    let (kind, flags) = (b[3], b[4]);
                    let stream = u32::from_be_bytes([b[5], b[6], b[7], b[8]]) & 0x7fff_ffff;
                    let settings = kind == SETTINGS && flags & ACK == 0 && len <= BUFFER - HEAD;
                    if !settings || held >= HEAD + len {
                        if settings {
                            this.seen.settings(&b[HEAD..HEAD + len]);
                        }
                        this.seen.saw(kind, stream);
                        this.left = HEAD + len;
                        continue;
                    }
                }
                if !std::task::ready!(this.fill(cx))? {
                    // The server's end, maybe within a frame: what is held
                    // goes to `h2` as it is, which reports it.
                    this.eof = true;
                }
                continue;
            }
            if held == 0 {
                if this.eof || !std::task::ready!(this.fill(cx))? {
                    this.eof = true;
                    return Poll::Ready(Ok(()));
                }
                continue;
            }
            let n = if this.eof { held } else { held.min(this.left) }.min(out.remaining());
            out.put_slice(&this.buf[this.start..this.start + n]);
            this.start += n;
            this.left = this.left.saturating_sub(n);
            return Poll::Ready(Ok(()));
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
        let mut out = (payload.len() as u32).to_be_bytes()[1..].to_vec();
        out.extend_from_slice(&[kind, flags]);
        out.extend_from_slice(&stream.to_be_bytes());
        out.extend_from_slice(payload);
        out
    }

    /// Every read stops at a frame's end, however the bytes arrive, and
    /// the last frame handed out is the one `h2` would be decoding.
    #[tokio::test]
    async fn hands_out_one_frame_per_read_and_names_it() {
        let mut wire = frame(SETTINGS, 0, 0, &[0, 3, 0, 0, 0, 7]);
        wire.extend(frame(HEADERS, 4, 1, b"head"));
        wire.extend(frame(DATA, 1, 3, &[7; 100]));
        let seen = Arc::new(Seen::default());
        let mut r = Watched::new(&wire[..], seen.clone());
        let mut got = vec![0u8; 4096];
        let n = r.read(&mut got).await.unwrap();
        assert_eq!(n, 15, "the SETTINGS frame alone");
        assert_eq!(seen.last_frame(), Some((SETTINGS, 0)));
        assert_eq!(seen.max_streams.load(Ordering::SeqCst), 7);
        assert_eq!(r.read(&mut got).await.unwrap(), 13);
        assert_eq!(seen.last_frame(), Some((HEADERS, 1)));
        assert_eq!(r.read(&mut got).await.unwrap(), 109);
        assert_eq!(seen.last_frame(), Some((DATA, 3)));
        assert_eq!(r.read(&mut got).await.unwrap(), 0);
    }

    /// The frames in `wire`: (type, flags, stream, payload) each.
    fn parse(mut wire: &[u8]) -> Vec<(u8, u8, u32, Vec<u8>)> {
        let mut frames = Vec::new();
        while wire.len() >= HEAD {
            let len = u32::from_be_bytes([0, wire[0], wire[1], wire[2]]) as usize;
            let stream = u32::from_be_bytes([wire[5], wire[6], wire[7], wire[8]]);
            frames.push((wire[3], wire[4], stream, wire[HEAD..HEAD + len].to_vec()));
            wire = &wire[HEAD + len..];
        }
        assert!(wire.is_empty(), "a frame cut short");
        frames
    }

    async fn through(wire: &[u8]) -> Vec<u8> {
        let mut r = Watched::new(wire, Arc::new(Seen::default()));
        let mut got = Vec::new();
        r.read_to_end(&mut got).await.unwrap();
        got
    }

    /// A body in one-byte frames reaches `h2` in frames of up to 16 KiB,
    /// the same bytes, the stream's end on the last.
    #[tokio::test]
    async fn small_data_frames_of_a_stream_are_joined() {
        let mut wire = frame(HEADERS, 4, 1, b"head");
        let body: Vec<u8> = (0..40_000u32).map(|i| i as u8).collect();
        for (i, byte) in body.iter().enumerate() {
            let flags = if i + 1 == body.len() { END_STREAM } else { 0 };
            wire.extend(frame(DATA, flags, 1, &[*byte]));
        }
        let frames = parse(&through(&wire).await);
        assert_eq!(frames[0].0, HEADERS);
        let data: Vec<_> = frames[1..].iter().collect();
        assert!(
            data.len() <= 8,
            "{} DATA frames for 40,000 bytes",
            data.len()
        );
        assert!(data
            .iter()
            .all(|f| f.0 == DATA && f.2 == 1 && f.3.len() <= JOINED));
        let joined: Vec<u8> = data.iter().flat_map(|f| f.3.clone()).collect();
        assert_eq!(joined, body);
        assert!(data[..data.len() - 1].iter().all(|f| f.1 & END_STREAM == 0));
        assert_eq!(data.last().unwrap().1 & END_STREAM, END_STREAM);
    }

    /// PING, PRIORITY and WINDOW_UPDATE frames between small DATA frames
    /// do not stop the joining; they go as they came, in their order.
    #[tokio::test]
    async fn pings_and_priorities_between_frames_do_not_stop_the_joining() {
        let mut wire = Vec::new();
        let mut others = Vec::new();
        for i in 0..250u8 {
            wire.extend(frame(DATA, 0, 1, &[i]));
            let other = match i % 3 {
                0 => frame(PING, 0, 0, &[i; 8]),
                1 => frame(PRIORITY, 0, 3, &[0, 0, 0, 5, 15]),
                _ => frame(WINDOW_UPDATE, 0, 0, &[0, 0, 1, 0]),
            };
            wire.extend(&other);
            others.extend(parse(&other));
        }
        let frames = parse(&through(&wire).await);
        let (data, rest): (Vec<_>, Vec<_>) = frames.into_iter().partition(|f| f.0 == DATA);
        assert_eq!(data.len(), 1, "one joined frame");
        assert_eq!(data[0].3, (0..250u8).collect::<Vec<_>>());
        assert_eq!(rest, others);
    }

    /// Interleaved streams are joined each on its own, in the order the
    /// streams first came, each stream's bytes in order; a frame that ends
    /// its stream ends its joined frame (a later frame of that stream,
    /// which `h2` must refuse, stays a frame of its own, after it); each
    /// read hands out one frame and names its stream.
    #[tokio::test]
    async fn interleaved_streams_are_joined_each_on_its_own() {
        let mut wire = Vec::new();
        for i in 0..30u8 {
            let stream = [1, 3, 5][usize::from(i % 3)];
            let flags = if stream == 3 && i == 13 {
                END_STREAM
            } else {
                0
            };
            wire.extend(frame(DATA, flags, stream, &[i]));
        }
        let seen = Arc::new(Seen::default());
        let mut r = Watched::new(&wire[..], seen.clone());
        let mut reads = Vec::new();
        loop {
            let mut got = vec![0u8; 4096];
            let n = r.read(&mut got).await.unwrap();
            if n == 0 {
                break;
            }
            let frames = parse(&got[..n]);
            assert_eq!(frames.len(), 1, "one frame per read");
            assert_eq!(seen.last_frame(), Some((DATA, frames[0].2)));
            reads.push(frames.into_iter().next().unwrap());
        }
        let of = |stream: u32, from: u8, to: u8| -> Vec<u8> {
            (from..to)
                .filter(|i| [1, 3, 5][usize::from(i % 3)] == stream)
                .collect()
        };
        assert_eq!(
            reads,
            [
                (DATA, 0, 1, of(1, 0, 30)),
                (DATA, END_STREAM, 3, of(3, 0, 14)),
                (DATA, 0, 5, of(5, 0, 30)),
                (DATA, 0, 3, of(3, 14, 30)),
            ]
        );
    }

    /// A joined frame holds at most 16 KiB: a stream's next bytes start a
    /// frame of their own, after those of the streams before it.
    #[tokio::test]
    async fn a_full_joined_frame_is_closed() {
        let mut wire = Vec::new();
        for i in 0..(JOINED / 512 + 2) {
            wire.extend(frame(DATA, 0, 1, &[i as u8; 512]));
            wire.extend(frame(DATA, 0, 3, &[1]));
        }
        let frames = parse(&through(&wire).await);
        let sizes: Vec<(u32, usize)> = frames.iter().map(|f| (f.2, f.3.len())).collect();
        assert_eq!(sizes, [(1, JOINED), (3, JOINED / 512 + 2), (1, 1024)]);
    }

    /// Padded frames are joined too: the bodies in order, and as many
    /// bytes for flow control as the frames joined (the padding and the
    /// Pad Length fields become the joined frame's padding, 256 bytes at
    /// most, all zero).
    #[tokio::test]
    async fn padded_frames_are_joined_keeping_what_flow_control_counts() {
        let mut wire = Vec::new();
        let mut body = Vec::new();
        for i in 0..1000u32 {
            // One byte of body; no padding, or padding of i % 4 bytes.
            let pad = (i % 4) as u8;
            if i % 5 == 0 {
                wire.extend(frame(DATA, 0, 1, &[i as u8]));
            } else {
                let mut payload = vec![pad, i as u8];
                payload.extend(std::iter::repeat_n(0, pad.into()));
                wire.extend(frame(DATA, PADDED, 1, &payload));
            }
            body.push(i as u8);
        }
        let counted =
            |frames: &[(u8, u8, u32, Vec<u8>)]| -> usize { frames.iter().map(|f| f.3.len()).sum() };
        let sent = parse(&wire);
        let frames = parse(&through(&wire).await);
        assert!(frames.len() < 30, "{} frames for 1,000", frames.len());
        assert_eq!(counted(&frames), counted(&sent), "what flow control counts");
        let mut read = Vec::new();
        for (kind, flags, stream, payload) in &frames {
            assert_eq!((*kind, *stream), (DATA, 1));
            let (from, len) = data_of(payload, *flags).expect("well padded");
            read.extend_from_slice(&payload[from..from + len]);
            assert!(
                payload[from + len..].iter().all(|&b| b == 0),
                "zero padding"
            );
            if flags & PADDED != 0 {
                assert!(payload.len() - len <= MAX_PADDING);
            }
        }
        assert_eq!(read, body);
    }

    /// A run that begins with a large frame goes as it came, and so does a
    /// malformed padded frame (for `h2` to refuse), which ends a run.
    #[tokio::test]
    async fn malformed_and_large_frames_are_not_joined() {
        let mut wire = Vec::new();
        wire.extend(frame(DATA, 0, 7, &vec![b'x'; 2000]));
        wire.extend(frame(DATA, 0, 7, &vec![b'y'; 2000]));
        wire.extend(frame(DATA, PADDED, 5, &[9, b'a', 0]));
        wire.extend(frame(DATA, PADDED, 5, &[0, b'b']));
        wire.extend(frame(DATA, 0, 9, &[1]));
        wire.extend(frame(DATA, 0, 11, &[2]));
        assert_eq!(through(&wire).await, wire);
    }

    /// Frames arriving a few bytes at a time are joined as far as they are
    /// whole in the buffer, and the bytes stay the same.
    #[tokio::test]
    async fn frames_arriving_in_pieces_keep_their_bytes() {
        use tokio::io::AsyncWriteExt;
        let mut wire = Vec::new();
        for i in 0..3_000u32 {
            wire.extend(frame(DATA, u8::from(i == 2_999), 3, &[(i % 251) as u8]));
        }
        let (ours, mut theirs) = tokio::io::duplex(64);
        let writer = tokio::spawn({
            let wire = wire.clone();
            async move {
                for piece in wire.chunks(7) {
                    theirs.write_all(piece).await.unwrap();
                }
            }
        });
        let mut r = Watched::new(ours, Arc::new(Seen::default()));
        let mut got = Vec::new();
        r.read_to_end(&mut got).await.unwrap();
        writer.await.unwrap();
        let sent: Vec<u8> = parse(&wire).iter().flat_map(|f| f.3.clone()).collect();
        let frames = parse(&got);
        let read: Vec<u8> = frames.iter().flat_map(|f| f.3.clone()).collect();
        assert_eq!(read, sent);
        assert_eq!(frames.last().unwrap().1, END_STREAM);
    }

    #[tokio::test]
    async fn a_frame_cut_by_the_end_is_handed_out_as_it_is() {
        let mut wire = frame(HEADERS, 4, 5, b"head");
        wire.truncate(11);
        let mut r = Watched::new(&wire[..], Arc::new(Seen::default()));
        let mut got = Vec::new();
        r.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, wire);
    }

    #[tokio::test]
    async fn settings_of_no_streams_are_told() {
        let wire = frame(SETTINGS, 0, 0, &[0, 3, 0, 0, 0, 0]);
        let seen = Arc::new(Seen::default());
        let mut r = Watched::new(&wire[..], seen.clone());
        let waiting = tokio::spawn({
            let seen = seen.clone();
            async move { seen.none_allowed().await }
        });
        let mut got = Vec::new();
        r.read_to_end(&mut got).await.unwrap();
        assert!(seen.no_streams());
        waiting.await.unwrap();
    }
}
