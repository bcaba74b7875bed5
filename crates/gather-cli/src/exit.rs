//! How the program ends: the exit statuses `--help` documents, and the
//! [`Exit`] each subcommand returns to `main`, which alone prints its
//! message and exits.

/// Every line written, none an error (or `--ok-if-complete`).
pub(crate) const OK: i32 = 0;
/// Some line is an error; or `--fail-fast` stopped at one.
pub(crate) const FAILED: i32 = 1;
/// A bad flag or input, an output that cannot be written: nothing to retry.
pub(crate) const USAGE: i32 = 2;
/// `--total-timeout` expired.
pub(crate) const TIMED_OUT: i32 = 124;
/// Ctrl-C.
pub(crate) const INTERRUPTED: i32 = 130;

/// How a subcommand ended: the status, and the error line that explains
/// it when there is one.
#[derive(Debug, PartialEq, Eq)]
#[must_use = "an Exit is the program's status: return it to main"]
pub(crate) struct Exit {
    pub(crate) status: i32,
    pub(crate) message: Option<String>,
}

impl Exit {
    /// Success, nothing to say.
    pub(crate) const OK: Exit = Exit {
        status: OK,
        message: None,
    };

    /// `status`, explained by `message`.
    pub(crate) fn new(status: i32, message: impl Into<String>) -> Exit {
        Exit {
            status,
            message: Some(message.into()),
        }
    }

    /// A usage error (status 2): a bad flag or input, an output that cannot
    /// be written.
    pub(crate) fn usage(message: impl Into<String>) -> Exit {
        Exit::new(USAGE, message)
    }
}
