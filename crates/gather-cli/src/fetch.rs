//! One URL, fetched robustly: per-request timeout, retries with
//! exponential backoff and jitter for connection failures, 429 and 5xx
//! (honouring `Retry-After`), redirects up to a limit, and a body size cap
//! enforced while streaming, so an endless body is an error, not an
//! out-of-memory crash.
//!
//! Requests go through the crate's own HTTP/1.1 client ([`crate::client`]):
//! redirects, timeouts and retries are the few lines below, where their
//! rules can be read.

use std::borrow::Cow;
use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

// tokio's clock, the one every wait and timeout in the run is measured
// on: a single clock, so that elapsed times agree with timeouts (and read
// the paused time in tests).
use tokio::time::Instant;

use http::header::{self, HeaderMap, HeaderValue};
use http::StatusCode;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use url::Url;

use crate::client::origin::Turn;
use crate::client::{
    self, basic_auth, has_credentials, Body, Client, ErrorKind, Head, Response, Version,
};
use crate::config::FetchConfig;
use crate::decode::{decode, Coding, DecodeError, ACCEPT_ENCODING};
use crate::failure::{FetchError, Kind};

/// A fetched page.
#[derive(Debug)]
pub struct Page {
    pub final_url: String,
    pub status: u16,
    /// The HTTP version of the answer.
    pub version: Version,
    /// The body's size as delivered: decoded, when it was.
    pub bytes: u64,
    /// The answer's `Content-Encoding`, when it had one. Boxed: rare, and
    /// every request's future holds a `Page`.
    pub encoding: Option<Box<Encoding>>,
    /// Kept only when the body is printed (`--body`).
    pub body: Option<Vec<u8>>,
    /// Where the body was saved (`--save-dir`).
    pub saved: Option<PathBuf>,
    pub elapsed: Duration,
    pub retries: u32,
}

/// How an answer's body came, from its `Content-Encoding`. Two words: it
/// is held across every read of the body, in every request's future.
enum Sent {
    /// As it is (no coding, or `identity`).
    AsIs,
    /// In a coding this client decodes.
    Encoded(Coding),
    /// In a coding not decoded (`--raw`, or unknown): named in the record.
    Named(Box<str>),
}

/// A body being written to its file under `--save-dir` as it arrives.
/// Dropped before [`finish`](SaveFile::finish) (the body failed, or the
/// request was cancelled), it removes the file: a file under `--save-dir`
/// is always a whole body that its line names.
struct SaveFile {
    path: PathBuf,
    file: Option<tokio::fs::File>,
}

impl SaveFile {
    async fn create(path: PathBuf) -> Result<SaveFile, FetchError> {
        match tokio::fs::File::create(&path).await {
            Ok(file) => Ok(SaveFile {
                path,
                file: Some(file),
            }),
            Err(e) => Err(save_error(&path, e)),
        }
    }

    async fn write(&mut self, chunk: &[u8]) -> Result<(), FetchError> {
        use tokio::io::AsyncWriteExt;
        let file = self.file.as_mut().expect("written before finish");
        file.write_all(chunk)
            .await
            .map_err(|e| save_error(&self.path, e))
    }

    /// Every byte is on its way to the disk: the path, for the record.
    async fn finish(mut self) -> Result<PathBuf, FetchError> {
        use tokio::io::AsyncWriteExt;
        let mut file = self.file.take().expect("finished once");
        file.flush().await.map_err(|e| save_error(&self.path, e))?;
        Ok(std::mem::take(&mut self.path))
    }
}

impl Drop for SaveFile {
    fn drop(&mut self) {
        if self.file.take().is_some() {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

fn save_error(path: &std::path::Path, e: std::io::Error) -> FetchError {
    FetchError::immediate(Kind::Save, format!("cannot write {}: {e}", path.display()))
}

/// A body's `Content-Encoding`, as its record reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoding {
    /// The coding (`gzip`, `br`, ...), or the value as sent when it was
    /// not decoded (`--raw`, or a coding this client does not know).
    pub name: String,
    /// The body's size on the wire, when it was decoded.
    pub wire_bytes: Option<u64>,
}

/// Shares one connection pool between all requests.
pub struct Fetcher {
    client: Client,
    /// Sent with every request: `-H`, then `User-Agent` and `Accept` unless
    /// `-H` gave them.
    headers: HeaderMap,
    config: FetchConfig,
    jitter: AtomicU64,
}

impl Fetcher {
    pub fn new(config: FetchConfig) -> Result<Fetcher, String> {
        let mut headers = config.headers.clone();
        if !headers.contains_key(header::USER_AGENT) {
            let agent = HeaderValue::from_str(&config.user_agent)
                .map_err(|e| format!("--user-agent {:?}: {e}", config.user_agent))?;
            headers.insert(header::USER_AGENT, agent);
        }
        if !headers.contains_key(header::ACCEPT) {
            headers.insert(header::ACCEPT, HeaderValue::from_static("*/*"));
        }
        // Unless `--raw`, or `-H` chose the codings itself (those this
        // client knows are still decoded).
        if config.decode && !headers.contains_key(header::ACCEPT_ENCODING) {
            headers.insert(
                header::ACCEPT_ENCODING,
                HeaderValue::from_static(ACCEPT_ENCODING),
            );
        }
        let client = Client::new(tls_config(config.cacert.as_deref())?, config.limit)
            .with_proxies(config.proxies.clone())
            .with_versions(config.versions)
            .with_politeness(config.politeness);
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0x9E37_79B9_7F4A_7C15, |d| d.as_nanos() as u64)
            | 1;
        Ok(Fetcher {
            client,
            headers,
            config,
            jitter: AtomicU64::new(seed),
        })
    }

    /// A number in [0.5, 1.5) for jitter: xorshift, good enough to spread
    /// retries apart, not for anything else.
    ///
    /// Relaxed load and store, not a read-modify-write: the state orders
    /// nothing else, and two retries racing here may draw the same factor,
    /// which only makes their jitter alike once.
    fn jitter_factor(&self) -> f64 {
        let mut x = self.jitter.load(Ordering::Relaxed);
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.jitter.store(x, Ordering::Relaxed);
        0.5 + (x >> 11) as f64 / (1u64 << 53) as f64
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let base = self.config.retry_base.as_secs_f64() * 2f64.powi(attempt as i32);
        Duration::from_secs_f64((base * self.jitter_factor()).min(MAX_BACKOFF.as_secs_f64()))
    }

    /// Fetches `url` (the job at `index`), retrying as configured.
    //
    // A plain fn returning an async block rather than an async fn, here
    // and in the other steps of a request: an async fn keeps its arguments
    // twice in its state, and every request's future holds all of them.
    #[allow(clippy::manual_async_fn)]
    pub fn fetch<'a>(
        &'a self,
        index: usize,
        url: &'a Url,
    ) -> impl Future<Output = Result<Page, FetchError>> + Send + 'a {
        async move {
            let start = Instant::now();
            // Time spent waiting for turns: not the request's own, so not
            // in its `elapsed_ms` (a run held to 8 connections per host
            // would otherwise report its queue as latency).
            let waits = Waits::default();
            let mut retries = 0;
            loop {
                // In a block of its own, so that the attempt's result is not
                // held (and given room in this future) across the wait.
                let wait = {
                    let attempt = self.attempt(index, url, &waits).await;
                    let wait = match &attempt {
                        Ok((page, after))
                            if retryable_status(page.status) && retries < self.config.retries =>
                        {
                            Some(after.unwrap_or_else(|| self.backoff(retries)))
                        }
                        Err(e) if e.kind == Kind::Connect && retries < self.config.retries => {
                            Some(self.backoff(retries))
                        }
                        _ => None,
                    };
                    let Some(wait) = wait else {
                        let elapsed = start.elapsed().saturating_sub(waits.queued());
                        return self.finish(attempt, elapsed, retries);
                    };
                    wait
                };
                // Boxed: a timer is over 100 bytes, rarely needed.
                Box::pin(tokio::time::sleep(wait)).await;
                retries += 1;
            }
        }
    }

    /// The last attempt's result, with the time and retries it took in all.
    fn finish(
        &self,
        attempt: Result<(Page, Option<Duration>), FetchError>,
        elapsed: Duration,
        retries: u32,
    ) -> Result<Page, FetchError> {
        match attempt {
            Ok((page, _)) if self.config.fail_on_status && page.status >= 400 => Err(FetchError {
                kind: Kind::Status,
                message: format!("HTTP status {}", page.status),
                elapsed,
                retries,
            }),
            Ok((page, _)) => Ok(Page {
                elapsed,
                retries,
                ..page
            }),
            Err(e) => Err(FetchError {
                elapsed,
                retries,
                ..e
            }),
        }
    }

    /// One request, redirects followed, within `--timeout`: the page, and
    /// the server's `Retry-After` if it sent one.
    #[allow(clippy::manual_async_fn)]
    fn attempt<'a>(
        &'a self,
        index: usize,
        url: &'a Url,
        waits: &'a Waits,
    ) -> impl Future<Output = Result<(Page, Option<Duration>), FetchError>> + Send + 'a {
        async move {
            // The wait for a turn (--per-host, --rate, a paused host) is not
            // part of the request's time: queued is not slow. The first is
            // waited for here, the hops' (redirects) inside, and the timer is
            // pushed back by their waits.
            waits.start_attempt();
            // The turn goes straight into the call: a local holding it would
            // keep its own room in this future across the attempt.
            let untimed = self.attempt_untimed(
                index,
                url,
                waits
                    .queue(self.client.turn(url))
                    .await
                    .map_err(fetch_error)?,
                waits,
            );
            let mut untimed = std::pin::pin!(untimed);
            let mut timer = std::pin::pin!(tokio::time::sleep(self.config.timeout));
            let finished = std::future::poll_fn(|cx| {
                if let std::task::Poll::Ready(result) = untimed.as_mut().poll(cx) {
                    return std::task::Poll::Ready(Some(result));
                }
                while timer.as_mut().poll(cx).is_ready() {
                    let waited = waits.take();
                    if waited.is_zero() {
                        return std::task::Poll::Ready(None);
                    }
                    let later = timer.deadline() + waited;
                    timer.as_mut().reset(later);
                }
                std::task::Poll::Pending
            });
            match finished.await {
                Some(result) => result,
                None => Err(FetchError::immediate(
                    Kind::Timeout,
                    format!(
                        "no complete answer within --timeout {:?}",
                        self.config.timeout
                    ),
                )),
            }
        }
    }

    #[allow(clippy::manual_async_fn)]
    fn attempt_untimed<'a>(
        &'a self,
        index: usize,
        url: &'a Url,
        turn: Turn,
        waits: &'a Waits,
    ) -> impl Future<Output = Result<(Page, Option<Duration>), FetchError>> + Send + 'a {
        async move {
            // In a block, so that the head (96 bytes) and what was borrowed
            // from it are gone from this future's state during the read: a
            // local that was borrowed keeps its room until its scope ends.
            let (answer, after, body, final_url) = {
                let (Response { mut head, body }, final_url) =
                    self.follow(url, turn, waits).await?;
                let after = retryable_status(head.status)
                    .then(|| retry_after(&head))
                    .flatten();
                if let Some(wait) = after.filter(|_| matches!(head.status, 429 | 503)) {
                    // The server asked for a pause: every request to it waits,
                    // not only this one's retry; other hosts go on.
                    self.client.pause(&final_url, wait);
                }
                let sent = self.sent_as(head.content_encoding.take());
                ((head.status, head.version, sent), after, body, final_url)
            };
            self.read(index, answer, after, body, final_url).await
        }
    }

    /// How the body of an answer with this `Content-Encoding` is read.
    fn sent_as(&self, content_encoding: Option<Vec<u8>>) -> Sent {
        let Some(value) = content_encoding else {
            return Sent::AsIs;
        };
        let parsed = match self.config.decode {
            true => Coding::parse(&value),
            false => Err(String::from_utf8_lossy(&value).trim().to_owned()),
        };
        match parsed {
            Ok(None) => Sent::AsIs,
            Ok(Some(coding)) => Sent::Encoded(coding),
            Err(name) => Sent::Named(name.into_boxed_str()),
        }
    }

    /// Reads the body of the answer `final_url` gave (checking
    /// `--max-bytes`, keeping it if it is printed or saved) into a page.
    //
    // Apart from `attempt_untimed`, and a plain fn returning an async
    // block: in one async fn with `follow`, the reads' state was laid out
    // beside `follow`'s rather than over it, and an `async fn` keeps its
    // arguments twice in its state. Every request's future holds this
    // one, and is allocated and moved with it (as an async fn, the request
    // future is 928 bytes instead of 752).
    #[allow(clippy::manual_async_fn)]
    fn read<'a>(
        &'a self,
        index: usize,
        (status, version, sent): (u16, Version, Sent),
        after: Option<Duration>,
        mut incoming: Body<'a>,
        final_url: Cow<'a, Url>,
    ) -> impl Future<Output = Result<(Page, Option<Duration>), FetchError>> + 'a {
        async move {
            let fail = FetchError::immediate;
            let max = self.config.max_bytes;
            if let Some(len) = incoming.length() {
                if len > max {
                    return Err(fail(
                        Kind::BodyTooLarge,
                        format!("body of {len} bytes is over --max-bytes {max}"),
                    ));
                }
            }
            let wanted = self.config.body || self.config.save_dir.is_some();
            let decoding = matches!(sent, Sent::Encoded(_));
            // --save-dir: a body as sent goes to its file as it arrives, so
            // memory stays at one read whatever its size; a decoded one is
            // written once decoded (its wire bytes are in memory anyway).
            // Boxed, as the redirect chain is: a rare path, kept out of
            // every request's future.
            let mut streamed = match (&self.config.save_dir, decoding) {
                (Some(dir), false) => {
                    let path = dir.join(format!("{index}.body"));
                    Some(Box::new(Box::pin(SaveFile::create(path)).await?))
                }
                _ => None,
            };
            let keep = self.config.body || decoding;
            let mut body = Vec::new();
            let mut bytes: u64 = 0;
            // Once the head has arrived, any failure (a reset, a short body) is
            // a body error: the server answered, so it is not retried. (A
            // file being saved is removed with it: see `SaveFile`.)
            while let Some(chunk) = incoming.chunk().await.map_err(fetch_error)? {
                bytes += chunk.len() as u64;
                if bytes > max {
                    return Err(fail(
                        Kind::BodyTooLarge,
                        format!("body is over --max-bytes {max}"),
                    ));
                }
                if let Some(file) = &mut streamed {
                    Box::pin(file.write(chunk)).await?;
                } else if keep {
                    body.extend_from_slice(chunk);
                }
            }
            let mut encoding = None;
            match sent {
                Sent::AsIs => {}
                Sent::Encoded(coding) => {
                    let wire = std::mem::take(&mut body);
                    bytes = decode(coding, &wire, max, wanted.then_some(&mut body)).map_err(
                        |e| match e {
                            DecodeError::TooLarge => fail(
                                Kind::BodyTooLarge,
                                format!(
                                    "decoded body is over --max-bytes {max} ({} {} bytes on the wire)",
                                    wire.len(),
                                    coding.name()
                                ),
                            ),
                            DecodeError::Corrupt(message) => fail(Kind::Body, message),
                        },
                    )?;
                    encoding = Some(Box::new(Encoding {
                        name: coding.name().to_owned(),
                        wire_bytes: Some(wire.len() as u64),
                    }));
                }
                Sent::Named(name) => {
                    encoding = Some(Box::new(Encoding {
                        name: name.into(),
                        wire_bytes: None,
                    }))
                }
            }
            let saved = match (&self.config.save_dir, streamed) {
                (_, Some(file)) => Some(Box::pin(file.finish()).await?),
                (Some(dir), None) => {
                    let path = dir.join(format!("{index}.body"));
                    // Boxed, as the redirect chain is: a rare path, kept out
                    // of every request's future.
                    Box::pin(tokio::fs::write(&path, &body))
                        .await
                        .map_err(|e| {
                            fail(Kind::Save, format!("cannot write {}: {e}", path.display()))
                        })?;
                    Some(path)
                }
                (None, None) => None,
            };
            let page = Page {
                final_url: final_url.as_str().to_owned(),
                status,
                version,
                bytes,
                encoding,
                body: self.config.body.then_some(body),
                saved,
                elapsed: Duration::ZERO,
                retries: 0,
            };
            Ok((page, after))
        }
    }

    /// Sends a GET for `url` and follows redirects, up to
    /// `--max-redirects`: the first answer that is not a redirect, and the
    /// URL that gave it.
    ///
    /// Each hop is a GET (as browsers do for 301, 302 and 303, and as 307
    /// and 308 require of a GET). Credentials (`Authorization`, cookies) sent
    /// with `-H` go only to the origin they were meant for: a hop to another
    /// scheme, host or port drops them for the rest of the chain.
    #[allow(clippy::manual_async_fn)]
    fn follow<'a>(
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

/// The time a request spent waiting for turns: in all (`queued`, which its
/// `elapsed_ms` leaves out), and during the current attempt's later hops
/// (redirects), which that attempt's `--timeout` does not count.
///
/// Atomics rather than `Cell`s only so that the request's future is
/// `Send`: one task owns it, and its moves between threads are ordered by
/// the runtime, so `Relaxed` is enough. Three words, in every request's
/// future: times are nanoseconds after one epoch for the process.
#[derive(Default)]
struct Waits {
    /// When the hop's wait going on began, or was last credited to the
    /// timer (0: no wait going on).
    since: AtomicU64,
    /// Waited in hops and not yet credited to the timer, in nanoseconds.
    credit: AtomicU64,
    /// Waited in all, in nanoseconds.
    queued: AtomicU64,
}

impl Waits {
    /// Nanoseconds since the epoch, plus one (never 0). tokio's clock, so
    /// that tests on paused time see the waits they make.
    fn now() -> u64 {
        static EPOCH: std::sync::OnceLock<tokio::time::Instant> = std::sync::OnceLock::new();
        let epoch = *EPOCH.get_or_init(tokio::time::Instant::now);
        epoch.elapsed().as_nanos() as u64 + 1
    }

    /// A new attempt: nothing to credit to its timer yet.
    fn start_attempt(&self) {
        self.since.store(0, Ordering::Relaxed);
        self.credit.store(0, Ordering::Relaxed);
    }

    /// Awaits an attempt's first turn (before its timer starts), counting
    /// it as queued.
    async fn queue<T>(&self, wait: impl Future<Output = T>) -> T {
        let began = Waits::now();
        let done = wait.await;
        self.queued
            .fetch_add(Waits::now() - began, Ordering::Relaxed);
        done
    }

    /// Awaits a hop's turn (while the attempt's timer runs), counting it
    /// as queued and crediting it to the timer.
    async fn during<T>(&self, wait: impl Future<Output = T>) -> T {
        let began = Waits::now();
        self.since.store(began, Ordering::Relaxed);
        let done = wait.await;
        let now = Waits::now();
        let since = self.since.swap(0, Ordering::Relaxed);
        if since != 0 {
            self.credit
                .fetch_add(now.saturating_sub(since), Ordering::Relaxed);
        }
        self.queued.fetch_add(now - began, Ordering::Relaxed);
        done
    }

    /// The time to credit to the timer since the last call, a hop's wait
    /// going on included.
    fn take(&self) -> Duration {
        let mut waited = self.credit.swap(0, Ordering::Relaxed);
        let since = self.since.load(Ordering::Relaxed);
        if since != 0 {
            let now = Waits::now();
            waited += now.saturating_sub(since);
            self.since.store(now, Ordering::Relaxed);
        }
        Duration::from_nanos(waited)
    }

    /// Waited for turns in all.
    fn queued(&self) -> Duration {
        Duration::from_nanos(self.queued.load(Ordering::Relaxed))
    }
}

/// A redirect to follow: a redirect status with a `Location` (without
/// one, the answer is an answer in itself).
fn is_redirect(head: &Head) -> bool {
    matches!(head.status, 301 | 302 | 303 | 307 | 308) && head.location.is_some()
}

/// The most of a redirect's body read to keep its connection; past it, the
/// connection is closed instead.
const REDIRECT_BODY: u64 = 64 * 1024;

/// The roots HTTPS trusts: the web's (webpki-roots, so nothing is read from
/// the system) and those of `--cacert`.
pub fn tls_config(cacert: Option<&[u8]>) -> Result<rustls::ClientConfig, String> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    for cert in pem_certificates(cacert.unwrap_or_default())? {
        roots
            .add(cert)
            .map_err(|e| format!("--cacert: unusable certificate: {e}"))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("cannot set up TLS: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// The certificates in a PEM file (other PEM sections are skipped).
pub fn pem_certificates(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    CertificateDer::pem_slice_iter(pem)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("not a PEM certificate file: {e}"))
}

/// The longest wait between two attempts, including a server's `Retry-After`.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

fn retryable_status(status: u16) -> bool {
    status == StatusCode::TOO_MANY_REQUESTS.as_u16() || (500..600).contains(&status)
}

/// `Retry-After` in seconds (an HTTP date falls back to backoff), capped.
fn retry_after(head: &Head) -> Option<Duration> {
    let secs: u64 = std::str::from_utf8(head.retry_after.as_deref()?)
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(Duration::from_secs(secs).min(MAX_BACKOFF))
}

/// The record's `error.kind` for a request that got no usable answer:
/// `connect` (retried) when the connection failed or was lost before the
/// answer's head, as a server restarting or overloaded does.
fn fetch_error(e: client::Error) -> FetchError {
    let kind = match e.kind {
        ErrorKind::Connect | ErrorKind::Lost => Kind::Connect,
        ErrorKind::Tls => Kind::Tls,
        ErrorKind::Protocol => Kind::Protocol,
        ErrorKind::Body => Kind::Body,
        ErrorKind::Proxy => Kind::Proxy,
    };
    FetchError::immediate(kind, e.message)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A configuration for one request at a time, with `timeout`,
    /// `max_bytes` and `versions`.
    fn config(timeout: Duration, max_bytes: u64, versions: crate::client::Versions) -> FetchConfig {
        FetchConfig {
            limit: 1,
            timeout,
            retries: 0,
            retry_base: Duration::from_millis(1),
            max_bytes,
            max_redirects: 0,
            headers: HeaderMap::new(),
            user_agent: "test".into(),
            cacert: None,
            fail_on_status: false,
            body: false,
            save_dir: None,
            decode: true,
            proxies: crate::client::proxy::Proxies::none(),
            versions,
            politeness: crate::client::origin::Politeness::NONE,
        }
    }

    /// Every URL's request future is allocated and moved once per URL
    /// (`run.rs`). Rare paths (redirects, retries' waits, saving) are boxed
    /// to keep it small: at 1,984 bytes it was past what malloc serves from
    /// its per-thread cache (1,032), and its allocation and copies showed
    /// in the profile of a run against nginx. This catches a change that
    /// brings the state of a rare path back inline.
    #[test]
    fn a_request_future_stays_under_a_kilobyte() {
        let config = config(
            Duration::from_secs(1),
            1,
            crate::client::Versions::Negotiate,
        );
        let fetcher = Fetcher::new(config).unwrap();
        let url = Url::parse("http://127.0.0.1:1/").unwrap();
        let size = std::mem::size_of_val(&fetcher.fetch(0, &url));
        // 904 bytes in a release build (752 before HTTP/2 and per-origin
        // turns: the turn, the hops' waits and the HTTP/2 body are in every
        // request's future); the run's future around it adds ~220 more.
        assert!(size < 1024, "Fetcher::fetch's future is {size} bytes");
    }

    /// `elapsed_ms` is measured on tokio's clock, as every wait and timeout
    /// is: under a paused clock a request the server answers after 2 s
    /// reads 2 s (std's clock read about 0), and it agrees with
    /// `--timeout`.
    #[tokio::test(start_paused = true)]
    async fn elapsed_is_on_the_clock_of_the_waits() {
        let server = gather_pageserver::Server::start(Duration::ZERO)
            .await
            .unwrap();
        let config = config(
            Duration::from_secs(3600),
            1 << 20,
            crate::client::Versions::Http1Only,
        );
        let fetcher = Fetcher::new(config).unwrap();
        let url = Url::parse(&server.url("/page/1?delay_ms=2000")).unwrap();
        let page = fetcher.fetch(0, &url).await.unwrap();
        assert_eq!(page.status, 200);
        assert!(
            page.elapsed >= Duration::from_secs(2) && page.elapsed < Duration::from_secs(3),
            "elapsed {:?} for an answer 2 s (paused clock) after the request",
            page.elapsed
        );
    }
}
