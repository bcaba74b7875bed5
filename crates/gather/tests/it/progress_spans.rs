//! With the `tracing` feature, each child runs in a span carrying its index.
//!
//! Alone in its binary on purpose: tracing caches whether a callsite is
//! wanted, and another test's thread reaching the child span's callsite
//! with no subscriber while this one installs its own can leave the span
//! disabled here (seen once in CI: no span recorded at all).
#![cfg(feature = "tracing")]

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
