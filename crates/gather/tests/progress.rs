//! Progress events, and (with the `tracing` feature) one span per child.

mod support;

use std::sync::{Arc, Mutex};

use gather::{gather, EventKind, OutcomeKind};
use support::sleep_ms;

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
    .timeout(support::ms(100))
    .await;
    let events = events.lock().unwrap();
    assert!(events
        .iter()
        .any(|e| e.index == 1 && e.kind == EventKind::Finished(OutcomeKind::TimedOut)));
}

#[cfg(feature = "tracing")]
mod spans {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::{Arc, Mutex};
    use tracing::field::{Field, Visit};
    use tracing::span::{Attributes, Id, Record};
    use tracing::{Event, Metadata, Subscriber};

    /// Each span's name and its `index` field, by span id - 1.
    type Spans = Arc<Mutex<Vec<(String, Option<u64>)>>>;

    /// Records each span's name and `index` field, and the index of the
    /// span current when each event fires.
    #[derive(Default, Clone)]
    struct Recorder {
        next: Arc<AtomicU64>,
        spans: Spans,
        stack: Arc<Mutex<Vec<u64>>>,
        events: Arc<Mutex<Vec<Option<u64>>>>,
    }

    struct IndexVisitor(Option<u64>);
    impl Visit for IndexVisitor {
        fn record_u64(&mut self, field: &Field, value: u64) {
            if field.name() == "index" {
                self.0 = Some(value);
            }
        }
        fn record_debug(&mut self, _: &Field, _: &dyn std::fmt::Debug) {}
    }

    impl Subscriber for Recorder {
        fn enabled(&self, _: &Metadata<'_>) -> bool {
            true
        }
        fn new_span(&self, attrs: &Attributes<'_>) -> Id {
            let mut v = IndexVisitor(None);
            attrs.record(&mut v);
            self.spans
                .lock()
                .unwrap()
                .push((attrs.metadata().name().to_string(), v.0));
            Id::from_u64(self.next.fetch_add(1, Ordering::SeqCst) + 1)
        }
        fn record(&self, _: &Id, _: &Record<'_>) {}
        fn record_follows_from(&self, _: &Id, _: &Id) {}
        fn event(&self, _: &Event<'_>) {
            let spans = self.spans.lock().unwrap();
            let current = self.stack.lock().unwrap().last().copied();
            self.events
                .lock()
                .unwrap()
                .push(current.and_then(|id| spans[(id - 1) as usize].1));
        }
        fn enter(&self, id: &Id) {
            self.stack.lock().unwrap().push(id.into_u64());
        }
        fn exit(&self, _: &Id) {
            self.stack.lock().unwrap().pop();
        }
    }

    #[test]
    fn each_child_runs_in_a_span_carrying_its_index() {
        let recorder = Recorder::default();
        let _default = tracing::subscriber::set_default(recorder.clone());
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        rt.block_on(async {
            gather::gather((0..3u64).map(|i| async move {
                tokio::task::yield_now().await;
                tracing::info!("child working");
                Ok::<_, ()>(i)
            }))
            .await
            .unwrap();
        });
        let spans = recorder.spans.lock().unwrap();
        let indexes: Vec<_> = spans
            .iter()
            .filter(|(n, _)| n == "gather.child")
            .map(|(_, i)| i.unwrap())
            .collect();
        assert_eq!(indexes, [0, 1, 2]);
        let mut seen = recorder.events.lock().unwrap().clone();
        seen.sort();
        assert_eq!(
            seen,
            [Some(0), Some(1), Some(2)],
            "each event fired inside its own child's span"
        );
    }
}
