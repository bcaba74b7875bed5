//! A global allocator that counts the bytes in use and their peak, for the
//! test binaries that measure memory (each binary declares it with
//! `#[global_allocator]`). The only `unsafe` in the project; CI runs a
//! binary that uses it under valgrind.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, AtomicUsize, Ordering};

pub struct Counting;

/// Bytes allocated and not yet freed.
pub static IN_USE: AtomicIsize = AtomicIsize::new(0);
/// The most `IN_USE` has been since it was last reset.
pub static PEAK: AtomicIsize = AtomicIsize::new(0);
/// Blocks freed so far.
pub static FREES: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let now =
            IN_USE.fetch_add(layout.size() as isize, Ordering::Relaxed) + layout.size() as isize;
        PEAK.fetch_max(now, Ordering::Relaxed);
        // SAFETY: forwards the caller's layout to the system allocator.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        IN_USE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        FREES.fetch_add(1, Ordering::Relaxed);
        // SAFETY: `ptr` came from `alloc` above with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}
