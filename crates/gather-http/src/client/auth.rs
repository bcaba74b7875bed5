//! Credentials written in a URL (`http://user:pass@host/`), sent as Basic
//! authorization to an origin or a proxy.

use base64::Engine;
use http::HeaderValue;
use url::Url;

/// Whether `url` has a user name or password.
pub(crate) fn has_credentials(url: &Url) -> bool {
    !url.username().is_empty() || url.password().is_some()
}

/// `Basic ...` for a URL with a user name or password: an origin's
/// `Authorization`, or a proxy's `Proxy-Authorization`.
pub(crate) fn basic_auth(url: &Url) -> Option<HeaderValue> {
    if !has_credentials(url) {
        return None;
    }
    let decode = |s: &str| percent_encoding::percent_decode_str(s).collect::<Vec<u8>>();
    let mut pair = decode(url.username());
    pair.push(b':');
    pair.extend(decode(url.password().unwrap_or("")));
    let encoded = base64::engine::general_purpose::STANDARD.encode(pair);
    let mut value = HeaderValue::try_from(format!("Basic {encoded}")).ok()?;
    value.set_sensitive(true);
    Some(value)
}

#[cfg(test)]
mod credential_tests {
    use super::*;

    #[test]
    fn credentials_in_a_url_become_basic_auth() {
        let url = Url::parse("http://us%20er:p%40ss@h.test:81/x?y").unwrap();
        // base64("us er:p@ss")
        assert_eq!(basic_auth(&url).unwrap(), "Basic dXMgZXI6cEBzcw==");
        let user_only = Url::parse("http://me@h.test/").unwrap();
        assert_eq!(basic_auth(&user_only).unwrap(), "Basic bWU6"); // "me:"
        assert!(basic_auth(&Url::parse("http://h.test/").unwrap()).is_none());
    }
}
