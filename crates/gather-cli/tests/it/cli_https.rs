//! HTTPS works (rustls: no system OpenSSL), against a TLS server on
//! 127.0.0.1 whose certificate comes from a CA made for the test and passed
//! with `--cacert`; without it the certificate is refused, as it must be.

use std::sync::Arc;
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::rustls::ServerConfig;

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
    let leaf_der = cert;
    let config = ServerConfig::builder_with_provider(Arc::new(
        tokio_rustls::rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
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

#[test]
fn a_self_signed_ca_true_certificate_is_refused_with_how_to_make_one_that_works() {
    // openssl req -x509 makes CA:TRUE certificates by default; webpki (and
    // so rustls) refuses a CA certificate as a server's own. curl with
    // OpenSSL accepts it; we say why not and what to do instead.
    let env = Env::new("ca-true");
    let (port, pem) = self_signed_ca_true_server(&env.rt);
    let cert = env.path("self.pem");
    std::fs::write(&cert, pem).unwrap();
    let input = env.input("urls.txt", &[format!("https://127.0.0.1:{port}/")]);
    let out = run(&[
        "fetch",
        "-q",
        "--cacert",
        cert.to_str().unwrap(),
        input.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let rec = &records(&out.stdout)[0];
    assert_eq!(rec["error"]["kind"], "tls", "{rec}");
    let message = rec["error"]["message"].as_str().unwrap();
    assert!(message.contains("CA:TRUE"), "{message}");
    assert!(
        message.contains("basicConstraints=critical,CA:FALSE"),
        "{message}"
    );
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
