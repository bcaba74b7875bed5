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

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;

pub const DATA: u8 = 0x0;
pub const HEADERS: u8 = 0x1;
const SETTINGS: u8 = 0x4;
pub const CONTINUATION: u8 = 0x9;
const ACK: u8 = 0x1;
const SETTINGS_MAX_CONCURRENT_STREAMS: u16 = 0x3;

/// A frame header's size.
const HEAD: usize = 9;
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
}

impl Default for Seen {
    fn default() -> Seen {
        Seen {
            last: AtomicU64::new(u64::MAX),
            max_streams: AtomicU32::new(u32::MAX),
            none_allowed: Notify::new(),
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
            seen,
        }
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
