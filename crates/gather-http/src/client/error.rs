//! What went wrong with a request, by when it went wrong: the client's
//! error, which the fetch layer turns into a record's kind.

use std::fmt;

/// What went wrong, by when it went wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// No connection: the name did not resolve, the port refused, ...
    Connect,
    /// The TLS handshake failed: a certificate refused, no common version.
    Tls,
    /// The connection closed or reset before the answer's head was read.
    Lost,
    /// The answer's head is not HTTP the client can read.
    Protocol,
    /// The proxy refused to open a tunnel (`CONNECT`), or answered it
    /// with something that is not HTTP.
    Proxy,
    /// The head was read, but the body was cut short or broke its framing.
    Body,
}

/// A request that got no usable answer.
#[derive(Debug, Clone)]
pub struct Error {
    pub kind: ErrorKind,
    pub message: String,
    /// Not a byte of answer came back: sending again is safe.
    pub(crate) unanswered: bool,
}

impl Error {
    pub(crate) fn new(kind: ErrorKind, message: String) -> Error {
        Error {
            kind,
            message,
            unanswered: false,
        }
    }

    pub(crate) fn unanswered(message: String) -> Error {
        Error {
            kind: ErrorKind::Lost,
            message,
            unanswered: true,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}
