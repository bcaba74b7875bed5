//! `--shard`: one machine's share of a job list that several machines
//! fetch, on an engine that already runs N copies of a command.
//!
//! Shard K of N keeps the input lines whose index is K mod N. Indices stay
//! global, so the shards' outputs merge back by index (`gather merge`).
//! K comes from the flag, or from the job engine:
//!
//! - `--shard K/N`: given.
//! - `--shard N`: K from `JOB_COMPLETION_INDEX` (a Kubernetes Indexed Job,
//!   whose `completions` is N), else from `SLURM_ARRAY_TASK_ID` (minus
//!   `SLURM_ARRAY_TASK_MIN`, for an array that does not start at 0).
//! - `--shard auto`: a Slurm array, N from `SLURM_ARRAY_TASK_COUNT` too.
//!
//! Every way out names the flag or variable that was wrong or missing.

/// Which share of the input this run fetches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// This run's number, below `count`.
    pub index: usize,
    /// How many runs share the input.
    pub count: usize,
}

impl Shard {
    /// Everything: shard 0 of 1.
    pub const ALL: Shard = Shard { index: 0, count: 1 };

    /// `true` when the job at input index `index` is this shard's.
    #[inline]
    pub fn keeps(self, index: usize) -> bool {
        index % self.count == self.index
    }

    /// Reads `--shard`'s value, with `env(name)` for what it leaves to the
    /// job engine.
    pub fn parse(flag: &str, env: impl Fn(&str) -> Option<String>) -> Result<Shard, String> {
        let number = |what: &str, text: &str| -> Result<usize, String> {
            text.trim()
                .parse::<usize>()
                .map_err(|_| format!("{what} {text:?} is not a whole number"))
        };
        let from_env = |name: &str| env(name).filter(|v| !v.trim().is_empty());
        let (index, count) = match flag.trim() {
            "auto" => {
                let count = from_env("SLURM_ARRAY_TASK_COUNT").ok_or(
                    "--shard auto: SLURM_ARRAY_TASK_COUNT is not set (outside a Slurm array, give --shard N or K/N)",
                )?;
                (
                    engine_index(&from_env, &number)?,
                    number("SLURM_ARRAY_TASK_COUNT", &count)?,
                )
            }
            text => match text.split_once('/') {
                Some((k, n)) => (number("--shard's K", k)?, number("--shard's N", n)?),
                None => (engine_index(&from_env, &number)?, number("--shard", text)?),
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

/// K from the job engine's variables.
fn engine_index(
    env: &impl Fn(&str) -> Option<String>,
    number: &impl Fn(&str, &str) -> Result<usize, String>,
) -> Result<usize, String> {
    if let Some(k) = env("JOB_COMPLETION_INDEX") {
        return number("JOB_COMPLETION_INDEX", &k);
    }
    if let Some(id) = env("SLURM_ARRAY_TASK_ID") {
        let id = number("SLURM_ARRAY_TASK_ID", &id)?;
        let min = match env("SLURM_ARRAY_TASK_MIN") {
            Some(m) => number("SLURM_ARRAY_TASK_MIN", &m)?,
            None => 0,
        };
        return id.checked_sub(min).ok_or_else(|| {
            format!("SLURM_ARRAY_TASK_ID {id} is below SLURM_ARRAY_TASK_MIN {min}")
        });
    }
    Err("--shard: no shard number given (K/N) and none in the environment \
         (JOB_COMPLETION_INDEX for a Kubernetes Indexed Job, SLURM_ARRAY_TASK_ID for a Slurm array)"
        .to_owned())
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
        assert_eq!(
            shard(
                "4",
                &[
                    ("SLURM_ARRAY_TASK_ID", "11"),
                    ("SLURM_ARRAY_TASK_MIN", "10")
                ]
            ),
            Ok(Shard { index: 1, count: 4 })
        );
        assert_eq!(
            shard(
                "auto",
                &[
                    ("SLURM_ARRAY_TASK_ID", "2"),
                    ("SLURM_ARRAY_TASK_COUNT", "3")
                ]
            ),
            Ok(Shard { index: 2, count: 3 })
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
            .contains("SLURM_ARRAY_TASK_COUNT"));
        assert!(shard("3", &[("JOB_COMPLETION_INDEX", "-1")])
            .unwrap_err()
            .contains("JOB_COMPLETION_INDEX"));
        assert!(shard("3", &[("JOB_COMPLETION_INDEX", "7")])
            .unwrap_err()
            .contains("shard 7 of 3"));
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
