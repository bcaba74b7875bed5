//! What every request of a run shares, with **every default of a run in one
//! place**, and the checks a front door runs on what a user gave.
//!
//! The front doors (the command line, the Python package) translate their
//! users' words into a [`FetchConfig`], starting from
//! [`FetchConfig::default()`]: a value the user did not give is the
//! engine's, so `gather fetch` and `gather_fetch.fetch()` cannot drift
//! apart. The files a configuration names are checked here too
//! ([`FetchConfig::ca_file`], [`FetchConfig::save_dir`]), each failure a
//! [`ConfigError`] naming its [`Setting`], which each door says in its own
//! words (`--cacert` on the command line, `ca_file` in Python).

use std::path::{Path, PathBuf};
use std::time::Duration;

use http::header::HeaderMap;

use crate::client::origin::{PerHost, Politeness, WindowLog};
use crate::client::proxy::Proxies;
use crate::client::Versions;
use crate::error::{ConfigError, Setting};

/// What each request needs.
///
/// # Examples
///
/// Every field not given is the engine's default:
///
/// ```
/// use std::time::Duration;
/// use gather_http::FetchConfig;
///
/// let config = FetchConfig {
///     timeout: Duration::from_secs(5),
///     retries: 3,
///     ..FetchConfig::default()
/// };
/// assert_eq!(config.limit, FetchConfig::LIMIT);
/// ```
#[derive(Debug, Clone)]
pub struct FetchConfig {
    /// Requests on the wire at once, over all origins: taken with an
    /// origin's turn, so a request waiting for a slow origin holds none.
    /// An adaptive window grows to [`PER_HOST_MOST`](Self::PER_HOST_MOST)
    /// or this, the lower.
    pub limit: usize,
    /// A request's time for its complete answer (time queued for a turn is
    /// not counted).
    pub timeout: Duration,
    /// Retries after a connection failure, a 429 or a 5xx.
    pub retries: u32,
    /// The first retry's wait, doubled each time (with jitter).
    pub retry_base: Duration,
    /// A body over this many bytes (decoded) is an error; `None`: the
    /// default, [`FetchConfig::MAX_BYTES`] for a body kept in memory and
    /// no limit for one written to [`save_dir`](FetchConfig::save_dir)
    /// (see [`body_limit`](FetchConfig::body_limit)).
    pub max_bytes: Option<u64>,
    pub max_redirects: usize,
    /// Sent with every request.
    pub headers: HeaderMap,
    pub user_agent: String,
    /// Certificates trusted besides the system's store, PEM
    /// ([`FetchConfig::ca_file`] reads them). A self-signed server
    /// certificate given here is accepted as the server's own, as curl
    /// does (see the `tls` module).
    pub cacert: Option<Vec<u8>>,
    /// Accept any server certificate, as curl's `--insecure`: for a test
    /// server only (front doors warn when it is on).
    pub insecure: bool,
    /// A client certificate and its key, for a server that asks for one
    /// ([`FetchConfig::client_identity`] reads them).
    pub identity: Option<ClientIdentity>,
    /// An HTTP status of 400 or more is a [`Kind::Status`](crate::Kind) error.
    pub fail_on_status: bool,
    /// Keep the cookies servers set and send them back, per host, for the
    /// rest of the run (and a client's later runs): off by default (see
    /// the `fetch::cookies` module).
    pub cookies: bool,
    /// Keep each body in [`Page::body`](crate::Page).
    pub body: bool,
    /// Write each body to a file here instead ([`FetchConfig::save_dir`]).
    pub save_dir: Option<PathBuf>,
    /// Ask for compressed bodies and decode them.
    pub decode: bool,
    /// Proxies, by curl's rules ([`Proxies::configure`]).
    pub proxies: Proxies,
    /// HTTP/1.1 only, HTTP/2 by prior knowledge, or negotiated.
    pub versions: Versions,
    /// Per-origin limits and rates.
    pub politeness: Politeness,
    /// Keep each answer's header fields in [`Page::headers`](crate::Page).
    pub headers_kept: bool,
    /// Told when an origin's window moves, and why (`--verbose`).
    pub window_log: Option<WindowLog>,
}

impl FetchConfig {
    /// Requests in flight at once, over all origins. Twice what one
    /// origin's adaptive window grows to ([`PER_HOST_MOST`](Self::PER_HOST_MOST)),
    /// so that a far site does not take the whole run's share from the
    /// others beside it: ten sites of different speeds at once each
    /// finished within 1.12x of their time alone with 512, and the
    /// quickest took 1.35x with 256 (`docs/benchmarks.md`). More than
    /// aiohttp's pool (100) and curl's `--parallel` (50), since the
    /// window, not this, is what holds a small site to what it can take.
    /// Lowered to what the files the process may open hold
    /// ([`Fetcher::limit_lowered`](crate::Fetcher::limit_lowered)).
    pub const LIMIT: usize = 512;
    /// A request's time for its complete answer.
    pub const TIMEOUT: Duration = Duration::from_secs(30);
    /// The first retry's wait.
    pub const RETRY_BASE: Duration = Duration::from_millis(200);
    /// The largest body kept in memory when no limit is given: 10 MiB.
    /// (A body saved to a folder has none unless one is given: it streams
    /// to its file, so its size costs no memory.)
    pub const MAX_BYTES: u64 = 10 << 20;
    /// Redirects followed.
    pub const MAX_REDIRECTS: usize = 10;
    /// The window a new origin starts with (connections over HTTP/1.1,
    /// streams over HTTP/2): what browsers hold to (6) and a little more.
    /// It adapts from there ([`PerHost::Auto`], the default).
    pub const PER_HOST_START: usize = crate::client::window::START;
    /// The most an adaptive window grows to, if the run's limit is not
    /// lower: a site that shows no queue with 256 requests in flight is
    /// fetched as fast as a page list needs, and the rest of the limit is
    /// left to the run's other origins.
    pub const PER_HOST_MOST: usize = crate::client::window::MOST;
    /// A run's reorder window, in multiples of [`limit`](Self::limit): how
    /// far ahead of the next result to hand on a request may start (32,768
    /// positions at the default limit).
    ///
    /// In-order results go at the pace of the slowest origin unless the
    /// window lets the others' run ahead of it: ten sites of different
    /// speeds, interleaved, each took up to 43x its time alone with a
    /// window of 4x the limit. Within it, a job waiting in its origin's
    /// queue costs its request (a few hundred bytes), and at most 4x the
    /// limit are started (about a kilobyte each, their futures); what the
    /// results held to put them in order cost is bounded by
    /// [`REORDER_BYTES`](Self::REORDER_BYTES).
    pub const WINDOW_PER_LIMIT: usize = 64;
    /// The most a run's front door holds of results waiting for an earlier
    /// one (their lines, or their pages), in bytes: past it, only the next
    /// result to hand on is started until results are handed on. With
    /// bodies kept (`--body`), a window of pages would otherwise be held.
    pub const REORDER_BYTES: usize = 32 << 20;

    /// The largest body a request accepts, in bytes (decoded): the
    /// [`max_bytes`](FetchConfig::max_bytes) given, else
    /// [`FetchConfig::MAX_BYTES`] for a body kept in memory and no limit
    /// for one saved to a folder.
    ///
    /// # Examples
    ///
    /// ```
    /// use gather_http::FetchConfig;
    ///
    /// let mut config = FetchConfig::default();
    /// assert_eq!(config.body_limit(), FetchConfig::MAX_BYTES);
    /// config.save_dir = Some(std::env::temp_dir());
    /// assert_eq!(config.body_limit(), u64::MAX);
    /// config.max_bytes = Some(1 << 30);
    /// assert_eq!(config.body_limit(), 1 << 30);
    /// ```
    pub fn body_limit(&self) -> u64 {
        match (self.max_bytes, &self.save_dir) {
            (Some(max), _) => max,
            (None, Some(_)) => u64::MAX,
            (None, None) => Self::MAX_BYTES,
        }
    }

    /// The reorder window for this configuration's limit.
    pub fn window(&self) -> usize {
        self.limit.saturating_mul(Self::WINDOW_PER_LIMIT).max(1)
    }

    /// Reads and checks a file of trusted roots (PEM): it must hold at
    /// least one certificate.
    ///
    /// # Examples
    ///
    /// ```
    /// use gather_http::{FetchConfig, Setting};
    ///
    /// let e = FetchConfig::ca_file("/no/such/ca.pem".as_ref()).unwrap_err();
    /// assert_eq!(e.setting(), Setting::CaFile);
    /// assert!(e.to_string().starts_with("CA file /no/such/ca.pem: "));
    /// ```
    pub fn ca_file(path: &Path) -> Result<Vec<u8>, ConfigError> {
        let refused = |reason: String| ConfigError::new(Setting::CaFile, path.display(), reason);
        let pem = std::fs::read(path).map_err(|e| refused(e.to_string()))?;
        let certs = crate::tls::pem_certificates(&pem).map_err(refused)?;
        if certs.is_empty() {
            return Err(refused("no PEM certificate in the file".to_owned()));
        }
        Ok(pem)
    }

    /// A client certificate (PEM, its chain) and its private key (PEM),
    /// read and checked before anything is sent.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] about [`Setting::ClientCert`]: a file that cannot
    /// be read, no certificate in the first, no private key in the second.
    pub fn client_identity(cert: &Path, key: &Path) -> Result<ClientIdentity, ConfigError> {
        use rustls::pki_types::pem::PemObject;
        let certs = std::fs::read(cert)
            .map_err(|e| ConfigError::new(Setting::ClientCert, cert.display(), e.to_string()))?;
        let found = crate::tls::pem_certificates(&certs)
            .map_err(|e| ConfigError::new(Setting::ClientCert, cert.display(), e))?;
        if found.is_empty() {
            let reason = "no PEM certificate in the file".to_owned();
            return Err(ConfigError::new(
                Setting::ClientCert,
                cert.display(),
                reason,
            ));
        }
        let key_pem = std::fs::read(key)
            .map_err(|e| ConfigError::new(Setting::ClientCert, key.display(), e.to_string()))?;
        rustls::pki_types::PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| {
            ConfigError::new(
                Setting::ClientCert,
                key.display(),
                format!("no private key: {e}"),
            )
        })?;
        Ok(ClientIdentity {
            certs,
            key: key_pem,
        })
    }

    /// Makes the folder bodies are saved in (and its parents), so that a
    /// folder that cannot be made is said before anything is fetched.
    pub fn save_dir(dir: &Path) -> Result<PathBuf, ConfigError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| ConfigError::new(Setting::SaveDir, dir.display(), e.to_string()))?;
        Ok(dir.to_owned())
    }
}

impl Default for FetchConfig {
    /// The engine's defaults: 512 at once, a window per origin that adapts
    /// from 8, 30 s a request, no retries, 10 MiB bodies, 10 redirects,
    /// decoded, bodies not
    /// kept, proxies off (front doors read the environment's with
    /// [`Proxies::configure`]), HTTP/2 where TLS agrees on it, and the limits
    /// servers announce honoured.
    fn default() -> FetchConfig {
        FetchConfig {
            limit: Self::LIMIT,
            timeout: Self::TIMEOUT,
            retries: 0,
            retry_base: Self::RETRY_BASE,
            max_bytes: None,
            max_redirects: Self::MAX_REDIRECTS,
            headers: HeaderMap::new(),
            user_agent: concat!("gather/", env!("CARGO_PKG_VERSION")).to_owned(),
            cacert: None,
            insecure: false,
            identity: None,
            fail_on_status: false,
            cookies: false,
            body: false,
            save_dir: None,
            decode: true,
            proxies: Proxies::none(),
            versions: Versions::Negotiate,
            politeness: Politeness {
                per_host: PerHost::Auto,
                server_limits: true,
                ..Politeness::NONE
            },
            headers_kept: false,
            window_log: None,
        }
    }
}

/// A client certificate to show a server that asks for one (mutual TLS):
/// its chain and its private key, PEM, as
/// [`FetchConfig::client_identity`] read them.
#[derive(Clone)]
pub struct ClientIdentity {
    /// The certificate, then any intermediates.
    pub certs: Vec<u8>,
    /// The private key (PKCS#8, PKCS#1 or SEC1).
    pub key: Vec<u8>,
}

impl std::fmt::Debug for ClientIdentity {
    /// The key is not shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientIdentity").finish_non_exhaustive()
    }
}
