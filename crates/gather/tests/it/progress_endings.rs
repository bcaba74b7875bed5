//! Progress events keep their promise in every ending: every `Started`
//! gets exactly one `Finished`, after it, and the running counts in the
//! events count those events. A property test over random children, limits,
//! operations (gather in both modes, as_completed, wait), in place and
//! spawned, and random endings: completion, a child's failure, a cancel
//! through the handle, an overall timeout, per-child timeouts, the
//! operation dropped midway, a stream left early, a pending set cancelled
//! or dropped.
//!
//! `GATHER_PROPTEST_CASES` sets the number of cases (default 1,000).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gather::progress::{Event, EventKind};
use gather::{as_completed, gather, wait, ReturnWhen};
use proptest::prelude::*;

#[derive(Debug, Clone, Copy)]
enum Op {
    FailFast,
    ReturnExceptions,
    /// as_completed, leaving after this many items (or reading to the end).
    AsCompleted(Option<usize>),
    /// wait(FirstCompleted), then the pending set is awaited, cancelled or
    /// dropped.
    Wait(Rest),
}

#[derive(Debug, Clone, Copy)]
enum Rest {
    Awaited,
    Cancelled,
    Dropped,
}

#[derive(Debug, Clone, Copy)]
enum Ending {
    /// Runs to its own end.
    Natural,
    /// Cancelled through the handle at this many ms.
    Cancel(u64),
    /// Dropped at this many ms.
    Drop(u64),
    /// An overall timeout of this many ms.
    Timeout(u64),
    /// Each child at most this many ms.
    TimeoutEach(u64),
}

#[derive(Debug, Clone)]
struct Case {
    /// Each child: milliseconds, whether it fails (`None`: never ends).
    children: Vec<Option<(u64, bool)>>,
    limit: Option<usize>,
    op: Op,
    spawned: bool,
    ending: Ending,
}

fn case() -> impl Strategy<Value = Case> {
    let child = prop::option::weighted(0.85, (0u64..40, prop::bool::weighted(0.2)));
    let op = prop_oneof![
        Just(Op::FailFast),
        Just(Op::ReturnExceptions),
        prop::option::of(0usize..6).prop_map(Op::AsCompleted),
        prop_oneof![
            Just(Rest::Awaited),
            Just(Rest::Cancelled),
            Just(Rest::Dropped)
        ]
        .prop_map(Op::Wait),
    ];
    let ending = prop_oneof![
        Just(Ending::Natural),
        (0u64..60).prop_map(Ending::Cancel),
        (0u64..60).prop_map(Ending::Drop),
        (0u64..60).prop_map(Ending::Timeout),
        (0u64..30).prop_map(Ending::TimeoutEach),
    ];
    (
        prop::collection::vec(child, 0..10),
        prop::option::of(1usize..5),
        op,
        any::<bool>(),
        ending,
    )
        .prop_map(|(children, limit, op, spawned, ending)| Case {
            children,
            limit,
            op,
            spawned,
            ending,
        })
}

async fn child(spec: Option<(u64, bool)>) -> Result<u64, String> {
    match spec {
        None => std::future::pending().await,
        Some((ms, fails)) => {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            if fails {
                Err(format!("failed after {ms} ms"))
            } else {
                Ok(ms)
            }
        }
    }
}

/// Runs one case; the events it reported.
async fn run(c: &Case) -> Vec<Event> {
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = events.clone();
    let observer = move |e: &Event| sink.lock().unwrap().push(*e);
    let kids = c.children.clone().into_iter().map(child);
    let limit = c.limit.unwrap_or(usize::MAX);
    let never = Duration::from_secs(3600);
    let (timeout, each) = match c.ending {
        Ending::Timeout(ms) => (Duration::from_millis(ms), never),
        Ending::TimeoutEach(ms) => (never, Duration::from_millis(ms)),
        _ => (never, never),
    };
    let drop_at = match c.ending {
        Ending::Drop(ms) => Duration::from_millis(ms),
        _ => never * 2,
    };
    let cancel_at = |handle: gather::CancelHandle| {
        if let Ending::Cancel(ms) = c.ending {
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(ms)).await;
                handle.cancel();
            });
        }
    };
    macro_rules! gather_run {
        ($g:expr) => {{
            let mut g = $g
                .limit(limit)
                .timeout(timeout)
                .timeout_each(each)
                .on_event(observer);
            cancel_at(g.cancel_handle());
            let _ = tokio::time::timeout(drop_at, g).await;
        }};
    }
    macro_rules! stream_run {
        ($s:expr, $leave:expr) => {{
            let mut s = $s
                .limit(limit)
                .timeout(timeout)
                .timeout_each(each)
                .on_event(observer);
            cancel_at(s.cancel_handle());
            let _ = tokio::time::timeout(drop_at, async {
                let mut n = 0;
                while $leave.is_none_or(|k| n < k) && s.next().await.is_some() {
                    n += 1;
                }
            })
            .await;
        }};
    }
    macro_rules! wait_run {
        ($w:expr, $rest:expr) => {{
            let w = $w
                .limit(limit)
                .timeout(timeout)
                .timeout_each(each)
                .on_event(observer);
            let _ = tokio::time::timeout(drop_at, async {
                let (_, pending) = w.await;
                match $rest {
                    Rest::Awaited => drop(pending.await),
                    Rest::Cancelled => drop(pending.cancel().await),
                    Rest::Dropped => drop(pending),
                }
            })
            .await;
        }};
    }
    match (c.op, c.spawned) {
        (Op::FailFast, false) => gather_run!(gather(kids)),
        (Op::FailFast, true) => gather_run!(gather(kids).spawn()),
        (Op::ReturnExceptions, false) => gather_run!(gather(kids).return_exceptions()),
        (Op::ReturnExceptions, true) => gather_run!(gather(kids).spawn().return_exceptions()),
        (Op::AsCompleted(leave), false) => stream_run!(as_completed(kids), leave),
        (Op::AsCompleted(leave), true) => stream_run!(as_completed(kids).spawn(), leave),
        (Op::Wait(rest), false) => wait_run!(wait(kids, ReturnWhen::FirstCompleted), rest),
        (Op::Wait(rest), true) => wait_run!(wait(kids, ReturnWhen::FirstCompleted).spawn(), rest),
    }
    // Aborted tasks stop on the runtime's next turns.
    for _ in 0..20 {
        tokio::task::yield_now().await;
    }
    let events = events.lock().unwrap().clone();
    events
}

fn check(c: Case) -> Result<(), TestCaseError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    let events = rt.block_on(run(&c));
    // index -> (started, finished)
    let mut seen: HashMap<usize, (usize, usize)> = HashMap::new();
    let (mut started, mut finished) = (0, 0);
    for e in &events {
        let entry = seen.entry(e.index).or_default();
        match e.kind {
            EventKind::Started => {
                prop_assert_eq!(entry.0, 0, "child {} started twice in {:?}", e.index, c);
                entry.0 += 1;
                started += 1;
            }
            EventKind::Finished(_) => {
                prop_assert_eq!(
                    entry.0,
                    1,
                    "child {} finished before it started in {:?}",
                    e.index,
                    c
                );
                prop_assert_eq!(entry.1, 0, "child {} finished twice in {:?}", e.index, c);
                entry.1 += 1;
                finished += 1;
            }
        }
        prop_assert_eq!(
            (e.started, e.finished),
            (started, finished),
            "running counts in {:?}",
            c
        );
        prop_assert!(e.index < c.children.len());
    }
    for (index, (s, f)) in seen {
        prop_assert_eq!(
            s,
            f,
            "child {} started and never finished in {:?}: {:?}",
            index,
            c,
            events
        );
    }
    Ok(())
}

fn cases() -> u32 {
    std::env::var("GATHER_PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn every_started_child_gets_exactly_one_finished(c in case()) {
        check(c)?;
    }
}

/// The case the issue found: after a cancel, `finished` never reached
/// `started`.
#[test]
fn a_cancel_reports_the_running_children_cancelled() {
    let c = Case {
        children: vec![Some((5, false)), None, None],
        limit: None,
        op: Op::FailFast,
        spawned: false,
        ending: Ending::Cancel(10),
    };
    check(c.clone()).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    let events = rt.block_on(run(&c));
    let last = events.last().unwrap();
    assert_eq!((last.started, last.finished), (3, 3));
    assert!(events
        .iter()
        .any(|e| e.index == 1 && e.kind == EventKind::Finished(gather::OutcomeKind::Cancelled)));
}
