// `wait` over children that return plain values.
use gather::{wait, ReturnWhen};

async fn double(x: u32) -> u32 {
    x * 2
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let (done, _pending) = wait((1..=3).map(double), ReturnWhen::FirstCompleted).await;
    println!("{}", done.len());
}
