//! The demo's own page server: `GET /page/N` on 127.0.0.1, answered after
//! a fixed latency, and `POST /v1/...`, a rate-limited API (see `api`),
//! over HTTP/1.1 keep-alive connections; anything else is a 404. Just what
//! the demo shows and no more: the fault-injecting server the tests use
//! (`gather-pageserver`) is not in the installed binary.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

use super::api::Api;

/// A request head longer than this closes its connection.
const MAX_HEAD: usize = 8 * 1024;

/// The server, stopped (its listener and every connection) when dropped.
pub(crate) struct Pages {
    addr: SocketAddr,
    api: Arc<Api>,
    _tasks: JoinSet<()>,
}

impl Pages {
    /// Listens on a free port of 127.0.0.1; its API allows `per_second`
    /// requests a second.
    pub(crate) async fn start(latency: Duration, per_second: f64) -> io::Result<Pages> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let api = Arc::new(Api::new(per_second));
        let mut tasks = JoinSet::new();
        let served = api.clone();
        tasks.spawn(async move {
            // Connections end with the accept loop: a JoinSet aborts its
            // tasks when dropped.
            let mut connections = JoinSet::new();
            while let Ok((stream, _)) = listener.accept().await {
                connections.spawn(serve(stream, latency, served.clone()));
                while connections.try_join_next().is_some() {}
            }
        });
        Ok(Pages {
            addr,
            api,
            _tasks: tasks,
        })
    }

    /// Its rate-limited API.
    pub(crate) fn api(&self) -> &Api {
        &self.api
    }

    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

/// Answers the requests of one connection until the client closes it or
/// sends something that is not a GET, or a POST to the API.
async fn serve(mut stream: TcpStream, latency: Duration, api: Arc<Api>) {
    let _ = stream.set_nodelay(true);
    let mut buf = Vec::with_capacity(1024);
    loop {
        let end = loop {
            if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break at + 4;
            }
            if buf.len() > MAX_HEAD {
                return;
            }
            let mut chunk = [0u8; 1024];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..end]).into_owned();
        buf.drain(..end);
        let mut words = head.split_whitespace();
        let (Some(method), Some(target)) = (words.next(), words.next()) else {
            return;
        };
        if method == "POST" && target.starts_with("/v1/") {
            // The body is read and let go: the API answers by its budget.
            let length: usize = head
                .lines()
                .filter_map(|l| l.split_once(':'))
                .find(|(n, _)| n.trim().eq_ignore_ascii_case("content-length"))
                .and_then(|(_, v)| v.trim().parse().ok())
                .unwrap_or(0);
            while buf.len() < length {
                let mut chunk = [0u8; 4096];
                match stream.read(&mut chunk).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            }
            buf.drain(..length);
            let (status, fields, body) = api.answer();
            let reason = if status == 200 {
                "OK"
            } else {
                "Too Many Requests"
            };
            let answer = format!(
                "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n{fields}\r\n{body}",
                body.len()
            );
            if stream.write_all(answer.as_bytes()).await.is_err() {
                return;
            }
            continue;
        }
        if method != "GET" {
            return;
        }
        let answer = match target.strip_prefix("/page/") {
            Some(n) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => {
                tokio::time::sleep(latency).await;
                let body =
                    format!("<!doctype html><title>page {n}</title><p>This is page {n}.</p>\n");
                respond(200, "OK", "text/html; charset=utf-8", &body)
            }
            _ => respond(404, "Not Found", "text/plain", "not found\n"),
        };
        if stream.write_all(answer.as_bytes()).await.is_err() {
            return;
        }
    }
}

fn respond(status: u16, reason: &str, content_type: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn get(pages: &Pages, target: &str) -> String {
        let mut s = TcpStream::connect(pages.addr()).await.unwrap();
        s.write_all(
            format!(
                "GET {target} HTTP/1.1\r\nhost: x\r\n\r\nGET {target} HTTP/1.1\r\nhost: x\r\n\r\n"
            )
            .as_bytes(),
        )
        .await
        .unwrap();
        // Two answers on one connection: keep-alive and pipelining.
        let mut text = String::new();
        let mut buf = [0u8; 4096];
        while text.matches("HTTP/1.1").count() < 2 || !text.ends_with('\n') {
            let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
                .await
                .expect("an answer within 5 s")
                .unwrap();
            assert!(n > 0, "closed early: {text:?}");
            text.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
        text
    }

    #[tokio::test]
    async fn pages_are_served_on_one_connection_and_the_rest_is_404() {
        let pages = Pages::start(Duration::from_millis(1), 10.0).await.unwrap();
        let page = get(&pages, "/page/7").await;
        assert_eq!(page.matches("HTTP/1.1 200 OK").count(), 2, "{page}");
        assert!(page.contains("This is page 7."), "{page}");
        let other = get(&pages, "/page/x").await;
        assert_eq!(other.matches("HTTP/1.1 404").count(), 2, "{other}");
    }
}
