//! Idle keep-alive connections, ready for the next request to their origin.
//!
//! One list for every origin, most recently used last, capped in total:
//! a request takes the newest idle connection to its origin (scanning from
//! the end, so the common case of one origin takes the last one), and a
//! connection returned to a full pool pushes out the oldest. A cap per
//! origin alone would let a run over many hosts keep a socket open to each
//! of them; a total cap bounds the descriptors the pool holds whatever the
//! input, and with one origin it never bites, since no more connections
//! than `--limit` are ever in use.

use std::collections::VecDeque;
use std::sync::Mutex;

use super::conn::Conn;
use super::lock;

pub struct Pool {
    idle: Mutex<VecDeque<Conn>>,
    cap: usize,
}

impl Pool {
    /// A pool keeping at most `cap` idle connections (0: none).
    pub fn new(cap: usize) -> Pool {
        Pool {
            idle: Mutex::new(VecDeque::new()),
            cap,
        }
    }

    /// The newest idle connection to `authority` over TLS or not.
    pub fn take(&self, tls: bool, authority: &str) -> Option<Conn> {
        let mut idle = lock(&self.idle);
        let i = idle.iter().rposition(|c| c.is_to(tls, authority))?;
        idle.remove(i)
    }

    /// Keeps `conn` for a later request; the oldest idle one is closed if
    /// the pool is full.
    pub fn put(&self, conn: Conn) {
        if self.cap == 0 {
            return;
        }
        let evicted = {
            let mut idle = lock(&self.idle);
            let evicted = if idle.len() >= self.cap {
                idle.pop_front()
            } else {
                None
            };
            idle.push_back(conn);
            evicted
        };
        drop(evicted); // closed outside the lock
    }
}
