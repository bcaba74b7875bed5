//! `gather fetch` on a real terminal and in a pipe that closes early.
//!
//! The terminal is a pty made by util-linux's `script` (Debian's bsdutils,
//! on every Debian machine), with stdout and stderr both on it, as when a
//! user runs `gather fetch urls.txt` with no `-o`.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use support::{gather_cmd, wait_bounded, Env};

/// What a terminal shows on each line of `transcript`: `\r` returns to the
/// start of the line and `ESC [2K` clears it, so only the text after the
/// last of them is visible.
fn visible_lines(transcript: &str) -> Vec<String> {
    transcript
        .split('\n')
        .map(|line| {
            // The pty writes each newline as `\r\n`.
            let line = line.strip_suffix('\r').unwrap_or(line);
            let after_cr = line.rsplit('\r').next().unwrap_or("");
            after_cr.replace("\x1b[2K", "")
        })
        .collect()
}

#[test]
fn on_a_terminal_the_progress_bar_never_shares_a_line_with_a_record() {
    let Ok(script) = which("script") else {
        assert!(
            std::env::var_os("GATHER_TEST_REQUIRE_TOOLS").is_none(),
            "GATHER_TEST_REQUIRE_TOOLS is set but util-linux's script is missing"
        );
        eprintln!("skipped: no `script` (util-linux) to make a pty");
        return;
    };
    let env = Env::new("terminal");
    // Slow enough that the bar is drawn between records.
    let urls: Vec<String> = (0..12)
        .map(|i| env.url(&format!("/page/{i}?delay_ms=60")))
        .collect();
    let input = env.input("urls.txt", &urls);
    let command = format!(
        "{} fetch --limit 2 {}",
        env!("CARGO_BIN_EXE_gather"),
        input.display()
    );
    let mut cmd = Command::new(script);
    // -q: no banner; -e: gather's exit code; -c: the command; the typescript
    // file is thrown away, the transcript comes on stdout.
    cmd.args(["-qec", &command, "/dev/null"]);
    cmd.env("TERM", "xterm").env("NO_COLOR", "1");
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let out = wait_bounded(cmd.spawn().unwrap(), Duration::from_secs(60));
    let transcript = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "exit {:?}: {transcript}", out.status);
    assert!(
        transcript.contains("req/s ETA"),
        "the bar was never drawn: {transcript:?}"
    );
    let lines = visible_lines(&transcript);
    let records = lines.iter().filter(|l| l.contains("{\"index\":")).count();
    assert_eq!(records, 12, "{transcript:?}");
    for line in &lines {
        assert!(
            !(line.contains("req/s ETA") && line.contains("{\"index\":")),
            "the bar and a record share a line: {line:?}"
        );
        if line.contains("{\"index\":") {
            assert!(
                line.starts_with("{\"index\":"),
                "a record does not start its line: {line:?}"
            );
        }
    }
}

#[test]
fn a_pipe_closed_early_ends_the_run_quietly() {
    // `gather fetch urls.txt | head -2`
    let env = Env::new("closed-pipe");
    let urls: Vec<String> = (0..200)
        .map(|i| env.url(&format!("/page/{i}?delay_ms=5")))
        .collect();
    let input = env.input("urls.txt", &urls);
    let mut cmd = gather_cmd();
    cmd.args(["fetch", "--limit", "4", &input.display().to_string()]);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut head = BufReader::new(child.stdout.take().unwrap());
    for _ in 0..2 {
        let mut line = String::new();
        head.read_line(&mut line).unwrap();
        assert!(line.starts_with("{\"index\":"), "{line:?}");
    }
    drop(head); // what `head -2` does after its two lines
    let out = wait_bounded(child, Duration::from_secs(60));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "stderr: {stderr}");
    assert!(
        !stderr.contains("Broken pipe") && !stderr.contains("error"),
        "not quiet: {stderr}"
    );
}

fn which(program: &str) -> Result<std::path::PathBuf, ()> {
    std::env::var_os("PATH")
        .and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join(program))
                .find(|p| p.is_file())
        })
        .ok_or(())
}
