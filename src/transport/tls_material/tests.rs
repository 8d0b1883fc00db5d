use rcgen::{CertificateParams, KeyPair};

use super::*;

fn cert(days_from: i64, days_to: i64) -> (String, String) {
    let mut p = CertificateParams::new(vec!["agent".to_string()]).unwrap();
    let now = time::OffsetDateTime::now_utc();
    p.not_before = now + time::Duration::days(days_from);
    p.not_after = now + time::Duration::days(days_to);
    let key = KeyPair::generate().unwrap();
    let c = p.self_signed(&key).unwrap();
    (c.pem(), key.serialize_pem())
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[test]
fn a_matching_valid_pair_passes_with_its_dates() {
    let (c, k) = cert(-1, 30);
    let v = check_pair(c.as_bytes(), k.as_bytes(), now()).unwrap();
    let days = (v.not_after - v.not_before) / 86_400;
    assert_eq!(days, 31);
    assert!(v.not_after.abs_diff(now() + 30 * 86_400) < 5);
}

#[test]
fn a_key_from_another_pair_is_refused() {
    let (c, _) = cert(-1, 30);
    let (_, other) = cert(-1, 30);
    let e = check_pair(c.as_bytes(), other.as_bytes(), now()).unwrap_err();
    assert_eq!(e, "the certificate does not match its private key");
    assert!(!e.contains("PRIVATE"));
}

#[test]
fn expired_and_future_certificates_are_refused_with_the_date() {
    let (c, k) = cert(-10, -1);
    let e = check_pair(c.as_bytes(), k.as_bytes(), now()).unwrap_err();
    assert!(e.starts_with("the certificate expired on 20"), "{e}");
    let (c, k) = cert(2, 10);
    let e = check_pair(c.as_bytes(), k.as_bytes(), now()).unwrap_err();
    assert!(e.contains("not valid before"), "{e}");
}

#[test]
fn garbage_is_refused_without_echoing_it() {
    assert!(check_pair(b"nope", b"secret-key-text", now()).is_err());
    let (c, _) = cert(-1, 1);
    let e = check_pair(c.as_bytes(), b"secret-key-text", now()).unwrap_err();
    assert!(!e.contains("secret-key-text"), "{e}");
    assert!(check_ca(b"").is_err());
    assert!(check_ca(c.as_bytes()).is_ok());
}

#[test]
fn both_time_forms_and_dates_round_trip() {
    let utct =
        TaggedDerValue::from_tag_and_bytes(yasna::tags::TAG_UTCTIME, b"491231235959Z".to_vec());
    assert_eq!(utc(asn1_time(&utct).unwrap()), "2049-12-31 23:59:59 UTC");
    let utct =
        TaggedDerValue::from_tag_and_bytes(yasna::tags::TAG_UTCTIME, b"500101000000Z".to_vec());
    // Before the epoch clamps to it; no offered certificate is that old.
    assert_eq!(utc(asn1_time(&utct).unwrap()), "1970-01-01 00:00:00 UTC");
    let gen = TaggedDerValue::from_tag_and_bytes(
        yasna::tags::TAG_GENERALIZEDTIME,
        b"20261202080000Z".to_vec(),
    );
    assert_eq!(asn1_time(&gen).unwrap(), 1_796_198_400);
    assert_eq!(utc(1_796_198_400), "2026-12-02 08:00:00 UTC");
    assert_eq!(utc(951_782_400), "2000-02-29 00:00:00 UTC");
}
