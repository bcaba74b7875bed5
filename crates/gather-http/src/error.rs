//! Why a URL has no page: the kinds an error line carries, as one enum, so
//! that code compares kinds rather than strings spread over files, and
//! `--help`'s list is checked against every kind.

use std::time::Duration;

/// What went wrong, as a record's `"error": {"kind": ...}` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
    /// No complete answer within `--timeout`.
    Timeout,
    /// The answer is not HTTP the client can read (HTTP/1.1 or HTTP/2): not
    /// retried, since the server would send it again.
    Protocol,
    /// The body was cut short, broke its framing, or could not be decoded.
    Body,
    /// The body is over `--max-bytes`.
    BodyTooLarge,
    /// Too many redirects, or one that cannot be followed.
    Redirect,
    /// The proxy refused a tunnel.
    Proxy,
    /// An HTTP error status, with `--fail-on-status`.
    Status,
    /// The body could not be written under `--save-dir`.
    Save,
    /// `--total-timeout` expired first.
    TotalTimeout,
    /// A bug in gather itself (a panic).
    Internal,
    /// Not fetched: the run stopped first (`--fail-fast`). Never written.
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

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a URL has no page.
#[derive(Debug, Clone)]
pub struct FetchError {
    pub kind: Kind,
    pub message: String,
    pub elapsed: Duration,
    pub retries: u32,
    /// The connection was lost after the request was written: it may have
    /// been processed, so a request that may not be sent twice is not.
    pub(crate) maybe_processed: bool,
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
            maybe_processed: false,
        }
    }
}
