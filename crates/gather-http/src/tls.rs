//! What HTTPS trusts, and what it shows.
//!
//! # Trusted roots: the system's, as curl's
//!
//! A company's CA is installed in the system's store, and a user expects
//! every tool to trust it, as curl, aiohttp (through OpenSSL) and the
//! platform's own verifier do. So the roots are the system's store, read
//! as OpenSSL reads it (`rustls-native-certs`): `SSL_CERT_FILE` and
//! `SSL_CERT_DIR` when set, else the distribution's bundle. A system with
//! none (a container without `ca-certificates`) gets the web's roots built
//! in (webpki-roots), so HTTPS works everywhere. The store is read once per
//! process. The certificates of [`FetchConfig::cacert`](crate::FetchConfig)
//! are trusted besides.
//!
//! # A self-signed certificate given by the user
//!
//! `openssl req -x509 ... -addext subjectAltName=IP:127.0.0.1`, the usual
//! recipe for a test server, makes a certificate that says it is a CA.
//! webpki refuses a CA's certificate as a server's (`CaUsedAsEndEntity`),
//! even when the user named that very certificate as trusted; curl,
//! requests and httpx (OpenSSL) accept it then. So does this verifier: when
//! the server's certificate is, byte for byte, one the user gave, and
//! webpki's only objection is that it is a CA's (its validity period is
//! checked before that), it is accepted if it names the host. Nothing else
//! is relaxed: the handshake's signature is still checked against its key.
//!
//! # No verification at all
//!
//! [`FetchConfig::insecure`](crate::FetchConfig::insecure) (`--insecure`,
//! `verify=False`) accepts any certificate, as curl's `-k` does: for a test
//! server only. The front doors warn when it is on.

use std::sync::{Arc, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::error::{ConfigError, Setting};

/// What a TLS connection trusts and shows (the parts of
/// [`FetchConfig`](crate::FetchConfig) about TLS); by default, the
/// system's store and nothing else.
#[derive(Default)]
pub struct TlsSettings<'a> {
    /// Certificates trusted besides the system's (PEM).
    pub cacert: Option<&'a [u8]>,
    /// Accept any server certificate.
    pub insecure: bool,
    /// A client certificate to show a server that asks for one.
    pub identity: Option<&'a crate::ClientIdentity>,
}

/// The TLS configuration for `settings`.
pub fn tls_config(settings: TlsSettings<'_>) -> Result<rustls::ClientConfig, ConfigError> {
    let refused = |reason: String| ConfigError::new(Setting::CaFile, "", reason);
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let given = pem_certificates(settings.cacert.unwrap_or_default()).map_err(refused)?;
    let roots = if given.is_empty() {
        system_roots().clone()
    } else {
        let mut roots = (**system_roots()).clone();
        for cert in &given {
            roots
                .add(cert.clone())
                .map_err(|e| refused(format!("unusable certificate: {e}")))?;
        }
        Arc::new(roots)
    };
    let inner = WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
        .build()
        .map_err(|e| refused(format!("cannot set up TLS with these roots: {e}")))?;
    let verifier = Verifier {
        inner,
        given,
        algorithms: provider.signature_verification_algorithms,
        insecure: settings.insecure,
    };
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| refused(format!("cannot set up TLS: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier));
    match settings.identity {
        None => Ok(builder.with_no_client_auth()),
        Some(identity) => {
            let refused = |reason: String| ConfigError::new(Setting::ClientCert, "", reason);
            let certs = pem_certificates(&identity.certs).map_err(refused)?;
            if certs.is_empty() {
                return Err(refused("no certificate in it".into()));
            }
            let key = PrivateKeyDer::from_pem_slice(&identity.key)
                .map_err(|e| refused(format!("no private key in its key file: {e}")))?;
            builder
                .with_client_auth_cert(certs, key)
                .map_err(|e| refused(format!("the key does not fit the certificate: {e}")))
        }
    }
}

/// Reads the system's trusted roots now, rather than in the first
/// [`tls_config`]: about 7 ms of parsing certificates, which a front door
/// whose first call runs on an event loop's thread does when it is loaded
/// instead (Python's, at import).
pub fn load_trusted_roots() {
    system_roots();
}

/// The system's trusted roots (or, with none, the web's built in), read
/// once per process.
fn system_roots() -> &'static Arc<RootCertStore> {
    static ROOTS: OnceLock<Arc<RootCertStore>> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let mut roots = RootCertStore::empty();
        let found = rustls_native_certs::load_native_certs();
        let (added, _) = roots.add_parsable_certificates(found.certs);
        if added == 0 {
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        }
        Arc::new(roots)
    })
}

/// The certificates in a PEM file (other PEM sections are skipped).
pub fn pem_certificates(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    CertificateDer::pem_slice_iter(pem)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("not a PEM certificate file: {e}"))
}

/// webpki's verifier, and the two exceptions the module's docs describe.
#[derive(Debug)]
struct Verifier {
    inner: Arc<WebPkiServerVerifier>,
    /// The certificates the user gave, as given.
    given: Vec<CertificateDer<'static>>,
    algorithms: WebPkiSupportedAlgorithms,
    insecure: bool,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if self.insecure {
            return Ok(ServerCertVerified::assertion());
        }
        match self
            .inner
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            Ok(verified) => Ok(verified),
            Err(_)
                if self.given.iter().any(|c| c.as_ref() == end_entity.as_ref())
                    && self_signed_is_fit(end_entity, server_name, now, &self.algorithms) =>
            {
                Ok(ServerCertVerified::assertion())
            }
            Err(e) => Err(e),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// A certificate the user gave, shown by the server as its own: webpki's
/// only objection to it, anchored in itself, is that it is a CA's (its
/// validity period was checked first), and it names `server_name`.
fn self_signed_is_fit(
    cert: &CertificateDer<'_>,
    server_name: &ServerName<'_>,
    now: UnixTime,
    algorithms: &WebPkiSupportedAlgorithms,
) -> bool {
    let (Ok(end_entity), Ok(anchor)) = (
        webpki::EndEntityCert::try_from(cert),
        webpki::anchor_from_trusted_cert(cert),
    ) else {
        return false;
    };
    let anchors = [anchor];
    let chain = end_entity
        .verify_for_usage(
            algorithms.all,
            &anchors,
            &[],
            now,
            webpki::KeyUsage::server_auth(),
            None,
            None,
        )
        .map(|_| ());
    matches!(chain, Err(webpki::Error::CaUsedAsEndEntity))
        && end_entity
            .verify_is_valid_for_subject_name(server_name)
            .is_ok()
}
