//! Checks on TLS material a server hands us (PEM certificates and keys),
//! before any of it is written or used: it parses, the key belongs to the
//! certificate, and the certificate has not expired.
//!
//! Reusable by anything that receives certificates (other connections now;
//! OpAMP connection settings and CSR renewal need the expiry too). No
//! message ever quotes key material.

use rustls::crypto::ring::sign::any_supported_type;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;

/// Every certificate in a PEM text; at least one.
pub fn certs(pem: &[u8], what: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs: Vec<_> = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{what} is not valid PEM: {e}"))?;
    if certs.is_empty() {
        return Err(format!("{what} holds no PEM certificate"));
    }
    Ok(certs)
}

/// A client certificate (chain, leaf first) and its key: the key must be
/// the certificate's and the leaf valid at `now_unix` (seconds). Returns
/// the leaf's notAfter.
pub fn check_pair(cert_pem: &[u8], key_pem: &[u8], now_unix: i64) -> Result<i64, String> {
    let chain = certs(cert_pem, "the certificate")?;
    // The key error of pki-types says only what kind of PEM it found.
    let key = PrivateKeyDer::from_pem_slice(key_pem)
        .map_err(|_| "the private key is not a PEM private key".to_string())?;
    let signer = any_supported_type(&key)
        .map_err(|_| "the private key is of a kind this agent cannot use".to_string())?;
    let not_after = check_valid(&chain[0], now_unix, "the certificate")?;
    CertifiedKey::new(chain, signer)
        .keys_match()
        .map_err(|_| "the private key does not belong to the certificate".to_string())?;
    Ok(not_after)
}

/// CA certificates: they parse and none has expired.
pub fn check_cas(pem: &[u8], now_unix: i64) -> Result<(), String> {
    for c in certs(pem, "the CA certificate")? {
        check_valid(&c, now_unix, "a CA certificate")?;
    }
    Ok(())
}

fn check_valid(cert: &CertificateDer<'_>, now_unix: i64, what: &str) -> Result<i64, String> {
    let not_after = not_after(cert).map_err(|e| format!("{what} cannot be read: {e}"))?;
    if not_after <= now_unix {
        return Err(format!(
            "{what} expired at {} (unix time {not_after})",
            utc_text(not_after)
        ));
    }
    Ok(not_after)
}

/// The certificate's notAfter in unix seconds, by a walk over the DER:
/// Certificate → tbsCertificate → [version], serial, signature, issuer,
/// validity → notBefore, notAfter.
pub fn not_after(der: &[u8]) -> Result<i64, String> {
    let (cert, _) = tlv(der, 0x30)?;
    let (tbs, _) = tlv(cert, 0x30)?;
    let mut rest = tbs;
    if rest.first() == Some(&0xa0) {
        rest = tlv(rest, 0xa0)?.1;
    }
    rest = tlv(rest, 0x02)?.1; // serialNumber
    rest = tlv(rest, 0x30)?.1; // signature algorithm
    rest = tlv(rest, 0x30)?.1; // issuer
    let (validity, _) = tlv(rest, 0x30)?;
    let tag_of = |b: &[u8]| b.first().copied().unwrap_or(0);
    let after_before = tlv(validity, tag_of(validity))?.1;
    let tag = tag_of(after_before);
    let (time, _) = tlv(after_before, tag)?;
    der_time(tag, time)
}

/// One DER element with the expected tag: (content, what follows).
fn tlv(buf: &[u8], tag: u8) -> Result<(&[u8], &[u8]), String> {
    let (&t, rest) = buf.split_first().ok_or("truncated")?;
    if t != tag {
        return Err(format!("unexpected DER tag {t:#04x} (wanted {tag:#04x})"));
    }
    let (&l, mut rest) = rest.split_first().ok_or("truncated")?;
    let len = if l < 0x80 {
        l as usize
    } else {
        let n = (l & 0x7f) as usize;
        if n == 0 || n > 4 || rest.len() < n {
            return Err("bad DER length".into());
        }
        let len = rest[..n].iter().fold(0usize, |a, b| (a << 8) | *b as usize);
        rest = &rest[n..];
        len
    };
    if rest.len() < len {
        return Err("truncated".into());
    }
    Ok(rest.split_at(len))
}

/// UTCTime (`YYMMDDHHMMSSZ`, years 1950–2049) or GeneralizedTime
/// (`YYYYMMDDHHMMSSZ`), the two forms RFC 5280 allows.
fn der_time(tag: u8, t: &[u8]) -> Result<i64, String> {
    let s = std::str::from_utf8(t).map_err(|_| "bad time")?;
    let (year, rest) = match (tag, s.len()) {
        (0x17, 13) => {
            let yy: i64 = num(&s[..2])?;
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, &s[2..])
        }
        (0x18, 15) => (num(&s[..4])?, &s[4..]),
        _ => return Err(format!("unsupported time form '{}'", s.escape_default())),
    };
    if !rest.ends_with('Z') {
        return Err("time is not in UTC".into());
    }
    let f = |i: usize| num(&rest[i..i + 2]);
    let (mo, d, h, mi, se) = (f(0)?, f(2)?, f(4)?, f(6)?, f(8)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return Err("time out of range".into());
    }
    Ok(days_from_civil(year, mo, d) * 86_400 + h * 3600 + mi * 60 + se)
}

fn num(s: &str) -> Result<i64, String> {
    if !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err("bad digits in time".into());
    }
    s.parse().map_err(|_| "bad digits in time".into())
}

/// Days since 1970-01-01 (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `YYYY-MM-DD` for messages.
pub fn utc_text(unix: i64) -> String {
    let z = unix.div_euclid(86_400) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

#[cfg(test)]
#[path = "tls_material_tests.rs"]
mod tests;
