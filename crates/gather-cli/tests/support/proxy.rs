//! A forward HTTP proxy on 127.0.0.1 for the proxy tests: `CONNECT`
//! tunnels, and plain requests in absolute form, each forwarded on a
//! connection of its own (asked to close, so one answer per connection).
//! It records every request head it gets, and can demand credentials.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub struct FakeProxy {
    pub port: u16,
    /// Each request head as received.
    pub seen: Arc<Mutex<Vec<String>>>,
}

impl FakeProxy {
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The first line of each request, in order.
    pub fn request_lines(&self) -> Vec<String> {
        let seen = self.seen.lock().unwrap();
        seen.iter()
            .map(|h| h.lines().next().unwrap_or("").to_owned())
            .collect()
    }
}

/// Starts the proxy on `rt`. With `auth` (`user:password`), a request
/// without that `Proxy-Authorization: Basic` gets a 407.
pub fn start(rt: &tokio::runtime::Runtime, auth: Option<&'static str>) -> FakeProxy {
    let listener = rt.block_on(TcpListener::bind("127.0.0.1:0")).unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let record = seen.clone();
    rt.spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let record = record.clone();
            tokio::spawn(async move {
                let _ = serve(client, record, auth).await;
            });
        }
    });
    FakeProxy { port, seen }
}

async fn serve(
    mut client: TcpStream,
    record: Arc<Mutex<Vec<String>>>,
    auth: Option<&str>,
) -> std::io::Result<()> {
    let mut buf = Vec::new();
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        let mut chunk = [0u8; 4096];
        let n = client.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
    record.lock().unwrap().push(head.clone());
    if let Some(auth) = auth {
        use base64::Engine;
        let want = format!(
            "basic {}",
            base64::engine::general_purpose::STANDARD.encode(auth)
        )
        .to_ascii_lowercase();
        let given = head
            .lines()
            .find_map(|l| {
                l.split_once(':')
                    .filter(|(k, _)| k.eq_ignore_ascii_case("proxy-authorization"))
            })
            .map(|(_, v)| v.trim().to_ascii_lowercase());
        if given.as_deref() != Some(want.as_str()) {
            client
                .write_all(b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"t\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                .await?;
            return Ok(());
        }
    }
    let first = head.lines().next().unwrap_or("");
    let mut parts = first.split(' ');
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    if method == "CONNECT" {
        let mut upstream = TcpStream::connect(target).await?;
        client
            .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
            .await?;
        client.write_all(&buf[end..]).await?;
        tokio::io::copy_bidirectional(&mut client, &mut upstream).await?;
        return Ok(());
    }
    // GET http://host:port/path: to the origin in origin form, without the
    // proxy's own fields, asking it to close after its answer.
    let rest = target.strip_prefix("http://").unwrap_or(target);
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let path = if path.is_empty() { "/" } else { path };
    let mut forwarded = format!("{method} {path} HTTP/1.1\r\n");
    for line in head.lines().skip(1).filter(|l| !l.is_empty()) {
        let name = line.split(':').next().unwrap_or("").to_ascii_lowercase();
        if name != "proxy-authorization" && name != "connection" {
            forwarded.push_str(line);
            forwarded.push_str("\r\n");
        }
    }
    forwarded.push_str("Connection: close\r\n\r\n");
    let mut upstream = TcpStream::connect(authority).await?;
    upstream.write_all(forwarded.as_bytes()).await?;
    let mut answer = Vec::new();
    upstream.read_to_end(&mut answer).await?;
    client.write_all(&answer).await?;
    Ok(())
}

/// tinyproxy on 127.0.0.1 with a config of our own: every CONNECT port
/// allowed, `BasicAuth` when `auth` is given. Fails when it is not
/// installed: its tests are `#[ignore = "needs tinyproxy"]`.
pub fn tinyproxy(env: &super::Env, auth: Option<(&str, &str)>) -> (Stop, u16) {
    super::require("/usr/bin/tinyproxy");
    // tinyproxy takes a port number, not port 0: a free one is picked and
    // let go, and another program may take it first. Then tinyproxy exits
    // at once, and the next attempt picks another port (bounded).
    for _ in 0..5 {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut conf = format!(
            "Port {port}\nListen 127.0.0.1\nTimeout 30\nMaxClients 50\nAllow 127.0.0.1\nLogLevel Connect\nLogFile \"{}\"\nPidFile \"{}\"\n",
            env.path("tinyproxy.log").display(),
            env.path("tinyproxy.pid").display()
        );
        if let Some((user, pass)) = auth {
            conf.push_str(&format!("BasicAuth {user} {pass}\n"));
        }
        let conf_path = env.path("tinyproxy.conf");
        std::fs::write(&conf_path, conf).unwrap();
        let mut child = Stop(
            std::process::Command::new("/usr/bin/tinyproxy")
                .args(["-d", "-c"])
                .arg(&conf_path)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap(),
        );
        // Bounded wait for it to listen, as long as it runs: a listener
        // on the port while tinyproxy has exited is someone else's.
        for _ in 0..200 {
            if child.0.try_wait().unwrap().is_some() {
                break;
            }
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return (child, port);
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }
    panic!(
        "tinyproxy did not listen on 127.0.0.1 in 5 attempts; its log: {}",
        env.path("tinyproxy.log").display()
    );
}

/// Stops tinyproxy however the test ends.
pub struct Stop(pub std::process::Child);
impl Drop for Stop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
