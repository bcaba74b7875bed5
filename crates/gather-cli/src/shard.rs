//! `--shard`: one machine's share of a job list that several machines
//! fetch, on an engine that already runs N copies of a command.
//!
//! Shard K of N keeps the input lines whose index is K mod N. Indices stay
//! global, so the shards' outputs merge back by index (`gather merge`).
//! K comes from the flag, or from the job engine:
//!
//! - `--shard K/N`: given.
//! - `--shard N`: K from `JOB_COMPLETION_INDEX` (a Kubernetes Indexed Job,
//!   whose `completions` is N; an index past N is refused), else
//!   `SLURM_ARRAY_TASK_ID` mod N.
//!
//! # Why K is the array index mod N, and N is always given
//!
//! A job engine reruns one task the natural way: `sbatch --array=1
//! fetch.sh`. That job is an array of one, so `SLURM_ARRAY_TASK_COUNT` is 1
//! and `SLURM_ARRAY_TASK_MIN` is 1: taking N from the count (the former
//! `--shard auto`) made the rerun shard 0 of 1, which fetched the whole
//! list into shard 1's file, and taking K as ID - MIN made it shard 0. The
//! task's own ID is the one thing a rerun keeps, so K is that ID mod N,
//! with N from the script (which also serves arrays numbered from 1).
//!
//! # The manifest
//!
//! A shard writes, beside its output `OUT`, `OUT.shard`: one JSON object
//! naming the shard (K/N) and what it was given (the number of URL lines
//! and an FNV-1a fingerprint of the input's bytes). `--resume` refuses an
//! output whose manifest names another shard or another list, and `gather
//! merge` refuses a set of outputs that does not cover every index of the
//! list, naming the missing shard. Every record line stays a plain JSON
//! object for `jq`.
//!
//! Every way out names the flag or variable that was wrong or missing.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

/// Which share of the input this run fetches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Shard {
    /// This run's number, below `count`.
    pub(crate) index: usize,
    /// How many runs share the input.
    pub(crate) count: usize,
}

impl Shard {
    /// Everything: shard 0 of 1.
    pub(crate) const ALL: Shard = Shard { index: 0, count: 1 };

    /// `true` when the job at input index `index` is this shard's.
    #[inline]
    pub(crate) fn keeps(self, index: usize) -> bool {
        index % self.count == self.index
    }

    /// Reads `--shard`'s value, with `env(name)` for what it leaves to the
    /// job engine.
    pub(crate) fn parse(flag: &str, env: impl Fn(&str) -> Option<String>) -> Result<Shard, String> {
        let number = |what: &str, text: &str| -> Result<usize, String> {
            text.trim()
                .parse::<usize>()
                .map_err(|_| format!("{what} {text:?} is not a whole number"))
        };
        let from_env = |name: &str| env(name).filter(|v| !v.trim().is_empty());
        let (index, count) = match flag.trim() {
            "auto" => return Err(
                "--shard auto is gone: a rerun of one array index (sbatch --array=1) sees an array of one, \
                 and would fetch the whole list into that shard's file. Give N, as in the array: --shard 50"
                    .to_owned(),
            ),
            text => match text.split_once('/') {
                Some((k, n)) => (number("--shard's K", k)?, number("--shard's N", n)?),
                None => {
                    let count = number("--shard", text)?;
                    (engine_index(&from_env, &number, count)?, count)
                }
            },
        };
        if count == 0 {
            return Err(format!("--shard {flag}: N must be at least 1"));
        }
        if index >= count {
            return Err(format!(
                "--shard {flag}: shard {index} of {count} does not exist (K counts from 0 to N-1)"
            ));
        }
        Ok(Shard { index, count })
    }
}

/// K from the job engine's variables, for `count` shards.
fn engine_index(
    env: &impl Fn(&str) -> Option<String>,
    number: &impl Fn(&str, &str) -> Result<usize, String>,
    count: usize,
) -> Result<usize, String> {
    if let Some(k) = env("JOB_COMPLETION_INDEX") {
        // An Indexed Job's `completions` is N: an index past it is a
        // manifest and a flag that disagree, not a shard to wrap around to.
        return number("JOB_COMPLETION_INDEX", &k);
    }
    if let Some(id) = env("SLURM_ARRAY_TASK_ID") {
        let id = number("SLURM_ARRAY_TASK_ID", &id)?;
        return Ok(id % count.max(1));
    }
    Err("--shard: no shard number given (K/N) and none in the environment \
         (JOB_COMPLETION_INDEX for a Kubernetes Indexed Job, SLURM_ARRAY_TASK_ID for a Slurm array)"
        .to_owned())
}

/// What a shard's output was made from: written beside it as `OUT.shard`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Manifest {
    pub(crate) shard: Shard,
    /// The number of URL lines in the whole input (every shard's).
    pub(crate) lines: usize,
    /// FNV-1a (64 bits) of the input's bytes.
    pub(crate) fingerprint: u64,
}

impl Manifest {
    /// Where the manifest of the output at `output` is.
    pub(crate) fn path(output: &Path) -> PathBuf {
        let mut name = output.as_os_str().to_owned();
        name.push(".shard");
        PathBuf::from(name)
    }

    /// Writes the manifest for `output`, whole or not at all (a temporary
    /// file renamed over it).
    pub(crate) fn write(&self, output: &Path) -> Result<(), String> {
        let path = Manifest::path(output);
        let text = json!({
            "gather": "shard",
            "version": 1,
            "shard": format!("{}/{}", self.shard.index, self.shard.count),
            "lines": self.lines,
            "fingerprint": format!("fnv1a64:{:016x}", self.fingerprint),
        })
        .to_string()
            + "\n";
        let mut partial = path.as_os_str().to_owned();
        partial.push(".partial");
        let partial = PathBuf::from(partial);
        std::fs::write(&partial, text)
            .and_then(|()| std::fs::rename(&partial, &path))
            .map_err(|e| format!("cannot write {}: {e}", path.display()))
    }

    /// The manifest of the output at `output`, `None` if there is none.
    pub(crate) fn read(output: &Path) -> Result<Option<Manifest>, String> {
        let path = Manifest::path(output);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
        };
        let bad =
            |what: &str| format!("{} is not a gather shard manifest ({what})", path.display());
        let value: Value = serde_json::from_str(&text).map_err(|e| bad(&e.to_string()))?;
        if value["gather"] != "shard" || value["version"] != 1 {
            return Err(bad("no \"gather\": \"shard\", \"version\": 1"));
        }
        let shard = value["shard"].as_str().ok_or_else(|| bad("no \"shard\""))?;
        let shard = match shard.split_once('/') {
            Some((k, n)) => Shard {
                index: k.parse().map_err(|_| bad("\"shard\" is not K/N"))?,
                count: n.parse().map_err(|_| bad("\"shard\" is not K/N"))?,
            },
            None => return Err(bad("\"shard\" is not K/N")),
        };
        if shard.count == 0 || shard.index >= shard.count {
            return Err(bad("\"shard\" is not a shard"));
        }
        let lines = value["lines"].as_u64().ok_or_else(|| bad("no \"lines\""))?;
        let fingerprint = value["fingerprint"]
            .as_str()
            .and_then(|f| f.strip_prefix("fnv1a64:"))
            .and_then(|f| u64::from_str_radix(f, 16).ok())
            .ok_or_else(|| bad("no \"fingerprint\""))?;
        Ok(Some(Manifest {
            shard,
            lines: usize::try_from(lines).map_err(|_| bad("\"lines\" too large"))?,
            fingerprint,
        }))
    }

    /// How many of the input's indices are this shard's.
    pub(crate) fn share(&self) -> usize {
        let Shard { index, count } = self.shard;
        (self.lines + count - 1 - index) / count
    }

    /// Checks that an earlier run's manifest `found` (beside `output`) is
    /// this run's shard of the same list; the message says what differs.
    pub(crate) fn check_resume(&self, found: &Manifest, output: &Path) -> Result<(), String> {
        let shown = output.display();
        if found.shard != self.shard {
            return Err(format!(
                "cannot resume: {shown} is shard {}/{}'s output, and this run is shard {}/{} \
                 (resume each shard into its own file; under Slurm, K is SLURM_ARRAY_TASK_ID mod N)",
                found.shard.index, found.shard.count, self.shard.index, self.shard.count
            ));
        }
        if found.lines != self.lines || found.fingerprint != self.fingerprint {
            return Err(format!(
                "cannot resume: {shown} was fetched from another list ({} URL lines, fingerprint {:016x}; \
                 this input has {}, {:016x}): fetch it again without --resume",
                found.lines, found.fingerprint, self.lines, self.fingerprint
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shard(flag: &str, env: &[(&str, &str)]) -> Result<Shard, String> {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Shard::parse(flag, |k| {
            env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
        })
    }

    #[test]
    fn k_and_n_come_from_the_flag_or_the_job_engine() {
        assert_eq!(shard("2/5", &[]), Ok(Shard { index: 2, count: 5 }));
        assert_eq!(
            shard("5", &[("JOB_COMPLETION_INDEX", "3")]),
            Ok(Shard { index: 3, count: 5 })
        );
        assert_eq!(
            shard("4", &[("SLURM_ARRAY_TASK_ID", "1")]),
            Ok(Shard { index: 1, count: 4 })
        );
        // An array numbered from 1 (1-4): task 4 is shard 0.
        assert_eq!(
            shard("4", &[("SLURM_ARRAY_TASK_ID", "4")]),
            Ok(Shard { index: 0, count: 4 })
        );
        // A rerun of index 1 alone (sbatch --array=1): an array of one,
        // whose MIN and COUNT say nothing of the shard; still shard 1.
        assert_eq!(
            shard(
                "4",
                &[
                    ("SLURM_ARRAY_TASK_ID", "1"),
                    ("SLURM_ARRAY_TASK_MIN", "1"),
                    ("SLURM_ARRAY_TASK_COUNT", "1")
                ]
            ),
            Ok(Shard { index: 1, count: 4 })
        );
        // The flag's K wins over the environment's.
        assert_eq!(
            shard("0/2", &[("JOB_COMPLETION_INDEX", "1")]),
            Ok(Shard { index: 0, count: 2 })
        );
    }

    #[test]
    fn what_is_wrong_or_missing_is_named() {
        assert!(shard("3/3", &[]).unwrap_err().contains("does not exist"));
        assert!(shard("0/0", &[]).unwrap_err().contains("at least 1"));
        assert!(shard("x/3", &[]).unwrap_err().contains("--shard's K"));
        assert!(shard("3", &[])
            .unwrap_err()
            .contains("JOB_COMPLETION_INDEX"));
        assert!(shard("auto", &[("SLURM_ARRAY_TASK_ID", "1")])
            .unwrap_err()
            .contains("--shard auto is gone"));
        assert!(shard("3", &[("JOB_COMPLETION_INDEX", "-1")])
            .unwrap_err()
            .contains("JOB_COMPLETION_INDEX"));
        assert!(shard("3", &[("JOB_COMPLETION_INDEX", "7")])
            .unwrap_err()
            .contains("shard 7 of 3"));
    }

    #[test]
    fn a_manifest_reads_back_as_written_and_names_what_differs() {
        let dir = std::env::temp_dir().join(format!("gather-manifest-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let out = dir.join("part-1.jsonl");
        let m = Manifest {
            shard: Shard { index: 1, count: 4 },
            lines: 3000,
            fingerprint: 0x0123_4567_89ab_cdef,
        };
        assert_eq!(Manifest::read(&out), Ok(None));
        m.write(&out).unwrap();
        assert_eq!(Manifest::read(&out), Ok(Some(m)));
        assert_eq!(m.share(), 750);
        assert!(m.check_resume(&m, &out).is_ok());
        let all = Manifest {
            shard: Shard::ALL,
            ..m
        };
        assert!(all
            .check_resume(&m, &out)
            .unwrap_err()
            .contains("shard 1/4's output"));
        let other = Manifest { lines: 2999, ..m };
        assert!(other
            .check_resume(&m, &out)
            .unwrap_err()
            .contains("another list"));
        std::fs::write(Manifest::path(&out), "{}").unwrap();
        assert!(Manifest::read(&out)
            .unwrap_err()
            .contains("not a gather shard manifest"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn every_index_is_in_exactly_one_shard() {
        for count in 1..6 {
            for index in 0..50 {
                let owners = (0..count)
                    .filter(|&k| Shard { index: k, count }.keeps(index))
                    .count();
                assert_eq!(owners, 1, "index {index} of {count} shards");
            }
        }
    }
}
