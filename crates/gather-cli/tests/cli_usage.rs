//! Usage errors, help text, and `gather demo`.

mod support;

use support::*;

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

#[test]
fn bad_flag_values_exit_2_naming_the_flag() {
    for (args, needle) in [
        (vec!["fetch", "--timeout", "soon"], "--timeout \"soon\""),
        (vec!["fetch", "--max-bytes", "lots"], "--max-bytes \"lots\""),
        (vec!["fetch", "--limit", "0"], "--limit must be at least 1"),
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
        "--return-exceptions",
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
}

#[test]
fn demo_serves_pages_locally_and_shows_the_speed_up() {
    let out = run(&["demo", "--pages", "10", "--latency-ms", "20"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("one after the other"), "{text}");
    assert!(text.contains("with gather"), "{text}");
    assert!(text.contains("x faster"), "{text}");
    assert!(text.contains("[0] 200"), "{text}");
}
