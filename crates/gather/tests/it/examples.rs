//! Every example runs, with small inputs, and prints what it promises.
//!
//! `cargo test` builds the examples before the tests; this runs the built
//! binaries from `target/<profile>/examples`. The examples with heavy
//! dependencies (`fetch_pages`, `db_queries`) are tested in
//! `crates/gather-examples`.

use crate::support::run_example::{example, run};

#[test]
fn read_files_reads_in_order_and_reports_the_missing_file_both_ways() {
    let (text, _) = run(example("read_files"));
    assert!(text.contains("read 20 files concurrently"), "{text}");
    assert!(text.contains("note-00.txt -> 1 lines"), "{text}");
    assert!(
        text.contains("fail-fast: child 1 failed") && text.contains("missing.txt"),
        "{text}"
    );
    assert!(text.contains("missing.txt -> error:"), "{text}");
}

#[test]
fn cpu_bound_compares_the_event_loop_with_threads_and_the_pool() {
    let mut cmd = example("cpu_bound");
    cmd.args(["4", "5"]);
    let (text, _) = run(cmd);
    for line in [
        "on the event loop",
        "to_thread",
        "CPU pool",
        "neighbour's worst wait",
        "speed-up of the CPU pool",
    ] {
        assert!(text.contains(line), "{line}: {text}");
    }
}

#[test]
fn wait_first_accounts_for_every_child_across_rounds() {
    let (text, _) = run(example("wait_first"));
    assert!(text.contains("child 1 done (50 ms)"), "{text}");
    assert!(
        text.contains("child 2 failed: server slow at 400 ms"),
        "{text}"
    );
    assert!(text.contains("all 5 children accounted for"), "{text}");
}

#[test]
fn cancel_shows_which_children_finished_and_which_were_cancelled() {
    let (text, _) = run(example("cancel"));
    assert!(
        text.contains("returned true") && text.contains("returned false"),
        "{text}"
    );
    assert!(text.contains("gather was cancelled"), "{text}");
    assert!(
        text.contains("[Some(0), Some(1), None, None, None]"),
        "{text}"
    );
    assert!(
        text.contains("child 0 finished") && text.contains("child 4 cancelled"),
        "{text}"
    );
}

#[test]
fn task_group_spawns_dynamically_cancels_on_failure_and_reports_every_error() {
    let (text, _) = run(example("task_group"));
    assert!(
        text.contains("15 pages fetched by children spawned from children"),
        "{text}"
    );
    assert!(
        text.contains("group failed: task group failed with 1 error: child 1 failed"),
        "{text}"
    );
    assert!(!text.contains("never printed"), "{text}");
    assert!(
        text.contains("every error, not just the first (2)"),
        "{text}"
    );
}

#[test]
fn first_steps_runs_the_seed_programs_as_a_python_user_writes_them() {
    let (text, _) = run(example("first_steps"));
    for line in [
        "[\"<html>https://example.com/page1</html>\", \"<html>https://example.com/page2</html>\", \"<html>https://example.com/page3</html>\"]",
        "fail-fast: child 1 failed: https://example.com/404: 404 Not Found",
        "https://example.com/page1 -> <html>https://example.com/page1</html>",
        "https://example.com/404 -> error: https://example.com/404: 404 Not Found",
        "1 of 3 failed",
        "doubled: [2, 4, 6]",
        "fib(25) = 75025",
        "done: 0 -> <html>https://example.com/page1</html>",
        "cancelled: [1, 2]",
        "cancel() returned true",
        "the gather was cancelled",
    ] {
        assert!(text.contains(line), "missing {line:?} in:\n{text}");
    }
}
