//! What the user sees on stderr: a progress bar (only on a terminal, not
//! with `--quiet`), error lines, and the summary at the end. The latency
//! histogram (`latency.rs`) and token accounting (`usage.rs`) are files of
//! their own.

mod latency;
mod usage;

pub(crate) use usage::Usage;

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

// tokio's clock, the one every wait and timeout in the run is measured
// on: a single clock, so that elapsed times agree with timeouts (and read
// the paused time in tests).
use tokio::time::Instant;

use gather_http::{Counts, WindowStatus};

use latency::Latencies;

/// Counts, latencies and the progress bar.
pub(crate) struct Report {
    start: Instant,
    total: usize,
    /// The run's counts (the engine keeps them): an HTTP error status (400
    /// or more) is neither ok nor a failure to fetch, unless
    /// `--fail-on-status`.
    pub(crate) counts: Counts,
    latencies: Latencies,
    /// Tokens the answers reported (`--body` with JSON answers).
    pub(crate) usage: Usage,
    bar: bool,
    /// Whether the bar is on screen now (drawn, not cleared since): shared
    /// with [`ClearsBar`], which clears it before standard output writes.
    shown: Arc<AtomicBool>,
    last_draw: Option<Instant>,
    quiet: bool,
    /// The origins' windows (`--per-host auto`), busiest first.
    windows: Option<Windows>,
}

/// Where the report reads the origins' windows from.
pub(crate) type Windows = Box<dyn Fn() -> Vec<(String, WindowStatus)> + Send>;

/// Standard output on the terminal the bar is drawn on: every write first
/// clears the bar if it is showing, so that a record starts its own line
/// instead of landing after the bar (which has no newline). The bar comes
/// back on its next redraw.
///
/// Standard output buffers a line until its newline, so a record that
/// reaches here in pieces is shown whole, after the clear.
pub(crate) struct ClearsBar<W> {
    inner: W,
    shown: Arc<AtomicBool>,
}

impl<W: Write> Write for ClearsBar<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        // Relaxed: the bar and the records are written by the run's one
        // task, so this flag is only ever read where it was written.
        if self.shown.swap(false, Ordering::Relaxed) {
            let _ = write!(std::io::stderr().lock(), "\r\x1b[2K");
        }
        self.inner.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// How often the bar is redrawn at most.
const REDRAW: Duration = Duration::from_millis(100);

impl Report {
    /// `total`: URLs this run will fetch.
    pub(crate) fn new(total: usize, quiet: bool) -> Report {
        Report {
            start: Instant::now(),
            total,
            counts: Counts::default(),
            latencies: Latencies::new(),
            usage: Usage::default(),
            bar: !quiet && std::io::stderr().is_terminal(),
            shown: Arc::new(AtomicBool::new(false)),
            last_draw: None,
            quiet,
            windows: None,
        }
    }

    /// The bar and the summary show the busiest origins' windows, read
    /// from `windows`.
    pub(crate) fn show_windows(&mut self, windows: Windows) {
        self.windows = Some(windows);
    }

    /// The busiest origins' windows, as the bar and summary say them: at
    /// most `most`, with how many more there are.
    fn windows_said(&self, most: usize) -> Option<String> {
        let windows = self.windows.as_ref()?();
        if windows.is_empty() {
            return None;
        }
        let mut said: Vec<String> = windows
            .iter()
            .take(most)
            .map(|(origin, w)| match (w.latency, w.least) {
                (Some(latency), Some(least)) => format!(
                    "{origin} {} (latency {}, least {})",
                    w.window,
                    millis(latency),
                    millis(least)
                ),
                _ => format!("{origin} {}", w.window),
            })
            .collect();
        if windows.len() > most {
            said.push(format!("{} more", windows.len() - most));
        }
        Some(said.join("; "))
    }

    /// `out`, standard output, made safe to write beside the bar: wrapped
    /// in [`ClearsBar`] when both are on a terminal and the bar is drawn.
    pub(crate) fn stdout_beside_bar(&self, out: std::io::Stdout) -> Box<dyn Write + Send> {
        if self.bar && out.is_terminal() {
            Box::new(ClearsBar {
                inner: out,
                shown: self.shown.clone(),
            })
        } else {
            Box::new(out)
        }
    }

    /// A result handed back, which took `elapsed`; `counts` are the run's
    /// with it.
    pub(crate) fn record(&mut self, counts: Counts, elapsed: Duration) {
        self.counts = counts;
        self.latencies.record(elapsed);
        self.draw(false);
    }

    fn done(&self) -> usize {
        self.counts.done()
    }

    fn draw(&mut self, force: bool) {
        if !self.bar {
            return;
        }
        let now = Instant::now();
        if !force && self.last_draw.is_some_and(|t| now - t < REDRAW) {
            return;
        }
        self.last_draw = Some(now);
        let done = self.done();
        let elapsed = self.start.elapsed().as_secs_f64();
        let rate = if elapsed > 0.0 {
            done as f64 / elapsed
        } else {
            0.0
        };
        let frac = if self.total == 0 {
            1.0
        } else {
            done as f64 / self.total as f64
        };
        let width = 24;
        let filled = (frac * width as f64).round() as usize;
        let eta = if rate > 0.0 {
            format!("{:.0}s", (self.total - done.min(self.total)) as f64 / rate)
        } else {
            "?".to_owned()
        };
        // Short, so that the bar fits a terminal's line: the busiest
        // origin's window and latency (the summary names the origins).
        let window = self
            .windows
            .as_ref()
            .and_then(|windows| windows().into_iter().next())
            .map(|(_, w)| match w.latency {
                Some(latency) => format!(" window {} {}", w.window, millis(latency)),
                None => format!(" window {}", w.window),
            })
            .unwrap_or_default();
        let mut err = std::io::stderr().lock();
        let _ = write!(
            err,
            "\r\x1b[2K[{}{}] {done}/{} {:>3.0}% {rate:.0} req/s ETA {eta} ok {} http_error {} failed {}{window}",
            "#".repeat(filled),
            ".".repeat(width - filled),
            self.total,
            frac * 100.0,
            self.counts.ok,
            self.counts.http_errors,
            self.counts.failed,
        );
        let _ = err.flush();
        self.shown.store(true, Ordering::Relaxed);
    }

    /// Clears the bar so that a message can be printed.
    pub(crate) fn clear(&self) {
        if self.bar {
            let _ = write!(std::io::stderr().lock(), "\r\x1b[2K");
            self.shown.store(false, Ordering::Relaxed);
        }
    }

    /// The closing line: counts, rate and latency percentiles.
    pub(crate) fn summary(&mut self) -> String {
        let elapsed = self.start.elapsed().as_secs_f64();
        let pct = |p: f64| self.latencies.quantile_ms(p);
        format!(
            "{} of {} requests in {elapsed:.2} s: {} ok, {} http_error, {} failed, {} retried; {:.0} req/s; latency p50 {:.1} ms, p99 {:.1} ms",
            self.done(),
            self.total,
            self.counts.ok,
            self.counts.http_errors,
            self.counts.failed,
            self.counts.retried,
            if elapsed > 0.0 { self.done() as f64 / elapsed } else { 0.0 },
            pct(0.50),
            pct(0.99),
        )
    }

    /// The tokens the answers reported, and their rate over the run, when
    /// any did: what a run against a metered API cost.
    pub(crate) fn tokens(&self) -> Option<String> {
        let u = &self.usage;
        if u.answers == 0 {
            return None;
        }
        let minutes = self.start.elapsed().as_secs_f64() / 60.0;
        let per_minute = if minutes > 0.0 {
            format!("{:.0}", u.total as f64 / minutes)
        } else {
            "?".to_owned()
        };
        Some(format!(
            "tokens: {} in, {} out, {} total over {} answers ({per_minute} per minute)",
            u.input, u.output, u.total, u.answers
        ))
    }

    /// Prints the summary to stderr unless `--quiet`.
    pub(crate) fn finish(&mut self) {
        self.clear();
        if !self.quiet {
            eprintln!("gather: {}", self.summary());
            if let Some(tokens) = self.tokens() {
                eprintln!("gather: {tokens}");
            }
            if let Some(windows) = self.windows_said(3) {
                eprintln!("gather: windows per origin: {windows}");
            }
        }
    }
}

/// Prints `error: message` to stderr; the prefix is red on a terminal
/// unless NO_COLOR is set.
pub(crate) fn error(message: &str) {
    say("error", "31", message);
}

/// Prints `warning: message` to stderr, whatever `-q` says; the prefix is
/// yellow on a terminal unless NO_COLOR is set.
pub(crate) fn warning(message: &str) {
    say("warning", "33", message);
}

fn say(what: &str, color_code: &str, message: &str) {
    let color = std::io::stderr().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    if color {
        eprintln!("\x1b[1;{color_code}m{what}:\x1b[0m {message}");
    } else {
        eprintln!("{what}: {message}");
    }
}

/// `--verbose`: each move of an origin's window, on its own line of
/// stderr (over the progress bar, which is drawn again after it).
pub(crate) fn window_log() -> gather_http::WindowLog {
    gather_http::WindowLog(Arc::new(|origin: &str, m: &gather_http::WindowMove| {
        let clear = match std::io::stderr().is_terminal() {
            true => "\r\x1b[2K",
            false => "",
        };
        eprintln!(
            "{clear}gather: {origin}: window {} -> {} ({}; latency {}, least {})",
            m.from,
            m.to,
            m.why.as_str(),
            millis(m.latency),
            millis(m.least)
        );
    }))
}

/// A latency as the summary says it: `21 ms`, `2.5 ms`, `0.04 ms`.
pub(crate) fn millis(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1e3;
    if ms < 1.0 {
        format!("{ms:.2} ms")
    } else if ms < 10.0 {
        format!("{ms:.1} ms")
    } else {
        format!("{ms:.0} ms")
    }
}

/// Prints `note: message` to stderr.
pub(crate) fn note(message: &str) {
    eprintln!("note: {message}");
}
