//! The engine's defaults as `--help` shows them: clap wants `&'static
//! str`, made once here from the engine's values
//! ([`FetchConfig::default()`](gather_http::FetchConfig) and its
//! constants), so that the help cannot drift from what a run does.

use std::sync::LazyLock;
use std::time::Duration;

use gather_http::FetchConfig;

pub(crate) static TIMEOUT: LazyLock<String> = LazyLock::new(|| show_duration(FetchConfig::TIMEOUT));
pub(crate) static RETRY_DELAY: LazyLock<String> =
    LazyLock::new(|| show_duration(FetchConfig::RETRY_BASE));
pub(crate) static MAX_BYTES: LazyLock<String> = LazyLock::new(|| show_size(FetchConfig::MAX_BYTES));
/// `--max-bytes` has no one default: the engine's rule
/// ([`FetchConfig::body_limit`]) depends on `--save-dir`.
pub(crate) static MAX_BYTES_HELP: LazyLock<String> = LazyLock::new(|| {
    format!(
        "Largest body accepted, e.g. 10MiB, 500k, 1048576; a larger body is an error for that URL \
         [default: {}; with --save-dir, none]",
        *MAX_BYTES
    )
});
pub(crate) static USER_AGENT: LazyLock<String> =
    LazyLock::new(|| FetchConfig::default().user_agent);

/// A duration as `--help` shows a default: `30s`, `200ms`.
pub(crate) fn show_duration(d: Duration) -> String {
    match d.subsec_millis() {
        0 => format!("{}s", d.as_secs()),
        _ => format!("{}ms", d.as_millis()),
    }
}

/// A size as `--help` shows a default: `10MiB`, `512KiB`, `1000`.
pub(crate) fn show_size(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 20 && b % (1 << 20) == 0 => format!("{}MiB", b >> 20),
        b if b >= 1 << 10 && b % (1 << 10) == 0 => format!("{}KiB", b >> 10),
        b => b.to_string(),
    }
}
