//! `gather fetch` on a real terminal and in a pipe that closes early.
//!
//! The terminal is a pty made by util-linux's `script` (Debian's bsdutils,
//! on every Debian machine), with stdout and stderr both on it, as when a
//! user runs `gather fetch urls.txt` with no `-o`.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::support::{gather_cmd, wait_bounded, Env};

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
    let mut cmd = Command::new("script");
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

#[test]
fn reading_urls_from_a_terminal_says_so_instead_of_waiting_without_a_word() {
    // `gather fetch` with no file, typed at a terminal: stdin is the pty.
    let mut cmd = Command::new("script");
    cmd.args([
        "-qec",
        concat!(env!("CARGO_BIN_EXE_gather"), " fetch"),
        "/dev/null",
    ]);
    // script's own stdin ends at once, so the terminal sends end-of-file.
    let out = crate::support::run_with(cmd, "", Duration::from_secs(60));
    let screen = String::from_utf8_lossy(&out.stdout);
    assert!(
        screen.contains("note: reading URLs from the terminal, one per line; end with Ctrl-D"),
        "{screen:?}"
    );
    assert!(
        screen.contains("note: no requests in stdin: nothing to fetch"),
        "{screen:?}"
    );
}

#[test]
fn an_input_with_no_url_says_there_is_nothing_to_fetch() {
    let env = Env::new("empty-input");
    let input = env.input("urls.txt", &["# only a comment".to_owned(), String::new()]);
    let out = crate::support::run(&["fetch", &input.display().to_string()]);
    assert_eq!(out.status.code(), Some(0));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "note: no requests in {}: nothing to fetch",
            input.display()
        )),
        "{err}"
    );
    assert!(out.stdout.is_empty());
}
