//! Criterion-style statistics with divan, for the small sizes where one
//! process per measurement is too coarse: `cargo bench -p gather --bench shapes`.
//! The whole-process comparison, with memory and the large sizes, is
//! `scripts/bench.py`.

mod children;

use children::{make, run, Shape};

fn main() {
    divan::main();
}

const PEERS: &[&str] = &[
    "gather",
    "fb-join_all",
    "futures-join_all",
    "tokio-spawn-await",
];

fn bench(bencher: divan::Bencher, peer: &str, shape: Shape, n: usize) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    bencher
        .with_inputs(|| make(shape, n))
        .bench_values(|(kids, feeder)| rt.block_on(run(peer, kids, feeder)));
}

#[divan::bench(args = PEERS, consts = [1_000, 10_000], sample_count = 20)]
fn ready<const N: usize>(b: divan::Bencher, peer: &str) {
    bench(b, peer, Shape::Ready, N);
}

#[divan::bench(args = PEERS, consts = [1_000, 10_000], sample_count = 20)]
fn yield_once<const N: usize>(b: divan::Bencher, peer: &str) {
    bench(b, peer, Shape::Yield, N);
}

#[divan::bench(args = PEERS, consts = [1_000, 10_000], sample_count = 20)]
fn trickle<const N: usize>(b: divan::Bencher, peer: &str) {
    bench(b, peer, Shape::Trickle, N);
}
