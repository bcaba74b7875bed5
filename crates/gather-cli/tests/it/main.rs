//! The `gather` binary's tests, one test binary: the built binary run
//! against servers on 127.0.0.1, one module per concern, sharing
//! `support`. (Apart, each file was a binary of its own linking tokio,
//! rustls and the page server, and cargo ran them one after another.)

#[path = "../support/mod.rs"]
mod support;

mod cli_api;
mod cli_compression;
mod cli_faults;
mod cli_fetch;
mod cli_http2;
mod cli_http2_faults;
mod cli_https;
mod cli_nginx;
mod cli_open_files;
mod cli_politeness;
mod cli_proxy;
mod cli_request_cases;
mod cli_resume;
mod cli_shard;
mod cli_slurm;
mod cli_terminal;
mod cli_usage;
