//! gather's examples that need heavy dependencies: `fetch_pages` (reqwest,
//! against the loopback page server) and `db_queries` (sqlx, on SQLite or
//! PostgreSQL). They live in this unpublished crate so that
//! `cargo test -p gather` builds only what the library needs.
//!
//! ```sh
//! cargo run -p gather-examples --example fetch_pages
//! cargo run -p gather-examples --example db_queries
//! ```
