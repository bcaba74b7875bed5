//! Which of a run's requests starts next: input order, except that a
//! request whose origin is full waits in that origin's queue while those
//! to origins with room go ahead of it.
//!
//! # Why a queue per origin
//!
//! A run starts requests lazily, a bounded number at once (the operation's
//! limit: 4x [`FetchConfig::limit`](crate::FetchConfig)). Started in plain
//! input order, the requests to a slow origin beyond its window wait for
//! their turn *as started requests*, each holding a slot and about a
//! kilobyte of future: with ten sites of different speeds interleaved in
//! the input, the slow sites' waiting requests filled the slots and the
//! fast sites went at the slowest one's pace (up to 43x their time alone).
//! Making more slots would cost a future per slot for every run, a run of
//! one site included (42 MB instead of 11 MB for 100,000 pages of nginx).
//! So the jobs of a full origin wait here instead, as the jobs they are (a
//! URL and what the front door attached, a few hundred bytes), and the
//! requests started are those that can go: what a crawler's scheduler
//! does with its queue per site.
//!
//! # The rules
//!
//! - A job goes at once when its origin has room (fewer of this run's
//!   requests to it started and not finished than its window) and none of
//!   that origin's is queued: an origin's requests start in input order.
//! - Otherwise it is queued, and reading goes on, but not past the reorder
//!   window's edge, nor past `read_ahead` jobs queued, nor after `limit`
//!   jobs in a row whose origin already has a window's worth queued
//!   (reading further would only queue more for it: a run of one site
//!   holds at most about two windows' worth).
//! - When nothing can go and reading stops, the earliest job queued goes
//!   anyway, to wait for its turn as a started request (as every request
//!   did before): the operation asks for a request only when it has a slot
//!   to fill, and must get one while any job is left.
//!
//! The next result to hand on is never held here while a request waits
//! for room elsewhere: its origin's requests before it are finished (an
//! origin's start in order), so its origin has room, and a job at that
//! position always passes the reorder window. That is what keeps a full
//! set of requests waiting for the window from waiting for ever.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use crate::client::origin::Origin;
use crate::fetch::Fetcher;
use crate::job::Job;
use crate::order::Window;

/// A run's jobs, as [`Dispatch::next`] hands them out: each with its
/// position in the input and its place in its origin's count.
pub(crate) struct Dispatch<M, I> {
    input: I,
    /// The position of the next job read.
    next_pos: usize,
    ended: bool,
    fetcher: Arc<Fetcher>,
    window: Window,
    /// The most jobs queued.
    read_ahead: usize,
    /// Jobs read in a row for origins with a window's worth queued, after
    /// which reading stops (until a queue is shorter).
    futile_max: usize,
    futile: usize,
    /// By origin (its address: held here, so it names one origin).
    origins: HashMap<usize, Queue<M>, fnv::FnvBuildHasher>,
    queued: usize,
    /// The table is swept of idle origins when it grows to this.
    sweep_at: usize,
}

struct Queue<M> {
    origin: Arc<Origin>,
    /// This run's requests to it, started and not finished.
    load: Arc<AtomicUsize>,
    jobs: VecDeque<(usize, Job<M>)>,
}

impl<M> Queue<M> {
    fn has_room(&self) -> bool {
        // Relaxed: a count that only decides which request is made next;
        // the origin's permits decide when it is sent.
        self.load.load(Ordering::Relaxed) < self.origin.capacity()
    }

    fn is_full(&self) -> bool {
        self.jobs.len() >= self.origin.capacity()
    }
}

/// A request's place in its origin's count of this run's requests
/// started and not finished: given back when it ends, or is dropped.
pub(crate) struct Load(Option<Arc<AtomicUsize>>);

impl Load {
    fn on(load: &Arc<AtomicUsize>) -> Load {
        load.fetch_add(1, Ordering::Relaxed);
        Load(Some(load.clone()))
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        if let Some(load) = &self.0 {
            load.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// The table is never swept below this many origins.
const SWEEP_FLOOR: usize = 256;

impl<M, I: Iterator<Item = Job<M>>> Dispatch<M, I> {
    /// `input`'s jobs for a run whose requests start within `window`,
    /// reading ahead at most `read_ahead` jobs queued, and giving up on
    /// reading ahead after `futile_max` in a row that can only be queued.
    pub(crate) fn new(
        input: I,
        fetcher: Arc<Fetcher>,
        window: Window,
        read_ahead: usize,
        futile_max: usize,
    ) -> Self {
        Dispatch {
            input,
            next_pos: 0,
            ended: false,
            fetcher,
            window,
            read_ahead: read_ahead.max(1),
            futile_max: futile_max.max(1),
            futile: 0,
            origins: HashMap::default(),
            queued: 0,
            sweep_at: SWEEP_FLOOR,
        }
    }

    fn read(&mut self) -> Option<(usize, Job<M>)> {
        if self.ended {
            return None;
        }
        let Some(job) = self.input.next() else {
            self.ended = true;
            return None;
        };
        let pos = self.next_pos;
        self.next_pos += 1;
        Some((pos, job))
    }

    fn may_read(&self, handed_on: usize) -> bool {
        !self.ended
            && self.queued < self.read_ahead
            && self.futile < self.futile_max
            && self.next_pos < handed_on.saturating_add(self.window.size)
    }

    /// The queue whose first job is the earliest of those that can go now.
    fn ready(&self, handed_on: usize) -> Option<usize> {
        self.origins
            .iter()
            .filter_map(|(key, q)| {
                let &(pos, _) = q.jobs.front()?;
                (q.has_room() && self.window.has_room(pos, handed_on)).then_some((pos, *key))
            })
            .min()
            .map(|(_, key)| key)
    }

    /// The queue whose first job is the earliest queued.
    fn earliest(&self) -> Option<usize> {
        self.origins
            .iter()
            .filter_map(|(key, q)| Some((q.jobs.front()?.0, *key)))
            .min()
            .map(|(_, key)| key)
    }

    fn pop(&mut self, key: usize) -> (usize, Job<M>, Load) {
        let q = self.origins.get_mut(&key).expect("a queue found above");
        let (pos, job) = q.jobs.pop_front().expect("a job found above");
        self.queued -= 1;
        if !q.is_full() {
            // Reading on may find more for it.
            self.futile = 0;
        }
        (pos, job, Load::on(&q.load))
    }

    /// The origin `job` goes to: none for a job refused, or a URL no
    /// origin serves (it fails at once).
    fn origin(&self, job: &Job<M>) -> Option<Arc<Origin>> {
        self.fetcher.origin_of(&job.request.as_ref().ok()?.url)
    }

    /// The job read at `pos`, handed out if it can go now, else queued.
    fn place(
        &mut self,
        pos: usize,
        job: Job<M>,
        handed_on: usize,
    ) -> Option<(usize, Job<M>, Load)> {
        // A job with no origin fails at once: it goes now.
        let Some(origin) = self.origin(&job) else {
            return Some((pos, job, Load(None)));
        };
        let window_room = self.window.has_room(pos, handed_on);
        let q = self.queue(origin);
        if q.jobs.is_empty() && q.has_room() && window_room {
            let load = Load::on(&q.load);
            self.futile = 0;
            return Some((pos, job, load));
        }
        q.jobs.push_back((pos, job));
        let futile = q.jobs.len() > q.origin.capacity();
        self.queued += 1;
        self.futile = if futile { self.futile + 1 } else { 0 };
        None
    }

    /// `origin`'s queue, made if it has none (the table swept of idle
    /// origins when it has grown).
    fn queue(&mut self, origin: Arc<Origin>) -> &mut Queue<M> {
        if self.origins.len() >= self.sweep_at {
            self.origins
                .retain(|_, q| !q.jobs.is_empty() || q.load.load(Ordering::Relaxed) > 0);
            self.sweep_at = (2 * self.origins.len()).max(SWEEP_FLOOR);
        }
        let key = Arc::as_ptr(&origin) as usize;
        self.origins.entry(key).or_insert_with(|| Queue {
            origin,
            load: Arc::default(),
            jobs: VecDeque::new(),
        })
    }
}

impl<M, I: Iterator<Item = Job<M>>> Iterator for Dispatch<M, I> {
    type Item = (usize, Job<M>, Load);

    fn next(&mut self) -> Option<Self::Item> {
        let handed_on = self.window.handed_on.get();
        if self.queued > 0 {
            if let Some(key) = self.ready(handed_on) {
                return Some(self.pop(key));
            }
        }
        while self.may_read(handed_on) {
            let Some((pos, job)) = self.read() else {
                break;
            };
            if let Some(go) = self.place(pos, job, handed_on) {
                return Some(go);
            }
        }
        if let Some(key) = self.earliest() {
            return Some(self.pop(key));
        }
        // Nothing queued, and reading was held back (at the window's
        // edge): the next job anyway, to wait as a started request. Ends
        // only with the input.
        let (pos, job) = self.read()?;
        let load = match self.origin(&job) {
            Some(origin) => Load::on(&self.queue(origin).load),
            None => Load(None),
        };
        Some((pos, job, load))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::Request;
    use crate::order::Written;
    use crate::{FetchConfig, PerHost, Politeness, Versions};

    type Jobs = std::vec::IntoIter<Job<String>>;

    /// Jobs to the origins `hosts` names, one letter each (`a`: `a.test`),
    /// each origin taking 2 requests at once (HTTP/1.1), and the dispatch
    /// of them within a reorder window of `size`.
    fn dispatch(hosts: &str, size: usize) -> (Dispatch<String, Jobs>, Arc<Written>) {
        dispatch_to(hosts.chars().map(String::from).collect(), size)
    }

    fn dispatch_to(hosts: Vec<String>, size: usize) -> (Dispatch<String, Jobs>, Arc<Written>) {
        let config = FetchConfig {
            limit: 8,
            versions: Versions::Http1Only,
            politeness: Politeness {
                per_host: PerHost::Fixed(2),
                ..Politeness::NONE
            },
            ..Default::default()
        };
        let fetcher = Arc::new(Fetcher::new(config).unwrap());
        let jobs: Vec<Job<String>> = hosts
            .into_iter()
            .enumerate()
            .map(|(index, host)| Job {
                index,
                request: Ok(Request {
                    url: format!("http://{host}.test/{index}").parse().unwrap(),
                    payload: None,
                }),
                meta: host,
            })
            .collect();
        let handed_on = Arc::new(Written::default());
        let window = Window {
            handed_on: handed_on.clone(),
            size,
            bytes: usize::MAX,
        };
        (
            Dispatch::new(jobs.into_iter(), fetcher, window, 100, 8),
            handed_on,
        )
    }

    /// While `a` is full, `b`'s jobs go ahead of `a`'s; when nothing can
    /// go, the earliest queued goes anyway; each origin's start in input
    /// order; and a request that ends makes room for its origin's next.
    #[test]
    fn a_full_origins_jobs_wait_while_others_go_each_origin_in_order() {
        let (mut d, _) = dispatch("aaaabbab", 100);
        let mut next = || {
            let (pos, job, load) = d.next().unwrap();
            (pos, job.meta, load)
        };
        let (a0, a1) = (next(), next());
        assert_eq!((a0.0, a1.0), (0, 1));
        // `a` is full: its 2 and 3 wait, and `b`'s 4 and 5 go.
        let (b4, b5) = (next(), next());
        assert_eq!((b4.0, b5.0), (4, 5));
        // Both full: the earliest queued goes anyway, to wait its turn.
        let a2 = next();
        assert_eq!(a2.0, 2);
        // `b` has room once 5 ends: its 7 goes before `a`'s 3 and 6.
        drop(b5);
        assert_eq!(next().0, 7);
        // Then `a`'s, in order.
        drop((a0, a1, a2, b4));
        assert_eq!(next().0, 3);
        assert_eq!(next().0, 6);
        assert!(d.next().is_none());
    }

    /// A crawl of many origins, each asked once: every job goes at once,
    /// and the table of origins is swept as they finish, not kept.
    #[test]
    fn origins_asked_once_are_not_kept() {
        let (mut d, _) = dispatch_to((0..3000).map(|i| format!("x{i}")).collect(), 10_000);
        let mut most = 0;
        for i in 0..3000 {
            let (pos, _, load) = d.next().unwrap();
            assert_eq!(pos, i);
            drop(load);
            most = most.max(d.origins.len());
        }
        assert!(d.next().is_none());
        assert!(most <= 2 * SWEEP_FLOOR, "{most} origins held");
        assert_eq!(d.queued, 0);
    }

    /// The next result to hand on goes first whatever else could, and
    /// nothing past the reorder window is read ahead while something can
    /// go; every job comes out once.
    #[test]
    fn the_window_bounds_the_read_ahead_and_every_job_comes_out_once() {
        let (mut d, handed_on) = dispatch("aaaaaabbbb", 4);
        let mut out = Vec::new();
        let mut held = Vec::new();
        for _ in 0..2 {
            let (pos, _, load) = d.next().unwrap();
            out.push(pos);
            held.push(load);
        }
        // `a` is full; reading stops at the window's edge (position 4),
        // so `b`'s jobs are not reached: the earliest queued goes.
        assert_eq!(d.next().map(|(pos, ..)| pos), Some(2));
        assert_eq!(d.next_pos, 4, "read up to the window's edge");
        out.push(2);
        handed_on.set(4);
        for (pos, _, load) in d.by_ref() {
            out.push(pos);
            held.push(load);
        }
        out.sort_unstable();
        assert_eq!(out, (0..10).collect::<Vec<_>>());
        assert_eq!(d.queued, 0);
    }
}
