//! The validated configuration the rest of the program uses. Each value is
//! checked once here, with an error that names the flag, so the fetching
//! code never sees a bad value.
//!
//! The defaults are the engine's ([`FetchConfig::default()`] and its
//! constants): a flag not given leaves the engine's value, and `--help`
//! shows the engine's value ([`crate::defaults`]). What the engine refuses names a
//! [`Setting`], which [`flag`] turns into this program's word for it.

use std::path::PathBuf;
use std::time::Duration;

use gather_http::{
    ConfigError, FetchConfig, FetchError, PerHost, Politeness, Proxies, Setting, Versions,
};

use crate::args::FetchArgs;
use crate::input::Rules;
use crate::output::Shape;
use crate::shard::Shard;

mod requests;

/// More threads than this is a typo, not a plan: tokio starts each one.
const MAX_THREADS: usize = 1024;

/// This program's word for an engine setting: its flag.
pub(crate) fn flag(setting: Setting) -> &'static str {
    match setting {
        Setting::Limit => "--limit",
        Setting::Timeout => "--timeout",
        Setting::TotalTimeout => "--total-timeout",
        Setting::MaxBytes => "--max-bytes",
        Setting::MaxRedirects => "--max-redirects",
        Setting::UserAgent => "--user-agent",
        Setting::CaFile => "--cacert",
        Setting::SaveDir => "--save-dir",
        Setting::Proxy => "--proxy",
        Setting::FailOnStatus => "--fail-on-status",
        Setting::ClientCert => "--cert/--key",
        _ => "an option",
    }
}

/// A configuration the engine refused, with the flag it came from.
pub(crate) fn refused(e: ConfigError) -> String {
    format!("{} {}", flag(e.setting()), e.detail())
}

/// A request's error as a summary says it: its message and kind, and the
/// flag that governs it (`... of 500ms (timeout, --timeout)`).
pub(crate) fn said(e: &FetchError) -> String {
    match e.setting {
        Some(setting) => format!("{} ({}, {})", e.message, e.kind, flag(setting)),
        None => e.to_string(),
    }
}

/// A request's error message, with the flag that governs it when one does
/// (`... the request timeout of 500ms (--timeout)`).
pub(crate) fn message(e: &FetchError) -> std::borrow::Cow<'_, str> {
    match e.setting {
        Some(setting) => format!("{} ({})", e.message, flag(setting)).into(),
        None => e.message.as_str().into(),
    }
}

/// The whole `fetch` run.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) input: Option<PathBuf>,
    pub(crate) output: Option<PathBuf>,
    pub(crate) resume: bool,
    /// `--retry-failed`: with `--resume`, fetch again the lines that carry
    /// an error.
    pub(crate) retry_failed: bool,
    /// `--ok-if-complete`: every line written is success.
    pub(crate) ok_if_complete: bool,
    /// `--fail-fast`: the first failure (in input order, among those that
    /// failed) ends the run once every line before it is written.
    pub(crate) fail_fast: bool,
    pub(crate) total_timeout: Option<Duration>,
    pub(crate) reorder_window: usize,
    pub(crate) quiet: bool,
    /// `--limit` was given, or `--verbose`: a limit the open files cannot
    /// hold is warned about (the default lowered is said only then).
    pub(crate) say_limit_lowered: bool,
    /// Runtime worker threads; `None` for one per core.
    pub(crate) threads: Option<usize>,
    /// `--shard`: which share of the input this run fetches.
    pub(crate) shard: Shard,
    /// `--shard` was given: the output gets a manifest (`OUT.shard`).
    pub(crate) shard_given: bool,
    /// How lines become requests (`--base-url`, `--jsonl`, `-X`, `-d`,
    /// `--json`).
    pub(crate) requests: Rules,
    /// What a page's record holds besides its status and timings.
    pub(crate) record: Shape,
    pub(crate) fetch: FetchConfig,
}

impl Config {
    pub(crate) fn from_args(a: FetchArgs) -> Result<Config, String> {
        if a.limit == Some(0) {
            return Err("--limit must be at least 1".to_owned());
        }
        if a.threads > MAX_THREADS {
            return Err(format!("--threads {}: at most {MAX_THREADS}", a.threads));
        }
        let timeout =
            parse_duration(&a.timeout).map_err(|e| format!("--timeout {:?}: {e}", a.timeout))?;
        let total_timeout = a
            .total_timeout
            .as_deref()
            .map(|t| parse_duration(t).map_err(|e| format!("--total-timeout {t:?}: {e}")))
            .transpose()?;
        let retry_base = parse_duration(&a.retry_delay)
            .map_err(|e| format!("--retry-delay {:?}: {e}", a.retry_delay))?;
        let max_bytes = a
            .max_bytes
            .as_deref()
            .map(|s| parse_size(s).map_err(|e| format!("--max-bytes {s:?}: {e}")))
            .transpose()?;
        let headers = requests::headers(&a, |name| std::env::var(name).ok())?;
        let requests = requests::rules(&a, &headers)?;
        let keep_headers = requests::kept(&a)?;
        let cacert = match &a.cacert {
            Some(path) => Some(FetchConfig::ca_file(path).map_err(refused)?),
            None => None,
        };
        let identity = match (&a.cert, &a.key) {
            (Some(cert), Some(key)) => {
                Some(FetchConfig::client_identity(cert, key).map_err(refused)?)
            }
            _ => None,
        };
        let save_dir = match &a.save_dir {
            Some(dir) => Some(FetchConfig::save_dir(dir).map_err(refused)?),
            None => None,
        };
        let shard = match &a.shard {
            Some(flag) => Shard::parse(flag, |name| std::env::var(name).ok())?,
            None => Shard::ALL,
        };
        let politeness = Politeness {
            per_host: per_host(&a.per_host)?,
            overall_interval: a
                .rate
                .as_deref()
                .map(|r| parse_rate(r).map_err(|e| format!("--rate {r:?}: {e}")))
                .transpose()?,
            host_interval: a
                .rate_per_host
                .as_deref()
                .map(|r| parse_rate(r).map_err(|e| format!("--rate-per-host {r:?}: {e}")))
                .transpose()?,
            tokens_per_second: a
                .tokens_per_minute
                .map(|t| match t {
                    0 => Err("--tokens-per-minute must be at least 1".to_owned()),
                    t => Ok(t as f64 / 60.0),
                })
                .transpose()?,
            server_limits: !a.no_server_limits,
        };
        let versions = match (a.http1_1, a.http2_prior_knowledge) {
            (true, _) => Versions::Http1Only,
            (false, true) => Versions::PriorKnowledge,
            (false, false) => Versions::Negotiate,
        };
        let proxies = Proxies::configure(a.proxy.as_deref(), a.noproxy.as_deref(), |name| {
            std::env::var(name).ok()
        })
        .map_err(refused)?;
        let fetch = FetchConfig {
            limit: a.limit.unwrap_or(FetchConfig::LIMIT),
            timeout,
            retries: a.retries,
            retry_base,
            max_bytes,
            max_redirects: a.max_redirects,
            headers,
            user_agent: a.user_agent,
            cacert,
            insecure: a.insecure,
            identity,
            fail_on_status: a.fail_on_status,
            cookies: a.cookies,
            body: a.body,
            save_dir,
            decode: !a.raw,
            proxies,
            versions,
            politeness,
            // The kept fields, and the Content-Type that says whether a
            // body is embedded as JSON.
            headers_kept: a.body || !keep_headers.is_empty(),
            window_log: a.verbose.then(crate::report::window_log),
        };
        Ok(Config {
            input: a.file,
            output: a.output,
            resume: a.resume,
            retry_failed: a.retry_failed,
            ok_if_complete: a.ok_if_complete,
            fail_fast: a.fail_fast,
            total_timeout,
            reorder_window: a.reorder_window.unwrap_or(fetch.window()).max(1),
            quiet: a.quiet,
            say_limit_lowered: a.limit.is_some() || a.verbose,
            threads: (a.threads > 0).then_some(a.threads),
            shard,
            shard_given: a.shard.is_some(),
            requests,
            record: Shape {
                keep_headers: keep_headers.clone(),
            },
            fetch,
        })
    }
}

/// `--per-host`: `auto`, `0` (no limit but `--limit`) or a number.
fn per_host(text: &str) -> Result<PerHost, String> {
    match text.trim() {
        "auto" => Ok(PerHost::Auto),
        "0" => Ok(PerHost::Unlimited),
        n => n.parse().map(PerHost::Fixed).map_err(|_| {
            format!(
                "--per-host {text:?}: expected auto (the default: a window that adapts), \
                 0 (no limit but --limit) or a number of requests"
            )
        }),
    }
}

/// `10s`, `500ms`, `2m`, `1.5` (seconds).
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let (number, unit) = split_unit(t);
    let n: f64 = number
        .parse()
        .map_err(|_| "expected a duration such as 10s, 500ms or 2m".to_owned())?;
    let secs = match unit {
        "" | "s" => n,
        "ms" => n / 1000.0,
        "m" | "min" => n * 60.0,
        "h" => n * 3600.0,
        u => return Err(format!("unknown unit {u:?} (use ms, s, m or h)")),
    };
    if !secs.is_finite() || secs <= 0.0 || secs > 1e9 {
        return Err("must be a positive duration".to_owned());
    }
    Ok(Duration::from_secs_f64(secs))
}

/// `10MiB`, `500k`, `2MB`, `1048576` (bytes).
pub(crate) fn parse_size(text: &str) -> Result<u64, String> {
    let (number, unit) = split_unit(text.trim());
    let n: f64 = number
        .parse()
        .map_err(|_| "expected a size such as 10MiB, 500k or 1048576".to_owned())?;
    let factor: f64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" => 1e3,
        "kib" => 1024.0,
        "m" | "mb" => 1e6,
        "mib" => 1024.0 * 1024.0,
        "g" | "gb" => 1e9,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        u => return Err(format!("unknown unit {u:?} (use k, KiB, M, MiB, G, GiB)")),
    };
    let bytes = n * factor;
    if !bytes.is_finite() || bytes < 1.0 || bytes > u64::MAX as f64 {
        return Err("must be at least 1 byte".to_owned());
    }
    Ok(bytes as u64)
}

/// `10`, `10/s`, `600/m`, `0.5/s`, `100/h` (requests per unit): the least
/// time between two requests.
pub(crate) fn parse_rate(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let (number, per) = t.split_once('/').unwrap_or((t, "s"));
    let n: f64 = number
        .trim()
        .parse()
        .map_err(|_| "expected a rate such as 10, 10/s, 600/m or 0.5/s".to_owned())?;
    let unit = match per.trim() {
        "s" | "sec" => 1.0,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        u => return Err(format!("unknown unit {u:?} (use /s, /m or /h)")),
    };
    let interval = unit / n;
    if !n.is_finite() || n <= 0.0 || !interval.is_finite() || interval > 1e9 {
        return Err("must be a positive rate".to_owned());
    }
    Ok(Duration::from_secs_f64(interval))
}

fn split_unit(t: &str) -> (&str, &str) {
    let at = t.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(t.len());
    (&t[..at], &t[at..])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::defaults::{self, show_duration, show_size};

    #[test]
    fn durations_with_and_without_units() {
        assert_eq!(parse_duration("10s").unwrap(), Duration::from_secs(10));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("1.5").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert!(parse_duration("-1s").is_err());
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("5 fortnights").is_err());
    }

    #[test]
    fn rates_per_second_minute_and_hour() {
        assert_eq!(parse_rate("10").unwrap(), Duration::from_millis(100));
        assert_eq!(parse_rate("10/s").unwrap(), Duration::from_millis(100));
        assert_eq!(parse_rate("600/m").unwrap(), Duration::from_millis(100));
        assert_eq!(parse_rate("0.5/s").unwrap(), Duration::from_secs(2));
        assert_eq!(parse_rate("3600/h").unwrap(), Duration::from_secs(1));
        for bad in ["0", "-1/s", "fast", "10/d", "inf", "1e-12/s"] {
            assert!(parse_rate(bad).is_err(), "{bad}");
        }
    }

    /// What `--help` shows as a default reads back as the engine's value.
    #[test]
    fn defaults_shown_are_the_engines() {
        assert_eq!(*defaults::TIMEOUT, "30s");
        assert_eq!(*defaults::MAX_BYTES, "10MiB");
        assert_eq!(
            parse_duration(&defaults::TIMEOUT).unwrap(),
            FetchConfig::TIMEOUT
        );
        assert_eq!(
            parse_duration(&defaults::RETRY_DELAY).unwrap(),
            FetchConfig::RETRY_BASE
        );
        assert_eq!(
            parse_size(&defaults::MAX_BYTES).unwrap(),
            FetchConfig::MAX_BYTES
        );
        assert_eq!(show_size(1000), "1000");
        assert_eq!(show_duration(Duration::from_millis(1500)), "1500ms");
    }

    #[test]
    fn sizes_with_and_without_units() {
        assert_eq!(parse_size("10MiB").unwrap(), 10 * 1024 * 1024);
        assert_eq!(parse_size("500k").unwrap(), 500_000);
        assert_eq!(parse_size("1048576").unwrap(), 1_048_576);
        assert!(parse_size("0").is_err());
        assert!(parse_size("lots").is_err());
    }
}
