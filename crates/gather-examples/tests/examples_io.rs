//! The heavy examples run, with small inputs, and print what they promise.
//!
//! `cargo test` builds the examples before the tests; this runs the built
//! binaries from `target/<profile>/examples`. With
//! `GATHER_TEST_DATABASE_URL=postgres://...` set (as `.ci/run` does after
//! starting PostgreSQL on 127.0.0.1), `db_queries` also runs against it;
//! without it that half says it skipped, and fails instead when
//! `GATHER_TEST_REQUIRE_TOOLS` is set (as in CI).

#[path = "../../gather/tests/support/run_example.rs"]
mod run_example;

use run_example::{example, run};

#[test]
fn fetch_pages_fetches_in_input_order_and_shows_both_error_modes() {
    let (text, _) = run(example("fetch_pages"));
    assert!(text.contains("fetched 10 pages"), "{text}");
    let titles: Vec<&str> = text
        .lines()
        .filter_map(|l| l.split("title \"").nth(1))
        .collect();
    assert_eq!(titles.first(), Some(&"page 1\""));
    assert_eq!(titles.last(), Some(&"page 10\""));
    assert!(
        text.contains("fail-fast: child 1 failed: HTTP status client error (404"),
        "{text}"
    );
    assert!(
        text.contains("[0] ok: \"page 1\"")
            && text.contains("[1] error:")
            && text.contains("[2] ok: \"page 3\""),
        "{text}"
    );
}

#[test]
fn db_queries_runs_on_sqlite_and_on_postgres_when_given() {
    let mut cmd = example("db_queries");
    cmd.env_remove("DATABASE_URL");
    let (text, _) = run(cmd);
    assert!(text.contains("database: SQLite"), "{text}");
    assert!(
        text.contains("100 queries gathered") && text.contains("\"page 99\" ... \"page 0\""),
        "{text}"
    );
    assert!(text.contains("[1] error: no rows"), "{text}");

    let Ok(url) = std::env::var("GATHER_TEST_DATABASE_URL") else {
        assert!(
            std::env::var_os("GATHER_TEST_REQUIRE_TOOLS").is_none(),
            "GATHER_TEST_REQUIRE_TOOLS is set but GATHER_TEST_DATABASE_URL is not"
        );
        eprintln!("db_queries on PostgreSQL: skipped (set GATHER_TEST_DATABASE_URL to run it)");
        return;
    };
    let mut cmd = example("db_queries");
    cmd.env("DATABASE_URL", url);
    let (text, _) = run(cmd);
    assert!(text.contains("database: PostgreSQL"), "{text}");
    assert!(text.contains("\"page 99\" ... \"page 0\""), "{text}");
    assert!(text.contains("[1] error: no rows"), "{text}");
}
