//! Every Rust snippet in the READMEs compiles and runs as it is, as a
//! program a new user pastes into `src/main.rs` (#15): a README that
//! drifts from the API, or leans on helpers it does not show, fails here.
//!
//! Each ```` ```rust ```` block is written out as a program and built and
//! run by trybuild against this crate and its dev-dependencies. The
//! workspace README is read when it is there (not in the packaged crate).

use std::path::{Path, PathBuf};

/// The ```` ```rust ```` blocks of the markdown file at `path`.
fn rust_blocks(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        match (&mut current, line.trim_end()) {
            (None, "```rust") => current = Some(String::new()),
            (Some(block), "```") => {
                blocks.push(std::mem::take(block));
                current = None;
            }
            (Some(block), line) => {
                block.push_str(line);
                block.push('\n');
            }
            (None, _) => {}
        }
    }
    assert!(
        current.is_none(),
        "{}: a ```rust block is not closed",
        path.display()
    );
    blocks
}

#[test]
fn every_readme_snippet_compiles_and_runs_as_a_program() {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut readmes = vec![crate_dir.join("README.md")];
    let workspace = crate_dir.join("../../README.md");
    if workspace.exists() {
        readmes.push(workspace);
    }
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("readme-snippets");
    std::fs::create_dir_all(&out).unwrap();
    let t = trybuild::TestCases::new();
    let mut count = 0;
    for (n, readme) in readmes.iter().enumerate() {
        for (i, block) in rust_blocks(readme).iter().enumerate() {
            assert!(
                block.contains("fn main"),
                "{} block {i} is not a whole program:\n{block}",
                readme.display()
            );
            let file = out.join(format!("readme{n}_block{i}.rs"));
            std::fs::write(&file, block).unwrap();
            t.pass(&file);
            count += 1;
        }
    }
    // The crate's README has one; the workspace's (absent from the packaged
    // crate) two more.
    let expected = if readmes.len() > 1 { 3 } else { 1 };
    assert!(
        count >= expected,
        "found only {count} snippets in {readmes:?}"
    );
}
