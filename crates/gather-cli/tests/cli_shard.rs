//! `--shard K/N` and `gather merge` (#17): N shard processes against the
//! local server, merged, equal a single run (ignoring timings); the merge
//! refuses overlapping, missing, torn or foreign inputs with a clear error
//! and leaves no half-written output.

mod support;

use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;
use support::*;

/// The input: pages, failures of several kinds, and lines that are not URLs.
fn mixed_input(env: &Env) -> PathBuf {
    let mut lines = Vec::new();
    for i in 0..40 {
        lines.push(match i % 7 {
            3 => env.url("/status/404"),
            5 => "not a url".to_owned(),
            6 => refused_url(),
            _ => env.url(&format!("/page/{i}")),
        });
        if i % 10 == 0 {
            lines.push("# a comment, not a job".to_owned());
        }
    }
    env.input("urls.txt", &lines)
}

/// The records of `text`, without what changes from run to run.
fn comparable(text: &[u8]) -> Vec<Value> {
    records(text)
        .into_iter()
        .map(|mut r| {
            let o = r.as_object_mut().unwrap();
            o.remove("elapsed_ms");
            if let Some(e) = o.get_mut("error").and_then(Value::as_object_mut) {
                e.remove("message"); // names an ephemeral port
            }
            r
        })
        .collect()
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
    let write = |name: &str, indices: &[u64]| {
        let text: String = indices
            .iter()
            .map(|i| format!("{{\"index\":{i},\"url\":\"u{i}\"}}\n"))
            .collect();
        let p = env.path(name);
        std::fs::write(&p, text).unwrap();
        p.display().to_string()
    };
    let a = write("a.jsonl", &[0, 2, 4]);
    let b = write("b.jsonl", &[1, 3, 5]);
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

    // Overlapping shards, a missing shard, a file out of order.
    let unordered = write("unordered.jsonl", &[0, 2, 1]);
    for (inputs, want) in [
        (vec![a.as_str(), a.as_str()], "index 0 is in both"),
        (vec![a.as_str()], "index 1 is in none of the inputs"),
        (vec![unordered.as_str()], "not in index order"),
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

    // A shard interrupted mid-line: torn, and says how to finish it.
    let torn = env.path("torn2.jsonl");
    std::fs::write(&torn, "{\"index\":1,\"url\":\"u1\"}\n{\"index\":3,\"ur").unwrap();
    let out = merge(&[&a, torn.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("cut short") && stderr(&out).contains("--resume"),
        "{}",
        stderr(&out)
    );
    assert!(!out_path.exists());

    // Not a gather output at all.
    let foreign = env.path("foreign.txt");
    std::fs::write(&foreign, "hello\n").unwrap();
    let out = merge(&[foreign.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
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
        stderr(&out).contains("not shard 1 of 2"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        indexes(&records(&std::fs::read(&part).unwrap())),
        [0, 2, 4, 6]
    );
}
