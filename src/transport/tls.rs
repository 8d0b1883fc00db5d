//! Building the rustls client configuration both transports share.
//!
//! The ring provider is named explicitly rather than relying on rustls'
//! process-wide default: Fluent Bit may load other Rust plugins that install
//! a different default, and aws-lc would add a C build we do not want.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{ring, CryptoProvider};
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use super::TransportError;

/// What the operator configured for TLS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsOptions {
    /// Extra trusted CA certificates (PEM), added to the system store.
    pub ca_file: Option<PathBuf>,
    /// Client certificate chain (PEM) for mutual TLS.
    pub cert_file: Option<PathBuf>,
    /// Private key (PEM: PKCS#8, PKCS#1 or SEC1) for `cert_file`.
    pub key_file: Option<PathBuf>,
    /// `false` accepts any server certificate. Only for testing.
    pub verify: bool,
}

impl Default for TlsOptions {
    fn default() -> Self {
        Self {
            ca_file: None,
            cert_file: None,
            key_file: None,
            verify: true,
        }
    }
}

/// The built configuration and what the driver should warn the operator
/// about (this module does not log).
#[derive(Clone)]
pub struct TlsSetup {
    pub config: Arc<ClientConfig>,
    /// True when certificate verification is off (`verify=false`).
    pub insecure: bool,
    /// Human-readable warnings, e.g. unreadable system certificates.
    pub warnings: Vec<String>,
}

/// The client key lives inside `config`; never print it.
impl std::fmt::Debug for TlsSetup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsSetup")
            .field("insecure", &self.insecure)
            .field("warnings", &self.warnings)
            .finish_non_exhaustive()
    }
}

/// Build a client configuration from `options`.
pub fn build(options: &TlsOptions) -> Result<TlsSetup, TransportError> {
    let provider = Arc::new(ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| TransportError::Config(format!("TLS setup failed: {e}")))?;
    let mut warnings = Vec::new();

    let builder = if options.verify {
        let roots = trusted_roots(options.ca_file.as_deref(), &mut warnings)?;
        builder.with_root_certificates(roots)
    } else {
        warnings.push(
            "TLS certificate verification is disabled (verify off): the server's identity is not checked and the connection can be intercepted".to_string(),
        );
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyServerCert(provider)))
    };

    let config = match (&options.cert_file, &options.key_file) {
        (None, None) => builder.with_no_client_auth(),
        (Some(cert), Some(key)) => {
            let chain = read_certs(cert, "client certificate")?;
            let key_der = read_key(key)?;
            builder.with_client_auth_cert(chain, key_der).map_err(|e| {
                TransportError::Config(format!(
                    "client certificate {} and key {} cannot be used together: {e}",
                    cert.display(),
                    key.display()
                ))
            })?
        }
        (Some(_), None) => {
            return Err(TransportError::Config(
                "a client certificate file is set but no key file".into(),
            ))
        }
        (None, Some(_)) => {
            return Err(TransportError::Config(
                "a client key file is set but no certificate file".into(),
            ))
        }
    };
    Ok(TlsSetup {
        config: Arc::new(config),
        insecure: !options.verify,
        warnings,
    })
}

/// System roots plus `ca_file`. A broken system store is a warning (the CA
/// file may be all that is needed); a broken CA file is an error (the
/// operator asked for it explicitly).
fn trusted_roots(
    ca_file: Option<&Path>,
    warnings: &mut Vec<String>,
) -> Result<RootCertStore, TransportError> {
    let mut roots = RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    if !native.errors.is_empty() {
        warnings.push(format!(
            "some system CA certificates could not be loaded: {}",
            native
                .errors
                .iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("; ")
        ));
    }
    let (_, ignored) = roots.add_parsable_certificates(native.certs);
    if ignored > 0 {
        warnings.push(format!(
            "{ignored} system CA certificate(s) could not be parsed and were skipped"
        ));
    }
    if let Some(path) = ca_file {
        let certs = read_certs(path, "CA")?;
        let (added, _) = roots.add_parsable_certificates(certs);
        if added == 0 {
            return Err(TransportError::Config(format!(
                "CA file {} holds no usable CA certificate",
                path.display()
            )));
        }
    }
    if roots.is_empty() {
        warnings.push(
            "no trusted CA certificates: the system store is empty and no CA file is configured, so TLS connections will fail".to_string(),
        );
    }
    Ok(roots)
}

/// The PEM readers buffer the file themselves.
fn open(path: &Path, what: &str) -> Result<File, TransportError> {
    File::open(path).map_err(|e| {
        TransportError::Config(format!("cannot read {what} file {}: {e}", path.display()))
    })
}

fn read_certs(path: &Path, what: &str) -> Result<Vec<CertificateDer<'static>>, TransportError> {
    let reader = open(path, what)?;
    let certs = CertificateDer::pem_reader_iter(reader)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| {
            TransportError::Config(format!(
                "{what} file {} is not valid PEM: {e}",
                path.display()
            ))
        })?;
    if certs.is_empty() {
        return Err(TransportError::Config(format!(
            "{what} file {} contains no PEM certificate",
            path.display()
        )));
    }
    Ok(certs)
}

/// The key file's content is secret: errors name the file, never quote it
/// (the PEM parser's own messages can carry bytes of the file).
fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TransportError> {
    let reader = open(path, "client key")?;
    match PrivateKeyDer::from_pem_reader(reader) {
        Ok(key) => Ok(key),
        Err(pem::Error::NoItemsFound) => Err(TransportError::Config(format!(
            "client key file {} contains no PEM private key",
            path.display()
        ))),
        Err(pem::Error::Io(e)) => Err(TransportError::Config(format!(
            "cannot read client key file {}: {e}",
            path.display()
        ))),
        Err(_) => Err(TransportError::Config(format!(
            "client key file {} is not valid PEM",
            path.display()
        ))),
    }
}

/// `verify=false`: accept any certificate chain, but still check that the
/// server holds the private key for the certificate it presented, so the
/// handshake itself stays sound.
#[derive(Debug)]
struct AcceptAnyServerCert(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyServerCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn temp_file(name: &str, content: &[u8]) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("fbo-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        File::create(&path).unwrap().write_all(content).unwrap();
        path
    }

    #[test]
    fn default_verifies() {
        assert!(TlsOptions::default().verify);
    }

    #[test]
    fn verify_off_is_flagged() {
        let setup = build(&TlsOptions {
            verify: false,
            ..TlsOptions::default()
        })
        .unwrap();
        assert!(setup.insecure);
        assert!(setup
            .warnings
            .iter()
            .any(|w| w.contains("verification is disabled")));
    }

    #[test]
    fn default_build_succeeds_and_is_secure() {
        let setup = build(&TlsOptions::default()).unwrap();
        assert!(!setup.insecure);
    }

    #[test]
    fn missing_ca_file_is_a_config_error_naming_the_file() {
        let err = build(&TlsOptions {
            ca_file: Some("/nonexistent/ca.pem".into()),
            ..TlsOptions::default()
        })
        .unwrap_err();
        assert!(err.is_config());
        assert!(err.to_string().contains("/nonexistent/ca.pem"), "{err}");
    }

    #[test]
    fn ca_file_without_certificates_is_rejected() {
        let path = temp_file("empty-ca.pem", b"not a certificate\n");
        let err = build(&TlsOptions {
            ca_file: Some(path),
            ..TlsOptions::default()
        })
        .unwrap_err();
        assert!(
            err.to_string().contains("contains no PEM certificate"),
            "{err}"
        );
    }

    #[test]
    fn cert_and_key_must_come_together() {
        let only_cert = TlsOptions {
            cert_file: Some("/x".into()),
            ..TlsOptions::default()
        };
        assert!(build(&only_cert)
            .unwrap_err()
            .to_string()
            .contains("no key file"));
        let only_key = TlsOptions {
            key_file: Some("/x".into()),
            ..TlsOptions::default()
        };
        assert!(build(&only_key)
            .unwrap_err()
            .to_string()
            .contains("no certificate file"));
    }

    #[test]
    fn key_errors_do_not_quote_the_key() {
        let secret = b"-----BEGIN PRIVATE KEY-----\ns3cretmaterial!!\n-----END PRIVATE KEY-----\n";
        let key = temp_file("bad-key.pem", secret);
        let err = read_key(&key).unwrap_err().to_string();
        assert!(!err.contains("s3cret"), "{err}");
        let none = temp_file("no-key.pem", b"hello\n");
        assert!(read_key(&none)
            .unwrap_err()
            .to_string()
            .contains("contains no PEM private key"));
    }
}
