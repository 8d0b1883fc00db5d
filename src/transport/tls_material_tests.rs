use super::*;

const NOW: i64 = 1_750_000_000; // 2025-06-15

fn cert(not_after: (i32, u8, u8)) -> (String, String) {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut p = rcgen::CertificateParams::new(vec!["dest.test".into()]).unwrap();
    p.not_before = rcgen::date_time_ymd(2000, 1, 1);
    p.not_after = rcgen::date_time_ymd(not_after.0, not_after.1, not_after.2);
    let c = p.self_signed(&key).unwrap();
    (c.pem(), key.serialize_pem())
}

fn der(pem: &str) -> Vec<u8> {
    certs(pem.as_bytes(), "x").unwrap()[0].to_vec()
}

#[test]
fn not_after_reads_both_time_forms() {
    // rcgen writes UTCTime up to 2049 and GeneralizedTime from 2050.
    assert_eq!(not_after(&der(&cert((2049, 12, 31)).0)), Ok(2_524_521_600));
    assert_eq!(not_after(&der(&cert((2051, 3, 1)).0)), Ok(2_561_241_600));
    assert_eq!(utc_text(2_561_241_600), "2051-03-01");
    assert_eq!(utc_text(978_307_200), "2001-01-01");
}

#[test]
fn garbage_der_is_an_error_not_a_panic() {
    let good = der(&cert((2049, 1, 1)).0);
    for cut in 0..good.len().min(300) {
        let _ = not_after(&good[..cut]);
    }
    assert!(not_after(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]).is_err());
    assert!(not_after(b"").is_err());
}

#[test]
fn a_matching_pair_passes() {
    let (c, k) = cert((2049, 12, 31));
    assert_eq!(
        check_pair(c.as_bytes(), k.as_bytes(), NOW),
        Ok(2_524_521_600)
    );
}

#[test]
fn a_key_of_another_certificate_is_refused() {
    let (c, _) = cert((2049, 12, 31));
    let (_, other_key) = cert((2049, 12, 31));
    let e = check_pair(c.as_bytes(), other_key.as_bytes(), NOW).unwrap_err();
    assert!(e.contains("does not belong"), "{e}");
}

#[test]
fn an_expired_certificate_is_refused_with_its_date() {
    let (c, k) = cert((2001, 1, 1));
    let e = check_pair(c.as_bytes(), k.as_bytes(), NOW).unwrap_err();
    assert!(e.contains("expired") && e.contains("2001-01-01"), "{e}");
    let e = check_cas(c.as_bytes(), NOW).unwrap_err();
    assert!(e.contains("expired"), "{e}");
}

#[test]
fn bad_pem_is_refused_without_quoting_the_key() {
    let (c, _) = cert((2049, 12, 31));
    let secret =
        b"-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWtleS1ieXRlcw==\n-----END PRIVATE KEY-----\n";
    let e = check_pair(c.as_bytes(), secret, NOW).unwrap_err();
    assert!(!e.contains("c2VjcmV0"), "{e}");
    assert!(check_pair(b"nope", secret, NOW).is_err());
    assert!(check_cas(b"not pem", NOW).unwrap_err().contains("no PEM"));
}
