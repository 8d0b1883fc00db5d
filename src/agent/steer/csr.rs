//! Client certificates by CSR (`tls.csr on`): the key pair is made here and
//! never leaves `state_dir`; the server only ever sees the CSR and answers
//! with a certificate, which then takes the same verify-then-commit path as
//! any offered certificate.

use std::path::Path;
use std::time::{Duration, Instant};

use rcgen::{CertificateParams, DnType, KeyPair};

use crate::proto::{CertificateRequest, ConnectionSettingsRequest, OpAmpConnectionSettingsRequest};
use crate::state_dir::write_atomic_private as write_private;
use crate::transport::tls_material::{self, Validity};

/// The key of the CSR in flight: kept across restarts, so a certificate
/// that answers a CSR sent before a restart still finds its key.
pub(crate) const KEY_FILE: &str = "connection.csr.key";

#[derive(Debug, Default)]
pub(crate) struct Csr {
    /// The key of the CSR the server has (or will get), PEM.
    pub key: Option<Vec<u8>>,
    /// When the current certificate is due for renewal.
    pub renew_at: Option<Instant>,
}

/// Renew once two thirds of the lifetime are gone: a day early for a
/// three-day certificate, a month for a quarter-year one.
pub(crate) fn renewal_time(v: &Validity) -> u64 {
    v.not_after - v.not_after.saturating_sub(v.not_before) / 3
}

/// The client certificate's validity, if the profile has a readable one.
pub(crate) fn current_validity(crt_file: Option<&Path>) -> Option<Validity> {
    let pem = std::fs::read(crt_file?).ok()?;
    let certs = tls_material::certs_from_pem(&pem, "the client certificate").ok()?;
    tls_material::validity(&certs[0]).ok()
}

/// Loads the key of an earlier CSR, or makes and stores a new one, and
/// builds the request for it. The subject names the agent's instance UID
/// so the server's CA can tell agents apart.
pub(crate) fn request(
    state: &Path,
    uid_text: &str,
) -> Result<(Vec<u8>, ConnectionSettingsRequest), String> {
    let file = state.join(KEY_FILE);
    let key = match std::fs::read_to_string(&file)
        .ok()
        .and_then(|p| KeyPair::from_pem(&p).ok())
    {
        Some(k) => k,
        None => {
            let k = KeyPair::generate().map_err(|e| format!("cannot make a key pair: {e}"))?;
            write_private(&file, k.serialize_pem().as_bytes())
                .map_err(|e| format!("cannot store the CSR key in {}: {e}", file.display()))?;
            k
        }
    };
    let mut params = CertificateParams::new(Vec::<String>::new())
        .map_err(|e| format!("cannot build the CSR: {e}"))?;
    params.distinguished_name.push(DnType::CommonName, uid_text);
    let csr = params
        .serialize_request(&key)
        .and_then(|c| c.pem())
        .map_err(|e| format!("cannot build the CSR: {e}"))?;
    let req = ConnectionSettingsRequest {
        opamp: Some(OpAmpConnectionSettingsRequest {
            certificate_request: Some(CertificateRequest {
                csr: csr.into_bytes(),
            }),
        }),
    };
    Ok((key.serialize_pem().into_bytes(), req))
}

/// The CSR was answered and committed: its key now lives with the
/// committed settings.
pub(crate) fn forget_key(state: &Path) {
    let _ = std::fs::remove_file(state.join(KEY_FILE));
}

/// `at` (Unix seconds) as an Instant, for the agent's deadlines.
pub(crate) fn instant_at(at: u64, now_unix: u64) -> Instant {
    Instant::now() + Duration::from_secs(at.saturating_sub(now_unix))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renewal_is_two_thirds_into_the_lifetime() {
        let v = Validity {
            not_before: 0,
            not_after: 90,
        };
        assert_eq!(renewal_time(&v), 60);
    }

    /// The CSR names the instance, and a restart reuses the stored key.
    #[test]
    fn csr_key_is_private_and_reused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("fbo-csr-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let (k1, req) = request(&dir, "0192c3a4-0000-7000-8000-000000000001").unwrap();
        let csr = req.opamp.unwrap().certificate_request.unwrap().csr;
        let csr = String::from_utf8(csr).unwrap();
        assert!(csr.starts_with("-----BEGIN CERTIFICATE REQUEST-----"));
        assert!(!csr.contains("PRIVATE"));
        let mode = std::fs::metadata(dir.join(KEY_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let (k2, _) = request(&dir, "x").unwrap();
        assert_eq!(k1, k2);
        forget_key(&dir);
        let (k3, _) = request(&dir, "x").unwrap();
        assert_ne!(k1, k3);
    }
}
