//! Which proxy a URL goes through, by curl's rules.
//!
//! - `--proxy URL` applies to every URL; `--proxy ""` turns proxies off
//!   (the environment included).
//! - Otherwise the environment: `http_proxy` for http URLs (lower case
//!   only: `HTTP_PROXY` can be set by a CGI request's `Proxy:` header, the
//!   "httpoxy" attack, so curl ignores it), `https_proxy` or `HTTPS_PROXY`
//!   for https, then `all_proxy` or `ALL_PROXY` for either.
//! - `--noproxy LIST`, else `no_proxy` or `NO_PROXY`: hosts that go direct.
//!   `*` is every host; a name matches itself and its subdomains (a leading
//!   dot is optional); an IP address matches itself, an address with
//!   `/bits` a whole network. Ports are not considered.
//! - A proxy URL without a scheme is `http://`; without a port, 1080.
//!   Only `http://` proxies are spoken (plain requests in absolute form,
//!   `CONNECT` tunnels for https); user and password in the proxy URL are
//!   sent to the proxy only, as `Proxy-Authorization: Basic`.

use std::net::IpAddr;
use std::sync::Arc;

use http::HeaderValue;
use url::{Host, Url};

use crate::error::{ConfigError, Setting};

/// An HTTP proxy.
#[derive(Debug)]
pub struct Proxy {
    /// `host:port`, as connected to and shown in messages.
    pub authority: Box<str>,
    host: String,
    port: u16,
    /// `Basic ...` from the proxy URL's user and password.
    pub authorization: Option<HeaderValue>,
}

impl Proxy {
    /// Parses a proxy URL (`host:port`, `http://user:pass@host:port`).
    pub fn parse(text: &str) -> Result<Proxy, String> {
        let with_scheme = if text.contains("://") {
            text.to_owned()
        } else {
            format!("http://{text}")
        };
        let url = Url::parse(&with_scheme).map_err(|e| format!("{text:?}: {e}"))?;
        if url.scheme() != "http" {
            return Err(format!(
                "{text:?}: only http:// proxies are supported (not {}://)",
                url.scheme()
            ));
        }
        let host = match url.host() {
            Some(Host::Domain(d)) => d.to_owned(),
            Some(Host::Ipv4(ip)) => ip.to_string(),
            Some(Host::Ipv6(ip)) => ip.to_string(),
            None => return Err(format!("{text:?}: no host")),
        };
        // curl's default proxy port.
        let port = url.port().unwrap_or(1080);
        let authority = match url.host() {
            Some(Host::Ipv6(_)) => format!("[{host}]:{port}"),
            _ => format!("{host}:{port}"),
        };
        Ok(Proxy {
            authority: authority.into(),
            host,
            port,
            authorization: super::basic_auth(&url),
        })
    }

    /// Where to connect: host (a name or an address) and port.
    pub fn addr(&self) -> (&str, u16) {
        (&self.host, self.port)
    }
}

/// The proxies of a run: one for http URLs, one for https, and the hosts
/// that go direct.
#[derive(Debug, Default, Clone)]
pub struct Proxies {
    http: Option<Arc<Proxy>>,
    https: Option<Arc<Proxy>>,
    direct: NoProxy,
}

impl Proxies {
    /// No proxy for anything.
    pub fn none() -> Proxies {
        Proxies::default()
    }

    /// From `--proxy` and `--noproxy` (`None`: not given) and the
    /// environment (`env(name)`), by the rules in the module docs. The
    /// error says which value is wrong: the one given, or the variable it
    /// came from.
    pub fn configure(
        proxy: Option<&str>,
        noproxy: Option<&str>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Proxies, ConfigError> {
        let from_env = |names: &[&str]| -> Result<Option<Arc<Proxy>>, ConfigError> {
            for name in names {
                match env(name) {
                    Some(v) if !v.trim().is_empty() => {
                        return Proxy::parse(v.trim())
                            .map(|p| Some(Arc::new(p)))
                            .map_err(|e| {
                                let from = format!("(from the environment) {name}=");
                                ConfigError::new(Setting::Proxy, "", format!("{from}{e}"))
                            })
                    }
                    _ => {}
                }
            }
            Ok(None)
        };
        let (http, https) = match proxy {
            Some(p) if p.trim().is_empty() => (None, None),
            Some(p) => {
                let p = Arc::new(
                    Proxy::parse(p.trim()).map_err(|e| ConfigError::new(Setting::Proxy, "", e))?,
                );
                (Some(p.clone()), Some(p))
            }
            None => {
                let all = from_env(&["all_proxy", "ALL_PROXY"])?;
                let http = from_env(&["http_proxy"])?.or_else(|| all.clone());
                let https = from_env(&["https_proxy", "HTTPS_PROXY"])?.or(all);
                (http, https)
            }
        };
        let direct = match noproxy {
            Some(list) => NoProxy::parse(list),
            None => env("no_proxy")
                .or_else(|| env("NO_PROXY"))
                .map(|l| NoProxy::parse(&l))
                .unwrap_or_default(),
        };
        Ok(Proxies {
            http,
            https,
            direct,
        })
    }

    /// The proxy `url` goes through, if any.
    pub fn for_url(&self, url: &Url) -> Option<&Arc<Proxy>> {
        let proxy = match url.scheme() {
            "http" => self.http.as_ref(),
            "https" => self.https.as_ref(),
            _ => None,
        }?;
        match url.host() {
            Some(host) if self.direct.matches(&host) => None,
            _ => Some(proxy),
        }
    }

    /// `true` when some URL may go through a proxy.
    #[cfg(test)]
    pub(crate) fn any(&self) -> bool {
        self.http.is_some() || self.https.is_some()
    }
}

/// The hosts that go direct: `NO_PROXY` and `--noproxy`.
#[derive(Debug, Default, Clone)]
struct NoProxy {
    all: bool,
    names: Vec<String>,
    networks: Vec<(IpAddr, u8)>,
}

impl NoProxy {
    fn parse(list: &str) -> NoProxy {
        let mut direct = NoProxy::default();
        for entry in list
            .split([',', ' '])
            .map(str::trim)
            .filter(|e| !e.is_empty())
        {
            if entry == "*" {
                direct.all = true;
                continue;
            }
            let (addr, bits) = match entry.split_once('/') {
                Some((a, b)) => (a, b.parse::<u8>().ok()),
                None => (entry, None),
            };
            // An address, perhaps with a port (`[::1]:8080`, `10.0.0.1:80`).
            let ip = addr
                .parse::<std::net::SocketAddr>()
                .map(|s| s.ip())
                .or_else(|_| {
                    addr.trim_start_matches('[')
                        .trim_end_matches(']')
                        .parse::<IpAddr>()
                })
                .or_else(|e| match addr.rsplit_once(':') {
                    Some((h, port)) if !h.contains(':') && port.parse::<u16>().is_ok() => h.parse(),
                    _ => Err(e),
                });
            if let Ok(ip) = ip {
                let max = if ip.is_ipv4() { 32 } else { 128 };
                direct.networks.push((ip, bits.unwrap_or(max).min(max)));
                continue;
            }
            // A name, perhaps with a port (ignored, as curl does for names).
            let name = entry.split(':').next().unwrap_or(entry);
            direct
                .names
                .push(name.trim_start_matches('.').to_ascii_lowercase());
        }
        direct
    }

    fn matches(&self, host: &Host<&str>) -> bool {
        if self.all {
            return true;
        }
        match host {
            Host::Domain(d) => {
                let d = d.trim_end_matches('.').to_ascii_lowercase();
                self.names.iter().any(|n| {
                    d == *n
                        || (d.len() > n.len()
                            && d.ends_with(n.as_str())
                            && d.as_bytes()[d.len() - n.len() - 1] == b'.')
                })
            }
            Host::Ipv4(ip) => self.in_networks(IpAddr::V4(*ip)),
            Host::Ipv6(ip) => self.in_networks(IpAddr::V6(*ip)),
        }
    }

    fn in_networks(&self, ip: IpAddr) -> bool {
        self.networks.iter().any(|&(net, bits)| match (net, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => prefix_eq(&n.octets(), &a.octets(), bits),
            (IpAddr::V6(n), IpAddr::V6(a)) => prefix_eq(&n.octets(), &a.octets(), bits),
            _ => false,
        })
    }
}

/// The first `bits` bits of `a` and `b` are equal.
fn prefix_eq(a: &[u8], b: &[u8], bits: u8) -> bool {
    let (whole, rest) = (usize::from(bits / 8), bits % 8);
    if a[..whole] != b[..whole] {
        return false;
    }
    rest == 0 || {
        let mask = 0xffu8 << (8 - rest);
        a[whole] & mask == b[whole] & mask
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn proxies(flag: Option<&str>, noproxy: Option<&str>, env: &[(&str, &str)]) -> Proxies {
        let env: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Proxies::configure(flag, noproxy, |k| env.get(k).cloned()).unwrap()
    }

    fn via(p: &Proxies, url: &str) -> Option<String> {
        p.for_url(&Url::parse(url).unwrap())
            .map(|p| p.authority.to_string())
    }

    #[test]
    fn the_environment_is_read_as_curl_reads_it() {
        let p = proxies(None, None, &[("http_proxy", "h:1"), ("https_proxy", "s:2")]);
        assert_eq!(via(&p, "http://a.test/").as_deref(), Some("h:1"));
        assert_eq!(via(&p, "https://a.test/").as_deref(), Some("s:2"));
        // HTTP_PROXY in upper case is ignored (httpoxy); HTTPS_PROXY is not.
        let p = proxies(None, None, &[("HTTP_PROXY", "h:1"), ("HTTPS_PROXY", "s:2")]);
        assert_eq!(via(&p, "http://a.test/"), None);
        assert_eq!(via(&p, "https://a.test/").as_deref(), Some("s:2"));
        // ALL_PROXY for what has no proxy of its own; default port 1080.
        let p = proxies(
            None,
            None,
            &[("ALL_PROXY", "all.test"), ("https_proxy", "s:2")],
        );
        assert_eq!(via(&p, "http://a.test/").as_deref(), Some("all.test:1080"));
        assert_eq!(via(&p, "https://a.test/").as_deref(), Some("s:2"));
    }

    #[test]
    fn the_flag_wins_and_an_empty_one_turns_proxies_off() {
        let env = [("http_proxy", "h:1"), ("https_proxy", "s:2")];
        let p = proxies(Some("http://f:3"), None, &env);
        assert_eq!(via(&p, "http://a.test/").as_deref(), Some("f:3"));
        assert_eq!(via(&p, "https://a.test/").as_deref(), Some("f:3"));
        let p = proxies(Some(""), None, &env);
        assert_eq!(via(&p, "http://a.test/"), None);
        assert!(!p.any());
    }

    #[test]
    fn no_proxy_matches_names_subdomains_addresses_and_networks() {
        let env = [
            ("http_proxy", "h:1"),
            (
                "NO_PROXY",
                "example.com, .internal.test,10.0.0.0/8, ::1,192.168.1.5:8080",
            ),
        ];
        let p = proxies(None, None, &env);
        assert_eq!(via(&p, "http://example.com/"), None);
        assert_eq!(via(&p, "http://www.Example.COM/"), None);
        assert_eq!(via(&p, "http://notexample.com/").as_deref(), Some("h:1"));
        assert_eq!(via(&p, "http://a.internal.test/"), None);
        assert_eq!(via(&p, "http://internal.test/"), None);
        assert_eq!(via(&p, "http://10.1.2.3/"), None);
        assert_eq!(via(&p, "http://11.1.2.3/").as_deref(), Some("h:1"));
        assert_eq!(via(&p, "http://[::1]:8080/"), None);
        assert_eq!(via(&p, "http://192.168.1.5/"), None);
        // --noproxy replaces the environment's list; `*` is everything.
        let p = proxies(None, Some("other.test"), &env);
        assert_eq!(via(&p, "http://example.com/").as_deref(), Some("h:1"));
        let p = proxies(None, Some("*"), &env);
        assert_eq!(via(&p, "http://example.com/"), None);
    }

    #[test]
    fn credentials_become_proxy_authorization_and_bad_proxies_are_named() {
        let p = Proxy::parse("http://us%40er:p%3Ass@127.0.0.1:3128").unwrap();
        assert_eq!(&*p.authority, "127.0.0.1:3128");
        // base64("us@er:p:ss")
        assert_eq!(
            p.authorization.unwrap().to_str().unwrap(),
            "Basic dXNAZXI6cDpzcw=="
        );
        assert_eq!(
            &*Proxy::parse("[::1]:8080").unwrap().authority,
            "[::1]:8080"
        );
        assert!(Proxy::parse("socks5://h:1")
            .unwrap_err()
            .contains("only http://"));
        assert!(Proxy::parse("https://h:1")
            .unwrap_err()
            .contains("only http://"));
        let e = Proxies::configure(None, None, |k| {
            (k == "https_proxy").then(|| "ftp://x".to_owned())
        })
        .unwrap_err();
        assert_eq!(e.setting(), Setting::Proxy);
        assert!(
            e.detail()
                .starts_with("(from the environment) https_proxy="),
            "{e}"
        );
    }
}
