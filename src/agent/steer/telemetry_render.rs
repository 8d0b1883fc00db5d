//! The own-telemetry fragment's text, in the bootstrap's format.
//!
//! One `fluentbit_metrics` / `fluentbit_logs` input per signal, tagged
//! `_opamp.own_metrics` / `_opamp.own_logs` (the `_opamp.` prefix is
//! reserved, so no tag of the operator's or the server's matches it by
//! accident), and one `opentelemetry` output matching exactly that tag.
//! Values were checked by `telemetry_spec` (no control characters, no
//! `${`); YAML values are double-quoted on top of that.

use super::telemetry_spec::Target;
use crate::fbconf::{Format, OWN_PREFIX};

const HEAD: &str = "Written by the opamp plugin from the server's own-telemetry offer; \
                    edits are overwritten";

/// The tag of a signal's records.
pub(super) fn tag(t: &Target) -> String {
    format!("{OWN_PREFIX}{}", t.signal.name())
}

/// `None` when there is nothing to send: the fragment goes away.
pub(super) fn render(targets: &[Target], format: Format) -> Option<Vec<u8>> {
    if targets.is_empty() {
        return None;
    }
    let text = match format {
        Format::Classic => classic(targets),
        Format::Yaml => yaml(targets),
    };
    Some(text.into_bytes())
}

/// (key, value) pairs of a signal's output, in a stable order.
fn output_props(t: &Target) -> Vec<(&'static str, String)> {
    let mut p = vec![
        ("name", "opentelemetry".to_string()),
        ("match", tag(t)),
        ("host", t.host.clone()),
        ("port", t.port.to_string()),
        (t.signal.uri_key(), t.uri.clone()),
    ];
    if t.tls {
        p.push(("tls", "on".into()));
        p.push(("tls.verify", if t.verify { "on" } else { "off" }.into()));
        for (k, v) in [
            ("tls.ca_file", &t.ca_file),
            ("tls.crt_file", &t.crt_file),
            ("tls.key_file", &t.key_file),
        ] {
            if let Some(path) = v {
                p.push((k, path.display().to_string()));
            }
        }
    }
    p
}

fn classic(targets: &[Target]) -> String {
    let mut s = format!("# {HEAD}\n");
    for t in targets {
        s += &format!(
            "\n[INPUT]\n    name {}\n    tag  {}\n",
            t.signal.input(),
            tag(t)
        );
        s += "\n[OUTPUT]\n";
        for (k, v) in output_props(t) {
            s += &format!("    {k} {v}\n");
        }
        for (k, v) in &t.headers {
            s += &format!("    header {k} {v}\n");
        }
    }
    s
}

fn quote(v: &str) -> String {
    format!("\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\""))
}

fn yaml(targets: &[Target]) -> String {
    let mut s = format!("# {HEAD}\npipeline:\n  inputs:\n");
    for t in targets {
        s += &format!(
            "    - name: {}\n      tag: {}\n",
            t.signal.input(),
            quote(&tag(t))
        );
    }
    s += "  outputs:\n";
    for t in targets {
        let mut first = true;
        for (k, v) in output_props(t) {
            let lead = if std::mem::take(&mut first) {
                "    - "
            } else {
                "      "
            };
            s += &format!("{lead}{k}: {}\n", quote(&v));
        }
        if !t.headers.is_empty() {
            s += "      header:\n";
            for (k, v) in &t.headers {
                s += &format!("        - {}\n", quote(&format!("{k} {v}")));
            }
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::super::telemetry_spec::Signal;
    use super::*;

    fn target(signal: Signal) -> Target {
        Target {
            signal,
            host: "127.0.0.1".into(),
            port: 4318,
            uri: "/v1/metrics".into(),
            tls: true,
            verify: false,
            ca_file: Some("/s/ca.pem".into()),
            crt_file: None,
            key_file: None,
            headers: vec![("Authorization".into(), "Bearer \"t\"".into())],
        }
    }

    #[test]
    fn classic_has_one_input_and_output_per_signal() {
        let text = String::from_utf8(
            render(
                &[target(Signal::Metrics), target(Signal::Logs)],
                Format::Classic,
            )
            .unwrap(),
        )
        .unwrap();
        assert!(
            text.contains("    name fluentbit_metrics\n    tag  _opamp.own_metrics\n"),
            "{text}"
        );
        assert!(text.contains("    match _opamp.own_logs\n"));
        assert!(text.contains("    logs_uri /v1/metrics\n"));
        assert!(text.contains("    tls.verify off\n    tls.ca_file /s/ca.pem\n"));
        assert!(text.contains("    header Authorization Bearer \"t\"\n"));
        assert!(render(&[], Format::Classic).is_none());
    }

    #[test]
    fn yaml_quotes_values_and_lists_headers() {
        let text =
            String::from_utf8(render(&[target(Signal::Metrics)], Format::Yaml).unwrap()).unwrap();
        assert!(
            text.contains("    - name: \"opentelemetry\"\n      match: \"_opamp.own_metrics\"\n"),
            "{text}"
        );
        assert!(
            text.contains("      header:\n        - \"Authorization Bearer \\\"t\\\"\"\n"),
            "{text}"
        );
    }
}
