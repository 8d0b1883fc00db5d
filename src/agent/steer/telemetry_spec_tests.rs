//! Offers checked as the server may send them, good and bad.

use std::os::unix::fs::PermissionsExt;

use super::*;
use crate::proto::{Header, Headers, TlsCertificate, TlsConnectionSettings};

fn plugins(logs: bool) -> Plugins {
    let mut inputs = vec!["fluentbit_metrics".to_string()];
    if logs {
        inputs.push("fluentbit_logs".into());
    }
    Plugins {
        inputs,
        outputs: vec!["opentelemetry".into()],
        ..Plugins::default()
    }
}

fn offer(url: &str) -> TelemetryConnectionSettings {
    TelemetryConnectionSettings {
        destination_endpoint: url.into(),
        ..Default::default()
    }
}

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("opamp-spec-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn check(w: &Wanted, logs: bool, name: &str) -> Result<Vec<Target>, String> {
    w.targets(&plugins(logs), &dir(name))
}

#[test]
fn a_plain_offer_becomes_host_port_and_uri() {
    let w = Wanted::default().merge(Some(offer("http://127.0.0.1:4318/v1/metrics")), None);
    let t = check(&w, false, "plain").unwrap();
    assert_eq!(
        (t[0].host.as_str(), t[0].port, t[0].uri.as_str()),
        ("127.0.0.1", 4318, "/v1/metrics")
    );
    assert!(!t[0].tls);
    // No path: the signal's standard one.
    let w = Wanted::default().merge(None, Some(offer("https://otel.example")));
    let t = check(&w, true, "nopath").unwrap();
    assert_eq!(
        (t[0].port, t[0].uri.as_str(), t[0].tls),
        (443, "/v1/logs", true)
    );
}

#[test]
fn absent_keeps_empty_removes() {
    let w = Wanted::default().merge(
        Some(offer("http://a/v1/metrics")),
        Some(offer("http://b/v1/logs")),
    );
    let kept = w.merge(None, Some(offer("")));
    assert_eq!(kept.metrics, w.metrics);
    assert!(kept.logs.is_none());
    assert!(kept.merge(Some(offer(" ")), None).is_empty());
    assert_eq!(Wanted::decode(&w.encode()), Some(w));
}

#[test]
fn bad_offers_fail_with_a_reason_and_never_quote_a_secret() {
    let bad = |s: TelemetryConnectionSettings, logs: bool| {
        check(&Wanted::default().merge(Some(s), None), logs, "bad").unwrap_err()
    };
    assert!(bad(offer("not a url"), false).contains("destination_endpoint"));
    assert!(bad(offer("ws://a/v1/metrics"), false).contains("http://"));
    assert!(bad(offer("http://a/v1/${HOME}"), false).contains("${"));
    let with_header = |k: &str, v: &str| TelemetryConnectionSettings {
        headers: Some(Headers {
            headers: vec![Header {
                key: k.into(),
                value: v.into(),
            }],
        }),
        ..offer("http://a/v1/metrics")
    };
    let e = bad(
        with_header("Authorization", "Bearer x\n    tls off s3cr3t"),
        false,
    );
    assert!(
        e.contains("control character") && !e.contains("s3cr3t"),
        "{e}"
    );
    let e = bad(with_header("X-Key", "${SECRET_ENV}"), false);
    assert!(e.contains("variable"), "{e}");
    assert!(bad(with_header("Bad Name", "v"), false).contains("header name"));
    assert!(bad(with_header("X-Big", &"a".repeat(5000)), false).contains("longer"));
    let no_logs = Wanted::default().merge(None, Some(offer("http://a/v1/logs")));
    assert!(check(&no_logs, false, "nologs")
        .unwrap_err()
        .contains("5.0"));
    let proxy = TelemetryConnectionSettings {
        proxy: Some(crate::proto::ProxyConnectionSettings {
            url: "http://proxy:3128".into(),
            ..Default::default()
        }),
        ..offer("http://a/v1/metrics")
    };
    assert!(bad(proxy, false).contains("proxy"));
}

fn pki() -> (String, String, String, String) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_key = KeyPair::generate().unwrap();
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["agent".to_string()])
        .unwrap()
        .signed_by(&key, &ca, &ca_key)
        .unwrap();
    let other = KeyPair::generate().unwrap();
    (
        ca.pem(),
        cert.pem(),
        key.serialize_pem(),
        other.serialize_pem(),
    )
}

#[test]
fn tls_material_is_written_private_and_loaded_before_use() {
    let (ca, cert, key, other_key) = pki();
    let tls_offer = |key: &str| TelemetryConnectionSettings {
        certificate: Some(TlsCertificate {
            cert: cert.clone().into_bytes(),
            private_key: key.as_bytes().to_vec(),
            ca_cert: Vec::new(),
        }),
        tls: Some(TlsConnectionSettings {
            ca_pem_contents: ca.clone(),
            insecure_skip_verify: true,
            ..Default::default()
        }),
        ..offer("https://127.0.0.1:4318/v1/metrics")
    };
    let w = Wanted::default().merge(Some(tls_offer(&key)), None);
    let t = check(&w, false, "tls").unwrap();
    let key_file = t[0].key_file.clone().unwrap();
    assert_eq!(
        std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert!(t[0].ca_file.is_some() && t[0].crt_file.is_some() && !t[0].verify);
    // The same offer names the same files: no reload after a restart.
    assert_eq!(check(&w, false, "tls").unwrap(), t);

    let w = Wanted::default().merge(Some(tls_offer(&other_key)), None);
    let e = check(&w, false, "tls-mismatch").unwrap_err();
    assert!(e.contains("TLS") && !e.contains("PRIVATE KEY"), "{e}");
    assert!(
        e.contains("does not match") && !e.contains("own_metrics-key"),
        "{e}"
    );
    let plain = TelemetryConnectionSettings {
        destination_endpoint: "http://127.0.0.1:4318/v1/metrics".into(),
        ..tls_offer(&key)
    };
    let e = check(
        &Wanted::default().merge(Some(plain), None),
        false,
        "tls-http",
    )
    .unwrap_err();
    assert!(e.contains("https://"), "{e}");
    let _ = std::fs::remove_dir_all(dir("tls"));
    let _ = std::fs::remove_dir_all(dir("tls-mismatch"));
}

#[test]
fn an_expired_client_certificate_is_refused() {
    use rcgen::{CertificateParams, KeyPair};
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(vec!["agent".to_string()]).unwrap();
    params.not_before = rcgen::date_time_ymd(2020, 1, 1);
    params.not_after = rcgen::date_time_ymd(2021, 1, 1);
    let cert = params.self_signed(&key).unwrap();
    let s = TelemetryConnectionSettings {
        certificate: Some(TlsCertificate {
            cert: cert.pem().into_bytes(),
            private_key: key.serialize_pem().into_bytes(),
            ca_cert: Vec::new(),
        }),
        ..offer("https://127.0.0.1:4318/v1/metrics")
    };
    let e = check(&Wanted::default().merge(Some(s), None), false, "expired").unwrap_err();
    assert!(e.contains("expired"), "{e}");
}
