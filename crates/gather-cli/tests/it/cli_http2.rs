//! `gather fetch` over HTTP/2, against the fault server's HTTP/2 side:
//! many requests on one connection within the server's stream limit,
//! GOAWAY and refused streams survived with every line written once,
//! bodies larger than a flow-control window, and ALPN choosing h2 over TLS
//! (or not, with `--http1.1`).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use gather_pageserver::http2::{Faults, Http2Server};
use serde_json::Value;

use crate::support::*;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// `/page/0` to `/page/{n-1}` on `server`, each followed by `query`.
fn pages(server: &Http2Server, n: usize, query: &str) -> Vec<String> {
    (0..n)
        .map(|i| server.url(&format!("/page/{i}{query}")))
        .collect()
}

fn h2c(rt: &tokio::runtime::Runtime, faults: Faults) -> Http2Server {
    rt.block_on(Http2Server::start(faults)).unwrap()
}

/// Runs `gather fetch -q ARGS` over `urls` (from stdin); its records.
fn fetch(urls: &[String], args: &[&str]) -> (std::process::Output, Vec<Value>) {
    let mut cmd = gather_cmd();
    cmd.args(["fetch", "-q"]).args(args);
    let out = run_with(cmd, &(urls.join("\n") + "\n"), Duration::from_secs(60));
    let recs = records(&out.stdout);
    (out, recs)
}

/// Every line written once, in order, each a 200 over HTTP/2.
fn assert_all_ok_over_h2(out: &std::process::Output, recs: &[Value], n: usize) {
    let failed: Vec<&Value> = recs.iter().filter(|r| !r["error"].is_null()).collect();
    assert_eq!(out.status.code(), Some(0), "{}{failed:#?}", stderr(out));
    assert_eq!(indexes(recs), (0..n as u64).collect::<Vec<_>>());
    for r in recs {
        assert_eq!(r["status"], 200, "{r}");
        assert_eq!(r["http_version"], "2", "{r}");
    }
}

/// Each of `urls`' paths answered exactly once by the server.
fn assert_answered_once(server: &Http2Server, base: &str, urls: &[String]) {
    let answered: HashMap<String, u64> = server.stats().answered();
    for url in urls {
        let target = url.strip_prefix(base).unwrap();
        assert_eq!(
            answered.get(target),
            Some(&1),
            "{target} answered {answered:?}"
        );
    }
}

#[test]
fn h2c_multiplexes_every_request_over_one_connection_within_the_stream_limit() {
    let rt = runtime();
    let server = h2c(
        &rt,
        Faults {
            max_concurrent_streams: 8,
            ..Faults::default()
        },
    );
    let urls = pages(&server, 200, "?delay_ms=10");
    let (out, recs) = fetch(&urls, &["--http2-prior-knowledge", "--limit", "64"]);
    assert_all_ok_over_h2(&out, &recs, urls.len());
    let stats = server.stats();
    assert_eq!(stats.connections(), 1, "one connection for the origin");
    assert!(
        (2..=8).contains(&stats.peak_streams()),
        "streams at once: {} (server allows 8)",
        stats.peak_streams()
    );
    assert!(recs[7]["body"].is_null());
}

#[test]
fn per_host_bounds_the_streams_on_the_connection() {
    let rt = runtime();
    let server = h2c(&rt, Faults::default());
    let urls = pages(&server, 60, "?delay_ms=10");
    let args = [
        "--http2-prior-knowledge",
        "--limit",
        "32",
        "--per-host",
        "3",
    ];
    let (out, recs) = fetch(&urls, &args);
    assert_all_ok_over_h2(&out, &recs, urls.len());
    let peak = server.stats().peak_streams();
    assert!((1..=3).contains(&peak), "streams at once: {peak}");
}

#[test]
fn a_graceful_goaway_moves_the_rest_to_a_new_connection_each_answered_once() {
    let rt = runtime();
    let server = h2c(
        &rt,
        Faults {
            goaway_after: Some(7),
            ..Faults::default()
        },
    );
    let urls = pages(&server, 100, "?delay_ms=5");
    let (out, recs) = fetch(&urls, &["--http2-prior-knowledge", "--limit", "32"]);
    assert_all_ok_over_h2(&out, &recs, urls.len());
    assert!(server.stats().connections() >= 2);
    // Sent again inside the attempt: not a retry, and answered once.
    assert!(recs.iter().all(|r| r["retries"] == 0));
    assert_answered_once(&server, &server.url(""), &urls);
}

/// Regression: an answer still coming on a connection the origin forgot
/// after its GOAWAY was cut ("stream closed because of a broken pipe",
/// 8 runs in 100 of the test above) once the last request holding the
/// connection, one sent again on the next, let go of it: that stopped the
/// connection's driver. Here the first page's head comes at once and its
/// body 800 ms later; the server allows one stream, so the second request
/// waits, is refused by the GOAWAY, and is answered on a new connection
/// meanwhile.
#[test]
fn an_answer_below_the_goaway_is_read_whole_after_the_rest_moved_on() {
    let rt = runtime();
    let server = h2c(
        &rt,
        Faults {
            max_concurrent_streams: 1,
            goaway_after: Some(1),
            ..Faults::default()
        },
    );
    let urls = vec![
        server.url("/page/0?body_delay_ms=800"),
        server.url("/page/1"),
    ];
    let args = ["--http2-prior-knowledge", "--limit", "8", "--body"];
    let (out, recs) = fetch(&urls, &args);
    assert_all_ok_over_h2(&out, &recs, urls.len());
    assert!(
        recs[0]["body"].as_str().unwrap().contains("page 0"),
        "{}",
        recs[0]
    );
    assert_eq!(server.stats().connections(), 2);
    assert_answered_once(&server, &server.url(""), &urls);
}

#[test]
fn streams_past_an_abrupt_goaway_are_sent_again_and_each_line_is_written_once() {
    let rt = runtime();
    let server = h2c(
        &rt,
        Faults {
            abrupt_goaway_after: Some(7),
            ..Faults::default()
        },
    );
    // With 32 in flight, most were sent past the 7th, and the first 7 are
    // cut by the close: without sending them again on a second
    // connection, they would be error lines.
    let urls = pages(&server, 100, "");
    let (out, recs) = fetch(&urls, &["--http2-prior-knowledge", "--limit", "32"]);
    assert_all_ok_over_h2(&out, &recs, urls.len());
    assert_eq!(server.stats().connections(), 2);
    assert!(recs.iter().all(|r| r["retries"] == 0));
}

#[test]
fn refused_streams_are_sent_again_and_each_is_reported_once() {
    let rt = runtime();
    let server = h2c(
        &rt,
        Faults {
            refuse_every: Some(5),
            ..Faults::default()
        },
    );
    let urls = pages(&server, 60, "");
    let (out, recs) = fetch(&urls, &["--http2-prior-knowledge", "--limit", "16"]);
    assert_all_ok_over_h2(&out, &recs, urls.len());
    assert!(
        server.stats().refused() >= 6,
        "{}",
        server.stats().refused()
    );
    assert!(recs.iter().all(|r| r["retries"] == 0));
    assert_answered_once(&server, &server.url(""), &urls);
}

#[test]
fn bodies_larger_than_the_flow_control_windows_arrive_whole() {
    let rt = runtime();
    let server = h2c(&rt, Faults::default());
    // 6 x 5 MiB: past each stream's 1 MiB window and, together, past the
    // connection's 16 MiB: the run ends only if the client gives the
    // windows back as it reads.
    let bytes = 5 << 20;
    let urls: Vec<String> = (0..6)
        .map(|i| server.url(&format!("/big?bytes={bytes}&i={i}")))
        .collect();
    let (out, recs) = fetch(
        &urls,
        &[
            "--http2-prior-knowledge",
            "--max-bytes",
            "6MiB",
            "--timeout",
            "30s",
        ],
    );
    assert_all_ok_over_h2(&out, &recs, urls.len());
    for r in &recs {
        assert_eq!(r["bytes"], bytes, "{r}");
    }
    assert_eq!(server.stats().connections(), 1);
}

/// An HTTPS server on 127.0.0.1 offering `alpn`: HTTP/2 (the fault
/// server's) when the handshake chose h2, else one HTTP/1.1 answer per
/// connection. Its port, the CA's PEM, and the HTTP/2 side's counts.
fn https_server(rt: &tokio::runtime::Runtime, alpn: &[&[u8]]) -> (u16, String, Arc<Http2Server>) {
    let (acceptor, ca) = tls::acceptor(alpn);
    let h2 = Arc::new(Http2Server::without_listener(Faults::default()));
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = h2.clone();
    rt.spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            let acceptor = acceptor.clone();
            let server = server.clone();
            tokio::spawn(async move {
                let Ok(Ok(tls)) =
                    tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await
                else {
                    return;
                };
                if tls.get_ref().1.alpn_protocol() == Some(b"h2") {
                    server.serve(tls);
                    return;
                }
                tls::answer_once(tls, "<title>over HTTP/1.1</title>").await;
            });
        }
    });
    (port, ca, h2)
}

fn https_urls(port: u16, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| format!("https://127.0.0.1:{port}/page/{i}?delay_ms=5"))
        .collect()
}

#[test]
fn https_speaks_h2_when_alpn_agrees_with_one_connection_for_the_origin() {
    let rt = runtime();
    let (port, ca, server) = https_server(&rt, &[b"h2", b"http/1.1"]);
    let env = Env::new("h2-alpn");
    let cacert = env.path("ca.pem");
    std::fs::write(&cacert, ca).unwrap();
    let urls = https_urls(port, 40);
    let (out, recs) = fetch(
        &urls,
        &["--cacert", cacert.to_str().unwrap(), "--limit", "16"],
    );
    assert_all_ok_over_h2(&out, &recs, urls.len());
    // The first request found out the protocol; the rest waited for its
    // connection instead of opening their own.
    assert_eq!(server.stats().connections(), 1);
    assert_answered_once(&server, &format!("https://127.0.0.1:{port}"), &urls);
}

#[test]
fn http1_1_forces_http_1_1_and_a_server_without_h2_gets_it_anyway() {
    let rt = runtime();
    let env = Env::new("h2-http1");
    for (alpn, flags) in [
        (&[&b"h2"[..], b"http/1.1"][..], &["--http1.1"][..]),
        (&[&b"http/1.1"[..]][..], &[][..]),
        // No ALPN at all: an older server.
        (&[][..], &[][..]),
    ] {
        let (port, ca, server) = https_server(&rt, alpn);
        let cacert = env.path("ca.pem");
        std::fs::write(&cacert, ca).unwrap();
        let urls = https_urls(port, 5);
        let mut args = vec!["--cacert", cacert.to_str().unwrap(), "--body"];
        args.extend_from_slice(flags);
        let (out, recs) = fetch(&urls, &args);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert_eq!(recs.len(), urls.len());
        for r in &recs {
            assert_eq!(r["http_version"], "1.1", "{alpn:?} {flags:?}: {r}");
            assert_eq!(r["body"], "<title>over HTTP/1.1</title>");
        }
        assert_eq!(server.stats().connections(), 0);
    }
}

#[test]
fn http1_1_and_prior_knowledge_together_are_a_usage_error() {
    let out = run(&["fetch", "--http1.1", "--http2-prior-knowledge", "-"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("--http2-prior-knowledge"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn decoding_and_redirects_work_over_h2_as_over_http_1_1() {
    let rt = runtime();
    let server = h2c(&rt, Faults::default());
    let codings = ["gzip", "deflate", "br", "zstd"];
    let mut urls: Vec<String> = codings
        .iter()
        .map(|c| server.url(&format!("/encoded/{c}")))
        .collect();
    urls.push(server.url("/redirect/3"));
    let (out, recs) = fetch(&urls, &["--http2-prior-knowledge", "--body"]);
    assert_all_ok_over_h2(&out, &recs, urls.len());
    let page = std::str::from_utf8(gather_pageserver::fixtures::PAGE).unwrap();
    for (r, coding) in recs.iter().zip(codings) {
        assert_eq!(r["encoding"], coding, "{r}");
        assert_eq!(r["body"], page, "{coding}");
    }
    assert!(recs[4]["final_url"].as_str().unwrap().ends_with("/page/0"));
    assert_eq!(server.stats().connections(), 1);
}

#[test]
fn https_through_a_connect_tunnel_speaks_h2_to_the_origin() {
    let rt = runtime();
    let (port, ca, server) = https_server(&rt, &[b"h2", b"http/1.1"]);
    let env = Env::new("h2-proxy");
    let cacert = env.path("ca.pem");
    std::fs::write(&cacert, ca).unwrap();
    let proxy = crate::support::proxy::start(&rt, None);
    let urls = https_urls(port, 10);
    let (out, recs) = fetch(
        &urls,
        &[
            "--cacert",
            cacert.to_str().unwrap(),
            "--proxy",
            &proxy.url(),
        ],
    );
    assert_all_ok_over_h2(&out, &recs, urls.len());
    // One tunnel, one HTTP/2 connection through it, every request on it.
    assert_eq!(
        proxy.request_lines(),
        [format!("CONNECT 127.0.0.1:{port} HTTP/1.1")]
    );
    assert_eq!(server.stats().connections(), 1);
}

#[test]
fn per_host_holds_while_requests_move_to_a_new_connection() {
    let rt = runtime();
    let server = h2c(
        &rt,
        Faults {
            abrupt_goaway_after: Some(3),
            ..Faults::default()
        },
    );
    // Every permit is held by a request the GOAWAY sent back, while a new
    // request may be the one opening the next connection: it must not
    // wait for a permit while the others wait for its connection.
    let urls = pages(&server, 40, "?delay_ms=5");
    let args = [
        "--http2-prior-knowledge",
        "--limit",
        "16",
        "--per-host",
        "2",
    ];
    let (out, recs) = fetch(&urls, &args);
    assert_all_ok_over_h2(&out, &recs, urls.len());
    assert_eq!(server.stats().connections(), 2);
    assert!(server.stats().peak_streams() <= 2);
}

#[test]
fn resume_over_h2_fetches_only_the_lines_not_yet_written() {
    let rt = runtime();
    let server = h2c(&rt, Faults::default());
    let env = Env::new("h2-resume");
    let urls = pages(&server, 20, "");
    let input = env.input("urls.txt", &urls);
    let out_path = env.path("out.jsonl");
    let (input, out_path) = (input.to_str().unwrap(), out_path.to_str().unwrap());
    let args = [
        "fetch",
        "-q",
        "--http2-prior-knowledge",
        input,
        "-o",
        out_path,
    ];
    let first = run(&args);
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    // Keep the first 8 lines, as a run interrupted there leaves them.
    let text = std::fs::read_to_string(out_path).unwrap();
    let kept: String = text.lines().take(8).map(|l| format!("{l}\n")).collect();
    std::fs::write(out_path, kept).unwrap();
    let answered_before: u64 = server.stats().answered().values().sum();
    let resumed = run(&[&args[..], &["--resume"]].concat());
    assert_eq!(resumed.status.code(), Some(0), "{}", stderr(&resumed));
    let recs = records(std::fs::read_to_string(out_path).unwrap().as_bytes());
    assert_eq!(indexes(&recs), (0..20).collect::<Vec<_>>());
    assert!(recs.iter().all(|r| r["http_version"] == "2"));
    let answered_after: u64 = server.stats().answered().values().sum();
    assert_eq!(
        answered_after - answered_before,
        12,
        "only the missing lines"
    );
}

#[test]
fn retries_and_timeouts_work_over_h2_as_over_http_1_1() {
    let rt = runtime();
    let server = h2c(&rt, Faults::default());
    let urls = vec![
        server.url("/status/503"),
        server.url("/page/slow?delay_ms=3000"),
        server.url("/limited/k"),
    ];
    let (out, recs) = fetch(
        &urls,
        &[
            "--http2-prior-knowledge",
            "--retries",
            "2",
            "--retry-delay",
            "10ms",
            "--timeout",
            "300ms",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(recs[0]["status"], 503);
    assert_eq!(recs[0]["retries"], 2);
    assert_eq!(recs[0]["http_version"], "2");
    // A timeout is not retried (it is not a connection failure).
    assert_eq!(recs[1]["error"]["kind"], "timeout", "{}", recs[1]);
    // 429 with Retry-After: 1, every time: two waits of a second.
    assert_eq!(recs[2]["status"], 429);
    assert_eq!(recs[2]["retries"], 2);
    assert!(
        recs[2]["elapsed_ms"].as_f64().unwrap() >= 2000.0,
        "{}",
        recs[2]
    );
    // Each was one stream on the one connection, retries included.
    assert_eq!(server.stats().connections(), 1);
}

#[test]
fn requests_to_a_host_that_never_answers_do_not_wait_for_each_others_probe() {
    let rt = runtime();
    // Accepts connections and never says a word: every TLS handshake
    // hangs until the request's --timeout.
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let port = listener.local_addr().unwrap().port();
    rt.spawn(async move {
        let mut held = Vec::new();
        while let Ok((tcp, _)) = listener.accept().await {
            held.push(tcp);
        }
    });
    let urls: Vec<String> = (0..20)
        .map(|i| format!("https://127.0.0.1:{port}/page/{i}"))
        .collect();
    let start = std::time::Instant::now();
    let args = ["--timeout", "300ms", "--limit", "20", "--per-host", "20"];
    let (out, recs) = fetch(&urls, &args);
    let took = start.elapsed();
    assert_eq!(out.status.code(), Some(1));
    assert!(recs.iter().all(|r| r["error"]["kind"] == "timeout"));
    // The first request probes the origin and the rest wait for it; once
    // it has failed they go at once, together. Waiting for each other in
    // turn would take 20 x 300 ms.
    assert!(took < Duration::from_secs(3), "{took:?}");
}
