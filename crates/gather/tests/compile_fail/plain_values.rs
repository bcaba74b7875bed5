// A Python user's first gather: children that return plain values.
use gather::gather;

async fn double(x: u32) -> u32 {
    x * 2
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let doubled = gather((1..=3).map(double)).await;
    println!("{doubled:?}");
}
