//! Many files read concurrently with tokio::fs, results in input order; a
//! missing file shows the two error modes.
//!
//! ```sh
//! cargo run --example read_files            # writes 20 files to a temporary folder first
//! cargo run --example read_files -- FILE..  # your own files
//! ```

use std::path::PathBuf;

use gather::{gather, Outcome};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut files: Vec<PathBuf> = std::env::args().skip(1).map(PathBuf::from).collect();
    let dir = std::env::temp_dir().join(format!("gather-read-files-{}", std::process::id()));
    if files.is_empty() {
        tokio::fs::create_dir_all(&dir).await?;
        for i in 0..20 {
            let path = dir.join(format!("note-{i:02}.txt"));
            tokio::fs::write(&path, format!("note {i}\n").repeat(i + 1)).await?;
            files.push(path);
        }
    }

    let contents = gather(files.iter().map(tokio::fs::read_to_string))
        .limit(8)
        .await?;
    let total: usize = contents.iter().map(String::len).sum();
    println!(
        "read {} files concurrently ({total} bytes), in input order:",
        contents.len()
    );
    for (path, text) in files.iter().zip(&contents).take(3) {
        println!("  {} -> {} lines", path.display(), text.lines().count());
    }

    // A missing file among them.
    let mut with_missing = files.iter().take(3).cloned().collect::<Vec<_>>();
    with_missing.insert(1, dir.join("missing.txt"));
    match gather(with_missing.iter().map(tokio::fs::read_to_string)).await {
        Ok(_) => println!("fail-fast: no error?"),
        Err(e) => println!(
            "fail-fast: {e} (file {})",
            with_missing[e.index().unwrap_or(0)].display()
        ),
    }
    let outcomes = gather(with_missing.iter().map(tokio::fs::read_to_string))
        .return_exceptions()
        .await?;
    println!("return_exceptions:");
    for (path, outcome) in with_missing.iter().zip(&outcomes) {
        match outcome {
            Outcome::Ok(text) => println!("  {} -> {} bytes", path.display(), text.len()),
            Outcome::Err(e) => println!("  {} -> error: {e}", path.display()),
            other => println!("  {} -> {:?}", path.display(), other.kind()),
        }
    }
    let _ = tokio::fs::remove_dir_all(&dir).await;
    Ok(())
}
