//! `gather merge`: shard outputs back into one, by index, in one
//! streaming pass.
//!
//! Each shard's output is in index order already (a run writes its lines
//! in input order, and a shard's indices ascend), so the merge is a k-way
//! merge that holds one line per input: memory does not grow with the
//! number of lines. It refuses what would make the result wrong, naming
//! the file and line: an index in two inputs (overlapping shards), an
//! index in none (a shard missing or cut short), a file out of index
//! order, a torn last line (a shard that was interrupted), a line that is
//! not a record. Written to `OUT.partial` and renamed at the end, so an
//! error leaves no half-merged `OUT` behind.
//!
//! # Knowing the whole
//!
//! Lines alone cannot tell a complete set from one whose last shards
//! stopped early: 2,999 lines merge as cleanly as 3,000. So each input
//! must have the manifest its shard run wrote beside it (`OUT.shard`, see
//! [`Manifest`]): the inputs must be shards of one list (the same N, line
//! count and fingerprint), one file per shard, every shard there, and the
//! merged lines must number what the list has. Each refusal names the
//! missing shard or the file that stops early, and the command that
//! finishes it.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::shard::{Manifest, Shard};

/// One input: its reader, and where it is.
struct Input {
    path: PathBuf,
    reader: BufReader<File>,
    line: usize,
}

/// A line read from an input, with its index.
struct Record {
    index: u64,
    line: usize,
    bytes: Vec<u8>,
}

impl Input {
    fn open(path: &Path) -> Result<Input, String> {
        let file = File::open(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        Ok(Input {
            path: path.to_owned(),
            reader: BufReader::with_capacity(64 * 1024, file),
            line: 0,
        })
    }

    /// The next record, `None` at the end.
    fn next(&mut self) -> Result<Option<Record>, String> {
        let mut bytes = Vec::new();
        loop {
            bytes.clear();
            let n = self
                .reader
                .read_until(b'\n', &mut bytes)
                .map_err(|e| format!("cannot read {}: {e}", self.path.display()))?;
            if n == 0 {
                return Ok(None);
            }
            self.line += 1;
            if bytes.last() != Some(&b'\n') {
                return Err(format!(
                    "{} line {} is cut short (no newline): the shard was interrupted; finish it with gather fetch ... -o {} --resume",
                    self.path.display(),
                    self.line,
                    self.path.display()
                ));
            }
            if bytes.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let index = record_index(&bytes).ok_or_else(|| {
                format!(
                    "{} line {} is not a gather record (no \"index\")",
                    self.path.display(),
                    self.line
                )
            })?;
            return Ok(Some(Record {
                index,
                line: self.line,
                bytes,
            }));
        }
    }
}

/// A record's `index`: read from the prefix every gather line starts with,
/// else by parsing the line.
fn record_index(line: &[u8]) -> Option<u64> {
    if let Some(rest) = line.strip_prefix(b"{\"index\":") {
        let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
        if digits > 0 && matches!(rest.get(digits), Some(b',') | Some(b'}')) {
            return std::str::from_utf8(&rest[..digits]).ok()?.parse().ok();
        }
    }
    let value: serde_json::Value = serde_json::from_slice(line).ok()?;
    value.get("index")?.as_u64()
}

/// Merges `inputs` into `output` (standard output when `None`); returns the
/// number of lines written.
pub(crate) fn merge(inputs: &[PathBuf], output: Option<&Path>) -> Result<u64, String> {
    if inputs.is_empty() {
        return Err("gather merge: no inputs (give the shards' output files)".to_owned());
    }
    let whole = Whole::check(inputs)?;
    let mut files: Vec<Input> = inputs
        .iter()
        .map(|p| Input::open(p))
        .collect::<Result<_, _>>()?;
    let partial = output.map(|o| {
        let mut name = o.as_os_str().to_owned();
        name.push(".partial");
        PathBuf::from(name)
    });
    let sink: Box<dyn Write> = match &partial {
        Some(p) => {
            Box::new(File::create(p).map_err(|e| format!("cannot create {}: {e}", p.display()))?)
        }
        None => Box::new(io::stdout().lock()),
    };
    let mut out = BufWriter::with_capacity(64 * 1024, sink);
    let result = merge_into(&mut files, &whole, &mut out).and_then(|n| {
        out.flush()
            .map_err(|e| format!("cannot write the merged output: {e}"))?;
        Ok(n)
    });
    drop(out);
    match (result, &partial, output) {
        (Ok(n), Some(partial), Some(output)) => {
            std::fs::rename(partial, output).map_err(|e| {
                format!(
                    "cannot move {} to {}: {e}",
                    partial.display(),
                    output.display()
                )
            })?;
            Ok(n)
        }
        (Ok(n), _, _) => Ok(n),
        (Err(e), Some(partial), _) => {
            let _ = std::fs::remove_file(partial);
            Err(e)
        }
        (Err(e), None, _) => Err(e),
    }
}

/// What the inputs' manifests say the merge must produce.
struct Whole {
    /// The manifest they share (its shard is the first input's).
    list: Manifest,
    /// For each shard K, the position of its file among the inputs.
    owner: Vec<usize>,
}

impl Whole {
    /// Reads every input's manifest and checks that they are the shards of
    /// one list, each once, all there.
    fn check(inputs: &[PathBuf]) -> Result<Whole, String> {
        let mut list: Option<(Manifest, &Path)> = None;
        let mut owner: Vec<Option<usize>> = Vec::new();
        for (i, path) in inputs.iter().enumerate() {
            let m = Manifest::read(path)?.ok_or_else(|| {
                format!(
                    "{} has no manifest ({}): gather merge takes the outputs of gather fetch --shard K/N -o OUT, \
                     which say which shard of which list each holds",
                    path.display(),
                    Manifest::path(path).display()
                )
            })?;
            let (first, first_path) = *list.get_or_insert((m, path));
            if (m.shard.count, m.lines, m.fingerprint)
                != (first.shard.count, first.lines, first.fingerprint)
            {
                return Err(format!(
                    "{} and {} are not shards of one list: {}/{} of {} URL lines (fingerprint {:016x}) against {}/{} of {} ({:016x})",
                    first_path.display(),
                    path.display(),
                    first.shard.index,
                    first.shard.count,
                    first.lines,
                    first.fingerprint,
                    m.shard.index,
                    m.shard.count,
                    m.lines,
                    m.fingerprint
                ));
            }
            owner.resize(m.shard.count, None);
            if let Some(other) = owner[m.shard.index] {
                return Err(format!(
                    "{} and {} are both shard {}/{}",
                    inputs[other].display(),
                    path.display(),
                    m.shard.index,
                    m.shard.count
                ));
            }
            owner[m.shard.index] = Some(i);
        }
        let (list, _) = list.expect("inputs checked non-empty");
        let missing: Vec<String> = (0..owner.len())
            .filter(|&k| owner[k].is_none())
            .map(|k| k.to_string())
            .collect();
        if !missing.is_empty() {
            return Err(format!(
                "shard {} of {} is missing: none of the inputs is its output (each shard K holds the indices K, K+N, ...; \
                 run it with gather fetch --shard K/{} ... -o OUT, then merge again)",
                missing.join(", "),
                list.shard.count,
                list.shard.count
            ));
        }
        Ok(Whole {
            list,
            owner: owner
                .into_iter()
                .map(|o| o.expect("checked above"))
                .collect(),
        })
    }

    /// Why index `index` is not in the merge: the shard that owns it stops
    /// before it.
    fn missing(&self, index: u64, files: &[Input]) -> String {
        let count = self.list.shard.count;
        let k = (index % count as u64) as usize;
        let file = &files[self.owner[k]];
        let share = Manifest {
            shard: Shard { index: k, count },
            ..self.list
        }
        .share();
        format!(
            "index {index} is missing: {} (shard {k}/{count}, {share} of the list's {} URLs) stops before it: \
             the shard was interrupted or its last requests never ran; finish it with \
             gather fetch --shard {k}/{count} ... -o {} --resume",
            file.path.display(),
            self.list.lines,
            file.path.display()
        )
    }
}

fn merge_into(files: &mut [Input], whole: &Whole, out: &mut impl Write) -> Result<u64, String> {
    // The next record of each file; the heap orders them by index.
    let mut next: Vec<Option<Record>> = Vec::with_capacity(files.len());
    let mut heap = BinaryHeap::new();
    for (f, file) in files.iter_mut().enumerate() {
        let record = file.next()?;
        if let Some(r) = &record {
            heap.push(Reverse((r.index, f)));
        }
        next.push(record);
    }
    let mut expected: u64 = 0;
    // Where the last index written came from, to name both of a duplicate.
    let mut last: Option<(usize, usize)> = None;
    while let Some(Reverse((index, f))) = heap.pop() {
        let record = next[f].take().expect("in the heap, so read");
        if index < expected {
            let (pf, pline) = last.expect("an index below the next was written");
            return Err(format!(
                "index {index} is in both {} (line {pline}) and {} (line {}): the shards overlap",
                files[pf].path.display(),
                files[f].path.display(),
                record.line
            ));
        }
        if index > expected {
            // The file that owns the missing index, if its next line is
            // below the one it is waiting with, is out of order: say that,
            // the cause, rather than the gap it makes.
            let owner = whole.owner[(expected % whole.list.shard.count as u64) as usize];
            let waiting = if owner == f {
                Some(index)
            } else {
                next[owner].as_ref().map(|r| r.index)
            };
            if let (Some(waiting), Ok(Some(r))) = (waiting, files[owner].next()) {
                if r.index < waiting {
                    return Err(out_of_order(&files[owner], &r, waiting));
                }
            }
            return Err(whole.missing(expected, files));
        }
        out.write_all(&record.bytes)
            .map_err(|e| format!("cannot write the merged output: {e}"))?;
        expected += 1;
        last = Some((f, record.line));
        if let Some(r) = files[f].next()? {
            if r.index <= index {
                return Err(out_of_order(&files[f], &r, index));
            }
            heap.push(Reverse((r.index, f)));
            next[f] = Some(r);
        }
    }
    if expected > whole.list.lines as u64 {
        return Err(format!(
            "the inputs hold {expected} lines, but their list has {} URLs: not the outputs the manifests describe",
            whole.list.lines
        ));
    }
    if expected < whole.list.lines as u64 {
        return Err(whole.missing(expected, files));
    }
    Ok(expected)
}

fn out_of_order(file: &Input, record: &Record, after: u64) -> String {
    format!(
        "{} line {}: index {} after {after}: not in index order (not a gather output?)",
        file.path.display(),
        record.line,
        record.index
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_index_is_read_from_the_prefix_or_the_json() {
        assert_eq!(record_index(b"{\"index\":42,\"url\":\"x\"}\n"), Some(42));
        assert_eq!(record_index(b"{\"url\":\"x\",\"index\":7}\n"), Some(7));
        assert_eq!(record_index(b"{\"index\":\"7\"}\n"), None);
        assert_eq!(record_index(b"not json\n"), None);
    }
}
