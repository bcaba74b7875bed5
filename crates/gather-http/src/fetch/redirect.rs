//! Redirects: followed up to the redirect limit, with the method each
//! status asks for, and credentials kept to the origin they were meant for.

use std::borrow::Cow;
use std::future::Future;

use http::header;
use url::Url;

use super::waits::Waits;
use super::{fetch_error, Fetcher};
use crate::client::origin::Turn;
use crate::client::{basic_auth, has_credentials, Head, Payload, Response};
use crate::error::{FetchError, Kind, Setting};

/// A redirect on the way to an answer: its status, and the URL that
/// answered with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hop {
    pub status: u16,
    pub url: String,
}

/// Where an answer came from: the URL asked (no redirect, the common
/// case, one word), or where the redirects led, with each hop (boxed: a
/// `Url` is 88 bytes, and every request's future holds this during the
/// body's read).
pub(super) enum Landed<'a> {
    Asked(&'a Url),
    Redirected(Box<Redirected>),
}

pub(super) struct Redirected {
    url: Url,
    hops: Vec<Hop>,
}

impl Landed<'_> {
    pub(super) fn url(&self) -> &Url {
        match self {
            Landed::Asked(url) => url,
            Landed::Redirected(r) => &r.url,
        }
    }

    /// The redirects on the way, if there were any: boxed as
    /// [`Page::history`](super::Page) holds them (one word in every
    /// request's future, none allocated without a redirect).
    #[allow(clippy::box_collection)]
    pub(super) fn into_hops(self) -> Option<Box<Vec<Hop>>> {
        match self {
            Landed::Asked(_) => None,
            Landed::Redirected(r) => Some(Box::new(r.hops)),
        }
    }
}

impl Fetcher {
    /// Sends a GET for `url` (or the request `payload` describes) and
    /// follows redirects, up to the redirect limit: the first answer that is
    /// not a redirect, and the URL that gave it.
    ///
    /// A GET stays a GET. Another method becomes a GET without its body
    /// after a 303 (and a POST after a 301 or 302), as browsers and curl
    /// do; 307 and 308 send it again as it was
    /// ([`Payload::after_redirect`]). Credentials (`Authorization`,
    /// cookies), the run's or the request's own, go only to the origin they
    /// were meant for: a hop to another scheme, host or port drops them for
    /// the rest of the chain.
    #[allow(clippy::manual_async_fn)]
    pub(super) fn follow<'a>(
        &'a self,
        url: &'a Url,
        payload: Option<&'a Payload>,
        turn: Turn,
        waits: &'a Waits,
    ) -> impl Future<Output = Result<(Response<'a>, Landed<'a>), FetchError>> + Send + 'a {
        async move {
            // Most requests carry no credentials and get no redirect: that path
            // is kept small, and the chain is boxed. Inline, the chain's state
            // (another URL, the headers to send, a body to drain) made every
            // request's future twice the size, and it is moved and allocated
            // with each request (a 2 KiB allocation misses malloc's per-thread
            // cache, as the profile of a run against nginx showed).
            if payload.is_none() && !has_credentials(url) && self.shared.jar.is_none() {
                let resp = self
                    .shared
                    .client
                    .get(url, &self.shared.headers, turn)
                    .await
                    .map_err(fetch_error)?;
                resp.answered();
                if !is_redirect(&resp.head) {
                    return Ok((resp, Landed::Asked(url)));
                }
                return Box::pin(self.follow_chain(url, None, Ok(resp), waits)).await;
            }
            Box::pin(self.follow_chain(url, payload, Err(turn), waits)).await
        }
    }

    /// [`follow`](Fetcher::follow)'s loop, from `first` (the answer `url`
    /// already gave, when it has no credentials) or from the start, with
    /// `url`'s turn (later hops wait for their own).
    async fn follow_chain<'c, 'u>(
        &'c self,
        url: &'u Url,
        payload: Option<&'u Payload>,
        first: Result<Response<'c>, Turn>,
        waits: &Waits,
    ) -> Result<(Response<'c>, Landed<'u>), FetchError> {
        let (mut first, mut turn) = match first {
            Ok(resp) => (Some(resp), None),
            Err(turn) => (None, Some(turn)),
        };
        let first_origin = url.origin();
        let mut url = Cow::Borrowed(url);
        let mut payload = payload.map(Cow::Borrowed);
        // A hop went to another origin: credentials are dropped from then on.
        let mut crossed = false;
        let mut hops: Vec<Hop> = Vec::new();
        loop {
            let from_first = first.is_some();
            let resp = match first.take() {
                Some(resp) => resp,
                None => {
                    let sent = self.fields_for_hop(&url, &mut payload, crossed);
                    let turn = match turn.take() {
                        Some(turn) => turn,
                        // A later hop waits for its own turn; the
                        // attempt's timer does not count the wait.
                        None => waits
                            .during(
                                self.shared
                                    .client
                                    .turn(&url, crate::client::weight(payload.as_deref())),
                            )
                            .await
                            .map_err(fetch_error)?,
                    };
                    self.shared
                        .client
                        .send(&url, &sent, payload.as_deref(), turn)
                        .await
                        .map_err(fetch_error)?
                }
            };
            // What the answer says of the server's budgets, for the
            // requests after this one (every hop's, each for its origin).
            // The first answer of a GET without credentials told it already.
            if !from_first {
                resp.answered();
            }
            if let (Some(jar), Some(fields)) = (&self.shared.jar, &resp.head.fields) {
                jar.keep(fields, &url);
            }
            if !is_redirect(&resp.head) {
                let landed = match url {
                    Cow::Borrowed(url) => Landed::Asked(url),
                    Cow::Owned(url) => Landed::Redirected(Box::new(Redirected { url, hops })),
                };
                return Ok((resp, landed));
            }
            hops.push(Hop {
                status: resp.head.status,
                url: url.as_str().to_owned(),
            });
            let next = self.next_hop(&resp.head, &url, &first_origin, hops.len())?;
            // Read to its end, a redirect's (small) body leaves its
            // connection free for the next hop, often to the same server.
            let status = resp.head.status;
            resp.body.drain(REDIRECT_BODY).await;
            crossed |= next.origin() != url.origin();
            payload = payload.and_then(|p| p.after_redirect(status).map(Cow::Owned));
            url = Cow::Owned(next);
        }
    }
}

impl Fetcher {
    /// The fields a hop sends: the run's (the request's own go over them as
    /// they are written), without credentials once the chain `crossed` to
    /// another origin, with Basic credentials from `url` itself unless an
    /// `Authorization` is given, and with the jar's cookies for `url`.
    fn fields_for_hop<'h>(
        &'h self,
        url: &Url,
        payload: &mut Option<Cow<'_, Payload>>,
        crossed: bool,
    ) -> Cow<'h, http::HeaderMap> {
        let mut sent = Cow::Borrowed(&self.shared.headers);
        if crossed {
            for name in [
                header::AUTHORIZATION,
                header::COOKIE,
                header::PROXY_AUTHORIZATION,
            ] {
                if sent.contains_key(&name) {
                    sent.to_mut().remove(&name);
                }
                if let Some(p) = payload.as_mut() {
                    if p.headers().contains_key(&name) {
                        p.to_mut().remove_field(&name);
                    }
                }
            }
        }
        // A field of our own, unless the run's fields or the request's own
        // give it: what was given wins.
        let mut add_unless_given = |name: header::HeaderName, value| {
            let given = sent.contains_key(&name)
                || payload
                    .as_ref()
                    .is_some_and(|p| p.headers().contains_key(&name));
            if !given {
                sent.to_mut().insert(name, value);
            }
        };
        // Credentials in the URL itself, as curl and browsers send them.
        if let Some(credentials) = basic_auth(url) {
            add_unless_given(header::AUTHORIZATION, credentials);
        }
        // The jar's cookies for this hop's URL: one field, as RFC 6265
        // wants.
        if let Some(cookie) = self.shared.jar.as_ref().and_then(|jar| jar.field(url)) {
            add_unless_given(header::COOKIE, cookie);
        }
        sent
    }

    /// Where a redirect (`head`, the answer `url` gave) goes, as hop `hops`
    /// of a chain that began at `first_origin`: its `Location` resolved, an
    /// http or https URL, without credentials of its own for another
    /// origin, within the redirect limit.
    fn next_hop(
        &self,
        head: &Head,
        url: &Url,
        first_origin: &url::Origin,
        hops: usize,
    ) -> Result<Url, FetchError> {
        let fail = FetchError::immediate;
        let location = head.location.as_deref().unwrap_or_default();
        let mut next = std::str::from_utf8(location)
            .ok()
            .and_then(|l| url.join(l).ok())
            .ok_or_else(|| {
                fail(
                    Kind::Redirect,
                    format!(
                        "{} to an unusable Location {:?}",
                        head.status,
                        String::from_utf8_lossy(location)
                    ),
                )
            })?;
        if !matches!(next.scheme(), "http" | "https") {
            return Err(fail(
                Kind::Redirect,
                format!("redirect to {next}: only http and https are followed"),
            ));
        }
        // Credentials in a URL go only to the origin the user named (curl's
        // rule): a Location carrying its own `user:pass@` for another origin
        // does not make us send them there.
        if next.origin() != *first_origin && has_credentials(&next) {
            let _ = next.set_username("");
            let _ = next.set_password(None);
        }
        if hops > self.shared.config.max_redirects {
            return Err(fail(
                Kind::Redirect,
                format!(
                    "more than the redirect limit of {} (the last to {next})",
                    self.shared.config.max_redirects
                ),
            )
            .about(Setting::MaxRedirects));
        }
        Ok(next)
    }
}

/// A redirect to follow: a redirect status with a `Location` (without
/// one, the answer is an answer in itself).
pub(super) fn is_redirect(head: &Head) -> bool {
    matches!(head.status, 301 | 302 | 303 | 307 | 308) && head.location.is_some()
}

/// The most of a redirect's body read to keep its connection; past it, the
/// connection is closed instead.
const REDIRECT_BODY: u64 = 64 * 1024;
