use clap::Parser;

use gather_cli::args::{Cli, Command};
use gather_cli::config::Config;
use gather_cli::{demo, report, run};

fn main() {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            report::error(&format!("cannot start the async runtime: {e}"));
            std::process::exit(run::exit::USAGE);
        }
    };
    let code = runtime.block_on(async {
        match cli.command {
            Command::Fetch(args) => match Config::from_args(*args) {
                Ok(config) => run::fetch(config).await,
                Err(e) => {
                    report::error(&e);
                    run::exit::USAGE
                }
            },
            Command::Demo(args) => demo::demo(args).await,
        }
    });
    // Requests still in flight are not waited for.
    runtime.shutdown_background();
    std::process::exit(code);
}
