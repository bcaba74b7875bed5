//! The compiler's message when a first program gets a child's type wrong
//! names the fix (`gather::infallible`, or `Ok::<_, Infallible>`), from the
//! `#[diagnostic::on_unimplemented]` on `IntoOutcome` and `IntoPending`.
//! Each fixture in `tests/compile_fail/` must fail to compile with exactly
//! the message in its `.stderr` beside it; regenerate them with
//! `TRYBUILD=overwrite cargo test -p gather --test compile_fail` after a
//! deliberate change, and read the diff.
//!
//! The messages are rustc's and change between compiler versions, so this
//! is ignored by default and run by `.ci/run` (with `--ignored`) on the
//! toolchain the snapshots were taken with; on another it fails, saying so.

#[test]
#[ignore = "needs rustc 1.95 (the .stderr snapshots are its messages)"]
fn a_wrong_child_type_gets_a_message_that_names_the_fix() {
    assert!(
        rustc_is("1.95."),
        "the .stderr snapshots are rustc 1.95's messages: run with that toolchain"
    );
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/compile_fail/*.rs");
}

fn rustc_is(prefix: &str) -> bool {
    let out = std::process::Command::new(std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into()))
        .arg("--version")
        .output();
    out.map(|o| String::from_utf8_lossy(&o.stdout).starts_with(&format!("rustc {prefix}")))
        .unwrap_or(false)
}
