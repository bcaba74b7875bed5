//! What HTTPS trusts: the web's roots (webpki-roots, so nothing is read
//! from the system) and those the user adds (`--cacert`).

use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

/// The roots HTTPS trusts: the web's (webpki-roots, so nothing is read from
/// the system) and those of `--cacert`.
pub fn tls_config(cacert: Option<&[u8]>) -> Result<rustls::ClientConfig, String> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    for cert in pem_certificates(cacert.unwrap_or_default())? {
        roots
            .add(cert)
            .map_err(|e| format!("--cacert: unusable certificate: {e}"))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("cannot set up TLS: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// The certificates in a PEM file (other PEM sections are skipped).
pub fn pem_certificates(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    CertificateDer::pem_slice_iter(pem)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("not a PEM certificate file: {e}"))
}
