//! `--shard K/N` and `gather merge` (#17): N shard processes against the
//! local server, merged, equal a single run (ignoring timings); the merge
//! refuses overlapping, missing, torn or foreign inputs with a clear error
//! and leaves no half-written output.

use std::path::PathBuf;
use std::time::Duration;

use crate::support::*;

/// The input: pages, failures of several kinds, and lines that are not URLs.
fn mixed_input(env: &Env) -> PathBuf {
    let mut lines = Vec::new();
    for i in 0..40 {
        lines.push(match i % 7 {
            3 => env.url("/status/404"),
            5 => "not a url".to_owned(),
            6 => env.refused_url(),
            _ => env.url(&format!("/page/{i}")),
        });
        if i % 10 == 0 {
            lines.push("# a comment, not a job".to_owned());
        }
    }
    env.input("urls.txt", &lines)
}

#[test]
fn shards_merged_equal_a_single_run() {
    let env = Env::new("shards");
    let input = mixed_input(&env);
    let single = env.path("single.jsonl");
    let out = run(&[
        "fetch",
        "-q",
        input.to_str().unwrap(),
        "-o",
        single.to_str().unwrap(),
    ]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "some lines fail: {}",
        stderr(&out)
    );

    // Three shard processes at once, as three machines would run them.
    let parts: Vec<PathBuf> = (0..3)
        .map(|k| env.path(&format!("part{k}.jsonl")))
        .collect();
    let children: Vec<_> = parts
        .iter()
        .enumerate()
        .map(|(k, part)| {
            let mut cmd = gather_cmd();
            cmd.args(["fetch", "-q", "--shard", &format!("{k}/3")])
                .arg(&input)
                .arg("-o")
                .arg(part);
            cmd.stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped());
            cmd.spawn().unwrap()
        })
        .collect();
    for (k, child) in children.into_iter().enumerate() {
        let out = wait_bounded(child, Duration::from_secs(60));
        assert_eq!(out.status.code(), Some(1), "shard {k}: {}", stderr(&out));
        // Indices stay global: shard k holds only indices k mod 3.
        for r in records(&std::fs::read(&parts[k]).unwrap()) {
            assert_eq!(r["index"].as_u64().unwrap() % 3, k as u64, "{r}");
        }
    }
    let merged = env.path("merged.jsonl");
    let mut args = vec!["merge".to_owned()];
    args.extend(parts.iter().rev().map(|p| p.display().to_string())); // any order
    args.extend(["-o".to_owned(), merged.display().to_string()]);
    let out = run(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        comparable(&std::fs::read(&merged).unwrap()),
        comparable(&std::fs::read(&single).unwrap()),
        "the merge of the shards is the single run"
    );
}

#[test]
fn the_shard_number_comes_from_the_job_engine() {
    let env = Env::new("shard-env");
    let input = env.input(
        "urls.txt",
        &(0..6)
            .map(|i| env.url(&format!("/page/{i}")))
            .collect::<Vec<_>>(),
    );
    for (var, value, want) in [
        ("JOB_COMPLETION_INDEX", "1", [1, 4]),
        ("SLURM_ARRAY_TASK_ID", "2", [2, 5]),
    ] {
        let mut cmd = gather_cmd();
        cmd.args(["fetch", "-q", "--shard", "3"])
            .arg(&input)
            .env(var, value);
        let out = run_with(cmd, "", Duration::from_secs(60));
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert_eq!(indexes(&records(&out.stdout)), want, "{var}");
    }
    // Neither set: a usage error that says what to give.
    let out = run(&["fetch", "-q", "--shard", "3", input.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("JOB_COMPLETION_INDEX"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn merge_refuses_overlapping_missing_torn_and_foreign_inputs() {
    let env = Env::new("merge-bad");
    // A shard's output as gather fetch --shard writes it: its lines, and
    // its manifest (K/N of a list of `lines` URLs).
    let manifest = |path: &std::path::Path, shard: &str, lines: u64, fingerprint: &str| {
        let text = format!(
            "{{\"gather\":\"shard\",\"version\":1,\"shard\":\"{shard}\",\"lines\":{lines},\"fingerprint\":\"fnv1a64:{fingerprint}\"}}\n"
        );
        std::fs::write(format!("{}.shard", path.display()), text).unwrap();
    };
    let write = |name: &str, shard: &str, indices: &[u64]| {
        let text: String = indices
            .iter()
            .map(|i| format!("{{\"index\":{i},\"url\":\"u{i}\"}}\n"))
            .collect();
        let p = env.path(name);
        std::fs::write(&p, text).unwrap();
        manifest(&p, shard, 6, "00000000000000aa");
        p.display().to_string()
    };
    let a = write("a.jsonl", "0/2", &[0, 2, 4]);
    let b = write("b.jsonl", "1/2", &[1, 3, 5]);
    let out_path = env.path("all.jsonl");
    let out_arg = out_path.display().to_string();
    let merge = |inputs: &[&str]| {
        let mut args = vec!["merge"];
        args.extend(inputs);
        args.extend(["-o", &out_arg]);
        run(&args)
    };
    let ok = merge(&[&a, &b]);
    assert_eq!(ok.status.code(), Some(0), "{}", stderr(&ok));
    assert_eq!(
        indexes(&records(&std::fs::read(&out_path).unwrap())),
        [0, 1, 2, 3, 4, 5]
    );
    std::fs::remove_file(&out_path).unwrap();

    let overlapping = write("overlapping.jsonl", "1/2", &[1, 2, 5]);
    let unordered = write("unordered.jsonl", "1/2", &[1, 5, 3]);
    // The shards that held the last indices stopped early: 5 lines of 6
    // merged cleanly before, and the merge said nothing.
    let short = write("short.jsonl", "1/2", &[1, 3]);
    let other_list = env.path("other.jsonl");
    std::fs::write(&other_list, "{\"index\":1,\"url\":\"u1\"}\n").unwrap();
    manifest(&other_list, "1/2", 7, "00000000000000bb");
    let other_list = other_list.display().to_string();
    for (inputs, want) in [
        (vec![a.as_str(), a.as_str()], "are both shard 0/2"),
        (vec![a.as_str(), overlapping.as_str()], "index 2 is in both"),
        (vec![a.as_str()], "shard 1 of 2 is missing"),
        (vec![a.as_str(), unordered.as_str()], "not in index order"),
        (vec![a.as_str(), short.as_str()], "index 5 is missing"),
        (
            vec![a.as_str(), other_list.as_str()],
            "not shards of one list",
        ),
    ] {
        let out = merge(&inputs);
        assert_eq!(out.status.code(), Some(2), "{inputs:?}");
        assert!(stderr(&out).contains(want), "{inputs:?}: {}", stderr(&out));
        assert!(
            !out_path.exists(),
            "a failed merge left {}",
            out_path.display()
        );
    }
    // The missing tail names the shard's file and how to finish it.
    let out = merge(&[&a, &short]);
    assert!(
        stderr(&out).contains("short.jsonl (shard 1/2") && stderr(&out).contains("--resume"),
        "{}",
        stderr(&out)
    );

    // A shard interrupted mid-line: torn, and says how to finish it.
    let torn = env.path("torn2.jsonl");
    std::fs::write(&torn, "{\"index\":1,\"url\":\"u1\"}\n{\"index\":3,\"ur").unwrap();
    manifest(&torn, "1/2", 6, "00000000000000aa");
    let out = merge(&[&a, torn.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("cut short") && stderr(&out).contains("--resume"),
        "{}",
        stderr(&out)
    );
    assert!(!out_path.exists());

    // Not a gather output at all: no manifest, or lines that are not records.
    let foreign = env.path("foreign.txt");
    std::fs::write(&foreign, "hello\n").unwrap();
    let out = merge(&[foreign.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("has no manifest"), "{}", stderr(&out));
    manifest(&foreign, "0/1", 1, "00000000000000aa");
    let out = merge(&[foreign.to_str().unwrap()]);
    assert!(
        stderr(&out).contains("not a gather record"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_shard_resumes_its_own_output_and_refuses_another_shards() {
    let env = Env::new("shard-resume");
    let input = env.input(
        "urls.txt",
        &(0..8)
            .map(|i| env.url(&format!("/page/{i}")))
            .collect::<Vec<_>>(),
    );
    let part = env.path("part0.jsonl");
    let (input_arg, part_arg) = (input.to_str().unwrap(), part.to_str().unwrap());
    let out = run(&["fetch", "-q", "--shard", "0/2", input_arg, "-o", part_arg]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // Cut the shard's output back to its first line, as if interrupted.
    let text = std::fs::read_to_string(&part).unwrap();
    std::fs::write(&part, text.lines().next().unwrap().to_owned() + "\n").unwrap();
    let out = run(&[
        "fetch", "-q", "--shard", "0/2", "--resume", input_arg, "-o", part_arg,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        indexes(&records(&std::fs::read(&part).unwrap())),
        [0, 2, 4, 6]
    );
    // The same output resumed as another shard: refused, nothing fetched.
    let out = run(&[
        "fetch", "-q", "--shard", "1/2", "--resume", input_arg, "-o", part_arg,
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("is shard 0/2's output, and this run is shard 1/2"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        indexes(&records(&std::fs::read(&part).unwrap())),
        [0, 2, 4, 6]
    );
}

/// Runs `gather fetch -q ARGS` with `vars` set (and the job engine's
/// unset); its exit status and stderr.
fn fetch_with(args: &[&str], vars: &[(&str, &str)]) -> (Option<i32>, String) {
    let mut cmd = gather_cmd();
    cmd.arg("fetch").arg("-q").args(args);
    for var in [
        "JOB_COMPLETION_INDEX",
        "SLURM_ARRAY_TASK_ID",
        "SLURM_ARRAY_TASK_MIN",
        "SLURM_ARRAY_TASK_COUNT",
    ] {
        cmd.env_remove(var);
    }
    for (k, v) in vars {
        cmd.env(k, v);
    }
    let out = run_with(cmd, "", Duration::from_secs(60));
    (out.status.code(), stderr(&out))
}

/// #28: a Slurm task killed midway and rerun the natural way (`sbatch
/// --array=1`: an array of one, whose MIN and COUNT are 1) is the same
/// shard, and finishes its own file; the former reading (shard 0 of 1)
/// fetched the whole list into it and reported success.
#[test]
fn a_rerun_of_one_array_index_is_the_same_shard_and_finishes_its_file() {
    let env = Env::new("shard-rerun");
    let urls: Vec<String> = (0..40).map(|i| env.url(&format!("/page/{i}"))).collect();
    let input = env.input("urls.txt", &urls);
    let part = env.path("part-1.jsonl");
    let (input_arg, part_arg) = (input.to_str().unwrap(), part.to_str().unwrap());
    let args = ["--shard", "4", input_arg, "-o", part_arg, "--resume"];
    let first = [
        ("SLURM_ARRAY_TASK_ID", "1"),
        ("SLURM_ARRAY_TASK_MIN", "0"),
        ("SLURM_ARRAY_TASK_COUNT", "4"),
    ];
    let (code, err) = fetch_with(&args, &first);
    assert_eq!(code, Some(0), "{err}");
    // Killed after three lines, the last one torn.
    let text = std::fs::read_to_string(&part).unwrap();
    let kept: String = text.lines().take(3).map(|l| format!("{l}\n")).collect();
    std::fs::write(&part, kept + "{\"index\":13,\"ur").unwrap();
    let rerun = [
        ("SLURM_ARRAY_TASK_ID", "1"),
        ("SLURM_ARRAY_TASK_MIN", "1"),
        ("SLURM_ARRAY_TASK_COUNT", "1"),
    ];
    let (code, err) = fetch_with(&args, &rerun);
    assert_eq!(code, Some(0), "{err}");
    let want: Vec<u64> = (0..40).filter(|i| i % 4 == 1).collect();
    assert_eq!(indexes(&records(&std::fs::read(&part).unwrap())), want);
    // The same output resumed as another shard, or as the whole list: refused.
    for (flag, want) in [
        ("1", "this run is shard 0/1"),
        ("2/4", "this run is shard 2/4"),
    ] {
        let (code, err) = fetch_with(
            &["--shard", flag, input_arg, "-o", part_arg, "--resume"],
            &rerun,
        );
        assert_eq!(code, Some(2), "--shard {flag}");
        assert!(
            err.contains("is shard 1/4's output") && err.contains(want),
            "{err}"
        );
    }
    let (code, err) = fetch_with(&[input_arg, "-o", part_arg, "--resume"], &[]);
    assert_eq!(code, Some(2));
    assert!(err.contains("is shard 1/4's output"), "{err}");
    // `--shard auto` is refused, saying why.
    let (code, err) = fetch_with(&["--shard", "auto", input_arg], &rerun);
    assert_eq!(code, Some(2));
    assert!(err.contains("--shard auto is gone"), "{err}");
}

#[test]
fn resume_refuses_a_shard_of_another_list() {
    let env = Env::new("shard-other-list");
    let urls: Vec<String> = (0..10).map(|i| env.url(&format!("/page/{i}"))).collect();
    let input = env.input("urls.txt", &urls);
    let other = env.input("other.txt", &urls[..9]);
    let part = env.path("part-0.jsonl");
    let part_arg = part.to_str().unwrap();
    let (code, err) = fetch_with(
        &["--shard", "0/2", input.to_str().unwrap(), "-o", part_arg],
        &[],
    );
    assert_eq!(code, Some(0), "{err}");
    let (code, err) = fetch_with(
        &[
            "--shard",
            "0/2",
            other.to_str().unwrap(),
            "-o",
            part_arg,
            "--resume",
        ],
        &[],
    );
    assert_eq!(code, Some(2));
    assert!(err.contains("fetched from another list"), "{err}");
}

/// Exit statuses a job engine can use: 1 while any line is an error (lines
/// kept by --resume included), 0 with --ok-if-complete once every line is
/// written; --retry-failed fetches the error lines again and leaves the
/// file in index order, one line per index.
#[test]
fn failed_lines_count_until_retried_and_ok_if_complete_says_done() {
    let env = Env::new("shard-retry");
    let mut urls: Vec<String> = (0..12).map(|i| env.url(&format!("/page/{i}"))).collect();
    // 500 the first time, 200 after: a failure with --fail-on-status.
    urls[2] = env.url("/flaky/two?fail=1");
    urls[6] = env.url("/flaky/six?fail=1");
    let input = env.input("urls.txt", &urls);
    let part = env.path("part-0.jsonl");
    let (input_arg, part_arg) = (input.to_str().unwrap(), part.to_str().unwrap());
    let base = [
        "--shard",
        "0/2",
        "--fail-on-status",
        input_arg,
        "-o",
        part_arg,
    ];
    let (code, err) = fetch_with(&[&base[..], &["--ok-if-complete"]].concat(), &[]);
    assert_eq!(code, Some(0), "every line written: {err}");
    assert!(err.contains("2 of 6 requests failed"), "{err}");
    // Resumed without retrying: nothing left to fetch, but the output
    // still holds two errors.
    let (code, err) = fetch_with(&[&base[..], &["--resume"]].concat(), &[]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("2 kept from the earlier run"), "{err}");
    let (code, err) = fetch_with(&[&base[..], &["--resume", "--retry-failed"]].concat(), &[]);
    assert_eq!(code, Some(0), "{err}");
    let recs = records(&std::fs::read(&part).unwrap());
    assert_eq!(
        indexes(&recs),
        [0, 2, 4, 6, 8, 10],
        "in order, one line each"
    );
    assert!(
        recs.iter()
            .all(|r| r["status"] == 200 && r["error"].is_null()),
        "{recs:?}"
    );
    // And the shards still merge.
    let (code, err) = fetch_with(
        &[
            "--shard",
            "1/2",
            input_arg,
            "-o",
            env.path("part-1.jsonl").to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(code, Some(0), "{err}");
    let out = run(&[
        "merge",
        part_arg,
        env.path("part-1.jsonl").to_str().unwrap(),
        "-o",
        env.path("all.jsonl").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        indexes(&records(&std::fs::read(env.path("all.jsonl")).unwrap())).len(),
        12
    );
}
