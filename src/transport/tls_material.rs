//! Checks of TLS material a server offers (certificates, keys, CAs) before
//! any of it is used: parseable, matching, and within its validity period.
//! Nothing here logs or returns key bytes.

use rustls::crypto::ring::sign::any_supported_type;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;
use yasna::models::TaggedDerValue;
use yasna::Tag;

/// A certificate's validity period, in seconds since the Unix epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Validity {
    pub not_before: u64,
    pub not_after: u64,
}

pub fn certs_from_pem(pem: &[u8], what: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs: Vec<_> = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{what} is not valid PEM: {e}"))?;
    if certs.is_empty() {
        return Err(format!("{what} holds no certificate"));
    }
    Ok(certs)
}

pub fn key_from_pem(pem: &[u8]) -> Result<PrivateKeyDer<'static>, String> {
    // The parser's error could quote the input; say only what went wrong.
    PrivateKeyDer::from_pem_slice(pem).map_err(|_| "the private key is not a PEM key".to_string())
}

/// A client certificate and its key: they must belong together and the
/// certificate must be valid at `now` (Unix seconds).
pub fn check_pair(cert_pem: &[u8], key_pem: &[u8], now: u64) -> Result<Validity, String> {
    let chain = certs_from_pem(cert_pem, "the certificate")?;
    let key = any_supported_type(&key_from_pem(key_pem)?)
        .map_err(|_| "the private key is of an unsupported type".to_string())?;
    let leaf = chain[0].clone();
    CertifiedKey::new(chain, key)
        .keys_match()
        .map_err(|_| "the certificate does not match its private key".to_string())?;
    let v = validity(&leaf)?;
    check_time(&v, now, "the certificate")?;
    Ok(v)
}

/// Certificates to trust: each must parse as a trust anchor.
pub fn check_ca(pem: &[u8]) -> Result<(), String> {
    let mut roots = rustls::RootCertStore::empty();
    for c in certs_from_pem(pem, "the CA")? {
        roots
            .add(c)
            .map_err(|e| format!("the CA certificate cannot be a trust anchor: {e}"))?;
    }
    Ok(())
}

/// CA certificates: they parse, can be trust anchors, and none is outside
/// its validity at `now`.
pub fn check_cas(pem: &[u8], now: u64) -> Result<(), String> {
    check_ca(pem)?;
    for c in certs_from_pem(pem, "the CA")? {
        check_time(&validity(&c)?, now, "a CA certificate")?;
    }
    Ok(())
}

pub fn check_time(v: &Validity, now: u64, what: &str) -> Result<(), String> {
    if now > v.not_after {
        return Err(format!("{what} expired on {}", utc(v.not_after)));
    }
    if now < v.not_before {
        return Err(format!("{what} is not valid before {}", utc(v.not_before)));
    }
    Ok(())
}

/// Reads `tbsCertificate.validity` (RFC 5280 4.1) from a DER certificate.
pub fn validity(cert: &CertificateDer<'_>) -> Result<Validity, String> {
    let bad = |e: yasna::ASN1Error| format!("the certificate is not valid DER: {e}");
    let (nb, na) = yasna::parse_der(cert.as_ref(), |r| {
        r.read_sequence(|cert| {
            let times = cert.next().read_sequence(|tbs| {
                tbs.read_optional(|r| r.read_tagged(Tag::context(0), |r| r.read_der()))?;
                for _ in 0..3 {
                    // serialNumber, signature, issuer
                    tbs.next().read_der()?;
                }
                let times = tbs.next().read_sequence(|v| {
                    Ok((v.next().read_tagged_der()?, v.next().read_tagged_der()?))
                })?;
                while tbs.read_optional(|r| r.read_der())?.is_some() {}
                Ok(times)
            })?;
            cert.next().read_der()?; // signatureAlgorithm
            cert.next().read_der()?; // signatureValue
            Ok(times)
        })
    })
    .map_err(bad)?;
    Ok(Validity {
        not_before: asn1_time(&nb)?,
        not_after: asn1_time(&na)?,
    })
}

/// UTCTime (YYMMDDHHMMSSZ, years 1950-2049) or GeneralizedTime
/// (YYYYMMDDHHMMSSZ), the two forms RFC 5280 allows.
fn asn1_time(t: &TaggedDerValue) -> Result<u64, String> {
    let text = std::str::from_utf8(t.value()).map_err(|_| "bad certificate time")?;
    let digits = text
        .strip_suffix('Z')
        .ok_or("certificate time is not in UTC")?;
    let (year, rest) = match (t.tag(), digits.len()) {
        (tag, 12) if tag == yasna::tags::TAG_UTCTIME => {
            let yy: u64 = num(&digits[..2])?;
            (if yy < 50 { 2000 + yy } else { 1900 + yy }, &digits[2..])
        }
        (tag, 14) if tag == yasna::tags::TAG_GENERALIZEDTIME => (num(&digits[..4])?, &digits[4..]),
        _ => return Err("unsupported certificate time format".into()),
    };
    let [mo, d, h, mi, s] = [0, 2, 4, 6, 8].map(|i| num(&rest[i..i + 2]));
    let days = days_from_civil(year, mo?, d?);
    Ok(days * 86_400 + h? * 3600 + mi? * 60 + s?)
}

fn num(s: &str) -> Result<u64, String> {
    s.parse()
        .map_err(|_| "bad digits in a certificate time".to_string())
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// algorithm); dates before 1970 clamp to 0, which no offered cert needs.
fn days_from_civil(y: u64, m: u64, d: u64) -> u64 {
    let y = if m <= 2 { y as i64 - 1 } else { y as i64 };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    (era * 146_097 + doe - 719_468).max(0) as u64
}

/// `2026-12-02 08:00:00 UTC` for log lines.
pub fn utc(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    let t = secs % 86_400;
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        t / 3600,
        t / 60 % 60,
        t % 60
    )
}

#[cfg(test)]
mod tests;
