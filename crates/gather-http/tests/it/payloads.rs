//! Requests with a method and a body (`Fetcher::send`): sent as given over
//! HTTP/1.1 and HTTP/2, their method changed by redirects as browsers
//! change it, and never sent twice by accident: a POST whose connection
//! is lost after it was written is not sent again, unless it carries an
//! `Idempotency-Key`.

use std::time::Duration;

use bytes::Bytes;
use gather_http::client::Payload;
use gather_http::{FetchConfig, Fetcher, Kind, Politeness, Versions};
use gather_pageserver::http2::Http2Server;
use gather_pageserver::Server;
use http::{HeaderMap, HeaderValue};
use url::Url;

fn config(retries: u32, versions: Versions) -> FetchConfig {
    FetchConfig {
        limit: 4,
        timeout: Duration::from_secs(10),
        retries,
        retry_base: Duration::from_millis(1),
        max_bytes: Some(1 << 20),
        max_redirects: 5,
        body: true,
        versions,
        politeness: Politeness::NONE,
        ..FetchConfig::default()
    }
}

fn payload(method: &str, headers: &[(&'static str, &'static str)], body: &'static [u8]) -> Payload {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        map.append(*name, HeaderValue::from_static(value));
    }
    let body = (!body.is_empty()).then(|| Bytes::from_static(body));
    Payload::new(method, map, body).unwrap()
}

async fn count(fetcher: &Fetcher, server: &Server, key: &str) -> String {
    let url = Url::parse(&server.url(&format!("/count/{key}"))).unwrap();
    let page = fetcher.fetch(0, &url).await.unwrap();
    String::from_utf8(page.body.unwrap()).unwrap()
}

#[tokio::test]
async fn methods_and_bodies_are_sent_as_given_over_http1_and_http2() {
    let h1 = Server::start(Duration::ZERO).await.unwrap();
    let h2 = Http2Server::start(Default::default()).await.unwrap();
    for (base, versions) in [
        (h1.url("/echo"), Versions::Http1Only),
        (h2.url("/echo"), Versions::PriorKnowledge),
    ] {
        let fetcher = Fetcher::new(config(0, versions)).unwrap();
        let url = Url::parse(&base).unwrap();
        for (method, body) in [
            ("POST", &b"{\"model\":\"m\"}"[..]),
            ("PUT", b"x"),
            ("PATCH", b""),
            ("DELETE", b""),
        ] {
            let sent = payload(method, &[("content-type", "application/json")], body);
            let page = fetcher.send(0, &url, &sent).await.unwrap();
            let mut want = format!("{method}\n").into_bytes();
            want.extend_from_slice(body);
            assert_eq!(page.body.as_deref(), Some(&want[..]), "{method} to {base}");
        }
        // Many at once on one connection (HTTP/2 streams, or the pool):
        // each body reaches its own request.
        let bodies: Vec<String> = (0..40)
            .map(|i| format!("{{\"n\":{i}}}").repeat(i + 1))
            .collect();
        let sends = bodies.iter().map(|b| {
            let p = Payload::new("POST", HeaderMap::new(), Some(Bytes::from(b.clone()))).unwrap();
            let (fetcher, url) = (&fetcher, &url);
            async move { fetcher.send(0, url, &p).await.unwrap().body.unwrap() }
        });
        let answers = futures::future::join_all(sends).await;
        for (body, answer) in bodies.iter().zip(answers) {
            assert_eq!(answer, format!("POST\n{body}").into_bytes(), "{base}");
        }
    }
}

#[tokio::test]
async fn a_head_request_reads_no_body_whatever_the_length_says() {
    let server = Server::start(Duration::ZERO).await.unwrap();
    let fetcher = Fetcher::new(config(0, Versions::Http1Only)).unwrap();
    let url = Url::parse(&server.url("/big?bytes=5000")).unwrap();
    let head = payload("HEAD", &[], b"");
    let page = tokio::time::timeout(Duration::from_secs(5), fetcher.send(0, &url, &head))
        .await
        .expect("answered, not waiting for 5000 bytes that never come")
        .unwrap();
    assert_eq!((page.status, page.bytes), (200, 0));
    // And the connection serves the next request.
    let next = fetcher
        .fetch(1, &Url::parse(&server.url("/page/1")).unwrap())
        .await
        .unwrap();
    assert_eq!(next.status, 200);
}

#[tokio::test]
async fn a_post_lost_after_it_was_written_is_not_sent_again() {
    let server = Server::start(Duration::ZERO).await.unwrap();
    let fetcher = Fetcher::new(config(3, Versions::Http1Only)).unwrap();
    // A connection in the pool first: the POST goes out on it, and its
    // loss is not taken for a stale idle connection's.
    assert_eq!(count(&fetcher, &server, "post").await, "0");
    let url = Url::parse(&server.url("/drop-after-read/post")).unwrap();
    let error = fetcher
        .send(0, &url, &payload("POST", &[], b"{}"))
        .await
        .unwrap_err();
    assert_eq!((error.kind, error.retries), (Kind::Connect, 0), "{error}");
    assert!(
        error.message.contains("not sent again"),
        "{}",
        error.message
    );
    assert_eq!(
        count(&fetcher, &server, "post").await,
        "1",
        "processed once"
    );

    // With an Idempotency-Key, the server promises not to apply it twice.
    let url = Url::parse(&server.url("/drop-after-read/keyed")).unwrap();
    let keyed = payload("POST", &[("idempotency-key", "k-1")], b"{}");
    let error = fetcher.send(0, &url, &keyed).await.unwrap_err();
    assert_eq!(error.retries, 3);
    // Four attempts at least (a pooled connection closed under one is
    // also tried again on a new one, as any resendable request is).
    let sent: u32 = count(&fetcher, &server, "keyed").await.parse().unwrap();
    assert!(sent >= 4, "{sent}");

    // A GET (or a PUT) is sent again, as always.
    let url = Url::parse(&server.url("/drop-after-read/put")).unwrap();
    let error = fetcher
        .send(0, &url, &payload("PUT", &[], b"x"))
        .await
        .unwrap_err();
    assert_eq!(error.retries, 3);
    let sent: u32 = count(&fetcher, &server, "put").await.parse().unwrap();
    assert!(sent >= 4, "{sent}");
}

#[tokio::test]
async fn a_post_to_a_server_that_refuses_connections_is_retried() {
    // Nothing was sent: no connection was made.
    let refused = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = Url::parse(&format!("http://{}/", refused.local_addr().unwrap())).unwrap();
    drop(refused);
    let fetcher = Fetcher::new(config(2, Versions::Http1Only)).unwrap();
    let error = fetcher
        .send(0, &url, &payload("POST", &[], b"{}"))
        .await
        .unwrap_err();
    assert_eq!((error.kind, error.retries), (Kind::Connect, 2), "{error}");
}

#[tokio::test]
async fn a_post_answered_503_is_sent_again_within_retries() {
    let server = Server::start(Duration::ZERO).await.unwrap();
    let fetcher = Fetcher::new(config(3, Versions::Http1Only)).unwrap();
    let url = Url::parse(&server.url("/flaky/post?fail=2")).unwrap();
    let page = fetcher
        .send(0, &url, &payload("POST", &[], b"{}"))
        .await
        .unwrap();
    assert_eq!((page.status, page.retries), (200, 2));
}

#[tokio::test]
async fn redirects_turn_a_post_into_a_get_except_307_and_308() {
    let server = Server::start(Duration::ZERO).await.unwrap();
    let port = server.addr().port();
    let fetcher = Fetcher::new(config(0, Versions::Http1Only)).unwrap();
    for (code, want) in [
        (301, "GET\n"),
        (302, "GET\n"),
        (303, "GET\n"),
        (307, "POST\n{}"),
        (308, "POST\n{}"),
    ] {
        let url =
            Url::parse(&server.url(&format!("/redirect-to/{port}/echo?code={code}"))).unwrap();
        let page = fetcher
            .send(0, &url, &payload("POST", &[], b"{}"))
            .await
            .unwrap();
        assert_eq!(page.body.as_deref(), Some(want.as_bytes()), "{code}");
    }
}

/// Each redirect on the way is in the page's history, in order, with its
/// status and the URL that answered with it; a page reached directly has
/// none. The same through the fast path of a plain GET and a request's
/// own payload.
#[tokio::test]
async fn the_redirects_on_the_way_are_the_pages_history() {
    let server = Server::start(Duration::ZERO).await.unwrap();
    let fetcher = Fetcher::new(config(0, Versions::Http1Only)).unwrap();
    let url = Url::parse(&server.url("/redirect/3")).unwrap();
    let want: Vec<gather_http::Hop> = ["/redirect/3", "/redirect/2", "/redirect/1"]
        .iter()
        .map(|p| gather_http::Hop {
            status: 302,
            url: server.url(p),
        })
        .collect();
    let plain = fetcher.fetch(0, &url).await.unwrap();
    assert_eq!(plain.final_url, server.url("/page/0"));
    assert_eq!(plain.history.as_deref(), Some(&want));
    let sent = fetcher
        .send(1, &url, &payload("GET", &[("x-a", "1")], b""))
        .await
        .unwrap();
    assert_eq!(sent.history.as_deref(), Some(&want));
    let direct = Url::parse(&server.url("/page/1")).unwrap();
    assert!(fetcher.fetch(2, &direct).await.unwrap().history.is_none());
}

#[tokio::test]
async fn a_requests_own_credentials_do_not_follow_it_to_another_origin() {
    let first = Server::start(Duration::ZERO).await.unwrap();
    let other = Server::start(Duration::ZERO).await.unwrap();
    let fetcher = Fetcher::new(config(0, Versions::Http1Only)).unwrap();
    let own = payload(
        "GET",
        &[("authorization", "Bearer secret"), ("x-kept", "1")],
        b"",
    );
    let url =
        Url::parse(&first.url(&format!("/redirect-to/{}/headers", other.addr().port()))).unwrap();
    let page = fetcher.send(0, &url, &own).await.unwrap();
    let seen = String::from_utf8(page.body.unwrap())
        .unwrap()
        .to_ascii_lowercase();
    assert!(!seen.contains("secret"), "{seen}");
    assert!(seen.contains("x-kept: 1"), "{seen}");
    // To the same origin they go.
    let url = Url::parse(&first.url("/headers")).unwrap();
    let seen = String::from_utf8(fetcher.send(0, &url, &own).await.unwrap().body.unwrap()).unwrap();
    assert!(
        seen.to_ascii_lowercase()
            .contains("authorization: bearer secret"),
        "{seen}"
    );
}

/// `stop_starting` (a first Ctrl-C): the requests in flight go on to
/// their answers (a POST may have been processed; only its answer says),
/// and a request waiting for its turn, or to retry, is never sent. None of
/// those that end unsent carries a kind a record would.
#[tokio::test]
async fn stopping_finishes_what_is_in_flight_and_sends_nothing_new() {
    let server = Server::start(Duration::ZERO).await.unwrap();
    let elsewhere = Server::start(Duration::ZERO).await.unwrap();
    let mut stopping = config(5, Versions::Http1Only);
    stopping.retry_base = Duration::from_secs(30);
    stopping.politeness.per_host = gather_http::PerHost::Fixed(2);
    let fetcher = std::sync::Arc::new(Fetcher::new(stopping).unwrap());
    let post = std::sync::Arc::new(payload("POST", &[], b"{\"n\":1}"));
    let go = |url: String, payload: Option<std::sync::Arc<Payload>>| {
        let (fetcher, url) = (fetcher.clone(), Url::parse(&url).unwrap());
        tokio::spawn(async move {
            match payload {
                Some(p) => fetcher.send(0, &url, &p).await,
                None => fetcher.fetch(0, &url).await,
            }
        })
    };
    let posted = go(
        server.url("/echo?key=stop-post&delay_ms=700"),
        Some(post.clone()),
    );
    let got = go(server.url("/page/1?delay_ms=700"), None);
    // Answered 503 at once, then waits 30 s to try again.
    let retrying = go(elsewhere.url("/status/503"), None);
    tokio::time::sleep(Duration::from_millis(200)).await;
    // The third to the host: waits for one of its two turns.
    let queued = go(server.url("/echo?key=stop-queued"), Some(post));
    tokio::time::sleep(Duration::from_millis(100)).await;
    fetcher.stop_starting();
    let e = tokio::time::timeout(Duration::from_secs(5), retrying)
        .await
        .expect("the backoff's wait ends at the stop")
        .unwrap()
        .unwrap_err();
    assert_eq!(e.kind, Kind::Cancelled, "{e:?}");
    assert!(!Kind::WRITTEN.contains(&e.kind));
    let page = tokio::time::timeout(Duration::from_secs(5), posted)
        .await
        .unwrap()
        .unwrap()
        .expect("the POST in flight is answered");
    assert_eq!(page.body.as_deref(), Some(&b"POST\n{\"n\":1}"[..]));
    let page = tokio::time::timeout(Duration::from_secs(5), got)
        .await
        .unwrap()
        .unwrap()
        .expect("the GET in flight is answered too");
    assert_eq!(page.status, 200);
    // Its turn came when one of those two ended: it sees the stop then.
    let e = tokio::time::timeout(Duration::from_secs(5), queued)
        .await
        .unwrap()
        .unwrap()
        .unwrap_err();
    assert_eq!(e.kind, Kind::Cancelled, "{e:?}");
    // Looked at with a fetcher of its own: this one starts nothing now.
    let other = Fetcher::new(config(0, Versions::Http1Only)).unwrap();
    assert_eq!(count(&other, &server, "stop-post").await, "1");
    assert_eq!(
        count(&other, &server, "stop-queued").await,
        "0",
        "never sent"
    );
}
