//! Reading the URL list: one URL per line, blank lines and `#` comments
//! skipped. A line that is not a usable URL is kept as a job whose URL is an
//! error, so it gets its own error record instead of vanishing.

use std::io::{self, Read};
use std::path::Path;

use url::Url;

/// One URL to fetch.
#[derive(Debug, Clone)]
pub struct Job {
    /// Position among the URL lines (blank and comment lines not counted);
    /// the `index` of its output record.
    pub index: usize,
    /// 1-based line number in the input, for messages.
    pub line: usize,
    /// The line as written (trimmed).
    pub raw: String,
    /// The parsed URL, or why it cannot be fetched.
    pub url: Result<Url, InputError>,
}

/// Why an input line cannot be fetched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputError {
    /// Not a URL at all.
    InvalidUrl(String),
    /// A URL, but not http or https.
    UnsupportedScheme(String),
}

impl InputError {
    pub fn kind(&self) -> &'static str {
        match self {
            InputError::InvalidUrl(_) => "invalid_url",
            InputError::UnsupportedScheme(_) => "unsupported_scheme",
        }
    }

    pub fn message(&self) -> String {
        match self {
            InputError::InvalidUrl(why) => format!("not a valid URL: {why}"),
            InputError::UnsupportedScheme(s) => {
                format!("unsupported scheme {s:?}: only http and https are fetched")
            }
        }
    }
}

/// Reads the whole input: the file at `path`, or stdin for `None` or `-`.
/// Bytes that are not UTF-8 are replaced, so such a line becomes an
/// invalid URL rather than a failure of the whole run.
pub fn read(path: Option<&Path>) -> io::Result<String> {
    let mut bytes = Vec::new();
    match path {
        None => io::stdin().lock().read_to_end(&mut bytes)?,
        Some(p) if p == Path::new("-") => io::stdin().lock().read_to_end(&mut bytes)?,
        Some(p) => std::fs::File::open(p)?.read_to_end(&mut bytes)?,
    };
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// Splits the input into jobs, in order.
pub fn parse(text: &str) -> Vec<Job> {
    text.lines()
        .enumerate()
        .map(|(n, l)| (n + 1, l.trim()))
        .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'))
        .enumerate()
        .map(|(index, (line, raw))| Job {
            index,
            line,
            raw: raw.to_owned(),
            url: parse_url(raw),
        })
        .collect()
}

fn parse_url(raw: &str) -> Result<Url, InputError> {
    let url = Url::parse(raw).map_err(|e| InputError::InvalidUrl(e.to_string()))?;
    match url.scheme() {
        "http" | "https" if url.host().is_some() => Ok(url),
        "http" | "https" => Err(InputError::InvalidUrl("no host".to_owned())),
        other => Err(InputError::UnsupportedScheme(other.to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blank_lines_and_comments_are_skipped_and_indexes_count_urls_only() {
        let jobs = parse("# list\n\nhttp://a.test/\n  # indented comment\n  http://b.test/x  \n");
        assert_eq!(jobs.len(), 2);
        assert_eq!((jobs[0].index, jobs[0].line), (0, 3));
        assert_eq!(
            (jobs[1].index, jobs[1].line, jobs[1].raw.as_str()),
            (1, 5, "http://b.test/x")
        );
    }

    #[test]
    fn bad_lines_become_jobs_with_an_error_not_dropped() {
        let jobs = parse("not a url\nftp://files.test/a\nhttp://\nhttps://ok.test/");
        assert_eq!(jobs.len(), 4);
        assert_eq!(jobs[0].url.as_ref().unwrap_err().kind(), "invalid_url");
        assert_eq!(
            jobs[1].url.as_ref().unwrap_err(),
            &InputError::UnsupportedScheme("ftp".into())
        );
        assert!(jobs[2].url.is_err());
        assert!(jobs[3].url.is_ok());
    }

    #[test]
    fn duplicate_urls_are_separate_jobs() {
        let jobs = parse("http://a.test/\nhttp://a.test/\n");
        assert_eq!(jobs.len(), 2);
        assert_eq!(jobs[1].index, 1);
    }
}
