//! `gather-pageserver`: the loopback page server as a process, for scripts
//! (the reliability run points `gather fetch` at it).
//!
//! ```sh
//! gather-pageserver [--latency-ms N] [--for SECONDS] [--http2]
//! ```
//!
//! Prints `http://127.0.0.1:PORT` on its first line (and with `--http2`
//! the h2c server's, on the second), then serves until killed, or for
//! `--for` seconds (default 600: it never outlives a forgotten script by
//! long).

use std::time::Duration;

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let latency = Duration::from_millis(arg("--latency-ms", 0));
    let lifetime = Duration::from_secs(arg("--for", 600));
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            std::process::exit(2);
        }
    };
    rt.block_on(async {
        let server = match gather_pageserver::Server::start(latency).await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("error: cannot listen on 127.0.0.1: {e}");
                std::process::exit(2);
            }
        };
        println!("http://{}", server.addr());
        // Kept until the end: dropping it stops it.
        let _h2 = if std::env::args().any(|a| a == "--http2") {
            match gather_pageserver::http2::Http2Server::start(Default::default()).await {
                Ok(h2) => {
                    println!("{}", h2.url(""));
                    Some(h2)
                }
                Err(e) => {
                    eprintln!("error: cannot listen on 127.0.0.1: {e}");
                    std::process::exit(2);
                }
            }
        } else {
            None
        };
        use std::io::Write;
        let _ = std::io::stdout().flush();
        tokio::time::sleep(lifetime).await;
    });
}
