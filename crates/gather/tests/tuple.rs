//! `gather!` and `try_gather!`: heterogeneous children, tuple results.

mod support;

use gather::{gather, try_gather, OutcomeKind};
use support::{ms, sleep_ms};

#[tokio::test(start_paused = true)]
async fn gather_macro_returns_a_tuple_in_argument_order_running_concurrently() {
    let start = tokio::time::Instant::now();
    let (a, b, c) = gather!(
        async {
            sleep_ms(30).await;
            1u8
        },
        async {
            sleep_ms(10).await;
            "two"
        },
        async {
            sleep_ms(20).await;
            vec![3]
        },
    )
    .await;
    assert_eq!((a, b, c), (1, "two", vec![3]));
    assert_eq!(start.elapsed(), ms(30));
}

#[tokio::test(start_paused = true)]
async fn try_gather_returns_values_or_the_first_failure_with_its_position() {
    let ok = try_gather!(async { Ok::<_, String>(1) }, async { Ok(2.5) })
        .await
        .unwrap();
    assert_eq!(ok, (1, 2.5));
    let err = try_gather!(
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
async fn try_gather_catches_a_panic_as_the_error() {
    let err = try_gather!(async { Ok::<u8, String>(1) }, async {
        panic!("tuple panic");
        #[allow(unreachable_code)]
        Ok::<u8, String>(2)
    })
    .await
    .unwrap_err();
    assert_eq!(err.kind(), OutcomeKind::Panicked);
    assert_eq!(err.index(), Some(1));
}
