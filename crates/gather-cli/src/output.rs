//! Writing results as JSON Lines, in input order, as soon as the next line
//! in order is ready; and reading them back for `--resume`.
//!
//! Results arrive in completion order. Each waits in a reorder buffer until
//! every earlier line has been written. The buffer is bounded because a
//! URL is not started while it is more than `--reorder-window` positions
//! ahead of the next line to write (see [`OrderedWriter::written`]).

use std::collections::{HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::hash::{Hash, Hasher};
use std::io::{self, BufWriter, Read, Write};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use base64::Engine;
use serde_json::Value;
use tokio::sync::Notify;

use crate::by_position::ByPosition;
use crate::fetch::{FetchError, Page};
use crate::input::Job;

/// One output line for a page.
///
/// Written field by field rather than through a `serde_json::Value`: this
/// runs once per URL, and building a map of values first cost more than
/// the rest of the line's work (a tenth of the client's instructions per
/// request under callgrind). The fields and their order are the README's;
/// a unit test checks the bytes against serde_json's own.
pub fn page_line(job: &Job, page: &Page) -> String {
    let mut line = Record::new(job.index, &job.raw);
    line.string("final_url", &page.final_url);
    line.number("status", page.status);
    line.number("bytes", page.bytes);
    if let Some(encoding) = &page.encoding {
        line.string("encoding", &encoding.name);
        if let Some(wire) = encoding.wire_bytes {
            line.number("wire_bytes", wire);
        }
    }
    line.millis("elapsed_ms", page.elapsed);
    line.number("retries", page.retries);
    if let Some(body) = &page.body {
        match std::str::from_utf8(body) {
            Ok(text) => line.string("body", text),
            Err(_) => line.string(
                "body_base64",
                &base64::engine::general_purpose::STANDARD.encode(body),
            ),
        }
    }
    if let Some(path) = &page.saved {
        line.string("saved", &path.display().to_string());
    }
    line.finish()
}

/// One output line for a URL that failed.
pub fn error_line(job: &Job, error: &FetchError) -> String {
    let mut line = Record::new(job.index, &job.raw);
    line.key("error");
    line.0.extend_from_slice(b"{\"kind\":");
    line.str(error.kind);
    line.0.extend_from_slice(b",\"message\":");
    line.str(&error.message);
    line.0.push(b'}');
    line.millis("elapsed_ms", error.elapsed);
    line.number("retries", error.retries);
    line.finish()
}

/// A JSON object being written, opened with the fields every record has.
struct Record(Vec<u8>);

impl Record {
    fn new(index: usize, url: &str) -> Record {
        let mut record = Record(Vec::with_capacity(128 + url.len() * 2));
        record.0.extend_from_slice(b"{\"index\":");
        record
            .0
            .extend_from_slice(itoa::Buffer::new().format(index).as_bytes());
        record.string("url", url);
        record
    }

    fn key(&mut self, key: &str) {
        self.0.extend_from_slice(b",\"");
        self.0.extend_from_slice(key.as_bytes()); // our own keys: nothing to escape
        self.0.extend_from_slice(b"\":");
    }

    /// A JSON string, escaped as serde_json escapes it.
    fn str(&mut self, value: &str) {
        // Most strings here are URLs, with nothing to escape: copied as
        // they are. The check has no early exit so that it compiles to
        // vector instructions; serde_json's byte-by-byte escaping loop was
        // the largest single cost of a record (callgrind: ~400 instructions
        // for a 36-byte URL).
        let plain = !value.bytes().fold(false, |esc, b| {
            esc | (b < 0x20) | (b == b'"') | (b == b'\\')
        });
        if plain {
            self.0.reserve(value.len() + 2);
            self.0.push(b'"');
            self.0.extend_from_slice(value.as_bytes());
            self.0.push(b'"');
            return;
        }
        // Writing into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut self.0, value);
    }

    fn string(&mut self, key: &str, value: &str) {
        self.key(key);
        self.str(value);
    }

    fn number(&mut self, key: &str, value: impl Into<u64>) {
        self.key(key);
        self.0
            .extend_from_slice(itoa::Buffer::new().format(value.into()).as_bytes());
    }

    /// A duration in milliseconds to the microsecond (`12.5`, `3.0`,
    /// `0.042`): the bytes serde_json writes for that as an `f64` (a test
    /// holds it to them), written from integers. Formatting the float took
    /// more of the CPU per URL than any other field.
    fn millis(&mut self, key: &str, elapsed: std::time::Duration) {
        self.key(key);
        let micros = (elapsed.as_nanos() + 500) / 1000;
        let mut digits = itoa::Buffer::new();
        self.0
            .extend_from_slice(digits.format(micros / 1000).as_bytes());
        self.0.push(b'.');
        let fraction = (micros % 1000) as u16;
        let text = [
            b'0' + (fraction / 100) as u8,
            b'0' + (fraction / 10 % 10) as u8,
            b'0' + (fraction % 10) as u8,
        ];
        // At least one digit after the point, as a float has; no trailing
        // zeros after the first.
        let keep = 3 - text[1..].iter().rev().take_while(|&&d| d == b'0').count();
        self.0.extend_from_slice(&text[..keep]);
    }

    fn finish(mut self) -> String {
        self.0.push(b'}');
        // Only `&str`s and numbers went in, so this is UTF-8; a lossy
        // conversion keeps that a non-issue rather than a panic.
        String::from_utf8(self.0)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
    }
}

/// Writes lines in the order of `order` (job indexes, ascending), whatever
/// order they are inserted in.
pub struct OrderedWriter {
    out: BufWriter<Box<dyn Write + Send>>,
    /// Lines waiting for an earlier one, by position; the first position
    /// is the next line to write.
    waiting: ByPosition<String>,
    next: usize,
    written: Arc<Written>,
}

/// How many lines are written, for the requests that wait to start until
/// they are within the reorder window of it.
///
/// Every line sets it, and almost no request ever waits, so setting it is
/// a store and a load: the waiters are counted, and woken only when there
/// are some. (A `watch` channel, used before, locks eight mutexes on every
/// send to wake no one; it showed in the profile of a run against nginx.)
#[derive(Debug, Default)]
pub struct Written {
    count: AtomicUsize,
    waiting: AtomicUsize,
    changed: Notify,
}

impl Written {
    fn set(&self, count: usize) {
        // The pair: this store of `count` then load of `waiting`, against
        // `wait_until`'s increment of `waiting` then load of `count` (the
        // store-buffering shape). With SeqCst on all four there is one
        // total order, so either this load sees the waiter (and wakes it:
        // its `Notified` was created before its load, and tokio's
        // `notify_waiters` reaches every `Notified` created before the
        // call), or the waiter's load comes after this store and sees the
        // new count. Anything weaker lets both read the old values: a
        // request that never starts.
        self.count.store(count, Ordering::SeqCst);
        if self.waiting.load(Ordering::SeqCst) > 0 {
            self.changed.notify_waiters();
        }
    }

    /// Lines written so far.
    pub fn get(&self) -> usize {
        self.count.load(Ordering::SeqCst)
    }

    /// Returns once `ready(lines written)` holds.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future stops the wait; nothing is lost.
    pub async fn wait_until(&self, ready: impl Fn(usize) -> bool) {
        if ready(self.get()) {
            return;
        }
        self.waiting.fetch_add(1, Ordering::SeqCst);
        struct Leave<'a>(&'a AtomicUsize);
        impl Drop for Leave<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::SeqCst);
            }
        }
        let _leave = Leave(&self.waiting);
        loop {
            // Registered before the check, so a `set` after it wakes us.
            let changed = self.changed.notified();
            let mut changed = std::pin::pin!(changed);
            changed.as_mut().enable();
            if ready(self.get()) {
                return;
            }
            changed.await;
        }
    }
}

impl OrderedWriter {
    pub fn new(out: Box<dyn Write + Send>) -> OrderedWriter {
        OrderedWriter {
            out: BufWriter::new(out),
            waiting: ByPosition::default(),
            next: 0,
            written: Arc::default(),
        }
    }

    /// Tells how many lines have been written so far; children wait on it
    /// before starting, which is what bounds the reorder buffer.
    pub fn written(&self) -> Arc<Written> {
        self.written.clone()
    }

    /// Lines written.
    pub fn count(&self) -> usize {
        self.next
    }

    /// Lines held back, waiting for an earlier one.
    pub fn held(&self) -> usize {
        self.waiting.len()
    }

    /// Adds the line at position `pos`, and writes every line now in order.
    pub fn insert(&mut self, pos: usize, line: String) -> io::Result<()> {
        self.waiting.insert(pos, line);
        let before = self.next;
        while let Some(line) = self.waiting.pop_first() {
            self.out.write_all(line.as_bytes())?;
            self.out.write_all(b"\n")?;
            self.next += 1;
        }
        if self.next != before {
            self.written.set(self.next);
        }
        Ok(())
    }

    /// Flushes what was written. The run calls it whenever no other result
    /// is ready, so each line is out as soon as the run would wait, without
    /// a write per line when results arrive in bursts.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    /// Flushes; lines still waiting (after a gap) are dropped, since
    /// writing them would break the order. Returns how many were dropped.
    pub fn finish(&mut self) -> io::Result<usize> {
        self.out.flush()?;
        Ok(std::mem::take(&mut self.waiting).len())
    }
}

/// What an existing output file already holds, for `--resume`.
pub struct Resumed {
    pub records: Records,
    pub file: File,
}

/// Reads the records in `path`, drops a torn last line (one without its
/// newline), and opens the file for appending. A missing file is an empty
/// one. Each record is checked against the input later, line by line, with
/// [`Records::check`] and [`Records::check_count`].
pub fn resume(path: &Path) -> Result<Resumed, String> {
    let shown = path.display();
    let mut text = Vec::new();
    match File::open(path) {
        Ok(mut f) => {
            f.read_to_end(&mut text)
                .map_err(|e| format!("cannot read {shown}: {e}"))?;
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(format!("cannot read {shown}: {e}")),
    }
    let records = parse_records(&text).map_err(|e| format!("cannot resume from {shown}: {e}"))?;
    drop(text);
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| format!("cannot open {shown}: {e}"))?;
    file.set_len(records.valid_len as u64)
        .map_err(|e| format!("cannot drop the torn last line of {shown}: {e}"))?;
    Ok(Resumed { records, file })
}

/// The records of an output file: for each index, a hash of its URL and its
/// line (16 bytes each, whatever the URL's length), and how many bytes of
/// the file are whole lines.
#[derive(Debug, Default)]
pub struct Records {
    done: HashMap<usize, (u64, usize)>,
    pub valid_len: usize,
}

fn url_hash(url: &str) -> u64 {
    let mut h = std::hash::DefaultHasher::new();
    url.hash(&mut h);
    h.finish()
}

impl Records {
    /// The indexes recorded.
    pub fn indexes(&self) -> HashSet<usize> {
        self.done.keys().copied().collect()
    }

    /// How many indexes are recorded.
    pub fn len(&self) -> usize {
        self.done.len()
    }

    /// `true` if nothing is recorded.
    pub fn is_empty(&self) -> bool {
        self.done.is_empty()
    }

    /// `true` if the job at `index` is already done.
    pub fn contains(&self, index: usize) -> bool {
        self.done.contains_key(&index)
    }

    /// Checks that the record for `job`'s index, if any, names `job`'s URL.
    pub fn check(&self, job: &Job) -> Result<(), String> {
        match self.done.get(&job.index) {
            Some(&(hash, line)) if hash != url_hash(&job.raw) => Err(format!(
                "line {line}: index {} names another URL than input line {} ({:?}); is this the same input?",
                job.index, job.line, job.raw
            )),
            _ => Ok(()),
        }
    }

    /// Checks that every recorded index exists in an input of `count` URLs.
    pub fn check_count(&self, count: usize) -> Result<(), String> {
        match self
            .done
            .iter()
            .filter(|(&i, _)| i >= count)
            .min_by_key(|(_, &(_, line))| line)
        {
            Some((index, (_, line))) => Err(format!(
                "line {line} has index {index}, but the input has {count} URLs"
            )),
            None => Ok(()),
        }
    }
}

/// Parses an output file's bytes; never panics, whatever the bytes.
pub fn parse_records(text: &[u8]) -> Result<Records, String> {
    let mut records = Records::default();
    for (n, line) in text.split_inclusive(|&b| b == b'\n').enumerate() {
        if line.last() != Some(&b'\n') {
            break; // a torn last line, written when the run was killed
        }
        let n = n + 1;
        let record: Value =
            serde_json::from_slice(line).map_err(|e| format!("line {n} is not JSON: {e}"))?;
        let index = record
            .get("index")
            .and_then(Value::as_u64)
            .ok_or_else(|| format!("line {n} has no \"index\""))?;
        let url = record
            .get("url")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("line {n} has no \"url\""))?;
        let index =
            usize::try_from(index).map_err(|_| format!("line {n} has index {index}, too large"))?;
        if records.done.insert(index, (url_hash(url), n)).is_some() {
            return Err(format!("line {n}: index {index} appears twice"));
        }
        records.valid_len += line.len();
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::parse;

    fn page(body: Option<&[u8]>, saved: Option<&str>, elapsed_us: u64) -> Page {
        Page {
            final_url: "http://h.test/a?q=\"x\"".into(),
            status: 404,
            bytes: 12_345,
            encoding: None,
            body: body.map(<[u8]>::to_vec),
            saved: saved.map(Into::into),
            elapsed: std::time::Duration::from_micros(elapsed_us),
            retries: 2,
        }
    }

    /// What records held before they were written from integers: the
    /// milliseconds as an `f64`, to the microsecond.
    fn millis_f64(d: std::time::Duration) -> f64 {
        (d.as_secs_f64() * 1e6).round() / 1e3
    }

    #[test]
    fn milliseconds_are_written_as_serde_json_writes_the_float() {
        use std::time::Duration;
        let mut cases: Vec<Duration> = [
            0,
            1,
            499,
            500,
            999,
            1_000,
            1_500,
            10_000,
            100_000,
            999_999,
            1_000_000,
            1_000_500,
            12_345_678,
            3_000_000_000,
            86_400_123_456_789,
        ]
        .into_iter()
        .map(Duration::from_nanos)
        .collect();
        // Every fraction of a millisecond, on a few whole parts.
        for whole in [0u64, 1, 7, 1234] {
            cases.extend((0..1000).map(|us| Duration::from_micros(whole * 1000 + us)));
        }
        for d in cases {
            let mut ours = Record(Vec::new());
            ours.millis("t", d);
            let theirs = format!(",\"t\":{}", serde_json::to_string(&millis_f64(d)).unwrap());
            assert_eq!(String::from_utf8(ours.0).unwrap(), theirs, "{d:?}");
        }
    }

    #[test]
    fn strings_are_escaped_as_serde_json_escapes_them() {
        let chars = (0u32..0x80).chain([0xe9, 0x2028, 0xfeff, 0x1f600]);
        for c in chars.filter_map(char::from_u32) {
            let long = format!("http://h.test/{}{c}{}", "a".repeat(40), "b".repeat(40));
            for text in [c.to_string(), format!("http://h.test/a{c}b"), long] {
                let mut ours = Record(Vec::new());
                ours.str(&text);
                let theirs = serde_json::to_string(&text).unwrap();
                assert_eq!(String::from_utf8(ours.0).unwrap(), theirs, "{c:?}");
            }
        }
    }

    /// The hand-written records are exactly what serde_json makes of the
    /// same fields, in the same order (escapes, floats, base64 included).
    #[test]
    fn records_match_serde_json_field_for_field() {
        use serde_json::json;
        let job = &parse("http://h.test/a?q=\"x\"&\u{e9}\\t\n")[0];
        for (body, saved, us) in [
            (None, None, 0),
            (Some(&b"caf\xc3\xa9 \"quoted\"\n\x01"[..]), None, 1_500),
            (Some(&b"\xff\xfe binary"[..]), None, 123_456_789),
            (None, Some("out/7.body"), 3),
        ] {
            let p = page(body, saved, us);
            let mut want = json!({
                "index": job.index, "url": job.raw, "final_url": p.final_url,
                "status": p.status, "bytes": p.bytes,
                "elapsed_ms": millis_f64(p.elapsed), "retries": p.retries,
            });
            let m = want.as_object_mut().unwrap();
            match body.map(std::str::from_utf8) {
                Some(Ok(text)) => drop(m.insert("body".into(), json!(text))),
                Some(Err(_)) => drop(m.insert(
                    "body_base64".into(),
                    json!(base64::engine::general_purpose::STANDARD.encode(body.unwrap())),
                )),
                None => {}
            }
            if let Some(s) = saved {
                m.insert("saved".into(), json!(s));
            }
            assert_eq!(page_line(job, &p), want.to_string());
        }
        let error = FetchError {
            kind: "connect",
            message: "refused \"here\"\u{7}".into(),
            elapsed: std::time::Duration::from_millis(2),
            retries: 1,
        };
        let want = json!({
            "index": job.index, "url": job.raw,
            "error": { "kind": "connect", "message": error.message },
            "elapsed_ms": 2.0, "retries": 1,
        });
        assert_eq!(error_line(job, &error), want.to_string());
    }

    #[test]
    fn lines_are_written_in_order_as_soon_as_they_can_be() {
        let sink = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        struct Shared(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
        impl Write for Shared {
            fn write(&mut self, b: &[u8]) -> io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let mut w = OrderedWriter::new(Box::new(Shared(sink.clone())));
        w.insert(2, "c".into()).unwrap();
        w.insert(1, "b".into()).unwrap();
        assert_eq!(w.count(), 0);
        assert_eq!(w.held(), 2);
        w.insert(0, "a".into()).unwrap();
        w.flush().unwrap();
        assert_eq!(w.written().get(), 3);
        assert_eq!(
            String::from_utf8(sink.lock().unwrap().clone()).unwrap(),
            "a\nb\nc\n"
        );
    }

    #[test]
    fn resume_reads_done_indexes_and_drops_a_torn_last_line() {
        let text = b"{\"index\":0,\"url\":\"http://a.test/\"}\n{\"index\":1,\"url\":\"http://b.te";
        let r = parse_records(text).unwrap();
        assert_eq!(r.indexes(), HashSet::from([0]));
        assert_eq!(r.valid_len, 35);
    }

    #[test]
    fn resume_refuses_a_file_from_another_input() {
        let jobs = parse("http://a.test/\n");
        let r = parse_records(b"{\"index\":0,\"url\":\"http://other.test/\"}\n").unwrap();
        let err = r.check(&jobs[0]).unwrap_err();
        assert!(err.contains("same input"), "{err}");
        let r = parse_records(b"{\"index\":5,\"url\":\"http://a.test/\"}\n").unwrap();
        assert!(r.check_count(1).unwrap_err().contains("input has 1 URLs"));
        let err = parse_records(b"garbage\n").unwrap_err();
        assert!(err.contains("line 1 is not JSON"), "{err}");
    }

    #[tokio::test]
    async fn a_request_waiting_for_the_window_starts_once_enough_lines_are_written() {
        let written = Arc::new(Written::default());
        let waiter = tokio::spawn({
            let written = written.clone();
            async move { written.wait_until(|w| w >= 3).await }
        });
        for count in 1..3 {
            written.set(count);
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            assert!(!waiter.is_finished(), "woken early at {count}");
        }
        assert_eq!(written.waiting.load(Ordering::SeqCst), 1);
        written.set(3);
        tokio::time::timeout(std::time::Duration::from_secs(5), waiter)
            .await
            .expect("woken when the count is reached")
            .unwrap();
        assert_eq!(written.waiting.load(Ordering::SeqCst), 0);

        // A wait that is dropped is no longer counted, so sets stay cheap.
        let dropped = tokio::time::timeout(
            std::time::Duration::from_millis(10),
            written.wait_until(|w| w >= 100),
        );
        assert!(dropped.await.is_err());
        assert_eq!(written.waiting.load(Ordering::SeqCst), 0);
        // Already satisfied: returns without waiting.
        written.wait_until(|w| w >= 3).await;
    }
}
