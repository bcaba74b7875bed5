//! Where a response body ends (RFC 9112 section 6.3), decoded without I/O.
//!
//! The [`Decoder`] is fed whatever bytes the connection has buffered and
//! says which of them are body data, and when the body is complete. It owns
//! no buffer and reads no socket, so every framing rule is tested here on
//! byte slices, split at every point, and the connection code around it
//! only moves bytes.

use std::fmt;

/// How the body of one response is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No body: 204, 304 and 1xx answers.
    Empty,
    /// `Content-Length` bytes.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// Everything until the server closes the connection.
    Close,
}

/// The longest chunk-size line (size, extensions) accepted, in bytes.
const MAX_SIZE_LINE: usize = 4096;
/// The most trailer bytes accepted after the last chunk.
const MAX_TRAILERS: usize = 64 * 1024;

/// A body that breaks its framing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Malformed(pub &'static str);

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// What the next bytes of input are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decoded {
    /// `input[start..end]` is body data.
    Data { start: usize, end: usize },
    /// Every byte given was framing; the body needs more input.
    More,
    /// The body is complete.
    Done,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Length(u64),
    Close,
    /// Hex digits of a chunk size.
    Size {
        size: u64,
        digits: u8,
    },
    /// The rest of a chunk-size line: whitespace, `;extensions`, CRLF.
    SizeLine {
        size: u64,
        ext: bool,
        cr: bool,
        len: usize,
    },
    Data(u64),
    /// The CRLF after a chunk's data.
    DataEnd {
        cr: bool,
    },
    /// Trailer fields after the last chunk, up to an empty line.
    Trailer {
        line: usize,
        cr: bool,
        total: usize,
    },
    Done,
}

/// Finds the body in a response's bytes; see the module docs.
#[derive(Debug, Clone)]
pub struct Decoder {
    state: State,
}

impl Decoder {
    pub fn new(framing: Framing) -> Decoder {
        let state = match framing {
            Framing::Empty | Framing::Length(0) => State::Done,
            Framing::Length(n) => State::Length(n),
            Framing::Chunked => State::Size { size: 0, digits: 0 },
            Framing::Close => State::Close,
        };
        Decoder { state }
    }

    /// Reads `input` (the bytes after those already consumed): how many
    /// bytes are consumed, and what they are. `Data` consumes through the
    /// end of its data; `More` consumes all of `input`; `Done` consumes
    /// through the body's last byte (anything after it is not this body's).
    pub fn decode(&mut self, input: &[u8]) -> Result<(usize, Decoded), Malformed> {
        let mut i = 0;
        loop {
            if i == input.len() && self.state != State::Done {
                return Ok((i, Decoded::More));
            }
            match self.state {
                State::Done => return Ok((i, Decoded::Done)),
                State::Length(left) | State::Data(left) => {
                    let n = left.min((input.len() - i) as u64);
                    let left = left - n;
                    self.state = match self.state {
                        State::Length(_) if left == 0 => State::Done,
                        State::Length(_) => State::Length(left),
                        _ if left == 0 => State::DataEnd { cr: false },
                        _ => State::Data(left),
                    };
                    let end = i + n as usize;
                    return Ok((end, Decoded::Data { start: i, end }));
                }
                State::Close => {
                    return Ok((
                        input.len(),
                        Decoded::Data {
                            start: i,
                            end: input.len(),
                        },
                    ));
                }
                State::Size { size, digits } => {
                    let b = input[i];
                    match (b as char).to_digit(16) {
                        Some(d) => {
                            let size = size
                                .checked_mul(16)
                                .map(|s| s + u64::from(d))
                                .filter(|_| digits < 16)
                                .ok_or(Malformed("chunk size too large"))?;
                            self.state = State::Size {
                                size,
                                digits: digits + 1,
                            };
                            i += 1;
                        }
                        None if digits == 0 => return Err(Malformed("chunk size missing")),
                        None => {
                            self.state = State::SizeLine {
                                size,
                                ext: false,
                                cr: false,
                                len: digits.into(),
                            };
                        }
                    }
                }
                State::SizeLine { size, ext, cr, len } => {
                    let b = input[i];
                    i += 1;
                    if len >= MAX_SIZE_LINE {
                        return Err(Malformed("chunk-size line too long"));
                    }
                    let len = len + 1;
                    self.state = match b {
                        b'\n' if size == 0 => State::Trailer {
                            line: 0,
                            cr: false,
                            total: 0,
                        },
                        b'\n' => State::Data(size),
                        _ if cr => return Err(Malformed("CR without LF in a chunk-size line")),
                        b'\r' => State::SizeLine {
                            size,
                            ext,
                            cr: true,
                            len,
                        },
                        b';' => State::SizeLine {
                            size,
                            ext: true,
                            cr,
                            len,
                        },
                        b' ' | b'\t' => State::SizeLine { size, ext, cr, len },
                        0x21..=0x7e | 0x80..=0xff if ext => State::SizeLine { size, ext, cr, len },
                        _ => return Err(Malformed("invalid byte in a chunk-size line")),
                    };
                }
                State::DataEnd { cr } => {
                    let b = input[i];
                    i += 1;
                    self.state = match b {
                        b'\n' => State::Size { size: 0, digits: 0 },
                        b'\r' if !cr => State::DataEnd { cr: true },
                        _ => return Err(Malformed("chunk data not followed by CRLF")),
                    };
                }
                State::Trailer { line, cr, total } => {
                    let b = input[i];
                    i += 1;
                    if total >= MAX_TRAILERS {
                        return Err(Malformed("trailers too long"));
                    }
                    let total = total + 1;
                    self.state = match b {
                        b'\n' if line == 0 => State::Done,
                        b'\n' => State::Trailer {
                            line: 0,
                            cr: false,
                            total,
                        },
                        _ if cr => return Err(Malformed("CR without LF in a trailer")),
                        b'\r' => State::Trailer {
                            line,
                            cr: true,
                            total,
                        },
                        _ => State::Trailer {
                            line: line + 1,
                            cr: false,
                            total,
                        },
                    };
                }
            }
        }
    }

    /// The connection ended (EOF): `Ok` if that completes the body (a
    /// close-delimited one), else what is missing.
    pub fn end_of_stream(&mut self) -> Result<(), Malformed> {
        match self.state {
            State::Close | State::Done => {
                self.state = State::Done;
                Ok(())
            }
            State::Length(_) => Err(Malformed(
                "connection closed before the end of the body (Content-Length)",
            )),
            _ => Err(Malformed("connection closed before the last chunk")),
        }
    }

    /// Body bytes still expected, when the framing says (`Content-Length`).
    pub fn remaining(&self) -> Option<u64> {
        match self.state {
            State::Length(n) => Some(n),
            State::Done => Some(0),
            _ => None,
        }
    }

    #[cfg(test)]
    pub(crate) fn is_done(&self) -> bool {
        self.state == State::Done
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes `wire` fed in pieces cut at `cuts`: the body, and how many
    /// bytes of `wire` it took.
    fn decode_in_pieces(
        framing: Framing,
        wire: &[u8],
        cuts: &[usize],
    ) -> Result<(Vec<u8>, usize), Malformed> {
        let mut decoder = Decoder::new(framing);
        let mut body = Vec::new();
        let mut buffered: Vec<u8> = Vec::new();
        let mut fed = 0;
        let mut consumed = 0;
        let mut ends: Vec<usize> = cuts.iter().copied().filter(|&c| c < wire.len()).collect();
        ends.push(wire.len());
        let mut ends = ends.into_iter();
        loop {
            let (used, step) = decoder.decode(&buffered)?;
            match step {
                Decoded::Data { start, end } => body.extend_from_slice(&buffered[start..end]),
                Decoded::Done => return Ok((body, consumed + used)),
                Decoded::More => {}
            }
            buffered.drain(..used);
            consumed += used;
            if step == Decoded::More {
                match ends.next() {
                    Some(end) if end > fed => {
                        buffered.extend_from_slice(&wire[fed..end]);
                        fed = end;
                    }
                    Some(_) => {}
                    None => {
                        decoder.end_of_stream()?;
                        return Ok((body, consumed));
                    }
                }
            }
        }
    }

    fn every_split(framing: Framing, wire: &[u8]) -> Result<(Vec<u8>, usize), Malformed> {
        let whole = decode_in_pieces(framing, wire, &[]);
        for cut in 0..wire.len() {
            assert_eq!(
                decode_in_pieces(framing, wire, &[cut]),
                whole,
                "cut at {cut}"
            );
        }
        let bytewise: Vec<usize> = (0..wire.len()).collect();
        assert_eq!(
            decode_in_pieces(framing, wire, &bytewise),
            whole,
            "byte by byte"
        );
        whole
    }

    #[test]
    fn content_length_takes_exactly_its_bytes() {
        let (body, used) = every_split(Framing::Length(5), b"helloHTTP/1.1 200").unwrap();
        assert_eq!((body.as_slice(), used), (&b"hello"[..], 5));
        assert_eq!(
            every_split(Framing::Length(0), b"next").unwrap(),
            (vec![], 0)
        );
        assert_eq!(every_split(Framing::Empty, b"next").unwrap(), (vec![], 0));
    }

    #[test]
    fn a_short_content_length_body_is_an_error_at_eof() {
        let err = every_split(Framing::Length(10), b"short").unwrap_err();
        assert!(err.0.contains("Content-Length"), "{err}");
    }

    #[test]
    fn a_close_delimited_body_is_everything_until_eof() {
        let (body, _) = every_split(Framing::Close, b"all of it\r\n0\r\n\r\n").unwrap();
        assert_eq!(body, b"all of it\r\n0\r\n\r\n");
    }

    #[test]
    fn chunks_with_extensions_and_trailers_decode_at_every_split() {
        let wire = b"5;name=\"v\"\r\nhello\r\n1A \r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nExpires: never\r\nX: y\r\n\r\nHTTP/1.1";
        let (body, used) = every_split(Framing::Chunked, wire).unwrap();
        assert_eq!(body, b"helloabcdefghijklmnopqrstuvwxyz");
        assert_eq!(
            used,
            wire.len() - b"HTTP/1.1".len(),
            "stops at the body's end"
        );
    }

    #[test]
    fn bare_lf_line_ends_and_upper_case_hex_are_accepted() {
        let (body, _) = every_split(Framing::Chunked, b"A\nabcdefghij\n0\n\n").unwrap();
        assert_eq!(body, b"abcdefghij");
    }

    #[test]
    fn broken_chunked_bodies_are_errors_not_hangs() {
        for (wire, what) in [
            (&b"x\r\n"[..], "chunk size missing"),
            (b"\r\n", "chunk size missing"),
            (b"5\r\nhelloXX", "not followed by CRLF"),
            (b"5 x\r\n", "invalid byte"),
            (b"5\rx", "CR without LF"),
            (b"11111111111111111\r\n", "too large"),
            (b"5\r\nhel", "before the last chunk"),
            (b"0\r\nTrailer: cut", "before the last chunk"),
        ] {
            let err = every_split(Framing::Chunked, wire).unwrap_err();
            assert!(
                err.0.contains(what),
                "{:?}: {err}",
                String::from_utf8_lossy(wire)
            );
        }
        let long_ext = [b"1;".as_slice(), &[b'e'; MAX_SIZE_LINE], b"\r\n"].concat();
        assert!(decode_in_pieces(Framing::Chunked, &long_ext, &[])
            .unwrap_err()
            .0
            .contains("too long"));
        let long_trailer = [b"0\r\n".as_slice(), &[b't'; MAX_TRAILERS + 1]].concat();
        assert!(decode_in_pieces(Framing::Chunked, &long_trailer, &[])
            .unwrap_err()
            .0
            .contains("too long"));
    }

    #[test]
    fn the_largest_chunk_size_does_not_overflow() {
        let mut d = Decoder::new(Framing::Chunked);
        assert_eq!(
            d.decode(b"ffffffffffffffff\r\nab").unwrap(),
            (20, Decoded::Data { start: 18, end: 20 })
        );
        assert_eq!(d.remaining(), None);
    }

    #[test]
    fn remaining_counts_down_a_content_length() {
        let mut d = Decoder::new(Framing::Length(4));
        assert_eq!(d.remaining(), Some(4));
        d.decode(b"ab").unwrap();
        assert_eq!(d.remaining(), Some(2));
        d.decode(b"cd").unwrap();
        assert!(d.is_done());
    }
}
