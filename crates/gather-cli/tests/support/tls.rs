//! A CA made for a test, and a certificate it signed for 127.0.0.1: as PEM
//! files for a real server (nginx), or as a rustls acceptor offering the
//! given ALPN protocols for an in-process one.

use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::rustls::ServerConfig;

/// A server certificate for 127.0.0.1 and localhost, signed by a CA made
/// here.
pub struct Certificates {
    /// The CA's certificate, PEM (for `--cacert`).
    pub ca_pem: String,
    pub leaf_pem: String,
    pub leaf_der: Vec<u8>,
    pub key: KeyPair,
}

pub fn certificates() -> Certificates {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
        .unwrap()
        .signed_by(&key, &ca, &ca_key)
        .unwrap();
    Certificates {
        ca_pem: ca.pem(),
        leaf_pem: leaf.pem(),
        leaf_der: leaf.der().to_vec(),
        key,
    }
}

/// A TLS acceptor for 127.0.0.1 offering `alpn`, and the PEM of the CA
/// that signed its certificate (for `--cacert`).
pub fn acceptor(alpn: &[&[u8]]) -> (tokio_rustls::TlsAcceptor, String) {
    let certs = certificates();
    let mut config = ServerConfig::builder_with_provider(Arc::new(
        tokio_rustls::rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![CertificateDer::from(certs.leaf_der)],
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(certs.key.serialize_der())),
    )
    .unwrap();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    (
        tokio_rustls::TlsAcceptor::from(Arc::new(config)),
        certs.ca_pem,
    )
}

/// Reads a request (one read: a GET fits) and answers it with `body` over
/// HTTP/1.1, closing the connection.
pub async fn answer_once<S>(mut stream: S, body: &str)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = [0u8; 4096];
    let _ = stream.read(&mut buf).await;
    let reply = format!(
        "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(reply.as_bytes()).await;
    let _ = stream.shutdown().await;
}
