//! `Content-Encoding`: what `gather fetch` asks for, and how a body is
//! decoded within `--max-bytes`.
//!
//! aiohttp, wget2 and browsers ask for compressed bodies and hand the user
//! the decoded ones; so does this, unless `--raw`. A body is decoded after
//! it has arrived whole: the wire bytes are bounded by `--max-bytes` like
//! any body, and the decoder writes at most `--max-bytes` + 1 decoded bytes
//! before it is stopped, so a gzip bomb (10 MiB of zeros in 10 KiB) costs
//! the limit, not its size. Decoding the whole at once keeps the request
//! path as it was for the usual, unencoded answer: nothing is added to it
//! but one check of a field that is `None`.
//!
//! The decoders are pure Rust, decode only, and small to build: flate2 on
//! miniz_oxide (gzip and deflate), brotli-decompressor, ruzstd.

use std::io::Read;

/// The value sent as `Accept-Encoding`, most preferred first.
pub const ACCEPT_ENCODING: &str = "gzip, deflate, br, zstd";

/// A content coding this client decodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coding {
    Gzip,
    Deflate,
    Brotli,
    Zstd,
}

impl Coding {
    /// Reads a `Content-Encoding` value: `Ok(None)` for none (empty or
    /// `identity`), `Ok(Some)` for one coding decoded here, `Err` with the
    /// value for anything else (an unknown coding, or several stacked).
    pub fn parse(value: &[u8]) -> Result<Option<Coding>, String> {
        let text = String::from_utf8_lossy(value);
        let codings: Vec<&str> = text
            .split(',')
            .map(str::trim)
            .filter(|c| !c.is_empty() && !c.eq_ignore_ascii_case("identity"))
            .collect();
        let coding = match codings.as_slice() {
            [] => return Ok(None),
            [one] => one.to_ascii_lowercase(),
            _ => return Err(text.trim().to_owned()),
        };
        match coding.as_str() {
            "gzip" | "x-gzip" => Ok(Some(Coding::Gzip)),
            "deflate" => Ok(Some(Coding::Deflate)),
            "br" => Ok(Some(Coding::Brotli)),
            "zstd" => Ok(Some(Coding::Zstd)),
            _ => Err(text.trim().to_owned()),
        }
    }

    /// The coding's name, as a record reports it.
    pub fn name(self) -> &'static str {
        match self {
            Coding::Gzip => "gzip",
            Coding::Deflate => "deflate",
            Coding::Brotli => "br",
            Coding::Zstd => "zstd",
        }
    }
}

/// Why a body could not be decoded.
#[derive(Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// More than the limit, decoded.
    TooLarge,
    /// Not a valid stream of its coding (cut short, or corrupt).
    Corrupt(String),
}

/// Decodes `wire` (a whole body as sent, in `coding`), keeping the decoded
/// bytes in `keep` when given; returns the decoded size. More than `max`
/// decoded bytes is [`DecodeError::TooLarge`], found after at most `max` + 1
/// bytes were decoded (plus one buffer).
pub fn decode(
    coding: Coding,
    wire: &[u8],
    max: u64,
    mut keep: Option<&mut Vec<u8>>,
) -> Result<u64, DecodeError> {
    let corrupt = |e: std::io::Error| {
        DecodeError::Corrupt(format!("{} body cannot be decoded: {e}", coding.name()))
    };
    let mut reader: Box<dyn Read + '_> = match coding {
        Coding::Gzip => Box::new(flate2::read::MultiGzDecoder::new(wire)),
        // RFC 9110 says "deflate" is the zlib format; some servers send raw
        // deflate under that name, as browsers tolerate: told apart by the
        // zlib header (CM 8, and the check bits).
        Coding::Deflate if is_zlib_header(wire) => Box::new(flate2::read::ZlibDecoder::new(wire)),
        Coding::Deflate => Box::new(flate2::read::DeflateDecoder::new(wire)),
        Coding::Brotli => Box::new(brotli_decompressor::Decompressor::new(wire, 16 * 1024)),
        Coding::Zstd => Box::new(
            ruzstd::decoding::StreamingDecoder::new(wire)
                .map_err(|e| DecodeError::Corrupt(format!("zstd body cannot be decoded: {e}")))?,
        ),
    };
    let mut buf = vec![0u8; 16 * 1024];
    let mut total: u64 = 0;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(corrupt(e)),
        };
        total += n as u64;
        if total > max {
            return Err(DecodeError::TooLarge);
        }
        if let Some(keep) = keep.as_deref_mut() {
            keep.extend_from_slice(&buf[..n]);
        }
    }
}

/// `true` when `wire` starts with a zlib header: compression method 8
/// (deflate), a window of at most 32 KiB, and the header's check bits.
fn is_zlib_header(wire: &[u8]) -> bool {
    match wire {
        [cmf, flg, ..] => {
            cmf & 0x0f == 8 && cmf >> 4 <= 7 && (u16::from(*cmf) << 8 | u16::from(*flg)) % 31 == 0
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gather_pageserver::fixtures;

    const TEXT: &[u8] = fixtures::PAGE;

    fn decoded(coding: Coding, wire: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let n = decode(coding, wire, u64::MAX, Some(&mut out)).unwrap();
        assert_eq!(n, out.len() as u64);
        out
    }

    #[test]
    fn each_coding_decodes_the_reference_encoders_output() {
        let fixtures: [(Coding, &[u8]); 5] = [
            (Coding::Gzip, fixtures::PAGE_GZIP),
            (Coding::Deflate, fixtures::PAGE_ZLIB),
            (Coding::Deflate, fixtures::PAGE_DEFLATE_RAW),
            (Coding::Brotli, fixtures::PAGE_BROTLI),
            (Coding::Zstd, fixtures::PAGE_ZSTD),
        ];
        for (coding, wire) in fixtures {
            assert_eq!(decoded(coding, wire), TEXT, "{coding:?}");
        }
    }

    #[test]
    fn a_gzip_bomb_stops_at_the_limit() {
        let bomb = fixtures::BOMB_GZIP;
        let mut out = Vec::new();
        let r = decode(Coding::Gzip, bomb, 1 << 20, Some(&mut out));
        assert_eq!(r, Err(DecodeError::TooLarge));
        assert!(
            out.len() <= 1 << 20,
            "kept {} bytes past the limit",
            out.len()
        );
        // Counting only, the same.
        assert_eq!(
            decode(Coding::Gzip, bomb, 1 << 20, None),
            Err(DecodeError::TooLarge)
        );
        // Under a limit it fits: all 10 MiB.
        assert_eq!(
            decode(Coding::Gzip, bomb, fixtures::BOMB_SIZE, None),
            Ok(fixtures::BOMB_SIZE)
        );
    }

    #[test]
    fn a_cut_or_corrupt_stream_is_an_error_naming_the_coding() {
        let gz = fixtures::PAGE_GZIP;
        for (coding, wire) in [
            (Coding::Gzip, &gz[..100]),
            (Coding::Zstd, &fixtures::PAGE_ZSTD[..50]),
            (Coding::Brotli, &fixtures::PAGE_BROTLI[..50]),
            (Coding::Gzip, &b"plainly not gzip"[..]),
        ] {
            match decode(coding, wire, u64::MAX, None) {
                Err(DecodeError::Corrupt(m)) => assert!(m.contains(coding.name()), "{m}"),
                other => panic!("{coding:?} of {} bytes: {other:?}", wire.len()),
            }
        }
    }

    #[test]
    fn content_encoding_values_are_read_as_curl_does() {
        assert_eq!(Coding::parse(b"gzip"), Ok(Some(Coding::Gzip)));
        assert_eq!(Coding::parse(b"X-GZIP"), Ok(Some(Coding::Gzip)));
        assert_eq!(Coding::parse(b" br "), Ok(Some(Coding::Brotli)));
        assert_eq!(Coding::parse(b"zstd"), Ok(Some(Coding::Zstd)));
        assert_eq!(Coding::parse(b"deflate"), Ok(Some(Coding::Deflate)));
        assert_eq!(Coding::parse(b"identity"), Ok(None));
        assert_eq!(Coding::parse(b""), Ok(None));
        assert_eq!(Coding::parse(b"identity, gzip"), Ok(Some(Coding::Gzip)));
        assert_eq!(Coding::parse(b"compress"), Err("compress".to_owned()));
        assert_eq!(Coding::parse(b"gzip, br"), Err("gzip, br".to_owned()));
    }

    #[test]
    fn the_zlib_header_check_tells_zlib_from_raw_deflate() {
        assert!(is_zlib_header(fixtures::PAGE_ZLIB));
        assert!(!is_zlib_header(fixtures::PAGE_DEFLATE_RAW));
    }
}
