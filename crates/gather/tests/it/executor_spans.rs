//! With the `tracing` feature, work sent to a thread runs in the caller's
//! span, as Python's `to_thread` runs in a copy of the caller's context.
//!
//! Alone in its binary, as `progress_spans.rs` is: tracing caches per
//! callsite whether it is wanted.
#![cfg(feature = "tracing")]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// Each span's `request` field and metadata, by span id - 1.
type Spans = Arc<Mutex<Vec<(Option<u64>, &'static Metadata<'static>)>>>;
/// Each event's message, with the `request` of the span current where it
/// fired.
type Events = Arc<Mutex<Vec<(String, Option<u64>)>>>;

/// Records each span's `request` field, and for each event the `request`
/// of the span current on the event's thread.
#[derive(Default, Clone)]
struct Recorder {
    next: Arc<AtomicU64>,
    spans: Spans,
    /// Entered spans, per thread.
    stacks: Arc<Mutex<std::collections::HashMap<std::thread::ThreadId, Vec<u64>>>>,
    events: Events,
}

struct Fields(Option<u64>, String);
impl Visit for Fields {
    fn record_u64(&mut self, field: &Field, value: u64) {
        if field.name() == "request" {
            self.0 = Some(value);
        }
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.1 = format!("{value:?}");
        }
    }
}

impl Recorder {
    fn innermost(&self) -> Option<u64> {
        self.stacks
            .lock()
            .unwrap()
            .get(&std::thread::current().id())
            .and_then(|s| s.last().copied())
    }
}

impl Subscriber for Recorder {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, attrs: &Attributes<'_>) -> Id {
        let mut v = Fields(None, String::new());
        attrs.record(&mut v);
        self.spans.lock().unwrap().push((v.0, attrs.metadata()));
        Id::from_u64(self.next.fetch_add(1, Ordering::SeqCst) + 1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut v = Fields(None, String::new());
        event.record(&mut v);
        let request = self
            .innermost()
            .and_then(|id| self.spans.lock().unwrap()[(id - 1) as usize].0);
        self.events.lock().unwrap().push((v.1, request));
    }
    /// What `Span::current()` asks: the innermost span entered on this
    /// thread (as tracing-subscriber's registry answers).
    fn current_span(&self) -> tracing_core::span::Current {
        match self.innermost() {
            Some(id) => tracing_core::span::Current::new(
                Id::from_u64(id),
                self.spans.lock().unwrap()[(id - 1) as usize].1,
            ),
            None => tracing_core::span::Current::none(),
        }
    }
    fn enter(&self, id: &Id) {
        let mut stacks = self.stacks.lock().unwrap();
        stacks
            .entry(std::thread::current().id())
            .or_default()
            .push(id.into_u64());
    }
    fn exit(&self, _: &Id) {
        let mut stacks = self.stacks.lock().unwrap();
        if let Some(s) = stacks.get_mut(&std::thread::current().id()) {
            s.pop();
        }
    }
}

#[test]
fn to_thread_and_the_cpu_pool_run_in_the_callers_span() {
    let recorder = Recorder::default();
    // Installed on this thread only: the worker threads see it because the
    // work carries it there.
    let _default = tracing::subscriber::set_default(recorder.clone());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let span = tracing::info_span!("handler", request = 7u64);
        let _entered = span.enter();
        let here = std::thread::current().id();
        let a = gather::to_thread(move || {
            assert_ne!(std::thread::current().id(), here);
            tracing::info!("on a blocking thread");
        });
        let b = gather::executor::CpuPool::new(1).unwrap().spawn(move || {
            assert_ne!(std::thread::current().id(), here);
            tracing::info!("on the pool");
        });
        assert!(a.await.is_ok());
        assert!(b.await.is_ok());
    });
    let mut events = recorder.events.lock().unwrap().clone();
    events.sort();
    assert_eq!(
        events,
        [
            ("on a blocking thread".to_string(), Some(7)),
            ("on the pool".to_string(), Some(7)),
        ]
    );
}
