//! Property tests: random sets of children (durations, values, errors,
//! panics, children that never finish), a random limit, a random
//! cancellation point, in place and spawned, under tokio's paused clock.
//!
//! Every case checks: results in input order with the right kind in each
//! slot; fail-fast reports the earliest failure in time; the limit is never
//! exceeded; every child created is dropped exactly once; no child is polled
//! after the gather has finished; no spawned task outlives the gather.
//!
//! `GATHER_PROPTEST_CASES` sets the number of cases (default 2,000).

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use gather::{gather, Failure, Outcome, OutcomeKind};
use proptest::prelude::*;

/// How a child ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    Value,
    Error,
    Panic,
    Never,
}

#[derive(Debug, Clone)]
struct Case {
    children: Vec<(u64, End)>, // (milliseconds, end)
    limit: Option<usize>,
    cancel_at: Option<u64>,
    spawned: bool,
    return_exceptions: bool,
}

fn case() -> impl Strategy<Value = Case> {
    let child = (
        0u64..40,
        prop_oneof![6 => Just(End::Value), 2 => Just(End::Error), 1 => Just(End::Panic), 1 => Just(End::Never)],
    );
    (
        prop::collection::vec(child, 0..12),
        prop::option::of(1usize..6),
        prop::option::weighted(0.3, 0u64..120),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(
            |(children, limit, cancel_at, spawned, return_exceptions)| Case {
                children,
                limit,
                cancel_at,
                spawned,
                return_exceptions,
            },
        )
}

/// The whole gather may run this long (the paused clock makes it instant);
/// only children that never finish reach it.
const OVERALL_MS: u64 = 10_000;

/// When each child finishes (None: never), simulating lazy start in input
/// order under the limit.
fn finish_times(c: &Case) -> Vec<Option<u64>> {
    let limit = c.limit.unwrap_or(usize::MAX);
    let mut running: Vec<Option<u64>> = Vec::new(); // finish times of occupied slots
    let mut out = Vec::new();
    for &(ms, end) in &c.children {
        let start = if running.len() < limit {
            0
        } else {
            // The earliest slot to free; a slot held by a never-ending child never frees.
            let (i, t) = running
                .iter()
                .enumerate()
                .filter_map(|(i, t)| t.map(|t| (i, t)))
                .min_by_key(|&(_, t)| t)
                .map_or((usize::MAX, u64::MAX), |x| x);
            if i == usize::MAX {
                out.push(None);
                continue;
            }
            running.remove(i);
            t
        };
        let finish = if end == End::Never {
            None
        } else {
            Some(start + ms)
        };
        running.push(finish);
        out.push(finish);
    }
    out
}

/// Counts drops, concurrency, and polls after the gather finished.
#[derive(Default)]
struct Probe {
    created: AtomicUsize,
    alive: AtomicUsize,
    running: AtomicUsize,
    max_running: AtomicUsize,
    gather_done: AtomicBool,
    late_polls: AtomicUsize,
}

struct Spy<F> {
    inner: Pin<Box<F>>,
    probe: Arc<Probe>,
    started: bool,
}

impl<F: Future> Future for Spy<F> {
    type Output = F::Output;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        if self.probe.gather_done.load(Ordering::SeqCst) {
            self.probe.late_polls.fetch_add(1, Ordering::SeqCst);
        }
        if !self.started {
            self.started = true;
            let now = self.probe.running.fetch_add(1, Ordering::SeqCst) + 1;
            self.probe.max_running.fetch_max(now, Ordering::SeqCst);
        }
        let p = self.inner.as_mut().poll(cx);
        if p.is_ready() {
            self.probe.running.fetch_sub(1, Ordering::SeqCst);
            self.started = false;
        }
        p
    }
}

impl<F> Drop for Spy<F> {
    fn drop(&mut self) {
        if self.started {
            self.probe.running.fetch_sub(1, Ordering::SeqCst);
        }
        self.probe.alive.fetch_sub(1, Ordering::SeqCst);
    }
}

fn child(
    i: usize,
    ms: u64,
    end: End,
    probe: &Arc<Probe>,
) -> Spy<impl Future<Output = Result<usize, String>> + Send + 'static> {
    probe.created.fetch_add(1, Ordering::SeqCst);
    probe.alive.fetch_add(1, Ordering::SeqCst);
    let inner = async move {
        if ms > 0 {
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
        match end {
            End::Value => Ok(i),
            End::Error => Err(format!("error {i}")),
            End::Panic => panic!("panic {i}"),
            End::Never => std::future::pending().await,
        }
    };
    Spy {
        inner: Box::pin(inner),
        probe: probe.clone(),
        started: false,
    }
}

fn check(c: Case) -> Result<(), TestCaseError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    let probe = Arc::new(Probe::default());
    let times = finish_times(&c);
    let n = c.children.len();
    let make = || {
        c.children
            .iter()
            .enumerate()
            .map(|(i, &(ms, end))| child(i, ms, end, &probe))
            .collect::<Vec<_>>()
    };
    let limit = c.limit.unwrap_or(usize::MAX);
    let overall = Duration::from_millis(OVERALL_MS);
    let cancel = c
        .cancel_at
        .map(Duration::from_millis)
        .unwrap_or(Duration::from_secs(3600));

    rt.block_on(async {
        // The result of a run: Ok(outcomes) or the fail-fast error, or None when dropped by the cancel point.
        enum Run {
            Outcomes(Vec<Outcome<usize, String>>),
            FailFast(Result<Vec<usize>, gather::GatherError<String, usize>>),
        }
        let run = if c.return_exceptions {
            let fut = async {
                if c.spawned {
                    gather(make()).spawn().limit(limit).timeout(overall).return_exceptions().await
                } else {
                    gather(make()).limit(limit).timeout(overall).return_exceptions().await
                }
            };
            tokio::time::timeout(cancel, fut).await.ok().map(|r| Run::Outcomes(r.unwrap()))
        } else {
            let fut = async {
                if c.spawned {
                    gather(make()).spawn().limit(limit).timeout(overall).await
                } else {
                    gather(make()).limit(limit).timeout(overall).await
                }
            };
            tokio::time::timeout(cancel, fut).await.ok().map(Run::FailFast)
        };
        probe.gather_done.store(true, Ordering::SeqCst);
        // Spawned children are aborted; give the runtime turns to drop them.
        for _ in 0..20 {
            tokio::task::yield_now().await;
        }

        prop_assert!(probe.max_running.load(Ordering::SeqCst) <= limit, "limit exceeded");
        prop_assert_eq!(probe.alive.load(Ordering::SeqCst), 0, "every child dropped exactly once");
        prop_assert_eq!(probe.created.load(Ordering::SeqCst) <= n, true);
        prop_assert_eq!(probe.late_polls.load(Ordering::SeqCst), 0, "no poll after the gather finished");

        // When the gather itself would end, had nobody cancelled it.
        let all_done = times.iter().map(|t| t.map_or(OVERALL_MS, |t| t.min(OVERALL_MS))).max().unwrap_or(0);
        let first_failure = c
            .children
            .iter()
            .enumerate()
            .filter(|(_, (_, e))| matches!(e, End::Error | End::Panic))
            .filter_map(|(i, _)| times[i])
            .min();
        let ends_at = if c.return_exceptions { all_done } else { first_failure.map_or(all_done, |f| f.min(all_done)) };
        let cancel_ms = c.cancel_at.unwrap_or(u64::MAX);
        match run {
            None => {
                prop_assert!(cancel_ms <= ends_at, "dropped at {} ms but would have ended at {} ms", cancel_ms, ends_at);
            }
            Some(_) if cancel_ms < ends_at => {
                prop_assert!(false, "ended although cancelled at {} ms before its end at {} ms", cancel_ms, ends_at);
            }
            Some(Run::Outcomes(out)) => {
                prop_assert_eq!(out.len(), n, "one slot per input");
                for (i, o) in out.iter().enumerate() {
                    let (_, end) = c.children[i];
                    let finishes = times[i].is_some_and(|t| t <= OVERALL_MS);
                    let expected = match (end, finishes) {
                        (_, false) => OutcomeKind::TimedOut,
                        (End::Value, true) => OutcomeKind::Ok,
                        (End::Error, true) => OutcomeKind::Err,
                        (End::Panic, true) => OutcomeKind::Panicked,
                        (End::Never, true) => unreachable!(),
                    };
                    prop_assert_eq!(o.kind(), expected, "slot {} of {:?}", i, c);
                    match o {
                        Outcome::Ok(v) => prop_assert_eq!(*v, i, "value in its own slot"),
                        Outcome::Err(e) => prop_assert_eq!(e, &format!("error {i}")),
                        Outcome::Panicked(p) => prop_assert_eq!(p.message(), format!("panic {i}")),
                        _ => {}
                    }
                }
            }
            Some(Run::FailFast(result)) => {
                let failures: Vec<(usize, u64)> = c
                    .children
                    .iter()
                    .enumerate()
                    .filter(|(_, (_, e))| matches!(e, End::Error | End::Panic))
                    .filter_map(|(i, _)| times[i].map(|t| (i, t)))
                    .filter(|&(_, t)| t <= OVERALL_MS)
                    .collect();
                let earliest = failures.iter().map(|&(_, t)| t).min();
                match (result, earliest) {
                    (Ok(values), None) => {
                        prop_assert!(times.iter().all(|t| t.is_some_and(|t| t <= OVERALL_MS)), "Ok although a child never finished");
                        prop_assert_eq!(values, (0..n).collect::<Vec<_>>(), "input order");
                    }
                    (Ok(_), Some(_)) => prop_assert!(false, "Ok although a child failed: {:?}", c),
                    (Err(e), Some(t)) => {
                        let index = e.index().expect("a child's failure names it");
                        prop_assert!(failures.contains(&(index, t)), "child {} is not an earliest failure (t = {}) in {:?}", index, t, c);
                        let (_, end) = c.children[index];
                        match (end, e.failure()) {
                            (End::Error, Failure::Error(m)) => prop_assert_eq!(m, &format!("error {index}")),
                            (End::Panic, Failure::Panicked(p)) => prop_assert_eq!(p.message(), format!("panic {index}")),
                            other => prop_assert!(false, "wrong failure {:?}", other),
                        }
                        for (i, v) in e.into_partial().into_iter().enumerate() {
                            if let Some(v) = v {
                                prop_assert_eq!(v, i, "partial value in its own slot");
                                prop_assert!(times[i].is_some_and(|ti| ti <= t));
                            } else if c.children.get(i).is_some_and(|&(_, end)| end == End::Value) {
                                prop_assert!(times[i].is_none_or(|ti| ti >= t), "child {} finished at {:?} before the failure at {} but is missing", i, times[i], t);
                            }
                        }
                    }
                    (Err(e), None) => {
                        prop_assert!(e.is_timeout() && e.index().is_none(), "only the overall timeout can end it: {}", e);
                        prop_assert!(times.iter().any(|t| t.is_none_or(|t| t > OVERALL_MS)));
                    }
                }
            }
        }
        Ok(())
    })
}

fn cases() -> u32 {
    std::env::var("GATHER_PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn gathers_keep_every_promise(c in case()) {
        check(c)?;
    }
}

#[test]
fn the_simulation_models_lazy_start_under_a_limit() {
    let c = Case {
        children: vec![
            (10, End::Value),
            (5, End::Value),
            (1, End::Never),
            (3, End::Value),
        ],
        limit: Some(2),
        cancel_at: None,
        spawned: false,
        return_exceptions: true,
    };
    // 0 and 1 start at 0; 1 ends at 5, 2 starts then and never ends; 0 ends at 10, 3 starts, ends at 13.
    assert_eq!(finish_times(&c), [Some(10), Some(5), None, Some(13)]);
}
