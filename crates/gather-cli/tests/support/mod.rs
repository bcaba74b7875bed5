//! Runs the built `gather` binary against an in-process server on
//! 127.0.0.1. Every wait is bounded; the server stops when dropped.
#![allow(dead_code)]

use std::io::Write;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub mod proxy;
pub mod tls;

use gather_pageserver::Server;
use serde_json::Value;

pub struct Env {
    pub server: Server,
    /// A port of 127.0.0.1 bound and never listened on, for as long as the
    /// test runs: connections to it are refused, and no other program can
    /// take it meanwhile.
    refused: tokio::net::TcpSocket,
    // Declared after the server so that the server is dropped first.
    pub rt: tokio::runtime::Runtime,
    pub dir: PathBuf,
}

impl Env {
    pub fn new(name: &str) -> Env {
        Env::with_server(name, None)
    }

    /// An environment whose server's `/v1/` is a rate-limited API.
    pub fn with_api(name: &str, limits: gather_pageserver::api::ApiLimits) -> Env {
        Env::with_server(name, Some(limits))
    }

    fn with_server(name: &str, api: Option<gather_pageserver::api::ApiLimits>) -> Env {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let server = rt
            .block_on(async {
                match api {
                    Some(limits) => Server::start_api(limits).await,
                    None => Server::start(Duration::from_millis(5)).await,
                }
            })
            .unwrap();
        let dir =
            std::env::temp_dir().join(format!("gather-cli-test-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let refused = tokio::net::TcpSocket::new_v4().unwrap();
        refused.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        Env {
            server,
            refused,
            rt,
            dir,
        }
    }

    /// A URL whose connections are refused (see [`Env::refused`]).
    pub fn refused_url(&self) -> String {
        format!("http://{}/", self.refused.local_addr().unwrap())
    }

    pub fn url(&self, path: &str) -> String {
        self.server.url(path)
    }

    /// Writes `lines` to an input file and returns its path.
    pub fn input(&self, name: &str, lines: &[String]) -> PathBuf {
        let path = self.dir.join(name);
        std::fs::write(&path, lines.join("\n") + "\n").unwrap();
        path
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub fn gather_cmd() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_gather"));
    as_in_tests(&mut c);
    c
}

/// What every run of the binary in these tests gets, however it is
/// started (directly, or through `sh`): no colour, and no proxy from the
/// machine running them.
pub fn as_in_tests(c: &mut Command) {
    c.env("NO_COLOR", "1");
    // The tests' servers are on 127.0.0.1: a proxy set on the machine
    // running them must not come between (proxy tests set their own).
    for var in [
        "http_proxy",
        "https_proxy",
        "HTTPS_PROXY",
        "all_proxy",
        "ALL_PROXY",
        "no_proxy",
        "NO_PROXY",
    ] {
        c.env_remove(var);
    }
}

/// Runs to the end (killed after `limit`), feeding `stdin`.
pub fn run_with(mut cmd: Command, stdin: &str, limit: Duration) -> Output {
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("the gather binary starts");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    wait_bounded(child, limit)
}

pub fn run(args: &[&str]) -> Output {
    let mut cmd = gather_cmd();
    cmd.args(args);
    run_with(cmd, "", Duration::from_secs(60))
}

/// Sends `child` SIGINT, as Ctrl-C in its terminal would.
pub fn interrupt(child: &Child) {
    let sent = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success(), "kill -INT {}", child.id());
}

/// Waits for `child` (killed after `limit`), reading its output as it
/// comes: a child that writes more than a pipe holds (64 KiB) would
/// otherwise block on its write while we wait for it to exit.
pub fn wait_bounded(mut child: Child, limit: Duration) -> Output {
    fn drain<R: std::io::Read + Send + 'static>(
        pipe: Option<R>,
    ) -> std::thread::JoinHandle<Vec<u8>> {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut buf);
            }
            buf
        })
    }
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "gather ran longer than {limit:?}; stderr:\n{}",
                String::from_utf8_lossy(&stderr.join().unwrap())
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    }
}

/// Fails, naming the tool, when the tool at `path` is not installed. The
/// tests that call it are `#[ignore = "needs ..."]`: the README's test
/// command lists them as ignored rather than passing them unchecked, and
/// `.ci/run`, which installs every tool, runs them with `--ignored`.
pub fn require(path: &str) {
    assert!(
        std::path::Path::new(path).exists(),
        "{path} is not installed, and this test needs it (`.ci/run` installs it)"
    );
}

/// Runs `gather fetch -q --total-timeout DEADLINE -o OUTPUT INPUT` under
/// GNU time, for a test of memory at a deadline: checks that it ended at
/// the deadline (status 124) with one line per input line (`n`), each as
/// `line_ok(index, line)` wants; removes both files; returns its peak
/// memory in KiB.
pub fn peak_kb_at_a_deadline(
    input: &std::path::Path,
    output: &std::path::Path,
    deadline: &str,
    n: usize,
    line_ok: impl Fn(usize, &str) -> bool,
) -> u64 {
    let args = ["fetch", "-q", "--total-timeout", deadline, "-o"].map(std::ffi::OsStr::new);
    let (out, peak) = run_peak_kb(&[&args[..], &[output.as_os_str(), input.as_os_str()]].concat());
    assert_eq!(out.status.code(), Some(124), "{}", stderr(&out));
    let text = std::fs::read_to_string(output).unwrap();
    let mut lines = 0;
    for (i, line) in text.lines().enumerate() {
        assert!(line_ok(i, line), "line {i}: {line}");
        lines += 1;
    }
    assert_eq!(lines, n);
    std::fs::remove_file(input).unwrap();
    std::fs::remove_file(output).unwrap();
    peak
}

/// Peak memory that does not grow with the input: `large` (KiB, for ten
/// times the input) within 1.3x of `small`.
pub fn assert_flat_peak(small: u64, large: u64, what: &str) {
    eprintln!("peak memory: {small} KiB, and {large} KiB for ten times the {what}");
    assert!(
        large * 10 <= small * 13,
        "peak memory {large} KiB for ten times the {what}, against {small} KiB"
    );
}

/// Runs `gather` with `args` under GNU time: its output, and its peak
/// memory in KiB. (Measured by GNU time, not from here: a child forked from
/// the test would keep the test's own size as its high-water mark.)
pub fn run_peak_kb(args: &[&std::ffi::OsStr]) -> (Output, u64) {
    let mut cmd = Command::new("/usr/bin/time");
    cmd.args(["-f", "%M", env!("CARGO_BIN_EXE_gather")])
        .args(args);
    let out = run_with(cmd, "", Duration::from_secs(120));
    let peak = String::from_utf8_lossy(&out.stderr)
        .trim()
        .lines()
        .last()
        .and_then(|l| l.trim().parse().ok())
        .expect("GNU time's %M");
    (out, peak)
}

/// The JSON records in `text`, one per line.
pub fn records(text: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(text)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line: {l:?}: {e}")))
        .collect()
}

/// The records of `text` without what changes from run to run: the
/// timings, and error messages (they may name an ephemeral port). For
/// comparing two runs' outputs.
pub fn comparable(text: &[u8]) -> Vec<Value> {
    records(text)
        .into_iter()
        .map(|mut r| {
            let o = r.as_object_mut().unwrap();
            o.remove("elapsed_ms");
            if let Some(e) = o.get_mut("error").and_then(Value::as_object_mut) {
                e.remove("message");
            }
            r
        })
        .collect()
}

pub fn indexes(records: &[Value]) -> Vec<u64> {
    records
        .iter()
        .map(|r| r["index"].as_u64().unwrap())
        .collect()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}
