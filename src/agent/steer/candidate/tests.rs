use std::path::PathBuf;

use rcgen::{CertificateParams, KeyPair};

use super::*;
use crate::config::properties::TlsSettings;
use crate::proto::{Headers as PHeaders, TlsConnectionSettings};

fn current() -> Profile {
    Profile {
        endpoint: Endpoint::parse("wss://opamp.example.com/v1/opamp").unwrap(),
        headers: vec![Header {
            name: "Authorization".into(),
            value: "Bearer old".into(),
        }],
        tls: TlsSettings {
            verify: true,
            ca_file: Some(PathBuf::from("/etc/ca.pem")),
            crt_file: None,
            key_file: None,
        },
    }
}

fn policy(allow: &[&str]) -> Steering {
    Steering {
        connection_settings: true,
        endpoint_allow: allow.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    }
}

fn run(
    offer: &OpAmpConnectionSettings,
    policy: &Steering,
    csr_key: Option<&[u8]>,
) -> Result<Candidate, String> {
    let cur = current();
    let cx = Context {
        policy,
        current: &cur,
        base_endpoint: "fp".into(),
        csr_key,
        now_unix: crate::agent::connection::unix_now(),
    };
    build(b"h", offer, &cx)
}

fn pair() -> (String, String) {
    let key = KeyPair::generate().unwrap();
    let c = CertificateParams::new(vec!["agent".to_string()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    (c.pem(), key.serialize_pem())
}

#[test]
fn what_the_offer_leaves_out_is_kept() {
    let offer = OpAmpConnectionSettings {
        heartbeat_interval_seconds: 15,
        ..Default::default()
    };
    let c = run(&offer, &policy(&[]), None).unwrap();
    assert_eq!(c.endpoint, current().endpoint);
    assert_eq!(c.headers, current().headers);
    assert_eq!(c.ca, Material::Keep(PathBuf::from("/etc/ca.pem")));
    assert_eq!(c.heartbeat, Some(Duration::from_secs(15)));
    assert!(!changes_connection(&c, &current()), "heartbeat only");
}

#[test]
fn rotated_token_and_moved_endpoint_change_the_connection() {
    let offer = OpAmpConnectionSettings {
        destination_endpoint: "https://b.example.com:4320/v1/opamp".into(),
        headers: Some(PHeaders {
            headers: vec![crate::proto::Header {
                key: "Authorization".into(),
                value: "Bearer new".into(),
            }],
        }),
        ..Default::default()
    };
    let c = run(&offer, &policy(&["*.example.com"]), None).unwrap();
    assert_eq!(c.endpoint.host(), "b.example.com");
    assert_eq!(c.headers[0].value, "Bearer new");
    assert!(changes_connection(&c, &current()));
}

#[test]
fn policy_refusals_name_the_rule() {
    let move_to = |url: &str| OpAmpConnectionSettings {
        destination_endpoint: url.into(),
        ..Default::default()
    };
    let e = run(
        &move_to("wss://evil.test/x"),
        &policy(&["opamp.example.com"]),
        None,
    )
    .unwrap_err();
    assert!(
        e.contains("connection_endpoint_allow") && e.contains("evil.test"),
        "{e}"
    );
    let off = Steering::default();
    let e = run(&move_to("wss://a/x"), &off, None).unwrap_err();
    assert!(e.contains("connection_settings is off"), "{e}");
    let insecure = OpAmpConnectionSettings {
        tls: Some(TlsConnectionSettings {
            insecure_skip_verify: true,
            ..Default::default()
        }),
        ..Default::default()
    };
    assert!(run(&insecure, &policy(&[]), None)
        .unwrap_err()
        .contains("TLS verification"));
}

#[test]
fn host_allow_list_matches_exactly_or_by_subdomain() {
    let allow = vec!["a.example.com".to_string(), "*.corp.test".to_string()];
    assert!(host_allowed("a.example.com", &allow));
    assert!(!host_allowed("b.example.com", &allow));
    assert!(host_allowed("x.corp.test", &allow));
    assert!(!host_allowed("corp.test", &allow));
    assert!(!host_allowed("evilcorp.test", &allow));
    assert!(host_allowed("anything", &[]));
}

#[test]
fn bad_offers_fail_with_reasons_and_no_secrets() {
    let e = run(
        &OpAmpConnectionSettings {
            destination_endpoint: "ftp://x/y".into(),
            ..Default::default()
        },
        &policy(&[]),
        None,
    )
    .unwrap_err();
    assert!(e.starts_with("destination_endpoint:"), "{e}");
    let big = OpAmpConnectionSettings {
        headers: Some(PHeaders {
            headers: vec![crate::proto::Header {
                key: "Authorization".into(),
                value: "s".repeat(MAX_HEADER_BYTES + 1),
            }],
        }),
        ..Default::default()
    };
    let e = run(&big, &policy(&[]), None).unwrap_err();
    assert!(e.contains("limit") && !e.contains("sss"), "{e}");
    let crlf = OpAmpConnectionSettings {
        headers: Some(PHeaders {
            headers: vec![crate::proto::Header {
                key: "X-Token".into(),
                value: "secret\r\nInjected: 1".into(),
            }],
        }),
        ..Default::default()
    };
    let e = run(&crlf, &policy(&[]), None).unwrap_err();
    assert!(!e.contains("secret"), "{e}");
    let (cert, _) = pair();
    let (_, other_key) = pair();
    let mismatched = OpAmpConnectionSettings {
        certificate: Some(TlsCertificate {
            cert: cert.clone().into_bytes(),
            private_key: other_key.into_bytes(),
            ca_cert: vec![],
        }),
        ..Default::default()
    };
    let e = run(&mismatched, &policy(&[]), None).unwrap_err();
    assert_eq!(
        e,
        "certificate: the certificate does not match its private key"
    );
    let bad_ca = OpAmpConnectionSettings {
        tls: Some(TlsConnectionSettings {
            ca_pem_contents: "not a pem".into(),
            ..Default::default()
        }),
        ..Default::default()
    };
    assert!(run(&bad_ca, &policy(&[]), None)
        .unwrap_err()
        .starts_with("tls.ca_pem_contents"));
}

/// A certificate without a key answers our CSR; without a CSR it fails.
#[test]
fn keyless_certificate_takes_the_csr_key() {
    let (cert, key) = pair();
    let answer = OpAmpConnectionSettings {
        certificate: Some(TlsCertificate {
            cert: cert.into_bytes(),
            private_key: vec![],
            ca_cert: vec![],
        }),
        ..Default::default()
    };
    assert!(run(&answer, &policy(&[]), None)
        .unwrap_err()
        .contains("no CSR"));
    let c = run(&answer, &policy(&[]), Some(key.as_bytes())).unwrap();
    assert_eq!(c.key, Material::New(key.into_bytes()));
    assert!(changes_connection(&c, &current()));
}
