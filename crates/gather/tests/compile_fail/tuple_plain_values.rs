// A Python user's `a, b = await asyncio.gather(one(), two())` with
// children that return plain values: the hint names `infallible`, as for
// the list form.
async fn one() -> u32 {
    1
}

async fn two() -> &'static str {
    "two"
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let (a, b) = gather::gather!(one(), two()).await.unwrap();
    println!("{a} {b}");
}
