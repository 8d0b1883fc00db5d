//! Content checks before anything becomes visible: the SHA-256 the offer
//! names, and an optional Ed25519 signature.
//!
//! The signature scheme (documented in the README): the `signature` field
//! holds the 64-byte Ed25519 signature (RFC 8032) of the 32-byte SHA-256
//! digest of the file. Signing the digest rather than the file lets the
//! agent check it from the hash it computes while streaming, so a large
//! package is never held in memory.

use std::io::{self, Write};

use ring::digest::{Context, SHA256};
use ring::signature::{UnparsedPublicKey, ED25519};

/// A writer that hashes what passes through it.
pub struct Hashing<W> {
    inner: W,
    ctx: Context,
}

impl<W: Write> Hashing<W> {
    pub fn new(inner: W) -> Self {
        Hashing {
            inner,
            ctx: Context::new(&SHA256),
        }
    }

    /// The digest and the inner writer.
    pub fn finish(self) -> ([u8; 32], W) {
        let d = self.ctx.finish();
        let mut out = [0u8; 32];
        out.copy_from_slice(d.as_ref());
        (out, self.inner)
    }
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.ctx.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// What the operator requires of signatures.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SignaturePolicy {
    pub keys: Vec<[u8; 32]>,
    pub required: bool,
}

/// Checks `digest` against the offered content hash and signature.
pub fn check(
    digest: &[u8; 32],
    content_hash: &[u8],
    signature: &[u8],
    policy: &SignaturePolicy,
) -> Result<(), String> {
    if content_hash != digest {
        return Err(format!(
            "content hash mismatch: the offer says sha256 {}, the download is {}",
            hex(content_hash),
            hex(digest)
        ));
    }
    if signature.is_empty() {
        return if policy.required {
            Err(
                "the package has no signature and the operator requires one \
                 (packages.require_signature)"
                    .into(),
            )
        } else {
            Ok(())
        };
    }
    if policy.keys.is_empty() {
        return if policy.required {
            Err("no packages.signing_key is configured to check the signature".into())
        } else {
            // Nothing to check against; the hash above still holds.
            Ok(())
        };
    }
    let good = policy.keys.iter().any(|k| {
        UnparsedPublicKey::new(&ED25519, k)
            .verify(digest, signature)
            .is_ok()
    });
    if good {
        Ok(())
    } else {
        Err("the signature does not verify with any packages.signing_key".into())
    }
}

pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

pub fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::signature::{Ed25519KeyPair, KeyPair};

    fn sha(data: &[u8]) -> [u8; 32] {
        let mut h = Hashing::new(Vec::new());
        h.write_all(data).unwrap();
        h.finish().0
    }

    fn keypair() -> Ed25519KeyPair {
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
        Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap()
    }

    #[test]
    fn the_hash_must_match() {
        let d = sha(b"abc");
        assert!(check(&d, &d, b"", &SignaturePolicy::default()).is_ok());
        let err = check(&d, &sha(b"abd"), b"", &SignaturePolicy::default()).unwrap_err();
        assert!(err.contains("mismatch"), "{err}");
        assert_eq!(unhex(&hex(&d)).unwrap(), d.to_vec());
    }

    #[test]
    fn signatures_are_checked_against_the_operators_keys() {
        let (kp, other) = (keypair(), keypair());
        let d = sha(b"parsers");
        let sig = kp.sign(&d);
        let key: [u8; 32] = kp.public_key().as_ref().try_into().unwrap();
        let wrong: [u8; 32] = other.public_key().as_ref().try_into().unwrap();
        let pol = |keys: Vec<[u8; 32]>, required| SignaturePolicy { keys, required };
        assert!(check(&d, &d, sig.as_ref(), &pol(vec![key], true)).is_ok());
        assert!(check(&d, &d, sig.as_ref(), &pol(vec![wrong], false)).is_err());
        assert!(check(&d, &d, b"", &pol(vec![key], true)).is_err());
        let tampered = sha(b"parsers!");
        assert!(check(&tampered, &tampered, sig.as_ref(), &pol(vec![key], false)).is_err());
    }
}
