//! Values keyed by their position in the run, held in a ring.
//!
//! A run keeps two such maps: the jobs in flight, and the finished lines
//! waiting for an earlier one. Both only ever hold positions within a
//! bounded window (`--limit` plus `--reorder-window`) after the first one
//! still held, so a ring indexed by `position - first` does what a hash
//! map did, without hashing, and with one allocation for the whole run
//! instead of growth and rehashing. Measured against nginx, the two maps'
//! SipHash inserts and removes were among the tool's largest costs per URL.

use std::collections::VecDeque;

/// Values by position, in a ring starting at the first position held (or
/// still awaited).
#[derive(Debug)]
pub struct ByPosition<T> {
    /// The position of `slots[0]`.
    first: usize,
    slots: VecDeque<Option<T>>,
}

impl<T> Default for ByPosition<T> {
    fn default() -> Self {
        ByPosition {
            first: 0,
            slots: VecDeque::new(),
        }
    }
}

impl<T> ByPosition<T> {
    /// Holds `value` at `pos`; a position already passed is ignored
    /// (returned), as no one will ask for it.
    pub fn insert(&mut self, pos: usize, value: T) -> Option<T> {
        let Some(i) = pos.checked_sub(self.first) else {
            return Some(value);
        };
        if i >= self.slots.len() {
            self.slots.resize_with(i + 1, || None);
        }
        self.slots[i].replace(value)
    }

    /// Takes the value at `pos`, if held.
    pub fn take(&mut self, pos: usize) -> Option<T> {
        let i = pos.checked_sub(self.first)?;
        self.slots.get_mut(i)?.take()
    }

    /// Takes the value at the first position, if it is held, and moves on
    /// to the next position.
    pub fn pop_first(&mut self) -> Option<T> {
        let value = self.slots.front_mut()?.take()?;
        self.slots.pop_front();
        self.first += 1;
        Some(value)
    }

    /// Moves the first position past those with no value (taken already).
    pub fn skip_empty(&mut self) {
        while let Some(None) = self.slots.front() {
            self.slots.pop_front();
            self.first += 1;
        }
    }

    /// Every value held, in position order, gaps skipped.
    pub fn into_values(self) -> impl Iterator<Item = T> {
        self.slots.into_iter().flatten()
    }

    /// Values held.
    pub fn len(&self) -> usize {
        self.slots.iter().filter(|s| s.is_some()).count()
    }

    /// No value held.
    pub fn is_empty(&self) -> bool {
        self.slots.iter().all(Option::is_none)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_order_inserts_come_out_in_order() {
        let mut lines = ByPosition::default();
        lines.insert(2, "c");
        lines.insert(1, "b");
        assert_eq!(lines.pop_first(), None, "position 0 has not arrived");
        lines.insert(0, "a");
        let drained: Vec<_> = std::iter::from_fn(|| lines.pop_first()).collect();
        assert_eq!(drained, ["a", "b", "c"]);
        assert!(lines.is_empty());
        lines.insert(4, "e");
        assert_eq!((lines.len(), lines.pop_first()), (1, None));
        assert_eq!(
            lines.insert(1, "old"),
            Some("old"),
            "a passed position is not held"
        );
    }

    #[test]
    fn taken_values_leave_gaps_that_skip_empty_closes() {
        let mut jobs = ByPosition::default();
        for pos in 0..4 {
            jobs.insert(pos, pos * 10);
        }
        assert_eq!(jobs.take(2), Some(20));
        assert_eq!(jobs.take(2), None);
        assert_eq!(jobs.take(0), Some(0));
        jobs.skip_empty();
        assert_eq!(jobs.take(1), Some(10));
        jobs.skip_empty();
        assert_eq!((jobs.first, jobs.slots.len()), (3, 1), "0 to 2 are gone");
        assert_eq!(jobs.take(9), None);
        assert_eq!(jobs.take(3), Some(30));
        jobs.skip_empty();
        assert!(jobs.slots.is_empty());
    }
}
