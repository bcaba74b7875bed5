//! `gather!`: heterogeneous children, tuple results, fail-fast as the list
//! form and as Python's `asyncio.gather(a, b)`, or `return_exceptions`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use gather::{gather, infallible, Outcome, OutcomeKind};

use crate::support::{ms, sleep_ms};

#[tokio::test(start_paused = true)]
async fn gather_macro_returns_a_tuple_in_argument_order_running_concurrently() {
    let start = tokio::time::Instant::now();
    let (a, b, c) = gather!(
        async {
            sleep_ms(30).await;
            Ok::<_, String>(1u8)
        },
        async {
            sleep_ms(10).await;
            Ok("two")
        },
        async {
            sleep_ms(20).await;
            Ok(vec![3])
        },
    )
    .await
    .unwrap();
    assert_eq!((a, b, c), (1, "two", vec![3]));
    assert_eq!(start.elapsed(), ms(30));
}

#[tokio::test(start_paused = true)]
async fn gather_macro_returns_values_or_the_first_failure_with_its_position() {
    let ok = gather!(async { Ok::<_, String>(1) }, async { Ok(2.5) })
        .await
        .unwrap();
    assert_eq!(ok, (1, 2.5));
    let err = gather!(
        async {
            sleep_ms(50).await;
            Ok::<u8, String>(1)
        },
        async {
            sleep_ms(10).await;
            Err::<(), _>("late".to_string())
        },
        async { Err::<(), _>("first".to_string()) },
    )
    .await
    .unwrap_err();
    assert_eq!(err.index(), Some(2));
    assert_eq!(err.to_string(), "child 2 failed: first");
}

#[tokio::test]
async fn gather_macro_catches_a_panic_as_the_error() {
    let err = gather!(async { Ok::<u8, String>(1) }, async {
        panic!("tuple panic");
        #[allow(unreachable_code)]
        Ok::<u8, String>(2)
    })
    .await
    .unwrap_err();
    assert_eq!(err.kind(), OutcomeKind::Panicked);
    assert_eq!(err.index(), Some(1));
}

/// The program a Python user writes first, with `?`.
#[tokio::test(start_paused = true)]
async fn the_python_program_reads_the_same() -> Result<(), Box<dyn std::error::Error>> {
    async fn get_user(id: u32) -> Result<String, std::io::Error> {
        sleep_ms(20).await;
        Ok(format!("user {id}"))
    }
    async fn get_posts(id: u32) -> Result<Vec<u32>, std::io::Error> {
        sleep_ms(10).await;
        Ok(vec![id; 3])
    }
    let (user, posts) = gather!(get_user(1), get_posts(1)).await?;
    assert_eq!(user, "user 1");
    assert_eq!(posts, [1, 1, 1]);
    Ok(())
}

/// Fail-fast drops the siblings at the failure, as the list form does,
/// rather than when the gather is dropped; the error comes at the time of
/// the first failure.
#[tokio::test(start_paused = true)]
async fn the_first_failure_drops_the_siblings_at_once() {
    struct Dropped(Arc<AtomicBool>);
    impl Drop for Dropped {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }
    let dropped = Arc::new(AtomicBool::new(false));
    let guard = Dropped(dropped.clone());
    let start = tokio::time::Instant::now();
    let mut g = gather!(
        async move {
            let _guard = guard;
            sleep_ms(60_000).await;
            Ok::<u8, String>(1)
        },
        async {
            sleep_ms(10).await;
            Err::<u8, _>("no".to_string())
        },
    );
    let err = (&mut g).await.unwrap_err();
    assert_eq!(err.index(), Some(1));
    assert_eq!(start.elapsed(), ms(10));
    assert!(
        dropped.load(Ordering::SeqCst),
        "the sibling still held while the gather lives"
    );
    drop(g);
}

#[tokio::test(start_paused = true)]
async fn return_exceptions_gives_every_outcome_with_their_own_error_types() {
    let (a, b, c) = gather!(
        async {
            sleep_ms(30).await;
            Ok::<_, String>(1u8)
        },
        async { Err::<(), _>(std::fmt::Error) },
        async {
            panic!("third");
            #[allow(unreachable_code)]
            Ok::<(), ()>(())
        },
    )
    .return_exceptions()
    .await;
    assert_eq!(a, Outcome::Ok(1));
    assert_eq!(b, Outcome::Err(std::fmt::Error));
    assert!(matches!(c, Outcome::Panicked(p) if p.message() == "third"));
}

/// Children that cannot fail, wrapped as in the list form.
#[tokio::test]
async fn infallible_children_are_wrapped_as_in_the_list_form() {
    let (n, s) = gather!(infallible(async { 1 }), infallible(async { "two" }))
        .await
        .unwrap();
    assert_eq!((n, s), (1, "two"));
}
