//! **The run's limit within the files the process may open** (`ulimit -n`).
//!
//! Each request on the wire holds a socket (and, with
//! [`save_dir`](crate::FetchConfig::save_dir), the file its body goes to),
//! and the pool keeps as many idle connections again for the requests to
//! come. A run whose limit the process's open-file limit cannot hold does
//! not fail loudly: its connects fail one by one with "Too many open
//! files", each a lost page, and the adaptive window takes them for an
//! overloaded server. With macOS's default of 256 open files, or a
//! container's, that was a run at the default limit. So a run's limit is
//! sized here, once, when its fetcher is made: what is left of the limit
//! after the files already open and a reserve, over the descriptors a
//! request needs ([`Fetcher::limit_lowered`](crate::Fetcher::limit_lowered)
//! says when that took anything away, for a front door to warn).
//!
//! A program may first raise its own soft limit to the hard one
//! ([`raise_soft_limit`]), as Go's runtime does for every program: the
//! soft limit of 1,024 exists for `select()`, which nothing here uses. A
//! library does not change its process's limits: the Python package
//! leaves them as its user set them.

/// Descriptors kept back for what the process opens besides the run's
/// requests (its input and output, a log, the user's own files).
const RESERVE: usize = 32;

/// A run's limit, lowered to what the process's open-file limit holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitLowered {
    /// The limit the configuration asked for.
    pub asked: usize,
    /// The limit the run has.
    pub to: usize,
    /// The process's open-file limit (its soft limit, `ulimit -n`).
    pub open_files: u64,
}

impl std::fmt::Display for LimitLowered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} requests at once lowered to {}: this process may open {} files \
             (ulimit -n), and each request needs a socket and a connection kept for the next",
            self.asked, self.to, self.open_files
        )
    }
}

/// The limit a run asking for `asked` requests at once gets, each needing
/// `per_request` descriptors, when the process may open `soft` files and
/// has `open` open: one more descriptor per request is left for the idle
/// connection the pool keeps beside it. At least 1.
pub(crate) fn fit(asked: usize, soft: u64, open: usize, per_request: usize) -> usize {
    let soft = usize::try_from(soft).unwrap_or(usize::MAX);
    let room = soft.saturating_sub(open.saturating_add(RESERVE));
    asked.min(room / (per_request + 1)).max(1)
}

/// The limit a run asking for `asked` requests at once gets in this
/// process now, and what was taken away, if anything.
pub(crate) fn limit(asked: usize, per_request: usize) -> (usize, Option<LimitLowered>) {
    let Some(soft) = soft_limit() else {
        return (asked, None);
    };
    let to = fit(asked, soft, open_now(), per_request);
    let lowered = (to < asked).then_some(LimitLowered {
        asked,
        to,
        open_files: soft,
    });
    (to, lowered)
}

/// The files open in this process now: counted in `/proc/self/fd` (Linux)
/// or `/dev/fd` (macOS, the BSDs), less the listing's own; else a guess.
fn open_now() -> usize {
    for dir in ["/proc/self/fd", "/dev/fd"] {
        if let Ok(entries) = std::fs::read_dir(dir) {
            return entries.count().saturating_sub(1);
        }
    }
    16
}

/// The process's limits on open files (soft and hard), if it can say.
#[cfg(unix)]
fn open_file_limits() -> Option<libc::rlimit> {
    let mut limits = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `getrlimit` writes only the `rlimit` it is given, which lives
    // across the call.
    let status = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limits) };
    (status == 0).then_some(limits)
}

/// The process's soft limit on open files (`ulimit -n`): `None` where it
/// has none, or on a platform without one.
#[cfg(unix)]
pub fn soft_limit() -> Option<u64> {
    let limits = open_file_limits()?;
    // `rlim_t` is u64 on Linux and macOS, i64 on FreeBSD.
    #[allow(clippy::unnecessary_cast)]
    (limits.rlim_cur != libc::RLIM_INFINITY).then_some(limits.rlim_cur as u64)
}

/// The process's soft limit on open files: none known here.
#[cfg(not(unix))]
pub fn soft_limit() -> Option<u64> {
    None
}

/// Raises this process's soft limit on open files to its hard limit (at
/// most 2^20, which macOS's kernel takes where its hard limit is
/// unlimited), and returns the soft limit it has after. For a program's
/// `main`, before its runtime starts: a library leaves its process's
/// limits alone.
///
/// # Examples
///
/// ```
/// let before = gather_http::open_files::soft_limit();
/// let after = gather_http::open_files::raise_soft_limit();
/// assert!(after >= before);
/// ```
#[cfg(unix)]
pub fn raise_soft_limit() -> Option<u64> {
    let limits = open_file_limits()?;
    let wanted = limits.rlim_max.min(1 << 20);
    if wanted > limits.rlim_cur {
        let raised = libc::rlimit {
            rlim_cur: wanted,
            rlim_max: limits.rlim_max,
        };
        // SAFETY: `setrlimit` only reads the `rlimit` it is given. Refused
        // (a kernel that caps it lower), the limit stays as it was.
        unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) };
    }
    soft_limit()
}

/// Raises the soft limit on open files: there is none to raise here.
#[cfg(not(unix))]
pub fn raise_soft_limit() -> Option<u64> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_limit_the_open_files_hold_is_kept() {
        // Linux's default soft limit holds the default limit.
        assert_eq!(fit(512, 1 << 20, 10, 1), 512);
        assert_eq!(fit(450, 1024, 10, 1), 450);
    }

    #[test]
    fn a_limit_beyond_the_open_files_is_lowered_to_what_they_hold() {
        // macOS's default: 256 files, 10 open, 32 kept back, two a request.
        assert_eq!(fit(512, 256, 10, 1), (256 - 10 - 32) / 2);
        // A body saved to a file takes one more.
        assert_eq!(fit(512, 256, 10, 2), (256 - 10 - 32) / 3);
    }

    #[test]
    fn a_process_with_no_room_left_still_runs_one_request_at_a_time() {
        assert_eq!(fit(512, 20, 30, 1), 1);
    }

    #[test]
    fn the_files_open_now_are_counted() {
        // Other tests open and close their own meanwhile: a margin.
        let before = open_now();
        let files: Vec<_> = (0..64)
            .map(|_| std::fs::File::open("Cargo.toml").unwrap())
            .collect();
        let during = open_now();
        assert!(during >= before + 48, "{before} open, then {during}");
        drop(files);
    }
}
