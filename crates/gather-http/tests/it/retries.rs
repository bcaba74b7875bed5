//! Retries against a scripted server: a `Retry-After` given as an HTTP date
//! is waited for, as one given in seconds is.

use std::time::{Duration, Instant, SystemTime};

use gather_http::{FetchConfig, Fetcher, Politeness, Versions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use url::Url;

/// A server whose first answer is a 503 asking for a retry at `retry_at`
/// (an HTTP date), and whose next is a page; each on its own connection.
async fn busy_until(retry_at: SystemTime) -> (Url, tokio::task::JoinHandle<Vec<Instant>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = Url::parse(&format!("http://{}/", listener.local_addr().unwrap())).unwrap();
    let date = httpdate::fmt_http_date(retry_at);
    let server = tokio::spawn(async move {
        let mut asked = Vec::new();
        for answer in [
            format!("HTTP/1.1 503 Service Unavailable\r\nretry-after: {date}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"),
            "HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok".to_owned(),
        ] {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut head = [0u8; 4096];
            let _ = stream.read(&mut head).await.unwrap();
            asked.push(Instant::now());
            stream.write_all(answer.as_bytes()).await.unwrap();
        }
        asked
    });
    (url, server)
}

#[tokio::test]
async fn a_retry_after_date_is_waited_for() {
    // Two seconds ahead, at a second's resolution: a wait of 1 to 2 s.
    let retry_at = SystemTime::now() + Duration::from_secs(2);
    let (url, server) = busy_until(retry_at).await;
    let config = FetchConfig {
        retries: 1,
        // Without the date, the retry would come after a millisecond.
        retry_base: Duration::from_millis(1),
        versions: Versions::Http1Only,
        politeness: Politeness::NONE,
        ..FetchConfig::default()
    };
    let fetcher = Fetcher::new(config).unwrap();
    let page = tokio::time::timeout(Duration::from_secs(20), fetcher.fetch(0, &url))
        .await
        .expect("answered")
        .unwrap();
    assert_eq!((page.status, page.retries), (200, 1));
    let asked = server.await.unwrap();
    let waited = asked[1] - asked[0];
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(5),
        "the retry came {waited:?} after the 503 that asked for it at a date ~2 s ahead"
    );
}
