//! URLs as requests name them: parsed by the WHATWG rules (the `url`
//! crate), and refused unless they are `http` or `https` with a host, with
//! the error kind a record carries. Every front door parses here, so a
//! line of `gather fetch` and a Python `fetch()` item fail alike.

use url::Url;

use crate::error::Kind;

/// Why a request's URL cannot be fetched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InvalidUrl {
    /// Not a URL at all.
    Syntax(String),
    /// A URL, but not http or https.
    UnsupportedScheme(String),
}

impl std::fmt::Display for InvalidUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message())
    }
}

impl std::error::Error for InvalidUrl {}

impl InvalidUrl {
    /// The kind a record of this request carries.
    pub fn kind(&self) -> Kind {
        match self {
            InvalidUrl::Syntax(_) => Kind::InvalidUrl,
            InvalidUrl::UnsupportedScheme(_) => Kind::UnsupportedScheme,
        }
    }

    /// Why, in words (`not a valid URL: ...`).
    pub fn message(&self) -> String {
        match self {
            InvalidUrl::Syntax(why) => format!("not a valid URL: {why}"),
            InvalidUrl::UnsupportedScheme(s) => {
                format!("unsupported scheme {s:?}: only http and https are fetched")
            }
        }
    }
}

/// Parses the URLs of a run one after another, faster than one by one.
///
/// The lines of a list mostly share an origin, and parsing the origin (the
/// host's IDNA mapping, the IP address forms, the serialization) is most
/// of the cost of a parse. When a line starts with the previous parsed
/// line's `scheme://authority`, text for text, and goes on with a plain
/// absolute path, it is parsed as that path relative to the previous URL:
/// the WHATWG rules copy the origin from the base for such a reference, so
/// the result is the one a whole parse gives (a property test holds it to
/// [`parse`]). Anything else is parsed whole.
#[derive(Debug, Default)]
pub struct UrlParser {
    /// The `scheme://authority` text of the last whole parse, and its URL.
    last: Option<(String, Url)>,
}

impl UrlParser {
    /// `raw`'s URL, relative to `base` when one is given and `raw` is not
    /// absolute (joined as a link is: `/v1/x` replaces the base's path,
    /// `v1/x` goes after its last `/`), as `--base-url` and Python's
    /// `base_url` resolve an OpenAI Batch file's `"url": "/v1/..."`.
    pub fn parse_from(&mut self, raw: &str, base: Option<&Url>) -> Result<Url, InvalidUrl> {
        match base {
            Some(base) if Url::parse(raw) == Err(url::ParseError::RelativeUrlWithoutBase) => {
                let joined = base.join(raw).map_err(|e| {
                    InvalidUrl::Syntax(format!("{e} (relative to the base URL {base})"))
                })?;
                self.parse(joined.as_str())
            }
            _ => self.parse(raw),
        }
    }

    /// `raw`'s URL, or why it cannot be fetched: the same as [`parse`].
    pub fn parse(&mut self, raw: &str) -> Result<Url, InvalidUrl> {
        if let Some((origin, base)) = &self.last {
            if let Some(path) = raw.strip_prefix(origin.as_str()) {
                // "/x" only: "//h" and "/\\h" name another host, and "?q",
                // "#f" or nothing would keep parts of the base's path. Tabs
                // and newlines are dropped before parsing, so "/\t/h" would
                // be "//h": such lines take the whole parse.
                let mut bytes = path.bytes();
                if bytes.next() == Some(b'/')
                    && !matches!(bytes.next(), Some(b'/' | b'\\'))
                    && !path.contains(['\t', '\n', '\r'])
                {
                    // The usual line: a path of visible ASCII, no query or
                    // fragment, after a base without them either. Then the
                    // base, copied, takes the new path: the same path
                    // parsing as a join, into a string already the right
                    // size (a join starts one as long as the path alone and
                    // grows it twice on the way: a quarter of the parse).
                    // Nothing here can be trimmed, as a whole parse trims
                    // C0 controls and spaces at the ends, so the result is
                    // the same.
                    if base.query().is_none()
                        && base.fragment().is_none()
                        && path
                            .bytes()
                            .all(|b| b.is_ascii_graphic() && b != b'?' && b != b'#')
                    {
                        let mut url = base.clone();
                        url.set_path(path);
                        return Ok(url);
                    }
                    return base
                        .join(path)
                        .map_err(|e| InvalidUrl::Syntax(e.to_string()));
                }
            }
        }
        let url = parse(raw)?;
        self.last = origin_text(raw).map(|origin| (origin.to_owned(), url.clone()));
        Ok(url)
    }
}

/// `http://authority` or `https://authority` as written at the start of
/// `raw`, when the authority is not empty (`http:///h` names host `h`) and
/// a `/` follows it.
fn origin_text(raw: &str) -> Option<&str> {
    let after_scheme = if raw.starts_with("http://") {
        "http://".len()
    } else if raw.starts_with("https://") {
        "https://".len()
    } else {
        return None;
    };
    let end = after_scheme + raw[after_scheme..].find(['/', '\\', '?', '#'])?;
    (end > after_scheme && raw.as_bytes()[end] == b'/').then(|| &raw[..end])
}

/// `raw`'s URL, if it is one this engine fetches: `http` or `https`, with
/// a host.
///
/// # Examples
///
/// ```
/// use gather_http::{parse_url, Kind};
/// assert_eq!(parse_url("https://example.com/a").unwrap().path(), "/a");
/// assert_eq!(parse_url("ftp://example.com/").unwrap_err().kind(), Kind::UnsupportedScheme);
/// assert_eq!(parse_url("example.com").unwrap_err().kind(), Kind::InvalidUrl);
/// ```
pub fn parse(raw: &str) -> Result<Url, InvalidUrl> {
    let url = Url::parse(raw).map_err(|e| InvalidUrl::Syntax(e.to_string()))?;
    match url.scheme() {
        "http" | "https" if url.host().is_some() => Ok(url),
        "http" | "https" => Err(InvalidUrl::Syntax("no host".to_owned())),
        other => Err(InvalidUrl::UnsupportedScheme(other.to_owned())),
    }
}
