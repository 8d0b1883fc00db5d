use super::*;
use crate::proto::{Header, Headers, TlsCertificate, TlsConnectionSettings};

const NOW: i64 = 1_750_000_000;

fn dest(url: &str, headers: &[(&str, &str)]) -> OtherConnectionSettings {
    OtherConnectionSettings {
        destination_endpoint: url.into(),
        headers: Some(Headers {
            headers: headers
                .iter()
                .map(|(k, v)| Header {
                    key: k.to_string(),
                    value: v.to_string(),
                })
                .collect(),
        }),
        ..Default::default()
    }
}

fn value_of<'a>(c: &'a Checked, k: &str) -> Option<(&'a str, bool)> {
    c.values
        .iter()
        .find(|(n, _, _)| n == k)
        .map(|(_, v, s)| (v.as_str(), *s))
}

#[test]
fn url_parts_headers_and_settings_become_values() {
    let mut d = dest(
        "https://Logs.Example.com:8443/v1/logs",
        &[("Authorization", "Bearer abc.def")],
    );
    d.other_settings.insert("index".into(), "fleet-a".into());
    let c = check("logs", &d, NOW).unwrap();
    assert_eq!(
        value_of(&c, "url"),
        Some(("https://logs.example.com:8443/v1/logs", false))
    );
    assert_eq!(value_of(&c, "host"), Some(("logs.example.com", false)));
    assert_eq!(value_of(&c, "port"), Some(("8443", false)));
    assert_eq!(value_of(&c, "uri"), Some(("/v1/logs", false)));
    assert_eq!(value_of(&c, "tls"), Some(("on", false)));
    assert_eq!(value_of(&c, "scheme"), Some(("https", false)));
    assert_eq!(
        value_of(&c, "header.authorization"),
        Some(("Bearer abc.def", true))
    );
    assert_eq!(value_of(&c, "setting.index"), Some(("fleet-a", true)));

    let c = check("m", &dest("http://h/?token=x", &[]), NOW).unwrap();
    assert_eq!(value_of(&c, "port"), Some(("80", false)));
    assert_eq!(value_of(&c, "tls"), Some(("off", false)));
    assert_eq!(
        value_of(&c, "uri"),
        Some(("/?token=x", true)),
        "query is secret"
    );
}

#[test]
fn hostile_names_are_refused() {
    let d = dest("http://h", &[]);
    for n in ["", "../x", "a/b", "a.b", "a b", "ä", &"x".repeat(65)] {
        let e = check(n, &d, NOW).unwrap_err();
        assert!(e.contains("destination name"), "{n}: {e}");
    }
    assert!(check(&"x".repeat(64), &d, NOW).is_ok());
    let bad_header = dest("http://h", &[("X Bad", "v")]);
    assert!(check("a", &bad_header, NOW)
        .unwrap_err()
        .contains("header name"));
    let twice = dest("http://h", &[("X-A", "1"), ("x-a", "2")]);
    assert!(check("a", &twice, NOW).unwrap_err().contains("twice"));
}

#[test]
fn bad_urls_and_values_are_refused_without_quoting_values() {
    for u in [
        "not a url",
        "ftp://h/",
        "http://user:pw@h/",
        "http://h:99999/",
        "ws://h/",
    ] {
        assert!(check("a", &dest(u, &[]), NOW).is_err(), "{u}");
    }
    for v in [
        "tok\nen-secret",
        "a ${HOME}-secret",
        "x #secret",
        "k: secret",
        "*secret",
        " secret",
    ] {
        let e = check("a", &dest("", &[("X-Token", v)]), NOW).unwrap_err();
        assert!(!e.contains("secret"), "{e}");
        assert!(e.contains("x-token"), "{e}");
    }
    let big = "a".repeat(MAX_VALUE);
    let e = check("a", &dest("", &[("X-Big", &big)]), NOW).unwrap_err();
    assert!(e.contains("larger than"), "{e}");
}

fn pair(year: i32) -> (String, String) {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut p = rcgen::CertificateParams::new(vec!["c".into()]).unwrap();
    p.not_before = rcgen::date_time_ymd(2000, 1, 1);
    p.not_after = rcgen::date_time_ymd(year, 1, 1);
    (p.self_signed(&key).unwrap().pem(), key.serialize_pem())
}

#[test]
fn tls_material_is_checked_and_returned_as_files() {
    let (cert, key) = pair(2049);
    let (ca, _) = pair(2049);
    let mut d = dest("https://h", &[]);
    d.certificate = Some(TlsCertificate {
        cert: cert.clone().into_bytes(),
        private_key: key.clone().into_bytes(),
        ca_cert: Vec::new(),
    });
    d.tls = Some(TlsConnectionSettings {
        ca_pem_contents: ca,
        insecure_skip_verify: true,
        ..Default::default()
    });
    let c = check("a", &d, NOW).unwrap();
    let vars: Vec<(&str, bool)> = c.files.iter().map(|f| (f.var, f.private)).collect();
    assert_eq!(
        vars,
        vec![
            ("tls.crt_file", false),
            ("tls.key_file", true),
            ("tls.ca_file", false)
        ]
    );
    assert_eq!(value_of(&c, "tls.verify"), Some(("off", false)));

    let (_, other_key) = pair(2049);
    d.certificate.as_mut().unwrap().private_key = other_key.into_bytes();
    assert!(check("a", &d, NOW).unwrap_err().contains("does not match"));
    let (old, old_key) = pair(2001);
    d.certificate = Some(TlsCertificate {
        cert: old.into_bytes(),
        private_key: old_key.into_bytes(),
        ca_cert: Vec::new(),
    });
    assert!(check("a", &d, NOW).unwrap_err().contains("expired"));
}
