//! The reorder window: how far ahead of the results handed on a request
//! may start, in positions and in bytes held.

use std::sync::Arc;

use super::Written;

/// The reorder window: a request at position `p` starts only once
/// `p < handed_on + size` and, unless it is the next to hand on
/// (`p == handed_on`), while the results held for the order are under
/// `bytes`.
#[derive(Debug, Clone)]
pub(crate) struct Window {
    /// Results handed on in order (lines written, items taken), and the
    /// bytes held of those waiting for an earlier one.
    pub handed_on: Arc<Written>,
    pub size: usize,
    pub bytes: usize,
}

impl Window {
    /// The request at `pos` may start now, with `handed_on` results
    /// handed on (what [`wait_for_room`](Window::wait_for_room) waits for).
    pub(crate) fn has_room(&self, pos: usize, handed_on: usize) -> bool {
        pos == handed_on
            || (pos < handed_on.saturating_add(self.size) && self.handed_on.held() < self.bytes)
    }

    /// Returns once the request at `pos` may start.
    ///
    /// The next result to hand on may always start, so a run whose held
    /// results are over the budget goes on (one result at a time) rather
    /// than stopping: handing it on writes those held behind it, which
    /// makes room.
    pub(crate) async fn wait_for_room(&self, pos: usize) {
        self.handed_on.wait_until(|n| self.has_room(pos, n)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// Past the byte budget, only the next result to hand on may start;
    /// handing it on (which hands on those held behind it) makes room.
    #[tokio::test]
    async fn past_the_byte_budget_only_the_next_result_starts() {
        let handed_on = Arc::new(Written::default());
        let window = Window {
            handed_on: handed_on.clone(),
            size: 100,
            bytes: 1000,
        };
        let soon = Duration::from_secs(5);
        tokio::time::timeout(soon, window.wait_for_room(7))
            .await
            .expect("under the budget");
        handed_on.hold(1000);
        tokio::time::timeout(soon, window.wait_for_room(0))
            .await
            .expect("the next to hand on starts whatever is held");
        let waiting = tokio::spawn({
            let window = window.clone();
            async move { window.wait_for_room(5).await }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiting.is_finished(), "started past the budget");
        handed_on.release(1);
        handed_on.set(1);
        tokio::time::timeout(soon, waiting)
            .await
            .expect("room made")
            .unwrap();
        // Past the window, room in bytes is not enough.
        let far = tokio::time::timeout(Duration::from_millis(20), window.wait_for_room(101));
        assert!(far.await.is_err());
    }
}
