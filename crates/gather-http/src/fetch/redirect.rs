//! Redirects: followed up to `--max-redirects`, each hop a GET, with
//! credentials kept to the origin they were meant for.

use std::borrow::Cow;
use std::future::Future;

use http::header;
use url::Url;

use super::waits::Waits;
use super::{fetch_error, Fetcher};
use crate::client::origin::Turn;
use crate::client::{basic_auth, has_credentials, Head, Response};
use crate::error::{FetchError, Kind};

impl Fetcher {
    /// Sends a GET for `url` and follows redirects, up to
    /// `--max-redirects`: the first answer that is not a redirect, and the
    /// URL that gave it.
    ///
    /// Each hop is a GET (as browsers do for 301, 302 and 303, and as 307
    /// and 308 require of a GET). Credentials (`Authorization`, cookies) sent
    /// with `-H` go only to the origin they were meant for: a hop to another
    /// scheme, host or port drops them for the rest of the chain.
    #[allow(clippy::manual_async_fn)]
    pub(super) fn follow<'a>(
        &'a self,
        url: &'a Url,
        turn: Turn,
        waits: &'a Waits,
    ) -> impl Future<Output = Result<(Response<'a>, Cow<'a, Url>), FetchError>> + Send + 'a {
        async move {
            // Most requests carry no credentials and get no redirect: that path
            // is kept small, and the chain is boxed. Inline, the chain's state
            // (another URL, the headers to send, a body to drain) made every
            // request's future twice the size, and it is moved and allocated
            // with each request (a 2 KiB allocation misses malloc's per-thread
            // cache, as the profile of a run against nginx showed).
            if !has_credentials(url) {
                let resp = self
                    .client
                    .get(url, &self.headers, turn)
                    .await
                    .map_err(fetch_error)?;
                if !is_redirect(&resp.head) {
                    return Ok((resp, Cow::Borrowed(url)));
                }
                return Box::pin(self.follow_chain(url, Ok(resp), waits)).await;
            }
            Box::pin(self.follow_chain(url, Err(turn), waits)).await
        }
    }

    /// [`follow`](Fetcher::follow)'s loop, from `first` (the answer `url`
    /// already gave, when it has no credentials) or from the start, with
    /// `url`'s turn (later hops wait for their own).
    async fn follow_chain<'c, 'u>(
        &'c self,
        url: &'u Url,
        first: Result<Response<'c>, Turn>,
        waits: &Waits,
    ) -> Result<(Response<'c>, Cow<'u, Url>), FetchError> {
        let (mut first, mut turn) = match first {
            Ok(resp) => (Some(resp), None),
            Err(turn) => (None, Some(turn)),
        };
        let fail = FetchError::immediate;
        let first_origin = url.origin();
        let mut url = Cow::Borrowed(url);
        // Copied (to drop credentials) only on a hop to another origin.
        let mut headers = Cow::Borrowed(&self.headers);
        let mut hops = 0;
        loop {
            let resp = match first.take() {
                Some(resp) => resp,
                None => {
                    // Credentials in the URL itself, as curl and browsers
                    // send them; an Authorization given with -H wins.
                    let sent = match basic_auth(&url) {
                        Some(credentials) if !headers.contains_key(header::AUTHORIZATION) => {
                            let mut with = headers.as_ref().clone();
                            with.insert(header::AUTHORIZATION, credentials);
                            Cow::Owned(with)
                        }
                        _ => Cow::Borrowed(headers.as_ref()),
                    };
                    let turn = match turn.take() {
                        Some(turn) => turn,
                        // A later hop waits for its own turn; the
                        // attempt's timer does not count the wait.
                        None => waits
                            .during(self.client.turn(&url))
                            .await
                            .map_err(fetch_error)?,
                    };
                    self.client
                        .get(&url, &sent, turn)
                        .await
                        .map_err(fetch_error)?
                }
            };
            let location = match &resp.head.location {
                Some(location) if is_redirect(&resp.head) => location,
                _ => return Ok((resp, url)),
            };
            let mut next = std::str::from_utf8(location)
                .ok()
                .and_then(|l| url.join(l).ok())
                .ok_or_else(|| {
                    fail(
                        Kind::Redirect,
                        format!(
                            "{} to an unusable Location {:?}",
                            resp.head.status,
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
            // Credentials in a URL go only to the origin the user named
            // (curl's rule): a Location carrying its own `user:pass@` for
            // another origin does not make us send them there.
            if next.origin() != first_origin && has_credentials(&next) {
                let _ = next.set_username("");
                let _ = next.set_password(None);
            }
            hops += 1;
            if hops > self.config.max_redirects {
                return Err(fail(
                    Kind::Redirect,
                    format!(
                        "more than --max-redirects {} redirects (the last to {next})",
                        self.config.max_redirects
                    ),
                ));
            }
            // Read to its end, a redirect's (small) body leaves its
            // connection free for the next hop, often to the same server.
            resp.body.drain(REDIRECT_BODY).await;
            if next.origin() != url.origin() {
                let headers = headers.to_mut();
                for name in [
                    header::AUTHORIZATION,
                    header::COOKIE,
                    header::PROXY_AUTHORIZATION,
                ] {
                    headers.remove(name);
                }
            }
            url = Cow::Owned(next);
        }
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
