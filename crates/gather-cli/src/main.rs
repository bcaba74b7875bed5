//! The `gather` command: fetch many URLs concurrently, robustly, results in
//! input order. A thin front door on the fetch engine (`gather-http`) and
//! the `gather` library.
//!
//! Kept apart, as in ripgrep: [`args`] is the command line as typed,
//! [`config`] the validated configuration everything else uses; then one
//! module per subcommand ([`run`] for `fetch`, [`merge`], [`demo`]), and
//! the output ([`output`], [`report`]). Everything is `pub(crate)`: this
//! crate is a program, not a library.

mod args;
mod config;
mod defaults;
mod demo;
mod exit;
mod input;
mod merge;
mod output;
mod report;
mod run;
mod shard;

use clap::Parser;

use args::{Cli, Command};
use config::Config;
use exit::Exit;

fn main() {
    let cli = Cli::parse();
    let exit = match cli.command {
        Command::Fetch(args) => match Config::from_args(*args) {
            Ok(config) => {
                if config.fetch.insecure {
                    report::warning(
                        "--insecure: server certificates are not checked; anyone between here \
                         and the servers can read and change what is fetched",
                    );
                }
                // As Go's runtime does for every program: the soft limit
                // of 1,024 exists for select(), which nothing here uses,
                // and a run's limit is lowered to what it holds.
                gather_http::open_files::raise_soft_limit();
                on_runtime(config.threads, run::fetch(config))
            }
            Err(e) => Exit::usage(e),
        },
        // The demo's server and client share one runtime, with a worker
        // per core.
        Command::Demo(args) => on_runtime(None, demo::demo(args)),
        Command::Merge(args) => match merge::merge(&args.inputs, args.output.as_deref()) {
            Ok(_) => Exit::OK,
            Err(e) => Exit::usage(e),
        },
    };
    // The one place that says how the program ended.
    if let Some(message) = &exit.message {
        report::error(message);
    }
    std::process::exit(exit.status);
}

/// Runs `job` to completion on a runtime of `threads` workers (`None`: one
/// per core).
///
/// One thread gets its own runtime flavour, not a one-worker pool: the
/// current-thread scheduler polls every task where it is woken, without
/// the hand-offs between the IO driver and the workers that made the
/// multi-thread one spend ~3.1 CPU-seconds per 100k requests against a
/// local nginx, where one thread spent ~1.8.
fn on_runtime(threads: Option<usize>, job: impl std::future::Future<Output = Exit>) -> Exit {
    let mut builder = match threads {
        Some(1) => tokio::runtime::Builder::new_current_thread(),
        Some(n) => {
            let mut b = tokio::runtime::Builder::new_multi_thread();
            b.worker_threads(n);
            b
        }
        None => tokio::runtime::Builder::new_multi_thread(),
    };
    let runtime = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => return Exit::usage(format!("cannot start the async runtime: {e}")),
    };
    let exit = runtime.block_on(job);
    // Requests still in flight are not waited for.
    runtime.shutdown_background();
    exit
}
