//! **Per-origin concurrency that adapts**: how many requests an origin gets
//! at once (its *window*), grown while the latency it shows stays near the
//! least it has shown, and shrunk when a queue forms at the server or the
//! server says it is overloaded.
//!
//! No fixed number is right. Eight connections to a site 100 ms away make
//! a run of 1,000 pages take 12.7 s where a hundred take 1.1 s; against a
//! site of 16 workers, 64 connections gain nothing over 16 and keep 47
//! requests waiting in its queue. What tells the two apart is the latency
//! the site shows: a site with room answers the 17th request as fast as
//! the first; a site without makes it wait.
//!
//! **The design: TCP Vegas, per origin, in rounds.** Of the known designs
//! (AIMD, which only backs off once a server refuses; TCP Vegas, which
//! estimates the queue from the latency; the gradient limiters of
//! Netflix's `concurrency-limits`, which scale the window by the ratio of
//! the least latency to the current one; Scrapy's AutoThrottle, which sets
//! a delay from the latency and a target concurrency), Vegas answers the
//! question a polite client asks (how many of my requests wait in the
//! server's queue?) with one number and two thresholds, reacts within a
//! round trip, and needs no target from the user:
//!
//! - A **round** is one window's worth of answers (about one round trip).
//!   Its latency is the mean of its answers' (time from the request's turn
//!   to its answer's head), the slowest tenth left out: by Little's law
//!   the mean is what the window over the server's throughput gives, so a
//!   queue shows in it however its waits fall among the requests, while a
//!   few slow pages do not. (The least, or the median, of a round misses a
//!   queue whose waits fall on a few requests: those that found a free
//!   worker hide those that did not.)
//! - The **queue** the round shows is `window × (1 − least / round)`, the
//!   requests beyond what the server works on at once (Little's law), after
//!   a slack for jitter (a tenth of the least latency, at least 1 ms).
//! - **Slow start**: from [`START`] requests (what a browser holds to one
//!   host, and a little more), the window doubles every round while no
//!   queue shows, up to the cap. A site 100 ms away reaches 64 in 0.3 s.
//! - Then, each round: a queue under [`ALPHA`] grows the window by one;
//!   over [`BETA`] two rounds running (or over four times it in one), it
//!   shrinks to what the server drains without a queue
//!   (`window × least / round + ALPHA`), by half at most. One round of a
//!   moderate queue is taken for noise: on a loopback server whose answers
//!   take a tenth of a millisecond, the client's own thread pausing for a
//!   millisecond looks like a queue of ten.
//! - **Overload** (a 429 or 503, a connection refused or reset, a timeout)
//!   halves the window at once, once a round, and ends slow start. The
//!   `Retry-After` pauses and the server's own rate-limit fields still
//!   decide *when* a request may start; the window decides *how many* are
//!   in flight.
//! - A window that was not full during a round (the run's limit, or an
//!   input that ran out, held it lower) does not grow: it has not been
//!   tried.
//!
//! The window is capped at [`MOST`] and by the run's limit; over HTTP/2
//! the server's `MAX_CONCURRENT_STREAMS` holds streams beyond it (their wait shows as
//! latency, and the window follows). The permits are a tokio semaphore:
//! growing adds permits, shrinking forgets free ones and swallows the rest
//! as they come back (the *debt*), so a shrink never cancels a request in
//! flight.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::Semaphore;

/// The window a new origin starts with.
pub const START: usize = 8;
/// The most an adaptive window grows to (the run's limit may hold it
/// lower): a site that still shows no queue with 256 requests in flight
/// from one client is fetched at a rate no page needs more of, and the
/// run's limit above it is left for the other origins of a run, so that a
/// site alone and the same site beside others get the same window.
pub const MOST: usize = 256;
/// A round showing fewer requests queued than this grows the window.
const ALPHA: f64 = 2.0;
/// A round showing more requests queued than this shrinks the window.
/// Half a request above [`ALPHA`]: the estimate leaves out the slack and
/// the slowest tenth, so the server sees about one more waiting than it
/// shows; with 3, a site of 8 workers of 20 ms kept 2 to 4 waiting, its
/// half-second average touching 4, where 2.5 keeps it near 2.
const BETA: f64 = 2.5;
/// The least slack for jitter: latencies within it of the least are no
/// queue.
const SLACK: Duration = Duration::from_millis(1);

/// Why a window moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Why {
    /// Slow start: no queue showed; doubled.
    Room,
    /// No queue showed; grown by one.
    Grew,
    /// A queue formed at the server.
    Queue,
    /// The server said it is overloaded (429, 503), or a connection was
    /// refused, reset or timed out.
    Overload,
}

impl Why {
    pub fn as_str(self) -> &'static str {
        match self {
            Why::Room => "no queue (slow start)",
            Why::Grew => "no queue",
            Why::Queue => "a queue formed",
            Why::Overload => "overload",
        }
    }
}

/// A window's move, for whoever shows it (`--verbose`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Move {
    pub from: usize,
    pub to: usize,
    pub why: Why,
    /// The round's latency, and the least shown.
    pub latency: Duration,
    pub least: Duration,
}

/// A window's state, for a summary or a progress line.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Status {
    pub window: usize,
    pub in_flight: usize,
    /// Answers it learnt from.
    pub answered: u64,
    /// The last round's latency, and the least shown.
    pub latency: Option<Duration>,
    pub least: Option<Duration>,
}

/// The control loop, without permits: fed each answer's latency (or an
/// overload), it says what the window is.
#[derive(Debug, Clone)]
pub struct Control {
    window: f64,
    cap: usize,
    least: Option<Duration>,
    slow_start: bool,
    /// Answers left in this round.
    left: usize,
    /// The round's latencies.
    round: Vec<Duration>,
    /// The most requests in flight during the round.
    round_busy: usize,
    /// Overload already halved the window this round.
    halved: bool,
    /// The last round showed a queue over `BETA`.
    queued: bool,
    last: Option<Duration>,
}

impl Control {
    pub fn new(start: usize, cap: usize) -> Control {
        let cap = cap.max(1);
        let window = start.clamp(1, cap);
        Control {
            window: window as f64,
            cap,
            least: None,
            slow_start: true,
            left: window,
            round: Vec::with_capacity(window),
            round_busy: 0,
            halved: false,
            queued: false,
            last: None,
        }
    }

    /// The window now.
    pub fn window(&self) -> usize {
        self.window as usize
    }

    /// An answer after `latency`, with `busy` requests in flight to the
    /// origin (this one included). A move when the window changed.
    pub fn answered(&mut self, latency: Duration, busy: usize) -> Option<Move> {
        self.least = Some(self.least.map_or(latency, |l| l.min(latency)));
        self.round.push(latency);
        self.round_busy = self.round_busy.max(busy);
        self.left = self.left.saturating_sub(1);
        if self.left > 0 {
            return None;
        }
        let round = trimmed_mean(&mut self.round);
        self.round.clear();
        let least = self.least?;
        self.last = Some(round);
        let full = self.round_busy + 1 >= self.window();
        self.round_busy = 0;
        self.halved = false;
        let slack = SLACK.max(least / 10);
        let queued = round.saturating_sub(least + slack).as_secs_f64();
        let queue = self.window * queued / round.as_secs_f64().max(1e-9);
        let from = self.window();
        let was_queued = std::mem::replace(&mut self.queued, queue > BETA);
        let confirmed = queue > 4.0 * BETA || was_queued;
        let (to, why) = if queue > BETA && confirmed {
            self.slow_start = false;
            let drained = self.window * least.as_secs_f64() / round.as_secs_f64() + ALPHA;
            (drained.max(self.window / 2.0), Why::Queue)
        } else if queue > BETA {
            // Not yet confirmed: held.
            (self.window, Why::Queue)
        } else if queue < ALPHA && full && self.slow_start {
            (self.window * 2.0, Why::Room)
        } else if queue < ALPHA && full {
            (self.window + 1.0, Why::Grew)
        } else {
            (self.window, Why::Grew)
        };
        self.set(to);
        self.left = self.window();
        self.moved(from, why, round, least)
    }

    /// The origin is overloaded (a 429 or 503, a connection refused or
    /// reset, a timeout): the window halves, once a round.
    pub fn overloaded(&mut self) -> Option<Move> {
        self.slow_start = false;
        if std::mem::replace(&mut self.halved, true) {
            return None;
        }
        let from = self.window();
        self.set(self.window / 2.0);
        self.left = self.window();
        self.round.clear();
        let least = self.least.unwrap_or_default();
        self.moved(from, Why::Overload, self.last.unwrap_or_default(), least)
    }

    fn set(&mut self, window: f64) {
        self.window = window.clamp(1.0, self.cap as f64);
    }

    fn moved(&self, from: usize, why: Why, latency: Duration, least: Duration) -> Option<Move> {
        let to = self.window();
        (to != from).then_some(Move {
            from,
            to,
            why,
            latency,
            least,
        })
    }
}

/// The mean of `latencies`, the slowest tenth left out.
fn trimmed_mean(latencies: &mut [Duration]) -> Duration {
    let kept = latencies.len() - latencies.len() / 10;
    if kept < latencies.len() {
        latencies.select_nth_unstable(kept);
    }
    let kept = &latencies[..kept.max(1).min(latencies.len())];
    kept.iter().sum::<Duration>() / kept.len().max(1) as u32
}

/// An origin's permits: a fixed number, or a window that adapts.
pub struct Window {
    permits: Semaphore,
    /// `None`: a fixed number of permits.
    control: Option<Mutex<Control>>,
    /// Permits to swallow as they come back, after a shrink found them in
    /// use.
    debt: AtomicUsize,
    /// Requests holding a permit.
    held: AtomicUsize,
    /// Answers learnt from.
    answers: std::sync::atomic::AtomicU64,
}

impl Window {
    /// `n` permits, always.
    pub fn fixed(n: usize) -> Window {
        Window {
            permits: Semaphore::new(n),
            control: None,
            debt: AtomicUsize::new(0),
            held: AtomicUsize::new(0),
            answers: Default::default(),
        }
    }

    /// A window from `start`, adapting up to `cap`.
    pub fn adaptive(start: usize, cap: usize) -> Window {
        let control = Control::new(start, cap);
        Window {
            permits: Semaphore::new(control.window()),
            control: Some(Mutex::new(control)),
            debt: AtomicUsize::new(0),
            held: AtomicUsize::new(0),
            answers: Default::default(),
        }
    }

    /// How many requests it lets go at once now: the permits held and
    /// free, less those a shrink still owes (at least 1). Lock-free: read
    /// for every request a run hands out ([`crate::jobs`]).
    pub fn size(&self) -> usize {
        // Relaxed: an estimate for the run's dispatch, which only decides
        // which request to make next; the permits themselves decide.
        let held = self.held.load(Ordering::Relaxed);
        let free = self.permits.available_permits();
        let debt = self.debt.load(Ordering::Relaxed);
        (held + free).saturating_sub(debt).max(1)
    }

    /// A permit now, if one is free.
    pub fn try_take(&self) -> bool {
        match self.permits.try_acquire() {
            Ok(permit) => {
                permit.forget();
                self.held.fetch_add(1, Ordering::Relaxed);
                true
            }
            Err(_) => false,
        }
    }

    /// Waits for a permit.
    ///
    /// # Cancel safety
    ///
    /// Dropped while waiting, it holds nothing.
    pub async fn take(&self) {
        if let Ok(permit) = self.permits.acquire().await {
            permit.forget();
            self.held.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Gives a permit back (a request ended), unless a shrink is owed it.
    pub fn give_back(&self) {
        self.held.fetch_sub(1, Ordering::Relaxed);
        // AcqRel: pairs with `resize`'s increment of the debt, so that a
        // permit is either swallowed or returned, never both.
        let swallowed = self
            .debt
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |d| d.checked_sub(1))
            .is_ok();
        if !swallowed {
            self.permits.add_permits(1);
        }
    }

    /// An answer after `latency` (adaptive windows only).
    pub fn answered(&self, latency: Duration) -> Option<Move> {
        let control = self.control.as_ref()?;
        self.answers.fetch_add(1, Ordering::Relaxed);
        let mut control = control.lock().unwrap_or_else(|e| e.into_inner());
        let busy = self.held.load(Ordering::Relaxed);
        let moved = control.answered(latency, busy)?;
        self.resize(moved.from, moved.to);
        Some(moved)
    }

    /// An overload (adaptive windows only).
    pub fn overloaded(&self) -> Option<Move> {
        let control = self.control.as_ref()?;
        let mut control = control.lock().unwrap_or_else(|e| e.into_inner());
        let moved = control.overloaded()?;
        self.resize(moved.from, moved.to);
        Some(moved)
    }

    /// From `from` permits in all to `to` (called with the control locked,
    /// so resizes do not interleave).
    fn resize(&self, from: usize, to: usize) {
        if to > from {
            let mut grow = to - from;
            // Paying the debt first: those permits were never returned.
            let _ = self
                .debt
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |d| {
                    let paid = d.min(grow);
                    grow -= paid;
                    Some(d - paid)
                });
            self.permits.add_permits(grow);
        } else {
            let shrink = from - to;
            let forgotten = self.permits.forget_permits(shrink);
            self.debt.fetch_add(shrink - forgotten, Ordering::AcqRel);
        }
    }

    /// Its state, for a summary (`None` for a fixed window).
    pub fn status(&self) -> Option<Status> {
        let control = self.control.as_ref()?;
        let control = control.lock().unwrap_or_else(|e| e.into_inner());
        Some(Status {
            window: control.window(),
            in_flight: self.held.load(Ordering::Relaxed),
            answered: self.answers.load(Ordering::Relaxed),
            latency: control.last,
            least: control.least,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    /// A round of `window` answers, each after `latency`, the window full.
    fn round(c: &mut Control, latency: Duration) -> Option<Move> {
        let n = c.window();
        let mut moved = None;
        for _ in 0..n {
            moved = c.answered(latency, n).or(moved);
        }
        moved
    }

    #[test]
    fn slow_start_doubles_while_no_queue_shows_up_to_the_cap() {
        let mut c = Control::new(START, 100);
        let mut seen = vec![c.window()];
        for _ in 0..6 {
            round(&mut c, 100 * MS);
            seen.push(c.window());
        }
        assert_eq!(seen, [8, 16, 32, 64, 100, 100, 100]);
    }

    /// 16 workers of 20 ms: a window past 16 makes every request of a round
    /// wait; the window settles where about 2 to 4 wait.
    #[test]
    fn a_small_site_gets_about_its_capacity() {
        let mut c = Control::new(START, 256);
        let workers = 16.0;
        for _ in 0..200 {
            let w = c.window() as f64;
            let latency = 20.0 * (w / workers).max(1.0);
            round(&mut c, Duration::from_secs_f64(latency / 1000.0));
        }
        let w = c.window();
        assert!((16..=22).contains(&w), "window {w} for 16 workers");
    }

    #[test]
    fn a_queue_shrinks_the_window_to_what_drains_by_half_at_most() {
        let mut c = Control::new(32, 256);
        round(&mut c, 20 * MS); // the least: 20 ms
        let w = c.window();
        // Capacity drops: every request waits 4x as long.
        let moved = round(&mut c, 80 * MS).expect("a move");
        assert_eq!(moved.why, Why::Queue);
        assert_eq!(moved.to, (w as f64 / 2.0) as usize, "by half at most");
        round(&mut c, 45 * MS);
        assert!(c.window() < moved.to, "{}", c.window());
    }

    #[test]
    fn overload_halves_once_a_round_and_ends_slow_start() {
        let mut c = Control::new(START, 256);
        round(&mut c, 10 * MS);
        assert_eq!(c.window(), 16);
        let moved = c.overloaded().expect("a move");
        assert_eq!((moved.from, moved.to, moved.why), (16, 8, Why::Overload));
        assert!(c.overloaded().is_none(), "once a round");
        round(&mut c, 10 * MS);
        assert_eq!(c.window(), 9, "grows by one now, not double");
        for _ in 0..10 {
            c.overloaded();
            round(&mut c, 10 * MS);
        }
        assert!(c.window() >= 1);
    }

    #[test]
    fn a_window_not_filled_does_not_grow() {
        let mut c = Control::new(START, 256);
        for _ in 0..8 {
            c.answered(10 * MS, 3);
        }
        assert_eq!(c.window(), 8);
    }

    #[test]
    fn jitter_within_the_slack_is_no_queue() {
        let mut c = Control::new(START, 256);
        round(&mut c, 100 * MS);
        round(&mut c, 108 * MS);
        assert_eq!(c.window(), 32, "8 ms over 100 is jitter");
    }

    /// The whole loop on a paused clock: requests take the window's
    /// permits and are served by a site of `workers` that each take 20 ms
    /// (a queue beyond them); each answer's latency feeds the window. It
    /// settles a little over the workers, and follows when they change.
    #[tokio::test(start_paused = true)]
    async fn the_window_follows_a_site_whose_capacity_changes() {
        use std::sync::Arc;
        use tokio::time::{sleep, Instant};

        use gather_pageserver::capacity::{Capacity, CapacityConfig};

        let window = Arc::new(Window::adaptive(START, 256));
        let site = Arc::new(Capacity::new(CapacityConfig {
            workers: 32,
            service: 20 * MS,
            shed_after: None,
        }));
        let served = Arc::new(AtomicUsize::new(0));
        // Requests for as long as the test runs, each waiting its turn.
        let clients: Vec<_> = (0..256)
            .map(|_| {
                let (window, site, served) = (window.clone(), site.clone(), served.clone());
                tokio::spawn(async move {
                    for _ in 0..400 {
                        window.take().await;
                        let given = Instant::now();
                        site.serve().await;
                        served.fetch_add(1, Ordering::Relaxed);
                        window.answered(given.elapsed());
                        window.give_back();
                    }
                })
            })
            .collect();
        // The window's mean over a second, sampled every 50 ms.
        let settled = || async {
            let mut sum = 0;
            for _ in 0..20 {
                sleep(50 * MS).await;
                sum += window.status().unwrap().window;
            }
            sum as f64 / 20.0
        };
        sleep(Duration::from_secs(2)).await;
        let w = settled().await;
        assert!((30.0..=42.0).contains(&w), "window {w} for 32 workers");
        // The site drops to 8 workers: within 2 s the window is near them.
        site.set_workers(8);
        sleep(Duration::from_secs(1)).await;
        let w = settled().await;
        assert!((7.0..=14.0).contains(&w), "window {w} for 8 workers");
        // And back to 32: within 5 s the window has followed.
        site.set_workers(32);
        sleep(Duration::from_secs(4)).await;
        let w = settled().await;
        assert!(
            (30.0..=42.0).contains(&w),
            "window {w} for 32 workers again"
        );
        for c in clients {
            c.abort();
        }
        assert!(served.load(Ordering::Relaxed) > 1000);
        // Kind from the server's side: a few wait, on average, through
        // every change (a window of 256 would keep over 200 waiting).
        let waiting = site.stats().mean_waiting;
        assert!(waiting < 6.0, "{waiting} waiting on average");
    }

    /// Shrinking forgets free permits and swallows those in use as they
    /// come back; growing pays that debt first.
    #[tokio::test]
    async fn permits_follow_the_window_without_cancelling_anyone() {
        let w = Window::adaptive(4, 64);
        for _ in 0..4 {
            assert!(w.try_take());
        }
        assert!(!w.try_take());
        w.resize(4, 2);
        assert_eq!(w.debt.load(Ordering::Relaxed), 2);
        w.give_back();
        w.give_back();
        assert!(!w.try_take(), "two swallowed");
        w.give_back();
        assert!(w.try_take(), "the third returned");
        w.resize(2, 6);
        let mut free = 0;
        while w.try_take() {
            free += 1;
        }
        assert_eq!(free, 4, "6 in all, 2 held");
    }
}
