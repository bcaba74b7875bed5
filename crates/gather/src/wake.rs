//! The wake-up path: one waker per slot, and the queue they feed.
//!
//! Waking a slot pushes its id onto a shared [`ReadyQueue`] once (a flag per
//! slot dedupes repeated wakes), and the driver polls exactly the ids it
//! drains: O(1) work per wake-up, whatever the number of children.
//!
//! # Why raw wakers, sixty-four to an allocation
//!
//! A [`Waker`] carries one pointer. Built from an `Arc<impl Wake>`, every
//! slot needs an `Arc` of its own: an allocation when a child starts and a
//! free when it ends. For a gather of a million yield-once children that was
//! the largest single cost (callgrind: 44% of the instructions in malloc and
//! free, with the slot's box). Here the wakers of [`BLOCK`] consecutive
//! slots share one allocation, a `Block`: a reference count, the queue, the
//! first slot's id, and one two-byte node per slot. A waker points at its
//! node; the node knows its position, which leads back to the block. Cloning
//! or dropping a waker counts references on the block, which is freed when
//! the driver and the last waker anyone kept are both done with it.
//!
//! This is the one place in the crate that builds wakers by hand. Its
//! interleavings (wakes racing the driver's drain, the last reference
//! dropped on another thread) are explored by loom
//! (`RUSTFLAGS="--cfg gather_loom" cargo test -p gather --lib loom`), and
//! the tests that reach it run under valgrind in CI.
#![allow(unsafe_code)]

use std::mem::{offset_of, ManuallyDrop};
use std::ptr::NonNull;
use std::sync::Arc;
use std::task::{Context, RawWaker, RawWakerVTable, Waker};

use crate::sync::{fence, lock, AtomicBool, AtomicUsize, Mutex, Ordering};

/// Slots per block of wakers (and per chunk of the driver's slab).
pub(crate) const BLOCK: usize = 64;

/// Ids of woken slots, and the waker of the operation that drains them.
pub(crate) struct ReadyQueue {
    inner: Mutex<ReadyInner>,
    /// The number of queued ids, written under the lock: lets the driver
    /// see an empty queue without taking it (see [`is_empty`](Self::is_empty)).
    len: AtomicUsize,
}

#[derive(Default)]
struct ReadyInner {
    ids: Vec<usize>,
    waker: Option<Waker>,
}

impl ReadyQueue {
    pub(crate) fn new() -> ReadyQueue {
        ReadyQueue {
            inner: Mutex::new(ReadyInner::default()),
            len: AtomicUsize::new(0),
        }
    }

    fn push(&self, id: usize) {
        let waker = {
            let mut inner = lock(&self.inner);
            inner.ids.push(id);
            // `len` is a hint for `is_empty`, which reads nothing through
            // it (the ids are read under the lock): see there for why a
            // stale value in either direction is safe. Release/Acquire
            // cost nothing more than Relaxed on x86 and are kept so that a
            // non-zero `len` seen there also shows the pushed id.
            self.len.store(inner.ids.len(), Ordering::Release);
            // A non-empty queue means a wake-up is already on its way (the
            // operation registers its waker and drains under this same lock),
            // so only the push that makes the queue non-empty wakes it.
            if inner.ids.len() == 1 {
                inner.waker.clone()
            } else {
                None
            }
        };
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// Moves every queued id into `batch` and registers `waker` for the next.
    pub(crate) fn drain_into(&self, batch: &mut Vec<usize>, waker: &Waker) {
        let mut inner = lock(&self.inner);
        match &inner.waker {
            Some(w) if w.will_wake(waker) => {}
            _ => inner.waker = Some(waker.clone()),
        }
        std::mem::swap(&mut inner.ids, batch);
        // Relaxed: written under the lock, which orders it against every
        // push; `is_empty` tolerates a stale value (see there).
        self.len.store(0, Ordering::Relaxed);
    }

    /// `true` if no id is queued, as far as this thread can tell yet.
    ///
    /// Only meaningful to an operation that has registered its current
    /// waker with [`drain_into`](Self::drain_into): a push this misses
    /// found the queue empty after that drain, so it wakes that waker.
    ///
    /// The lock-free check, and why no ordering is load-bearing here: the
    /// pair that matters is `drain_into` (empties the queue, registers the
    /// waker) and `push` (appends; wakes the registered waker if the queue
    /// was empty), and the lock orders those two. A stale `0` read here
    /// means a push that the lock orders after the last drain: it found the
    /// queue empty and woke the operation, which will drain it. A stale
    /// non-zero value only costs taking the lock for nothing. Loom:
    /// `loom_an_empty_queue_seen_without_the_lock_loses_no_wake_up`.
    pub(crate) fn is_empty(&self) -> bool {
        self.len.load(Ordering::Acquire) == 0
    }
}

/// The state behind one slot's waker.
struct Node {
    /// Set while the slot's id is queued (or about to be polled), so that a
    /// child waking itself many times is queued once.
    queued: AtomicBool,
    /// This node's position in its block: the way back to the block.
    pos: u8,
}

/// The shared allocation behind [`BLOCK`] wakers.
struct Block {
    /// The driver's reference plus one per live `Waker` clone.
    refs: AtomicUsize,
    first_id: usize,
    queue: Arc<ReadyQueue>,
    nodes: [Node; BLOCK],
}

// `pos` must be able to name every node.
const _: () = assert!(BLOCK <= u8::MAX as usize + 1);

/// The driver's reference to one block: the wakers of slots `first_id ..
/// first_id + BLOCK`. Dropping it gives up the driver's reference; the
/// block itself lives on while any waker handed to a child does.
pub(crate) struct Wakers {
    block: NonNull<Block>,
}

// SAFETY: a `Block` holds only atomics, plain integers and an
// `Arc<ReadyQueue>` (Send + Sync); every access through the pointer is a
// shared one, and the allocation is freed once, by whoever drops the last
// reference (see `release`).
unsafe impl Send for Wakers {}
// SAFETY: as above; `&Wakers` only reads the block or touches its atomics.
unsafe impl Sync for Wakers {}

impl Wakers {
    /// A fresh block for slots `first_id .. first_id + BLOCK`, none queued.
    pub(crate) fn new(first_id: usize, queue: &Arc<ReadyQueue>) -> Wakers {
        let block = Box::new(Block {
            refs: AtomicUsize::new(1),
            first_id,
            queue: queue.clone(),
            nodes: std::array::from_fn(|pos| Node {
                queued: AtomicBool::new(false),
                pos: pos as u8,
            }),
        });
        Wakers {
            block: NonNull::from(Box::leak(block)),
        }
    }

    /// The node of slot `pos`, as a pointer carrying the whole block's
    /// provenance (so the vtable may walk back from it to the block).
    fn node(&self, pos: usize) -> *const Node {
        assert!(pos < BLOCK, "slot position {pos} out of its block");
        // SAFETY: `block` is live while `self` holds its reference, and
        // `nodes` has BLOCK elements, so the offset stays inside the block.
        unsafe {
            self.block
                .as_ptr()
                .cast::<u8>()
                .add(offset_of!(Block, nodes))
                .cast::<Node>()
                .add(pos)
        }
    }

    /// Clears slot `pos`'s queued flag and runs `poll` with its waker. A
    /// wake that the child's poll may not have seen queues the slot again.
    ///
    /// The waker is lent, not cloned: the driver's own reference keeps the
    /// block alive for the whole call, so no count changes unless the child
    /// clones it.
    #[inline]
    pub(crate) fn poll_with<R>(&self, pos: usize, poll: impl FnOnce(&mut Context<'_>) -> R) -> R {
        let node = self.node(pos);
        // The clear must be a read-modify-write with Acquire, not a store.
        // (Its Release half would order nothing: a waker that reads our
        // `false` only pushes an id, from fields that never change.)
        //
        // A waker does two things: it makes the child's resource ready
        // (`S`, say a oneshot's value, written with Release) and then
        // `swap(true, AcqRel)` on this flag, queueing the slot only if it
        // read `false`. Here the driver clears the flag and then the child
        // reads `S`. With a plain store both sides could read the other's
        // old value (the store-buffering shape): the waker's swap reads
        // `true` (no push) and the child reads `S` unset (Pending). Nothing
        // would ever poll the child again: issue #13, 256 hangs in 2M
        // gathers. With a swap, the two RMWs on `queued` are totally
        // ordered:
        // - the waker's comes later: it reads our `false` and pushes the
        //   slot, so the child is polled again;
        // - ours comes later: it reads the `true` of the waker's swap (or of
        //   an RMW after it, which continues its release sequence), so our
        //   Acquire synchronises with the waker's Release, `S` happens
        //   before the poll below, and the child sees it.
        // futures-util's FuturesUnordered clears with a swap for the same
        // reason. Loom: `loom_a_child_that_reads_state_set_before_its_wake_
        // is_never_lost` fails with the store and passes with this.
        //
        // SAFETY: `node` points into the block `self` keeps alive.
        unsafe { &*node }.queued.swap(false, Ordering::Acquire);
        // SAFETY: `node` is a node of a live block and VTABLE's functions
        // uphold the RawWaker contract for such pointers (see each). The
        // ManuallyDrop means this borrowed waker never gives up a
        // reference it did not take.
        let waker =
            ManuallyDrop::new(unsafe { Waker::from_raw(RawWaker::new(node.cast(), &VTABLE)) });
        poll(&mut Context::from_waker(&waker))
    }

    /// An owned waker for slot `pos`, as a child's clone would be.
    #[cfg(any(test, gather_loom))]
    pub(crate) fn waker(&self, pos: usize) -> Waker {
        let node = self.node(pos);
        // SAFETY: as in `poll_with`; `clone` takes the reference the
        // returned waker gives up when dropped.
        let raw = unsafe { clone(node.cast()) };
        // SAFETY: `raw` came from VTABLE's `clone`.
        unsafe { Waker::from_raw(raw) }
    }
}

impl Drop for Wakers {
    fn drop(&mut self) {
        // SAFETY: the driver's reference, given up exactly once.
        unsafe { release(self.block.as_ptr()) }
    }
}

static VTABLE: RawWakerVTable = RawWakerVTable::new(clone, wake, wake_by_ref, drop_waker);

/// The block that `node` belongs to.
///
/// # Safety
/// `node` must point at a node of a live block, with the block's
/// provenance (as `Wakers::node` makes them).
unsafe fn block_of(node: *const Node) -> *const Block {
    // SAFETY: the caller's pointer is valid; `pos` steps back to `nodes[0]`
    // and `offset_of` to the block's start, both inside the allocation.
    unsafe {
        let pos = (*node).pos as usize;
        node.sub(pos)
            .cast::<u8>()
            .sub(offset_of!(Block, nodes))
            .cast::<Block>()
    }
}

/// Gives up one reference to `block`, freeing it with the last.
///
/// # Safety
/// The caller must own one reference to the live `block`, and not use it
/// afterwards.
unsafe fn release(block: *const Block) {
    // SAFETY: the caller owns a reference, so the block is live here.
    let refs = unsafe { &(*block).refs };
    // Release, then Acquire on the last: every use of the block by other
    // references happens before it is freed (as `Arc` does).
    if refs.fetch_sub(1, Ordering::Release) != 1 {
        return;
    }
    fence(Ordering::Acquire);
    // SAFETY: that was the last reference; the block came from `Box::leak`
    // in `Wakers::new` and nothing can reach it any more.
    drop(unsafe { Box::from_raw(block.cast_mut()) });
}

/// # Safety
/// `data` is a node pointer from a waker holding (or lent under) a live
/// reference.
unsafe fn clone(data: *const ()) -> RawWaker {
    // SAFETY: the waker being cloned keeps the block alive.
    let block = unsafe { &*block_of(data.cast()) };
    // Relaxed, as `Arc::clone`: a new reference is made from an existing
    // one, which already orders the block's use.
    let old = block.refs.fetch_add(1, Ordering::Relaxed);
    if old > isize::MAX as usize {
        // Leaked wakers by the billion: wrapping would free a live block.
        std::process::abort();
    }
    RawWaker::new(data, &VTABLE)
}

/// # Safety
/// `data` is a node pointer from an owned waker, whose reference this
/// gives up.
unsafe fn wake(data: *const ()) {
    // SAFETY: the caller's waker is live until `drop_waker` below.
    unsafe {
        wake_by_ref(data);
        drop_waker(data);
    }
}

/// # Safety
/// `data` is a node pointer from a live waker.
unsafe fn wake_by_ref(data: *const ()) {
    let node: *const Node = data.cast();
    // SAFETY: the waker keeps the block, and so the node, alive.
    let (node, block) = unsafe { (&*node, &*block_of(node)) };
    // Release: whatever the waking thread did before waking (made the
    // child's resource ready) happens before the driver's Acquire clear in
    // `poll_with`, and so before the child's next poll, whenever this swap
    // finds the slot already queued and pushes nothing. Acquire is not
    // needed: reading `false` only leads to pushing an id made of fields
    // that never change, under the queue's lock.
    if !node.queued.swap(true, Ordering::Release) {
        block.queue.push(block.first_id + node.pos as usize);
    }
}

/// # Safety
/// `data` is a node pointer from an owned waker, whose reference this
/// gives up.
unsafe fn drop_waker(data: *const ()) {
    // SAFETY: the waker owned one reference, given up here once.
    unsafe { release(block_of(data.cast())) }
}

#[cfg(all(test, not(gather_loom)))]
mod tests {
    use super::*;
    use std::task::Wake;

    struct Count(std::sync::atomic::AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn drained(queue: &ReadyQueue) -> Vec<usize> {
        let mut batch = Vec::new();
        let idle = Waker::from(Arc::new(Count(Default::default())));
        queue.drain_into(&mut batch, &idle);
        batch
    }

    #[test]
    fn a_wake_queues_its_slot_id_once() {
        let queue = Arc::new(ReadyQueue::new());
        let wakers = Wakers::new(128, &queue);
        let w = wakers.waker(5);
        w.wake_by_ref();
        w.wake_by_ref();
        wakers.waker(63).wake();
        assert_eq!(drained(&queue), [133, 191]);
        // Queued until polled: a third wake before the poll adds nothing.
        w.wake_by_ref();
        assert_eq!(drained(&queue), []);
        wakers.poll_with(5, |cx| cx.waker().wake_by_ref());
        assert_eq!(drained(&queue), [133]);
    }

    #[test]
    fn is_empty_follows_pushes_and_drains() {
        let queue = Arc::new(ReadyQueue::new());
        let wakers = Wakers::new(0, &queue);
        assert!(queue.is_empty());
        wakers.waker(2).wake();
        assert!(!queue.is_empty());
        assert_eq!(drained(&queue), [2]);
        assert!(queue.is_empty());
    }

    #[test]
    fn the_first_push_wakes_the_operation() {
        let queue = Arc::new(ReadyQueue::new());
        let parent = Arc::new(Count(Default::default()));
        let mut batch = Vec::new();
        queue.drain_into(&mut batch, &Waker::from(parent.clone()));
        let wakers = Wakers::new(0, &queue);
        wakers.waker(0).wake();
        wakers.waker(1).wake();
        assert_eq!(parent.0.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn the_block_outlives_the_driver_while_a_waker_does() {
        let queue = Arc::new(ReadyQueue::new());
        let wakers = Wakers::new(0, &queue);
        let kept = wakers.poll_with(7, |cx| cx.waker().clone());
        let twin = kept.clone();
        assert!(kept.will_wake(&twin));
        drop(wakers);
        // The block (which holds a queue reference) is alive...
        assert_eq!(Arc::strong_count(&queue), 2);
        kept.wake();
        assert_eq!(drained(&queue), [7]);
        // ...until its last waker goes.
        drop(twin);
        assert_eq!(Arc::strong_count(&queue), 1);
    }

    #[test]
    fn lent_wakers_take_no_reference() {
        let queue = Arc::new(ReadyQueue::new());
        let wakers = Wakers::new(0, &queue);
        for pos in 0..BLOCK {
            wakers.poll_with(pos, |cx| cx.waker().wake_by_ref());
        }
        assert_eq!(drained(&queue), (0..BLOCK).collect::<Vec<_>>());
        drop(wakers);
        assert_eq!(Arc::strong_count(&queue), 1, "the block was not freed");
    }
}

#[cfg(all(test, gather_loom))]
mod loom_tests {
    //! Every interleaving of wakers on other threads and the driver.
    use super::*;
    use loom::sync::atomic::AtomicUsize as LoomUsize;
    use std::task::Wake;

    /// A parent waker that counts its wake-ups.
    struct Parent(LoomUsize);
    impl Wake for Parent {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// A queue, a counting parent waker, and one block of slot wakers.
    fn driver() -> (Arc<ReadyQueue>, Arc<Parent>, Waker, Wakers) {
        let queue = Arc::new(ReadyQueue::new());
        let parent = Arc::new(Parent(LoomUsize::new(0)));
        let parent_waker = Waker::from(parent.clone());
        let wakers = Wakers::new(0, &queue);
        (queue, parent, parent_waker, wakers)
    }

    #[test]
    fn loom_no_wake_up_is_lost_and_the_parent_is_told() {
        loom::model(|| {
            let (queue, parent, parent_waker, wakers) = driver();
            let mut batch = Vec::new();
            // The driver registers its waker, as its first poll does.
            queue.drain_into(&mut batch, &parent_waker);
            assert!(batch.is_empty());

            let (w0, w1) = (wakers.waker(0), wakers.waker(1));
            let a = loom::thread::spawn(move || w0.wake());
            let b = loom::thread::spawn(move || {
                w1.wake_by_ref();
                w1.wake(); // a repeated wake queues the slot once
            });

            // The driver, concurrently: drain and poll (clearing each flag).
            let mut seen = Vec::new();
            queue.drain_into(&mut batch, &parent_waker);
            for id in batch.drain(..) {
                wakers.poll_with(id, |_| ());
                seen.push(id);
            }
            a.join().unwrap();
            b.join().unwrap();
            queue.drain_into(&mut batch, &parent_waker);
            let last = batch.len();
            seen.append(&mut batch);

            assert!(
                seen.contains(&0) && seen.contains(&1),
                "a wake-up was lost: {seen:?}"
            );
            assert!(seen.iter().filter(|&&i| i == 1).count() <= 2);
            // Whatever was still queued at the end had woken the parent.
            if last > 0 {
                assert!(
                    parent.0.load(Ordering::SeqCst) >= 1,
                    "queued ids but the parent was never woken"
                );
            }
        });
    }

    /// [`driver`], with slot 0 woken once and its id drained: the driver
    /// is about to poll it. Also returns slot 0's waker, kept by its child.
    fn slot_0_about_to_be_polled() -> (Arc<ReadyQueue>, Arc<Parent>, Waker, Wakers, Waker) {
        let (queue, parent, parent_waker, wakers) = driver();
        let w0 = wakers.waker(0);
        w0.wake_by_ref();
        let mut batch = Vec::new();
        queue.drain_into(&mut batch, &parent_waker);
        assert_eq!(batch, [0]);
        (queue, parent, parent_waker, wakers, w0)
    }

    #[test]
    fn loom_a_wake_during_the_poll_queues_the_slot_again() {
        loom::model(|| {
            let (queue, parent, parent_waker, wakers, w0) = slot_0_about_to_be_polled();
            // The driver clears the flag and polls; meanwhile the child's
            // waker fires again from another thread.
            let t = wakers.poll_with(0, |_| loom::thread::spawn(move || w0.wake()));
            t.join().unwrap();
            let mut batch = Vec::new();
            queue.drain_into(&mut batch, &parent_waker);
            assert_eq!(
                batch,
                [0],
                "the wake after the flag was cleared queued the slot again"
            );
            assert!(parent.0.load(Ordering::SeqCst) >= 1);
        });
    }

    /// The shape of a real child (a oneshot re-polled inside `join!`): the
    /// waking thread writes the state the child reads, then wakes; the
    /// driver clears the flag, then the child reads that state. Either the
    /// child sees the write, or the wake queues the slot again: never both
    /// missed (the store-buffering shape of issue #13).
    #[test]
    fn loom_a_child_that_reads_state_set_before_its_wake_is_never_lost() {
        loom::model(|| {
            // The child was woken once (its first value arrived) and is
            // about to be polled.
            let (queue, parent, parent_waker, wakers, w0) = slot_0_about_to_be_polled();
            let sent = Arc::new(AtomicBool::new(false));
            let sender = {
                let sent = sent.clone();
                loom::thread::spawn(move || {
                    sent.store(true, Ordering::Release);
                    w0.wake();
                })
            };
            // The driver polls the child: it reads the second value's state.
            let seen = wakers.poll_with(0, |_| sent.load(Ordering::Acquire));
            sender.join().unwrap();
            let mut batch = Vec::new();
            queue.drain_into(&mut batch, &parent_waker);
            assert!(
                seen || (batch == [0] && parent.0.load(Ordering::SeqCst) >= 1),
                "lost wake-up: the child read the old state and the slot was not queued again"
            );
        });
    }

    #[test]
    fn loom_an_empty_queue_seen_without_the_lock_loses_no_wake_up() {
        loom::model(|| {
            let (queue, parent, parent_waker, wakers) = driver();
            let mut batch = Vec::new();
            // The driver's turn registers its waker...
            queue.drain_into(&mut batch, &parent_waker);
            let w0 = wakers.waker(0);
            let t = loom::thread::spawn(move || w0.wake());
            // ...and, ending the turn, skips the lock if the queue looks
            // empty. Either it sees the wake, or the wake woke it.
            let seen = !queue.is_empty();
            t.join().unwrap();
            assert!(
                seen || parent.0.load(Ordering::SeqCst) >= 1,
                "the queue looked empty and the parent was never woken"
            );
            queue.drain_into(&mut batch, &parent_waker);
            assert_eq!(batch, [0]);
        });
    }

    #[test]
    fn loom_the_last_reference_frees_the_block_once() {
        loom::model(|| {
            let queue = Arc::new(ReadyQueue::new());
            let wakers = Wakers::new(0, &queue);
            let (w0, w1) = (wakers.waker(0), wakers.waker(3));
            // Two wakers die on other threads while the driver lets go.
            let a = loom::thread::spawn(move || w0.wake());
            let b = loom::thread::spawn(move || drop(w1));
            drop(wakers);
            a.join().unwrap();
            b.join().unwrap();
            // The block held the only other queue reference: it is gone.
            assert_eq!(Arc::strong_count(&queue), 1);
        });
    }
}
