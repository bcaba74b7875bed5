//! Reading the input: one URL or JSON request per line, blank lines and
//! `#` comments skipped. A line that is not a usable request is kept as a
//! job whose request is an error, so it gets its own error record instead
//! of vanishing.
//!
//! A line is read into its request ([`Rules::read`]) only when the request
//! is about to be made: the counting pass and `--resume`'s skipped lines
//! never need the parse.

#[cfg(test)]
pub(crate) mod properties;
mod request;

pub(crate) use request::Rules;

use std::borrow::Cow;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// One URL to fetch.
#[derive(Debug, Clone)]
pub(crate) struct Job {
    /// Position among the URL lines (blank and comment lines not counted);
    /// the `index` of its output record.
    pub(crate) index: usize,
    /// 1-based line number in the input, for messages.
    pub(crate) line: usize,
    /// The line as written (trimmed); a request line's `url` once it is
    /// read.
    pub(crate) raw: String,
    /// A request line's `id` (or `custom_id`), as compact JSON, once it is
    /// read: echoed in its record and checked by `--resume`.
    pub(crate) id: Option<Box<str>>,
}

/// Where the URLs come from. Read in passes (one to count and check, one
/// to run) so that memory does not grow with the number of URLs: a file is
/// simply opened again; stdin, which cannot be, is kept as bytes.
pub(crate) enum Source {
    /// A file, by path.
    File(PathBuf),
    /// Standard input, read once.
    Stdin(Arc<Vec<u8>>),
}

impl Source {
    /// The file at `path`, or stdin for `None` or `-`.
    pub(crate) fn open(path: Option<&Path>) -> io::Result<Source> {
        match path {
            Some(p) if p != Path::new("-") => {
                File::open(p)?; // fail now, with the file's own error, rather than mid-run
                Ok(Source::File(p.to_owned()))
            }
            _ => {
                let mut bytes = Vec::new();
                io::stdin().lock().read_to_end(&mut bytes)?;
                Ok(Source::Stdin(Arc::new(bytes)))
            }
        }
    }

    /// A new pass over the jobs, from the first line.
    pub(crate) fn lines(&self) -> io::Result<Lines> {
        let reader: Box<dyn BufRead + Send> = match self {
            Source::File(p) => Box::new(BufReader::new(File::open(p)?)),
            Source::Stdin(bytes) => Box::new(io::Cursor::new(SharedBytes(bytes.clone()))),
        };
        Ok(Lines::new(reader))
    }
}

/// Lets a cursor read the shared stdin bytes without copying them.
struct SharedBytes(Arc<Vec<u8>>);

impl AsRef<[u8]> for SharedBytes {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

/// The jobs of one pass, in order, read a line at a time. A read error is
/// the pass's last item: after it, the pass has ended.
pub(crate) struct Lines {
    reader: Box<dyn BufRead + Send>,
    buf: Vec<u8>,
    line: usize,
    index: usize,
    /// A read failed: the pass is over.
    failed: bool,
    /// FNV-1a of every byte read so far, when asked for.
    fingerprint: Option<fnv::FnvHasher>,
}

impl Lines {
    fn new(reader: Box<dyn BufRead + Send>) -> Lines {
        Lines {
            reader,
            buf: Vec::with_capacity(256),
            line: 0,
            index: 0,
            failed: false,
            fingerprint: None,
        }
    }

    /// The same pass, keeping a fingerprint of the input's bytes (see
    /// [`fingerprint`](Lines::fingerprint)). Only the counting pass asks:
    /// hashing costs about a nanosecond a byte.
    pub(crate) fn fingerprinted(mut self) -> Lines {
        self.fingerprint = Some(fnv::FnvHasher::default());
        self
    }

    /// FNV-1a (64 bits) of every byte read so far, blank and comment lines
    /// included: once the pass has ended, of the whole input. `None` unless
    /// [`fingerprinted`](Lines::fingerprinted). A hash fixed by its
    /// definition (the `fnv` crate): a shard's manifest records it, and a
    /// later run or `gather merge`, perhaps by another build, compares it
    /// (std's hashers may change between Rust versions).
    pub(crate) fn fingerprint(&self) -> Option<u64> {
        use std::hash::Hasher;
        self.fingerprint.as_ref().map(Hasher::finish)
    }

    /// Reads on to the next URL line: its trimmed text if `keep` (else an
    /// empty string, allocating nothing), or `None` at the end.
    fn advance(&mut self, keep: bool) -> Option<io::Result<String>> {
        if self.failed {
            return None;
        }
        loop {
            self.buf.clear();
            match self.reader.read_until(b'\n', &mut self.buf) {
                Ok(0) => return None,
                Ok(_) => {}
                Err(e) => {
                    self.failed = true;
                    return Some(Err(e));
                }
            }
            self.line += 1;
            if let Some(f) = &mut self.fingerprint {
                std::hash::Hasher::write(f, &self.buf);
            }
            if !keep {
                // Counting only needs to know whether the line is blank or
                // a comment: its first byte that `trim` would keep says so,
                // when that byte is ASCII (else the full check below). The
                // counting pass reads the whole input before the run, and
                // decoding every line there was most of its cost.
                match self.buf.iter().find(|&&b| !is_trimmed_ascii(b)) {
                    None | Some(b'#') => continue,
                    Some(b) if b.is_ascii() => {
                        self.index += 1;
                        return Some(Ok(String::new()));
                    }
                    Some(_) => {}
                }
            }
            // Bytes that are not UTF-8 are replaced, so such a line becomes an
            // invalid URL rather than a failure of the whole run. (Checked
            // first: `from_utf8` is several times faster than the lossy
            // decoder on the valid lines nearly every input has only.)
            let text = match std::str::from_utf8(&self.buf) {
                Ok(text) => Cow::Borrowed(text),
                Err(_) => String::from_utf8_lossy(&self.buf),
            };
            let raw = text.trim();
            if raw.is_empty() || raw.starts_with('#') {
                continue;
            }
            self.index += 1;
            return Some(Ok(if keep { raw.to_owned() } else { String::new() }));
        }
    }

    /// Skips the next job: `false` at the end (as `next` returning `None`).
    pub(crate) fn skip_job(&mut self) -> io::Result<bool> {
        self.advance(false).transpose().map(|job| job.is_some())
    }
}

impl Iterator for Lines {
    type Item = io::Result<Job>;

    fn next(&mut self) -> Option<io::Result<Job>> {
        let raw = self.advance(true)?;
        Some(raw.map(|raw| Job {
            index: self.index - 1,
            line: self.line,
            raw,
            id: None,
        }))
    }
}

/// The ASCII characters `str::trim` removes (Unicode's White_Space).
fn is_trimmed_ascii(b: u8) -> bool {
    matches!(b, b'\t' | b'\n' | b'\x0B' | b'\x0C' | b'\r' | b' ')
}

/// Splits a whole input into jobs, in order (the same rules as a pass of
/// [`Lines`]).
#[cfg(test)]
pub(crate) fn parse(text: &str) -> Vec<Job> {
    Lines::new(Box::new(io::Cursor::new(text.as_bytes().to_vec())))
        .collect::<io::Result<_>>()
        .expect("a slice reads without error")
}

#[cfg(test)]
mod tests {
    /// The fingerprint is FNV-1a, 64 bits (its published vectors): a
    /// manifest written by one build is compared by another, so its value
    /// must never change.
    #[test]
    fn the_fingerprint_is_fnv_1a_64() {
        use std::hash::Hasher;
        let hash = |bytes: &[u8]| {
            let mut h = fnv::FnvHasher::default();
            h.write(bytes);
            h.finish()
        };
        assert_eq!(hash(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(hash(b"foobar"), 0x8594_4171_f739_67e8);
    }

    use super::*;
    use gather_http::Kind;

    /// The counting pass's shortcut agrees with the pass that reads the
    /// jobs, on any bytes: a disagreement would make `--resume` and the
    /// progress total wrong.
    #[test]
    fn counting_finds_as_many_jobs_as_reading_them() {
        use proptest::prelude::*;
        let line = prop_oneof![
            Just(vec![]),
            prop::collection::vec(
                prop::sample::select(&b"\t\x0B\x0C\r #h:/\x1F\xC2\xA0\x85\xE3\x80\x80\xFF"[..]),
                0..6
            ),
        ];
        let input = prop::collection::vec(line, 0..8).prop_map(|lines| lines.join(&b'\n'));
        proptest!(ProptestConfig::with_cases(4_000), |(bytes in input)| {
            let mut counting = Lines::new(Box::new(io::Cursor::new(bytes.clone())));
            let mut counted = 0;
            while counting.skip_job().unwrap() {
                counted += 1;
            }
            let read = Lines::new(Box::new(io::Cursor::new(bytes.clone()))).count();
            prop_assert_eq!(counted, read, "{:?}", String::from_utf8_lossy(&bytes));
        });
    }

    #[test]
    fn blank_lines_and_comments_are_skipped_and_indexes_count_urls_only() {
        let jobs = parse("# list\n\nhttp://a.test/\n  # indented comment\n  http://b.test/x  \n");
        assert_eq!(jobs.len(), 2);
        assert_eq!((jobs[0].index, jobs[0].line), (0, 3));
        assert_eq!(
            (jobs[1].index, jobs[1].line, jobs[1].raw.as_str()),
            (1, 5, "http://b.test/x")
        );
    }

    #[test]
    fn bad_lines_become_jobs_with_an_error_not_dropped() {
        let jobs = parse("not a url\nftp://files.test/a\nhttp://\nhttps://ok.test/");
        assert_eq!(jobs.len(), 4);
        let url = |at: usize| gather_http::parse_url(&jobs[at].raw);
        assert_eq!(url(0).unwrap_err().kind(), Kind::InvalidUrl);
        assert_eq!(
            url(1).unwrap_err(),
            gather_http::InvalidUrl::UnsupportedScheme("ftp".into())
        );
        assert!(url(2).is_err());
        assert!(url(3).is_ok());
    }

    /// A read that fails mid-way is the pass's last item, after the jobs
    /// before it: not an early, silent end.
    #[test]
    fn a_read_error_ends_the_pass_as_its_last_item() {
        struct FailsAfter(io::Cursor<Vec<u8>>);
        impl io::Read for FailsAfter {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                match self.0.read(buf)? {
                    0 => Err(io::Error::other("disk on fire")),
                    n => Ok(n),
                }
            }
        }
        let reader = io::BufReader::new(FailsAfter(io::Cursor::new(
            b"http://a.test/\nhttp://b.test/\n".to_vec(),
        )));
        let items: Vec<_> = Lines::new(Box::new(reader)).collect();
        assert_eq!(items.len(), 3, "two jobs, then the error, then the end");
        assert_eq!(items[1].as_ref().unwrap().raw, "http://b.test/");
        assert_eq!(items[2].as_ref().unwrap_err().to_string(), "disk on fire");
    }

    #[test]
    fn duplicate_urls_are_separate_jobs() {
        let jobs = parse("http://a.test/\nhttp://a.test/\n");
        assert_eq!(jobs.len(), 2);
        assert_eq!(jobs[1].index, 1);
    }
}
