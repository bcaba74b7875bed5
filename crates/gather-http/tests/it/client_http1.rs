//! The HTTP/1.1 client against a scripted server on 127.0.0.1: answers
//! framed every way a server may frame them, and connections reused only
//! when that is safe.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gather_http::client::{Client, ErrorKind};
use http::HeaderMap;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use url::Url;

/// What the scripted server does with one request.
enum Act {
    /// Writes these pieces (a pause between them) and reads the next request.
    Answer(Vec<&'static [u8]>),
    /// Writes this and closes the connection.
    AnswerAndClose(&'static [u8]),
    /// Resets the connection without answering.
    Reset,
}

struct Server {
    port: u16,
    connections: Arc<AtomicUsize>,
    requests: Arc<Mutex<Vec<String>>>,
}

impl Server {
    /// Serves on 127.0.0.1; `script(request number)` says what to do.
    async fn start(script: fn(usize) -> Act) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let connections = Arc::new(AtomicUsize::new(0));
        let requests: Arc<Mutex<Vec<String>>> = Arc::default();
        let (conns, reqs) = (connections.clone(), requests.clone());
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                conns.fetch_add(1, Ordering::SeqCst);
                let reqs = reqs.clone();
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    loop {
                        while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                            let mut chunk = [0u8; 1024];
                            match stream.read(&mut chunk).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                            }
                        }
                        let end = buf.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
                        let head = String::from_utf8_lossy(&buf[..end]).into_owned();
                        buf.drain(..end);
                        let n = {
                            let mut reqs = reqs.lock().unwrap();
                            reqs.push(head);
                            reqs.len() - 1
                        };
                        match script(n) {
                            Act::Answer(pieces) => {
                                for piece in pieces {
                                    let _ = stream.write_all(piece).await;
                                    tokio::time::sleep(Duration::from_millis(5)).await;
                                }
                            }
                            Act::AnswerAndClose(bytes) => {
                                let _ = stream.write_all(bytes).await;
                                return;
                            }
                            Act::Reset => {
                                #[allow(deprecated)] // zero linger: a reset, no blocking
                                let _ = stream.set_linger(Some(Duration::ZERO));
                                return;
                            }
                        }
                    }
                });
            }
        });
        Server {
            port,
            connections,
            requests,
        }
    }

    fn url(&self, path: &str) -> Url {
        Url::parse(&format!("http://127.0.0.1:{}{path}", self.port)).unwrap()
    }

    fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

fn client(max_idle: usize) -> Client {
    let tls = gather_http::tls::tls_config(Default::default()).expect("the trusted roots load");
    Client::new(tls, max_idle)
}

/// GETs `url`: status and body, or the error's kind and message.
async fn get(client: &Client, url: &Url) -> Result<(u16, Vec<u8>), (ErrorKind, String)> {
    let fail = |e: gather_http::client::Error| (e.kind, e.message);
    let mut resp = client
        .get(
            url,
            &HeaderMap::new(),
            client.turn(url, 0).await.map_err(fail)?,
        )
        .await
        .map_err(fail)?;
    let mut body = Vec::new();
    while let Some(piece) = resp.body.chunk().await.map_err(fail)? {
        body.extend_from_slice(piece);
    }
    Ok((resp.head.status, body))
}

const OK_HELLO: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";

#[tokio::test]
async fn a_request_is_a_get_with_host_and_a_kept_connection_serves_the_next() {
    let server = Server::start(|_| Act::Answer(vec![OK_HELLO])).await;
    let client = client(4);
    for _ in 0..3 {
        assert_eq!(
            get(&client, &server.url("/a|b?q=1#frag")).await.unwrap(),
            (200, b"hello".to_vec())
        );
    }
    assert_eq!(
        server.connections(),
        1,
        "one keep-alive connection for three requests"
    );
    let first = server.requests.lock().unwrap()[0].clone();
    assert_eq!(
        first,
        format!(
            "GET /a%7Cb?q=1 HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n\r\n",
            server.port
        )
    );
}

#[tokio::test]
async fn chunked_bodies_arriving_in_pieces_are_decoded_and_the_connection_kept() {
    let server = Server::start(|_| {
        Act::Answer(vec![
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhel",
            b"lo\r\n6\r\n world\r",
            b"\n0\r\nTrailer: yes\r\n\r\n",
        ])
    })
    .await;
    let client = client(4);
    for _ in 0..2 {
        assert_eq!(
            get(&client, &server.url("/")).await.unwrap(),
            (200, b"hello world".to_vec())
        );
    }
    assert_eq!(server.connections(), 1);
}

#[tokio::test]
async fn early_hints_are_skipped() {
    let server = Server::start(|_| {
        Act::Answer(vec![
            b"HTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\n",
            OK_HELLO,
        ])
    })
    .await;
    assert_eq!(
        get(&client(4), &server.url("/")).await.unwrap(),
        (200, b"hello".to_vec())
    );
}

#[tokio::test]
async fn a_body_until_close_is_read_whole_and_its_connection_not_reused() {
    let server =
        Server::start(|_| Act::AnswerAndClose(b"HTTP/1.1 200 OK\r\n\r\nuntil the end")).await;
    let client = client(4);
    for _ in 0..2 {
        assert_eq!(
            get(&client, &server.url("/")).await.unwrap(),
            (200, b"until the end".to_vec())
        );
    }
    assert_eq!(server.connections(), 2);
}

#[tokio::test]
async fn connection_close_and_ambiguous_framing_are_not_reused() {
    let server = Server::start(|n| match n % 2 {
        0 => Act::Answer(vec![b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok"]),
        _ => Act::Answer(vec![b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n"]),
    })
    .await;
    let client = client(4);
    for _ in 0..4 {
        assert_eq!(
            get(&client, &server.url("/")).await.unwrap(),
            (200, b"ok".to_vec())
        );
    }
    assert_eq!(server.connections(), 4);
}

#[tokio::test]
async fn a_kept_connection_closed_by_the_server_is_replaced_without_an_error() {
    // Every answer claims keep-alive, then the server closes: the next
    // request finds its pooled connection dead and must go out on a new one.
    let server = Server::start(|_| Act::AnswerAndClose(OK_HELLO)).await;
    let client = client(4);
    for _ in 0..3 {
        assert_eq!(
            get(&client, &server.url("/")).await.unwrap(),
            (200, b"hello".to_vec())
        );
        tokio::time::sleep(Duration::from_millis(20)).await; // let the close land
    }
    assert_eq!(server.connections(), 3);
}

#[tokio::test]
async fn a_body_dropped_part_way_closes_its_connection() {
    let server = Server::start(|_| {
        Act::Answer(vec![
            b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n12345",
            b"67890",
        ])
    })
    .await;
    let client = client(4);
    let url = server.url("/");
    let turn = client.turn(&url, 0).await.unwrap();
    let mut resp = client.get(&url, &HeaderMap::new(), turn).await.unwrap();
    assert_eq!(resp.body.length(), Some(10));
    let first = resp.body.chunk().await.unwrap().unwrap().to_vec();
    assert_eq!(first, b"12345");
    drop(resp);
    assert_eq!(
        get(&client, &server.url("/")).await.unwrap(),
        (200, b"1234567890".to_vec())
    );
    assert_eq!(
        server.connections(),
        2,
        "the half-read connection was not pooled"
    );
}

#[tokio::test]
async fn failures_are_told_apart_by_when_they_happen() {
    let server = Server::start(|n| match n {
        0 => Act::Reset,
        1 => Act::AnswerAndClose(b"SSH-2.0-OpenSSH_9.6\r\n\r\n"),
        2 => Act::AnswerAndClose(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort"),
        3 => Act::AnswerAndClose(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"),
        _ => Act::AnswerAndClose(b"HTTP/1.1 200 OK\r\nContent-Le"),
    })
    .await;
    let client = client(4);
    let url = server.url("/");
    let (kind, message) = get(&client, &url).await.unwrap_err();
    assert_eq!(kind, ErrorKind::Lost, "{message}");
    let (kind, message) = get(&client, &url).await.unwrap_err();
    assert_eq!(kind, ErrorKind::Protocol, "{message}");
    assert!(message.contains("invalid response head"), "{message}");
    let (kind, message) = get(&client, &url).await.unwrap_err();
    assert_eq!(kind, ErrorKind::Body, "{message}");
    assert!(message.contains("Content-Length"), "{message}");
    let (kind, message) = get(&client, &url).await.unwrap_err();
    assert_eq!(
        (kind, message.as_str()),
        (ErrorKind::Body, "chunk size missing")
    );
    let (kind, message) = get(&client, &url).await.unwrap_err();
    assert_eq!(kind, ErrorKind::Lost, "{message}");
    assert!(message.contains("middle of the answer's head"), "{message}");

    // Nothing listening: a connect error naming where. (Bound and never
    // listened on, held to the end: refused, and no one else's meanwhile.)
    let closed = tokio::net::TcpSocket::new_v4().unwrap();
    closed.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let port = closed.local_addr().unwrap().port();
    let url = Url::parse(&format!("http://127.0.0.1:{port}/")).unwrap();
    let (kind, message) = get(&client, &url).await.unwrap_err();
    assert_eq!(kind, ErrorKind::Connect);
    assert!(message.contains(&format!("127.0.0.1:{port}")), "{message}");
}

#[tokio::test]
async fn the_pool_holds_at_most_its_cap_and_drops_the_oldest() {
    let a = Server::start(|_| Act::Answer(vec![OK_HELLO])).await;
    let b = Server::start(|_| Act::Answer(vec![OK_HELLO])).await;
    let one = client(1);
    get(&one, &a.url("/")).await.unwrap();
    get(&one, &b.url("/")).await.unwrap(); // pushes a's connection out
    get(&one, &b.url("/")).await.unwrap();
    get(&one, &a.url("/")).await.unwrap();
    assert_eq!((a.connections(), b.connections()), (2, 1));
    let none = client(0);
    get(&none, &a.url("/")).await.unwrap();
    get(&none, &a.url("/")).await.unwrap();
    assert_eq!(a.connections(), 4, "a pool of 0 keeps nothing");
}

#[tokio::test]
async fn regression_late_bytes_on_a_pooled_connection_are_not_read_as_the_next_answer() {
    // The first answer is followed, a moment later, by a second one nobody
    // asked for. Before, the connection went back to the pool and those
    // bytes were read as the next request's answer.
    let server = Server::start(|n| match n {
        0 => Act::Answer(vec![
            OK_HELLO,
            b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nevil",
        ]),
        _ => Act::Answer(vec![b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ngood"]),
    })
    .await;
    let client = client(4);
    assert_eq!(
        get(&client, &server.url("/first")).await.unwrap(),
        (200, b"hello".to_vec())
    );
    // Let the late bytes arrive while the connection is idle.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        get(&client, &server.url("/second")).await.unwrap(),
        (200, b"good".to_vec())
    );
    assert_eq!(
        server.connections(),
        2,
        "the dirty connection was not reused"
    );
}

#[tokio::test]
async fn a_pooled_connection_the_server_closed_is_not_reused() {
    // Answered as keep-alive, then closed: the close is seen before the
    // next request is sent, not as a failed exchange.
    let server = Server::start(|_| Act::AnswerAndClose(OK_HELLO)).await;
    let client = client(4);
    assert_eq!(
        get(&client, &server.url("/a")).await.unwrap(),
        (200, b"hello".to_vec())
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        get(&client, &server.url("/b")).await.unwrap(),
        (200, b"hello".to_vec())
    );
    assert_eq!(server.connections(), 2);
    assert_eq!(
        server.requests.lock().unwrap().len(),
        2,
        "no request was sent on the closed connection"
    );
}
