//! HTTPS works (rustls: no system OpenSSL), against TLS servers on
//! 127.0.0.1 whose certificates come from a CA made for the test: trusted
//! with `--cacert` or through the system's store as curl reads it
//! (`SSL_CERT_FILE`, `SSL_CERT_DIR`), refused otherwise; a self-signed
//! certificate given with `--cacert` is accepted as curl accepts it,
//! `--insecure` accepts anything (and says so), and `--cert`/`--key` show a
//! client certificate to a server that asks for one.

use std::sync::Arc;
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::rustls::ServerConfig;

use serde_json::{json, Value};

use crate::support::*;

/// Starts an HTTPS server on 127.0.0.1; returns its port and the CA's PEM.
fn https_server(rt: &tokio::runtime::Runtime) -> (u16, String) {
    let certs = tls::certificates();
    (serve(rt, certs.leaf_der, certs.key), certs.ca_pem)
}

/// Starts an HTTPS server whose certificate is self-signed and says
/// CA:TRUE, as `openssl req -x509` makes by default; returns its port and
/// that certificate's PEM.
fn self_signed_ca_true_server(rt: &tokio::runtime::Runtime) -> (u16, String) {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(vec!["127.0.0.1".to_owned()]).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let cert = params.self_signed(&key).unwrap();
    (serve(rt, cert.der().to_vec(), key), cert.pem())
}

/// Serves one fixed page over TLS with `cert`; returns the port.
fn serve(rt: &tokio::runtime::Runtime, cert: Vec<u8>, leaf_key: KeyPair) -> u16 {
    serve_asking(rt, cert, leaf_key, None)
}

/// As [`serve`], and with `client_ca` (PEM), asking every client for a
/// certificate that CA signed.
fn serve_asking(
    rt: &tokio::runtime::Runtime,
    cert: Vec<u8>,
    leaf_key: KeyPair,
    client_ca: Option<&str>,
) -> u16 {
    let leaf_der = cert;
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap();
    let builder = match client_ca {
        None => builder.with_no_client_auth(),
        Some(pem) => {
            use tokio_rustls::rustls::pki_types::pem::PemObject;
            let mut roots = tokio_rustls::rustls::RootCertStore::empty();
            roots
                .add(CertificateDer::from_pem_slice(pem.as_bytes()).unwrap())
                .unwrap();
            let verifier =
                tokio_rustls::rustls::server::WebPkiClientVerifier::builder_with_provider(
                    Arc::new(roots),
                    provider,
                )
                .build()
                .unwrap();
            builder.with_client_cert_verifier(verifier)
        }
    };
    let config = builder
        .with_single_cert(
            vec![CertificateDer::from(leaf_der)],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der())),
        )
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let port = listener.local_addr().unwrap().port();
    rt.spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(Ok(tls)) =
                    tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await
                else {
                    return;
                };
                tls::answer_once(tls, "<title>over TLS</title>").await;
            });
        }
    });
    port
}

#[test]
fn https_urls_are_fetched_with_rustls_and_an_untrusted_certificate_is_refused() {
    let env = Env::new("https");
    let (port, ca_pem) = https_server(&env.rt);
    let ca = env.path("ca.pem");
    std::fs::write(&ca, ca_pem).unwrap();
    let input = env.input("urls.txt", &[format!("https://127.0.0.1:{port}/secure")]);

    let out = run(&[
        "fetch",
        "-q",
        "--body",
        "--cacert",
        ca.to_str().unwrap(),
        input.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let recs = records(&out.stdout);
    assert_eq!(recs[0]["status"], 200);
    assert_eq!(recs[0]["body"], "<title>over TLS</title>");

    // Without --cacert the private CA is not trusted: an error, not a crash.
    let out = run(&["fetch", "-q", input.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let recs = records(&out.stdout);
    assert_eq!(recs[0]["error"]["kind"], "tls", "{}", recs[0]);
    assert!(
        recs[0]["error"]["message"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("certificate"),
        "{}",
        recs[0]
    );
}

#[test]
fn a_cacert_that_is_not_pem_is_a_usage_error_naming_the_flag() {
    let env = Env::new("badca");
    let bad = env.path("not-a-cert.pem");
    std::fs::write(&bad, "hello").unwrap();
    let out = run(&["fetch", "--cacert", bad.to_str().unwrap(), "-"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--cacert"), "{}", stderr(&out));
}

/// Runs `gather fetch -q` with `args` over `url`, with `env` set; its
/// exit status and its one record.
fn fetch_one(
    env: &Env,
    url: &str,
    args: &[&str],
    vars: &[(&str, &str)],
) -> (Option<i32>, Value, String) {
    let input = env.input("one.txt", &[url.to_owned()]);
    let mut cmd = gather_cmd();
    cmd.args(["fetch", "-q", "--body"]).args(args).arg(&input);
    for (name, value) in vars {
        cmd.env(name, value);
    }
    let out = run_with(cmd, "", Duration::from_secs(60));
    let rec = records(&out.stdout).remove(0);
    (out.status.code(), rec, stderr(&out))
}

/// The usual test server's certificate: `openssl req -x509` makes a
/// self-signed certificate that says CA:TRUE. webpki refuses a CA's
/// certificate as a server's own; given with `--cacert`, that very
/// certificate is trusted now, as curl (OpenSSL), requests and httpx
/// trust it. Not given, or another one given, it is refused, saying what
/// to do; and it is only good for the names it has.
#[test]
fn a_self_signed_ca_true_certificate_given_with_cacert_is_trusted_as_curl_does() {
    let env = Env::new("ca-true");
    let (port, pem) = self_signed_ca_true_server(&env.rt);
    let cert = env.path("self.pem");
    std::fs::write(&cert, pem).unwrap();
    let url = format!("https://127.0.0.1:{port}/");
    let given = ["--cacert", cert.to_str().unwrap()];

    let (code, rec, err) = fetch_one(&env, &url, &given, &[]);
    assert_eq!(code, Some(0), "{rec} {err}");
    assert_eq!(rec["body"], "<title>over TLS</title>");

    let (code, rec, _) = fetch_one(&env, &url, &[], &[]);
    assert_eq!(code, Some(1));
    assert_eq!(rec["error"]["kind"], "tls", "{rec}");
    let message = rec["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("CA:TRUE") && message.contains("add that very certificate"),
        "{message}"
    );

    let (_, other) = self_signed_ca_true_server(&env.rt);
    let other_file = env.path("other.pem");
    std::fs::write(&other_file, other).unwrap();
    let (code, rec, _) = fetch_one(&env, &url, &["--cacert", other_file.to_str().unwrap()], &[]);
    assert_eq!(
        (code, &rec["error"]["kind"]),
        (Some(1), &json!("tls")),
        "{rec}"
    );

    // Its name is 127.0.0.1: as localhost it is not the server's.
    let (code, rec, _) = fetch_one(&env, &format!("https://localhost:{port}/"), &given, &[]);
    assert_eq!(
        (code, &rec["error"]["kind"]),
        (Some(1), &json!("tls")),
        "{rec}"
    );
}

/// The system's store is what is trusted, read as curl (OpenSSL) reads
/// it: `SSL_CERT_FILE`, or the certificates in `SSL_CERT_DIR`, name a
/// company's CA with no flag at all.
#[test]
fn the_system_store_is_trusted_as_ssl_cert_file_and_ssl_cert_dir_say() {
    let env = Env::new("system-store");
    let (port, ca_pem) = https_server(&env.rt);
    let dir = env.path("certs");
    std::fs::create_dir_all(&dir).unwrap();
    let ca = dir.join("company-ca.pem");
    std::fs::write(&ca, ca_pem).unwrap();
    let url = format!("https://127.0.0.1:{port}/");
    for var in [
        ("SSL_CERT_FILE", ca.to_str().unwrap()),
        ("SSL_CERT_DIR", dir.to_str().unwrap()),
    ] {
        let (code, rec, err) = fetch_one(&env, &url, &[], &[var]);
        assert_eq!(code, Some(0), "{} {rec} {err}", var.0);
        assert_eq!(rec["status"], 200);
    }
}

/// `--insecure` accepts a certificate nobody trusts, and says on stderr
/// (even with -q) that nothing was checked.
#[test]
fn insecure_accepts_any_certificate_and_warns() {
    let env = Env::new("insecure");
    let (port, _) = https_server(&env.rt);
    let url = format!("https://127.0.0.1:{port}/");
    let (code, rec, err) = fetch_one(&env, &url, &["--insecure"], &[]);
    assert_eq!(code, Some(0), "{rec} {err}");
    assert_eq!(rec["status"], 200);
    assert!(err.contains("warning: --insecure"), "{err}");
    let (code, _, err) = fetch_one(&env, &url, &[], &[]);
    assert_eq!(code, Some(1));
    assert!(!err.contains("warning"), "{err}");
}

/// A server that asks for a client certificate (mutual TLS) gets the one
/// `--cert` and `--key` name; without them the handshake fails. A key file
/// with no key is a usage error naming the flags.
#[test]
fn cert_and_key_show_a_client_certificate_to_a_server_that_asks() {
    let env = Env::new("client-cert");
    let server = tls::certificates();
    let client_ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let client_ca = ca_params.self_signed(&client_ca_key).unwrap();
    let client_key = KeyPair::generate().unwrap();
    let client_cert = CertificateParams::new(vec!["client".to_owned()])
        .unwrap()
        .signed_by(&client_key, &client_ca, &client_ca_key)
        .unwrap();
    let port = serve_asking(&env.rt, server.leaf_der, server.key, Some(&client_ca.pem()));
    let (ca, cert, key) = (
        env.path("ca.pem"),
        env.path("client.pem"),
        env.path("client.key"),
    );
    std::fs::write(&ca, &server.ca_pem).unwrap();
    std::fs::write(&cert, client_cert.pem()).unwrap();
    std::fs::write(&key, client_key.serialize_pem()).unwrap();
    let url = format!("https://127.0.0.1:{port}/");
    let trusted = ["--cacert", ca.to_str().unwrap()];

    let with = [
        &trusted[..],
        &[
            "--cert",
            cert.to_str().unwrap(),
            "--key",
            key.to_str().unwrap(),
        ],
    ]
    .concat();
    let (code, rec, err) = fetch_one(&env, &url, &with, &[]);
    assert_eq!(code, Some(0), "{rec} {err}");
    assert_eq!(rec["body"], "<title>over TLS</title>");

    let (code, rec, _) = fetch_one(&env, &url, &trusted, &[]);
    assert_eq!(code, Some(1), "{rec}");
    assert!(rec["error"].is_object(), "{rec}");

    let out = run(&[
        "fetch",
        "--cert",
        cert.to_str().unwrap(),
        "--key",
        ca.to_str().unwrap(),
        "-",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--cert/--key"), "{}", stderr(&out));
}

#[test]
fn https_through_a_proxy_goes_through_a_connect_tunnel() {
    let env = Env::new("https-proxy");
    let (port, ca_pem) = https_server(&env.rt);
    let ca = env.path("ca.pem");
    std::fs::write(&ca, ca_pem).unwrap();
    let proxy = crate::support::proxy::start(&env.rt, Some("user:pass"));
    let input = env.input("urls.txt", &[format!("https://127.0.0.1:{port}/secure")]);
    let with_auth = format!("http://user:pass@127.0.0.1:{}", proxy.port);
    let cacert = ca.to_str().unwrap();
    let out = run(&[
        "fetch",
        "-q",
        "--body",
        "--cacert",
        cacert,
        "--proxy",
        &with_auth,
        input.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(records(&out.stdout)[0]["body"], "<title>over TLS</title>");
    assert_eq!(
        proxy.request_lines(),
        [format!("CONNECT 127.0.0.1:{port} HTTP/1.1")]
    );
    assert!(proxy.seen.lock().unwrap()[0]
        .to_ascii_lowercase()
        .contains("proxy-authorization: basic "));

    // Without credentials the tunnel is refused: a proxy error that says what it wants.
    let out = run(&[
        "fetch",
        "-q",
        "--cacert",
        cacert,
        "--proxy",
        &proxy.url(),
        input.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let rec = &records(&out.stdout)[0];
    assert_eq!(rec["error"]["kind"], "proxy", "{rec}");
    let message = rec["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("407") && message.contains("http://user:password@host:port"),
        "{message}"
    );
}

#[test]
#[ignore = "needs tinyproxy (/usr/bin/tinyproxy)"]
fn https_through_tinyproxy_from_https_proxy() {
    let env = Env::new("https-tinyproxy");
    let (port, ca_pem) = https_server(&env.rt);
    let ca = env.path("ca.pem");
    std::fs::write(&ca, ca_pem).unwrap();
    let (_stop, proxy_port) = crate::support::proxy::tinyproxy(&env, None);
    let input = env.input("urls.txt", &[format!("https://127.0.0.1:{port}/secure")]);
    let mut cmd = gather_cmd();
    cmd.args(["fetch", "-q", "--body", "--cacert"])
        .arg(&ca)
        .arg(&input);
    cmd.env("HTTPS_PROXY", format!("127.0.0.1:{proxy_port}"));
    let out = run_with(cmd, "", Duration::from_secs(60));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(records(&out.stdout)[0]["body"], "<title>over TLS</title>");
    // It went through tinyproxy, not around it.
    let log = std::fs::read_to_string(env.path("tinyproxy.log")).unwrap_or_default();
    assert!(
        log.contains(&format!("CONNECT 127.0.0.1:{port}")),
        "tinyproxy's log:\n{log}"
    );
}
