//! A run within the files the process may open (`ulimit -n`): its limit is
//! lowered to what they hold, so that no page is lost to "Too many open
//! files" (each request holds a socket, and the pool keeps as many idle).
//! A limit the user gave and the run cannot hold is warned about; the
//! program first raises its soft limit to the hard one.

use std::process::Command;
use std::time::Duration;

use crate::support::*;

/// `gather fetch -q ARGS INPUT` under `sh -c 'ulimit ULIMIT N'`.
fn fetch_under(env: &Env, ulimit: &str, urls: &[String], args: &[&str]) -> std::process::Output {
    let input = env.input("urls.txt", urls);
    let mut cmd = Command::new("sh");
    cmd.args(["-c", &format!("ulimit {ulimit} && exec \"$@\""), "sh"])
        .arg(env!("CARGO_BIN_EXE_gather"))
        .args(["fetch", "-q"])
        .args(args)
        .arg(&input);
    as_in_tests(&mut cmd);
    run_with(cmd, "", Duration::from_secs(60))
}

/// 400 pages of 50 ms each, with no window per host: every one of them
/// would be on the wire at once.
fn pages(env: &Env) -> Vec<String> {
    (0..400)
        .map(|i| env.url(&format!("/page/{i}?delay_ms=50")))
        .collect()
}

fn all_ok(out: &std::process::Output, n: usize) {
    let recs = records(&out.stdout);
    let ok = recs.iter().filter(|r| r["status"] == 200).count();
    assert_eq!(
        (ok, recs.len()),
        (n, n),
        "{}\n{:?}",
        stderr(out),
        recs.iter().find(|r| r["status"] != 200)
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(out));
}

#[test]
fn a_run_beyond_the_open_file_limit_loses_no_page() {
    let env = Env::new("open-files-hard");
    // Soft and hard: the program cannot raise it.
    let out = fetch_under(&env, "-n 100", &pages(&env), &["--per-host", "0"]);
    all_ok(&out, 400);
    // The default lowered is no news to the user: said with --verbose only.
    assert!(!stderr(&out).contains("warning"), "{}", stderr(&out));
    let peak = env.server.peak_connections();
    assert!(peak <= 50, "{peak} connections at once within 100 files");
}

#[test]
fn a_limit_given_beyond_the_open_file_limit_is_lowered_with_a_warning() {
    let env = Env::new("open-files-warned");
    let out = fetch_under(
        &env,
        "-n 100",
        &pages(&env),
        &["--per-host", "0", "--limit", "300"],
    );
    all_ok(&out, 400);
    let err = stderr(&out);
    assert!(
        err.contains("warning: --limit 300 requests at once lowered to")
            && err.contains("ulimit -n"),
        "{err}"
    );
}

#[test]
fn the_soft_limit_is_raised_to_the_hard_one_first() {
    let env = Env::new("open-files-soft");
    // Only the soft limit is low: the program raises it, and the limit
    // given holds.
    let out = fetch_under(
        &env,
        "-S -n 100",
        &pages(&env),
        &["--per-host", "0", "--limit", "300"],
    );
    all_ok(&out, 400);
    assert!(!stderr(&out).contains("warning"), "{}", stderr(&out));
    let peak = env.server.peak_connections();
    assert!(
        peak > 100,
        "{peak} connections at once: the soft limit held it"
    );
}
