use super::*;
use crate::proto::AgentConfigFile;

fn vars() -> Vars {
    let mut v = Vars::new();
    v.insert("opamp.other.logs.host", "logs.example.com", false);
    v.insert("opamp.other.logs.port", "8443", false);
    v.insert(
        "opamp.other.logs.header.authorization",
        "Bearer t0ken-1",
        true,
    );
    v
}

#[test]
fn expands_ours_and_keeps_fluent_bits() {
    let v = vars();
    let text = "Host ${opamp.other.logs.host}\nPort ${opamp.other.logs.port}\n\
                Header Authorization ${opamp.other.logs.header.authorization}\n\
                Path ${HOME}/x ${FOO:-bar} $opamp.other.logs.host {opamp.x}\n";
    assert_eq!(
        v.expand(text).unwrap(),
        "Host logs.example.com\nPort 8443\nHeader Authorization Bearer t0ken-1\n\
         Path ${HOME}/x ${FOO:-bar} $opamp.other.logs.host {opamp.x}\n"
    );
}

#[test]
fn unknown_names_of_ours_fail_naming_them_in_any_case() {
    let v = vars();
    let e = v.expand("Host ${opamp.other.metrics.host}").unwrap_err();
    assert_eq!(e, VarError::Unknown("opamp.other.metrics.host".into()));
    assert!(e.to_string().contains("${opamp.other.metrics.host}"), "{e}");
    // Fluent Bit would make these empty: ours by prefix, so they fail.
    for t in [
        "${OPAMP.other.logs.host}",
        "${Opamp.Other.logs.host}",
        "${opamp.other.logs.host:-fallback}",
        "${opamp.}",
    ] {
        assert!(
            matches!(v.expand(t), Err(VarError::Unknown(_))),
            "{t} must fail"
        );
    }
}

#[test]
fn an_unclosed_reference_fails() {
    let v = vars();
    for t in ["Host ${opamp.other.logs.host\nPort 1}", "x ${opamp.other"] {
        assert!(
            matches!(v.expand(t), Err(VarError::Unclosed(_))),
            "{t} must fail"
        );
    }
    // Not ours: left for Fluent Bit, which leaves it as written too.
    assert_eq!(v.expand("a ${HOME").unwrap(), "a ${HOME");
}

#[test]
fn a_value_is_not_expanded_again() {
    let mut v = Vars::new();
    v.insert("opamp.a", "${opamp.b}", false);
    assert_eq!(v.expand("${opamp.a}").unwrap(), "${opamp.b}");
}

#[test]
fn errors_and_debug_never_show_values() {
    let v = vars();
    let dbg = format!("{v:?}");
    assert!(!dbg.contains("t0ken"), "{dbg}");
    assert!(dbg.contains("opamp.other.logs.header.authorization"));
}

#[test]
fn redact_masks_only_secret_values() {
    let v = vars();
    let out = v.redact(
        "error near 'Bearer t0ken-1' on logs.example.com",
        "<redacted>",
    );
    assert_eq!(out, "error near '<redacted>' on logs.example.com");
    assert_eq!(v.secret_values(), vec!["Bearer t0ken-1".to_string()]);
}

fn map(files: &[(&str, &str)]) -> AgentConfigMap {
    AgentConfigMap {
        config_map: files
            .iter()
            .map(|(k, b)| {
                let f = AgentConfigFile {
                    body: b.as_bytes().to_vec(),
                    content_type: "text/x-fluent-bit".into(),
                };
                (k.to_string(), f)
            })
            .collect(),
    }
}

#[test]
fn expand_map_names_the_file_and_render_key_follows_values() {
    let mut v = vars();
    let m = map(&[("", "Host ${opamp.other.logs.host}"), ("b.conf", "x")]);
    assert!(map_references(&m));
    assert!(!map_references(&map(&[("", "Host ${HOME}")])));
    let out = v.expand_map(m.clone()).unwrap();
    assert_eq!(out.config_map[""].body, b"Host logs.example.com");
    assert_eq!(out.config_map["b.conf"].body, b"x");

    let bad = map(&[("", "x"), ("b.conf", "${opamp.nope}")]);
    let e = v.expand_map(bad).unwrap_err();
    assert!(e.starts_with("b.conf: ") && e.contains("opamp.nope"), "{e}");

    let k1 = v.render_key(&m);
    v.insert("opamp.other.logs.port", "9999", false);
    assert_eq!(v.render_key(&m), k1, "an unused value changes nothing");
    v.insert("opamp.other.logs.host", "new.example.com", false);
    assert_ne!(v.render_key(&m), k1);
}
