//! Where running children live: pinned in place, [`BLOCK`] to a chunk.
//!
//! # Why chunks
//!
//! A child must not move once it has been polled (it may point into
//! itself), so children cannot live in a `Vec` that grows. Boxing each one
//! costs an allocation when it starts and a free when it ends, and scatters
//! a million children over the heap. Here slots are handed out in chunks
//! of up to [`BLOCK`], each one allocation pinned for its whole life, beside
//! the block of wakers for the same slots ([`Wakers`]): slot `id` is
//! position `id % BLOCK` of chunk `id / BLOCK`, for its child and its waker
//! alike.
//!
//! A chunk is sized to what the operation can use (`room`: the smaller of
//! its limit and its number of inputs, when known), so a gather of three
//! children holds three slots, not sixty-four. Slots are reused while
//! inputs remain; once the slab is [sealed](Slab::seal) (the input is
//! exhausted), a chunk whose children have all finished is freed at once,
//! so memory falls as a large gather runs and its end frees nothing per
//! child.
//!
//! # No atomics
//!
//! The slab is owned by its operation and touched only from that
//! operation's `poll` (and drop), through `&mut`: it needs no atomics and
//! no lock. What other threads reach is the block of wakers beside each
//! chunk ([`Wakers`]), whose atomics are argued in [`wake`](crate::wake).
#![allow(unsafe_code)]

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use crate::child::drop_caught;
use crate::outcome::Panic;
use crate::wake::{ReadyQueue, Wakers, BLOCK};

/// Pinned slots for children of type `G`, each with what the driver keeps
/// beside it (`M`: the child's input index, its guard), and their wakers.
pub(crate) struct Slab<G, M> {
    chunks: Vec<Option<Chunk<G, M>>>,
    queue: Arc<ReadyQueue>,
    /// Slots handed out so far.
    len: usize,
    sealed: bool,
}

struct Chunk<G, M> {
    /// Never moved or replaced while the chunk lives: see `slot`.
    children: Pin<Box<[Option<G>]>>,
    /// What the driver keeps beside each slot's child. Apart from the
    /// child, so the child is moved into its slot as it is, not first into
    /// a wrapper with these.
    meta: Box<[M]>,
    /// Slots handed out so far (positions `0..used`).
    used: usize,
    /// Slots holding a running child.
    live: usize,
    wakers: Wakers,
}

/// The child in position `pos` of a chunk's `children`, pinned.
fn slot<G>(children: &mut Pin<Box<[Option<G>]>>, pos: usize) -> Pin<&mut Option<G>> {
    // SAFETY: a structural projection. The boxed slice is pinned when its
    // chunk is made and never moved, replaced or reallocated until the
    // chunk is dropped (which drops each element in place), and elements
    // are only ever reached through this pinned projection.
    unsafe { children.as_mut().map_unchecked_mut(|s| &mut s[pos]) }
}

impl<G, M: Default> Slab<G, M> {
    /// An empty slab whose wakers feed `queue`.
    pub(crate) fn new(queue: Arc<ReadyQueue>) -> Slab<G, M> {
        Slab {
            chunks: Vec::new(),
            queue,
            len: 0,
            sealed: false,
        }
    }

    /// The queue the slab's wakers feed.
    pub(crate) fn queue(&self) -> &ReadyQueue {
        &self.queue
    }

    /// Slots handed out so far.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// A slot never used before. `room` is how many more slots the caller
    /// may need at most: a new chunk is no larger.
    pub(crate) fn vacant(&mut self, room: usize) -> usize {
        self.len += 1;
        let first_id = self.chunks.len() * BLOCK;
        if let Some(Some(last)) = self.chunks.last_mut() {
            if last.used < last.meta.len() {
                last.used += 1;
                return first_id - BLOCK + last.used - 1;
            }
        }
        let size = room.clamp(1, BLOCK);
        self.chunks.push(Some(Chunk {
            children: Box::into_pin((0..size).map(|_| None).collect()),
            meta: (0..size).map(|_| M::default()).collect(),
            used: 1,
            live: 0,
            wakers: Wakers::new(first_id, &self.queue),
        }));
        first_id
    }

    /// Starts `child` in the free slot `id`, with `meta` beside it.
    ///
    /// # Panics
    ///
    /// If `id` was not handed out by [`vacant`](Slab::vacant), or its
    /// chunk has been freed: a driver bug, not a user's.
    // Always inlined: each call level moved the child (often 100+ bytes)
    // once more (callgrind, yield-once children: 7% fewer instructions).
    #[inline(always)]
    pub(crate) fn put(&mut self, id: usize, child: G, meta: M) {
        let chunk = self.chunks[id / BLOCK]
            .as_mut()
            .expect("a slot of a freed chunk was reused");
        let pos = id % BLOCK;
        slot(&mut chunk.children, pos).set(Some(child));
        chunk.meta[pos] = meta;
        chunk.live += 1;
    }

    /// Polls the child in slot `id` (with `poll`, given the slot's meta and
    /// waker), if there is one. When it finishes it is dropped in place
    /// (and its chunk freed, once sealed and empty), and its meta and
    /// output are returned, with the panic of its `Drop` if it had one.
    #[inline]
    pub(crate) fn poll<O>(
        &mut self,
        id: usize,
        poll: impl FnOnce(Pin<&mut G>, &mut M, &mut Context<'_>) -> Poll<O>,
    ) -> Option<(M, O, Result<(), Panic>)> {
        let (c, pos) = (id / BLOCK, id % BLOCK);
        // Ids of freed chunks still arrive from wakers that outlived their
        // child: they are spurious, and ignored.
        let chunk = self.chunks.get_mut(c)?.as_mut()?;
        let child = slot(&mut chunk.children, pos).as_pin_mut()?;
        let meta = &mut chunk.meta[pos];
        let Poll::Ready(out) = chunk.wakers.poll_with(pos, |cx| poll(child, meta, cx)) else {
            return None;
        };
        let dropped = drop_caught(slot(&mut chunk.children, pos));
        chunk.live -= 1;
        let meta = std::mem::take(&mut chunk.meta[pos]);
        if self.sealed && chunk.live == 0 {
            self.chunks[c] = None;
        }
        Some((meta, out, dropped))
    }

    /// No slot will be reused from now on: frees the chunks with no running
    /// child now, and each other one as its last child finishes.
    pub(crate) fn seal(&mut self) {
        self.sealed = true;
        for chunk in &mut self.chunks {
            if chunk.as_ref().is_some_and(|c| c.live == 0) {
                *chunk = None;
            }
        }
    }

    /// Calls `each` with the meta and the pinned child of every running
    /// slot, in slot order.
    pub(crate) fn for_each_running(&mut self, mut each: impl FnMut(&M, Pin<&mut G>)) {
        for chunk in self.chunks.iter_mut().flatten() {
            for pos in 0..chunk.used {
                if let Some(child) = slot(&mut chunk.children, pos).as_pin_mut() {
                    each(&chunk.meta[pos], child);
                }
            }
        }
    }
}

impl<G, M> Slab<G, M> {
    /// Drops every child and every chunk. A child whose `Drop` panics is
    /// caught and dropped all the same: the operation is ending (cancelled,
    /// timed out, failed or dropped) and has its own outcome to report, so
    /// the panic unwinds through no caller.
    pub(crate) fn clear(&mut self) {
        for chunk in self.chunks.iter_mut().flatten() {
            for pos in 0..chunk.used {
                let _ = drop_caught(slot(&mut chunk.children, pos));
            }
        }
        self.chunks.clear();
        self.len = 0;
    }
}

impl<G, M> Drop for Slab<G, M> {
    fn drop(&mut self) {
        self.clear();
    }
}

#[cfg(all(test, not(gather_loom)))]
mod tests {
    use super::*;
    use std::future::{pending, ready, Future, Pending, Ready};

    fn slab<G>() -> Slab<G, usize> {
        Slab::new(Arc::new(ReadyQueue::new()))
    }

    fn poll<F: Future>(s: &mut Slab<F, usize>, id: usize) -> Option<(usize, F::Output)> {
        let (meta, out, dropped) = s.poll(id, |child, _, cx| child.poll(cx))?;
        assert!(dropped.is_ok());
        Some((meta, out))
    }

    #[test]
    fn ids_fill_a_chunk_before_the_next_and_chunks_fit_the_room() {
        let mut s: Slab<Ready<u8>, usize> = slab();
        assert_eq!(s.vacant(3), 0);
        assert_eq!(s.vacant(2), 1);
        assert_eq!(s.vacant(1), 2);
        assert_eq!(s.len(), 3);
        // The first chunk held three: the fourth slot opens a new chunk.
        assert_eq!(s.vacant(1000), BLOCK);
        let ids: Vec<usize> = (0..BLOCK).map(|_| s.vacant(1000)).collect();
        assert_eq!(ids[..BLOCK - 1], (BLOCK + 1..2 * BLOCK).collect::<Vec<_>>());
        assert_eq!(ids[BLOCK - 1], 2 * BLOCK);
    }

    #[test]
    fn a_finished_child_is_dropped_in_place_and_reported_with_its_index() {
        let mut s = slab();
        let id = s.vacant(1);
        s.put(id, ready('x'), 41);
        assert_eq!(poll(&mut s, id), Some((41, 'x')));
        // Dropped: polling the slot again finds nothing.
        assert_eq!(poll(&mut s, id), None);
        s.put(id, ready('y'), 42);
        assert_eq!(poll(&mut s, id), Some((42, 'y')));
    }

    #[test]
    fn sealing_frees_idle_chunks_and_then_each_as_it_empties() {
        let queue = Arc::new(ReadyQueue::new());
        let mut s: Slab<Pin<Box<dyn Future<Output = u8>>>, usize> = Slab::new(queue.clone());
        let a = s.vacant(BLOCK + 1);
        s.put(a, Box::pin(ready(1)), 0);
        let first_chunk: Vec<usize> = (1..BLOCK).map(|_| s.vacant(BLOCK)).collect();
        let b = s.vacant(1);
        assert_eq!(b, BLOCK);
        s.put(b, Box::pin(ready(2)), 1);
        assert_eq!(poll(&mut s, b), Some((1, 2)));
        // The slab and each chunk's waker block hold a queue reference.
        assert_eq!(Arc::strong_count(&queue), 4);
        s.seal();
        assert_eq!(Arc::strong_count(&queue), 3, "the idle chunk was kept");
        assert_eq!(poll(&mut s, a), Some((0, 1)));
        assert_eq!(Arc::strong_count(&queue), 2, "the emptied chunk was kept");
        // Stale ids of freed chunks are ignored.
        assert_eq!(poll(&mut s, a), None);
        assert_eq!(poll(&mut s, first_chunk[3]), None);
    }

    #[test]
    fn running_children_are_visited_and_cleared() {
        let mut s: Slab<Pending<()>, usize> = slab();
        for index in [7, 3, 9] {
            let id = s.vacant(3);
            s.put(id, pending(), index);
        }
        assert_eq!(poll(&mut s, 1), None);
        let mut seen = Vec::new();
        s.for_each_running(|&index, _| seen.push(index));
        assert_eq!(seen, [7, 3, 9]);
        s.clear();
        seen.clear();
        s.for_each_running(|&index, _| seen.push(index));
        assert!(seen.is_empty());
    }
}
