//! The children the benchmarks gather ("shapes") and the ordered gathers
//! they are gathered with ("peers"), shared by `compare` and `shapes`.
#![allow(dead_code)]

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use futures::stream::{FuturesOrdered, StreamExt};
use tokio::sync::oneshot;

/// What each child does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// Returns at once.
    Ready,
    /// `tokio::task::yield_now()` once.
    Yield,
    /// `tokio::time::sleep(1 ms)`.
    Sleep,
    /// Waits for its own signal; a feeder task signals the children one at
    /// a time, last first, yielding between signals (futures-concurrency
    /// issue #189's pattern).
    Trickle,
    /// About 20 µs of CPU work.
    Cpu,
}

impl Shape {
    pub fn parse(s: &str) -> Option<Shape> {
        Some(match s {
            "ready" => Shape::Ready,
            "yield" => Shape::Yield,
            "sleep" => Shape::Sleep,
            "trickle" => Shape::Trickle,
            "cpu" => Shape::Cpu,
            _ => return None,
        })
    }
}

pub type Child = Pin<Box<dyn Future<Output = u64> + Send>>;

/// Builds `n` children of `shape`, and the feeder future that must run
/// beside them for `Trickle` (a no-op otherwise).
pub fn make(shape: Shape, n: usize) -> (Vec<ChildFut>, Feeder) {
    let mut senders = Vec::new();
    let children = (0..n as u64)
        .map(|i| match shape {
            Shape::Ready => ChildFut::Ready(i),
            Shape::Yield => ChildFut::Yield(i),
            Shape::Sleep => ChildFut::Sleep(i),
            Shape::Cpu => ChildFut::Cpu(i),
            Shape::Trickle => {
                let (tx, rx) = oneshot::channel();
                senders.push(tx);
                ChildFut::Trickle(i, rx)
            }
        })
        .collect();
    (children, Feeder { senders })
}

/// A child, as data until it is turned into a future: the same value
/// serves every peer.
pub enum ChildFut {
    Ready(u64),
    Yield(u64),
    Sleep(u64),
    Cpu(u64),
    Trickle(u64, oneshot::Receiver<()>),
}

impl ChildFut {
    pub async fn into_future(self) -> u64 {
        {
            match self {
                ChildFut::Ready(i) => i,
                ChildFut::Yield(i) => {
                    tokio::task::yield_now().await;
                    i
                }
                ChildFut::Sleep(i) => {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                    i
                }
                ChildFut::Cpu(i) => cpu(i),
                ChildFut::Trickle(i, rx) => {
                    let _ = rx.await;
                    i
                }
            }
        }
    }
}

pub fn cpu(seed: u64) -> u64 {
    let mut x = seed | 1;
    for k in 0..20_000u64 {
        x = x.rotate_left(7) ^ k.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
    std::hint::black_box(x);
    seed
}

/// Signals trickle children, last first, one per turn.
pub struct Feeder {
    senders: Vec<oneshot::Sender<()>>,
}

impl Feeder {
    pub async fn run(self) {
        for tx in self.senders.into_iter().rev() {
            let _ = tx.send(());
            tokio::task::yield_now().await;
        }
    }
}

/// The ordered gathers compared.
pub const PEERS: &[&str] = &[
    "gather",
    "gather-limit64",
    "gather-spawn",
    "futures-join_all",
    "futures-ordered",
    "fc-vec-join",
    "fb-join_all",
    "tokio-spawn-await",
    "tokio-joinset",
];

/// What no gather can beat, per shape: the children's own waiting with no
/// gather around them. Not a peer (it is not a general gather), the floor
/// under every peer's time, measured in the same run:
///
/// - `sleep`: one 1 ms sleep, alone (every child's sleep ends on the same
///   tick of tokio's 1 ms timer wheel);
/// - `trickle`: the children awaited one by one in the order the feeder
///   signals them (an oracle: one poll per signal and no bookkeeping);
/// - `floor-spawn` (any shape): every child spawned as a tokio task and
///   never joined (the runtime's count of live tasks says when all are
///   done). Spawning and running the tasks is work every spawned gather
///   does; reading no output is less than any does.
pub const FLOORS: &[&str] = &["floor", "floor-spawn"];

/// Runs `children` with `peer`, results in input order; checks the order.
pub async fn run(peer: &str, children: Vec<ChildFut>, feeder: Feeder) {
    let n = children.len();
    let feed = tokio::spawn(feeder.run());
    let results: Vec<u64> = match peer {
        "floor" => match children.first() {
            Some(ChildFut::Sleep(_)) => {
                tokio::time::sleep(Duration::from_millis(1)).await;
                (0..n as u64).collect()
            }
            Some(ChildFut::Trickle(..)) => {
                let mut out = Vec::with_capacity(n);
                for c in children.into_iter().rev() {
                    out.push(c.into_future().await);
                }
                out.reverse();
                out
            }
            _ => panic!("the floor is measured for the sleep and trickle shapes"),
        },
        "floor-spawn" => {
            // The same tasks as spawn-and-await, never joined: handles
            // dropped at once, and the runtime's count of live tasks says
            // when every one has finished (checked once per yield).
            let metrics = tokio::runtime::Handle::current().metrics();
            // Live tasks other than these children's (the feeder's, until
            // it ends).
            let others = || usize::from(!feed.is_finished());
            let base = metrics.num_alive_tasks() - others();
            for c in children {
                drop(tokio::spawn(c.into_future()));
            }
            while metrics.num_alive_tasks() - others() > base {
                tokio::task::yield_now().await;
            }
            (0..n as u64).collect()
        }
        "gather" => gather::gather(
            children
                .into_iter()
                .map(|c| gather::infallible(c.into_future())),
        )
        .await
        .unwrap(),
        "gather-limit64" => gather::gather(
            children
                .into_iter()
                .map(|c| gather::infallible(c.into_future())),
        )
        .limit(64)
        .await
        .unwrap(),
        "gather-spawn" => gather::gather(
            children
                .into_iter()
                .map(|c| gather::infallible(c.into_future())),
        )
        .spawn()
        .await
        .unwrap(),
        "futures-join_all" => {
            futures::future::join_all(children.into_iter().map(ChildFut::into_future)).await
        }
        "futures-ordered" => {
            children
                .into_iter()
                .map(ChildFut::into_future)
                .collect::<FuturesOrdered<_>>()
                .collect()
                .await
        }
        "fc-vec-join" => {
            use futures_concurrency::future::Join;
            children
                .into_iter()
                .map(ChildFut::into_future)
                .collect::<Vec<_>>()
                .join()
                .await
        }
        "fb-join_all" => {
            futures_buffered::join_all(children.into_iter().map(ChildFut::into_future)).await
        }
        "tokio-spawn-await" => {
            let handles: Vec<_> = children
                .into_iter()
                .map(|c| tokio::spawn(c.into_future()))
                .collect();
            let mut out = Vec::with_capacity(n);
            for h in handles {
                out.push(h.await.unwrap());
            }
            out
        }
        "tokio-joinset" => {
            let mut set = tokio::task::JoinSet::new();
            for (i, c) in children.into_iter().enumerate() {
                let f = c.into_future();
                set.spawn(async move { (i, f.await) });
            }
            let mut out = vec![0; n];
            while let Some(r) = set.join_next().await {
                let (i, v) = r.unwrap();
                out[i] = v;
            }
            out
        }
        other => panic!("unknown peer {other}"),
    };
    feed.await.unwrap();
    assert_eq!(results.len(), n);
    assert!(
        results.iter().enumerate().all(|(i, &v)| v == i as u64),
        "{peer}: results out of order"
    );
}
