//! `--resume`: the records an earlier run wrote, checked against the
//! input before anything is fetched.

use std::collections::{HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::hash::{Hash, Hasher};
use std::io::{self, Read};
use std::path::Path;

use serde_json::Value;

use crate::input::Job;

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
}
