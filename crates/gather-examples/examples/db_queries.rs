//! Many database queries gathered over a connection pool, with sqlx.
//!
//! ```sh
//! cargo run -p gather-examples --example db_queries                                   # SQLite, in memory
//! DATABASE_URL=postgres://user:pass@127.0.0.1/db cargo run -p gather-examples --example db_queries
//! ```
//!
//! The same code runs on both: sqlx's `Any` driver picks the database from
//! the URL. The gather's `limit` matches the pool size, so no query waits
//! for a connection inside the pool's queue.

use std::time::Instant;

use gather::{gather, Outcome};
use sqlx::any::{install_default_drivers, AnyPoolOptions};
use sqlx::Row;

const POOL: u32 = 5;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    install_default_drivers();
    let url = std::env::var("DATABASE_URL").unwrap_or_else(|_| "sqlite::memory:".to_owned());
    let postgres = url.starts_with("postgres");
    // An in-memory SQLite database lives as long as its connection: one
    // connection, kept open, so every query sees the same tables.
    let pool = AnyPoolOptions::new()
        .max_connections(if postgres { POOL } else { 1 })
        .min_connections(1)
        .idle_timeout(None)
        .max_lifetime(None)
        .connect(&url)
        .await?;
    let backend = if postgres { "PostgreSQL" } else { "SQLite" };
    let shown = url.split('@').next_back().unwrap_or(&url);
    println!("database: {backend} ({shown})");

    // Positional parameters are $1 in PostgreSQL and ?1 in SQLite.
    let p = if postgres { "$1" } else { "?1" };
    sqlx::query("DROP TABLE IF EXISTS gather_pages")
        .execute(&pool)
        .await?;
    sqlx::query("CREATE TABLE gather_pages (id INTEGER PRIMARY KEY, title TEXT NOT NULL)")
        .execute(&pool)
        .await?;
    for id in 0..100i32 {
        sqlx::query(&format!(
            "INSERT INTO gather_pages (id, title) VALUES ({p}, 'page ' || CAST({p} AS TEXT))"
        ))
        .bind(id)
        .execute(&pool)
        .await?;
    }

    let lookup = format!("SELECT title FROM gather_pages WHERE id = {p}");
    let query = |id: i32| {
        let (pool, lookup) = (&pool, &lookup);
        async move {
            let row = sqlx::query(lookup).bind(id).fetch_one(pool).await?;
            row.try_get::<String, _>(0)
        }
    };

    let start = Instant::now();
    let titles = gather((0..100).rev().map(query))
        .limit(POOL as usize)
        .await?;
    println!(
        "100 queries gathered over a pool of {} in {} ms; in input order: {:?} ... {:?}",
        pool.size(),
        start.elapsed().as_millis(),
        titles[0],
        titles[99]
    );

    // Query 2 of 3 asks for a row that is not there.
    let outcomes = gather([7, 1000, 9].map(query)).return_exceptions().await?;
    println!("return_exceptions:");
    for (i, outcome) in outcomes.iter().enumerate() {
        match outcome {
            Outcome::Ok(title) => println!("  [{i}] {title}"),
            Outcome::Err(e) => println!("  [{i}] error: {e}"),
            other => println!("  [{i}] {:?}", other.kind()),
        }
    }
    sqlx::query("DROP TABLE gather_pages")
        .execute(&pool)
        .await?;
    pool.close().await;
    Ok(())
}
