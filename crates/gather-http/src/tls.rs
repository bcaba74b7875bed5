//! What HTTPS trusts: the web's roots (webpki-roots, so nothing is read
//! from the system) and those the user adds ([`FetchConfig::cacert`](crate::FetchConfig)).

use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

use crate::error::{ConfigError, Setting};

/// The roots HTTPS trusts: the web's (webpki-roots, so nothing is read from
/// the system) and those added (PEM).
pub fn tls_config(cacert: Option<&[u8]>) -> Result<rustls::ClientConfig, ConfigError> {
    let refused = |reason: String| ConfigError::new(Setting::CaFile, "", reason);
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    for cert in pem_certificates(cacert.unwrap_or_default()).map_err(refused)? {
        roots
            .add(cert)
            .map_err(|e| refused(format!("unusable certificate: {e}")))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| refused(format!("cannot set up TLS with these roots: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// The certificates in a PEM file (other PEM sections are skipped).
pub fn pem_certificates(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    CertificateDer::pem_slice_iter(pem)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("not a PEM certificate file: {e}"))
}
