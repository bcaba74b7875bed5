//! Shared test fixtures: counting live children and concurrent runners.
#![allow(dead_code)]

pub mod run_example;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Counts values alive: each [`Live::guard`] adds one until dropped. Moving
/// a guard into a child's future proves the child was dropped (not leaked),
/// even if it was never polled.
#[derive(Clone, Default)]
pub struct Live {
    alive: Arc<AtomicUsize>,
    created: Arc<AtomicUsize>,
}

pub struct Guard(Arc<AtomicUsize>);

impl Drop for Guard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Live {
    pub fn new() -> Self {
        Live::default()
    }
    pub fn guard(&self) -> Guard {
        self.alive.fetch_add(1, Ordering::SeqCst);
        self.created.fetch_add(1, Ordering::SeqCst);
        Guard(self.alive.clone())
    }
    pub fn alive(&self) -> usize {
        self.alive.load(Ordering::SeqCst)
    }
    pub fn created(&self) -> usize {
        self.created.load(Ordering::SeqCst)
    }
    /// Waits (bounded: 5 s of real time) until nothing is alive; spawned
    /// tasks are dropped by their runtime shortly after an abort.
    pub async fn wait_all_dropped(&self) -> usize {
        for _ in 0..500 {
            if self.alive() == 0 {
                return 0;
            }
            tokio::task::yield_now().await;
            std::thread::sleep(Duration::from_millis(10));
        }
        self.alive()
    }
}

/// Tracks how many children run at once, and the most ever seen.
#[derive(Clone, Default)]
pub struct Gauge {
    now: Arc<AtomicUsize>,
    max: Arc<AtomicUsize>,
}

pub struct Running(Gauge);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.now.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Gauge {
    pub fn enter(&self) -> Running {
        let now = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.max.fetch_max(now, Ordering::SeqCst);
        Running(self.clone())
    }
    pub fn max(&self) -> usize {
        self.max.load(Ordering::SeqCst)
    }
}

pub async fn sleep_ms(ms: u64) {
    tokio::time::sleep(Duration::from_millis(ms)).await;
}

pub fn ms(ms: u64) -> Duration {
    Duration::from_millis(ms)
}
