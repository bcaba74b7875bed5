//! Writing results as JSON Lines, in input order, as soon as the next line
//! in order is ready; and reading them back for `--resume`.
//!
//! Results arrive in completion order. Each waits in a reorder buffer until
//! every earlier line has been written. The buffer is bounded because a
//! URL is not started while it is more than `--reorder-window` positions
//! ahead of the next line to write (see [`OrderedWriter::written`]).

use std::collections::{HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Read, Write};
use std::path::Path;

use base64::Engine;
use serde_json::{json, Map, Value};
use tokio::sync::watch;

use crate::fetch::{FetchError, Page};
use crate::input::Job;

/// One output line for a page.
pub fn page_line(job: &Job, page: &Page) -> String {
    let mut m = Map::new();
    m.insert("index".into(), json!(job.index));
    m.insert("url".into(), json!(job.raw));
    m.insert("final_url".into(), json!(page.final_url));
    m.insert("status".into(), json!(page.status));
    m.insert("bytes".into(), json!(page.bytes));
    m.insert("elapsed_ms".into(), json!(millis(page.elapsed)));
    m.insert("retries".into(), json!(page.retries));
    if let Some(body) = &page.body {
        match std::str::from_utf8(body) {
            Ok(text) => m.insert("body".into(), json!(text)),
            Err(_) => m.insert(
                "body_base64".into(),
                json!(base64::engine::general_purpose::STANDARD.encode(body)),
            ),
        };
    }
    if let Some(path) = &page.saved {
        m.insert("saved".into(), json!(path.display().to_string()));
    }
    Value::Object(m).to_string()
}

/// One output line for a URL that failed.
pub fn error_line(job: &Job, error: &FetchError) -> String {
    json!({
        "index": job.index,
        "url": job.raw,
        "error": { "kind": error.kind, "message": error.message },
        "elapsed_ms": millis(error.elapsed),
        "retries": error.retries,
    })
    .to_string()
}

fn millis(d: std::time::Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

/// Writes lines in the order of `order` (job indexes, ascending), whatever
/// order they are inserted in.
pub struct OrderedWriter {
    out: BufWriter<Box<dyn Write + Send>>,
    /// Lines waiting for an earlier one, by position in `order`.
    waiting: HashMap<usize, String>,
    next: usize,
    written: watch::Sender<usize>,
}

impl OrderedWriter {
    pub fn new(out: Box<dyn Write + Send>) -> OrderedWriter {
        OrderedWriter {
            out: BufWriter::new(out),
            waiting: HashMap::new(),
            next: 0,
            written: watch::channel(0).0,
        }
    }

    /// Tells how many lines have been written so far; children wait on it
    /// before starting, which is what bounds the reorder buffer.
    pub fn written(&self) -> watch::Receiver<usize> {
        self.written.subscribe()
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
        while let Some(line) = self.waiting.remove(&self.next) {
            self.out.write_all(line.as_bytes())?;
            self.out.write_all(b"\n")?;
            self.next += 1;
        }
        if self.next != before {
            self.out.flush()?;
            self.written.send_replace(self.next);
        }
        Ok(())
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
    pub done: HashSet<usize>,
    pub file: File,
}

/// Reads the records in `path`, checks each against the input, drops a torn
/// last line (one without its newline), and opens the file for appending.
/// A missing file is an empty one.
pub fn resume(path: &Path, jobs: &[Job]) -> Result<Resumed, String> {
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
    let done =
        parse_records(&text, jobs).map_err(|e| format!("cannot resume from {shown}: {e}"))?;
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| format!("cannot open {shown}: {e}"))?;
    file.set_len(done.valid_len as u64)
        .map_err(|e| format!("cannot drop the torn last line of {shown}: {e}"))?;
    Ok(Resumed {
        done: done.indexes,
        file,
    })
}

/// The indexes recorded in `text`, and how many of its bytes are whole lines.
#[derive(Debug)]
pub struct Records {
    pub indexes: HashSet<usize>,
    pub valid_len: usize,
}

/// Parses an output file's bytes; never panics, whatever the bytes.
pub fn parse_records(text: &[u8], jobs: &[Job]) -> Result<Records, String> {
    let mut indexes = HashSet::new();
    let mut valid_len = 0;
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
        let job = usize::try_from(index)
            .ok()
            .and_then(|i| jobs.get(i))
            .ok_or_else(|| {
                format!(
                    "line {n} has index {index}, but the input has {} URLs",
                    jobs.len()
                )
            })?;
        if job.raw != url {
            return Err(format!(
                "line {n}: index {index} is {url:?} in the file but {:?} in the input; is this the same input?",
                job.raw
            ));
        }
        if !indexes.insert(job.index) {
            return Err(format!("line {n}: index {index} appears twice"));
        }
        valid_len += line.len();
    }
    Ok(Records { indexes, valid_len })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::parse;

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
        assert_eq!(*w.written().borrow(), 3);
        assert_eq!(
            String::from_utf8(sink.lock().unwrap().clone()).unwrap(),
            "a\nb\nc\n"
        );
    }

    #[test]
    fn resume_reads_done_indexes_and_drops_a_torn_last_line() {
        let jobs = parse("http://a.test/\nhttp://b.test/\nhttp://c.test/\n");
        let text = b"{\"index\":0,\"url\":\"http://a.test/\"}\n{\"index\":1,\"url\":\"http://b.te";
        let r = parse_records(text, &jobs).unwrap();
        assert_eq!(r.indexes, HashSet::from([0]));
        assert_eq!(r.valid_len, 35);
    }

    #[test]
    fn resume_refuses_a_file_from_another_input() {
        let jobs = parse("http://a.test/\n");
        let err =
            parse_records(b"{\"index\":0,\"url\":\"http://other.test/\"}\n", &jobs).unwrap_err();
        assert!(err.contains("same input"), "{err}");
        let err = parse_records(b"{\"index\":5,\"url\":\"http://a.test/\"}\n", &jobs).unwrap_err();
        assert!(err.contains("input has 1 URLs"), "{err}");
        let err = parse_records(b"garbage\n", &jobs).unwrap_err();
        assert!(err.contains("line 1 is not JSON"), "{err}");
    }
}
