//! What every request of a run shares: limits, timeouts, retries, headers,
//! trust, proxies, protocol versions and politeness. Built and validated
//! by the front door (the CLI checks each flag once, naming it); the engine
//! takes it as it is.

use std::path::PathBuf;
use std::time::Duration;

use http::header::HeaderMap;

use crate::client::origin::Politeness;
use crate::client::proxy::Proxies;
use crate::client::Versions;

/// What each request needs.
#[derive(Debug, Clone)]
pub struct FetchConfig {
    pub limit: usize,
    pub timeout: Duration,
    pub retries: u32,
    pub retry_base: Duration,
    pub max_bytes: u64,
    pub max_redirects: usize,
    pub headers: HeaderMap,
    pub user_agent: String,
    /// Extra trusted roots, PEM (`--cacert`).
    pub cacert: Option<Vec<u8>>,
    pub fail_on_status: bool,
    pub body: bool,
    pub save_dir: Option<PathBuf>,
    /// Ask for compressed bodies and decode them (not `--raw`).
    pub decode: bool,
    /// `--proxy`, `--noproxy` and the environment, by curl's rules.
    pub proxies: Proxies,
    /// `--http1.1`, `--http2-prior-knowledge`, or negotiated.
    pub versions: Versions,
    /// `--per-host`, `--rate`, `--rate-per-host`.
    pub politeness: Politeness,
    /// Keep each answer's header fields in [`Page::headers`](crate::Page).
    pub headers_kept: bool,
}
