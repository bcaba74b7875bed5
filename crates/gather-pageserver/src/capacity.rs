//! A site of limited capacity: `workers` requests are served at once, each
//! taking `service`; the rest wait in a first-in, first-out queue, and
//! beyond `shed_after` waiting a request is refused at once (503 with
//! `Retry-After: 1`), as a server that sheds load does. The number of
//! workers can change while requests run (a site that loses or gains
//! capacity).
//!
//! Its stats are the server's side of politeness: the most requests in
//! flight, the queue over time (its time-averaged length, from the first
//! request to the last answer), the latency the server adds, and the
//! requests shed. Benchmarks and tests judge a client's kindness by them.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

// tokio's clock, so that the tests run on paused time.
use tokio::time::Instant;

use tokio::sync::Semaphore;

/// How a site of limited capacity is made.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CapacityConfig {
    /// Requests served at once.
    pub workers: usize,
    /// The time each takes.
    pub service: Duration,
    /// Refused (503) when this many wait already; `None`: never.
    pub shed_after: Option<usize>,
}

/// What the site saw, from the server's side.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CapacityStats {
    /// Requests that arrived (shed ones included).
    pub requests: u64,
    /// Requests refused with 503 (the queue was full).
    pub shed: u64,
    /// The most in flight at once (in service and waiting).
    pub most_in_flight: usize,
    /// The longest the queue was.
    pub most_waiting: usize,
    /// The queue's length averaged over time, from the first arrival to
    /// the last answer.
    pub mean_waiting: f64,
    /// The time a served request spent at the server (queue and service),
    /// on average.
    pub mean_latency: Duration,
    /// Waiting now.
    pub waiting: usize,
    /// In flight now (in service and waiting).
    pub in_flight: usize,
    /// From the first arrival to the last answer (or now, while requests
    /// are in).
    pub span: Duration,
}

/// How a request went.
pub enum Served {
    /// Served, after this long at the server.
    Answered(Duration),
    /// Refused: the queue was full.
    Shed,
}

/// The site: its workers, its queue, its stats.
pub struct Capacity {
    config: Mutex<CapacityConfig>,
    workers: Semaphore,
    /// Workers to take away as they finish, after a drop found them busy.
    debt: AtomicUsize,
    record: Mutex<Record>,
}

#[derive(Default)]
struct Record {
    waiting: usize,
    in_flight: usize,
    first: Option<Instant>,
    last: Option<Instant>,
    /// Σ waiting × time, in request-seconds.
    area: f64,
    served: u64,
    latency: Duration,
    stats: CapacityStats,
}

impl Record {
    /// The queue's length changes at `now`: what it was counts until now.
    fn at(&mut self, now: Instant) {
        if let Some(last) = self.last {
            self.area += self.waiting as f64 * (now - last).as_secs_f64();
        }
        self.first.get_or_insert(now);
        self.last = Some(now);
    }
}

impl Capacity {
    /// A site as `config` says, with nothing seen yet.
    pub fn new(config: CapacityConfig) -> Capacity {
        Capacity {
            workers: Semaphore::new(config.workers),
            config: Mutex::new(config),
            debt: AtomicUsize::new(0),
            record: Mutex::new(Record::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Record> {
        self.record.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Serves one request: waits for a worker (first come, first served),
    /// then takes the service time; or refuses it, if the queue is full.
    ///
    /// # Cancel safety
    ///
    /// A request whose client goes away while it waits leaves the queue.
    pub async fn serve(&self) -> Served {
        let config = *self.config.lock().unwrap_or_else(|e| e.into_inner());
        let arrived = Instant::now();
        {
            let mut r = self.lock();
            r.at(arrived);
            r.stats.requests += 1;
            let free = self.workers.available_permits() > 0;
            if !free && config.shed_after.is_some_and(|q| r.waiting >= q) {
                r.stats.shed += 1;
                return Served::Shed;
            }
            r.waiting += 1;
            r.in_flight += 1;
            r.stats.most_waiting = r
                .stats
                .most_waiting
                .max(r.waiting.saturating_sub(free as usize));
            r.stats.most_in_flight = r.stats.most_in_flight.max(r.in_flight);
        }
        // Left on every way out, a client gone included.
        struct Leave<'a>(&'a Capacity, bool);
        impl Drop for Leave<'_> {
            fn drop(&mut self) {
                let mut r = self.0.lock();
                r.at(Instant::now());
                r.in_flight -= 1;
                if self.1 {
                    r.waiting -= 1;
                }
            }
        }
        let mut leave = Leave(self, true);
        let permit = self.workers.acquire().await;
        {
            let mut r = self.lock();
            r.at(Instant::now());
            r.waiting -= 1;
            leave.1 = false;
        }
        tokio::time::sleep(config.service).await;
        if let Ok(permit) = permit {
            permit.forget();
            self.give_back();
        }
        let latency = arrived.elapsed();
        let mut r = self.lock();
        r.served += 1;
        r.latency += latency;
        drop(r);
        drop(leave);
        Served::Answered(latency)
    }

    /// A worker is free again, unless a drop in capacity is owed it.
    fn give_back(&self) {
        let owed = self
            .debt
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |d| d.checked_sub(1))
            .is_ok();
        if !owed {
            self.workers.add_permits(1);
        }
    }

    /// From now on, `workers` serve at once (those busy finish first).
    pub fn set_workers(&self, workers: usize) {
        let mut config = self.config.lock().unwrap_or_else(|e| e.into_inner());
        let from = config.workers;
        config.workers = workers;
        if workers > from {
            let mut grow = workers - from;
            let _ = self
                .debt
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |d| {
                    let paid = d.min(grow);
                    grow -= paid;
                    Some(d - paid)
                });
            self.workers.add_permits(grow);
        } else {
            let shrink = from - workers;
            let forgotten = self.workers.forget_permits(shrink);
            self.debt.fetch_add(shrink - forgotten, Ordering::AcqRel);
        }
    }

    /// What it saw so far.
    pub fn stats(&self) -> CapacityStats {
        let mut r = self.lock();
        let now = Instant::now();
        let area = r.area
            + match (r.in_flight, r.last) {
                // Requests still in: the queue counts until now.
                (1.., Some(last)) => r.waiting as f64 * (now - last).as_secs_f64(),
                _ => 0.0,
            };
        let end = if r.in_flight > 0 { Some(now) } else { r.last };
        let span = match (r.first, end) {
            (Some(first), Some(end)) => (end - first).as_secs_f64(),
            _ => 0.0,
        };
        r.stats.mean_waiting = if span > 0.0 { area / span } else { 0.0 };
        r.stats.mean_latency = match r.served {
            0 => Duration::ZERO,
            n => r.latency / n as u32,
        };
        r.stats.waiting = r.waiting;
        r.stats.in_flight = r.in_flight;
        r.stats.span = Duration::from_secs_f64(span);
        r.stats
    }

    /// Forgets what it saw (between the runs of a benchmark).
    pub fn reset(&self) {
        let mut r = self.lock();
        let (waiting, in_flight) = (r.waiting, r.in_flight);
        *r = Record {
            waiting,
            in_flight,
            ..Record::default()
        };
    }

    /// The stats as the `/stats` route writes them.
    pub fn stats_json(&self) -> String {
        let s = self.stats();
        let workers = self
            .config
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .workers;
        format!(
            "{{\"workers\":{workers},\"requests\":{},\"shed\":{},\"most_in_flight\":{},\"most_waiting\":{},\"mean_waiting\":{:.3},\"mean_latency_ms\":{:.3},\"waiting\":{},\"in_flight\":{},\"span_s\":{:.3}}}",
            s.requests,
            s.shed,
            s.most_in_flight,
            s.most_waiting,
            s.mean_waiting,
            s.mean_latency.as_secs_f64() * 1e3,
            s.waiting,
            s.in_flight,
            s.span.as_secs_f64()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// `n` requests to `site` at once, each a task.
    fn serve_at_once(site: &Arc<Capacity>, n: usize) -> Vec<tokio::task::JoinHandle<Served>> {
        (0..n)
            .map(|_| {
                let site = site.clone();
                tokio::spawn(async move { site.serve().await })
            })
            .collect()
    }

    /// Four workers of 100 ms and eight requests at once: four wait 100 ms
    /// (paused clock), so the queue is 4 for the first half, 0 after.
    #[tokio::test(start_paused = true)]
    async fn a_queue_forms_beyond_the_workers_and_is_averaged_over_time() {
        let site = Arc::new(Capacity::new(CapacityConfig {
            workers: 4,
            service: Duration::from_millis(100),
            shed_after: None,
        }));
        let all = serve_at_once(&site, 8);
        for t in all {
            assert!(matches!(t.await.unwrap(), Served::Answered(_)));
        }
        let s = site.stats();
        assert_eq!((s.requests, s.most_in_flight, s.most_waiting), (8, 8, 4));
        assert!((s.mean_waiting - 2.0).abs() < 0.1, "{}", s.mean_waiting);
        assert_eq!(s.mean_latency, Duration::from_millis(150));
    }

    #[tokio::test(start_paused = true)]
    async fn beyond_shed_after_waiting_a_request_is_refused() {
        let site = Arc::new(Capacity::new(CapacityConfig {
            workers: 2,
            service: Duration::from_millis(100),
            shed_after: Some(3),
        }));
        let all = serve_at_once(&site, 8);
        let mut shed = 0;
        for t in all {
            if matches!(t.await.unwrap(), Served::Shed) {
                shed += 1;
            }
        }
        assert_eq!(shed, 3, "2 served, 3 waiting, 3 refused");
        assert_eq!(site.stats().shed, 3);
    }

    #[tokio::test(start_paused = true)]
    async fn capacity_changes_while_requests_run() {
        let site = Arc::new(Capacity::new(CapacityConfig {
            workers: 4,
            service: Duration::from_millis(100),
            shed_after: None,
        }));
        site.set_workers(1);
        let start = tokio::time::Instant::now();
        let all = serve_at_once(&site, 3);
        for t in all {
            t.await.unwrap();
        }
        assert_eq!(start.elapsed(), Duration::from_millis(300), "one at a time");
        site.set_workers(3);
        let start = tokio::time::Instant::now();
        let all = serve_at_once(&site, 3);
        for t in all {
            t.await.unwrap();
        }
        assert_eq!(start.elapsed(), Duration::from_millis(100), "three at once");
    }
}
