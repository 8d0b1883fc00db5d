//! A test seam: the two decoders of server-sent connection settings, with
//! the agent around them left out, so fuzz targets and tests can feed them
//! any offer. Nothing here is used by the agent itself.

use std::time::Duration;

use super::candidate::{self, Context};
use super::destinations;
use crate::agent::connection::Profile;
use crate::config::properties::{Steering, TlsSettings};
use crate::proto::{OpAmpConnectionSettings, OtherConnectionSettings};
use crate::transport::endpoint::Endpoint;

/// The endpoint an accepted `OpAMPConnectionSettings` offer would connect
/// to, checked against `allow` (as `connection_endpoint_allow`), or why the
/// offer is refused.
pub fn opamp_offer(
    offer: &OpAmpConnectionSettings,
    allow: &[String],
    csr_key: Option<&[u8]>,
    now_unix: u64,
) -> Result<String, String> {
    let policy = Steering {
        connection_settings: true,
        endpoint_allow: allow.to_vec(),
        fallback_after: Duration::from_secs(300),
        csr: csr_key.is_some(),
        own_telemetry: false,
        other_connections: false,
    };
    let current = Profile {
        endpoint: Endpoint::parse("wss://opamp.example.com/v1/opamp").expect("a valid URL"),
        headers: Vec::new(),
        tls: TlsSettings {
            verify: true,
            ca_file: None,
            crt_file: None,
            key_file: None,
        },
    };
    let cx = Context {
        policy: &policy,
        current: &current,
        base_endpoint: "wss://opamp.example.com/v1/opamp".into(),
        csr_key,
        now_unix,
    };
    candidate::build(b"hash", offer, &cx).map(|c| c.endpoint.host().to_string())
}

/// The `${opamp.other.NAME.…}` values (suffix, value) an offered other
/// connection becomes, or why it is refused.
pub fn other_connection(
    name: &str,
    offer: &OtherConnectionSettings,
    now_unix: i64,
) -> Result<Vec<(String, String)>, String> {
    let checked = destinations::check(name, offer, now_unix)?;
    Ok(checked.values.into_iter().map(|(k, v, _)| (k, v)).collect())
}

/// Whether `host` passes a `connection_endpoint_allow` list.
pub fn host_allowed(host: &str, allow: &[String]) -> bool {
    candidate::host_allowed(host, allow)
}
