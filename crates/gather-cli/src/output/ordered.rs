//! The reorder writer: lines in input order, written as soon as the next
//! one is ready, and the count of lines written that requests wait on.

use std::io::{self, BufWriter, Write};
use std::sync::Arc;

use gather_http::{ByPosition, Written};

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
    /// The lines held for an earlier one are counted in bytes ([`Written::hold`]),
    /// which bounds them by `--reorder-window` and by the run's byte budget.
    pub(crate) fn insert(&mut self, pos: usize, line: String) -> io::Result<()> {
        // Every line but the next one's is held.
        let unheld = (pos == self.next).then_some(pos);
        if unheld.is_none() {
            self.written.hold(line.len());
        }
        self.waiting.insert(pos, line);
        let before = self.next;
        let mut released = 0;
        while let Some(line) = self.waiting.pop_first() {
            if unheld != Some(self.next) {
                released += line.len();
            }
            self.out.write_all(line.as_bytes())?;
            self.out.write_all(b"\n")?;
            self.next += 1;
        }
        if self.next != before {
            self.written.release(released);
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

    /// Flushes, writing the lines still waiting after the gaps too (in
    /// order among themselves): for a run that stopped with answers that
    /// must not be lost, since `--resume` would send their requests again.
    /// Each line carries its `index`, which is how `--resume` reads a file
    /// out of order (and puts it back in order once every line is in).
    /// Returns how many were written past a gap.
    pub(crate) fn finish_past_gaps(&mut self) -> io::Result<usize> {
        let mut past = 0;
        for line in std::mem::take(&mut self.waiting).into_values() {
            self.out.write_all(line.as_bytes())?;
            self.out.write_all(b"\n")?;
            past += 1;
        }
        self.out.flush()?;
        Ok(past)
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
        w.insert(1, "bb".into()).unwrap();
        assert_eq!(w.count(), 0);
        assert_eq!(w.held(), 2);
        assert_eq!(w.written().held(), 3, "the bytes of the lines held");
        w.insert(0, "a".into()).unwrap();
        w.flush().unwrap();
        assert_eq!(w.written().get(), 3);
        assert_eq!(w.written().held(), 0);
        w.insert(4, "e".into()).unwrap();
        assert_eq!(w.written().held(), 1);
        w.insert(3, "d".into()).unwrap();
        assert_eq!(w.written().held(), 0);
        w.flush().unwrap();
        assert_eq!(
            String::from_utf8(sink.lock().unwrap().clone()).unwrap(),
            "a\nbb\nc\nd\ne\n"
        );
    }
}
