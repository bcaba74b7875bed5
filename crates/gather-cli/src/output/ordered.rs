//! The reorder writer: lines in input order, written as soon as the next
//! one is ready, and the count of lines written that requests wait on.

use std::io::{self, BufWriter, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::Notify;

use crate::by_position::ByPosition;

/// Writes lines in the order of their positions (0, 1, 2, ...: the order
/// the requests were started in, which is input order), whatever order
/// they are inserted in.
pub(crate) struct OrderedWriter {
    out: BufWriter<Box<dyn Write + Send>>,
    /// Lines waiting for an earlier one, by position; the first position
    /// is the next line to write.
    waiting: ByPosition<String>,
    next: usize,
    written: Arc<Written>,
}

/// How many lines are written, for the requests that wait to start until
/// they are within the reorder window of it.
///
/// Every line sets it, and almost no request ever waits, so setting it is
/// a store and a load: the waiters are counted, and woken only when there
/// are some. (A `watch` channel, used before, locks eight mutexes on every
/// send to wake no one; it showed in the profile of a run against nginx.)
#[derive(Debug, Default)]
pub(crate) struct Written {
    count: AtomicUsize,
    waiting: AtomicUsize,
    changed: Notify,
}

impl Written {
    fn set(&self, count: usize) {
        // The pair: this store of `count` then load of `waiting`, against
        // `wait_until`'s increment of `waiting` then load of `count` (the
        // store-buffering shape). With SeqCst on all four there is one
        // total order, so either this load sees the waiter (and wakes it:
        // its `Notified` was created before its load, and tokio's
        // `notify_waiters` reaches every `Notified` created before the
        // call), or the waiter's load comes after this store and sees the
        // new count. Anything weaker lets both read the old values: a
        // request that never starts.
        self.count.store(count, Ordering::SeqCst);
        if self.waiting.load(Ordering::SeqCst) > 0 {
            self.changed.notify_waiters();
        }
    }

    /// Lines written so far.
    pub(crate) fn get(&self) -> usize {
        self.count.load(Ordering::SeqCst)
    }

    /// Returns once `ready(lines written)` holds.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future stops the wait; nothing is lost.
    pub(crate) async fn wait_until(&self, ready: impl Fn(usize) -> bool) {
        if ready(self.get()) {
            return;
        }
        self.waiting.fetch_add(1, Ordering::SeqCst);
        struct Leave<'a>(&'a AtomicUsize);
        impl Drop for Leave<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::SeqCst);
            }
        }
        let _leave = Leave(&self.waiting);
        loop {
            // Registered before the check, so a `set` after it wakes us.
            let changed = self.changed.notified();
            let mut changed = std::pin::pin!(changed);
            changed.as_mut().enable();
            if ready(self.get()) {
                return;
            }
            changed.await;
        }
    }
}

impl OrderedWriter {
    pub(crate) fn new(out: Box<dyn Write + Send>) -> OrderedWriter {
        OrderedWriter {
            out: BufWriter::new(out),
            waiting: ByPosition::default(),
            next: 0,
            written: Arc::default(),
        }
    }

    /// Tells how many lines have been written so far; children wait on it
    /// before starting, which is what bounds the reorder buffer.
    pub(crate) fn written(&self) -> Arc<Written> {
        self.written.clone()
    }

    /// Lines written.
    pub(crate) fn count(&self) -> usize {
        self.next
    }

    /// Lines held back, waiting for an earlier one.
    #[cfg(test)]
    pub(crate) fn held(&self) -> usize {
        self.waiting.len()
    }

    /// Adds the line at position `pos`, and writes every line now in order.
    pub(crate) fn insert(&mut self, pos: usize, line: String) -> io::Result<()> {
        self.waiting.insert(pos, line);
        let before = self.next;
        while let Some(line) = self.waiting.pop_first() {
            self.out.write_all(line.as_bytes())?;
            self.out.write_all(b"\n")?;
            self.next += 1;
        }
        if self.next != before {
            self.written.set(self.next);
        }
        Ok(())
    }

    /// Flushes what was written. The run calls it whenever no other result
    /// is ready, so each line is out as soon as the run would wait, without
    /// a write per line when results arrive in bursts.
    pub(crate) fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    /// Flushes; lines still waiting (after a gap) are dropped, since
    /// writing them would break the order. Returns how many were dropped.
    pub(crate) fn finish(&mut self) -> io::Result<usize> {
        self.out.flush()?;
        Ok(std::mem::take(&mut self.waiting).len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn lines_are_written_in_order_as_soon_as_they_can_be() {
        let sink = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        struct Shared(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
        impl Write for Shared {
            fn write(&mut self, b: &[u8]) -> io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let mut w = OrderedWriter::new(Box::new(Shared(sink.clone())));
        w.insert(2, "c".into()).unwrap();
        w.insert(1, "b".into()).unwrap();
        assert_eq!(w.count(), 0);
        assert_eq!(w.held(), 2);
        w.insert(0, "a".into()).unwrap();
        w.flush().unwrap();
        assert_eq!(w.written().get(), 3);
        assert_eq!(
            String::from_utf8(sink.lock().unwrap().clone()).unwrap(),
            "a\nb\nc\n"
        );
    }
    #[tokio::test]
    async fn a_request_waiting_for_the_window_starts_once_enough_lines_are_written() {
        let written = Arc::new(Written::default());
        let waiter = tokio::spawn({
            let written = written.clone();
            async move { written.wait_until(|w| w >= 3).await }
        });
        // Each set wakes the waiter (it is counted in `waiting`), which
        // checks its condition and waits on: it must not return before 3.
        for count in 1..3 {
            written.set(count);
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            assert!(
                !waiter.is_finished(),
                "returned at {count} lines written, before the 3 it waits for"
            );
        }
        assert_eq!(written.waiting.load(Ordering::SeqCst), 1);
        written.set(3);
        tokio::time::timeout(std::time::Duration::from_secs(5), waiter)
            .await
            .expect("woken when the count is reached")
            .unwrap();
        assert_eq!(written.waiting.load(Ordering::SeqCst), 0);

        // A wait that is dropped is no longer counted, so sets stay cheap.
        let dropped = tokio::time::timeout(
            std::time::Duration::from_millis(10),
            written.wait_until(|w| w >= 100),
        );
        assert!(dropped.await.is_err());
        assert_eq!(written.waiting.load(Ordering::SeqCst), 0);
        // Already satisfied: returns without waiting.
        written.wait_until(|w| w >= 3).await;
    }
}
