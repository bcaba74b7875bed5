//! `gather fetch` against nginx over TLS, started here on 127.0.0.1 with a
//! certificate made for the test: HTTP/2 chosen by ALPN with every request
//! on one connection, gzip decoded over it, `--http1.1`, and the default
//! and explicit `--per-host` limits, each counted by nginx itself (its
//! access log names each request's connection and protocol).
//!
//! nginx comes from Debian: the tests are `#[ignore = "needs nginx"]`, and
//! `.ci/run` installs it and runs them with `--ignored`.

use std::collections::HashSet;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::*;

const NGINX: &str = "/usr/sbin/nginx";
const PAGES: usize = 50;

struct Nginx {
    child: Child,
    port: u16,
    dir: PathBuf,
    cacert: PathBuf,
}

impl Nginx {
    /// Starts nginx on a free port of 127.0.0.1, TLS and HTTP/2, serving
    /// `PAGES` pages of ~3 KiB, gzip'd when asked.
    fn start(name: &str) -> Nginx {
        require(NGINX);
        let dir = std::env::temp_dir().join(format!("gather-nginx-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let www = dir.join("www");
        std::fs::create_dir_all(&www).unwrap();
        for i in 0..PAGES {
            std::fs::write(www.join(format!("page-{i}.html")), page(i)).unwrap();
        }
        let certs = tls::certificates();
        std::fs::write(dir.join("cert.pem"), &certs.leaf_pem).unwrap();
        std::fs::write(dir.join("key.pem"), certs.key.serialize_pem()).unwrap();
        let cacert = dir.join("ca.pem");
        std::fs::write(&cacert, &certs.ca_pem).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        // `http2 on` came in nginx 1.25.1; before it, HTTP/2 is a flag of
        // `listen` (Debian 12 has 1.22).
        let (listen, http2) = if nginx_version() >= (1, 25, 1) {
            ("ssl", "http2 on;")
        } else {
            ("ssl http2", "")
        };
        let d = dir.display();
        let conf = format!(
            r#"
daemon off;
master_process off;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    log_format per_connection '$connection $server_protocol $status $request_uri';
    access_log {d}/access.log per_connection;
    gzip on;
    gzip_min_length 20;
    server {{
        listen 127.0.0.1:{port} {listen};
        {http2}
        ssl_certificate {d}/cert.pem;
        ssl_certificate_key {d}/key.pem;
        root {d}/www;
    }}
}}
"#
        );
        std::fs::write(dir.join("nginx.conf"), conf).unwrap();
        let child = Command::new(NGINX)
            .args(["-c", dir.join("nginx.conf").to_str().unwrap()])
            .args(["-p", dir.to_str().unwrap()])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("nginx starts");
        let nginx = Nginx {
            child,
            port,
            dir,
            cacert,
        };
        let start = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "nginx did not start: {}",
                std::fs::read_to_string(nginx.dir.join("error.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        nginx
    }

    fn urls(&self, n: usize) -> Vec<String> {
        (0..n)
            .map(|i| format!("https://127.0.0.1:{}/page-{}.html", self.port, i % PAGES))
            .collect()
    }

    /// Runs `gather fetch -q --cacert CA ARGS` over `urls`.
    fn fetch(&self, urls: &[String], args: &[&str]) -> Vec<serde_json::Value> {
        let mut cmd = gather_cmd();
        cmd.args(["fetch", "-q", "--cacert", self.cacert.to_str().unwrap()])
            .args(args);
        let out = run_with(cmd, &(urls.join("\n") + "\n"), Duration::from_secs(60));
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let recs = records(&out.stdout);
        assert_eq!(indexes(&recs), (0..urls.len() as u64).collect::<Vec<_>>());
        recs
    }

    /// The access log's lines so far: connection number, protocol.
    fn log(&self) -> Vec<(u64, String)> {
        std::fs::read_to_string(self.dir.join("access.log"))
            .unwrap_or_default()
            .lines()
            .map(|l| {
                let mut f = l.split(' ');
                let connection = f.next().unwrap().parse().unwrap();
                (connection, f.next().unwrap().to_owned())
            })
            .collect()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn page(i: usize) -> String {
    format!("<!doctype html><title>page {i}</title>") + &"<p>lorem ipsum</p>".repeat(150)
}

fn nginx_version() -> (u32, u32, u32) {
    let out = Command::new(NGINX).arg("-v").output().unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    let v = text.trim().rsplit('/').next().unwrap_or("0.0.0");
    let mut n = v.split('.').map(|p| p.parse().unwrap_or(0));
    (
        n.next().unwrap_or(0),
        n.next().unwrap_or(0),
        n.next().unwrap_or(0),
    )
}

#[test]
#[ignore = "needs nginx (/usr/sbin/nginx)"]
fn nginx_over_tls_answers_on_one_http2_connection_and_gzip_is_decoded() {
    let nginx = Nginx::start("h2");
    let urls = nginx.urls(300);
    let recs = nginx.fetch(&urls, &["--limit", "64"]);
    for (i, r) in recs.iter().enumerate() {
        assert_eq!(r["status"], 200, "{r}");
        assert_eq!(r["http_version"], "2", "{r}");
        assert_eq!(r["encoding"], "gzip", "{r}");
        assert_eq!(r["bytes"], page(i % PAGES).len(), "{r}");
    }
    let log = nginx.log();
    assert_eq!(log.len(), urls.len());
    let connections: HashSet<u64> = log.iter().map(|(c, _)| *c).collect();
    assert_eq!(connections.len(), 1, "one connection: {connections:?}");
    assert!(log.iter().all(|(_, p)| p == "HTTP/2.0"));
}

#[test]
#[ignore = "needs nginx (/usr/sbin/nginx)"]
fn http1_1_to_nginx_keeps_to_eight_connections_or_what_per_host_says() {
    let nginx = Nginx::start("h1");
    let urls = nginx.urls(200);
    let recs = nginx.fetch(&urls, &["--http1.1", "--limit", "64", "--per-host", "8"]);
    assert!(recs.iter().all(|r| r["http_version"] == "1.1"));
    let log = nginx.log();
    assert!(log.iter().all(|(_, p)| p == "HTTP/1.1"));
    // Keep-alive: each connection opened is kept, so the number opened is
    // the most open at once.
    let opened: HashSet<u64> = log.iter().map(|(c, _)| *c).collect();
    assert!(
        (2..=8).contains(&opened.len()),
        "{} connections",
        opened.len()
    );

    let before = log.len();
    nginx.fetch(&urls, &["--http1.1", "--limit", "64", "--per-host", "2"]);
    let opened: HashSet<u64> = nginx.log()[before..].iter().map(|(c, _)| *c).collect();
    assert!(
        (1..=2).contains(&opened.len()),
        "{} connections",
        opened.len()
    );
}
