//! Why a request has no page: the kinds an error carries, as one enum, so
//! that code compares kinds rather than strings spread over files, and
//! each front door's list (`--help`'s, Python's exception classes) is
//! checked against every kind.
//!
//! A message is in the engine's words and carries its values ("no complete
//! answer within the request timeout of 500ms"); when a setting governs the
//! failure, [`FetchError::setting`] names it, for the front door to add
//! its own word for it (`--timeout`, `timeout=`).

use std::time::Duration;

/// What went wrong, as a record's `"error": {"kind": ...}` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Kind {
    /// The line is not a URL.
    InvalidUrl,
    /// The line is a request that cannot be sent: not JSON, no `url`, an
    /// unknown field, two bodies, a bad header or method.
    InvalidRequest,
    /// A URL, but not http or https.
    UnsupportedScheme,
    /// No connection, or it was lost before the answer's head.
    Connect,
    /// The TLS handshake failed.
    Tls,
    /// No complete answer within the request timeout.
    Timeout,
    /// The answer is not HTTP the client can read (HTTP/1.1 or HTTP/2): not
    /// retried, since the server would send it again.
    Protocol,
    /// The body was cut short, broke its framing, or could not be decoded.
    Body,
    /// The body is over the size limit.
    BodyTooLarge,
    /// Too many redirects, or one that cannot be followed.
    Redirect,
    /// The proxy refused a tunnel.
    Proxy,
    /// An HTTP error status, when they are failures (`fail_on_status`).
    Status,
    /// The body could not be written in the save folder.
    Save,
    /// The run's overall deadline expired first.
    TotalTimeout,
    /// A bug in gather itself (a panic).
    Internal,
    /// Not fetched: the run stopped first (fail-fast, a stop). Never written.
    Cancelled,
}

impl Kind {
    /// Every kind a line can carry (all but [`Kind::Cancelled`]).
    pub const WRITTEN: [Kind; 15] = [
        Kind::InvalidUrl,
        Kind::InvalidRequest,
        Kind::UnsupportedScheme,
        Kind::Connect,
        Kind::Tls,
        Kind::Timeout,
        Kind::Protocol,
        Kind::Body,
        Kind::BodyTooLarge,
        Kind::Redirect,
        Kind::Proxy,
        Kind::Status,
        Kind::Save,
        Kind::TotalTimeout,
        Kind::Internal,
    ];

    /// The name in the record.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::InvalidUrl => "invalid_url",
            Kind::InvalidRequest => "invalid_request",
            Kind::UnsupportedScheme => "unsupported_scheme",
            Kind::Connect => "connect",
            Kind::Tls => "tls",
            Kind::Timeout => "timeout",
            Kind::Protocol => "protocol",
            Kind::Body => "body",
            Kind::BodyTooLarge => "body_too_large",
            Kind::Redirect => "redirect",
            Kind::Proxy => "proxy",
            Kind::Status => "status",
            Kind::Save => "save",
            Kind::TotalTimeout => "total_timeout",
            Kind::Internal => "internal",
            Kind::Cancelled => "cancelled",
        }
    }
}

#[cfg(test)]
mod kinds {
    use super::Kind;

    /// Every kind but `Cancelled` is written. The match is exhaustive: a
    /// new kind does not compile until it is said here whether a record
    /// carries it (and then it must be in `WRITTEN`, and in each front
    /// door's list: `--help`'s, Python's exception classes).
    #[test]
    fn written_lists_every_kind_a_record_carries() {
        fn written(kind: Kind) -> bool {
            match kind {
                Kind::InvalidUrl
                | Kind::InvalidRequest
                | Kind::UnsupportedScheme
                | Kind::Connect
                | Kind::Tls
                | Kind::Timeout
                | Kind::Protocol
                | Kind::Body
                | Kind::BodyTooLarge
                | Kind::Redirect
                | Kind::Proxy
                | Kind::Status
                | Kind::Save
                | Kind::TotalTimeout
                | Kind::Internal => true,
                Kind::Cancelled => false,
            }
        }
        // Every kind, as the match above has them (a kind added there and
        // not here leaves this list one short of the match's arms).
        let every = [Kind::Cancelled].into_iter().chain(Kind::WRITTEN);
        let said: Vec<Kind> = every.filter(|&k| written(k)).collect();
        assert_eq!(said, Kind::WRITTEN);
        let mut names: Vec<&str> = Kind::WRITTEN.iter().map(|k| k.as_str()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), Kind::WRITTEN.len(), "each once");
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a request has no page.
#[derive(Debug, Clone)]
pub struct FetchError {
    pub kind: Kind,
    pub message: String,
    pub elapsed: Duration,
    pub retries: u32,
    /// The setting that governs this failure (the request timeout of a
    /// [`Kind::Timeout`], the size limit of a [`Kind::BodyTooLarge`], ...),
    /// for a front door to name in its own words.
    pub setting: Option<Setting>,
    /// The connection was lost after the request was written: it may have
    /// been processed, so a request that may not be sent twice is not.
    pub(crate) maybe_processed: bool,
    /// The answer itself, when it came and is the failure: an error
    /// status with [`FetchConfig::fail_on_status`](crate::FetchConfig),
    /// whose body (an API's error JSON, say) the caller may read.
    pub answer: Option<Box<crate::Page>>,
}

impl std::fmt::Display for FetchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.kind)
    }
}

impl std::error::Error for FetchError {}

impl FetchError {
    /// A failure before any request was made (or whose timing does not
    /// apply): no time elapsed, no retries.
    pub fn immediate(kind: Kind, message: String) -> FetchError {
        FetchError {
            kind,
            message,
            elapsed: Duration::ZERO,
            retries: 0,
            setting: None,
            maybe_processed: false,
            answer: None,
        }
    }

    /// This error, naming the setting that governs it.
    pub fn about(self, setting: Setting) -> FetchError {
        FetchError {
            setting: Some(setting),
            ..self
        }
    }
}

/// A setting of a run, as an error names it: each front door says it in
/// its own words (the command line its flag, Python its keyword argument).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Setting {
    /// [`FetchConfig::limit`](crate::FetchConfig::limit).
    Limit,
    /// [`FetchConfig::timeout`](crate::FetchConfig::timeout).
    Timeout,
    /// A run's overall deadline ([`RunBuilder::total_timeout`](crate::RunBuilder::total_timeout)).
    TotalTimeout,
    /// [`FetchConfig::max_bytes`](crate::FetchConfig::max_bytes).
    MaxBytes,
    /// [`FetchConfig::max_redirects`](crate::FetchConfig::max_redirects).
    MaxRedirects,
    /// [`FetchConfig::user_agent`](crate::FetchConfig::user_agent).
    UserAgent,
    /// [`FetchConfig::cacert`](crate::FetchConfig::cacert): the trusted roots added.
    CaFile,
    /// [`FetchConfig::save_dir`](crate::FetchConfig::save_dir).
    SaveDir,
    /// [`FetchConfig::proxies`](crate::FetchConfig::proxies).
    Proxy,
    /// [`FetchConfig::fail_on_status`](crate::FetchConfig::fail_on_status).
    FailOnStatus,
    /// [`FetchConfig::identity`](crate::FetchConfig::identity): the client
    /// certificate and its key.
    ClientCert,
}

impl Setting {
    /// The setting in the engine's words.
    pub fn as_str(self) -> &'static str {
        match self {
            Setting::Limit => "limit",
            Setting::Timeout => "request timeout",
            Setting::TotalTimeout => "total timeout",
            Setting::MaxBytes => "size limit",
            Setting::MaxRedirects => "redirect limit",
            Setting::UserAgent => "User-Agent",
            Setting::CaFile => "CA file",
            Setting::SaveDir => "save folder",
            Setting::Proxy => "proxy",
            Setting::ClientCert => "client certificate",
            Setting::FailOnStatus => "fail on status",
        }
    }
}

impl std::fmt::Display for Setting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A configuration that cannot be used: which [`Setting`], the value
/// given (a path, a text), and why.
///
/// `Display` says it in the engine's words (`CA file ca.pem: no PEM
/// certificate in the file`); a front door says
/// [`setting`](ConfigError::setting) its own way and adds
/// [`detail`](ConfigError::detail).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    setting: Setting,
    detail: String,
}

impl ConfigError {
    /// `setting`'s `value` refused, because of `reason`.
    pub fn new(setting: Setting, value: impl std::fmt::Display, reason: String) -> ConfigError {
        let value = value.to_string();
        let detail = match value.is_empty() {
            true => reason,
            false => format!("{value}: {reason}"),
        };
        ConfigError { setting, detail }
    }

    /// The setting that was refused.
    pub fn setting(&self) -> Setting {
        self.setting
    }

    /// The value given and why it was refused (`ca.pem: no PEM certificate
    /// in the file`), without the setting's name.
    pub fn detail(&self) -> &str {
        &self.detail
    }
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.setting, self.detail)
    }
}

impl std::error::Error for ConfigError {}
