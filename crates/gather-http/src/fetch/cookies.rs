//! Cookies, for a run that keeps them ([`FetchConfig::cookies`], off by
//! default): what a server sets is sent back to it on the requests after,
//! redirects included, as a browser session (and an `aiohttp` or `httpx`
//! client) does. A login that answers with a cookie and a redirect works.
//!
//! # Per host, whatever `Domain` says
//!
//! A cookie is kept for the host that set it, and sent only there: its
//! `Domain` attribute is not honoured. A `Domain` lets a site set a cookie
//! for its parent domain, and only the Public Suffix List tells a parent
//! that is one site (`example.com`) from one that is many (`co.uk`); a
//! list of many sites fetched with cookies on, honouring `Domain` without
//! it, would let any of them set cookies for the others. Subdomains of one
//! site do not share cookies here; everything else of RFC 6265 (paths,
//! expiry, `Secure`, `Max-Age`) is `cookie_store`'s.

use std::sync::{Mutex, MutexGuard};

use cookie_store::{CookieStore, RawCookie};
use http::header::HeaderValue;
use url::Url;

/// The run's cookies.
#[derive(Default)]
pub(super) struct Jar {
    store: Mutex<CookieStore>,
}

impl Jar {
    /// The `Cookie` field to send to `url`, if the jar has any for it.
    pub(super) fn field(&self, url: &Url) -> Option<HeaderValue> {
        let store = self.lock();
        let mut pairs = store.get_request_values(url);
        let (name, value) = pairs.next()?;
        let mut field = format!("{name}={value}");
        for (name, value) in pairs {
            field.push_str("; ");
            field.push_str(name);
            field.push('=');
            field.push_str(value);
        }
        HeaderValue::from_str(&field).ok()
    }

    /// Keeps the cookies `fields` (an answer's) set, for `url`'s host only.
    pub(super) fn keep(&self, fields: &crate::Fields, url: &Url) {
        let mut set = fields.get_all("set-cookie").peekable();
        if set.peek().is_none() {
            return;
        }
        let mut store = self.lock();
        for value in set {
            // Visible ASCII only, as `HeaderValue::to_str` reads a value.
            let Some(text) = value
                .is_ascii()
                .then(|| std::str::from_utf8(value).ok())
                .flatten()
            else {
                continue;
            };
            let Ok(mut cookie) = RawCookie::parse(text) else {
                continue;
            };
            cookie.unset_domain();
            // A cookie the store refuses (a `Secure` one over http, a
            // path it cannot hold) is dropped, as a browser drops it.
            let _ = store.insert_raw(&cookie.into_owned(), url);
        }
    }

    fn lock(&self) -> MutexGuard<'_, CookieStore> {
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(values: &[&str]) -> crate::Fields {
        values.iter().map(|v| ("Set-Cookie", *v)).collect()
    }

    #[test]
    fn a_cookie_goes_back_to_its_host_and_path_only() {
        let jar = Jar::default();
        let login = Url::parse("http://shop.example/login").unwrap();
        jar.keep(&set(&["session=abc; Path=/", "cart=2; Path=/cart"]), &login);
        let page = Url::parse("http://shop.example/page").unwrap();
        assert_eq!(jar.field(&page).unwrap(), "session=abc");
        let cart = Url::parse("http://shop.example/cart/items").unwrap();
        let both = jar.field(&cart).unwrap();
        assert!(
            both == "cart=2; session=abc" || both == "session=abc; cart=2",
            "{both:?}"
        );
        assert!(jar
            .field(&Url::parse("http://other.example/").unwrap())
            .is_none());
    }

    /// A `Domain` is not honoured: a site cannot set a cookie for its
    /// parent domain, which without the Public Suffix List may be many
    /// sites' (`co.uk`).
    #[test]
    fn domain_does_not_reach_other_hosts() {
        let jar = Jar::default();
        let a = Url::parse("http://a.shop.co.uk/").unwrap();
        jar.keep(&set(&["track=1; Domain=co.uk; Path=/"]), &a);
        assert_eq!(jar.field(&a).unwrap(), "track=1");
        assert!(jar
            .field(&Url::parse("http://b.other.co.uk/").unwrap())
            .is_none());
    }

    #[test]
    fn an_expired_cookie_is_removed_and_secure_ones_stay_off_http() {
        let jar = Jar::default();
        let url = Url::parse("http://site.example/").unwrap();
        jar.keep(&set(&["a=1; Path=/", "b=2; Secure; Path=/"]), &url);
        assert_eq!(jar.field(&url).unwrap(), "a=1");
        jar.keep(&set(&["a=gone; Path=/; Max-Age=0"]), &url);
        assert!(jar.field(&url).is_none());
    }
}
