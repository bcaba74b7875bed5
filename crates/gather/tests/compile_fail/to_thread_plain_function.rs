// `asyncio.to_thread(fib, 30)` written as a Python user would.
fn fib(n: u64) -> u64 {
    if n < 2 { n } else { fib(n - 1) + fib(n - 2) }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let n = 30;
    let task = gather::to_thread(move || fib(n));
    drop(task);
}
