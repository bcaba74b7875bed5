//! Usage errors, help text, and `gather demo`.

use crate::support::*;

#[test]
fn an_unreadable_input_file_exits_2_naming_the_file() {
    let out = run(&["fetch", "/nonexistent/urls.txt"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("cannot read input /nonexistent/urls.txt"),
        "{err}"
    );
}

/// A read that fails (a directory opens, and its first read fails) is an
/// error naming the input, not an empty list fetched "successfully".
#[test]
fn an_input_that_fails_to_read_exits_2_naming_it_and_why() {
    let dir = std::env::temp_dir();
    let out = run(&["fetch", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains(&format!("cannot read input {}: ", dir.display())),
        "{err}"
    );
    assert!(out.stdout.is_empty(), "nothing fetched");
}

#[test]
fn bad_flag_values_exit_2_naming_the_flag() {
    for (args, needle) in [
        (vec!["fetch", "--timeout", "soon"], "--timeout \"soon\""),
        (vec!["fetch", "--max-bytes", "lots"], "--max-bytes \"lots\""),
        (vec!["fetch", "--limit", "0"], "--limit must be at least 1"),
        (
            vec!["fetch", "--threads", "100000"],
            "--threads 100000: at most 1024",
        ),
        (vec!["fetch", "--threads", "two"], "--threads"),
        (vec!["fetch", "--resume"], "--output"),
    ] {
        let out = run(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(stderr(&out).contains(needle), "{args:?}: {}", stderr(&out));
    }
}

#[test]
fn help_documents_every_flag_the_exit_codes_and_examples() {
    let out = run(&["fetch", "--help"]);
    assert_eq!(out.status.code(), Some(0));
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--output",
        "--limit",
        "--reorder-window",
        "--threads",
        "--cacert",
        "--fail-fast",
        "--raw",
        "--proxy",
        "--noproxy",
        "--shard",
        "--fail-on-status",
        "--timeout",
        "--total-timeout",
        "--retries",
        "--retry-delay",
        "--max-bytes",
        "--max-redirects",
        "--header",
        "--user-agent",
        "--body",
        "--save-dir",
        "--resume",
        "--quiet",
    ] {
        assert!(help.contains(flag), "--help names {flag}");
    }
    assert!(help.contains("Exit status"));
    assert!(help.contains("130"));
    assert!(help.contains("Examples"));
    // Every kind an error line can carry is explained.
    for kind in [
        "invalid_url",
        "unsupported_scheme",
        "connect",
        "tls",
        "timeout",
        "protocol",
        "body",
        "body_too_large",
        "redirect",
        "status",
        "save",
        "total_timeout",
    ] {
        assert!(
            help.contains(&format!("  {kind}")) || help.contains(&format!(", {kind}")),
            "--help explains {kind}"
        );
    }
}

#[test]
fn demo_serves_pages_locally_and_shows_the_speed_up() {
    let out = run(&[
        "demo",
        "--pages",
        "10",
        "--latency-ms",
        "20",
        "--api-requests",
        "100",
        "--api-rate",
        "50",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("one after the other"), "{text}");
    assert!(text.contains("with gather"), "{text}");
    assert!(text.contains("x faster"), "{text}");
    assert!(text.contains("[0] 200"), "{text}");
    // The API section: paced, every request answered with no 429.
    let paced = text
        .lines()
        .find(|l| l.contains("paced by the server's fields"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(paced.contains("100 of 100 answered"), "{paced}");
    assert!(paced.trim_end().ends_with(" 0 refused (429)"), "{paced}");
    assert!(text.contains("a flood (--no-server-limits)"), "{text}");
}

#[test]
fn a_progress_bar_with_rate_and_eta_is_drawn_when_stderr_is_a_terminal() {
    // `script` (util-linux) runs the command on a pseudo-terminal.
    let env = crate::support::Env::new("progress");
    let urls: Vec<String> = (0..40)
        .map(|i| env.url(&format!("/page/{i}?delay_ms=20")))
        .collect();
    let input = env.input("urls.txt", &urls);
    let out_file = env.path("out.jsonl");
    let command = format!(
        "{} fetch --limit 4 {} -o {}",
        env!("CARGO_BIN_EXE_gather"),
        input.display(),
        out_file.display()
    );
    let mut cmd = std::process::Command::new("script");
    cmd.args(["-qfec", &command, "/dev/null"]);
    let out = crate::support::run_with(cmd, "", std::time::Duration::from_secs(60));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let screen = String::from_utf8_lossy(&out.stdout);
    assert!(
        screen.contains("req/s ETA"),
        "no progress bar on the terminal: {screen:?}"
    );
    assert!(
        screen.contains("40 of 40 requests"),
        "the summary follows the bar: {screen:?}"
    );

    // --quiet draws nothing, even on a terminal.
    let mut cmd = std::process::Command::new("script");
    cmd.args(["-qfec", &format!("{command} --quiet"), "/dev/null"]);
    let out = crate::support::run_with(cmd, "", std::time::Duration::from_secs(60));
    let screen = String::from_utf8_lossy(&out.stdout);
    assert!(!screen.contains("req/s"), "{screen:?}");
}

#[test]
fn the_usage_line_does_not_read_as_if_resume_took_a_file() {
    let out = run(&["fetch", "--resume"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("Usage: gather fetch --output <OUT> --resume [URLS]"),
        "{err}"
    );
}
