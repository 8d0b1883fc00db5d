//! The `packages.*` properties, read with the section's own reader.

use base64::Engine;

use super::{PackageSettings, Reader};

pub(super) fn read(r: &mut Reader) -> PackageSettings {
    let keys: Vec<String> = r
        .raw
        .all("packages.signing_key")
        .map(str::to_string)
        .collect();
    let mut signing_keys = Vec::new();
    for k in keys {
        let decoded = base64::engine::general_purpose::STANDARD.decode(k.trim());
        match decoded.ok().and_then(|b| <[u8; 32]>::try_from(b).ok()) {
            Some(key) => signing_keys.push(key),
            None => r.fail(
                "packages.signing_key",
                "expected the base64 of a 32-byte Ed25519 public key",
            ),
        }
    }
    let s = PackageSettings {
        enabled: r.bool("packages"),
        max_size: r.size("packages.max_size") as u64,
        quota: r.size("packages.quota") as u64,
        timeout: r.duration("packages.timeout"),
        allow_http: r.bool("packages.allow_http"),
        signing_keys,
        require_signature: r.bool("packages.require_signature"),
        agent: r.bool("packages.agent"),
    };
    if s.require_signature && s.signing_keys.is_empty() {
        r.fail(
            "packages.require_signature",
            "needs at least one packages.signing_key to check signatures against",
        );
    }
    if s.timeout.is_zero() {
        r.fail("packages.timeout", "must be at least 1s");
    }
    s
}
