//! What the client knows and holds per origin (scheme, host and port): the
//! protocol it speaks, its HTTP/2 connection, how many requests it may
//! have at once (its window, which adapts by default: see `window.rs`; or
//! a fixed number), and when the next one may start (a rate per host, and
//! a `Retry-After` that paused it).
//!
//! A request takes a [`Turn`] before it is sent: it waits for a permit
//! and for its time, and holds the permit until its body is read or
//! dropped. The waiting happens before `--timeout` starts counting: a
//! request queued behind a polite limit has not been slow, only patient.
//!
//! **Finding out the protocol.** Whether an https origin speaks HTTP/2 is
//! known only once a TLS handshake has offered it (ALPN). Until then the
//! first request to the origin is its *probe*: the others wait until its
//! connection is up, then share it (HTTP/2) or open their own (HTTP/1.1),
//! so a run of 64 requests to a new HTTP/2 origin opens one connection,
//! not 64 (curl `--parallel` waits the same way). A probe that fails hands
//! the role to the next request.
//!
//! **Bounded.** The table of origins is swept of entries no request holds
//! whenever it doubles, so a run over a million hosts keeps as many
//! entries as it has requests in flight, plus recently paused ones; an
//! entry swept away closes its idle HTTP/2 connection.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Semaphore;
// tokio's clock, so that the pacing tests run on paused time.
use tokio::time::Instant;

use super::pacing::{Bucket, Pacing, Taken};
use super::ratelimit::Announced;
use super::window::{self, Move, Status, Window};
use super::{http2, lock};

/// How many requests an origin may have at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PerHost {
    /// A window that adapts to the latency the origin shows (see
    /// `window.rs`), from 8 up to 256 or the run's limit, the lower (over
    /// HTTP/2, the server's stream limit too).
    Auto,
    /// This many, always: connections over HTTP/1.1, streams over HTTP/2.
    Fixed(usize),
    /// No limit but the run's (over HTTP/2, the server's stream limit).
    Unlimited,
}

/// Who is told when a window moves (`--verbose`): the origin's
/// `host:port` and the move.
#[derive(Clone)]
pub struct WindowLog(pub Arc<SaysMove>);

/// What a [`WindowLog`] calls: the origin's `host:port` and the move.
pub type SaysMove = dyn Fn(&str, &Move) + Send + Sync;

impl std::fmt::Debug for WindowLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WindowLog(..)")
    }
}

/// The limits a run sets, validated by the configuration.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Politeness {
    /// Requests at once per origin: connections over HTTP/1.1, streams on
    /// its one connection over HTTP/2.
    pub per_host: PerHost,
    /// The least time between two requests to one origin.
    pub host_interval: Option<Duration>,
    /// The least time between two requests of the whole run.
    pub overall_interval: Option<Duration>,
    /// Tokens per second over the whole run (a client token budget), each
    /// request weighed by [`Payload::weight`](super::Payload::weight).
    pub tokens_per_second: Option<f64>,
    /// Stay under the limits servers announce (`x-ratelimit-*`,
    /// `RateLimit`...): see `pacing`. On unless `--no-server-limits`.
    pub server_limits: bool,
}

impl Politeness {
    /// No limit but `--limit`: what tests of other things use.
    pub const NONE: Politeness = Politeness {
        per_host: PerHost::Unlimited,
        host_interval: None,
        overall_interval: None,
        tokens_per_second: None,
        server_limits: false,
    };
}

/// The protocol an origin was found to speak.
pub enum Protocol {
    /// Not known yet: the next request is the probe.
    Unknown,
    Http1,
    Http2(Arc<http2::Connection>),
}

/// One origin's state.
pub struct Origin {
    /// Its `host:port`, and whether it is https.
    authority: Box<str>,
    tls: bool,
    /// It could speak HTTP/2 (asked by ALPN, or known to).
    may_h2: bool,
    protocol: Mutex<Protocol>,
    /// One permit, held by the request finding out the protocol (or
    /// opening the next HTTP/2 connection after one went away).
    probe: Semaphore,
    h1: Option<Window>,
    h2: Option<Window>,
    /// Told when a window moves.
    log: Option<WindowLog>,
    /// When it was made: what its turns' times count from.
    made: Instant,
    /// The run's requests on the wire, over every origin: the limit.
    on_the_wire: Arc<Semaphore>,
    /// When the next request may start under `--rate-per-host`.
    next: Mutex<Instant>,
    /// The last probe ended without finding out the protocol (it failed,
    /// or its request was dropped by a timeout): until one succeeds, the
    /// requests do not wait for each other's connections but connect at
    /// once, each its own, as over HTTP/1.1. Without this, every request
    /// to a host that never answers would wait for the one before it to
    /// time out. Relaxed: it only chooses between two correct ways to go.
    probe_failed: std::sync::atomic::AtomicBool,
    /// Until when a `Retry-After` paused this origin, in nanoseconds after
    /// the table's epoch (0: not paused). Relaxed: a request that reads an
    /// old value starts as it would have a moment before the pause.
    paused_until: AtomicU64,
    /// The copies of the budgets its server announces.
    pacing: Pacing,
}

impl Origin {
    fn new(
        rules: &Politeness,
        (cap, on_the_wire): (usize, Arc<Semaphore>),
        tls: bool,
        authority: &str,
        may_h2: bool,
        log: Option<WindowLog>,
    ) -> Origin {
        let window = || match rules.per_host {
            PerHost::Auto => Some(Window::adaptive(window::START, cap.min(window::MOST))),
            PerHost::Fixed(n) => Some(Window::fixed(n)),
            PerHost::Unlimited => None,
        };
        // Until the first answer says whether the server announces limits,
        // pacing holds an origin to what the window starts with.
        let first_burst = match rules.per_host {
            PerHost::Auto => Some(window::START),
            PerHost::Fixed(n) => Some(n),
            PerHost::Unlimited => None,
        };
        Origin {
            authority: authority.into(),
            tls,
            may_h2,
            protocol: Mutex::new(match may_h2 {
                true => Protocol::Unknown,
                false => Protocol::Http1,
            }),
            probe: Semaphore::new(1),
            h1: window(),
            h2: window(),
            log,
            made: Instant::now(),
            on_the_wire,
            next: Mutex::new(Instant::now()),
            probe_failed: std::sync::atomic::AtomicBool::new(false),
            paused_until: AtomicU64::new(0),
            pacing: Pacing::new(rules.server_limits, first_burst),
        }
    }

    /// Microseconds since it was made, wrapping (see `Turn::given`).
    fn micros(&self) -> u32 {
        self.made.elapsed().as_micros() as u32
    }

    /// Its `host:port`.
    pub fn authority(&self) -> &str {
        &self.authority
    }

    /// It is an https origin.
    pub fn is_tls(&self) -> bool {
        self.tls
    }

    /// It could speak HTTP/2: ALPN asks https origins (unless
    /// `--http1.1`), and `--http2-prior-knowledge` assumes it of plain ones.
    pub fn may_h2(&self) -> bool {
        self.may_h2
    }

    /// Its HTTP/2 connection, when it has one.
    pub fn http2(&self) -> Option<Arc<http2::Connection>> {
        match &*lock(&self.protocol) {
            Protocol::Http2(c) => Some(c.clone()),
            _ => None,
        }
    }

    /// The origin is known to speak HTTP/1.1 only.
    pub fn is_http1(&self) -> bool {
        matches!(*lock(&self.protocol), Protocol::Http1)
    }

    /// The origin speaks HTTP/2, over `connection` from now on.
    pub fn set_http2(&self, connection: Arc<http2::Connection>) {
        *lock(&self.protocol) = Protocol::Http2(connection);
        self.probe_failed.store(false, Ordering::Relaxed);
    }

    /// The origin answered a TLS handshake without HTTP/2.
    pub fn set_http1(&self) {
        *lock(&self.protocol) = Protocol::Http1;
        self.probe_failed.store(false, Ordering::Relaxed);
    }

    /// The last probe failed: requests connect without waiting for one.
    pub fn probe_failed(&self) -> bool {
        self.probe_failed.load(Ordering::Relaxed)
    }

    /// `gone` can take no more requests: the next request opens a new
    /// connection (unless another already replaced it).
    pub fn forget_http2(&self, gone: &Arc<http2::Connection>) {
        let mut protocol = lock(&self.protocol);
        if matches!(&*protocol, Protocol::Http2(c) if Arc::ptr_eq(c, gone)) {
            *protocol = Protocol::Unknown;
        }
    }

    /// Whose permits a request takes (`HELD_H1` or `HELD_H2`), once the
    /// protocol is known.
    fn known_permits(&self) -> Option<u8> {
        match &*lock(&self.protocol) {
            Protocol::Unknown => None,
            Protocol::Http1 => Some(HELD_H1),
            Protocol::Http2(_) => Some(HELD_H2),
        }
    }

    fn permits(&self, held: u8) -> Option<&Window> {
        match held {
            HELD_H1 => self.h1.as_ref(),
            HELD_H2 => self.h2.as_ref(),
            _ => None,
        }
    }

    /// Its window's state (the HTTP/2 one once it speaks HTTP/2), when it
    /// adapts.
    pub fn window(&self) -> Option<Status> {
        let held = self.known_permits().unwrap_or(HELD_H1);
        self.permits(held)?.status()
    }

    /// How many requests it lets go at once now: its window's size (the
    /// HTTP/2 one once it speaks HTTP/2); `usize::MAX` without a limit per
    /// origin (`--per-host 0`).
    pub fn capacity(&self) -> usize {
        let held = self.known_permits().unwrap_or(HELD_H1);
        self.permits(held).map_or(usize::MAX, Window::size)
    }

    /// A request to it failed in a way that says it is overloaded (a
    /// connection refused or reset, a timeout): its window halves.
    pub fn overloaded(&self) {
        let held = self.known_permits().unwrap_or(HELD_H1);
        if let Some(moved) = self.permits(held).and_then(Window::overloaded) {
            self.said(&moved);
        }
    }

    fn said(&self, moved: &Move) {
        if let Some(log) = &self.log {
            (log.0)(&self.authority, moved);
        }
    }

    fn paused_until(&self, epoch: Instant) -> Option<Instant> {
        match self.paused_until.load(Ordering::Relaxed) {
            0 => None,
            n => Some(epoch + Duration::from_nanos(n)),
        }
    }
}

/// A request's right to go: the permit it holds until its body is read,
/// and, for the probe of a new origin, the right to find out its protocol.
///
/// Two words: a turn travels with every request, through every future
/// down to its body. So the permits are not tokio's owned permits (an
/// `Arc` and a count each) but flags, given back to the origin's
/// semaphores when the turn is dropped.
pub struct Turn {
    pub origin: Arc<Origin>,
    /// `HELD_H1`, `HELD_H2` or 0: whose permit this turn holds.
    permit: u8,
    probe: bool,
    /// It took its weight from the origin's pacing (given back on drop).
    paced: bool,
    /// Its weight in tokens.
    weight: u32,
    /// It holds one of the run's permits to be on the wire (the limit).
    wire: bool,
    /// When it was given, in microseconds since its origin was made
    /// (wrapping): an answer's latency is counted from here. Four bytes,
    /// not an `Instant`'s sixteen: every request's future holds its turn
    /// in several places. Right for latencies under 71 minutes.
    given: u32,
}

const HELD_H1: u8 = 1;
const HELD_H2: u8 = 2;

impl Turn {
    /// Its origin answered it with `status` and `announced` (or no
    /// limits): the requests after it are paced by what the answer said
    /// (see `pacing`), a refused request's weight is given back (a 429),
    /// and the window learns the answer's latency, or that the server is
    /// overloaded (a 429 or 503).
    pub fn answered(&self, announced: Option<&Announced>, status: u16) {
        let refused = (status == 429).then_some(Taken {
            weight: self.weight,
        });
        self.origin.pacing.answered(announced, refused);
        let Some(window) = self.origin.permits(self.permit) else {
            return;
        };
        let moved = match status {
            429 | 503 => window.overloaded(),
            _ => window.answered(Duration::from_micros(u64::from(
                self.origin.micros().wrapping_sub(self.given),
            ))),
        };
        if let Some(moved) = moved {
            self.origin.said(&moved);
        }
    }

    /// This request finds out the origin's protocol: the others wait.
    #[cfg(test)]
    pub(crate) fn is_probe(&self) -> bool {
        self.probe
    }

    /// The origin's protocol is known (or its probe failed): the requests
    /// waiting for it go on.
    ///
    /// A probe that ends with the protocol still unknown failed (an error,
    /// or a timeout that dropped its request): see `Origin::probe_failed`.
    pub fn end_probe(&mut self) {
        if std::mem::take(&mut self.probe) {
            if matches!(*lock(&self.origin.protocol), Protocol::Unknown) {
                self.origin.probe_failed.store(true, Ordering::Relaxed);
            }
            self.origin.probe.add_permits(1);
        }
    }

    /// Takes the probe's permit once it knows the protocol (HTTP/2 or
    /// not), unless it holds one already (a request sent again after a
    /// GOAWAY). For HTTP/1.1 it is called before
    /// [`end_probe`](Turn::end_probe), so that no request opens a
    /// connection before the probe's is counted (none holds an HTTP/1.1
    /// permit before the protocol is known); for HTTP/2 after it, since
    /// requests waiting for the new connection may hold every permit.
    pub async fn hold(&mut self, http2: bool) {
        if self.permit != 0 {
            return;
        }
        let held = if http2 { HELD_H2 } else { HELD_H1 };
        if let Some(permits) = self.origin.permits(held) {
            permits.take().await;
            self.permit = held;
        }
    }

    /// Waits for the right to open the origin's next connection (the last
    /// HTTP/2 one went away); [`end_probe`](Turn::end_probe) gives it back.
    pub async fn claim_probe(&mut self) {
        if !self.probe {
            if let Ok(permit) = self.origin.probe.acquire().await {
                permit.forget();
                self.probe = true;
            }
        }
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        self.end_probe();
        if self.paced {
            self.origin.pacing.end(Taken {
                weight: self.weight,
            });
        }
        if let Some(permits) = self.origin.permits(self.permit) {
            permits.give_back();
        }
        if self.wire {
            self.origin.on_the_wire.add_permits(1);
        }
    }
}

/// Every origin the run has requests to.
pub struct Origins {
    table: Mutex<Table>,
    rules: Politeness,
    /// The run's limit: requests on the wire at once, over every origin,
    /// taken once a request has its origin's turn. Not the number of
    /// requests *started*: a request waiting for a slow origin's turn
    /// holds none, so it does not hold back the requests to other origins
    /// behind it (ten sites at once each go at their own pace). What a
    /// window grows to at most.
    on_the_wire: Arc<Semaphore>,
    /// The limit's permits in all.
    cap: usize,
    log: Option<WindowLog>,
    /// When the next request of the run may start, under `--rate`.
    overall_next: Mutex<Instant>,
    /// `--tokens-per-minute`'s budget.
    overall_tokens: Option<Mutex<Bucket>>,
    epoch: Instant,
}

struct Table {
    /// By authority (`host:port`), for http and for https.
    by_scheme: [ByAuthority; 2],
    /// The size at which entries no request holds are swept out.
    sweep_at: usize,
}

// FNV-1a for the table's keys: an authority is a dozen or two bytes,
// hashed once per request, where SipHash spent ~230 instructions
// (callgrind). Flooding is no concern: the keys are the user's own URLs,
// and the table holds about as many entries as there are requests in
// flight.
type ByAuthority = HashMap<Box<str>, Arc<Origin>, fnv::FnvBuildHasher>;

/// The table is never swept below this many entries.
const SWEEP_FLOOR: usize = 256;

impl Origins {
    /// The origins of a run of at most `cap` requests at once, each held
    /// to `rules`.
    pub fn new(rules: Politeness, cap: usize) -> Origins {
        let now = Instant::now();
        Origins {
            on_the_wire: Arc::new(Semaphore::new(cap.max(1))),
            cap: cap.max(1),
            log: None,
            table: Mutex::new(Table {
                by_scheme: [ByAuthority::default(), ByAuthority::default()],
                sweep_at: SWEEP_FLOOR,
            }),
            rules,
            overall_next: Mutex::new(now),
            overall_tokens: rules
                .tokens_per_second
                .map(|t| Mutex::new(Bucket::per_second(t))),
            epoch: now,
        }
    }

    pub fn origin(&self, tls: bool, authority: &str, may_h2: bool) -> Arc<Origin> {
        let mut table = lock(&self.table);
        let Table {
            by_scheme,
            sweep_at,
        } = &mut *table;
        let map = &mut by_scheme[tls as usize];
        if let Some(origin) = map.get(authority) {
            return origin.clone();
        }
        if map.len() >= *sweep_at {
            let now = Instant::now();
            map.retain(|_, o| {
                Arc::strong_count(o) > 1
                    || o.paused_until(self.epoch).is_some_and(|p| p > now)
                    || *lock(&o.next) > now
            });
            *sweep_at = (2 * map.len()).max(SWEEP_FLOOR);
        }
        let origin = Arc::new(Origin::new(
            &self.rules,
            (self.cap, self.on_the_wire.clone()),
            tls,
            authority,
            may_h2,
            self.log.clone(),
        ));
        map.insert(authority.into(), origin.clone());
        origin
    }

    /// A request's turn at `authority` if it can go at once (the usual
    /// case: the protocol known, a permit free, no rate or pause), without
    /// the state of a future that waits.
    pub fn turn_now(
        &self,
        tls: bool,
        authority: &str,
        may_h2: bool,
        weight: u32,
    ) -> Result<Turn, Arc<Origin>> {
        let origin = self.origin(tls, authority, may_h2);
        if self.must_pace(&origin, weight) {
            return Err(origin);
        }
        let Some(held) = origin.known_permits() else {
            return Err(origin);
        };
        let permit = match origin.permits(held) {
            None => Some(0),
            Some(permits) => permits.try_take().then_some(held),
        };
        let Some(permit) = permit else {
            return Err(origin);
        };
        let Ok(wire) = origin.on_the_wire.try_acquire() else {
            if let Some(permits) = origin.permits(permit) {
                permits.give_back();
            }
            return Err(origin);
        };
        wire.forget();
        Ok(Turn {
            permit,
            probe: false,
            paced: false,
            wire: true,
            given: origin.micros(),
            origin,
            weight,
        })
    }

    /// Waits for a request's turn at `authority` (over TLS or not):
    /// a permit under `--per-host`, the probe's result if the protocol is
    /// not known yet, and its time under `--rate`, `--rate-per-host` and a
    /// pause. `may_h2`: the origin could speak HTTP/2 (it is asked by
    /// ALPN, or known to with `--http2-prior-knowledge`). The client itself
    /// tries [`turn_now`](Origins::turn_now) first.
    #[cfg(test)]
    pub async fn turn(&self, tls: bool, authority: &str, may_h2: bool) -> Turn {
        let origin = self.origin(tls, authority, may_h2);
        self.turn_at(origin, 0).await
    }

    /// Waits for a request's turn at `origin`: a permit under `--per-host`,
    /// the probe's result if the protocol is not known yet, and its time
    /// under `--rate`, `--rate-per-host` and a pause. For the origin
    /// [`turn_now`](Origins::turn_now) gives back when a request cannot go
    /// at once.
    pub async fn turn_at(&self, origin: Arc<Origin>, weight: u32) -> Turn {
        let mut probe = false;
        let held = loop {
            if let Some(held) = origin.known_permits() {
                break held;
            }
            // Unknown: probe, or wait for the probe and look again; after
            // a failed probe, go on and connect like any request.
            if origin.probe_failed() {
                break HELD_H1;
            }
            // The probe's permit, at once or once the probe before has
            // ended. Kept if the protocol is still to find out: given back
            // and taken again instead, it went round the waiting requests
            // (tokio hands a returned permit to the next in line), none
            // keeping it, for as long as the protocol stayed unknown.
            let permit = match origin.probe.try_acquire() {
                Ok(permit) => permit,
                Err(_) => match origin.probe.acquire().await {
                    Ok(permit) => permit,
                    Err(_) => break HELD_H1, // never closed
                },
            };
            if matches!(*lock(&origin.protocol), Protocol::Unknown) && !origin.probe_failed() {
                // No permit yet: the probe is the only request to the
                // origin until it knows which permits to take (see
                // `Turn::hold`).
                permit.forget();
                probe = true;
                break 0;
            }
            // Known now, or the probe failed: look again.
            drop(permit);
        };
        // Made before the wait, so that a cancelled wait gives back what
        // it holds (the probe) and nothing else.
        let mut turn = Turn {
            origin,
            permit: 0,
            probe,
            paced: false,
            wire: false,
            weight,
            given: 0,
        };
        if let Some(permits) = turn.origin.permits(held) {
            permits.take().await;
            turn.permit = held;
        }
        if self.must_pace(&turn.origin, weight) {
            Box::pin(self.pace(&turn.origin, weight)).await;
            // The server's budgets last: their copy is taken from as the
            // request goes.
            turn.paced = turn.origin.pacing.take(weight).await.is_some();
        }
        // Last, on the wire: a request waiting for its origin holds none of
        // the run's limit. A pause that came while it waited for the limit
        // (a 429 or 503 from its origin) holds it too, the limit given
        // back meanwhile.
        loop {
            if let Ok(wire) = turn.origin.on_the_wire.acquire().await {
                wire.forget();
                turn.wire = true;
            }
            let paused = turn.origin.paused_until(self.epoch);
            match paused.filter(|&until| until > Instant::now()) {
                None => break,
                Some(until) => {
                    turn.origin.on_the_wire.add_permits(1);
                    turn.wire = false;
                    tokio::time::sleep_until(until).await;
                }
            }
        }
        // Its latency counts from now: the waits were the queue's.
        turn.given = turn.origin.micros();
        turn
    }

    /// The same origins, telling `log` when a window moves.
    pub fn with_log(mut self, log: Option<WindowLog>) -> Origins {
        self.log = log;
        self
    }

    /// The windows of the origins in the table, busiest first: each
    /// origin's `host:port` and its window's state.
    pub fn windows(&self) -> Vec<(String, Status)> {
        let table = lock(&self.table);
        let mut windows: Vec<(String, Status)> = table
            .by_scheme
            .iter()
            .flat_map(|map| map.values())
            .filter_map(|o| Some((o.authority.to_string(), o.window()?)))
            .collect();
        windows.sort_by(|a, b| b.1.answered.cmp(&a.1.answered).then(a.0.cmp(&b.0)));
        windows
    }

    /// The origin of a request that failed as an overloaded server fails
    /// (refused, reset, timed out): its window halves.
    pub fn overloaded(&self, tls: bool, authority: &str, may_h2: bool) {
        self.origin(tls, authority, may_h2).overloaded();
    }

    /// A request to `origin` may have to wait for its time: a rate is set,
    /// or the origin was paused (perhaps in the past: `pace` finds out).
    fn must_pace(&self, origin: &Origin, weight: u32) -> bool {
        self.rules.host_interval.is_some()
            || self.rules.overall_interval.is_some()
            || origin.paused_until.load(Ordering::Relaxed) != 0
            || !origin.pacing.is_unlimited()
            || (weight > 0 && self.overall_tokens.is_some())
    }

    /// Waits until `origin` and the run may start another request (of
    /// `weight` tokens).
    async fn pace(&self, origin: &Origin, weight: u32) {
        if let (Some(tokens), true) = (&self.overall_tokens, weight > 0) {
            loop {
                let wait = {
                    let mut tokens = lock(tokens);
                    match tokens.wait_for(weight as f64, Instant::now()) {
                        Some(wait) => wait,
                        None => {
                            tokens.take(weight as f64);
                            break;
                        }
                    }
                };
                tokio::time::sleep(wait).await;
            }
        }
        loop {
            let now = Instant::now();
            let mut at = now;
            if let Some(until) = origin.paused_until(self.epoch) {
                at = at.max(until);
            }
            if let Some(interval) = self.rules.host_interval {
                let mut next = lock(&origin.next);
                at = at.max(*next);
                *next = at + interval;
            }
            if let Some(interval) = self.rules.overall_interval {
                let mut next = lock(&self.overall_next);
                at = at.max(*next);
                *next = at + interval;
            }
            if at <= now {
                return;
            }
            tokio::time::sleep_until(at).await;
            // A pause that came while this request waited holds it too.
            if origin
                .paused_until(self.epoch)
                .is_none_or(|until| until <= Instant::now())
            {
                return;
            }
        }
    }

    /// Holds every request to `authority` (over TLS or not) for `wait`:
    /// its server said `Retry-After`.
    pub fn pause(&self, tls: bool, authority: &str, may_h2: bool, wait: Duration) {
        let origin = self.origin(tls, authority, may_h2);
        let until = (Instant::now() + wait).duration_since(self.epoch);
        let nanos = u64::try_from(until.as_nanos()).unwrap_or(u64::MAX).max(1);
        origin.paused_until.fetch_max(nanos, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(per_host: usize) -> Politeness {
        Politeness {
            per_host: PerHost::Fixed(per_host),
            ..Politeness::NONE
        }
    }

    #[tokio::test]
    async fn a_turn_holds_one_of_the_hosts_permits_until_dropped() {
        let origins = Origins::new(rules(2), 64);
        let a = origins.turn(false, "a.test:80", false).await;
        let _b = origins.turn(false, "a.test:80", false).await;
        // Another host has its own permits.
        let _other = origins.turn(false, "b.test:80", false).await;
        let third = origins.turn(false, "a.test:80", false);
        tokio::pin!(third);
        assert!(futures_poll(&mut third).is_none(), "a third turn at once");
        drop(a);
        assert!(futures_poll(&mut third).is_some(), "a permit came back");
    }

    #[tokio::test]
    async fn the_first_turn_at_a_new_origin_probes_and_the_others_wait() {
        let origins = Origins::new(Politeness::NONE, 64);
        let first = origins.turn(true, "h2.test:443", true).await;
        assert!(first.is_probe());
        let second = origins.turn(true, "h2.test:443", true);
        tokio::pin!(second);
        assert!(futures_poll(&mut second).is_none(), "waits for the probe");
        first.origin.set_http1();
        drop(first);
        let second = futures_poll(&mut second).expect("protocol known");
        assert!(!second.is_probe());
    }

    #[tokio::test]
    async fn a_probe_that_fails_lets_every_waiting_turn_go_at_once() {
        let origins = Origins::new(Politeness::NONE, 64);
        let first = origins.turn(true, "down.test:443", true).await;
        assert!(first.is_probe());
        let mut waiting: Vec<_> = (0..3)
            .map(|_| Box::pin(origins.turn(true, "down.test:443", true)))
            .collect();
        assert!(waiting.iter_mut().all(|t| futures_poll(t).is_none()));
        // Dropped with the protocol unknown: its connection failed.
        drop(first);
        for t in &mut waiting {
            let turn = futures_poll(t).expect("not waiting for another probe");
            assert!(!turn.is_probe());
        }
        // Once a connection finds out the protocol, probing is back.
        let origin = origins.origin(true, "down.test:443", true);
        origin.set_http1();
        assert!(!origin.probe_failed());
    }

    #[tokio::test(start_paused = true)]
    async fn rates_space_requests_and_a_pause_holds_only_its_host() {
        let origins = Origins::new(
            Politeness {
                host_interval: Some(Duration::from_secs(1)),
                ..Politeness::NONE
            },
            64,
        );
        let start = tokio::time::Instant::now();
        for _ in 0..3 {
            drop(origins.turn(false, "a.test:80", false).await);
        }
        // The first at once, then one a second.
        assert_eq!(start.elapsed(), Duration::from_secs(2));
        origins.pause(false, "a.test:80", false, Duration::from_secs(30));
        let start = tokio::time::Instant::now();
        drop(origins.turn(false, "b.test:80", false).await);
        assert_eq!(
            start.elapsed(),
            Duration::ZERO,
            "another host is not paused"
        );
        drop(origins.turn(false, "a.test:80", false).await);
        assert!(
            start.elapsed() >= Duration::from_secs(30),
            "{:?}",
            start.elapsed()
        );
    }

    #[test]
    fn the_table_sweeps_origins_nobody_holds() {
        let origins = Origins::new(Politeness::NONE, 64);
        let held = origins.origin(false, "held.test:80", false);
        for i in 0..10 * SWEEP_FLOOR {
            origins.origin(false, &format!("h{i}.test:80"), false);
        }
        let table = lock(&origins.table);
        assert!(table.by_scheme[0].len() <= 2 * SWEEP_FLOOR);
        assert!(table.by_scheme[0].contains_key("held.test:80"));
        drop(held);
    }

    /// A site of unlimited capacity 100 ms away, more requests waiting
    /// for it than any window: under a run limit of 1,024 its adaptive
    /// window grows to 256 and no further, leaving the rest of the limit
    /// to the run's other origins (a site alone and beside others gets the
    /// same window).
    #[tokio::test(start_paused = true)]
    async fn an_adaptive_window_stops_at_256_whatever_the_run_limit() {
        use tokio::time::{sleep, Instant};
        let rules = Politeness {
            per_host: PerHost::Auto,
            ..Politeness::NONE
        };
        let origins = Origins::new(rules, 1024);
        let origin = origins.origin(false, "far.test:80", false);
        let requests: Vec<_> = (0..1024)
            .map(|_| {
                let origin = origin.clone();
                tokio::spawn(async move {
                    let window = origin.h1.as_ref().unwrap();
                    for _ in 0..40 {
                        window.take().await;
                        let given = Instant::now();
                        sleep(Duration::from_millis(100)).await;
                        window.answered(given.elapsed());
                        window.give_back();
                    }
                })
            })
            .collect();
        let mut most = 0;
        for _ in 0..30 {
            sleep(Duration::from_millis(100)).await;
            most = most.max(origin.h1.as_ref().unwrap().status().unwrap().window);
        }
        for r in requests {
            r.abort();
        }
        assert_eq!(most, window::MOST);
    }

    /// One poll of `f`: its output if it is ready.
    fn futures_poll<F: std::future::Future + Unpin>(f: &mut F) -> Option<F::Output> {
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        match std::pin::Pin::new(f).poll(&mut cx) {
            std::task::Poll::Ready(v) => Some(v),
            std::task::Poll::Pending => None,
        }
    }
}
