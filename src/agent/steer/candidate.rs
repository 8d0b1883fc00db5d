//! Turning an `OpAMPConnectionSettings` offer into settings to verify:
//! everything the offer leaves out is kept from the settings in use, and
//! everything it brings is checked first. An offer the operator's policy
//! refuses, or that is malformed, fails here with a reason that names the
//! rule or the field, and never quotes a secret.

use std::path::PathBuf;
use std::time::Duration;

use super::store::{Candidate, Material};
use crate::agent::connection::Profile;
use crate::config::properties::{Header, Steering};
use crate::proto::{OpAmpConnectionSettings, TlsCertificate};
use crate::transport::endpoint::Endpoint;
use crate::transport::{tls_material, Headers};

/// One header value: far above any bearer token or JWT in use.
pub(crate) const MAX_HEADER_BYTES: usize = 8 * 1024;
/// All offered headers together.
pub(crate) const MAX_HEADERS_BYTES: usize = 16 * 1024;
pub(crate) const MAX_HEADERS: usize = 32;

/// What the offer is checked against.
pub(crate) struct Context<'a> {
    pub policy: &'a Steering,
    pub current: &'a Profile,
    pub base_endpoint: String,
    /// The key of a CSR this agent sent, for a certificate that comes
    /// without one.
    pub csr_key: Option<&'a [u8]>,
    pub now_unix: u64,
}

pub(crate) fn build(
    hash: &[u8],
    offer: &OpAmpConnectionSettings,
    cx: &Context<'_>,
) -> Result<Candidate, String> {
    if !cx.policy.connection_settings {
        return Err("refused by the operator's policy: connection_settings is off".into());
    }
    let endpoint = endpoint(&offer.destination_endpoint, cx)?;
    let headers = match &offer.headers {
        Some(h) => headers(&h.headers)?,
        None => cx.current.headers.clone(),
    };
    let tls = &cx.current.tls;
    let keep = |p: &Option<PathBuf>| p.clone().map_or(Material::None, Material::Keep);
    let mut ca = keep(&tls.ca_file);
    if let Some(t) = &offer.tls {
        if t.insecure_skip_verify {
            return Err("refused by the operator's policy: the server may not turn off TLS verification (tls.verify belongs to the opamp section)".into());
        }
        if !t.ca_pem_contents.is_empty() {
            tls_material::check_ca(t.ca_pem_contents.as_bytes())
                .map_err(|e| format!("tls.ca_pem_contents: {e}"))?;
            ca = Material::New(t.ca_pem_contents.clone().into_bytes());
        }
    }
    let (cert, key) = match &offer.certificate {
        Some(c) => certificate(c, cx)?,
        None => (keep(&tls.crt_file), keep(&tls.key_file)),
    };
    let hb = offer.heartbeat_interval_seconds;
    Ok(Candidate {
        hash: hash.to_vec(),
        base_endpoint: cx.base_endpoint.clone(),
        endpoint,
        headers,
        verify: tls.verify,
        ca,
        cert,
        key,
        heartbeat: (hb > 0).then(|| Duration::from_secs(hb)),
    })
}

/// Whether the candidate reaches the server differently from `current`,
/// so that it needs a verification exchange (a heartbeat change does not).
pub(crate) fn changes_connection(c: &Candidate, current: &Profile) -> bool {
    let same_file = |m: &Material, p: &Option<PathBuf>| match m {
        Material::None => p.is_none(),
        Material::Keep(k) => p.as_ref() == Some(k),
        Material::New(_) => false,
    };
    c.endpoint != current.endpoint
        || c.headers != current.headers
        || !same_file(&c.ca, &current.tls.ca_file)
        || !same_file(&c.cert, &current.tls.crt_file)
        || !same_file(&c.key, &current.tls.key_file)
}

fn endpoint(offered: &str, cx: &Context<'_>) -> Result<Endpoint, String> {
    if offered.trim().is_empty() {
        return Ok(cx.current.endpoint.clone());
    }
    let e = Endpoint::parse(offered).map_err(|e| format!("destination_endpoint: {e}"))?;
    let host = e.host().trim_matches(['[', ']']).to_ascii_lowercase();
    if !host_allowed(&host, &cx.policy.endpoint_allow) {
        return Err(format!(
            "refused by connection_endpoint_allow: host '{host}' is not in the list"
        ));
    }
    Ok(e)
}

/// `*.example.com` matches any subdomain (not the domain itself); every
/// other entry matches the host exactly. An empty list allows any host.
pub(crate) fn host_allowed(host: &str, allow: &[String]) -> bool {
    allow.is_empty()
        || allow.iter().any(|a| match a.strip_prefix("*.") {
            Some(suffix) => host
                .strip_suffix(suffix)
                .is_some_and(|rest| rest.ends_with('.') && rest.len() > 1),
            None => a == host,
        })
}

fn headers(offered: &[crate::proto::Header]) -> Result<Vec<Header>, String> {
    if offered.len() > MAX_HEADERS {
        return Err(format!(
            "headers: {} offered, the limit is {MAX_HEADERS}",
            offered.len()
        ));
    }
    let mut total = 0;
    let mut check = Headers::new();
    for h in offered {
        if h.value.len() > MAX_HEADER_BYTES {
            return Err(format!(
                "header '{}' is {} bytes; the limit is {MAX_HEADER_BYTES}",
                h.key.escape_default(),
                h.value.len()
            ));
        }
        total += h.key.len() + h.value.len();
        check
            .push(&h.key, &h.value)
            .map_err(|e| format!("headers: {e}"))?;
    }
    if total > MAX_HEADERS_BYTES {
        return Err(format!(
            "headers total {total} bytes; the limit is {MAX_HEADERS_BYTES}"
        ));
    }
    Ok(check
        .iter()
        .map(|(n, v)| Header {
            name: n.into(),
            value: v.into(),
        })
        .collect())
}

/// A certificate with its key, or one answering our CSR (no key: ours).
/// The issuing CA, when given, goes after the leaf as the chain sent.
fn certificate(c: &TlsCertificate, cx: &Context<'_>) -> Result<(Material, Material), String> {
    let key = if c.private_key.is_empty() {
        cx.csr_key
            .ok_or("certificate: it has no private key and this agent sent no CSR")?
            .to_vec()
    } else {
        c.private_key.clone()
    };
    tls_material::check_pair(&c.cert, &key, cx.now_unix)
        .map_err(|e| format!("certificate: {e}"))?;
    let mut chain = c.cert.clone();
    if !c.ca_cert.is_empty() {
        tls_material::certs_from_pem(&c.ca_cert, "the certificate's ca_cert")
            .map_err(|e| format!("certificate: {e}"))?;
        if !chain.ends_with(b"\n") {
            chain.push(b'\n');
        }
        chain.extend_from_slice(&c.ca_cert);
    }
    Ok((Material::New(chain), Material::New(key)))
}

#[cfg(test)]
mod tests;
