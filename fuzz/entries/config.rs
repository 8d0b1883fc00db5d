//! Targets that read config text a server sent: the policy scanner, the
//! config reader, the redactor and the `${opamp.…}` expander.

use std::collections::BTreeMap;
use std::path::PathBuf;

use fluent_bit_opamp::config::properties::{PluginPolicy, DEFAULT_DENY_PLUGINS};
use fluent_bit_opamp::fbconf::view::view;
use fluent_bit_opamp::fbconf::{classic, files, locate, vars as fbvars, yaml, Format};
use fluent_bit_opamp::proto::{AgentConfigFile, AgentConfigMap};
use fluent_bit_opamp::remote::policy::Policy;
use fluent_bit_opamp::remote::scan::{normalize, scan, What};
use fluent_bit_opamp::remote::vars::Vars;
use fluent_bit_opamp::status::redact::{redact_pem, Redactor, MARKER};

use super::{text, Input};

fn format_of(b: u8) -> Format {
    if b & 1 == 0 {
        Format::Classic
    } else {
        Format::Yaml
    }
}

/// The scanner never panics, keeps line order, and never misses a plugin
/// that the config reader sees unless it also calls the text unreadable
/// (which makes the policy refuse it). A config the policy accepts
/// names no denied plugin.
pub fn policy_scan(data: &[u8]) {
    let mut input = Input::new(data);
    let format = format_of(input.byte());
    let body = input.rest();
    let text = text(body);
    let findings = scan(format, &text);
    assert!(findings.windows(2).all(|w| w[0].line <= w[1].line));
    let unreadable = findings
        .iter()
        .any(|f| matches!(f.what, What::Unreadable(_)));
    let seen: Vec<&str> = findings
        .iter()
        .filter_map(|f| match &f.what {
            What::Plugin(p) => Some(p.as_str()),
            _ => None,
        })
        .collect();
    if !unreadable {
        for s in view(format, &text)
            .sections
            .iter()
            .filter(|s| s.is_plugin())
        {
            if let Some(name) = s.get("name") {
                // Fluent Bit keeps quotes, so a quoted name starts nothing
                // and how the scanner strips them cannot let a plugin by:
                // the scanner must see the name in one of its quote forms.
                let forms = [
                    normalize(name),
                    normalize(fluent_bit_opamp::fbconf::text::unquote(name)),
                    normalize(name.trim_matches(['"', '\''])),
                    normalize(name.trim_start_matches(['"', '\''])),
                ];
                assert!(
                    forms.iter().any(|n| seen.contains(&n.as_str())),
                    "the reader sees {} {:?}, the scanner does not: {findings:?}",
                    s.kind,
                    forms[0]
                );
            }
        }
    }
    let deny: Vec<String> = DEFAULT_DENY_PLUGINS.split(',').map(String::from).collect();
    let policy = Policy {
        enabled: true,
        format,
        main_name: "managed.conf".into(),
        folder: PathBuf::from("/etc/fluent-bit/managed.d"),
        plugins: PluginPolicy::Deny(deny.clone()),
        max_size: 1 << 20,
        // The path rules read the filesystem; fuzzed here separately would
        // make runs depend on the host. The scanner and reader are the target.
        paths: fluent_bit_opamp::remote::paths::AllowPaths::Any,
    };
    let file = AgentConfigFile {
        body: body.to_vec(),
        content_type: String::new(),
    };
    let map = AgentConfigMap {
        config_map: BTreeMap::from([(String::new(), file)]),
    };
    if policy.allows(Some(&map)).is_ok() {
        assert!(!unreadable);
        for p in &seen {
            assert!(!deny.iter().any(|d| normalize(d) == *p), "{p} passed");
        }
    }
}

/// The reader's parts never panic, and every range they hand out lies on
/// the text's character boundaries (callers slice with them).
pub fn fbconf_reader(data: &[u8]) {
    let mut input = Input::new(data);
    let format = format_of(input.byte());
    let text = text(input.rest());
    let v = view(format, &text);
    for s in &v.sections {
        for p in &s.props {
            for value in &p.values {
                let _ = fbvars::expand_vars(value, &v.vars);
            }
        }
    }
    for line in classic::lines(&text) {
        assert!(text.get(line.span.clone()).is_some(), "{line:?}");
        if let classic::Kind::Entry {
            key_at, value_at, ..
        } = &line.kind
        {
            assert!(text.get(key_at.clone()).is_some());
            assert!(text.get(value_at.clone()).is_some());
        }
    }
    let (docs, _) = yaml::documents(&text);
    for d in &docs {
        assert!(text.get(d.span.clone()).is_some(), "{:?}", d.span);
    }
    for (category, plugin) in [("input", "dummy"), ("output", "stdout"), ("filter", "grep")] {
        for r in locate::plugin_sections(format, &text, category, plugin) {
            assert!(text.get(r.clone()).is_some(), "{r:?}");
        }
    }
    let _ = files::includes_of(&text, format);
}

/// Values of this length are masked wherever they appear (see
/// `fbconf::text::mask_values`); shorter ones only as whole words.
const MASK_ANYWHERE: usize = 6;

/// The redactor never panics, and a secret value it was given never
/// survives into its output.
pub fn redactor(data: &[u8]) {
    let mut input = Input::new(data);
    let yaml = input.byte() & 1 == 1;
    let extra: Vec<String> = text(input.field(b'\0'))
        .split(',')
        .map(str::to_string)
        .collect();
    let values: Vec<String> = text(input.field(b'\0'))
        .split(',')
        .filter(|v| !v.is_empty())
        .map(str::to_string)
        .collect();
    let body = text(input.rest());
    let mut r = Redactor::new(&extra);
    r.set_values(values.clone());
    let out = r.redact(&body, yaml);
    for v in &values {
        let checkable = v.len() >= MASK_ANYWHERE
            && v.chars().all(|c| c.is_ascii_alphanumeric())
            && !v.chars().any(|c| MARKER.contains(c));
        if checkable {
            assert!(!out.contains(v.as_str()), "{v:?} survived in {out:?}");
        }
    }
    let _ = r.redact_args(&body.split(' ').map(str::to_string).collect::<Vec<_>>());
    let _ = redact_pem(&body);
    let _ = r.is_secret_key(&body);
}

/// The expander never panics; an expansion that succeeds leaves no
/// `${opamp.` reference for Fluent Bit to expand again, and redaction
/// hides every secret value.
pub fn opamp_vars(data: &[u8]) {
    let mut input = Input::new(data);
    let mut vars = Vars::new();
    let count = input.byte() % 8;
    for i in 0..count {
        let name = text(input.field(b'='));
        let value = text(input.field(b'\0'));
        vars.insert(&format!("opamp.{name}"), &value, i % 2 == 0);
    }
    let body = text(input.rest());
    let plain_values = vars.entries().all(|(_, v, _)| !v.contains('$'));
    if let Ok(out) = vars.expand(&body) {
        if plain_values {
            let lower = out.to_ascii_lowercase();
            assert!(!lower.contains("${opamp."), "{body:?} expanded to {out:?}");
        }
    }
    let _ = fluent_bit_opamp::remote::vars::references(&body);
    let redacted = vars.redact(&body, MARKER);
    for v in vars.secret_values() {
        let checkable = v.len() >= MASK_ANYWHERE
            && v.chars().all(|c| c.is_ascii_alphanumeric())
            && !v.chars().any(|c| MARKER.contains(c));
        if checkable {
            assert!(!redacted.contains(v.as_str()));
        }
    }
}
