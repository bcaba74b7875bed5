//! `docs/scale-out.md`'s Slurm recipe, run from the page itself on a real
//! single-node Slurm (#28): the array, the `afterok` merge, a task killed and
//! resubmitted by its index, a task requeued while it runs.
//!
//! Each test starts its own Slurm on 127.0.0.1 with `scripts/slurm.sh`
//! (Debian's `slurm-wlm` and `munge`, run as root; `.ci/run` installs them)
//! and stops it by pid file when it ends, panicking or not. The guide's
//! blocks are read from the page and changed in named places only (50 shards
//! become 4, the binary is this build's), each replacement checked to apply
//! exactly once: a guide that changes shape fails here instead of testing
//! something else.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::*;
use serde_json::Value;

const SHARDS: u64 = 4;

/// A Slurm of our own, stopped when dropped.
struct Slurm {
    dir: PathBuf,
    conf: String,
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/slurm.sh")
}

impl Slurm {
    fn start(dir: &Path) -> Slurm {
        require("/usr/sbin/slurmctld");
        require("/usr/sbin/munged");
        let dir = dir.join("slurm");
        let out = Command::new("bash")
            .arg(script())
            .arg("start")
            .arg(&dir)
            .output()
            .unwrap();
        // Stopped even if the start failed half-way.
        let mut slurm = Slurm {
            dir,
            conf: String::new(),
        };
        assert!(
            out.status.success(),
            "scripts/slurm.sh start: {}",
            stderr(&out)
        );
        slurm.conf = String::from_utf8_lossy(&out.stdout)
            .lines()
            .find_map(|l| l.strip_prefix("export SLURM_CONF="))
            .expect("slurm.sh prints SLURM_CONF")
            .to_owned();
        slurm
    }

    /// A Slurm command (`sbatch`, `scontrol`, ...) in `cwd`, on our cluster,
    /// with none of the machine's proxies (jobs inherit the environment).
    fn command(&self, program: &str, cwd: &Path) -> Command {
        // gather_cmd's environment, for another program.
        let mut c = Command::new(program);
        for (k, v) in gather_cmd().get_envs() {
            match v {
                Some(v) => c.env(k, v),
                None => c.env_remove(k),
            };
        }
        c.env("SLURM_CONF", &self.conf).current_dir(cwd);
        c
    }

    /// Runs `program args` and returns its stdout; panics on failure.
    fn run(&self, cwd: &Path, program: &str, args: &[&str]) -> String {
        let out = self.command(program, cwd).args(args).output().unwrap();
        assert!(out.status.success(), "{program} {args:?}: {}", stderr(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs a guide block with bash in `cwd`, with `vars` set; returns the
    /// id of the job it submitted.
    fn submit(&self, cwd: &Path, block: &str, vars: &[(&str, &str)]) -> String {
        let mut cmd = self.command("bash", cwd);
        cmd.args(["-euc", block]).envs(vars.iter().copied());
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "{block}\n{}", stderr(&out));
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .find_map(|l| l.strip_prefix("Submitted batch job "))
            .unwrap_or_else(|| panic!("no job id from sbatch: {block}"))
            .trim()
            .to_owned()
    }

    /// `JobState` of each task of `job` (`ArrayTaskId` or the job itself).
    fn states(&self, job: &str) -> Vec<(String, String)> {
        self.run(Path::new("/"), "scontrol", &["-o", "show", "job", job])
            .lines()
            .map(|line| {
                let field = |name: &str| {
                    line.split_whitespace()
                        .find_map(|f| f.strip_prefix(name))
                        .map(str::to_owned)
                };
                (
                    field("ArrayTaskId=").unwrap_or_else(|| job.to_owned()),
                    field("JobState=").unwrap(),
                )
            })
            .collect()
    }

    /// Waits (at most `limit`) until every task of `job` has ended; returns
    /// the states.
    fn wait_ended(&self, job: &str, limit: Duration) -> Vec<(String, String)> {
        let start = Instant::now();
        loop {
            let states = self.states(job);
            let ended = |s: &str| {
                [
                    "COMPLETED",
                    "FAILED",
                    "CANCELLED",
                    "TIMEOUT",
                    "NODE_FAIL",
                    "OUT_OF_MEMORY",
                ]
                .contains(&s)
            };
            // A pending array is one line ("0-3%2") until its tasks start.
            if states.iter().all(|(_, s)| ended(s)) {
                return states;
            }
            assert!(
                start.elapsed() < limit,
                "job {job} still running after {limit:?}: {states:?}\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    fn logs(&self) -> String {
        let mut text = String::new();
        for name in ["slurmctld.log", "slurmd.log"] {
            let log = std::fs::read_to_string(self.dir.join("log").join(name)).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(15).collect();
            text += &format!(
                "--- {name}\n{}\n",
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
        text
    }
}

impl Drop for Slurm {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(script())
            .arg("stop")
            .arg(&self.dir)
            .status();
    }
}

/// The fenced block after `<!-- guide: NAME -->` in docs/scale-out.md.
fn guide(name: &str) -> String {
    let page = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/scale-out.md"),
    )
    .unwrap();
    let after = page
        .split_once(&format!("<!-- guide: {name} -->"))
        .unwrap_or_else(|| panic!("docs/scale-out.md has no guide block {name}"))
        .1;
    let fence = after.find("```").unwrap();
    let body = &after[fence..];
    let body = &body[body.find('\n').unwrap() + 1..];
    body[..body.find("```").unwrap()].to_owned()
}

/// `text` with `from` replaced by `to`, which must occur exactly once.
fn replace_once(text: &str, from: &str, to: &str) -> String {
    assert_eq!(
        text.matches(from).count(),
        1,
        "the guide changed: {from:?} should occur once in\n{text}"
    );
    text.replacen(from, to, 1)
}

/// The guide's scripts, for 4 shards of this build, in a work directory
/// with the list of URLs; returns the single run's records to compare with.
fn recipe(env: &Env, delay_ms: u32, urls: u64) -> (PathBuf, Vec<Value>) {
    let work = env.path("work");
    std::fs::create_dir_all(&work).unwrap();
    let gather = env!("CARGO_BIN_EXE_gather");
    let mut fetch = guide("fetch.sh");
    for (from, to) in [
        ("--array=0-49%10", "--array=0-3%2".to_owned()),
        ("--cpus-per-task=2", "--cpus-per-task=1".to_owned()),
        ("N=50", format!("N={SHARDS}")),
        // Slow enough to kill or requeue a task half-way.
        ("--limit 64", "--limit 2".to_owned()),
        ("gather fetch", format!("'{gather}' fetch")),
    ] {
        fetch = replace_once(&fetch, from, &to);
    }
    std::fs::write(work.join("fetch.sh"), fetch).unwrap();
    let merge = replace_once(
        &guide("merge.sh"),
        "gather merge",
        &format!("'{gather}' merge"),
    );
    std::fs::write(work.join("merge.sh"), merge).unwrap();

    let lines: Vec<String> = (0..urls)
        .map(|i| match i % 17 {
            5 => "not a url".to_owned(), // an error line: the shard exits 1 without --ok-if-complete
            9 => env.url("/status/404"),
            _ => env.url(&format!("/page/{i}?delay_ms={delay_ms}")),
        })
        .collect();
    std::fs::write(work.join("urls.txt"), lines.join("\n") + "\n").unwrap();
    let single = env.path("single.jsonl");
    let out = run(&[
        "fetch",
        "-q",
        "--limit",
        "64",
        work.join("urls.txt").to_str().unwrap(),
        "-o",
        single.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    (work, comparable(&std::fs::read(&single).unwrap()))
}

fn line_count(path: &Path) -> usize {
    std::fs::read(path).map_or(0, |t| t.iter().filter(|&&b| b == b'\n').count())
}

/// Waits (at most 60 s) until `path` holds at least `lines` lines.
fn wait_lines(path: &Path, lines: usize, slurm: &Slurm) {
    let start = Instant::now();
    while line_count(path) < lines {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{} has {} lines, waited for {lines}\n{}",
            path.display(),
            line_count(path),
            slurm.logs()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn gather_merge(work: &Path) -> std::process::Output {
    let parts: Vec<String> = (0..SHARDS)
        .map(|k| {
            work.join(format!("out/part-{k}.jsonl"))
                .display()
                .to_string()
        })
        .collect();
    let all = work.join("all.jsonl").display().to_string();
    let mut args: Vec<&str> = vec!["merge"];
    args.extend(parts.iter().map(String::as_str));
    args.extend(["-o", &all]);
    run(&args)
}

const JOB_LIMIT: Duration = Duration::from_secs(180);

#[test]
#[ignore = "needs Slurm (slurm-wlm, munge) and root"]
fn the_guides_array_and_afterok_merge_equal_a_single_run() {
    let env = Env::new("slurm-array");
    let slurm = Slurm::start(&env.dir);
    let (work, single) = recipe(&env, 0, 120);

    let array = slurm.submit(&work, &guide("submit"), &[]);
    let merge = slurm.submit(&work, &guide("merge-after"), &[("ARRAY_JOB", &array)]);
    let states = slurm.wait_ended(&array, JOB_LIMIT);
    assert!(
        states.iter().all(|(_, s)| s == "COMPLETED"),
        "every shard completes, error lines and all (--ok-if-complete): {states:?}"
    );
    assert_eq!(states.len() as u64, SHARDS, "{states:?}");
    let merged = slurm.wait_ended(&merge, JOB_LIMIT);
    assert_eq!(
        merged[0].1,
        "COMPLETED",
        "the afterok merge ran: {}",
        std::fs::read_to_string(work.join("logs/merge.log")).unwrap_or_default()
    );
    assert_eq!(
        comparable(&std::fs::read(work.join("all.jsonl")).unwrap()),
        single,
        "the merge of the array's shards is the single run"
    );
    for k in 0..SHARDS {
        let manifest: Value = serde_json::from_slice(
            &std::fs::read(work.join(format!("out/part-{k}.jsonl.shard"))).unwrap(),
        )
        .unwrap();
        assert_eq!(manifest["shard"], format!("{k}/{SHARDS}"), "{manifest}");
        assert!(work.join(format!("logs/fetch-{k}.log")).exists());
    }
}

#[test]
#[ignore = "needs Slurm (slurm-wlm, munge) and root"]
fn a_killed_task_resubmitted_by_its_index_finishes_its_own_shard() {
    let env = Env::new("slurm-rerun");
    let slurm = Slurm::start(&env.dir);
    // 100 URLs a shard, 2 at a time, 100 ms each: 5 s a shard.
    let (work, single) = recipe(&env, 100, 400);

    let array = slurm.submit(&work, &guide("submit"), &[]);
    let part1 = work.join("out/part-1.jsonl");
    wait_lines(&part1, 10, &slurm);
    slurm.run(&work, "scancel", &[&format!("{array}_1")]);
    let states = slurm.wait_ended(&array, JOB_LIMIT);
    let state = |task: &str| {
        states
            .iter()
            .find(|(t, _)| t == task)
            .map(|(_, s)| s.clone())
    };
    assert_eq!(state("1").as_deref(), Some("CANCELLED"), "{states:?}");
    let kept = line_count(&part1);
    assert!(kept < 100, "task 1 was killed half-way: {kept} lines");

    // The merge knows the set is not whole, and says how to finish it.
    let out = gather_merge(&work);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("part-1.jsonl"), "{}", stderr(&out));
    assert!(stderr(&out).contains("--resume"), "{}", stderr(&out));
    assert!(
        !work.join("all.jsonl").exists(),
        "nothing written at the output"
    );

    // The guide's resubmission: an array of one, and shard 1 again.
    let rerun = slurm.submit(&work, "sbatch --array=1 fetch.sh", &[]);
    let states = slurm.wait_ended(&rerun, JOB_LIMIT);
    assert_eq!(states[0].1, "COMPLETED", "{states:?}");
    let records = records(&std::fs::read(&part1).unwrap());
    assert!(
        records
            .iter()
            .all(|r| r["index"].as_u64().unwrap() % SHARDS == 1),
        "the rerun fetched shard 1's lines only"
    );
    let out = gather_merge(&work);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        comparable(&std::fs::read(work.join("all.jsonl")).unwrap()),
        single
    );
    // --open-mode=append: the killed run's log is still there.
    let log = std::fs::read_to_string(work.join("logs/fetch-1.log")).unwrap();
    assert!(
        log.contains("CANCELLED"),
        "the first run's end is kept: {log}"
    );
}

#[test]
#[ignore = "needs Slurm (slurm-wlm, munge) and root"]
fn a_task_requeued_while_it_runs_goes_on_from_its_output() {
    let env = Env::new("slurm-requeue");
    let slurm = Slurm::start(&env.dir);
    let (work, single) = recipe(&env, 100, 400);

    let array = slurm.submit(&work, &guide("submit"), &[]);
    let merge = slurm.submit(&work, &guide("merge-after"), &[("ARRAY_JOB", &array)]);
    let part2 = work.join("out/part-2.jsonl");
    wait_lines(&part2, 10, &slurm);
    slurm.run(&work, "scontrol", &["requeue", &format!("{array}_2")]);
    let states = slurm.wait_ended(&array, JOB_LIMIT);
    assert!(
        states.iter().all(|(_, s)| s == "COMPLETED"),
        "the requeued task completes too: {states:?}"
    );
    let merged = slurm.wait_ended(&merge, JOB_LIMIT);
    assert_eq!(merged[0].1, "COMPLETED", "{merged:?}");
    assert_eq!(
        comparable(&std::fs::read(work.join("all.jsonl")).unwrap()),
        single
    );
    let restarts = slurm.run(
        &work,
        "scontrol",
        &["-o", "show", "job", &format!("{array}_2")],
    );
    assert!(
        restarts.contains("Restarts=1"),
        "task 2 ran twice: {restarts}"
    );
}
