//! `--resume`: the records an earlier run wrote, checked against the
//! input before anything is fetched.
//!
//! # Lines fetched again, and the order of the file
//!
//! A resumed run appends what it fetches. After an interruption the file
//! holds a prefix of the indices, so appending keeps it in index order.
//! With `--retry-failed` it does not: a line fetched again is appended
//! after later ones, and the old error line is still in the file. So a
//! later record for an index supersedes an earlier *error* record for it
//! (two good records for one index are refused: two runs wrote the file),
//! and once a resumed run has written every line, [`put_in_order`] rewrites
//! the file in index order, one line per index, whole or not at all. An
//! interrupted retry leaves a file that `--resume` reads again as it is and
//! `gather merge` refuses as out of order, naming the fix.

use std::collections::{HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::hash::{Hash, Hasher};
use std::io::{self, Read};
use std::path::Path;

use serde_json::Value;

use crate::input::Job;

/// What an existing output file already holds, for `--resume`.
pub(crate) struct Resumed {
    pub(crate) records: Records,
    pub(crate) file: File,
}

/// Reads the records in `path`, drops a torn last line (one without its
/// newline), and opens the file for appending. A missing file is an empty
/// one. Each record is checked against the input later, line by line, with
/// [`Records::check`] and [`Records::check_count`].
pub(crate) fn resume(path: &Path) -> Result<Resumed, String> {
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
pub(crate) struct Records {
    done: HashMap<usize, (u64, usize)>,
    /// The indexes whose last record is an error.
    failed: HashSet<usize>,
    /// Every index once, ascending: the file needs no rewriting.
    pub(crate) in_order: bool,
    pub(crate) valid_len: usize,
}

/// What a record says it answered: its `url` and, for a request line,
/// its `id` (compact JSON). Both must match the input line's on resume: an
/// input whose ids moved is another input, even with the same URLs (an
/// API's lines often share one URL).
fn request_hash(url: &str, id: Option<&str>) -> u64 {
    let mut h = std::hash::DefaultHasher::new();
    url.hash(&mut h);
    id.hash(&mut h);
    h.finish()
}

impl Records {
    /// The indexes recorded.
    #[cfg(test)]
    pub(crate) fn indexes(&self) -> HashSet<usize> {
        self.done.keys().copied().collect()
    }

    /// `true` if nothing is recorded.
    pub(crate) fn is_empty(&self) -> bool {
        self.done.is_empty()
    }

    /// `true` if an index of `shard`'s is missing before the last one
    /// recorded (a run stopped by Ctrl-C writes the lines that finished
    /// after a request it left for `--resume`): the lines a resumed run
    /// appends then come after later ones, and the file is put back in
    /// order once every line is in.
    pub(crate) fn has_gap(&self, shard: crate::shard::Shard) -> bool {
        let Some(&last) = self.done.keys().max() else {
            return false;
        };
        let up_to_last = match last.checked_sub(shard.index) {
            Some(d) => d / shard.count + 1,
            None => 0,
        };
        self.done.len() < up_to_last
    }

    /// `true` if the job at `index` is already done.
    pub(crate) fn contains(&self, index: usize) -> bool {
        self.done.contains_key(&index)
    }

    /// How many indexes' last record is an error.
    pub(crate) fn failed(&self) -> usize {
        self.failed.len()
    }

    /// `--retry-failed`: the indexes whose last record is an error are no
    /// longer done, so they are fetched again (and their new line, appended,
    /// supersedes the old). Returns how many.
    pub(crate) fn forget_failed(&mut self) -> usize {
        let forgotten = self.failed.len();
        for index in self.failed.drain() {
            self.done.remove(&index);
        }
        forgotten
    }

    /// Checks that the record for `job`'s index, if any, names `job`'s URL.
    pub(crate) fn check(&self, job: &Job) -> Result<(), String> {
        match self.done.get(&job.index) {
            Some(&(hash, line)) if hash != request_hash(&job.raw, job.id.as_deref()) => {
                Err(match &job.id {
                    None => format!(
                        "line {line}: index {} names another URL than input line {} ({:?}); is this the same input?",
                        job.index, job.line, job.raw
                    ),
                    Some(id) => format!(
                        "line {line}: index {} names another request than input line {} (id {id}, url {:?}); is this the same input?",
                        job.index, job.line, job.raw
                    ),
                })
            }
            _ => Ok(()),
        }
    }

    /// Checks that every recorded index exists in an input of `count` URLs.
    pub(crate) fn check_count(&self, count: usize) -> Result<(), String> {
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
pub(crate) fn parse_records(text: &[u8]) -> Result<Records, String> {
    let mut records = Records {
        in_order: true,
        ..Records::default()
    };
    let mut last: Option<usize> = None;
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
        let failed = record.get("error").is_some_and(|e| !e.is_null());
        let earlier_failed = records.failed.contains(&index);
        let id = record.get("id").map(Value::to_string);
        let hash = request_hash(url, id.as_deref());
        if records.done.insert(index, (hash, n)).is_some() && !earlier_failed {
            return Err(format!("line {n}: index {index} appears twice"));
        }
        if failed {
            records.failed.insert(index);
        } else {
            records.failed.remove(&index);
        }
        if last.is_some_and(|l| index <= l) {
            records.in_order = false;
        }
        last = Some(index);
        records.valid_len += line.len();
    }
    Ok(records)
}

/// Rewrites the output at `path` in index order, keeping for each index
/// its last line (see the module's docs): into `PATH.partial`, renamed over
/// `path`, so that an interruption leaves the old file whole. Memory: 24
/// bytes a line.
pub(crate) fn put_in_order(path: &Path) -> Result<(), String> {
    use std::io::{BufRead, BufReader, BufWriter, Seek, SeekFrom, Write};
    let shown = path.display();
    let fail = |e: io::Error| format!("cannot put {shown} in index order: {e}");
    let mut reader = BufReader::new(File::open(path).map_err(fail)?);
    // (index, offset, length) of each line, the last for each index kept.
    let mut lines: Vec<(u64, u64, usize)> = Vec::new();
    let (mut offset, mut line) = (0u64, Vec::new());
    loop {
        line.clear();
        let n = reader.read_until(b'\n', &mut line).map_err(fail)?;
        if n == 0 || line.last() != Some(&b'\n') {
            break;
        }
        let index = serde_json::from_slice::<Value>(&line)
            .ok()
            .and_then(|v| v.get("index")?.as_u64())
            .ok_or_else(|| {
                format!("cannot put {shown} in index order: a line at byte {offset} has no index")
            })?;
        lines.push((index, offset, n));
        offset += n as u64;
    }
    // Stable: among lines of one index, the last written stays last.
    lines.sort_by_key(|&(index, ..)| index);
    let mut partial = path.as_os_str().to_owned();
    partial.push(".partial");
    let partial = std::path::PathBuf::from(partial);
    let result = (|| -> io::Result<()> {
        let mut out = BufWriter::new(File::create(&partial)?);
        let mut file = reader.into_inner();
        for (i, &(index, at, len)) in lines.iter().enumerate() {
            if lines.get(i + 1).is_some_and(|next| next.0 == index) {
                continue; // superseded by a later line for the same index
            }
            file.seek(SeekFrom::Start(at))?;
            line.resize(len, 0);
            file.read_exact(&mut line)?;
            out.write_all(&line)?;
        }
        out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        std::fs::rename(&partial, path)
    })();
    result.map_err(|e| {
        let _ = std::fs::remove_file(&partial);
        fail(e)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::parse;
    #[test]
    fn resume_reads_done_indexes_and_drops_a_torn_last_line() {
        let text = b"{\"index\":0,\"url\":\"http://a.test/\"}\n{\"index\":1,\"url\":\"http://b.te";
        let r = parse_records(text).unwrap();
        assert_eq!(r.indexes(), HashSet::from([0]));
        assert_eq!(r.valid_len, 35);
    }
    #[test]
    fn a_gap_before_the_last_index_is_seen_in_each_shard() {
        use crate::shard::Shard;
        let lines = |indexes: &[usize]| {
            let text: String = indexes
                .iter()
                .map(|i| format!("{{\"index\":{i},\"url\":\"http://a.test/\"}}\n"))
                .collect();
            parse_records(text.as_bytes()).unwrap()
        };
        let whole = Shard { index: 0, count: 1 };
        assert!(!lines(&[]).has_gap(whole));
        assert!(!lines(&[0, 1, 2]).has_gap(whole));
        assert!(lines(&[0, 1, 3]).has_gap(whole), "2 is missing");
        assert!(lines(&[1]).has_gap(whole), "0 is missing");
        let second = Shard { index: 1, count: 3 };
        assert!(!lines(&[1, 4, 7]).has_gap(second));
        assert!(lines(&[1, 7]).has_gap(second), "4 is missing");
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

    #[test]
    fn a_later_line_supersedes_an_error_and_the_file_is_put_back_in_order() {
        let text = b"{\"index\":0,\"url\":\"a\"}\n{\"index\":1,\"url\":\"b\",\"error\":{\"kind\":\"connect\"}}\n\
{\"index\":2,\"url\":\"c\"}\n{\"index\":1,\"url\":\"b\",\"status\":200}\n";
        let r = parse_records(text).unwrap();
        assert_eq!(r.failed(), 0, "the error was superseded");
        assert!(!r.in_order);
        let twice = b"{\"index\":0,\"url\":\"a\"}\n{\"index\":0,\"url\":\"a\"}\n";
        assert!(parse_records(twice).unwrap_err().contains("appears twice"));
        let mut r = parse_records(&text[..text.len() - 35]).unwrap();
        assert_eq!((r.failed(), r.in_order), (1, true));
        assert_eq!(r.forget_failed(), 1);
        assert!(!r.contains(1) && r.contains(2));

        let dir = std::env::temp_dir().join(format!("gather-order-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("out.jsonl");
        std::fs::write(&path, text).unwrap();
        put_in_order(&path).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "{\"index\":0,\"url\":\"a\"}\n{\"index\":1,\"url\":\"b\",\"status\":200}\n{\"index\":2,\"url\":\"c\"}\n"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
