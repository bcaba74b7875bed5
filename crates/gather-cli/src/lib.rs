//! The `gather` command: fetch many URLs concurrently, robustly, results in
//! input order. A thin layer on the `gather` library.
//!
//! Kept apart, as in ripgrep: [`args`] is the command line as typed,
//! [`config`] the validated configuration everything else uses.

pub mod args;
pub mod by_position;
pub mod client;
pub mod config;
pub mod decode;
pub mod demo;
pub mod failure;
pub mod fetch;
mod fnv;
pub mod input;
pub mod merge;
pub mod output;
pub mod report;
pub mod run;
pub mod shard;
