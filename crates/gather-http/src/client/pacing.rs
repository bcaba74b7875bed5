//! Staying under the limits a server announces ([`ratelimit`]): a copy of
//! each of its budgets (requests, tokens) kept per origin, so that a
//! request starts only when the server will have room for it, rather than
//! being sent to collect a 429.
//!
//! **The copy.** Each answer that announces a budget brings the copy's
//! level down to what the server said was left, less what this client has
//! in flight to it (those requests will be counted when they arrive;
//! counting all of them errs on the side of waiting); never up, since
//! answers arrive out of the order the server wrote them in. Between
//! answers the level refills at
//! the announced rate, up to the most the server was ever seen to have
//! left (its burst; a limit per minute enforced per second has a burst of
//! a second's worth, and a client that refilled to the whole minute's
//! worth would send a burst the server refuses). A request takes its
//! weight from the level as it starts: one request, and its token estimate
//! from the tokens budget; it waits while the level is short.
//!
//! **Before the first answer** nothing is known, and a run of 64 requests
//! sent at once over HTTP/2 to a server that allows 20 a second is 44
//! 429s. So until an origin has answered, at most the HTTP/1.1 per-host
//! limit (`--per-host`, 8 by default) of requests are in flight to it,
//! over HTTP/2 too: HTTP/1.1 runs see no change, and an HTTP/2 one is held
//! for its first round trip only. (With no per-host limit, none.) Requests
//! that carry a token weight go one at a time until then: a token budget
//! may hold fewer than a few of them. An
//! answer without limit fields, or a request that ends without an answer,
//! ends the learning (the origin is then paced by the run's own flags
//! only, at no cost per request); an answer with them starts the copy.
//!
//! **A client budget**, `--tokens-per-minute`, is the same copy, known
//! from the start: a second's worth of burst, refilled at the rate given.
//!
//! [`ratelimit`]: super::ratelimit

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use super::lock;
use super::ratelimit::{Announced, Window};

/// One budget's copy.
#[derive(Debug, Clone, Copy)]
pub struct Bucket {
    /// Units the server has room for now, as far as this client knows.
    level: f64,
    /// The most it holds (the server's burst).
    cap: f64,
    /// Units per second it refills at, when known.
    rate: Option<f64>,
    /// When it was last brought up to date.
    at: Instant,
    /// When the server said it is whole again (used when no rate is
    /// known: the level is then the cap from that moment).
    reset_at: Option<Instant>,
    /// An answer has set the level.
    synced: bool,
}

impl Bucket {
    /// A client-side budget of `per_second` units, with a second's worth
    /// of burst, nine tenths full at the start. Not full: a server that
    /// enforces the same budget counts from when the requests *arrive*, and
    /// the first arrives later after its send than the others (its
    /// connection is new), so a client that spends the whole burst at once
    /// and then exactly the rate is short of the server's count by that
    /// difference, and gets a 429 near the end of a long run. A tenth of a
    /// second's worth absorbs up to 100 ms of it, for 0.1 s once a run.
    pub fn per_second(per_second: f64) -> Bucket {
        Bucket {
            level: per_second * 0.9,
            cap: per_second,
            rate: Some(per_second),
            at: Instant::now(),
            reset_at: None,
            synced: true,
        }
    }

    /// The most the copy holds: what the server was seen to have left at
    /// most, and never less than one request (a server only ever seen at
    /// 0 left would otherwise hold every request forever).
    fn cap(&self) -> f64 {
        self.cap.max(1.0)
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.at = now;
        match self.rate {
            Some(rate) => self.level = (self.level + rate * elapsed).min(self.cap()),
            None => {
                if self.reset_at.is_some_and(|r| r <= now) {
                    self.level = self.cap();
                    self.reset_at = None;
                }
            }
        }
    }

    /// How long until `weight` fits (no longer than a whole budget's
    /// refill: a weight over the burst waits for a full bucket); `None`
    /// when it fits now.
    pub fn wait_for(&mut self, weight: f64, now: Instant) -> Option<Duration> {
        self.refill(now);
        let need = weight.min(self.cap());
        if self.level >= need {
            return None;
        }
        match self.rate {
            Some(rate) if rate > 0.0 => Some(Duration::from_secs_f64(
                ((need - self.level) / rate).min(3600.0),
            )),
            // No rate: wait for the reset the server gave, if any; with
            // nothing to go on, go (a 429 will say more).
            _ => self
                .reset_at
                .map(|r| r.saturating_duration_since(now))
                .filter(|d| !d.is_zero()),
        }
    }

    /// Takes `weight` (the level may go below zero for a weight over the
    /// burst: the requests after it wait for the debt).
    pub fn take(&mut self, weight: f64) {
        self.level -= weight;
    }

    /// Gives back `weight` the server did not take (up to the most it holds).
    fn give_back(&mut self, weight: f64) {
        self.level = (self.level + weight).min(self.cap());
    }

    /// What an answer said of this budget, with `in_flight` units sent and
    /// not yet answered.
    fn sync(&mut self, window: &Window, in_flight: f64, now: Instant) {
        self.refill(now);
        if let Some(rate) = window.rate {
            self.rate = Some(rate);
        }
        if let Some(remaining) = window.remaining {
            let remaining = remaining as f64;
            self.cap = self.cap.max(remaining);
            // An answer can only lower the copy (the first sets it): the
            // answers of several connections arrive in any order, and one
            // the server wrote before others that have already been taken
            // in says more is left than is. Up, the copy goes by its rate.
            self.level = match self.synced {
                false => remaining - in_flight,
                true => self.level.min(remaining - in_flight),
            };
            self.synced = true;
        }
        self.reset_at = window.reset.map(|r| now + r);
    }

    fn unknown(now: Instant) -> Bucket {
        Bucket {
            level: 0.0,
            cap: 0.0,
            rate: None,
            at: now,
            reset_at: None,
            synced: false,
        }
    }
}

/// An origin's copies of the server's budgets.
pub struct Pacing {
    /// The origin answered without limit fields, or its first request
    /// ended without an answer: nothing to do for its requests. Relaxed: a
    /// request that reads a stale value either takes the slow path, which
    /// looks again under the lock, or starts as it would have a moment
    /// before an answer announced limits (one request, which the copy's
    /// next sync counts as in flight).
    unlimited: AtomicBool,
    state: Mutex<State>,
    /// Woken when an answer arrives or a request ends: waiting requests
    /// look again.
    changed: Notify,
    /// Requests in flight before the first answer, at most.
    learning: u32,
    /// The run reads what servers announce (not `--no-server-limits`).
    enabled: bool,
}

struct State {
    /// An answer has announced limits.
    known: bool,
    requests: Bucket,
    tokens: Option<Bucket>,
    /// Requests (and their token weights) started and not yet ended.
    in_flight: u32,
    tokens_in_flight: f64,
}

/// What a request has taken from its origin's budgets, given back when it
/// ends (see `Turn`).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Taken {
    pub weight: u32,
}

impl Pacing {
    /// An origin's copies, empty until it answers; `enabled: false` for a
    /// run that ignores what servers announce. `learning`: requests in
    /// flight before the first answer, at most (`None`: no limit).
    pub fn new(enabled: bool, learning: Option<usize>) -> Pacing {
        let now = Instant::now();
        Pacing {
            unlimited: AtomicBool::new(!enabled),
            state: Mutex::new(State {
                known: false,
                requests: Bucket::unknown(now),
                tokens: None,
                in_flight: 0,
                tokens_in_flight: 0.0,
            }),
            changed: Notify::new(),
            learning: learning.map_or(u32::MAX, |n| u32::try_from(n).unwrap_or(u32::MAX)),
            enabled,
        }
    }
}

impl Pacing {
    /// Requests to this origin need no pacing of their own (for now: an
    /// answer that announces limits turns it back).
    pub fn is_unlimited(&self) -> bool {
        self.unlimited.load(Ordering::Relaxed)
    }

    /// Waits until a request of `weight` tokens fits the origin's budgets,
    /// and takes it; what it took goes back with [`end`](Pacing::end).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: nothing is taken until it returns.
    pub async fn take(&self, weight: u32) -> Option<Taken> {
        loop {
            let changed = self.changed.notified();
            let mut changed = std::pin::pin!(changed);
            // Registered before the state is read, so that a change made
            // after the read wakes this request.
            changed.as_mut().enable();
            let wait = {
                let mut state = lock(&self.state);
                if self.is_unlimited() {
                    return None;
                }
                let now = Instant::now();
                let wait = if !state.known {
                    // Learning: a few in flight, the rest wait for an
                    // answer (or for one of them to end). A request that
                    // carries a token weight goes alone: an API that counts
                    // tokens may allow fewer than a few requests' worth at
                    // once (30,000 a minute enforced per second is 500, two
                    // chat requests), and its first answer says how many.
                    let learning = match weight {
                        0 => self.learning,
                        _ => 1,
                    };
                    (state.in_flight >= learning).then_some(None)
                } else {
                    let for_request = state.requests.wait_for(1.0, now);
                    let for_tokens = state
                        .tokens
                        .as_mut()
                        .and_then(|t| t.wait_for(weight as f64, now));
                    for_request.max(for_tokens).map(Some)
                };
                match wait {
                    None => {
                        state.in_flight += 1;
                        state.tokens_in_flight += weight as f64;
                        if state.known {
                            state.requests.take(1.0);
                            if let Some(t) = &mut state.tokens {
                                t.take(weight as f64);
                            }
                        }
                        return Some(Taken { weight });
                    }
                    Some(wait) => wait,
                }
            };
            match wait {
                // Until something changes.
                None => changed.await,
                Some(wait) => {
                    tokio::select! {
                        _ = changed => {}
                        _ = tokio::time::sleep(wait) => {}
                    }
                }
            }
        }
    }

    /// A request that took `taken` has ended (answered or not).
    ///
    /// One that ends while nothing is known yet ended without an answer
    /// (an answer is taken in before its request ends): the learning is
    /// over, and the origin's requests go unpaced until an answer
    /// announces limits. Otherwise a host that never answers would have
    /// its requests time out a few at a time.
    pub fn end(&self, taken: Taken) {
        {
            let mut state = lock(&self.state);
            state.in_flight = state.in_flight.saturating_sub(1);
            state.tokens_in_flight = (state.tokens_in_flight - taken.weight as f64).max(0.0);
            if !state.known {
                self.unlimited.store(true, Ordering::Relaxed);
            }
        }
        self.changed.notify_waiters();
    }

    /// An answer arrived, announcing `announced` (or nothing); `refused`:
    /// it was a 429, so the server did not count the request, whose weight
    /// this was (the copy took it, and counted it in flight when it
    /// synced: it is given back).
    pub fn answered(&self, announced: Option<&Announced>, refused: Option<Taken>) {
        if !self.enabled {
            return;
        }
        let announces = announced.is_some_and(|a| a.requests.is_some() || a.tokens.is_some());
        if !announces && self.is_unlimited() {
            // The common case, every answer of a server without limits:
            // nothing to change (unlimited means nothing is known, and an
            // answer without limits leaves it so), and no lock to take.
            return;
        }
        let changed = {
            let mut state = lock(&self.state);
            match announced.filter(|a| a.requests.is_some() || a.tokens.is_some()) {
                None if !state.known => {
                    self.unlimited.store(true, Ordering::Relaxed);
                    true
                }
                None => false,
                Some(a) => {
                    let now = Instant::now();
                    state.known = true;
                    // Limits after all (the first request failed, or the
                    // first answers had none): paced from now on.
                    self.unlimited.store(false, Ordering::Relaxed);
                    let in_flight = state.in_flight as f64;
                    let tokens_in_flight = state.tokens_in_flight;
                    if let Some(w) = &a.requests {
                        state.requests.sync(w, in_flight, now);
                    }
                    if let Some(w) = &a.tokens {
                        state
                            .tokens
                            .get_or_insert_with(|| Bucket::unknown(now))
                            .sync(w, tokens_in_flight, now);
                    }
                    if let Some(refused) = refused {
                        state.requests.give_back(1.0);
                        if let Some(t) = &mut state.tokens {
                            t.give_back(refused.weight as f64);
                        }
                    }
                    true
                }
            }
        };
        if changed {
            self.changed.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::ratelimit::Window;

    const LEARNING: usize = 4;

    fn announced(remaining: u64, rate: f64) -> Announced {
        Announced {
            requests: Some(Window {
                remaining: Some(remaining),
                rate: Some(rate),
                reset: None,
            }),
            ..Announced::default()
        }
    }

    fn now_or_never<F: std::future::Future>(f: F) -> Option<F::Output> {
        let mut f = std::pin::pin!(f);
        let waker = std::task::Waker::noop();
        match f.as_mut().poll(&mut std::task::Context::from_waker(waker)) {
            std::task::Poll::Ready(v) => Some(v),
            std::task::Poll::Pending => None,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn before_the_first_answer_only_a_few_go() {
        let p = Pacing::new(true, Some(LEARNING));
        let taken: Vec<_> = (0..LEARNING)
            .map(|_| now_or_never(p.take(0)).unwrap())
            .collect();
        assert!(
            now_or_never(p.take(0)).is_none(),
            "the fifth waits for an answer"
        );
        p.answered(None, None);
        assert!(p.is_unlimited());
        assert_eq!(
            now_or_never(p.take(0)),
            Some(None),
            "no limits: nothing taken"
        );
        for t in taken.into_iter().flatten() {
            p.end(t);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_first_request_that_fails_ends_the_learning_until_limits_are_announced() {
        let p = Pacing::new(true, Some(LEARNING));
        let taken: Vec<_> = (0..LEARNING)
            .map(|_| now_or_never(p.take(0)).unwrap().unwrap())
            .collect();
        p.end(taken[0]);
        assert!(
            p.is_unlimited(),
            "a host that never answers is not held to a few at a time"
        );
        p.answered(Some(&announced(0, 10.0)), None);
        assert!(!p.is_unlimited());
        assert!(now_or_never(p.take(0)).is_none(), "paced again");
    }

    #[tokio::test(start_paused = true)]
    async fn an_announced_budget_is_spent_then_refilled_at_its_rate() {
        let p = Pacing::new(true, Some(LEARNING));
        let first = now_or_never(p.take(0)).unwrap().unwrap();
        // The server had 5 left after the first, and refills 10 a second.
        p.end(first);
        p.answered(Some(&announced(5, 10.0)), None);
        for _ in 0..5 {
            now_or_never(p.take(0)).unwrap().unwrap();
        }
        let start = Instant::now();
        p.take(0).await.unwrap();
        let waited = start.elapsed();
        assert!(
            (Duration::from_millis(95)..=Duration::from_millis(105)).contains(&waited),
            "{waited:?}: one more after a tenth of a second"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn requests_in_flight_count_against_what_the_server_said() {
        let p = Pacing::new(true, Some(LEARNING));
        let a = now_or_never(p.take(0)).unwrap().unwrap();
        let _b = now_or_never(p.take(0)).unwrap().unwrap();
        // Two in flight; the server, answering a, says 3 left. Its answer
        // comes while a is still in flight (its body is read after): both
        // are counted, so one fits, not two or three.
        p.answered(Some(&announced(3, 1.0)), None);
        p.end(a);
        assert!(now_or_never(p.take(0)).is_some());
        assert!(now_or_never(p.take(0)).is_none(), "only one fitted");
    }

    #[tokio::test(start_paused = true)]
    async fn a_late_answer_saying_more_is_left_does_not_raise_the_copy() {
        let p = Pacing::new(true, Some(LEARNING));
        let a = now_or_never(p.take(0)).unwrap().unwrap();
        p.end(a);
        p.answered(Some(&announced(1, 1.0)), None);
        // Written by the server before the one above, taken in after it.
        p.answered(Some(&announced(9, 1.0)), None);
        now_or_never(p.take(0)).unwrap().unwrap();
        assert!(now_or_never(p.take(0)).is_none(), "one was left, not nine");
    }

    /// A server only ever seen with nothing left still lets a request
    /// through as its budget refills: a copy whose most was 0 once held
    /// every request for good.
    #[tokio::test(start_paused = true)]
    async fn a_server_never_seen_with_room_does_not_hold_requests_forever() {
        let p = Pacing::new(true, Some(LEARNING));
        let a = now_or_never(p.take(0)).unwrap().unwrap();
        p.answered(Some(&announced(0, 2.0)), None);
        p.end(a);
        let start = Instant::now();
        for _ in 0..3 {
            p.take(0).await.unwrap();
        }
        // From -1 (the request in flight when the server said 0): 1 s to
        // the first, then one every half second.
        assert_eq!(start.elapsed().as_millis(), 2000, "2 a second");
    }

    /// A 429 was not counted by the server: the copy gives its unit back,
    /// where counting it would hold the requests after it a unit too long
    /// for every refused request of a first burst.
    #[tokio::test(start_paused = true)]
    async fn a_refused_request_is_given_back() {
        let p = Pacing::new(true, Some(LEARNING));
        let a = now_or_never(p.take(0)).unwrap().unwrap();
        let b = now_or_never(p.take(0)).unwrap().unwrap();
        p.answered(Some(&announced(1, 1.0)), None);
        p.end(a);
        // a's answer: 1 left, less a and b in flight: -1. Then b is
        // refused: its unit comes back, 0, and the next fits after 1 s
        // at 1 a second (2 s if b were still counted).
        p.answered(Some(&announced(0, 1.0)), Some(b));
        p.end(b);
        let start = Instant::now();
        p.take(0).await.unwrap();
        assert_eq!(start.elapsed().as_millis(), 1000);
    }

    #[tokio::test(start_paused = true)]
    async fn a_run_that_ignores_the_fields_is_never_paced() {
        let p = Pacing::new(false, Some(LEARNING));
        p.answered(Some(&announced(0, 0.001)), None);
        for _ in 0..100 {
            assert_eq!(now_or_never(p.take(0)), Some(None));
        }
    }

    #[tokio::test(start_paused = true)]
    async fn tokens_are_weighed() {
        let p = Pacing::new(true, Some(LEARNING));
        let a = now_or_never(p.take(100)).unwrap().unwrap();
        p.end(a);
        p.answered(
            Some(&Announced {
                tokens: Some(Window {
                    remaining: Some(1000),
                    rate: Some(100.0),
                    reset: None,
                }),
                ..announced(100, 100.0)
            }),
            None,
        );
        now_or_never(p.take(600)).unwrap().unwrap();
        assert!(now_or_never(p.take(600)).is_none(), "400 left");
        let start = Instant::now();
        p.take(600).await.unwrap();
        assert_eq!(
            start.elapsed().as_millis(),
            2000,
            "200 tokens at 100 a second"
        );
    }
}
