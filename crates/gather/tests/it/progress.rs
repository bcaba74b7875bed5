//! Progress events. (The `tracing` spans are tested in `progress_spans.rs`.)

use std::sync::{Arc, Mutex};

use crate::support::sleep_ms;
use gather::progress::EventKind;
use gather::{gather, OutcomeKind};

#[tokio::test(start_paused = true)]
async fn every_child_reports_its_start_and_its_end_with_running_counts() {
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = events.clone();
    let _ = gather((0..10u64).map(|i| async move {
        sleep_ms(10 * (10 - i)).await;
        if i == 4 {
            Err("four")
        } else {
            Ok(i)
        }
    }))
    .limit(3)
    .on_event(move |e| sink.lock().unwrap().push(*e))
    .return_exceptions()
    .await
    .unwrap();
    let events = events.lock().unwrap();
    assert_eq!(events.len(), 20);
    let starts = events
        .iter()
        .filter(|e| e.kind == EventKind::Started)
        .count();
    assert_eq!(starts, 10);
    assert!(events.iter().all(|e| e.total == Some(10)));
    assert!(
        events.iter().all(|e| e.started - e.finished <= 3),
        "running never exceeds the limit"
    );
    let last = events.last().unwrap();
    assert_eq!((last.started, last.finished), (10, 10));
    assert!(events
        .iter()
        .any(|e| e.index == 4 && e.kind == EventKind::Finished(OutcomeKind::Err)));
    // Finished counts rise by one per finish event.
    let finishes: Vec<_> = events
        .iter()
        .filter(|e| matches!(e.kind, EventKind::Finished(_)))
        .map(|e| e.finished)
        .collect();
    assert_eq!(finishes, (1..=10).collect::<Vec<_>>());
}

#[tokio::test(start_paused = true)]
async fn an_overall_timeout_reports_the_children_it_stopped() {
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = events.clone();
    let _ = gather([10u64, 1000].map(|t| async move {
        sleep_ms(t).await;
        Ok::<_, ()>(t)
    }))
    .on_event(move |e| sink.lock().unwrap().push(*e))
    .return_exceptions()
    .timeout(crate::support::ms(100))
    .await;
    let events = events.lock().unwrap();
    assert!(events
        .iter()
        .any(|e| e.index == 1 && e.kind == EventKind::Finished(OutcomeKind::TimedOut)));
}
