//! A throwaway PKI for TLS tests: a CA, a server certificate for
//! 127.0.0.1/localhost and a client certificate, written as PEM files the
//! way an operator would configure them.

use std::path::PathBuf;
use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};

pub struct TestPki {
    dir: PathBuf,
    pub ca_file: PathBuf,
    pub client_cert_file: PathBuf,
    pub client_key_file: PathBuf,
    ca_der: CertificateDer<'static>,
    /// The CA itself, to sign what tests ask for (the agent's CSR).
    ca: rcgen::Certificate,
    ca_key: KeyPair,
    server_chain: Vec<CertificateDer<'static>>,
    server_key: Vec<u8>,
}

impl TestPki {
    /// `name` keeps parallel tests' files apart.
    pub fn generate(name: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("fbo-transport-pki-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();

        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "fluent-bit-opamp test CA");
        let ca_key = KeyPair::generate().unwrap();
        let ca = ca_params.self_signed(&ca_key).unwrap();

        let mut server_params =
            CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
        server_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let server_key = KeyPair::generate().unwrap();
        let server = server_params.signed_by(&server_key, &ca, &ca_key).unwrap();

        let mut client_params = CertificateParams::new(vec!["agent".to_string()]).unwrap();
        client_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        client_params
            .distinguished_name
            .push(DnType::CommonName, "test agent");
        let client_key = KeyPair::generate().unwrap();
        let client = client_params.signed_by(&client_key, &ca, &ca_key).unwrap();

        let ca_file = dir.join("ca.pem");
        let client_cert_file = dir.join("client.pem");
        let client_key_file = dir.join("client-key.pem");
        std::fs::write(&ca_file, ca.pem()).unwrap();
        std::fs::write(&client_cert_file, client.pem()).unwrap();
        std::fs::write(&client_key_file, client_key.serialize_pem()).unwrap();

        Self {
            dir,
            ca_file,
            client_cert_file,
            client_key_file,
            ca_der: ca.der().clone(),
            ca,
            ca_key,
            server_chain: vec![server.der().clone()],
            server_key: server_key.serialize_der(),
        }
    }

    /// The server side; with `require_client_cert` only clients holding a
    /// certificate from this CA get through the handshake.
    pub fn server_config(&self, require_client_cert: bool) -> Arc<ServerConfig> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .unwrap();
        let builder = if require_client_cert {
            let mut roots = RootCertStore::empty();
            roots.add(self.ca_der.clone()).unwrap();
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .unwrap();
            builder.with_client_cert_verifier(verifier)
        } else {
            builder.with_no_client_auth()
        };
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.server_key.clone()));
        Arc::new(
            builder
                .with_single_cert(self.server_chain.clone(), key)
                .unwrap(),
        )
    }
}

impl TestPki {
    /// Signs a PEM CSR as a client certificate of this CA, as an OpAMP
    /// server answering `ConnectionSettingsRequest` would.
    pub fn sign_csr(&self, csr_pem: &str) -> String {
        let mut csr = rcgen::CertificateSigningRequestParams::from_pem(csr_pem).unwrap();
        csr.params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        csr.signed_by(&self.ca, &self.ca_key).unwrap().pem()
    }

    /// A client certificate for `key` of this CA with the given validity
    /// (days from now), for expired and not-yet-valid cases.
    pub fn client_cert_valid(&self, from_days: i64, to_days: i64) -> (String, String) {
        let mut p = CertificateParams::new(vec!["agent".to_string()]).unwrap();
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let now = time::OffsetDateTime::now_utc();
        p.not_before = now + time::Duration::days(from_days);
        p.not_after = now + time::Duration::days(to_days);
        let key = KeyPair::generate().unwrap();
        let c = p.signed_by(&key, &self.ca, &self.ca_key).unwrap();
        (c.pem(), key.serialize_pem())
    }

    pub fn ca_pem(&self) -> String {
        std::fs::read_to_string(&self.ca_file).unwrap()
    }
}

impl Drop for TestPki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
